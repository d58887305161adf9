"""Sign-in, role gates and the serving policy of the app (the logic of accounts is in ``db.accounts``).

Whenever an account exists, everyone signs in: ``st.session_state[SESSION_KEY]`` holds the signed-in account's id,
and every run reloads the account from the database, so disabling an account (or changing its role) takes effect
on its next click. Without accounts (the demo) the app is open, as before, but then it must listen on loopback
only: ``serving_policy`` refuses to serve pages on any other address unless ``CTL_ALLOW_OPEN=1`` is set.
"""
from __future__ import annotations

import ipaddress
import os
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlsplit

import streamlit as st

from app import loaders, nav
from app.widgets import md
from db import accounts, sessions
from db.accounts import AccountError, AccountInfo

SESSION_KEY = "account_id"
COOKIE = "ctl_session"  # a signed, expiring token (db.sessions): a reload restores the session from it
TOKEN_KEY, SIGNED_OUT_KEY = "session_token", "signed_out"
ALLOW_OPEN_ENV = "CTL_ALLOW_OPEN"


# ----------------------------------------------------------------------------------------------- serving policy

def is_loopback(address: str | None) -> bool:
    """Whether the server address reaches this machine only (None or "" means every interface)."""
    if not address:
        return False
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to a public interface


PROXY_HEADERS = ("X-Forwarded-For", "X-Real-IP", "Forwarded")


def serving_policy(address: str | None, accounts_exist: bool, allow_open: bool, proxied: bool = False) -> str:
    """"ok" (accounts, or loopback and not reached through a proxy), "open" (the network, no accounts, explicitly
    allowed), or "refuse"."""
    if accounts_exist or (is_loopback(address) and not proxied):
        return "ok"
    return "open" if allow_open else "refuse"


def client_address() -> str | None:
    """This session's client address, by which wrong passwords are throttled (``db.accounts.client_key``): the TCP
    peer; when the peer is this machine (a reverse proxy in front, as in the README), the address the proxy saw —
    the last X-Forwarded-For entry (nginx appends it) or X-Real-IP. None: this machine itself."""
    peer = st.context.ip_address  # None on loopback
    if peer is not None:
        return peer
    forwarded = (st.context.headers.get("X-Forwarded-For") or "").split(",")[-1].strip()
    return forwarded or (st.context.headers.get("X-Real-IP") or "").strip() or None


def reached_through_proxy() -> bool:
    """Whether this session's request carries a reverse proxy's forwarding header (nginx's X-Forwarded-For ...)."""
    return any(st.context.headers.get(h) for h in PROXY_HEADERS)


def listen_address() -> tuple[str | None, int]:
    return st.get_option("server.address") or None, int(st.get_option("server.port"))


def where_listening() -> str:
    """Where the server listens, in words, for Home."""
    address, port = listen_address()
    if address is None:
        return f"every network interface, port {port} (anyone who can reach this machine)"
    if is_loopback(address):
        return f"{address}:{port} — this machine only"
    return f"{address}:{port} (the network)"


def app_base_url() -> str:
    """The app's address as the admin's browser sees it (for invitation links), e.g. https://ctl.example.org."""
    u = urlsplit(st.context.url or "")
    address, port = listen_address()
    base = f"{u.scheme}://{u.netloc}" if u.scheme and u.netloc else f"http://{address or '127.0.0.1'}:{port}"
    prefix = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"{base}/{prefix}" if prefix else base


def enforce_serving_policy(accounts_exist: bool) -> None:
    """Stop every page when the app is on the network without accounts; warn on every page when that is allowed."""
    address, port = listen_address()
    proxied = reached_through_proxy()
    policy = serving_policy(address, accounts_exist, os.environ.get(ALLOW_OPEN_ENV) == "1", proxied)
    shown = f"{address or '0.0.0.0 (every interface)'}, port {port}" + (", behind a reverse proxy" if proxied else "")
    if policy == "refuse":
        st.error(f"Not serving: this app listens on {shown}, and has no accounts, so anyone who reaches "
                 "the port could read and change every judgment. Add an admin first (`python -m ctl_core users add "
                 "NAME --role admin`) and reload, or serve on 127.0.0.1 (the default: `make run`), or set "
                 f"{ALLOW_OPEN_ENV}=1 to serve it open anyway (not recommended).", icon=":material/block:")
        st.stop()
    if policy == "open":
        st.warning(f"OPEN TO THE NETWORK WITHOUT SIGN-IN ({ALLOW_OPEN_ENV}=1): anyone who reaches {shown} can "
                   "read and change every judgment and study. Add accounts (`python -m ctl_core users add NAME "
                   "--role admin`) to require sign-in.", icon=":material/warning:")


# ----------------------------------------------------------------------------------------------- the session

def engine():
    return loaders.engine(loaders.workspace())


@st.cache_resource
def _secret(folder: str) -> bytes:
    return sessions.load_secret(Path(folder))


def secret() -> bytes:
    """The key that signs session cookies (``db.sessions.load_secret``: beside the workspace's database)."""
    ws = loaders.workspace()
    ws.root.mkdir(parents=True, exist_ok=True)
    return _secret(str(ws.root))


def _from_cookie(eng) -> AccountInfo | None:
    """A new session (a reload, a new tab) signed in again from a valid session cookie; never after signing out."""
    token = st.context.cookies.get(COOKIE)
    if not token or st.session_state.get(SIGNED_OUT_KEY):
        return None
    info = sessions.account_from_token(eng, token, secret())
    if info is not None:
        st.session_state[SESSION_KEY], st.session_state[TOKEN_KEY] = info.account_id, token
    return info


def current_account(eng=None) -> AccountInfo | None:
    """The signed-in account, reloaded; None when nobody is signed in or the account was disabled meanwhile."""
    account_id = st.session_state.get(SESSION_KEY)
    if account_id is None:
        restored = _from_cookie(eng or engine())
        if restored is None:
            return None
        account_id = restored.account_id
    info = accounts.account_by_id(eng or engine(), account_id)
    if info is None or info.disabled:
        st.session_state.pop(SESSION_KEY, None)
        return None
    return info


def _signed_in(info: AccountInfo) -> None:
    st.session_state[SESSION_KEY] = info.account_id
    st.session_state[TOKEN_KEY] = sessions.make_token(engine(), info.account_id, secret())
    st.session_state.pop(SIGNED_OUT_KEY, None)


def sign_out() -> None:
    st.session_state.pop(SESSION_KEY, None)
    st.session_state.pop(TOKEN_KEY, None)
    st.session_state[SIGNED_OUT_KEY] = True  # this session ignores the cookie it was opened with


def session_cookie(info: AccountInfo | None) -> None:
    """Write the session cookie after sign-in, delete it after sign-out (a fixed script; the token is ours and
    checked against ``db.sessions.TOKEN_RE``, no data text goes in). Streamlit cannot set an HttpOnly cookie from a
    script, so this one is readable by scripts on the page: the app runs none from data (see ``app.widgets``)."""
    token = st.session_state.get(TOKEN_KEY)
    prefix = (st.get_option("server.baseUrlPath") or "").strip("/")
    path = "/" + (prefix if all(c.isalnum() or c in "/-_." for c in prefix) else "")
    if info is not None and token and sessions.TOKEN_RE.fullmatch(token):
        value, expires = token, formatdate(int(token.split(".")[2]), usegmt=True)
    elif info is None and st.context.cookies.get(COOKIE):
        value, expires = "", formatdate(0, usegmt=True)
    else:
        return
    with st.sidebar:
        st.html(f'<script>document.cookie = "{COOKIE}={value}; Path={path}; Expires={expires}; SameSite=Strict"'
                ' + (location.protocol === "https:" ? "; Secure" : "");</script>', unsafe_allow_javascript=True)


def sign_in_form(eng) -> None:
    """The sign-in form; on success the session holds the account and the app reruns."""
    st.subheader("Sign in")
    with st.form("sign_in", clear_on_submit=True):
        name = st.text_input("Name", key="signin_name", autocomplete="username")
        password = st.text_input("Password", type="password", key="signin_password",
                                 autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            _signed_in(accounts.sign_in(eng, name, password, source=client_address()))
        except AccountError as e:
            st.error(md(e), icon=":material/lock:")
            return
        st.rerun()
    st.caption("No account? Ask an admin for an invitation link.")


def invitation_form(eng, token: str) -> None:
    """Home with ``?invite=TOKEN``: the invitee sets a password and is signed in."""
    st.title("Complete The Look")
    try:
        info = accounts.invitation_account(eng, token)
    except AccountError as e:
        st.error(md(e), icon=":material/link_off:")
        return
    st.subheader("Set your password")
    st.text(f"Account: {info.name} ({info.role})")
    with st.form("accept_invite", clear_on_submit=True):
        first = st.text_input("New password (at least 8 characters)", type="password", key="invite_password",
                              autocomplete="new-password")
        again = st.text_input("The same again", type="password", key="invite_password2",
                              autocomplete="new-password")
        submitted = st.form_submit_button("Set password and sign in", type="primary")
    if submitted:
        if first != again:
            st.error("The two passwords differ; type them again.")
            return
        try:
            _signed_in(accounts.accept_invitation(eng, token, first, source=client_address()))
        except AccountError as e:
            st.error(md(e))
            return
        st.query_params.clear()  # the token is spent; keep it out of the address bar and the history
        st.rerun()


def account_sidebar(info: AccountInfo | None) -> None:
    """Who is signed in, and the sign-out button (every page)."""
    if info is None:
        return
    with st.sidebar:
        st.text(f"Signed in: {info.name} ({info.role})")
        if info.can("admin"):  # admins are told of wrong passwords on every page; details on Users
            failed = accounts.failed_sign_ins(engine())
            if failed:
                st.warning(f"{sum(f.failures for f in failed)} wrong password(s) in the last 24 h — see Users.",
                           icon=":material/gpp_maybe:")
        if st.button("Sign out", key="sign_out", icon=":material/logout:"):
            sign_out()
            st.rerun()


# ----------------------------------------------------------------------------------------------- gates

def require_role(role: str | None) -> AccountInfo | None:
    """Stop the page unless the signed-in account has ``role`` or above. Returns the account (None: no accounts)."""
    eng = engine()
    if not accounts.has_accounts(eng):
        return None
    info = current_account(eng)
    if info is None:  # a typed or shared URL before sign-in: sign in here, then the page opens
        st.info("Sign in to open this page.", icon=":material/lock:")
        sign_in_form(eng)
        st.stop()
    if role is not None and not info.can(role):
        st.error(f"This page needs the {role} role; you are signed in as a {info.role}. Ask an admin if you need "
                 "access.", icon=":material/block:")
        st.stop()
    return info


def require_page(key: str) -> AccountInfo | None:
    """The role gate of page ``key`` (its least role comes from ``app.nav``)."""
    return require_role(nav.least_role(key))


def acting_name(eng, account: AccountInfo | None, *, acting_as: str, key: str, placeholder: str, prompt: str,
                help: str | None = None) -> str:
    """Whose judgments (or verdicts) a page stores: with accounts, the signed-in account's own annotator (bound on
    sign-in; nobody acts as another); without accounts (the demo), a name typed in the sidebar. Shows it in the
    sidebar as "``acting_as`` NAME"; stops the page with ``prompt`` until a name is given, or with the store's
    refusal of that name."""
    from db import store
    if account is not None:
        name = account.annotator or accounts.bind_annotator(eng, account.account_id).annotator
        st.sidebar.text(f"{acting_as} {name}")
        return name
    name = st.sidebar.text_input("Your name", key=key, placeholder=placeholder, help=help).strip()
    if not name:
        st.info(prompt, icon=":material/badge:")
        st.stop()
    try:
        store.get_or_create_annotator(eng, name)
    except store.StoreError as e:
        st.error(md(e))
        st.stop()
    return name


def can_open(key: str) -> bool:
    """Whether the current session may open page ``key`` (for links)."""
    eng = engine()
    info = current_account(eng)
    return nav.allowed(key, info.role if info else None, accounts.has_accounts(eng))
