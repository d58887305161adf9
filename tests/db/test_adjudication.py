"""Adjudication queue (a disagreement appears, is resolved, the originals stay, history records it), the verdict
bases, annotator quality, the report and the tidy export."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from db import adjudication, report, store
from db.stats import judgment_frame
from tests.db.conftest import row_counts


def _judge_all(engine, sid, who, label_of, modes_of=lambda p: []):
    store.get_or_create_annotator(engine, who)
    while (p := store.next_pair(engine, sid, who)) is not None:
        lab = label_of(p)
        store.submit_judgment(engine, sid, p.pair_id, who, lab, [] if lab else modes_of(p), comment=f"{who} says",
                              seconds_taken=4.0)


def _disagree(engine, study):
    """ann says yes to everything; bob says no to c1 candidates and to the gold pair g1-g2 (whose answer is yes);
    both say yes to the gold clash g3-g4."""
    _judge_all(engine, study, "ann", lambda p: True)
    _judge_all(engine, study, "bob", lambda p: not (p.candidate_product_id.endswith("c1") or
                                                      p.candidate_product_id == "g2"),
               modes_of=lambda p: ["colour_clash"])


def test_a_disagreement_appears_is_resolved_and_the_originals_stay(engine, study):
    _disagree(engine, study)
    queue = adjudication.review_queue(engine, study)
    reasons = {(i.query_product_id, i.candidate_product_id): i.reason for i in queue}
    assert reasons == {("q1", "q1-c1"): "disagreement", ("q2", "q2-c1"): "disagreement", ("g1", "g2"): "gold",
                       ("g3", "g4"): "gold"}  # both said yes to the clash: agreement, but wrong
    item = next(i for i in queue if i.candidate_product_id == "q1-c1")
    assert {v.annotator: (v.compatible, v.failure_modes, v.comment) for v in item.verdicts} == {
        "ann": (True, (), "ann says"), "bob": (False, ("colour_clash",), "bob says")}
    store.get_or_create_annotator(engine, "Maria")
    before = judgment_frame(engine, study)
    counts_before = row_counts(engine)

    adjudication.adjudicate(engine, item.pair_id, "Maria", False, ["colour_clash"], "orange on fuchsia")
    assert item.pair_id not in {i.pair_id for i in adjudication.review_queue(engine, study)}
    assert adjudication.queue_counts(engine, study) == {"open": 3, "resolved": 1, "disagreement": 2, "gold": 2}
    # she changes her mind: a new row, the first one kept (history), the latest counts
    adjudication.adjudicate(engine, item.pair_id, "Maria", True)
    hist = adjudication.adjudication_frame(engine, study)
    assert hist["compatible"].tolist() == [False, True] and hist["failure_modes"].tolist() == ["colour_clash", ""]
    assert hist["adjudicator"].tolist() == ["Maria", "Maria"] and hist["reason"].tolist() == ["disagreement"] * 2
    resolved = next(i for i in adjudication.review_queue(engine, study, include_resolved=True)
                    if i.pair_id == item.pair_id)
    assert resolved.resolved and resolved.current.compatible is True and len(resolved.adjudications) == 2

    after = judgment_frame(engine, study)  # the annotators' judgments are untouched
    pd.testing.assert_frame_equal(before, after)
    counts = row_counts(engine)
    assert counts["adjudications"] == counts_before["adjudications"] + 2
    assert {k: v for k, v in counts.items() if k != "adjudications"} == \
        {k: v for k, v in counts_before.items() if k != "adjudications"}


def test_adjudication_refusals_write_nothing(engine, study):
    _disagree(engine, study)
    store.get_or_create_annotator(engine, "Maria")
    agreed = next(p for p in judgment_frame(engine, study).itertuples() if p.candidate_product_id.endswith("c0"))
    bad = [dict(pair_id=agreed.pair_id, adjudicator="Maria", compatible=True),  # not in the queue
           dict(pair_id=99999, adjudicator="Maria", compatible=True),
           dict(pair_id=adjudication.review_queue(engine, study)[0].pair_id, adjudicator="nobody", compatible=True),
           dict(pair_id=adjudication.review_queue(engine, study)[0].pair_id, adjudicator="Maria", compatible=True,
                failure_modes=["colour_clash"]),
           dict(pair_id=adjudication.review_queue(engine, study)[0].pair_id, adjudicator="Maria", compatible=False,
                failure_modes=["no_such_mode"])]
    for kw in bad:
        with pytest.raises(adjudication.AdjudicationError):
            adjudication.adjudicate(engine, **kw)
    assert row_counts(engine)["adjudications"] == 0


def test_results_on_all_majority_and_adjudicated_verdicts(engine, study):
    _disagree(engine, study)
    all_ = report.precision(engine, study, "all").set_index("model")
    maj, counts = report.study_observations(engine, study, "majority")
    # model a: c0, c1, c2 per query; ann yes to all, bob no to c1 -> all: 10 of 12; majority: c1 ties are left out
    assert all_.at["a", "judged"] == 12 and all_.at["a", "compatible"] == 10
    assert counts["ties"] == 3 and maj[maj["model"] == "a"]["y"].tolist() == [1.0] * 4
    store.get_or_create_annotator(engine, "Maria")
    for item in adjudication.review_queue(engine, study):
        adjudication.adjudicate(engine, item.pair_id, "Maria", False, ["colour_clash"])
    adj = report.precision(engine, study, "adjudicated").set_index("model")
    assert adj.at["a", "judged"] == 6 and adj.at["a", "compatible"] == 4  # c1 of both queries: no
    with pytest.raises(ValueError):
        adjudication.verdict_frame(engine, study, "loudest")


def test_annotator_quality_flags_and_report(engine, study, tmp_path):
    _disagree(engine, study)
    q = report.annotator_quality(engine, study).set_index("annotator")
    assert q.at["ann", "gold_judged"] == 2 and q.at["ann", "gold_accuracy"] == 0.5  # yes to the clash too
    assert q.at["bob", "gold_accuracy"] == 0.0
    assert q.at["ann", "median_seconds"] == 4.0
    assert q.at["ann", "agreement"] == pytest.approx(q.at["bob", "agreement"])
    assert not q["flagged"].any()  # 2 gold pairs are too few to flag anyone
    flagged = report.annotator_quality(engine, study, threshold=0.6)
    assert not flagged["flagged"].any()
    monkey = report.MIN_GOLD_FOR_FLAG
    try:
        report.MIN_GOLD_FOR_FLAG = 2
        flagged = report.annotator_quality(engine, study).set_index("annotator")["flagged"]
        assert flagged.to_dict() == {"ann": True, "bob": True}
        assert {(n, w) for n, w, *_ in report.flagged_annotators(engine)} == {("tiny", "ann"), ("tiny", "bob")}
    finally:
        report.MIN_GOLD_FOR_FLAG = monkey

    rep = report.study_report(engine, study, "all")
    assert [c["model_a"] + c["model_b"] for c in rep["comparisons"]] == ["ab"]
    assert "a vs b:" in rep["comparisons"][0]["text"] and "points" in rep["comparisons"][0]["text"]
    text = report.format_report(rep)
    assert "paired comparisons" in text and "review queue: 4 open" in text

    paths = report.export_study(engine, study, tmp_path / "out")
    tidy = pd.read_csv(paths[0], keep_default_na=False)
    assert len(tidy) == len(judgment_frame(engine, study))  # one row per judgment
    assert set(tidy["verdict"]) == {"compatible", "not_compatible"}
    assert set(tidy["failure_modes"]) == {"", "colour_clash"}  # codes joined by ';', never a Python tuple
    shared = tidy[tidy["candidate_product_id"] == "q1-c1"].iloc[0]
    assert shared["models"] == "a;b" and shared["ranks"] == "a:1;b:0"
    design = json.loads(paths[1].read_text())
    assert design["models"] == ["a", "b"] and design["query_product_ids"] == ["q1", "q2"]
    assert design["annotators_per_pair"] == 2 and design["gold_pairs"] == 2


def test_study_report_plan_and_export_from_the_cli(engine, study, tmp_path, capsys):
    from ctl_core.cli import main
    _disagree(engine, study)
    ws = ["--workspace", str(tmp_path), "--quiet"]  # the engine fixture's database is the workspace's ctl.sqlite
    assert main(ws + ["study", "report", "--study", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "a vs b:" in out and "points (95% CI" in out and "basis: all" in out
    assert main(ws + ["study", "report", "--study", "tiny", "--basis", "majority", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["basis"] == "majority" and rep["basis_counts"]["ties"] == 3
    assert main(ws + ["study", "plan", "--diff", "10", "--annotators", "2", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["queries"] > 10 and plan["seconds_per_judgment"] == 4.0  # the median of the timed judgments
    assert main(ws + ["study", "export", "--study", "tiny", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "design.json").exists() and (tmp_path / "out" / "judgments.csv").exists()
    assert main(ws + ["study", "report", "--study", "nope"]) == 2
    assert capsys.readouterr().err.startswith("error: no study 'nope'")
