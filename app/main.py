"""Streamlit entry point: ``streamlit run app/main.py``. Pages live in ../pages, one thin file each.

Before any page runs: the serving policy (no accounts: loopback only, unless CTL_ALLOW_OPEN=1), then the menu of the
pages the signed-in role may open (everything without accounts; only Home, with its sign-in form, before sign-in).
"""
from __future__ import annotations

import streamlit as st

from app import auth  # the project is installed (pip install -e .), so `app` imports from anywhere
from app.nav import sections
from db.accounts import has_accounts

st.set_page_config(page_title="Complete The Look", page_icon=":material/checkroom:", layout="wide")
eng = auth.engine()
accounts_exist = has_accounts(eng)
auth.enforce_serving_policy(accounts_exist)
account = auth.current_account(eng)
auth.account_sidebar(account)
st.navigation(sections(account.role if account else None, accounts_exist)).run()
