"""Streamlit entry point: ``streamlit run app/main.py``. Pages live in ../pages, one thin file each.

Before any page runs: the serving policy (no accounts: loopback only, unless CTL_ALLOW_OPEN=1), then the menu of the
pages the signed-in role may open (everything without accounts). Before sign-in no menu is shown, but every page is
registered, so that a typed or shared URL is found: the page's own gate (``app.auth.require_page``) shows the
sign-in form and, once signed in, the page itself. A reload keeps the session (``app.auth.session_cookie``).
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
auth.session_cookie(account)
if accounts_exist and account is None:
    st.navigation(sections(everything=True), position="hidden").run()
else:
    st.navigation(sections(account.role if account else None, accounts_exist)).run()
