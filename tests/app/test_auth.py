"""AppTest for sign-in, invitations and role gates, and the serving policy (no accounts: loopback only)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from app.auth import is_loopback, serving_policy
from db import accounts, store
from db.accounts import AccountsConfig
from db.session import init_db, make_engine

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")
FAST = AccountsConfig(time_cost=1, memory_cost_kib=8, parallelism=1)
PW = "correct horse"


def page(name: str) -> str:
    return str(ROOT / "pages" / f"{name}.py")


@pytest.fixture
def team(demo_ws_copy, monkeypatch):
    """A private workspace with a stylist, a researcher and an admin, and a small study."""
    from ctl_core.workflows.study import create_study_from_workspace
    monkeypatch.setenv("CTL_WORKSPACE", str(demo_ws_copy.root))
    engine = make_engine(demo_ws_copy.db_url)
    init_db(engine)
    for name, role in (("Ana", "stylist"), ("Rita", "researcher"), ("Root", "admin")):
        accounts.add_account(engine, name, role, PW, config=FAST)
    create_study_from_workspace(demo_ws_copy, engine, name="pilot", models=["triplet-category"], n=4, k=2,
                                overlap=1, n_gold=0)
    yield engine
    engine.dispose()


def signed_in(name: str, password: str = PW) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    at.text_input(key="signin_name").set_value(name)
    at.text_input(key="signin_password").set_value(password)
    at.button(key="FormSubmitter:sign_in-Sign in").click().run()
    assert not at.exception, at.exception
    return at


def goto(at: AppTest, name: str) -> AppTest:
    at.switch_page(page(name))
    at.run()
    assert not at.exception, at.exception
    return at


def not_in_menu(at: AppTest, name: str) -> bool:
    """Whether page ``name`` is missing from the navigation of this session (AppTest cannot switch to it)."""
    try:
        at.switch_page(page(name))
    except ValueError as e:
        return "Could not find a navigation page" in str(e)
    return False


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def test_loopback_policy():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.0.0.2")
    assert not is_loopback(None) and not is_loopback("") and not is_loopback("0.0.0.0")
    assert not is_loopback("192.168.1.5") and not is_loopback("ctl.example.org")
    assert serving_policy("127.0.0.1", accounts_exist=False, allow_open=False) == "ok"
    assert serving_policy("0.0.0.0", accounts_exist=False, allow_open=False) == "refuse"
    assert serving_policy(None, accounts_exist=False, allow_open=True) == "open"
    assert serving_policy("0.0.0.0", accounts_exist=True, allow_open=False) == "ok"
    # a reverse proxy on this machine forwards the network to loopback: accounts needed then too
    assert serving_policy("127.0.0.1", accounts_exist=False, allow_open=False, proxied=True) == "refuse"
    assert serving_policy("127.0.0.1", accounts_exist=True, allow_open=False, proxied=True) == "ok"


def test_without_accounts_the_app_is_open_and_says_where_it_listens(demo_ws, monkeypatch):
    monkeypatch.setenv("CTL_WORKSPACE", str(demo_ws.root))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    assert not at.exception and not at.error
    assert any("127.0.0.1:8501 — this machine only" in c.value for c in at.caption)
    assert not at.text_input  # no sign-in form


def test_on_the_network_without_accounts_nothing_is_served(demo_ws, monkeypatch):
    monkeypatch.setenv("CTL_WORKSPACE", str(demo_ws.root))
    config.set_option("server.address", "0.0.0.0")  # restored by tests/app/conftest.py
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    assert any("Not serving" in e.value and "users add" in e.value for e in at.error)
    assert not at.title and not at.metric  # no page ran
    monkeypatch.setenv("CTL_ALLOW_OPEN", "1")
    at.run()
    assert any("OPEN TO THE NETWORK" in w.value for w in at.warning)
    assert titles(at) == ["Complete The Look"]
    goto(at, "results")
    assert any("OPEN TO THE NETWORK" in w.value for w in at.warning)  # on every page


def test_on_the_network_with_accounts_sign_in_is_asked(team):
    config.set_option("server.address", "0.0.0.0")
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    assert not at.error and at.text_input(key="signin_name")
    assert any("0.0.0.0:8501 (the network)" in c.value for c in at.caption)


def test_sign_in_is_required_and_wrong_passwords_are_refused(team):
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    assert at.text_input(key="signin_password").proto.type == at.text_input(key="signin_password").proto.PASSWORD
    # no menu before sign-in; a typed URL reaches the page's own gate, which asks for sign-in (no "Page not found")
    goto(at, "results")
    assert at.text_input(key="signin_name") and "Results" not in titles(at)
    at = signed_in("Ana", "wrong password")
    assert any("wrong name or password" in e.value for e in at.error)
    assert "account_id" not in at.session_state
    at = signed_in("ana")  # names are case-insensitive
    assert at.session_state["account_id"] and not at.text_input
    assert any(t.value == "Signed in: Ana (stylist)" for t in at.sidebar.text)
    at.sidebar.button(key="sign_out").click().run()
    assert "account_id" not in at.session_state and at.text_input(key="signin_name")


def test_a_stylist_labels_as_herself_and_nothing_else(team):
    at = signed_in("Ana")
    goto(at, "label")
    assert not at.text_input  # no name box: the annotator comes from the session
    assert any(t.value == "Labelling as Ana" for t in at.sidebar.text)
    at.button(key="judge_yes").click().run()
    assert not at.exception
    assert store.progress(team, 1, "Ana").judged == 1
    for other in ("results", "complete_the_look", "shop_a_scene", "models", "studies", "users"):
        assert not_in_menu(at, other), f"a stylist has {other} in the menu"


@pytest.mark.parametrize("name", ["results", "complete_the_look", "models", "shop_a_scene", "studies", "users"])
def test_each_page_refuses_a_stylist_itself(team, name):
    """The page's own gate, run without the menu (as if the navigation let the URL through)."""
    ana = accounts.get_account(team, "Ana")
    at = AppTest.from_file(page(name), default_timeout=120)
    at.session_state["account_id"] = ana.account_id
    at.run()
    assert not at.exception
    assert any("needs the" in e.value and "signed in as a stylist" in e.value for e in at.error)
    assert len(at.title) == 0


def test_pages_refuse_without_sign_in(team):
    at = AppTest.from_file(page("label"), default_timeout=120)
    at.run()
    assert any("Sign in to open this page" in i.value for i in at.info) and at.text_input(key="signin_name")
    assert not [b for b in at.button if b.key and b.key.startswith("judge_")] and "Label pairs" not in titles(at)


def test_a_deep_link_opens_its_page_after_sign_in(team):
    """A shared /complete-the-look before sign-in: the sign-in form on that page, then the page itself."""
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    goto(at, "complete_the_look")
    assert "Complete the Look" not in titles(at) and at.text_input(key="signin_name")
    at.text_input(key="signin_name").set_value("Rita")
    at.text_input(key="signin_password").set_value(PW)
    at.button(key="FormSubmitter:sign_in-Sign in").click().run()
    assert not at.exception, at.exception
    assert titles(at) == ["Complete the Look"]
    assert at.session_state["session_token"].startswith("v1.")  # what the session cookie will hold


def test_a_researcher_sees_results_but_not_studies(team):
    at = signed_in("Rita")
    goto(at, "results")
    assert titles(at) == ["Results"] and not at.error
    goto(at, "complete_the_look")
    assert titles(at) == ["Complete the Look"]
    assert not_in_menu(at, "studies") and not_in_menu(at, "users")


def test_an_admin_invites_and_the_invitee_sets_a_password(team):
    at = goto(signed_in("Root"), "users")
    assert titles(at) == ["Users"]
    assert set(at.dataframe[0].value["name"]) == {"Ana", "Rita", "Root"}
    at.text_input(key="new_user_name").set_value("Ben")
    at.selectbox(key="new_user_role").set_value("stylist")
    at.button(key="FormSubmitter:add_user-Add and create an invitation link").click().run()
    assert not at.exception and not at.error
    link = at.code[-1].value
    assert link.startswith("http://") and "/?invite=" in link
    token = link.split("invite=", 1)[1]

    invitee = AppTest.from_file(MAIN, default_timeout=120)
    invitee.query_params["invite"] = token
    invitee.run()
    assert any(t.value == "Account: Ben (stylist)" for t in invitee.text)
    invitee.text_input(key="invite_password").set_value("new password 1")
    invitee.text_input(key="invite_password2").set_value("new password 1")
    invitee.button(key="FormSubmitter:accept_invite-Set password and sign in").click().run()
    assert not invitee.exception and not invitee.error
    assert invitee.session_state["account_id"] == accounts.get_account(team, "Ben").account_id
    assert accounts.sign_in(team, "Ben", "new password 1").name == "Ben"

    again = AppTest.from_file(MAIN, default_timeout=120)
    again.query_params["invite"] = token  # single use
    again.run()
    assert any("already used" in e.value for e in again.error)


def test_a_disabled_account_is_signed_out_at_its_next_click(team):
    at = signed_in("Ana")
    assert at.session_state["account_id"]
    accounts.set_disabled(team, "Ana")
    at.run()
    assert "account_id" not in at.session_state and at.text_input(key="signin_name")


def test_an_admin_disables_and_resets_from_the_users_page(team):
    at = goto(signed_in("Root"), "users")
    at.selectbox(key="manage_user").set_value("Ana").run()
    at.button(key="toggle_user").click().run()
    assert accounts.get_account(team, "Ana").disabled
    at.selectbox(key="manage_user").set_value("Ana").run()
    at.button(key="toggle_user").click().run()  # Enable
    assert not accounts.get_account(team, "Ana").disabled
    at.button(key="reset_user").click().run()
    assert "/?invite=" in at.code[-1].value and accounts.get_account(team, "Ana").status == "invited"
    at.selectbox(key="manage_user").set_value("Root").run()
    at.button(key="toggle_user").click().run()
    assert any("last enabled admin" in e.value for e in at.error)
    assert set(at.dataframe[-1].value["outcome"]) >= {"ok"}  # the sign-in log


def test_users_page_without_accounts_says_how_to_add_the_first_admin(demo_ws, monkeypatch):
    monkeypatch.setenv("CTL_WORKSPACE", str(demo_ws.root))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    goto(at, "users")
    assert any("users add NAME --role admin" in c.value for c in at.code)
