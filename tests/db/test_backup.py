"""`db backup` / `db restore` (issue 12: there was no backup or restore command): consistent while stylists write,
restore refuses what is not a CTL database and keeps the database it replaces."""
from __future__ import annotations

import multiprocessing as mp
import sqlite3
import time
from contextlib import closing

import pytest
from sqlalchemy import func, select

from ctl_core.cli import main
from db import backup, store
from db.backup import BackupError
from db.schema import Judgment, Pair
from db.session import init_db, make_engine, read_session
from db.studies import create_study
from tests.db._backup_worker import keep_submitting
from tests.db.conftest import fake_recommend

WRITERS = 4


def _snapshot_is_consistent(path) -> tuple[int, int]:
    """(judgments, history rows) of a backup file, after checking it is one consistent snapshot:
    history ids form a prefix 1..n (no commit half in), and every judgment equals its latest history row."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = [r[0] for r in con.execute("SELECT id FROM judgment_events ORDER BY id")]
        assert ids == list(range(1, len(ids) + 1))
        mismatched = con.execute("""
            SELECT count(*) FROM judgments j JOIN judgment_events e ON e.id = (
                SELECT max(id) FROM judgment_events WHERE judgment_id = j.id)
            WHERE e.new_comment != j.comment OR e.new_compatible IS NOT j.compatible""").fetchone()[0]
        assert mismatched == 0
        orphans = con.execute("SELECT count(*) FROM judgments j WHERE NOT EXISTS "
                              "(SELECT 1 FROM judgment_events e WHERE e.judgment_id = j.id)").fetchone()[0]
        assert orphans == 0
        return con.execute("SELECT count(*) FROM judgments").fetchone()[0], len(ids)


def test_backup_while_stylists_write_is_a_consistent_snapshot(tmp_path):
    url = f"sqlite:///{tmp_path / 'ctl.sqlite'}"
    engine = make_engine(url)
    init_db(engine)
    sid = create_study(engine, "load", [f"q{i}" for i in range(6)], ["a", "b"], fake_recommend, k=3)
    with read_session(engine) as s:
        pair_ids = list(s.scalars(select(Pair.id).where(Pair.study_id == sid)))
    ctx = mp.get_context("spawn")
    started, stop, results = ctx.Barrier(WRITERS + 1), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=keep_submitting, args=(url, sid, pair_ids, f"w{i}", i, started, stop, results))
             for i in range(WRITERS)]
    for p in procs:
        p.start()
    try:
        started.wait(timeout=120)
        seen = []
        for n in range(4):
            time.sleep(0.4)
            info = backup.backup(url, tmp_path / f"b{n}.sqlite")
            seen.append(_snapshot_is_consistent(info.path))
            assert info.tables["judgments"] == seen[-1][0]
    finally:
        stop.set()
        out = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=30)
    assert [e for _, _, errs in out for e in errs] == []
    submits = sum(done for _, done, _ in out)
    assert seen[-1][1] > seen[0][1] > 0, seen          # the writers were writing during the backups
    final = backup.backup(url, tmp_path / "final.sqlite")
    judgments, events = _snapshot_is_consistent(final.path)
    assert events == submits                            # every committed submit has its history row
    print(f"{WRITERS} writers, {submits} submits; history rows in the 4 backups taken meanwhile: "
          f"{[e for _, e in seen]}")
    with read_session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Judgment)) == judgments
    engine.dispose()


def test_restore_round_trip_keeps_the_replaced_database(engine, study, tmp_path):
    url = str(engine.url)
    store.get_or_create_annotator(engine, "ann")
    store.submit_judgment(engine, study, 1, "ann", True)
    saved_backup = backup.backup(url, tmp_path / "before.sqlite")
    assert saved_backup.tables["judgments"] == 1
    store.submit_judgment(engine, study, 2, "ann", False, ["colour_clash"])
    info, kept = backup.restore(url, tmp_path / "before.sqlite")
    assert info.tables["judgments"] == 1
    with read_session(engine) as s:               # the open engine (the app's) sees the restored content
        assert s.scalar(select(func.count()).select_from(Judgment)) == 1
    assert kept is not None and backup.check_ctl_database(kept)["judgments"] == 2
    store.submit_judgment(engine, study, 3, "ann", True)   # and keeps working
    with read_session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Judgment)) == 2


def test_restore_refuses_what_is_not_a_ctl_database(engine, tmp_path):
    url = str(engine.url)
    before = backup.check_ctl_database(engine.url.database)
    (tmp_path / "notes.txt").write_text("not a database")
    with pytest.raises(BackupError, match="not an SQLite database"):
        backup.restore(url, tmp_path / "notes.txt")
    with closing(sqlite3.connect(tmp_path / "other.sqlite")) as con:
        con.execute("CREATE TABLE t (x)")
        con.commit()
    with pytest.raises(BackupError, match="not a CTL one"):
        backup.restore(url, tmp_path / "other.sqlite")
    good = backup.backup(url, tmp_path / "good.sqlite").path
    damaged = tmp_path / "damaged.sqlite"
    data = bytearray(good.read_bytes())
    data[4096 * 2: 4096 * 3] = b"\xff" * 4096            # a page of garbage
    damaged.write_bytes(bytes(data))
    with pytest.raises(BackupError):
        backup.restore(url, damaged)
    with pytest.raises(BackupError, match="file not found"):
        backup.restore(url, tmp_path / "missing.sqlite")
    assert backup.check_ctl_database(engine.url.database) == before   # nothing was replaced
    assert not list(tmp_path.glob("*.before-restore-*"))


def test_db_commands(tmp_path, capsys, monkeypatch):
    ws_root = tmp_path / "ws"
    monkeypatch.delenv("CTL_DB_URL", raising=False)
    engine = make_engine(f"sqlite:///{ws_root / 'ctl.sqlite'}")
    init_db(engine)
    create_study(engine, "s", ["q1"], ["a"], fake_recommend, k=2)
    engine.dispose()
    assert main(["--workspace", str(ws_root), "db", "backup", str(tmp_path / "b.sqlite")]) == 0
    assert "backed up to" in capsys.readouterr().out
    assert main(["--workspace", str(ws_root), "db", "restore", str(tmp_path / "b.sqlite")]) == 0
    out = capsys.readouterr().out
    assert "the previous database is kept at" in out and "restored" in out
    (tmp_path / "junk.sqlite").write_text("junk")
    assert main(["--workspace", str(ws_root), "db", "restore", str(tmp_path / "junk.sqlite")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    monkeypatch.setenv("CTL_DB_URL", "postgresql+psycopg://ctl@localhost/ctl")
    assert main(["--workspace", str(ws_root), "db", "backup", str(tmp_path / "pg.dump")]) == 2
    err = capsys.readouterr().err
    assert "pg_dump" in err and "pg_restore" in err and "\n" not in err.strip()


def _copy_with(good, dest, *sql: str):
    """``good`` copied to ``dest``, with ``sql`` run on the copy."""
    dest.write_bytes(good.read_bytes())
    with closing(sqlite3.connect(dest)) as con:
        for stmt in sql:
            con.execute(stmt)
        con.commit()
    return dest


def test_restore_checks_the_schema_against_the_projects_own(engine, study, tmp_path, capsys):
    """Issue 20, finding 6: a file with the five table names and one column each was restored (then `users list`
    and `study list` failed with tracebacks); a real backup with an added trigger (`after insert on
    sign_in_attempts ... update accounts set role='admin'`) was restored and one wrong sign-in made every account
    admin."""
    url = str(engine.url)
    before = backup.check_ctl_database(engine.url.database)
    good = backup.backup(url, tmp_path / "good.sqlite").path
    shells = tmp_path / "shells.sqlite"
    with closing(sqlite3.connect(shells)) as con:
        for t in sorted(backup.REQUIRED_TABLES):
            con.execute(f'CREATE TABLE "{t}" (x)')
        con.commit()
    evil = _copy_with(good, tmp_path / "evil.sqlite",
                      "CREATE TRIGGER promote AFTER INSERT ON sign_in_attempts BEGIN "
                      "UPDATE accounts SET role = 'admin'; END")
    cases = {
        shells: "table 'annotators' is defined differently from this version's: columns x where this version has id",
        evil: "holds a trigger 'promote' that this project does not create",
        _copy_with(good, tmp_path / "view.sqlite", "CREATE VIEW v AS SELECT 1"): "holds a view 'v'",
        _copy_with(good, tmp_path / "extra.sqlite", "CREATE TABLE notes (x)"): "holds a table 'notes'",
        _copy_with(good, tmp_path / "column.sqlite", "ALTER TABLE accounts ADD COLUMN backdoor TEXT"):
            "table 'accounts' is defined differently",
        _copy_with(good, tmp_path / "orphan.sqlite", "PRAGMA foreign_keys = OFF",
                   "INSERT INTO pairs (study_id, query_product_id, candidate_product_id, is_gold) "
                   "SELECT 999, 'q', 'c', 0"): "point at rows that do not exist",
    }
    for path, fragment in cases.items():
        with pytest.raises(BackupError, match="restore refused") as e:
            backup.restore(url, path)
        assert fragment in str(e.value) and "\n" not in str(e.value), str(e.value)
    assert main(["--workspace", str(tmp_path / "ws"), "db", "restore", str(evil)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "trigger 'promote'" in err and "\n" not in err
    assert backup.check_ctl_database(engine.url.database) == before   # nothing was replaced
    assert not list(tmp_path.glob("*.before-restore-*"))
    # a backup of this version, and one made before a later table (accounts) existed, are restored
    assert backup.restore(url, good)[0].tables == before
    older = _copy_with(good, tmp_path / "older.sqlite", "DROP TABLE account_invitations", "DROP TABLE sign_in_attempts",
                       "DROP TABLE accounts")
    backup.restore(url, older)
