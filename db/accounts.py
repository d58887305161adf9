"""Accounts for the app: roles, argon2id password hashes, lock-out, one-time invitations and a sign-in log.

Roles are ordered (``ROLES``: stylist < researcher < admin); each can do everything the ones before it can. Names are
NFKC-normalised with runs of whitespace collapsed, and compared casefolded ("Ana" and "ANA" are one account). A
password is NFKC-normalised too (the same password typed on two keyboards matches) and stored only as an argon2id
hash (argon2-cffi). Names that look like an existing one (Unicode's confusable skeleton) or hold invisible
characters are refused (``db.names``).

Wrong passwords slow the one who types them, not the account's owner: attempts are throttled per account and client
address (``client_key``): after ``free_failures`` wrong passwords from one address, each further attempt from it
must wait, ``first_delay`` doubling per wrong password up to ``max_delay``; the password is not even checked while
it waits. Another address is not slowed, so nobody can lock the owner out. Against many addresses at once: once an
account has ``alarm_failures`` wrong passwords in the window, addresses it has never signed in from wait as if
they were one (the owner's usual devices are not slowed). A success from an address, or an admin's reset, clears
its count; wrong passwords older than ``throttle_window`` are forgotten. Unknown names are throttled the same way,
per typed name and address, so the answers do not tell which names exist. Every attempt is written to
``sign_in_attempts`` (its ``source``: the client address) and to the ``db.accounts`` logger; ``failed_sign_ins``
sums them up for the admins. An invitation is a random 256-bit
token; only its SHA-256 is stored, it expires, and it works once. An account's annotator row (the name its
judgments are stored under) is created, or an existing one of the same name taken over, on its first sign-in.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import secrets
import threading
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.names import hidden_character, look_alike
from db.schema import MAX_NAME_LEN, ROLES, Account, Annotator, Invitation, SignInAttempt, utcnow
from db.session import read_session, write_session
from db.store import dialect_insert

log = logging.getLogger(__name__)

WRONG_CREDENTIALS = "wrong name or password; check both and try again"


class AccountError(ValueError):
    """A request about accounts that cannot be done as given; the message names the problem and the fix."""


class SignInError(AccountError):
    """A refused sign-in (wrong name or password, too many wrong passwords from the address, disabled account)."""


class InvitationError(AccountError):
    """An unknown, used or expired invitation."""


@dataclass(frozen=True)
class AccountsConfig:
    """Throttling, invitation and password rules, and the argon2id cost (argon2-cffi's defaults: RFC 9106
    low-memory). Throttling (module docstring): ``free_failures`` wrong passwords per account and address, then
    waits of ``first_delay`` doubling up to ``max_delay``; ``alarm_failures`` on one account from every address make
    the addresses it has not signed in from within ``known_client_age`` wait as one."""
    free_failures: int = 3
    first_delay: timedelta = timedelta(seconds=2)
    max_delay: timedelta = timedelta(minutes=15)
    throttle_window: timedelta = timedelta(hours=24)
    alarm_failures: int = 20
    known_client_age: timedelta = timedelta(days=90)
    invite_ttl: timedelta = timedelta(days=7)
    min_password_len: int = 8
    max_password_len: int = 1024
    time_cost: int = 3
    memory_cost_kib: int = 65536
    parallelism: int = 4

    def hasher(self) -> PasswordHasher:
        return _hasher(self.time_cost, self.memory_cost_kib, self.parallelism)

    def dummy_hash(self) -> str:
        """A hash of a random password, verified against for unknown names (so they cost the same time)."""
        return _dummy_hash(self.time_cost, self.memory_cost_kib, self.parallelism)


DEFAULT_CONFIG = AccountsConfig()


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


@lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_cost: int, parallelism: int) -> str:
    return _hasher(time_cost, memory_cost, parallelism).hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class AccountInfo:
    account_id: int
    name: str
    role: str
    disabled: bool
    has_password: bool
    failed_attempts: int
    locked_until: datetime | None
    created_at: datetime
    last_sign_in_at: datetime | None
    annotator: str | None  # the annotator name its judgments are stored under (None before the first sign-in)

    def is_locked(self, now: datetime | None = None) -> bool:
        return self.locked_until is not None and _aware(self.locked_until) > (now or utcnow())

    def can(self, role: str) -> bool:
        """Whether this account has ``role`` or a higher one."""
        return role_at_least(self.role, role)

    @property
    def status(self) -> str:
        """disabled, active, or invited (no password yet). (Accounts are no longer locked: sign-in is throttled per
        address instead; a lock left by an older version is ignored and cleared on the next sign-in.)"""
        return "disabled" if self.disabled else "active" if self.has_password else "invited"


@dataclass(frozen=True)
class Attempt:
    at: datetime
    name: str  # as typed
    outcome: str  # ok, invite_ok, bad_password, unknown, throttled, disabled, reset (older: locked_now, locked)
    source: str  # the client address (``client_key``), "cli", or "admin" for a reset


@dataclass(frozen=True)
class FailedSignIns:
    """Wrong passwords on one account (``name`` None: on names that are no account) within a time window."""
    name: str | None
    failures: int
    throttled: int  # attempts refused unchecked because they came too fast
    addresses: int
    last_at: datetime
    last_address: str

    def __str__(self) -> str:
        who = repr(self.name) if self.name is not None else "names that are no account"
        extra = f", {self.throttled} more refused unchecked (too fast)" if self.throttled else ""
        return (f"{self.failures} wrong password(s) for {who} from {self.addresses} address(es){extra}; the latest "
                f"at {self.last_at:%Y-%m-%d %H:%M} UTC from {self.last_address}")


# ----------------------------------------------------------------------------------------------- validation

def normalise_account_name(name: object) -> str:
    """The name as stored and shown: NFKC, whitespace runs collapsed; 1–80 visible characters or ``AccountError``
    (invisible, format and control characters are refused: ``db.names.hidden_character``)."""
    if not isinstance(name, str):
        raise AccountError(f"account name must be text, got {type(name).__name__}")
    clean = " ".join(unicodedata.normalize("NFKC", name).split())
    if not clean:
        raise AccountError("account name is empty; give a name such as Ana")
    if len(clean) > MAX_NAME_LEN:
        raise AccountError(f"account name is {len(clean)} characters long; at most {MAX_NAME_LEN} allowed")
    hidden = hidden_character(clean)
    if hidden:
        raise AccountError(f"account name contains an invisible or control character ({hidden}); "
                           "type the name again without it")
    return clean


def _unusual(name: str) -> str:
    """`` ('А' is U+0410 CYRILLIC CAPITAL LETTER A)`` for the first non-ASCII character of ``name``, else ''."""
    ch = next((c for c in name if not c.isascii()), None)
    return f" ({ch!r} is U+{ord(ch):04X} {unicodedata.name(ch, '?')})" if ch else ""


def name_key(name: str) -> str:
    """The key two names collide on: the normalised name, casefolded (and normalised again)."""
    return unicodedata.normalize("NFKC", normalise_account_name(name).casefold())


def _key_or_none(name: object) -> str | None:
    try:
        return name_key(name)  # type: ignore[arg-type]
    except AccountError:
        return None


def check_role(role: object) -> str:
    r = role.strip().lower() if isinstance(role, str) else role
    if r not in ROLES:
        raise AccountError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return r


def role_at_least(role: str | None, needed: str) -> bool:
    """Whether ``role`` is ``needed`` or above it in ``ROLES``."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(check_role(needed))


def check_password(password: object, config: AccountsConfig = DEFAULT_CONFIG) -> str:
    """The password as hashed (NFKC); refused when shorter than ``min_password_len`` or absurdly long."""
    if not isinstance(password, str):
        raise AccountError("password must be text")
    pw = unicodedata.normalize("NFKC", password)
    if len(pw) < config.min_password_len:
        raise AccountError(f"password is {len(pw)} characters long; use at least {config.min_password_len}")
    if len(pw) > config.max_password_len:
        raise AccountError(f"password is {len(pw)} characters long; at most {config.max_password_len} allowed")
    return pw


def _aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt  # SQLite returns naive UTC


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _info(s: Session, a: Account) -> AccountInfo:
    annotator = s.scalar(select(Annotator.name).where(Annotator.id == a.annotator_id)) if a.annotator_id else None
    return AccountInfo(account_id=a.id, name=a.name, role=a.role, disabled=bool(a.disabled),
                       has_password=a.password_hash is not None, failed_attempts=a.failed_attempts or 0,
                       locked_until=_aware(a.locked_until), created_at=_aware(a.created_at),
                       last_sign_in_at=_aware(a.last_sign_in_at), annotator=annotator)


def _find(s: Session, name: str, lock: bool = False) -> Account:
    q = select(Account).where(Account.name_key == name_key(name))
    if lock:
        q = q.with_for_update()  # PostgreSQL row lock; SQLite already holds the write lock (BEGIN IMMEDIATE)
    acc = s.scalar(q)
    if acc is None:
        raise AccountError(f"no account named {normalise_account_name(name)!r}; see `python -m ctl_core users list`")
    return acc


def _typed(typed: object) -> str:
    """A typed name as the sign-in log stores it."""
    return (typed if isinstance(typed, str) else repr(typed))[:200]


def _record(s: Session, typed: object, account_id: int | None, outcome: str, source: str,
            at: datetime | None = None) -> None:
    shown = _typed(typed)
    s.add(SignInAttempt(at=at or utcnow(), name=shown, account_id=account_id, outcome=outcome, source=source[:20]))
    (log.info if outcome in ("ok", "invite_ok", "reset") else log.warning)(
        "sign-in %s for %r (source %s)", outcome, shown, source)


def _bind_annotator(s: Session, acc: Account) -> None:
    """Give the account its annotator row: the one of the same name if there is one (its judgments carry over)."""
    if acc.annotator_id is not None:
        return
    stmt = dialect_insert(s, Annotator.__table__).values(name=acc.name, created_at=utcnow())
    s.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
    acc.annotator_id = s.scalar(select(Annotator.id).where(Annotator.name == acc.name))


# ----------------------------------------------------------------------------------------------- queries

def has_accounts(engine: Engine) -> bool:
    """Whether any account exists (disabled ones count): then the app asks everyone to sign in."""
    with read_session(engine) as s:
        return s.scalar(select(Account.id).limit(1)) is not None


def list_accounts(engine: Engine) -> list[AccountInfo]:
    with read_session(engine) as s:
        return [_info(s, a) for a in s.scalars(select(Account).order_by(Account.name_key))]


def get_account(engine: Engine, name: str) -> AccountInfo:
    with read_session(engine) as s:
        return _info(s, _find(s, name))


def account_by_id(engine: Engine, account_id: int) -> AccountInfo | None:
    with read_session(engine) as s:
        acc = s.get(Account, account_id)
        return _info(s, acc) if acc is not None else None


def sign_in_attempts(engine: Engine, name: str | None = None, limit: int = 50) -> list[Attempt]:
    """The latest attempts, newest first (of one account when ``name`` is given)."""
    with read_session(engine) as s:
        q = select(SignInAttempt).order_by(SignInAttempt.id.desc()).limit(max(0, limit))
        if name is not None:
            q = q.where(SignInAttempt.account_id == _find(s, name).id)
        return [Attempt(at=_aware(a.at), name=a.name, outcome=a.outcome, source=a.source) for a in s.scalars(q)]


# ----------------------------------------------------------------------------------------------- changes

def add_account(engine: Engine, name: str, role: str, password: str | None = None, *,
                config: AccountsConfig = DEFAULT_CONFIG) -> AccountInfo:
    """A new account; without ``password`` it cannot sign in until an invitation is used (``create_invitation``)."""
    clean, r = normalise_account_name(name), check_role(role)
    pw_hash = _hash(config, password) if password is not None else None
    try:
        with write_session(engine) as s:
            if s.scalar(select(Account.id).where(Account.name_key == name_key(clean))) is not None:
                raise AccountError(f"an account named {clean!r} already exists; choose another name, or "
                                   f"`users reset {clean}` to give it a new password")
            twin = look_alike(clean, s.scalars(select(Account.name)))
            if twin is not None:
                raise AccountError(f"{clean!r}{_unusual(clean)} looks like the existing account {twin!r}"
                                   f"{_unusual(twin)}; choose a name that looks different")
            acc = Account(name=clean, name_key=name_key(clean), role=r, password_hash=pw_hash, disabled=False,
                          failed_attempts=0, created_at=utcnow())
            s.add(acc)
            s.flush()
            info = _info(s, acc)
    except IntegrityError:  # another process added the same name between our check and our insert
        raise AccountError(f"an account named {clean!r} already exists; choose another name") from None
    log.info("account %r added with role %s", clean, r)
    return info


def set_password(engine: Engine, name: str, password: str, *, config: AccountsConfig = DEFAULT_CONFIG) -> AccountInfo:
    """A new password; also clears the account's sign-in throttling and voids its open invitations."""
    pw_hash = _hash(config, password)  # hashed outside the write lock: it is slow
    with write_session(engine) as s:
        acc = _find(s, name, lock=True)
        acc.password_hash, acc.failed_attempts, acc.locked_until = pw_hash, 0, None
        _record(s, acc.name, acc.id, "reset", "admin")
        _void_invitations(s, acc.id)
        info = _info(s, acc)
    log.info("password of account %r set", info.name)
    return info


def _void_invitations(s: Session, account_id: int) -> None:
    s.execute(update(Invitation).where(Invitation.account_id == account_id, Invitation.used_at.is_(None))
              .values(used_at=utcnow()))


def create_invitation(engine: Engine, name: str, *, config: AccountsConfig = DEFAULT_CONFIG,
                      now: datetime | None = None, clear_password: bool = False) -> str:
    """A one-time token to set the account's password (earlier unused ones are voided). Only its hash is kept.

    ``clear_password``: also clear the current password and unlock (a reset), in the same transaction."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    with write_session(engine) as s:
        acc = _find(s, name, lock=True)
        if acc.disabled:
            raise AccountError(f"account {acc.name!r} is disabled; `users enable {acc.name}` first")
        if clear_password:
            acc.password_hash, acc.failed_attempts, acc.locked_until = None, 0, None
            _record(s, acc.name, acc.id, "reset", "admin", at=now)
        _void_invitations(s, acc.id)
        s.add(Invitation(account_id=acc.id, token_hash=_token_hash(token), created_at=now,
                         expires_at=now + config.invite_ttl))
    log.info("invitation created for account %r (expires in %s)", acc.name, config.invite_ttl)
    return token


def reset_account(engine: Engine, name: str, password: str | None = None, *,
                  config: AccountsConfig = DEFAULT_CONFIG) -> str | None:
    """Clear the sign-in throttling and give a new password; without one, clear the old password and return a new
    invitation token."""
    if password is not None:
        set_password(engine, name, password, config=config)
        return None
    return create_invitation(engine, name, config=config, clear_password=True)


def set_disabled(engine: Engine, name: str, disabled: bool = True) -> AccountInfo:
    """Disable (or re-enable) an account; its judgments stay. The last enabled admin cannot be disabled."""
    with write_session(engine) as s:
        acc = _find(s, name, lock=True)
        if disabled and acc.role == "admin" and not acc.disabled:
            others = s.scalar(select(Account.id).where(Account.role == "admin", Account.disabled.is_(False),
                                                       Account.id != acc.id).limit(1))
            if others is None:
                raise AccountError(f"{acc.name!r} is the last enabled admin; add another admin before disabling it")
        acc.disabled = disabled
        if disabled:
            _void_invitations(s, acc.id)
        info = _info(s, acc)
    log.info("account %r %s", info.name, "disabled" if disabled else "enabled")
    return info


def bind_annotator(engine: Engine, account_id: int) -> AccountInfo:
    """The account with its annotator row bound (created or taken over by name when missing)."""
    with write_session(engine) as s:
        acc = s.get(Account, account_id)
        if acc is None:
            raise AccountError(f"no account with id {account_id}; sign in again")
        _bind_annotator(s, acc)
        return _info(s, acc)


# ----------------------------------------------------------------------------------------------- sign-in

def client_key(address: str | None) -> str:
    """The address sign-in attempts are counted by: an IPv4 address, an IPv6 address's /64 network (one device's
    addresses change within it), or "local" (this machine, or unknown)."""
    try:
        ip = ipaddress.ip_address((address or "").strip().strip("[]"))
    except ValueError:
        return "local"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "local"
    if ip.version == 6:
        return ":".join(f"{int(g, 16):x}" for g in ip.exploded.split(":")[:4]) + "::"
    return str(ip)


_FAILED = ("bad_password", "unknown")
_SUCCEEDED = ("ok", "invite_ok")


def _wait_until(fails: list[datetime], free: int, config: AccountsConfig) -> datetime | None:
    """When the next attempt may be checked after the wrong passwords ``fails`` (oldest first), or None: now."""
    if len(fails) < free:
        return None
    delay = config.first_delay * 2 ** min(len(fails) - free, 30)
    return fails[-1] + min(delay, config.max_delay)


def _throttled_until(s: Session, config: AccountsConfig, account_id: int | None, typed: str, source: str,
                     now: datetime) -> datetime | None:
    """When ``source`` may next have a password checked for this account (or typed unknown name); None: now."""
    since = now - config.throttle_window
    q = select(SignInAttempt.at, SignInAttempt.outcome, SignInAttempt.source).where(SignInAttempt.at > since)
    if account_id is None:
        q = q.where(SignInAttempt.account_id.is_(None), SignInAttempt.name == typed, SignInAttempt.source == source)
    else:
        q = q.where(SignInAttempt.account_id == account_id)
    rows = [(_aware(at), outcome, src) for at, outcome, src in s.execute(q.order_by(SignInAttempt.id))]

    def failures(rows) -> list[datetime]:
        out: list[datetime] = []
        for at, outcome, _ in rows:
            if outcome in _SUCCEEDED or outcome == "reset":
                out = []
            elif outcome in _FAILED:
                out.append(at)
        return out

    mine = [r for r in rows if r[2] == source or r[1] == "reset"]
    until = _wait_until(failures(mine), config.free_failures, config)
    if account_id is not None:
        known = s.scalar(select(func.count()).select_from(SignInAttempt).where(
            SignInAttempt.account_id == account_id, SignInAttempt.source == source,
            SignInAttempt.outcome.in_(_SUCCEEDED), SignInAttempt.at > now - config.known_client_age))
        if not known:
            every = _wait_until(failures(rows), config.alarm_failures, config)
            until = max(u for u in (until, every) if u is not None) if (until or every) else None
    return until if until is not None and until > now else None


def _throttled_message(until: datetime, now: datetime) -> str:
    seconds = max(1, int((until - now).total_seconds() + 0.999))
    wait = f"{seconds} second(s)" if seconds < 120 else f"{round(seconds / 60)} minute(s)"
    return (f"too many wrong passwords from this address: wait {wait} before trying again (other devices are not "
            f"slowed; an admin can clear this with `python -m ctl_core users reset NAME`)")


def sign_in(engine: Engine, name: object, password: object, *, config: AccountsConfig = DEFAULT_CONFIG,
            source: str = "local", now: datetime | None = None) -> AccountInfo:
    """The account, when ``password`` is right and the account is not disabled; else ``SignInError``.

    ``source``: the client's address (``client_key`` is applied), by which wrong passwords are throttled (module
    docstring): an attempt that comes too soon is refused without checking the password, and says how long to
    wait. Unknown names cost one hash verification like known ones, and both answer ``WRONG_CREDENTIALS``. Every
    attempt is logged (table and logger).
    """
    now, dummy, source = now or utcnow(), config.dummy_hash(), client_key(source)[:20]  # as the log stores it
    with read_session(engine) as s:
        acc = s.scalar(select(Account).where(Account.name_key == _key_or_none(name)))
        stored = (acc.id, acc.password_hash) if acc is not None else None
        until = _throttled_until(s, config, stored[0] if stored else None, _typed(name), source, now)
    if until is not None:
        with write_session(engine) as s:
            _record(s, name, stored[0] if stored else None, "throttled", source, at=now)
        raise SignInError(_throttled_message(until, now))
    if stored is None:
        _verify(config, dummy, password)
        with write_session(engine) as s:
            _record(s, name, None, "unknown", source, at=now)
        raise SignInError(WRONG_CREDENTIALS)
    account_id, pw_hash = stored
    ok = _verify(config, pw_hash or dummy, password) and pw_hash is not None
    message = WRONG_CREDENTIALS
    with write_session(engine) as s:
        acc = s.get(Account, account_id, with_for_update=True)
        if ok and not acc.disabled:
            acc.failed_attempts, acc.locked_until, acc.last_sign_in_at = 0, None, now
            if config.hasher().check_needs_rehash(pw_hash):
                acc.password_hash = _hash(config, password)
            _bind_annotator(s, acc)
            _record(s, name, account_id, "ok", source, at=now)
            return _info(s, acc)
        if ok:  # right password, disabled account
            _record(s, name, account_id, "disabled", source, at=now)
            message = "this account is disabled; ask an admin to enable it again"
        else:
            acc.failed_attempts = (acc.failed_attempts or 0) + 1  # since the last sign-in, from every address
            _record(s, name, account_id, "bad_password", source, at=now)
    raise SignInError(message)


def failed_sign_ins(engine: Engine, since: timedelta = timedelta(hours=24), *,
                    now: datetime | None = None) -> list[FailedSignIns]:
    """Wrong passwords of the last ``since`` per account (unknown names summed as one), most first: what the
    Users page and the admin's sidebar tell the admins."""
    now = now or utcnow()
    with read_session(engine) as s:
        rows = s.execute(select(SignInAttempt.account_id, SignInAttempt.outcome, SignInAttempt.source,
                                SignInAttempt.at)
                         .where(SignInAttempt.at > now - since,
                                SignInAttempt.outcome.in_((*_FAILED, "throttled")))
                         .order_by(SignInAttempt.id)).all()
        names = dict(s.execute(select(Account.id, Account.name)).all())
    groups: dict[int | None, list] = {}
    for account_id, outcome, source, at in rows:
        groups.setdefault(account_id, []).append((outcome, source, _aware(at)))
    out = []
    for account_id, items in groups.items():
        fails = [i for i in items if i[0] != "throttled"]
        last = max(items, key=lambda i: i[2])
        out.append(FailedSignIns(name=names.get(account_id) if account_id is not None else None,
                                 failures=len(fails), throttled=len(items) - len(fails),
                                 addresses=len({i[1] for i in items}), last_at=last[2], last_address=last[1]))
    return sorted(out, key=lambda f: (-(f.failures + f.throttled), f.name or ""))


# At most this many argon2 computations at once (64 MiB each by default): a flood of sign-ins queues, not swaps.
_HASH_SLOTS = threading.BoundedSemaphore(4)


def _hash(config: AccountsConfig, password: object) -> str:
    pw = check_password(password, config)
    with _HASH_SLOTS:
        return config.hasher().hash(pw)


def _verify(config: AccountsConfig, pw_hash: str, password: object) -> bool:
    if not isinstance(password, str):
        return False
    try:
        with _HASH_SLOTS:
            return config.hasher().verify(pw_hash, unicodedata.normalize("NFKC", password))
    except (VerificationError, InvalidHashError):
        return False


def invitation_account(engine: Engine, token: str, *, now: datetime | None = None) -> AccountInfo:
    """The account an invitation is for, while it is unused and unexpired; else ``InvitationError``."""
    now = now or utcnow()
    with read_session(engine) as s:
        inv = s.scalar(select(Invitation).where(Invitation.token_hash == _token_hash(str(token))))
        if inv is None:
            raise InvitationError("this invitation link is not valid; ask an admin for a new one")
        if inv.used_at is not None:
            raise InvitationError("this invitation link was already used (or replaced); ask an admin for a new one")
        if _aware(inv.expires_at) <= now:
            raise InvitationError(f"this invitation link expired at {_aware(inv.expires_at):%Y-%m-%d %H:%M} UTC; "
                                  "ask an admin for a new one")
        acc = s.get(Account, inv.account_id)
        if acc.disabled:
            raise InvitationError("the account of this invitation is disabled; ask an admin")
        return _info(s, acc)


def accept_invitation(engine: Engine, token: str, password: str, *, config: AccountsConfig = DEFAULT_CONFIG,
                      now: datetime | None = None, source: str = "local") -> AccountInfo:
    """Use an invitation: set the account's password and sign it in. Works once; refused when expired.
    ``source``: the client's address (``client_key``), as for ``sign_in``."""
    now = now or utcnow()
    invitation_account(engine, token, now=now)  # a clear message before the slow hash
    pw_hash = _hash(config, password)
    with write_session(engine) as s:
        used = s.execute(update(Invitation).where(Invitation.token_hash == _token_hash(str(token)),
                                                  Invitation.used_at.is_(None), Invitation.expires_at > now)
                         .values(used_at=now).returning(Invitation.account_id)).scalar()
        if used is None:  # used by a concurrent request between the check and here
            raise InvitationError("this invitation link was already used; ask an admin for a new one")
        acc = s.get(Account, used, with_for_update=True)
        acc.password_hash, acc.failed_attempts, acc.locked_until, acc.last_sign_in_at = pw_hash, 0, None, now
        _bind_annotator(s, acc)
        _record(s, acc.name, acc.id, "invite_ok", client_key(source), at=now)
        return _info(s, acc)


def invite_url(token: str, base_url: str = "http://127.0.0.1:8501") -> str:
    """The link an invitee opens: the app's Home page with the token."""
    return f"{base_url.rstrip('/')}/?invite={token}"
