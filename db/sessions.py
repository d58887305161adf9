"""Signed, expiring session tokens: what the app's session cookie holds, so that a reload keeps a stylist signed in.

A token is ``v1.<account id>.<expiry, unix s>.<nonce>.<signature>``; the signature is an HMAC-SHA256 under a
server-side secret of those fields and a fingerprint of the account's password hash. So a token
- cannot be forged or altered without the secret (the account id and the expiry are signed);
- expires (``SESSION_TTL``, 12 hours, from sign-in; a reload does not extend it);
- dies with the password: a new password, ``users reset`` or an accepted invitation changes the fingerprint;
- gives nothing to a disabled account (``account_from_token`` returns None; the app reloads the account on every
  run as before).
Nothing is stored per token: signing out deletes the cookie in that browser, and a token copied before that stays
valid until it expires or the password changes.

The secret is ``$CTL_SESSION_SECRET`` when set (several app servers behind one proxy share it), else a random
32-byte key written once to ``session.key`` beside the database (file mode 0600); deleting that file signs
everyone out.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from db.accounts import AccountInfo, account_by_id
from db.schema import Account
from db.session import read_session

SESSION_TTL = timedelta(hours=12)
SECRET_ENV = "CTL_SESSION_SECRET"
SECRET_FILE = "session.key"
# The whole token alphabet: digits, letters, "-", "_" and the dots between fields (safe inside a cookie and a script).
TOKEN_RE = re.compile(r"v1\.\d{1,12}\.\d{1,12}\.[A-Za-z0-9_-]{16,64}\.[A-Za-z0-9_-]{43}")


def load_secret(folder: Path) -> bytes:
    """The signing key: ``$CTL_SESSION_SECRET``, else ``folder/session.key`` (created, mode 0600, on first use)."""
    env = os.environ.get(SECRET_ENV)
    if env:
        return env.encode()
    path = Path(folder) / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made before, or by another process just now
        for _ in range(50):
            key = path.read_bytes().strip()
            if key:
                return key
            time.sleep(0.01)  # the other process is writing it
        raise RuntimeError(f"{path} is empty; delete it and reload") from None
    key = secrets.token_hex(32).encode()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def _fingerprint(engine: Engine, account_id: int) -> str | None:
    """A digest of the account's password hash (None: no such account)."""
    with read_session(engine) as s:
        row = s.execute(select(Account.password_hash).where(Account.id == account_id)).first()
    return None if row is None else hashlib.sha256((row[0] or "").encode()).hexdigest()


def _sign(secret: bytes, fields: str, fingerprint: str) -> str:
    mac = hmac.new(secret, f"{fields}.{fingerprint}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def make_token(engine: Engine, account_id: int, secret: bytes, now: float | None = None,
               ttl: timedelta = SESSION_TTL) -> str:
    """A session token for ``account_id``, valid for ``ttl`` from ``now`` (unix seconds)."""
    fingerprint = _fingerprint(engine, account_id)
    if fingerprint is None:
        raise ValueError(f"no account {account_id}")
    expires = int((time.time() if now is None else now) + ttl.total_seconds())
    fields = f"v1.{int(account_id)}.{expires}.{secrets.token_urlsafe(16)}"
    return f"{fields}.{_sign(secret, fields, fingerprint)}"


def account_from_token(engine: Engine, token: object, secret: bytes, now: float | None = None) -> AccountInfo | None:
    """The enabled account a token was made for; None when it is malformed, forged, expired, made before the
    password last changed, or its account is gone or disabled."""
    if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
        return None
    fields, _, signature = token.rpartition(".")
    _, account_id, expires, _ = fields.split(".")
    if int(expires) <= (time.time() if now is None else now):
        return None
    fingerprint = _fingerprint(engine, int(account_id))
    if fingerprint is None or not hmac.compare_digest(signature, _sign(secret, fields, fingerprint)):
        return None
    info = account_by_id(engine, int(account_id))
    return None if info is None or info.disabled or not info.has_password else info
