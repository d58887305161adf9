"""Simulated human-evaluation studies with known truth: do the reported 95% intervals cover it?

A simulated study has the shape of a real one: ``queries`` query products, every model returns its top ``top_k``
candidates for each, some candidates are returned by several models (one pair, several sources), gold pairs are
mixed in, and each pair is judged by ``annotators`` annotators (each annotator judges every pair, as a small team of
stylists does), a few judgments skipped. The generative model (every choice written down):

- A model's own candidate for query q is truly compatible with probability σ(a_m + u_q + w_qm): u_q is a query
  effect shared by every model (a hard query is hard for all), w_qm a model-specific one; a_m is calibrated so that
  E[σ(a_m + u + w)] is exactly the model's stated true precision. With probability ``shared`` a candidate slot holds
  the query's *common* candidate of that rank instead (truth from σ(a_c + u_q + w_qc), a_c calibrated to the mean
  precision): two models that both draw it return the same pair.
- Annotator a judges a truly compatible pair "compatible" with probability σ(logit(se_a) − d_p) and a truly
  incompatible one "not compatible" with σ(logit(sp_a) − d_p): d_p ~ N(0, pair_sd²) is the pair's difficulty,
  shared by its annotators, so their judgments are correlated beyond the truth they share.
- Skips are independent (probability ``skip``).

The estimand of the raw precision interval is what the annotators' verdicts measure: τ_m = E[y] over the model's
judgments = π̃_m·se̅ + (1 − π̃_m)(1 − sp̅) averaged over the annotators, with π̃_m the model's true precision after
sharing and se̅/sp̅ the rates averaged over pair difficulty (Gauss–Hermite quadrature; exact, not simulated).
τ_A − τ_B is the estimand of a paired difference. Dawid–Skene's corrected precision targets π̃_m itself; its mean
bias is reported.

Every study's statistics go through the real code: the observation frame ``db.report.observations`` builds, and
``db.human``'s intervals. Every ``db_every``-th study also goes through the real database (an in-memory SQLite):
``db.studies.create_study`` with the simulated models as recommenders, ``db.store.submit_judgment`` for every
judgment, ``db.stats.judgment_frame`` to read them back; its results must equal the in-memory path's (checked).
"""
from __future__ import annotations

import json
import math
import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from ctl_core.io import atomic_write_text, to_jsonable
from db import human
from db.report import ds_inputs, observations
from db.stats import _precision_rows

PAPER_PRECISIONS = (("siamese", 0.477), ("classification", 0.506), ("triplet", 0.550))
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(80)  # probabilists' Hermite: E[f(Z)] = Σ w f(x) / √(2π)
_GH_W = _GH_W / _GH_W.sum()


@dataclass(frozen=True)
class SimConfig:
    precisions: tuple[tuple[str, float], ...] = PAPER_PRECISIONS
    queries: int = 120
    top_k: int = 5
    annotators: int = 2
    query_sd: float = 0.8
    query_model_sd: float = 0.4
    shared: float = 0.15
    sensitivity: tuple[float, ...] = (0.90, 0.80, 0.85)
    specificity: tuple[float, ...] = (0.85, 0.90, 0.80)
    pair_sd: float = 0.8
    skip: float = 0.02
    gold: int = 10

    @property
    def models(self) -> list[str]:
        return [m for m, _ in self.precisions]

    def check(self) -> None:
        if not 1 <= self.annotators <= len(self.sensitivity):
            raise ValueError(f"annotators must be 1–{len(self.sensitivity)} (one sensitivity each), "
                             f"got {self.annotators}")
        if self.queries < 2 or self.top_k < 1 or len(self.precisions) < 2:
            raise ValueError("a simulated study needs ≥ 2 queries, top K ≥ 1 and ≥ 2 models")


def _mean_sigmoid(a: float, sd: float) -> float:
    return float((_GH_W / (1 + np.exp(-(a + sd * _GH_X)))).sum())


def _calibrate(p: float, sd: float) -> float:
    """a with E[σ(a + sd·Z)] = p."""
    return brentq(lambda a: _mean_sigmoid(a, sd) - p, -30, 30)


@dataclass(frozen=True)
class Truth:
    pair_precision: dict[str, float]  # π̃_m: true precision of the model's pairs (after sharing)
    judged_precision: dict[str, float]  # τ_m: what the annotators' verdicts measure
    intercepts: dict[str, float]
    common_intercept: float


def truth(config: SimConfig) -> Truth:
    sd = math.hypot(config.query_sd, config.query_model_sd)
    intercepts = {m: _calibrate(p, sd) for m, p in config.precisions}
    p_common = float(np.mean([p for _, p in config.precisions]))
    a_c = _calibrate(p_common, sd)
    k = config.annotators
    se = np.array([_mean_sigmoid(_logit(s), config.pair_sd) for s in config.sensitivity[:k]])
    # specificity: P(not compatible | incompatible) = σ(logit sp − d); E over d ~ N(0, sd²) is symmetric in d
    sp = np.array([_mean_sigmoid(_logit(s), config.pair_sd) for s in config.specificity[:k]])
    pair, judged = {}, {}
    for m, p in config.precisions:
        pt = (1 - config.shared) * p + config.shared * p_common
        pair[m] = pt
        judged[m] = float(np.mean(pt * se + (1 - pt) * (1 - sp)))
    return Truth(pair, judged, intercepts, a_c)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


# ----------------------------------------------------------------------------------------------- one study

@dataclass
class SimStudy:
    """A drawn study: pairs (query, candidate, truth, difficulty, gold), sources and judgments (in memory)."""
    pairs: pd.DataFrame  # pair_id, query_product_id, candidate_product_id, truth, difficulty, is_gold, gold_label
    sources: pd.DataFrame  # pair_id, model, rank
    judgments: pd.DataFrame  # judgment frame columns used by the statistics
    queries: list[str] = field(default_factory=list)


def draw_study(config: SimConfig, rng: np.random.Generator, tr: Truth | None = None) -> SimStudy:
    tr = tr or truth(config)
    Q, K, models = config.queries, config.top_k, config.models
    M = len(models)
    u = rng.normal(0, config.query_sd, Q)
    w = rng.normal(0, config.query_model_sd, (Q, M + 1))
    a = np.array([tr.intercepts[m] for m in models] + [tr.common_intercept])
    p_true = 1 / (1 + np.exp(-(a[None, :] + u[:, None] + w)))  # (Q, M+1): last column = common candidates
    own_truth = rng.random((Q, M, K)) < p_true[:, :M, None]
    common_truth = rng.random((Q, K)) < p_true[:, M, None]
    shared = rng.random((Q, M, K)) < config.shared
    qi, mi, ci = np.meshgrid(np.arange(Q), np.arange(M), np.arange(K), indexing="ij")
    qi, mi, ci, sh = qi.ravel(), mi.ravel(), ci.ravel(), shared.ravel()
    cand_code = np.where(sh, M * K + ci, mi * K + ci)  # per query: own candidates first, then the common ones
    key = qi * (M * K + K) + cand_code
    t = np.where(sh, common_truth[qi, ci], own_truth[qi, mi, ci])
    uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
    n_pairs = len(uniq)
    queries = [f"q{q}" for q in range(Q)]
    pq = uniq // (M * K + K)
    pc = uniq % (M * K + K)
    cand = [f"q{q}-common{c - M * K}" if c >= M * K else f"q{q}-{models[c // K]}-{c % K}" for q, c in zip(pq, pc)]
    pairs = pd.DataFrame({"pair_id": np.arange(1, n_pairs + 1), "query_product_id": [queries[q] for q in pq],
                          "candidate_product_id": cand, "truth": t[first].astype(bool),
                          "difficulty": rng.normal(0, config.pair_sd, n_pairs), "is_gold": False,
                          "gold_label": None})
    sources = pd.DataFrame({"pair_id": inv + 1, "model": [models[m] for m in mi], "rank": ci + 1})
    if config.gold:
        labels = np.arange(config.gold) % 2 == 0
        gold = pd.DataFrame({"pair_id": np.arange(n_pairs + 1, n_pairs + config.gold + 1),
                             "query_product_id": [f"gold{i}-q" for i in range(config.gold)],
                             "candidate_product_id": [f"gold{i}-c" for i in range(config.gold)], "truth": labels,
                             "difficulty": rng.normal(0, config.pair_sd, config.gold), "is_gold": True,
                             "gold_label": labels.tolist()})
        pairs = pd.concat([pairs, gold], ignore_index=True)
    k = config.annotators
    se = np.array([_logit(s) for s in config.sensitivity[:k]])
    sp = np.array([_logit(s) for s in config.specificity[:k]])
    P = len(pairs)
    truth_arr = pairs["truth"].to_numpy(bool)
    d = pairs["difficulty"].to_numpy(float)
    p_yes = np.where(truth_arr[:, None], 1 / (1 + np.exp(-(se[None, :] - d[:, None]))),
                     1 - 1 / (1 + np.exp(-(sp[None, :] - d[:, None]))))
    y = rng.random((P, k)) < p_yes
    skipped = rng.random((P, k)) < config.skip
    comp = np.where(skipped, None, y).astype(object)
    judg = pd.DataFrame({"judgment_id": np.arange(1, P * k + 1),
                         "pair_id": np.repeat(pairs["pair_id"].to_numpy(), k),
                         "query_product_id": np.repeat(pairs["query_product_id"].to_numpy(), k),
                         "candidate_product_id": np.repeat(pairs["candidate_product_id"].to_numpy(), k),
                         "is_gold": np.repeat(pairs["is_gold"].to_numpy(bool), k),
                         "gold_label": np.repeat(pairs["gold_label"].to_numpy(object), k),
                         "annotator": np.tile([f"annotator{i + 1}" for i in range(k)], P),
                         "compatible": comp.ravel()})
    judg["compatible"] = [None if v is None else bool(v) for v in judg["compatible"]]
    judg["compatible"] = judg["compatible"].astype(object)
    return SimStudy(pairs, sources, judg, queries)


def study_through_db(config: SimConfig, study: SimStudy, engine=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write a drawn study through the real database code and read it back: (judgment frame, sources)."""
    from sqlalchemy import insert, select

    from db import store
    from db.schema import Annotator, Assignment, Study
    from db.session import init_db, make_engine, write_session
    from db.stats import _sources, judgment_frame
    from db.studies import create_study, study_pairs

    eng = engine or make_engine("sqlite://")
    init_db(eng)
    src = study.sources.merge(study.pairs[["pair_id", "query_product_id", "candidate_product_id"]], on="pair_id")
    lists = {key: list(zip(g["candidate_product_id"], g["rank"]))
             for key, g in src.sort_values("rank").groupby(["model", "query_product_id"])}

    def recommend_fn(method: str, product_id: str, k: int) -> list[tuple[str, int]]:
        return lists.get((method, product_id), [])

    gold = study.pairs[study.pairs["is_gold"]]
    sid = create_study(eng, "simulated", study.queries, config.models, recommend_fn, k=config.top_k,
                       overlap=config.annotators, seed=0,
                       gold_pairs=list(zip(gold["query_product_id"], gold["candidate_product_id"],
                                           gold["gold_label"].astype(bool))))
    db_pairs = study_pairs(eng, sid).drop_duplicates("pair_id")
    db_id = {(q, c): int(p) for p, q, c in zip(db_pairs["pair_id"], db_pairs["query_product_id"],
                                                db_pairs["candidate_product_id"])}
    names = sorted(study.judgments["annotator"].unique())
    for name in names:
        store.get_or_create_annotator(eng, name)
    with write_session(eng) as s:  # every annotator is assigned every pair, in her own order (as next_pair does)
        st = s.get(Study, sid)
        ids = dict(s.execute(select(Annotator.name, Annotator.id)).all())
        s.execute(insert(Assignment), [{"pair_id": pid, "annotator_id": ids[name], "position": pos}
                                       for name in names
                                       for pid, pos in store.own_order(st, name, db_id.values()).items()])
    for r in study.judgments.itertuples(index=False):
        store.submit_judgment(eng, sid, db_id[(r.query_product_id, r.candidate_product_id)], r.annotator,
                              r.compatible)
    out = judgment_frame(eng, sid), _sources(eng, sid)
    if engine is None:
        eng.dispose()
    return out


# ----------------------------------------------------------------------------------------------- statistics of one

def _old_interval(obs: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """The interval ``db.stats`` used before (Wilson on Kish's within-pair design effect), for comparison."""
    o = obs.rename(columns={"y": "compatible"})
    return _precision_rows(o, ["model"], 0.05).set_index("model").reindex(models)


def study_statistics(config: SimConfig, judgments: pd.DataFrame, sources: pd.DataFrame,
                     with_old: bool = True, with_ds: bool = True, corrected_boot: int = 0,
                     seed: int = 0) -> dict[str, Any]:
    models = config.models
    obs = observations(judgments, sources)
    prec = human.precision_table(obs, models).set_index("model")
    comp = human.paired_comparisons(obs, models)
    out: dict[str, Any] = {"precision": prec, "comparisons": comp}
    if with_old:
        out["old"] = _old_interval(obs, models)
    if with_ds:  # corrected precision; its bootstrap interval with ``corrected_boot`` resamples (0: none)
        frame, known = ds_inputs(judgments)
        out["corrected"] = human.corrected_precision_intervals(frame, obs, known, models, n_boot=corrected_boot,
                                                               seed=seed).set_index("model")
    return out


# ----------------------------------------------------------------------------------------------- coverage

@dataclass
class CoverageResult:
    config: dict
    studies: int
    db_studies: int
    precision_coverage: float
    precision_coverage_by_model: dict[str, float]
    diff_coverage: float
    diff_coverage_by_pair: dict[str, float]
    old_precision_coverage: float
    mean_ci_width_points: float
    mean_diff_ci_width_points: float
    rejection_rate_by_pair: dict[str, float]
    raw_bias_points: dict[str, float]
    corrected_bias_points: dict[str, float]
    truth: dict
    seconds: float
    corrected_coverage: float | None = None  # the corrected precision's bootstrap interval vs the true precision
    corrected_boot: int = 0                  # its resamples (0: not measured)

    def to_dict(self) -> dict:
        return asdict(self)


def run_coverage(config: SimConfig, studies: int = 1000, seed: int = 0, db_every: int = 100,
                 progress: Callable[[str, int, int], None] | None = None, corrected_boot: int = 0) -> CoverageResult:
    """``studies`` simulated studies of one design; every ``db_every``-th (0: none) also through the database,
    whose results must equal the in-memory path's. ``corrected_boot`` > 0: also the coverage of the corrected
    precision's bootstrap interval (that many resamples a study) of the true precision of the pairs."""
    config.check()
    tr = truth(config)
    models = config.models
    pairs_ab = [(a, b) for i, a in enumerate(models) for b in models[i + 1:]]
    rng = np.random.default_rng(seed)
    cov = {m: 0 for m in models}
    old = {m: 0 for m in models}
    dcov = {f"{a} vs {b}": 0 for a, b in pairs_ab}
    rej = dict.fromkeys(dcov, 0)
    width, dwidth = [], []
    raw_err = {m: [] for m in models}
    cor_err = {m: [] for m in models}
    ccov = 0
    n_db = 0
    t0 = time.perf_counter()
    for i in range(studies):
        st = draw_study(config, rng, tr)
        res = study_statistics(config, st.judgments, st.sources, corrected_boot=corrected_boot, seed=i)
        if db_every and i % db_every == 0:
            j_db, s_db = study_through_db(config, st)
            res_db = study_statistics(config, j_db, s_db, with_old=False, with_ds=False)
            for col in ("precision", "ci_low", "ci_high"):
                np.testing.assert_allclose(res_db["precision"][col].to_numpy(float),
                                           res["precision"][col].to_numpy(float), rtol=0, atol=1e-9)
            for col in ("diff", "ci_low", "ci_high"):
                np.testing.assert_allclose(res_db["comparisons"][col].to_numpy(float),
                                           res["comparisons"][col].to_numpy(float), rtol=0, atol=1e-9)
            n_db += 1
        p = res["precision"]
        for m in models:
            t = tr.judged_precision[m]
            cov[m] += bool(p.at[m, "ci_low"] <= t <= p.at[m, "ci_high"])
            old[m] += bool(res["old"].at[m, "ci_low"] <= t <= res["old"].at[m, "ci_high"])
            width.append(p.at[m, "ci_high"] - p.at[m, "ci_low"])
            raw_err[m].append(p.at[m, "precision"] - tr.pair_precision[m])
            cor_err[m].append(res["corrected"].at[m, "corrected_precision"] - tr.pair_precision[m])
            if corrected_boot:
                c = res["corrected"]
                ccov += bool(c.at[m, "ci_low"] <= tr.pair_precision[m] <= c.at[m, "ci_high"])
        for r in res["comparisons"].itertuples(index=False):
            name = f"{r.model_a} vs {r.model_b}"
            t = tr.judged_precision[r.model_a] - tr.judged_precision[r.model_b]
            dcov[name] += bool(r.ci_low <= t <= r.ci_high)
            rej[name] += bool(r.p_value < 0.05)
            dwidth.append(r.ci_high - r.ci_low)
        if progress:
            progress(f"simulate k={config.annotators} queries={config.queries}", i + 1, studies)
    n = studies
    return CoverageResult(
        config=asdict(config), studies=n, db_studies=n_db,
        precision_coverage=sum(cov.values()) / (n * len(models)),
        precision_coverage_by_model={m: v / n for m, v in cov.items()},
        diff_coverage=sum(dcov.values()) / (n * len(dcov)), diff_coverage_by_pair={k: v / n for k, v in dcov.items()},
        old_precision_coverage=sum(old.values()) / (n * len(models)),
        mean_ci_width_points=100 * float(np.mean(width)), mean_diff_ci_width_points=100 * float(np.mean(dwidth)),
        rejection_rate_by_pair={k: v / n for k, v in rej.items()},
        raw_bias_points={m: 100 * float(np.mean(v)) for m, v in raw_err.items()},
        corrected_bias_points={m: 100 * float(np.mean(v)) for m, v in cor_err.items()},
        truth={"pair_precision": tr.pair_precision, "judged_precision": tr.judged_precision},
        seconds=time.perf_counter() - t0,
        corrected_coverage=ccov / (n * len(models)) if corrected_boot else None, corrected_boot=corrected_boot)


def coverage_table(results: Sequence[CoverageResult]) -> str:
    """The README's Markdown table."""
    lines = ["| annotators per pair | queries | studies (through the DB) | precision CI coverage | "
             "paired-difference CI coverage | old interval's coverage | mean CI width (points) | "
             "mean difference CI width | power: triplet vs siamese |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    corrected = any(r.corrected_coverage is not None for r in results)
    if corrected:
        lines[0] += " corrected precision CI coverage (bootstrap) | corrected bias (points) |"
        lines[1] += "---:|---:|"
    for r in results:
        c = r.config
        key = next((k for k in r.rejection_rate_by_pair if "siamese" in k and "triplet" in k), None)
        power = f"{100 * r.rejection_rate_by_pair[key]:.0f}%" if key else "—"
        lines.append(f"| {c['annotators']} | {c['queries']} | {r.studies:,} ({r.db_studies}) | "
                     f"{100 * r.precision_coverage:.1f}% | {100 * r.diff_coverage:.1f}% | "
                     f"{100 * r.old_precision_coverage:.1f}% | {r.mean_ci_width_points:.1f} | "
                     f"{r.mean_diff_ci_width_points:.1f} | {power} |")
        if corrected:
            cc = "—" if r.corrected_coverage is None else f"{100 * r.corrected_coverage:.1f}%"
            bias = ", ".join(f"{v:+.1f}" for v in r.corrected_bias_points.values())
            lines[-1] += f" {cc} | {bias} |"
    return "\n".join(lines)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_designs(annotators: Sequence[int] = (1, 2, 3), queries: Sequence[int] = (60, 120, 300), studies: int = 1000,
                seed: int = 0, db_every: int = 100, base: SimConfig | None = None,
                progress: Callable[[str, int, int], None] | None = None,
                corrected_boot: int = 0) -> list[CoverageResult]:
    base = base or SimConfig()
    out = []
    for k in annotators:
        for q in queries:
            out.append(run_coverage(replace(base, annotators=k, queries=q), studies=studies,
                                    seed=seed + 1000 * k + q, db_every=db_every, progress=progress,
                                    corrected_boot=corrected_boot))
    return out


def write_coverage(results: Sequence[CoverageResult], out_stem: str | Path, command: str) -> list[Path]:
    """``<stem>.json`` (every figure and the configuration) and ``<stem>.md`` (the table), stamped with the commit,
    the date and the command that made them."""
    stem = Path(out_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stamp = {"commit": _commit(), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "command": command,
             "python": platform.python_version()}
    js, md = stem.with_suffix(".json"), stem.with_suffix(".md")
    atomic_write_text(js, json.dumps(to_jsonable({**stamp, "results": [r.to_dict() for r in results]}),
                                                   indent=2))
    base = results[0].config if results else {}
    atomic_write_text(md, f"# Coverage of the human-evaluation intervals\n\nCommit {stamp['commit']}, "
                      f"{stamp['date']}; `{command}`.\n\nModel (see `ctl_core/workflows/human_sim.py`): true "
                      f"precisions {dict(base.get('precisions', ()))}, top {base.get('top_k')}, shared-candidate "
                      f"share {base.get('shared')}, query sd {base.get('query_sd')} (+ {base.get('query_model_sd')} "
                      f"per model) on the logit scale, pair difficulty sd {base.get('pair_sd')}, annotator "
                      f"sensitivities {base.get('sensitivity')}, specificities {base.get('specificity')}, "
                      f"skips {base.get('skip')}, {base.get('gold')} gold pairs. Target: 93–97%.\n\n"
                      + coverage_table(results) + "\n")
    return [js, md]
