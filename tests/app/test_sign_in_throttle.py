"""AppTest of sign-in throttling (issue 20, finding 8): wrong passwords make their address wait, with a one-line
message; the admins are told on every page and on Users; a look-alike name is refused on Users."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from db import accounts
from db.session import init_db, make_engine

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")
PW = "correct horse"


@pytest.fixture
def team(demo_ws_copy, monkeypatch):
    monkeypatch.setenv("CTL_WORKSPACE", str(demo_ws_copy.root))
    engine = make_engine(demo_ws_copy.db_url)
    init_db(engine)
    fast = accounts.AccountsConfig(time_cost=1, memory_cost_kib=8, parallelism=1)
    for name, role in (("Ana", "stylist"), ("Root", "admin")):
        accounts.add_account(engine, name, role, PW, config=fast)
    yield engine
    engine.dispose()


def sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="signin_name").set_value(name)
    at.text_input(key="signin_password").set_value(password)
    at.button(key="FormSubmitter:sign_in-Sign in").click().run()
    assert not at.exception, at.exception
    return at


def test_wrong_passwords_wait_in_the_app_and_the_admin_is_told(team):
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    free = accounts.DEFAULT_CONFIG.free_failures
    for i in range(free):
        assert any("wrong name or password" in e.value for e in sign_in(at, "Ana", f"guess {i}").error)
    (error,) = sign_in(at, "Ana", PW).error   # the right password, too soon: not even checked
    assert "too many wrong passwords from this address" in error.value and "\n" not in error.value
    outcomes = [a.outcome for a in accounts.sign_in_attempts(team, "Ana")]
    assert outcomes == ["throttled"] + ["bad_password"] * free
    assert {a.source for a in accounts.sign_in_attempts(team, "Ana")} == {"local"}

    admin = AppTest.from_file(MAIN, default_timeout=120)
    admin.run()
    sign_in(admin, "Root", PW)
    assert any("wrong password(s) in the last 24 h" in w.value for w in admin.sidebar.warning)
    admin.switch_page(str(ROOT / "pages" / "users.py"))
    admin.run()
    assert not admin.exception, admin.exception
    notes = [w.value.replace("\\", "") for w in admin.warning]
    assert any(f"{free} wrong password(s) for 'Ana' from 1 address(es), 1 more refused" in n for n in notes), notes
    # a look-alike of an existing name is refused there with one line
    admin.text_input(key="new_user_name").set_value("\u0410na")
    admin.button(key="FormSubmitter:add_user-Add and create an invitation link").click().run()
    assert any("looks like the existing account" in e.value for e in admin.error)
    assert [a.name for a in accounts.list_accounts(team)] == ["Ana", "Root"]
