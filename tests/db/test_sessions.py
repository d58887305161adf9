"""Signed session tokens (the app's session cookie): valid for their account, and nothing else."""
from __future__ import annotations

import os

import pytest

from db import accounts, sessions
from db.accounts import AccountsConfig

FAST = AccountsConfig(time_cost=1, memory_cost_kib=8, parallelism=1)
SECRET = b"k" * 64


@pytest.fixture
def ana(engine) -> int:
    return accounts.add_account(engine, "Ana", "stylist", "ana password", config=FAST).account_id


def test_a_token_signs_in_its_account(engine, ana):
    token = sessions.make_token(engine, ana, SECRET)
    assert sessions.TOKEN_RE.fullmatch(token)
    assert sessions.account_from_token(engine, token, SECRET).name == "Ana"


def test_forged_altered_expired_or_foreign_tokens_are_refused(engine, ana):
    other = accounts.add_account(engine, "Root", "admin", "root password", config=FAST).account_id
    token = sessions.make_token(engine, ana, SECRET, now=1_000)
    assert sessions.account_from_token(engine, token, SECRET, now=1_000 + 60) is not None
    assert sessions.account_from_token(engine, token, SECRET, now=1_000 + 13 * 3600) is None  # expired (12 h)
    assert sessions.account_from_token(engine, token, b"another secret", now=1_001) is None  # another server key
    _, aid, exp, nonce, sig = token.split(".")
    assert sessions.account_from_token(engine, f"v1.{other}.{exp}.{nonce}.{sig}", SECRET, now=1_001) is None
    assert sessions.account_from_token(engine, f"v1.{aid}.{int(exp) + 99999}.{nonce}.{sig}", SECRET,
                                       now=1_001) is None  # a longer life is not signed
    for junk in (None, "", "v1.1.2.3.4", token + "x", '"; alert(1)//', token.replace(".", "\n", 1)):
        assert sessions.account_from_token(engine, junk, SECRET, now=1_001) is None


def test_a_new_password_or_a_disabled_account_ends_its_tokens(engine, ana):
    token = sessions.make_token(engine, ana, SECRET)
    accounts.set_disabled(engine, "Ana")
    assert sessions.account_from_token(engine, token, SECRET) is None
    accounts.set_disabled(engine, "Ana", False)
    assert sessions.account_from_token(engine, token, SECRET) is not None
    accounts.set_password(engine, "Ana", "a new password", config=FAST)
    assert sessions.account_from_token(engine, token, SECRET) is None  # signed with the old password's fingerprint


def test_the_secret_is_made_once_and_private(tmp_path, monkeypatch):
    monkeypatch.delenv(sessions.SECRET_ENV, raising=False)
    first = sessions.load_secret(tmp_path)
    assert len(first) == 64 and sessions.load_secret(tmp_path) == first
    assert oct(os.stat(tmp_path / sessions.SECRET_FILE).st_mode & 0o777) == "0o600"
    monkeypatch.setenv(sessions.SECRET_ENV, "shared by the servers")
    assert sessions.load_secret(tmp_path) == b"shared by the servers"
