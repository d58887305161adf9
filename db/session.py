"""Engine factory and transaction helpers for the human-evaluation database.

One setting picks the database: any SQLAlchemy URL (``Workspace.db_url``: ``CTL_DB_URL`` or SQLite in the
workspace). For SQLite the engine follows SQLAlchemy's documented recipe for real transactions with the sqlite3
driver ("Using SQLAlchemy to emit BEGIN in lieu of SQLite's transaction control"): the driver's own BEGIN is
switched off (``isolation_level = None`` on connect) and a ``begin`` event emits ``BEGIN IMMEDIATE``, so a
write transaction takes the write lock up front and waits (``busy_timeout``) instead of failing half-way with
"database is locked". Read-only blocks (``read_session``) emit a plain deferred ``BEGIN`` and never wait on
writers under WAL.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from ctl_core.config import Workspace
from db.schema import DEFAULT_FAILURE_MODES, Base, FailureMode

BUSY_TIMEOUT_S = 30.0
_READ_ONLY = "ctl_read_only"


def make_engine(url: str | None = None, *, echo: bool = False, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Engine:
    """Engine for ``url`` (default: the workspace setting). SQLite: WAL, busy_timeout, foreign keys, BEGIN IMMEDIATE."""
    if url is None:
        url = Workspace.at().db_url
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return create_engine(u, echo=echo, pool_pre_ping=True)

    if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
        Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(u, echo=echo, connect_args={"timeout": busy_timeout_s})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        # Disable the sqlite3 driver's own BEGIN handling entirely; the "begin" hook below emits ours.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        cur.execute("PRAGMA foreign_keys = ON")
        if u.database and u.database != ":memory:":
            cur.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: commits stay atomic (a crash never leaves half a transaction); only the last
            # commits before a power loss may be lost.
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get(_READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session in one write transaction: committed on success, rolled back entirely on any error."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A session for reads only (deferred BEGIN on SQLite, so it never waits on writers)."""
    ro = engine.execution_options(**{_READ_ONLY: True})
    with Session(ro, expire_on_commit=False) as session, session.begin():
        yield session


def init_db(engine: Engine) -> None:
    """Create the tables and seed the default failure modes. Idempotent; safe to call from several processes."""
    Base.metadata.create_all(engine)
    with write_session(engine) as s:
        have = set(s.scalars(select(FailureMode.code)))
        for code, label, desc in DEFAULT_FAILURE_MODES:
            if code not in have:
                s.add(FailureMode(code=code, label=label, description=desc, active=True))
