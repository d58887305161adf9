"""Streamlit entry point: ``streamlit run app/main.py``. Pages live in ../pages, one thin file each."""
from __future__ import annotations

import streamlit as st

from app.nav import sections  # the project is installed (pip install -e .), so `app` imports from anywhere

st.set_page_config(page_title="Complete The Look", page_icon=":material/checkroom:", layout="wide")
st.navigation(sections()).run()
