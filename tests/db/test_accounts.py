"""Accounts: argon2id hashes, sign-in throttling, one-time invitations, disable, roles, Unicode names (look-alikes
refused), the `users` CLI."""
from __future__ import annotations

import hashlib
import io
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from ctl_core.cli import main
from db import accounts, store
from db.accounts import AccountError, AccountsConfig, InvitationError, SignInError
from db.schema import Account, Invitation, SignInAttempt, utcnow
from db.session import make_engine, read_session, write_session
from tests.db.test_postgres import pg, pg_url  # noqa: F401 (fixtures: a private PostgreSQL, skipped where absent)

FAST = AccountsConfig(time_cost=1, memory_cost_kib=8, parallelism=1)  # argon2id still; cheap for tests
PW = "correct horse"


def outcomes(engine) -> list[str]:
    with read_session(engine) as s:
        return list(s.scalars(select(SignInAttempt.outcome).order_by(SignInAttempt.id)))


def test_password_is_stored_only_as_an_argon2id_hash(engine):
    accounts.add_account(engine, "Ana", "stylist", PW, config=FAST)
    with read_session(engine) as s:
        stored = s.scalar(select(Account.password_hash))
    assert stored.startswith("$argon2id$") and PW not in stored
    other = accounts.add_account(engine, "Ben", "stylist", PW, config=FAST)
    with read_session(engine) as s:
        assert s.scalar(select(Account.password_hash).where(Account.id == other.account_id)) != stored  # salted
    assert accounts.sign_in(engine, "Ana", PW, config=FAST).name == "Ana"
    with pytest.raises(SignInError, match="wrong name or password"):
        accounts.sign_in(engine, "Ana", PW + "!", config=FAST)
    assert outcomes(engine) == ["ok", "bad_password"]


def test_default_cost_is_argon2_cffi_default():
    assert accounts.DEFAULT_CONFIG.hasher().hash("x" * 8).startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_unknown_name_answers_like_a_wrong_password(engine):
    accounts.add_account(engine, "Ana", "stylist", PW, config=FAST)
    with pytest.raises(SignInError) as unknown:
        accounts.sign_in(engine, "Nobody", PW, config=FAST)
    with pytest.raises(SignInError) as wrong:
        accounts.sign_in(engine, "Ana", "nope nope", config=FAST)
    assert str(unknown.value) == str(wrong.value) == accounts.WRONG_CREDENTIALS
    with pytest.raises(SignInError):
        accounts.sign_in(engine, None, None, config=FAST)  # garbage in: refused, logged, no traceback
    assert outcomes(engine) == ["unknown", "bad_password", "unknown"]


ATTACKER, OWNER = "203.0.113.9", "198.51.100.7"


def test_wrong_passwords_slow_their_address_with_growing_waits_not_the_owner(engine, caplog):
    """Issue 20, finding 8: five wrong passwords from anywhere locked the account for 15 minutes, so anyone could
    lock the admin out. Now the address that types them waits longer and longer; the owner elsewhere does not."""
    accounts.add_account(engine, "Root", "admin", PW, config=FAST)
    caplog.set_level(logging.INFO, logger="db.accounts")
    now = t = utcnow()
    for i in range(FAST.free_failures):
        with pytest.raises(SignInError, match="wrong name or password"):
            accounts.sign_in(engine, "Root", f"wrong {i:04d}", config=FAST, source=ATTACKER, now=t)
    waits = []
    for i in range(7):
        wait = FAST.first_delay * 2 ** i
        with pytest.raises(SignInError, match="too many wrong passwords from this address"):  # even the right one
            accounts.sign_in(engine, "Root", PW, config=FAST, source=ATTACKER, now=t + wait - timedelta(seconds=1))
        t += wait
        with pytest.raises(SignInError, match="wrong name or password"):  # checked again once the wait is over
            accounts.sign_in(engine, "Root", f"again {i}", config=FAST, source=ATTACKER, now=t)
        waits.append(wait.total_seconds())
    assert waits == [2, 4, 8, 16, 32, 64, 128]
    # the owner, from her own address, at the same moment: not slowed at all
    assert accounts.sign_in(engine, "Root", PW, config=FAST, source=OWNER, now=t).name == "Root"
    assert accounts.get_account(engine, "Root").status == "active"
    with pytest.raises(SignInError, match="wait 4 minute"):  # her success does not clear the attacker's wait
        accounts.sign_in(engine, "Root", PW, config=FAST, source=ATTACKER, now=t + timedelta(seconds=1))
    for _ in range(10):  # the wait grows to max_delay and no further
        t += FAST.max_delay
        with pytest.raises(SignInError, match="wrong name or password"):
            accounts.sign_in(engine, "Root", "wrong again", config=FAST, source=ATTACKER, now=t)
    with pytest.raises(SignInError, match="wait 15 minute"):
        accounts.sign_in(engine, "Root", PW, config=FAST, source=ATTACKER, now=t + timedelta(seconds=1))
    # every attempt logged, with its address; the admins are told
    assert outcomes(engine)[:5] == ["bad_password"] * 3 + ["throttled", "bad_password"]
    assert {a.source for a in accounts.sign_in_attempts(engine, "Root", limit=100)} == {ATTACKER, OWNER}
    assert any(r.levelno == logging.WARNING and "throttled" in r.getMessage() for r in caplog.records)
    (summary,) = accounts.failed_sign_ins(engine, now=t + timedelta(seconds=2))
    assert (summary.name, summary.failures, summary.throttled, summary.addresses) == ("Root", 20, 9, 1)
    assert "20 wrong password(s) for 'Root' from 1 address(es)" in str(summary) and ATTACKER in str(summary)
    assert accounts.failed_sign_ins(engine, now=now + timedelta(days=2)) == []   # a day later: forgotten
    assert accounts.sign_in(engine, "Root", PW, config=FAST, source=ATTACKER, now=now + timedelta(days=2))


def test_many_addresses_at_once_slow_only_addresses_the_account_never_used(engine):
    """Against a spread-out attack: after alarm_failures wrong passwords on one account, unfamiliar addresses wait
    as one; the owner's usual address is not slowed."""
    accounts.add_account(engine, "Root", "admin", PW, config=FAST)
    now = utcnow()
    accounts.sign_in(engine, "Root", PW, config=FAST, source=OWNER, now=now - timedelta(days=3))
    for i in range(FAST.alarm_failures):
        with pytest.raises(SignInError, match="wrong name or password"):
            accounts.sign_in(engine, "Root", "guess", config=FAST, source=f"192.0.2.{i + 1}", now=now)
    with pytest.raises(SignInError, match="too many wrong passwords"):
        accounts.sign_in(engine, "Root", "guess", config=FAST, source="192.0.2.200", now=now)
    assert accounts.sign_in(engine, "Root", PW, config=FAST, source=OWNER, now=now).name == "Root"


def test_unknown_names_are_throttled_alike_and_a_reset_clears_the_wait(engine):
    accounts.add_account(engine, "Ana", "stylist", PW, config=FAST)
    now = utcnow()
    answers = {}
    for name in ("Ana", "Nobody"):
        for _ in range(FAST.free_failures):
            with pytest.raises(SignInError):
                accounts.sign_in(engine, name, "wrong pass", config=FAST, source=ATTACKER, now=now)
        with pytest.raises(SignInError) as e:
            accounts.sign_in(engine, name, "wrong pass", config=FAST, source=ATTACKER, now=now)
        answers[name] = str(e.value)
    assert answers["Ana"] == answers["Nobody"] and "wait 2 second" in answers["Ana"]   # tells no name apart
    accounts.reset_account(engine, "Ana", "brand new pass", config=FAST)
    assert accounts.sign_in(engine, "Ana", "brand new pass", config=FAST, source=ATTACKER).name == "Ana"


def test_client_key():
    assert accounts.client_key("203.0.113.9") == "203.0.113.9"
    assert accounts.client_key("::ffff:203.0.113.9") == "203.0.113.9"
    assert accounts.client_key("2001:db8:85a3:7:8a2e:370:7334:1") == "2001:db8:85a3:7::"   # its /64
    assert accounts.client_key("ffff:ffff:ffff:ffff::1")[:20] == "ffff:ffff:ffff:ffff:"
    assert accounts.client_key(None) == accounts.client_key("127.0.0.1") == accounts.client_key("x") == "local"


def test_a_success_resets_the_failure_count(engine):
    accounts.add_account(engine, "Ana", "stylist", PW, config=FAST)
    for _ in range(3):
        for _ in range(FAST.free_failures - 1):
            with pytest.raises(SignInError, match="wrong"):
                accounts.sign_in(engine, "Ana", "wrong pass", config=FAST)
        accounts.sign_in(engine, "Ana", PW, config=FAST)
    assert accounts.get_account(engine, "Ana").status == "active"


def test_invitation_is_single_use_hashed_and_expires(engine):
    accounts.add_account(engine, "Ana", "stylist", config=FAST)
    assert accounts.get_account(engine, "Ana").status == "invited"
    with pytest.raises(SignInError):  # no password yet
        accounts.sign_in(engine, "Ana", "", config=FAST)
    token = accounts.create_invitation(engine, "Ana", config=FAST)
    with read_session(engine) as s:
        assert s.scalar(select(Invitation.token_hash)) == hashlib.sha256(token.encode()).hexdigest()
    assert accounts.invitation_account(engine, token).name == "Ana"
    with pytest.raises(AccountError, match="at least 8"):
        accounts.accept_invitation(engine, token, "short", config=FAST)
    info = accounts.accept_invitation(engine, token, PW, config=FAST)
    assert info.name == "Ana" and info.annotator == "Ana"
    with pytest.raises(InvitationError, match="already used"):
        accounts.accept_invitation(engine, token, "another password", config=FAST)
    assert accounts.sign_in(engine, "Ana", PW, config=FAST).has_password
    with pytest.raises(InvitationError, match="not valid"):
        accounts.invitation_account(engine, "made-up-token")

    old = accounts.create_invitation(engine, "Ana", config=FAST)
    new = accounts.create_invitation(engine, "Ana", config=FAST)  # a new invitation voids the earlier one
    with pytest.raises(InvitationError, match="already used"):
        accounts.invitation_account(engine, old)
    with pytest.raises(InvitationError, match="expired"):
        accounts.accept_invitation(engine, new, "later password", config=FAST, now=utcnow() + timedelta(days=8))


def test_disable_and_the_last_admin(engine):
    accounts.add_account(engine, "Root", "admin", PW, config=FAST)
    accounts.add_account(engine, "Ana", "stylist", PW, config=FAST)
    accounts.set_disabled(engine, "ana")
    with pytest.raises(SignInError, match="disabled"):
        accounts.sign_in(engine, "Ana", PW, config=FAST)
    with pytest.raises(SignInError, match="wrong name or password"):  # a wrong password says nothing more
        accounts.sign_in(engine, "Ana", "wrong pass", config=FAST)
    with pytest.raises(AccountError, match="disabled"):
        accounts.create_invitation(engine, "Ana", config=FAST)
    with pytest.raises(AccountError, match="last enabled admin"):
        accounts.set_disabled(engine, "Root")
    accounts.set_disabled(engine, "Ana", disabled=False)
    assert accounts.sign_in(engine, "Ana", PW, config=FAST).role == "stylist"
    assert accounts.has_accounts(engine)


def test_roles_are_ordered_and_checked_by_the_schema(engine):
    assert accounts.role_at_least("admin", "researcher") and accounts.role_at_least("researcher", "stylist")
    assert not accounts.role_at_least("stylist", "researcher") and not accounts.role_at_least(None, "stylist")
    with pytest.raises(AccountError, match="unknown role 'boss'"):
        accounts.add_account(engine, "Ana", "boss", PW, config=FAST)
    assert accounts.add_account(engine, "Ana", " Researcher ", PW, config=FAST).can("stylist")
    with pytest.raises(IntegrityError), write_session(engine) as s:
        s.execute(text("UPDATE accounts SET role = 'root'"))


@pytest.mark.parametrize(("first", "second"), [
    ("Ana", "ANA"),                      # casefolded
    ("Ｊｏｓé", "José"),                 # fullwidth letters: NFKC
    ("Jose\u0301", "Jos\u00e9"),           # decomposed vs composed é
    ("  Ana   María ", "ana maría"),     # whitespace runs collapsed
    ("Straße", "STRASSE"),               # full casefolding
])
def test_unicode_names_collide_only_when_equal(engine, first, second):
    accounts.add_account(engine, first, "stylist", PW, config=FAST)
    with pytest.raises(AccountError, match="already exists"):
        accounts.add_account(engine, second, "stylist", PW, config=FAST)
    assert accounts.sign_in(engine, second, PW, config=FAST).name == accounts.normalise_account_name(first)


def test_unicode_names_kept_and_invisible_characters_refused(engine):
    for name in ("鞋匠", "包-1", "Zoë"):
        assert accounts.add_account(engine, name, "stylist", PW, config=FAST).name == name
    for bad in ("Ana\u200b", "Ana\u202eevil", "Ana\x07", "", " \n ", "x" * 81):
        with pytest.raises(AccountError):
            accounts.add_account(engine, bad, "stylist", PW, config=FAST)
    assert accounts.sign_in(engine, "鞋匠", PW, config=FAST).annotator == "鞋匠"
    assert accounts.add_account(engine, "Ana\nBen", "stylist", PW, config=FAST).name == "Ana Ben"


@pytest.mark.parametrize("twin", [
    "\u0410na",        # Cyrillic А
    "Ana\u200d",       # a zero-width joiner at the end
    "A\u200cna",       # a zero-width non-joiner between Latin letters
    "\u0391na",        # Greek Alpha
    "ΑΝΑ",             # Greek capitals: looks like ANA, one account with "Ana" when casefolded
])
def test_look_alike_names_are_refused(engine, twin):
    """Issue 20, finding 3: `users add $'\\u0410na'` and `users add $'Ana\\u200d'` were accepted beside "Ana":
    `users list` showed three "Ana"; an admin could disable the wrong one, Results counted three raters."""
    accounts.add_account(engine, "Ana", "stylist", PW, config=FAST)
    with pytest.raises(AccountError, match="looks like the existing account 'Ana'|invisible") as e:
        accounts.add_account(engine, twin, "stylist", PW, config=FAST)
    assert "\n" not in str(e.value)
    assert [a.name for a in accounts.list_accounts(engine)] == ["Ana"]


def test_look_alikes_name_the_character_and_distinct_names_pass(engine):
    accounts.add_account(engine, "\u0410na", "stylist", PW, config=FAST)       # the look-alike came first
    with pytest.raises(AccountError, match=r"looks like the existing account 'Аna' \('А' is U\+0410 CYRILLIC"):
        accounts.add_account(engine, "Ana", "stylist", PW, config=FAST)
    with pytest.raises(AccountError, match="looks like"):
        accounts.add_account(engine, "lvan", "stylist", PW, config=FAST) if accounts.add_account(
            engine, "Ivan", "stylist", PW, config=FAST) else None
    for name in ("Anna", "Ana María", "Аня", "鞋匠", "Zoë", "Zoe", "Jo"):   # different to the eye: accepted
        accounts.add_account(engine, name, "stylist", PW, config=FAST)
    # joiners stay allowed where a script spells with them (Persian), never beside Latin letters or at an end
    assert accounts.add_account(engine, "می\u200cخواهم", "stylist", PW, config=FAST)
    for bad in ("Bo\u200db", "\u200dBob", "Bob\u00ad", "Bob\u2060", "Bob\U000e0001"):
        with pytest.raises(AccountError, match="invisible or control character"):
            accounts.add_account(engine, bad, "stylist", PW, config=FAST)


def test_control_characters_in_a_typed_in_annotator_name_are_refused(engine):
    """Issue 20, finding 3: a demo-mode name holding a NUL or a newline raised IntegrityError on the Label page."""
    for bad in ("Ana\x00", "\x00", "Ana\nBen", "Ana\u200b", "Ana\u202eevil"):
        with pytest.raises(store.AnnotatorError, match="invisible or control character"):
            store.get_or_create_annotator(engine, bad)
    assert store.list_annotators(engine) == []
    assert store.get_or_create_annotator(engine, "  Ana  ") == store.get_or_create_annotator(engine, "Ana")


def test_sign_in_binds_the_annotator_and_takes_over_a_typed_in_name(engine):
    typed = store.get_or_create_annotator(engine, "Ana")  # labelled before accounts existed
    accounts.add_account(engine, "Ana", "stylist", PW, config=FAST)
    assert accounts.get_account(engine, "Ana").annotator is None
    info = accounts.sign_in(engine, "Ana", PW, config=FAST)
    with read_session(engine) as s:
        assert s.scalar(select(Account.annotator_id)) == typed
    assert info.annotator == "Ana" and accounts.bind_annotator(engine, info.account_id).annotator == "Ana"


def test_reset_unlocks_or_replaces_the_password_with_an_invite(engine):
    accounts.add_account(engine, "Ana", "stylist", PW, config=FAST)
    for _ in range(FAST.free_failures + 2):
        with pytest.raises(SignInError):
            accounts.sign_in(engine, "Ana", "wrong pass", config=FAST)
    assert accounts.reset_account(engine, "Ana", "brand new pass", config=FAST) is None
    assert accounts.sign_in(engine, "Ana", "brand new pass", config=FAST).status == "active"
    token = accounts.reset_account(engine, "Ana", config=FAST)
    with pytest.raises(SignInError):  # the old password stops working at once
        accounts.sign_in(engine, "Ana", "brand new pass", config=FAST)
    accounts.accept_invitation(engine, token, "third password", config=FAST)
    assert accounts.sign_in(engine, "Ana", "third password", config=FAST).name == "Ana"


def test_users_cli(tmp_path, monkeypatch, capsys):
    ws = ["--workspace", str(tmp_path / "ws")]
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret pass\n"))
    assert main(ws + ["users", "add", "Ana", "--role", "stylist", "--password-stdin"]) == 0
    assert main(ws + ["users", "add", "Root", "--role", "admin", "--invite", "--port", "8600"]) == 0
    out = capsys.readouterr().out
    link = next(w for w in out.split() if w.startswith("http://127.0.0.1:8600/?invite="))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal, no --password-stdin: refused
    assert main(ws + ["users", "add", "Ben", "--role", "stylist"]) == 2
    assert main(ws + ["users", "add", "Ben", "--role", "boss", "--invite"]) == 2
    assert "unknown role 'boss'" in capsys.readouterr().err
    assert main(ws + ["users", "disable", "ana"]) == 0
    assert main(ws + ["users", "list"]) == 0
    listing = capsys.readouterr().out
    assert "Ana" in listing and "disabled" in listing and "invited" in listing
    assert main(ws + ["users", "disable", "Root"]) == 2
    assert "last enabled admin" in capsys.readouterr().err
    assert main(ws + ["users", "enable", "Ana"]) == 0
    assert main(ws + ["users", "reset", "Ana", "--invite", "--base-url", "https://ctl.example.org/"]) == 0
    assert "https://ctl.example.org/?invite=" in capsys.readouterr().out

    engine = make_engine(f"sqlite:///{tmp_path / 'ws' / 'ctl.sqlite'}")
    token = link.split("=", 1)[1]
    assert accounts.invitation_account(engine, token).role == "admin"
    with pytest.raises(SignInError):
        accounts.sign_in(engine, "Ana", "s3cret pass")  # reset with --invite cleared the password


@pytest.mark.postgres
def test_accounts_on_postgres(pg):  # noqa: F811 (the fixture imported above)
    """The same rules on PostgreSQL: row locks, UPDATE ... RETURNING for single use, the role CHECK."""
    accounts.add_account(pg, "Ana", "stylist", PW, config=FAST)
    accounts.add_account(pg, "Root", "admin", config=FAST)
    token = accounts.create_invitation(pg, "Root", config=FAST)
    assert accounts.accept_invitation(pg, token, "root password", config=FAST).annotator == "Root"
    with pytest.raises(InvitationError):
        accounts.accept_invitation(pg, token, "root password", config=FAST)
    now = utcnow()
    for _ in range(FAST.free_failures):
        with pytest.raises(SignInError):
            accounts.sign_in(pg, "ana", "wrong pass", config=FAST, source=ATTACKER, now=now)
    with pytest.raises(SignInError, match="too many wrong passwords"):
        accounts.sign_in(pg, "Ana", PW, config=FAST, source=ATTACKER, now=now)
    assert accounts.sign_in(pg, "ANA", PW, config=FAST, source=OWNER, now=now).annotator == "Ana"
    with pytest.raises(AccountError, match="last enabled admin"):
        accounts.set_disabled(pg, "Root")
    with pytest.raises(IntegrityError), write_session(pg) as s:
        s.execute(text("UPDATE accounts SET role = 'root'"))
    assert outcomes(pg)[-3:] == ["bad_password", "throttled", "ok"]
