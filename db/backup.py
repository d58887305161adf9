"""Backup and restore of the human-evaluation database (``python -m ctl_core db backup|restore FILE``).

SQLite: SQLite's online backup API (``sqlite3.Connection.backup``), which copies the live database page by page
under a read transaction, so the copy is one consistent snapshot even while stylists keep submitting — every
judgment committed before the backup started is in it, none half-written. The copy is written to a temporary
file beside ``FILE``, checked (``PRAGMA integrity_check``, the CTL tables present), switched out of WAL mode so it
is one self-contained file, and only then renamed to ``FILE``.

Restore refuses a file that is not a CTL database (not SQLite, failing the integrity check, or lacking the
studies/pairs/judgments tables) and one whose schema is not the project's own (``check_schema``): every table,
index, trigger and view in the file must be one that this version creates (``db.schema``), defined the same way —
a table with other columns, an extra table, and above all a trigger or view it did not create (a trigger runs on
every write: ``after insert on sign_in_attempts ... set role = 'admin'`` would make every account admin) are
refused with one line; tables this version added since the backup was made may be absent (they are created on
first use). Foreign keys must hold (``PRAGMA foreign_key_check``). Restore then first saves the current database
beside itself (``ctl.sqlite.before-restore-<UTC time>.sqlite``, itself a backup), then copies ``FILE`` into the
live database through the same backup API — the safe way to replace a database that other connections (the app)
may hold open: they see the old content or the new, never a mix, and no WAL file is left to disagree with the new
pages.

PostgreSQL: use its own tools, which take a consistent snapshot the same way: ``pg_dump -Fc URL -f FILE`` and
``pg_restore --clean --if-exists -d URL FILE``; both commands say so instead of guessing.
"""
from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from ctl_core.io import atomic_path
from db.schema import Annotator, Base, FailureMode, Judgment, Pair, Study

REQUIRED_TABLES = frozenset(t.__tablename__ for t in (Annotator, Study, Pair, Judgment, FailureMode))
SQLITE_MAGIC = b"SQLite format 3\x00"


class BackupError(ValueError):
    """A backup or restore that cannot be done as asked; the message says why and what to do."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    bytes: int
    tables: dict[str, int]  # row count per CTL table


def sqlite_path(url: str) -> Path:
    """The database file of a SQLite URL, or ``BackupError`` (PostgreSQL: says which tools to use)."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "postgresql":
        raise BackupError("the database is PostgreSQL: back it up with pg_dump -Fc \"$CTL_DB_URL\" -f FILE and "
                          "restore it with pg_restore --clean --if-exists -d \"$CTL_DB_URL\" FILE")
    if backend != "sqlite":
        raise BackupError(f"backup is implemented for SQLite and PostgreSQL, not {backend!r}")
    if not u.database or u.database == ":memory:" or u.database.startswith("file:"):
        raise BackupError(f"{url} is not a database file; nothing to back up")
    return Path(u.database).expanduser()


def _schema(con: sqlite3.Connection) -> dict[tuple[str, str], str]:
    """(type, name) -> CREATE statement (whitespace collapsed) of every table, index, trigger and view but SQLite's
    own (``sqlite_*``: automatic indexes, sqlite_sequence, statistics)."""
    rows = con.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
    return {(kind, name): " ".join((sql or "").split()) for kind, name, sql in rows}


@lru_cache(maxsize=1)
def project_schema() -> dict[tuple[str, str], str]:
    """The schema this version creates (``db.schema`` through ``create_all``), as ``_schema`` reads it."""
    con = sqlite3.connect(":memory:")
    engine = create_engine("sqlite://", creator=lambda: con)
    Base.metadata.create_all(engine)
    try:
        return _schema(con)
    finally:
        engine.dispose()
        con.close()


def _columns(con: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]


def check_schema(con: sqlite3.Connection, path: Path) -> None:
    """``BackupError`` (one line) unless every schema object in ``con`` is one of ``project_schema``, defined the
    same way, and its foreign keys hold."""
    ours, theirs = project_schema(), _schema(con)
    fix = "restore refused; give a file written by `python -m ctl_core db backup` of this version"
    for (kind, name), sql in sorted(theirs.items()):
        if (kind, name) not in ours:
            why = (" (it would run on every write, behind the app's back)" if kind == "trigger" else
                   " (the app would read through it)" if kind == "view" else "")
            raise BackupError(f"{path} holds a {kind} {name!r} that this project does not create{why}; {fix}")
        if sql != ours[(kind, name)]:
            detail = ""
            if kind == "table":
                ref = sqlite3.connect(":memory:")
                with closing(ref):
                    ref.execute(ours[(kind, name)])
                    want, have = _columns(ref, name), _columns(con, name)
                if want != have:
                    detail = f": columns {', '.join(have)} where this version has {', '.join(want)}"
                else:
                    detail = ": other constraints or types"
            raise BackupError(f"{path}: {kind} {name!r} is defined differently from this version's{detail}; {fix}")
    broken = con.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({r[0] for r in broken})
        raise BackupError(f"{path}: {len(broken)} row(s) of {', '.join(tables)} point at rows that do not exist; "
                          f"{fix}")


def check_ctl_database(path: Path, schema: bool = False) -> dict[str, int]:
    """Row counts of the CTL tables in the SQLite file at ``path``, or ``BackupError`` saying why it is not one.

    ``schema``: also ``check_schema`` (restore does; backup copies whatever the live database holds)."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: file not found")
    with open(path, "rb") as f:
        if f.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise BackupError(f"{path} is not an SQLite database; give a file written by `python -m ctl_core db "
                              "backup`")
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
            ok = con.execute("PRAGMA integrity_check").fetchone()[0]
            if ok != "ok":
                raise BackupError(f"{path} is a damaged SQLite database (integrity check: {ok}); use another backup")
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            missing = sorted(REQUIRED_TABLES - tables)
            if missing:
                raise BackupError(f"{path} is an SQLite database but not a CTL one (no {', '.join(missing)} "
                                  "table); give a file written by `python -m ctl_core db backup`")
            if schema:
                check_schema(con, path)
            return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in sorted(REQUIRED_TABLES)}
    except sqlite3.DatabaseError as e:
        raise BackupError(f"{path} cannot be read as an SQLite database ({e})") from None


def _copy(src: sqlite3.Connection, dest_path: Path) -> None:
    """Online backup of ``src`` into a new file ``dest_path``, made self-contained (rollback journal, not WAL)."""
    with closing(sqlite3.connect(dest_path)) as dest:
        src.backup(dest)  # pages=-1: the whole database in one step, one read transaction: one snapshot
        dest.execute("PRAGMA journal_mode = DELETE")
        dest.commit()


def backup(url: str, dest: str | os.PathLike) -> BackupInfo:
    """Copy the live SQLite database of ``url`` to ``dest`` (consistent while others write); returns what it holds."""
    src_path = sqlite_path(url)
    if not src_path.is_file():
        raise BackupError(f"no database at {src_path} yet; nothing to back up")
    dest = Path(dest).expanduser()
    if dest.resolve() == src_path.resolve():
        raise BackupError(f"{dest} is the live database itself; choose another file")
    with atomic_path(dest) as tmp:
        with closing(sqlite3.connect(src_path, timeout=30)) as src:
            _copy(src, tmp)
        tables = check_ctl_database(tmp)
    return BackupInfo(dest, dest.stat().st_size, tables)


def restore(url: str, src: str | os.PathLike) -> tuple[BackupInfo, Path | None]:
    """Replace the live SQLite database of ``url`` by the backup ``src``; returns (what was restored, where the
    previous database was saved — None when there was none)."""
    live = sqlite_path(url)
    src = Path(src).expanduser()
    tables = check_ctl_database(src, schema=True)
    if live.exists() and src.resolve() == live.resolve():
        raise BackupError(f"{src} is the live database itself; nothing to restore")
    saved = None
    live.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(live, timeout=30)) as target:
        if live.stat().st_size:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            saved = live.with_name(f"{live.name}.before-restore-{stamp}.sqlite")
            with atomic_path(saved) as tmp:
                _copy(target, tmp)
        with closing(sqlite3.connect(f"file:{src}?mode=ro", uri=True)) as source:
            source.backup(target)  # writes every page under the write lock: other connections see old or new
    return BackupInfo(src, src.stat().st_size, tables), saved
