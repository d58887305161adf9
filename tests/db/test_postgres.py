"""The same code on PostgreSQL (runs only when CTL_TEST_PG_URL names a scratch database; its tables are dropped)."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from sqlalchemy import func, select

from db import stats, store
from db.schema import Base, Judgment
from db.session import init_db, make_engine, read_session
from db.store import JudgmentError
from db.studies import create_study
from tests.db.conftest import fake_recommend, row_counts

PG_URL = os.environ.get("CTL_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set CTL_TEST_PG_URL to a scratch PostgreSQL database")


@pytest.fixture
def pg():
    eng = make_engine(PG_URL)
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
