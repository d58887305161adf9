"""Storage: engine settings, annotators, failure modes, judgment upsert and refusals, next_pair, progress."""
from __future__ import annotations

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import OperationalError

from db import store
from db.schema import DEFAULT_FAILURE_MODES, Assignment, Judgment, Pair
from db.session import init_db, make_engine, read_session, write_session
from db.store import AnnotatorError, FailureModeError, JudgmentError
from db.studies import create_study, set_study_status
from tests.db.conftest import fake_recommend, row_counts


def _pairs(engine, study_id, gold=None):
    with read_session(engine) as s:
        q = select(Pair).where(Pair.study_id == study_id).order_by(Pair.id)
        if gold is not None:
            q = q.where(Pair.is_gold.is_(gold))
        return [p.id for p in s.scalars(q)]


def test_sqlite_settings_and_begin_immediate(engine, tmp_path):
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    impatient = make_engine(f"sqlite:///{tmp_path / 'ctl.sqlite'}", busy_timeout_s=0.05)
    with write_session(engine) as s:
        s.execute(select(1))  # BEGIN IMMEDIATE: the write lock is held before any write
        with pytest.raises(OperationalError, match="locked"):
            with write_session(impatient) as s2:
                s2.execute(select(1))
        with read_session(impatient) as s3:  # readers are never blocked (WAL, deferred BEGIN)
            assert s3.execute(select(1)).scalar() == 1
    impatient.dispose()


def test_init_is_idempotent_and_seeds_failure_modes(engine):
    init_db(engine)
    init_db(engine)
    modes = store.list_failure_modes(engine)
    assert [m.code for m in modes] == [c for c, _, _ in DEFAULT_FAILURE_MODES]
    assert len(modes) == 9
    assert {"colour_clash", "print_clash", "season_mismatch", "formality_mismatch", "style_mismatch",
            "wrong_category", "too_similar", "price_mismatch", "bad_image"} == {m.code for m in modes}


def test_foreign_keys_enforced(engine):
    with pytest.raises(Exception, match="FOREIGN KEY"):
        with write_session(engine) as s:
            s.execute(text("INSERT INTO judgments (pair_id, annotator_id, comment, created_at, updated_at) "
                           "VALUES (999, 999, '', '2020-01-01', '2020-01-01')"))


def test_annotator_names(engine):
    a = store.get_or_create_annotator(engine, "  Ann  ")
    assert store.get_or_create_annotator(engine, "Ann") == a
    assert store.list_annotators(engine) == ["Ann"]
    assert store.get_or_create_annotator(engine, "x" * 80) != a
    for bad in ["", "   ", "x" * 81, None]:
        with pytest.raises(AnnotatorError):
            store.get_or_create_annotator(engine, bad)
    assert len(store.list_annotators(engine)) == 2


def test_repeated_submit_updates_one_row(engine, study):
    store.get_or_create_annotator(engine, "ann")
    pid = _pairs(engine, study, gold=False)[0]
    j1 = store.submit_judgment(engine, study, pid, "ann", False, ["colour_clash", "season_mismatch"], "first", 3)
    before = store.get_judgment(engine, pid, "ann")
    j2 = store.submit_judgment(engine, study, pid, " ann ", False, ["style_mismatch"], "second", 4.5)
    j3 = store.submit_judgment(engine, study, pid, "ann", True, [], "third", 2)
    assert j1 == j2 == j3
    after = store.get_judgment(engine, pid, "ann")
    assert after.compatible is True and after.failure_modes == () and after.comment == "third"
    assert after.seconds_taken == 2
    assert after.updated_at >= before.updated_at
    store.submit_judgment(engine, study, pid, "ann", None, ["bad_image"], "skip")
    skipped = store.get_judgment(engine, pid, "ann")
    assert skipped.compatible is None and skipped.failure_modes == ("bad_image",)
    counts = row_counts(engine)
    assert counts["judgments"] == 1 and counts["judgment_failure_modes"] == 1 and counts["assignments"] == 1
    with read_session(engine) as s:
        assert s.get(Judgment, j1).created_at == before.updated_at  # created_at kept across updates


def test_refusals_write_nothing(engine, study):
    store.get_or_create_annotator(engine, "ann")
    other = create_study(engine, "other", ["q9"], ["a"], fake_recommend, k=2)
    pid = _pairs(engine, study, gold=False)[0]
    store.submit_judgment(engine, study, pid, "ann", False, ["colour_clash"], "kept")
    store.add_failure_mode(engine, "retired", "Retired mode")
    store.deactivate_failure_mode(engine, "retired")
    before = row_counts(engine)
    cases = [
        dict(study_id=study, pair_id=pid, annotator_name="nobody", compatible=True),
        dict(study_id=study, pair_id=pid, annotator_name="", compatible=True),
        dict(study_id=study, pair_id=_pairs(engine, other)[0], annotator_name="ann", compatible=True),
        dict(study_id=study, pair_id=10_000, annotator_name="ann", compatible=True),
        dict(study_id=study, pair_id=pid, annotator_name="ann", compatible=False, failure_modes=["no_such_mode"]),
        dict(study_id=study, pair_id=pid, annotator_name="ann", compatible=False, failure_modes=["retired"]),
        dict(study_id=study, pair_id=pid, annotator_name="ann", compatible=False, comment="x" * 2001),
        dict(study_id=study, pair_id=pid, annotator_name="ann", compatible=True, failure_modes=["colour_clash"]),
        dict(study_id=study, pair_id=pid, annotator_name="ann", compatible="yes"),
        dict(study_id=study, pair_id=pid, annotator_name="ann", compatible=False, seconds_taken=-1),
        dict(study_id=study, pair_id=pid, annotator_name="ann", compatible=False, failure_modes="colour_clash"),
    ]
    for kw in cases:
        with pytest.raises(JudgmentError):
            store.submit_judgment(engine, **kw)
        assert row_counts(engine) == before, kw
    kept = store.get_judgment(engine, pid, "ann")
    assert (kept.compatible, kept.failure_modes, kept.comment) == (False, ("colour_clash",), "kept")
    assert isinstance(JudgmentError("x"), ValueError)
    # exactly 2000 characters is fine
    store.submit_judgment(engine, study, pid, "ann", False, [], "y" * 2000)
    set_study_status(engine, study, "closed")
    with pytest.raises(JudgmentError, match="not open"):
        store.submit_judgment(engine, study, pid, "ann", False)
    assert store.next_pair(engine, study, "ann") is None


def test_crash_mid_write_leaves_nothing(engine, study, monkeypatch):
    store.get_or_create_annotator(engine, "ann")
    pid = _pairs(engine, study, gold=False)[0]
    before = row_counts(engine)

    def boom(*a, **k):
        raise RuntimeError("power cut")

    monkeypatch.setattr(store, "_ensure_assignment", boom)  # fails after the judgment and its links are written
    with pytest.raises(RuntimeError):
        store.submit_judgment(engine, study, pid, "ann", False, ["colour_clash", "print_clash"], "half")
    assert row_counts(engine) == before
    assert store.get_judgment(engine, pid, "ann") is None


def test_sql_injection_strings_stored_verbatim(engine, study):
    evil = "Robert'); DROP TABLE judgments;--"
    comment = "x'; DELETE FROM pairs; -- \" OR 1=1; DROP TABLE annotators;"
    store.get_or_create_annotator(engine, evil)
    pair = store.next_pair(engine, study, evil)
    store.submit_judgment(engine, study, pair.pair_id, evil, False, ["style_mismatch"], comment)
    assert store.list_annotators(engine) == [evil]
    got = store.recent_judgments(engine, study, evil)
    assert got[0].comment == comment
    assert {"judgments", "annotators", "pairs"} <= set(inspect(engine).get_table_names())
    assert row_counts(engine)["pairs"] == len(_pairs(engine, study))
    with pytest.raises(FailureModeError):
        store.add_failure_mode(engine, "x'); DROP TABLE failure_modes;--", "evil")
    assert len(store.list_failure_modes(engine)) == 9


def test_failure_mode_editing(engine, study):
    store.get_or_create_annotator(engine, "ann")
    store.add_failure_mode(engine, "fabric_clash", "Fabric clash", "Satin with fleece")
    assert "fabric_clash" in [m.code for m in store.list_failure_modes(engine)]
    pid = _pairs(engine, study, gold=False)[0]
    store.submit_judgment(engine, study, pid, "ann", False, ["fabric_clash"])
    store.deactivate_failure_mode(engine, "fabric_clash")
    assert "fabric_clash" not in [m.code for m in store.list_failure_modes(engine)]
    assert "fabric_clash" in [m.code for m in store.list_failure_modes(engine, active_only=False)]
    assert store.get_judgment(engine, pid, "ann").failure_modes == ("fabric_clash",)  # history kept
    with pytest.raises(FailureModeError):
        store.deactivate_failure_mode(engine, "never_existed")
    store.add_failure_mode(engine, "fabric_clash", "Fabric/texture clash")
    assert [m.label for m in store.list_failure_modes(engine) if m.code == "fabric_clash"] == ["Fabric/texture clash"]


def _drain(engine, study_id, who, labels=lambda pid: pid % 2 == 0):
    seen = []
    while (p := store.next_pair(engine, study_id, who)) is not None:
        seen.append(p.pair_id)
        store.submit_judgment(engine, study_id, p.pair_id, who, labels(p.pair_id))
    return seen


def test_next_pair_overlap_gold_and_own_order(engine, study):
    names = ["ann", "bob", "cat"]
    for n in names:
        store.get_or_create_annotator(engine, n)
    regular, gold = _pairs(engine, study, gold=False), _pairs(engine, study, gold=True)
    # ann takes 3 pairs first; bob's first new pairs complete those (fill to overlap before opening new pairs)
    ann_first = []
    for _ in range(3):
        p = store.next_pair(engine, study, "ann")
        assert store.next_pair(engine, study, "ann").pair_id == p.pair_id  # same pair until judged
        store.submit_judgment(engine, study, p.pair_id, "ann", True)
        ann_first.append(p.pair_id)
    bob_first = []
    while len([x for x in bob_first if x in regular]) < len(regular) - 3:
        p = store.next_pair(engine, study, "bob")
        store.submit_judgment(engine, study, p.pair_id, "bob", True)
        bob_first.append(p.pair_id)
    regular_bob = [x for x in bob_first if x in regular]
    assert set(ann_first) - set(gold) <= set(regular_bob[:3])

    seqs = {n: _drain(engine, study, n) for n in names}
    seqs["ann"] = ann_first + seqs["ann"]
    seqs["bob"] = bob_first + seqs["bob"]
    with read_session(engine) as s:
        per_pair = {}
        for a in s.scalars(select(Assignment)):
            per_pair.setdefault(a.pair_id, []).append(a.annotator_id)
        njudg = {}
        for j in s.scalars(select(Judgment)):
            njudg[j.pair_id] = njudg.get(j.pair_id, 0) + 1
    assert all(len(per_pair[p]) == 2 and njudg[p] == 2 for p in regular)  # overlap 2
    assert all(len(per_pair[p]) == 3 and njudg[p] == 3 for p in gold)     # gold to everyone
    for n in names:
        pr = store.progress(engine, study, n)
        assert pr.judged == pr.total == len(seqs[n])
    # gold counted alike for the annotator and the study: each of the 3 annotators judged every gold pair
    whole = store.progress(engine, study)
    assert whole.study_judged == whole.study_total == 2 * len(regular) + 3 * len(gold)
    assert sum(store.progress(engine, study, n).judged for n in names) == whole.study_judged


def _age_assignment(engine, pair_id: int, name: str, minutes: float) -> None:
    from datetime import timedelta

    from db.schema import Annotator, utcnow
    with write_session(engine) as s:
        aid = s.scalar(select(Annotator.id).where(Annotator.name == name))
        a = s.scalar(select(Assignment).where(Assignment.pair_id == pair_id, Assignment.annotator_id == aid))
        a.created_at = utcnow() - timedelta(minutes=minutes)


def test_abandoned_assignment_is_released_after_the_lease(engine):
    sid = create_study(engine, "one pair", ["q1"], ["a"], fake_recommend, k=1, overlap=1)
    for n in ["ann", "bob", "cat"]:
        store.get_or_create_annotator(engine, n)
    p = store.next_pair(engine, sid, "ann")           # ann is shown the only pair, then walks away
    assert store.next_pair(engine, sid, "bob") is None  # reserved for ann while the lease runs
    assert store.progress(engine, sid, "bob").total == 0

    _age_assignment(engine, p.pair_id, "ann", minutes=store.ASSIGNMENT_LEASE.total_seconds() / 60 + 1)
    assert store.progress(engine, sid, "bob").total == 1  # released: open to others again
    got = store.next_pair(engine, sid, "bob")
    assert got is not None and got.pair_id == p.pair_id
    store.submit_judgment(engine, sid, got.pair_id, "bob", True)

    assert store.next_pair(engine, sid, "ann") is None  # ann comes back: bob filled it, her stale hold is dropped
    with read_session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Judgment)) == 1
        assert s.scalar(select(func.count()).select_from(Assignment)) == 1
    assert store.progress(engine, sid).study_judged == store.progress(engine, sid).study_total == 1


def test_returning_annotator_keeps_a_pair_nobody_took(engine):
    sid = create_study(engine, "one pair", ["q1"], ["a"], fake_recommend, k=1, overlap=1)
    for n in ["ann", "bob"]:
        store.get_or_create_annotator(engine, n)
    p = store.next_pair(engine, sid, "ann")
    _age_assignment(engine, p.pair_id, "ann", minutes=store.ASSIGNMENT_LEASE.total_seconds() / 60 + 5)
    assert store.next_pair(engine, sid, "ann").pair_id == p.pair_id  # back in time: she keeps it, lease renewed
    assert store.next_pair(engine, sid, "bob") is None
    # a judgment on a stale assignment still counts, and is never lost
    _age_assignment(engine, p.pair_id, "ann", minutes=120)
    store.submit_judgment(engine, sid, p.pair_id, "ann", False, ["colour_clash"])
    assert store.next_pair(engine, sid, "bob") is None
    assert store.get_judgment(engine, p.pair_id, "ann").failure_modes == ("colour_clash",)


def test_own_order_is_seeded_and_differs_per_annotator(tmp_path):
    orders = []
    for run in range(2):
        eng = make_engine(f"sqlite:///{tmp_path / f'r{run}.sqlite'}")
        init_db(eng)
        sid = create_study(eng, "s", [f"q{i}" for i in range(6)], ["a", "b"], fake_recommend, k=3, overlap=3)
        got = {}
        for who in ["ann", "bob"]:
            store.get_or_create_annotator(eng, who)
            got[who] = _drain(eng, sid, who)
        orders.append(got)
        eng.dispose()
    assert orders[0] == orders[1]                        # same seed, same orders
    assert sorted(orders[0]["ann"]) == sorted(orders[0]["bob"])
    assert orders[0]["ann"] != orders[0]["bob"]          # each annotator has their own order
    assert orders[0]["ann"] != sorted(orders[0]["ann"])


def test_recent_judgments_and_progress(engine, study):
    store.get_or_create_annotator(engine, "ann")
    done = []
    for i in range(4):
        p = store.next_pair(engine, study, "ann")
        store.submit_judgment(engine, study, p.pair_id, "ann", i % 2 == 0, comment=f"n{i}")
        done.append(p.pair_id)
    store.submit_judgment(engine, study, done[0], "ann", True, comment="edited")
    recent = store.recent_judgments(engine, study, "ann", n=3)
    assert [r.pair_id for r in recent] == [done[0], done[3], done[2]]
    assert recent[0].comment == "edited"
    total_pairs = len(_pairs(engine, study))
    pr = store.progress(engine, study, "ann")
    assert (pr.judged, pr.total) == (4, total_pairs)
    # the study counts gold judgments as her own count does: every gold pair once for each annotator who started
    assert (pr.study_judged, pr.study_total) == (4, 2 * len(_pairs(engine, study, False))
                                                 + len(_pairs(engine, study, True)))
    with pytest.raises(AnnotatorError):
        store.next_pair(engine, study, "stranger")
