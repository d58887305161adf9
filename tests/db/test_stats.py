"""Statistics: Wilson intervals and kappas against hand-computed values; per-model precision counting rules."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from db import stats, store
from db.studies import create_study, study_pairs

Z = 1.959963984540054


def hand_wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    d = 1 + Z * Z / n
    centre = (p + Z * Z / (2 * n)) / d
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / d
    return centre - half, centre + half


@pytest.mark.parametrize("k,n,expected", [(8, 10, (0.49016, 0.94332)), (0, 5, (0.0, 0.43448)),
                                          (47, 100, (0.37511, 0.56711))])
def test_wilson_interval_hand_computed(k, n, expected):
    lo, hi = stats.wilson_interval(k, n)
    assert (lo, hi) == pytest.approx(hand_wilson(k, n), abs=1e-9)
    assert (lo, hi) == pytest.approx(expected, abs=1e-5)
    assert all(math.isnan(v) for v in stats.wilson_interval(0, 0))


def test_cohen_kappa():
    assert stats.cohen_kappa([1, 0, 1, 1], [1, 0, 1, 1]) == 1.0
    assert stats.cohen_kappa([1, 1, 1], [1, 1, 1]) == 1.0      # one label only, perfect agreement
    # 2x2 table: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> p_o = .7, p_e = .5*.6 + .5*.4 = .5, kappa = .4
    a = [1] * 20 + [1] * 5 + [0] * 10 + [0] * 15
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert stats.cohen_kappa(a, b) == pytest.approx(0.4)
    assert stats.cohen_kappa([1, 0], [0, 1]) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        stats.cohen_kappa([1], [1, 0])


def test_fleiss_kappa():
    assert stats.fleiss_kappa(np.array([[3, 0], [0, 3], [3, 0]])) == 1.0
    assert stats.fleiss_kappa(np.array([[3, 0], [3, 0]])) == 1.0
    # P_i = 1, 1, 1/3, 1/3 -> P = 2/3; p_j = .5, .5 -> P_e = .5; kappa = (2/3 - .5) / .5 = 1/3
    assert stats.fleiss_kappa(np.array([[3, 0], [0, 3], [1, 2], [2, 1]])) == pytest.approx(1 / 3)


def _judge_all(engine, sid, who, label_of, modes_of=lambda p: [], comment_of=lambda p: ""):
    store.get_or_create_annotator(engine, who)
    while (p := store.next_pair(engine, sid, who)) is not None:
        lab = label_of(p)
        store.submit_judgment(engine, sid, p.pair_id, who, lab, modes_of(p) if lab is not True else [],
                              comment_of(p))


@pytest.mark.parametrize("values, clusters, deff, icc", [
    ([1, 1, 0, 0, 1, 0], ["a", "a", "b", "b", "c", "c"], 1.5, 0.5),    # hand-computed one-way ANOVA ICC
    ([1, 1, 0, 0], ["a", "a", "b", "b"], 2.0, 1.0),                    # perfect agreement: pairs count once
    ([1, 0, 1, 0], ["a", "a", "b", "b"], 1.0, 0.0),                    # judges always split: ICC clipped to 0
    ([1, 0, 1], ["a", "b", "c"], 1.0, 0.0),                            # one judgment per pair: no clustering
    ([1, 1, 1, 1], ["a", "a", "b", "b"], 2.0, 1.0),                    # no variation seen: conservative
    ([], [], 1.0, 0.0),
])
def test_design_effect_hand_cases(values, clusters, deff, icc):
    assert stats.design_effect(values, clusters) == pytest.approx((deff, icc))


def test_interval_widens_with_agreement_not_with_disagreement():
    """Same 20 judgments, 10 compatible: when the two judges of each pair agree the interval is that of 10 pairs;
    when they always split it is that of 20 independent judgments."""
    agree = stats._precision_rows(pd.DataFrame({
        "model": "m", "pair_id": [i // 2 for i in range(20)], "compatible": [i < 10 for i in range(20)]}),
        ["model"], 0.05).iloc[0]
    split = stats._precision_rows(pd.DataFrame({
        "model": "m", "pair_id": [i // 2 for i in range(20)], "compatible": [i % 2 == 0 for i in range(20)]}),
        ["model"], 0.05).iloc[0]
    assert agree["precision"] == split["precision"] == 0.5
    assert (agree["ci_low"], agree["ci_high"]) == pytest.approx(hand_wilson(5, 10))
    assert (split["ci_low"], split["ci_high"]) == pytest.approx(hand_wilson(10, 20))


def test_precision_counts_each_model_and_excludes_skips_and_gold(engine, study):
    # tiny study: per query a -> c0,c1,c2 ; b -> c1,c2,c3 ; gold g1-g2 (True), g3-g4 (False)
    def label(p):
        c = p.candidate_product_id
        if c.endswith("c0"):
            return True
        if c.endswith("c3"):
            return None if p.query_product_id == "q1" else False
        if c.endswith("c1"):
            return True
        if c in ("g2", "g4"):
            return True   # says compatible to both gold pairs: one of two correct
        return False       # c2

    _judge_all(engine, study, "ann", label, modes_of=lambda p: ["colour_clash"], comment_of=lambda p: "note")
    _judge_all(engine, study, "bob", label, modes_of=lambda p: ["print_clash"])
    table = stats.precision_by_model(engine, study).set_index("model")
    # model a: c0 T, c1 T, c2 F per query, judged twice -> 12 observations, 8 compatible
    assert table.loc["a", ["judged", "compatible", "pairs", "skipped"]].tolist() == [12, 8, 6, 0]
    # model b: c1 T, c2 F, c3 (q1 skipped, q2 F) -> observations: 2*(2+2) + 2*1 = 10, compatible 4
    assert table.loc["b", ["judged", "compatible", "pairs", "skipped"]].tolist() == [10, 4, 5, 2]
    assert table.loc["a", "precision"] == pytest.approx(8 / 12)
    # The interval treats the 2 queries as clusters: residuals per query (p = 0.4) are +0.4 and -0.4, so the
    # variance is 2/1 * 0.32 / 10^2 = 0.0064 and n_eff = min(10, 0.24 / 0.0064) = 10; Wilson with z = t(1 df).
    assert table.loc["b", "effective_n"] == pytest.approx(10)
    from db.human import t_quantile, wilson
    assert (table.loc["b", "ci_low"], table.loc["b", "ci_high"]) == pytest.approx(wilson(4, 10, t_quantile(1)))

    by_cat = stats.precision_by_model_category(engine, study, {"q1-c0": "Shoes", "q2-c0": "Shoes"})
    shoes = by_cat[(by_cat["model"] == "a") & (by_cat["category"] == "Shoes")].iloc[0]
    assert (shoes["judged"], shoes["compatible"]) == (4, 4)
    assert set(by_cat["category"]) == {"Shoes", "unknown"}

    tallies = stats.failure_mode_tallies(engine, study).set_index("model")
    # a: c2 x 2 queries x 1 judgment each per annotator -> 2 colour (ann) + 2 print (bob)
    assert tallies.loc["a", "colour_clash"] == 2 and tallies.loc["a", "print_clash"] == 2
    # b (ann): c2 of both queries + c3 of q2 (not compatible) + c3 of q1 (skipped, modes kept)
    assert tallies.loc["b", "colour_clash"] == 2 + 1 + 1 and tallies.loc["a", "season_mismatch"] == 0

    rel = stats.annotator_reliability(engine, study).set_index("annotator")
    assert rel.loc["ann", ["gold_judged", "gold_correct"]].tolist() == [2, 1]
    assert rel.loc["ann", "accuracy"] == 0.5

    com = stats.comments(engine, study)
    assert set(com["annotator"]) == {"ann"} and len(com) == 10
    assert len(stats.comments(engine, study, model="b")) == 6  # c1, c2, c3 of both queries
    assert len(stats.comments(engine, study, mode="colour_clash")) == 4
    assert stats.comments(engine, study, annotator="bob").empty


def test_agreement_two_and_three_raters(engine):
    from tests.db.conftest import fake_recommend
    sid = create_study(engine, "agree", ["q1", "q2", "q3"], ["a"], fake_recommend, k=2, overlap=3)
    pairs = study_pairs(engine, sid).sort_values("pair_id")["pair_id"].tolist()
    assert len(pairs) == 6
    ann = [True, True, False, False, True, False]
    bob = [True, False, False, True, True, False]
    cat = [True, True, False, False, False, False]
    for who, labels in [("ann", ann), ("bob", bob)]:
        store.get_or_create_annotator(engine, who)
        for pid, lab in zip(pairs, labels):
            store.submit_judgment(engine, sid, pid, who, lab)
    ag = stats.agreement(engine, sid)
    # ann/bob: p_o = 4/6; p_yes = 3/6 each -> p_e = .5 -> kappa = (2/3 - 1/2) / (1/2) = 1/3
    assert ag["cohen_kappa"] == pytest.approx(1 / 3)
    assert ag["items"] == 6 and ag["percent_agreement"] == pytest.approx(4 / 6)
    assert ag["fleiss_kappa"] is None
    store.get_or_create_annotator(engine, "cat")
    for pid, lab in zip(pairs, cat):
        store.submit_judgment(engine, sid, pid, "cat", lab)
    store.submit_judgment(engine, sid, pairs[0], "cat", True)  # a repeated submit changes nothing
    ag = stats.agreement(engine, sid)
    table = np.array([[sum(not v[i] for v in (ann, bob, cat)), sum(v[i] for v in (ann, bob, cat))]
                      for i in range(6)])
    n, m = table.shape[0], 3
    p_i = ((table ** 2).sum(axis=1) - m) / (m * (m - 1))
    p_j = table.sum(axis=0) / (n * m)
    hand = (p_i.mean() - (p_j ** 2).sum()) / (1 - (p_j ** 2).sum())
    assert ag["fleiss_kappa"] == pytest.approx(hand)
    assert (ag["fleiss_items"], ag["fleiss_raters"]) == (6, 3)
    assert len(ag["pairwise"]) == 3


def test_perfect_agreement_gives_one(engine, study):
    for who in ["ann", "bob"]:
        _judge_all(engine, study, who, lambda p: p.pair_id % 3 == 0)
    ag = stats.agreement(engine, study)
    assert ag["cohen_kappa"] == 1.0 and ag["percent_agreement"] == 1.0


def test_offline_metrics_round_trip(engine):
    wide = pd.DataFrame({"method": ["triplet-category", "random"], "R@1": [0.203, 0.01], "FITB": [0.785, None]})
    assert stats.save_offline_metrics(engine, wide) == 4
    got = stats.load_offline_metrics(engine, wide=True).set_index("method")
    assert got.loc["triplet-category", "R@1"] == pytest.approx(0.203)
    assert math.isnan(got.loc["random", "FITB"])
    stats.save_offline_metrics(engine, pd.DataFrame({"method": ["random"], "metric": ["R@1"], "value": [0.02]}))
    long = stats.load_offline_metrics(engine)
    assert len(long) == 4
    assert long[(long.method == "random") & (long.metric == "R@1")]["value"].item() == pytest.approx(0.02)
    with pytest.raises(ValueError):
        stats.save_offline_metrics(engine, pd.DataFrame({"x": [1]}))


def test_export_csv(engine, study, tmp_path):
    _judge_all(engine, study, "ann", lambda p: p.pair_id % 2 == 0, modes_of=lambda p: ["style_mismatch"])
    paths = stats.export_csv(engine, study, tmp_path / "out")
    assert [p.name for p in paths] == ["judgments.csv", "summary.csv", "history.csv"]
    j = pd.read_csv(paths[0], keep_default_na=False)
    sources = study_pairs(engine, study)
    # one row per judgment x model source; gold pairs once with an empty model
    assert len(j) == len(sources)
    assert j["judgment_id"].nunique() == 10
    assert (j[j["is_gold"] == 1]["model"] == "").all()
    assert set(j[j["compatible"] == 0]["failure_modes"]) == {"style_mismatch"}
    summary = pd.read_csv(paths[1])
    expected = stats.precision_by_model(engine, study)
    assert summary["precision"].tolist() == pytest.approx(expected["precision"].tolist())
