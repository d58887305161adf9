"""Streamlit entry point: ``streamlit run app/main.py``. Pages live in ../pages, one thin file each."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` puts app/ on the path, not the project root
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app.nav import sections  # noqa: E402

st.set_page_config(page_title="Complete The Look", page_icon=":material/checkroom:", layout="wide")
st.navigation(sections()).run()
