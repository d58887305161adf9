"""Many writers against one SQLite file: no lock errors, exactly one judgment per (pair, annotator), last write wins."""
from __future__ import annotations

import multiprocessing as mp
import time

from sqlalchemy import select

from db.schema import Annotator, FailureMode, Judgment, judgment_failure_modes
from db.session import init_db, make_engine, read_session
from db.studies import create_study
from tests.db._concurrency_worker import run_writer
from tests.db.conftest import fake_recommend

WRITERS = 16
SUBMITS = 200


def test_sixteen_processes_hundreds_of_submits(tmp_path):
    url = f"sqlite:///{tmp_path / 'ctl.sqlite'}"
    engine = make_engine(url)
    init_db(engine)
    sid = create_study(engine, "load", [f"q{i}" for i in range(10)], ["a", "b"], fake_recommend, k=3)
    with read_session(engine) as s:
        from db.schema import Pair
        pair_ids = list(s.scalars(select(Pair.id).where(Pair.study_id == sid)))
    pair_ids = pair_ids[:30]  # few pairs: many repeated and conflicting submits per (pair, annotator)

    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [ctx.Process(target=run_writer, args=(url, sid, pair_ids, f"writer{i:02d}", SUBMITS, i, barrier, results))
             for i in range(WRITERS)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    out = [results.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    elapsed = time.perf_counter() - t0
    print(f"{WRITERS} processes x {SUBMITS} submits: {elapsed:.1f} s")

    errors = [e for _, _, errs in out for e in errs]
    assert errors == []
    with read_session(engine) as s:
        names = dict(s.execute(select(Annotator.id, Annotator.name)).all())
        rows = s.execute(select(Judgment.pair_id, Judgment.annotator_id, Judgment.compatible, Judgment.comment,
                                Judgment.id)).all()
        links = s.execute(select(judgment_failure_modes.c.judgment_id, FailureMode.code)
                          .join(FailureMode, FailureMode.id == judgment_failure_modes.c.failure_mode_id)).all()
    modes: dict[int, list[str]] = {}
    for jid, code in links:
        modes.setdefault(jid, []).append(code)
    stored = {}
    for pid, aid, comp, comment, jid in rows:
        key = (pid, names[aid])
        assert key not in stored, f"duplicate judgment for {key}"
        stored[key] = (comp, tuple(sorted(modes.get(jid, []))), comment)
    expected = {(pid, name): val for name, last, _ in out for pid, val in last.items()}
    assert len(expected) > WRITERS * 20
    assert stored == expected
    engine.dispose()
