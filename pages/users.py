"""Users (admins): accounts and roles, invitation links, disable/enable, reset, and the sign-in log."""
import pandas as pd
import streamlit as st

from app import auth, loaders
from app.widgets import md
from db import accounts
from db.accounts import AccountError
from db.schema import ROLES

account = auth.require_page("users")
eng = loaders.engine(loaders.workspace())
st.title("Users")
if account is None:
    st.info(f"No accounts yet, so nobody signs in (listening on {auth.where_listening()}). To require sign-in, "
            "add the first admin in a terminal, then reload:", icon=":material/group_add:")
    st.code("python -m ctl_core users add NAME --role admin", language="bash")
    st.stop()


def show_invitation(name: str, token: str) -> None:
    st.success(f"Invitation for {md(name)}: send this link to them. It works once, for "
               f"{accounts.DEFAULT_CONFIG.invite_ttl.days} days, and sets their password.",
               icon=":material/mail:")
    st.code(accounts.invite_url(token, auth.app_base_url()), language=None)


people = accounts.list_accounts(eng)
# Wrong passwords of the last 24 h, per account: the addresses that typed them wait longer each time (the owner
# elsewhere does not); a reset clears the waits.
for failed in accounts.failed_sign_ins(eng):
    st.warning(f"Sign-in: {md(str(failed))}.", icon=":material/gpp_maybe:")
st.dataframe(pd.DataFrame([{"name": a.name, "role": a.role, "status": a.status, "last sign-in": a.last_sign_in_at,
                            "wrong passwords since last sign-in": a.failed_attempts, "created": a.created_at,
                            "annotator": a.annotator} for a in people]),
             hide_index=True, key="users_table")

st.subheader("Add a person")
with st.form("add_user", clear_on_submit=True):
    c1, c2 = st.columns([2, 1])
    new_name = c1.text_input("Name", key="new_user_name")
    role = c2.selectbox("Role", ROLES, key="new_user_role",
                        help="stylist: labels pairs · researcher: also the demo, models and results · "
                             "admin: also studies and users")
    add = st.form_submit_button("Add and create an invitation link", type="primary")
if add:
    try:
        info = accounts.add_account(eng, new_name, role)
        show_invitation(info.name, accounts.create_invitation(eng, info.name))
    except AccountError as e:
        st.error(md(e))

st.subheader("Manage an account")
names = [a.name for a in people]
by_name = {a.name: a for a in people}
c1, c2, c3 = st.columns([2, 1, 1])
chosen = c1.selectbox("Account", names, key="manage_user")
target = by_name[chosen]
c1.text(f"{target.name}: {target.role}, {target.status}")
try:
    if c2.button("Enable" if target.disabled else "Disable", key="toggle_user"):
        accounts.set_disabled(eng, target.name, disabled=not target.disabled)
        st.rerun()
    if c3.button("Reset: new invitation link", key="reset_user",
                 help="Clears the password and the sign-in waits; the person sets a new one through the link."):
        show_invitation(target.name, accounts.reset_account(eng, target.name))
except AccountError as e:
    st.error(md(e))

st.subheader("Sign-in log")
st.dataframe(pd.DataFrame([{"at": a.at, "name typed": a.name, "outcome": a.outcome, "address": a.source}
                           for a in accounts.sign_in_attempts(eng, limit=200)]), hide_index=True, key="signin_log")
