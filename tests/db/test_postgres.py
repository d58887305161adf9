"""The same code on PostgreSQL.

The tests run against ``CTL_TEST_PG_URL`` when it names a scratch database (its tables are dropped), and otherwise
against a private throw-away cluster started from the local PostgreSQL server binaries (Debian's ``postgresql``
package, which ``make test`` installs). They are skipped, with the reason, only where neither exists.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from sqlalchemy import func, select

from db import stats, store
from db.schema import Base, Judgment
from db.session import init_db, make_engine, read_session
from db.store import JudgmentError
from db.studies import create_study
from tests.conftest import free_port
from tests.db.conftest import fake_recommend, row_counts


def _pg_bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        pytest.fail(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")


@pytest.fixture(scope="module")
def pg_url():
    """A database URL: CTL_TEST_PG_URL, or a private cluster on a free loopback port for this module."""
    if os.environ.get("CTL_TEST_PG_URL"):
        yield os.environ["CTL_TEST_PG_URL"]
        return
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (install Debian's postgresql, or set CTL_TEST_PG_URL)")
    run_as: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the package's postgres user
        if shutil.which("runuser") is None or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            pytest.skip("running as root without a postgres user to start PostgreSQL as")
        run_as = ["runuser", "-u", "postgres", "--"]
    root = tempfile.mkdtemp(prefix="ctl-pg-")
    data = os.path.join(root, "data")
    if run_as:
        shutil.chown(root, "postgres")
    port = free_port()
    _run(run_as + [f"{bindir}/initdb", "-D", data, "-U", "ctl", "--auth=trust", "-E", "UTF8"])
    _run(run_as + [f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(root, "log"), "-w", "-o",
                   f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start"])
    try:
        _run(run_as + [f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "ctl", "ctl_test"])
        yield f"postgresql+psycopg://ctl@127.0.0.1:{port}/ctl_test"
    finally:
        subprocess.run(run_as + [f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg(pg_url):
    eng = make_engine(pg_url)
    Base.metadata.drop_all(eng)
    init_db(eng)
    init_db(eng)
    yield eng
    Base.metadata.drop_all(eng)
    eng.dispose()


def test_full_flow_on_postgres(pg):
    assert pg.dialect.name == "postgresql"
    sid = create_study(pg, "pg", ["q1", "q2"], ["a", "b"], fake_recommend, k=3,
                       gold_pairs=[("g1", "g2", True)])
    for who in ["ann", "bob"]:
        store.get_or_create_annotator(pg, who)
        while (p := store.next_pair(pg, sid, who)) is not None:
            store.submit_judgment(pg, sid, p.pair_id, who, p.pair_id % 2 == 0,
                                  [] if p.pair_id % 2 == 0 else ["colour_clash"], "it's ok")
    p1 = store.recent_judgments(pg, sid, "ann", 1)[0].pair_id
    store.submit_judgment(pg, sid, p1, "ann", False, ["style_mismatch", "print_clash"], "changed")
    assert store.get_judgment(pg, p1, "ann").failure_modes == ("print_clash", "style_mismatch")
    before = row_counts(pg)
    with pytest.raises(JudgmentError):
        store.submit_judgment(pg, sid, p1, "ann", True, ["colour_clash"])
    assert row_counts(pg) == before
    assert before["judgments"] == 2 * 9
    table = stats.precision_by_model(pg, sid)
    assert table["judged"].sum() > 0
    assert stats.agreement(pg, sid)["items"] == 9
    stats.save_offline_metrics(pg, pd.DataFrame({"method": ["x"], "R@1": [0.1]}))
    stats.save_offline_metrics(pg, pd.DataFrame({"method": ["x"], "R@1": [0.2]}))
    assert stats.load_offline_metrics(pg)["value"].tolist() == [0.2]


def test_concurrent_upserts_on_postgres(pg):
    sid = create_study(pg, "pg", ["q1", "q2"], ["a"], fake_recommend, k=3)
    with read_session(pg) as s:
        from db.schema import Pair
        pairs = list(s.scalars(select(Pair.id).where(Pair.study_id == sid)))
    names = [f"w{i}" for i in range(8)]
    for n in names:
        store.get_or_create_annotator(pg, n)

    def work(name):
        last = {}
        for i in range(60):
            pid = pairs[i % len(pairs)]
            val = (i // len(pairs)) % 2 == 0
            store.submit_judgment(pg, sid, pid, name, val, [], f"{name}{i}")
            last[pid] = f"{name}{i}"
        return name, last

    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(work, names))
    with read_session(pg) as s:
        assert s.scalar(select(func.count()).select_from(Judgment)) == len(names) * len(pairs)
    for name, last in results:
        for pid, comment in last.items():
            assert store.get_judgment(pg, pid, name).comment == comment
