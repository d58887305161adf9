"""Paired comparisons, the query-clustered intervals, Dawid–Skene, study sizing and the simulation harness."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ctl_core.workflows import human_sim
from ctl_core.workflows.human_sim import SimConfig
from db import human
from db.report import observations


def _obs(rows):
    return pd.DataFrame(rows, columns=human.OBS_COLUMNS)


def test_identical_models_differ_by_zero():
    """Two models returning the same pairs: difference exactly 0, a zero-width interval, p = 1."""
    rows = []
    for q in range(10):
        for c in range(3):
            for a in range(2):
                y = float((q + c + a) % 3 == 0)
                rows += [(f"q{q}", q * 10 + c, "a", y), (f"q{q}", q * 10 + c, "b", y)]
    comp = human.paired_comparisons(_obs(rows), ["a", "b"]).iloc[0]
    assert comp["diff"] == 0 and comp["ci_low"] == 0 and comp["ci_high"] == 0 and comp["p_value"] == 1


def test_equal_precision_on_different_pairs_gives_an_interval_around_zero():
    """Same overall precision, different pairs and per-query rates: difference 0, a symmetric interval around it."""
    rows = []
    for q in range(20):
        ya, yb = [1, 1, 0, 0] if q % 2 else [1, 0, 0, 0], [1, 0, 0, 0] if q % 2 else [1, 1, 0, 0]
        rows += [(f"q{q}", 1000 + 10 * q + i, "a", y) for i, y in enumerate(ya)]
        rows += [(f"q{q}", 2000 + 10 * q + i, "b", y) for i, y in enumerate(yb)]
    comp = human.paired_comparisons(_obs(rows), ["a", "b"]).iloc[0]
    assert comp["diff"] == pytest.approx(0, abs=1e-12)
    assert comp["ci_low"] < 0 < comp["ci_high"] and comp["ci_low"] == pytest.approx(-comp["ci_high"])
    assert comp["p_value"] == pytest.approx(1.0)
    assert "+0.0 points" in human.comparison_text(comp)


def test_a_planted_difference_is_detected_and_covered():
    config = SimConfig(precisions=(("weak", 0.30), ("strong", 0.70)), queries=60, annotators=2)
    tr = human_sim.truth(config)
    st = human_sim.draw_study(config, np.random.default_rng(3), tr)
    comp = human.paired_comparisons(observations(st.judgments, st.sources), config.models).iloc[0]
    want = tr.judged_precision["weak"] - tr.judged_precision["strong"]
    assert comp["p_value"] < 1e-4 and comp["ci_high"] < 0
    assert comp["ci_low"] <= want <= comp["ci_high"]


def test_cluster_variance_equals_statsmodels_gee():
    """The sandwich variance of the per-model precisions and their difference is statsmodels' GEE robust
    covariance (independence working correlation, queries as groups) times G/(G−1)."""
    import statsmodels.api as sm

    config = SimConfig(queries=40, annotators=2)
    st = human_sim.draw_study(config, np.random.default_rng(1))
    obs = observations(st.judgments, st.sources)
    models = config.models[:2]
    obs = obs[obs["model"].isin(models)].reset_index(drop=True)
    X = pd.get_dummies(obs["model"])[models].astype(float)
    fit = sm.GEE(obs["y"], X, groups=obs["query"], family=sm.families.Gaussian(),
                 cov_struct=sm.cov_struct.Independence()).fit()
    g = obs["query"].nunique()
    cov = np.asarray(fit.cov_params()) * g / (g - 1)
    comp = human.paired_comparisons(obs, models).iloc[0]
    assert comp["diff"] == pytest.approx(fit.params.iloc[0] - fit.params.iloc[1])
    assert comp["se"] ** 2 == pytest.approx(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], rel=1e-9)
    prec = human.precision_table(obs, models).set_index("model")
    p = prec.at[models[0], "precision"]
    assert prec.at[models[0], "effective_n"] == pytest.approx(min(prec.at[models[0], "judged"],
                                                                  p * (1 - p) / cov[0, 0]), rel=1e-9)


def test_precision_table_handles_empty_and_unanimous_models():
    rows = [("q1", 1, "a", 1.0), ("q2", 2, "a", 1.0), ("q2", 3, "a", 1.0)]
    t = human.precision_table(_obs(rows), ["a", "b"]).set_index("model")
    assert t.at["a", "precision"] == 1 and t.at["a", "ci_high"] == 1 and t.at["a", "ci_low"] < 1
    assert t.at["b", "judged"] == 0 and np.isnan(t.at["b", "precision"])


def test_dawid_skene_recovers_planted_accuracies():
    rng = np.random.default_rng(0)
    se, sp = np.array([0.95, 0.80, 0.70, 0.90]), np.array([0.85, 0.95, 0.75, 0.60])
    truth = rng.random(1500) < 0.4
    items, who, ys = [], [], []
    for a in range(4):
        y = np.where(truth, rng.random(1500) < se[a], rng.random(1500) >= sp[a])
        items += list(range(1500))
        who += [f"a{a}"] * 1500
        ys += list(y.astype(float))
    ds = human.dawid_skene(items, who, ys)
    rates = ds.rates().set_index("annotator")
    assert np.abs(rates["ds_sensitivity"].to_numpy() - se).max() < 0.04
    assert np.abs(rates["ds_specificity"].to_numpy() - sp).max() < 0.04
    assert ds.prevalence == pytest.approx(0.4, abs=0.03)
    # majority vote is worse than the posterior at recovering the truth
    assert np.mean((ds.posterior > 0.5) == truth) > 0.93


def test_dawid_skene_keeps_gold_pairs_clamped():
    ds = human.dawid_skene([1, 1, 2, 2], ["a", "b", "a", "b"], [1, 1, 0, 0], known={1: 0})
    assert ds.posterior_of()[1] == 0.0


def test_plan_grows_with_smaller_differences_and_counts_judgments():
    p5 = human.plan_paired_comparison(5, annotators=2, top_k=5, gold_share=0.1)
    p10 = human.plan_paired_comparison(10, annotators=2, top_k=5, gold_share=0.1)
    p10k3 = human.plan_paired_comparison(10, annotators=3, top_k=5, gold_share=0.1)
    assert p5.queries > 3 * p10.queries and p10k3.queries < p10.queries
    assert p10.pairs == p10.queries * 5 * 2
    assert p10.judgments == -(-p10.pairs * 2 * 10 // 9)  # gold judged too: pairs × k / (1 − 0.1), rounded up
    assert p10.hours == pytest.approx(p10.judgments * 10 / 3600)
    assert "queries" in p10.text()
    with pytest.raises(ValueError):
        human.plan_paired_comparison(0)


def test_plan_matches_the_simulated_power():
    """The formula's queries give ≈ 80% power in the simulation (default variance components)."""
    base = SimConfig(precisions=(("a", 0.45), ("b", 0.60)), annotators=2, gold=0)
    tr = human_sim.truth(base)
    d = tr.judged_precision["b"] - tr.judged_precision["a"]
    plan = human.plan_paired_comparison(100 * d, annotators=2, top_k=5, gold_share=0,
                                        precision=float(np.mean(list(tr.judged_precision.values()))))
    res = human_sim.run_coverage(replace(base, queries=plan.queries), studies=100, seed=2, db_every=0)
    assert 0.68 <= res.rejection_rate_by_pair["a vs b"] <= 0.95


def test_variance_components_measured_on_a_simulated_study():
    st = human_sim.draw_study(SimConfig(queries=1500, annotators=3, gold=0), np.random.default_rng(5))
    vc = human.variance_components(observations(st.judgments, st.sources))
    default = human.VarianceComponents()
    assert vc.pair == pytest.approx(default.pair, abs=0.05)
    assert vc.query_model == pytest.approx(default.query_model, abs=0.03)


def test_simulation_coverage_on_a_small_run():
    """A small run of the harness (the README's table is the 1,000-study run): the intervals cover the truth
    about 95% of the time, the paired ones too, and one study went through the real database with the same
    numbers (checked inside run_coverage)."""
    res = human_sim.run_coverage(SimConfig(queries=40, annotators=2), studies=80, seed=7, db_every=200)
    assert res.db_studies == 1
    assert 0.88 <= res.precision_coverage <= 0.995
    assert 0.88 <= res.diff_coverage <= 0.995
    assert "| 2 | 40 |" in human_sim.coverage_table([res])


def test_simulation_measures_the_corrected_intervals_coverage_when_asked():
    res = human_sim.run_coverage(SimConfig(queries=20, annotators=2), studies=4, seed=1, db_every=0, corrected_boot=20)
    assert res.corrected_boot == 20 and 0.0 <= res.corrected_coverage <= 1.0
    table = human_sim.coverage_table([res])
    assert "corrected precision CI coverage (bootstrap)" in table and f"{100 * res.corrected_coverage:.1f}%" in table
    plain = human_sim.run_coverage(SimConfig(queries=20, annotators=2), studies=2, seed=1, db_every=0)
    assert plain.corrected_coverage is None and "corrected precision" not in human_sim.coverage_table([plain])


def test_write_coverage_stamps_commit_date_and_command(tmp_path):
    res = human_sim.run_coverage(SimConfig(queries=10, annotators=1), studies=3, db_every=0)
    js, md = human_sim.write_coverage([res], tmp_path / "cov", "python -m ctl_core study simulate --studies 3")
    text = md.read_text()
    assert "study simulate --studies 3" in text and "Commit" in text
    import json
    assert json.loads(js.read_text())["results"][0]["studies"] == 3


def _planted_study(queries: int, seed: int, precisions=(("a", 0.55), ("b", 0.75)), top_k: int = 5):
    """Judgments of a study with planted truth: per-query shifts (queries differ), three annotators of known
    sensitivity/specificity judging every pair, 30 gold pairs of known answer judged by all three."""
    rng = np.random.default_rng(seed)
    se, sp = (0.9, 0.8, 0.75), (0.85, 0.9, 0.7)
    jrows, orows, known, pid = [], [], {}, 0
    for q in range(queries):
        shift = rng.normal(0, 0.8)
        for model, p in precisions:
            logit = np.log(p / (1 - p)) + shift
            for _ in range(top_k):
                truth = rng.random() < 1 / (1 + np.exp(-logit))
                for a in range(3):
                    y = rng.random() < (se[a] if truth else 1 - sp[a])
                    jrows.append((pid, f"a{a}", float(y)))
                    orows.append((f"q{q}", pid, model, float(y)))
                pid += 1
    for _ in range(30):
        truth = rng.random() < 0.5
        known[pid] = int(truth)
        for a in range(3):
            jrows.append((pid, f"a{a}", float(rng.random() < (se[a] if truth else 1 - sp[a]))))
        pid += 1
    return (pd.DataFrame(jrows, columns=["pair_id", "annotator", "y"]),
            pd.DataFrame(orows, columns=human.OBS_COLUMNS), known)


def _population_precision(p: float, sd: float = 0.8, n: int = 400_000) -> float:
    z = np.random.default_rng(99).normal(0, sd, n)
    return float(np.mean(1 / (1 + np.exp(-(np.log(p / (1 - p)) + z)))))


def test_corrected_precision_has_a_query_bootstrap_interval_around_the_planted_truth():
    j, obs, known = _planted_study(queries=80, seed=3)
    out = human.corrected_precision_intervals(j, obs, known, ["a", "b"], n_boot=150, seed=0).set_index("model")
    ds = human.dawid_skene(j["pair_id"].tolist(), j["annotator"].tolist(), j["y"].to_numpy(), known=known)
    plain = human.corrected_precision(obs, ds.posterior_of(), ["a", "b"]).set_index("model")
    assert out["corrected_precision"].to_numpy() == pytest.approx(plain["corrected_precision"].to_numpy())
    for m, p in (("a", 0.55), ("b", 0.75)):
        truth = _population_precision(p)
        assert out.loc[m, "ci_low"] < out.loc[m, "corrected_precision"] < out.loc[m, "ci_high"]
        assert out.loc[m, "ci_low"] < truth < out.loc[m, "ci_high"]
        if m == "b":  # annotators' errors pull the raw share towards one half; the correction undoes it
            assert abs(out.loc[m, "raw_precision"] - truth) > abs(out.loc[m, "corrected_precision"] - truth)
    again = human.corrected_precision_intervals(j, obs, known, ["a", "b"], n_boot=150, seed=0)
    assert again["ci_low"].tolist() == out["ci_low"].tolist()                   # seeded
    wide = out["ci_high"] - out["ci_low"]
    j4, obs4, known4 = _planted_study(queries=320, seed=4)
    out4 = human.corrected_precision_intervals(j4, obs4, known4, ["a", "b"], n_boot=150, seed=0).set_index("model")
    narrow = out4["ci_high"] - out4["ci_low"]
    assert (narrow < 0.8 * wide).all()  # queries: half with 4x as many; the fixed gold set (rates) does not shrink


def test_corrected_precision_interval_is_missing_not_invented_with_one_query():
    j, obs, known = _planted_study(queries=1, seed=5)
    out = human.corrected_precision_intervals(j, obs, known, ["a", "b", "c"], n_boot=50)
    assert out["ci_low"].isna().all() and out.loc[out["model"] == "c", "pairs"].item() == 0
