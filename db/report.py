"""A study's report: per-model precision and paired comparisons on a chosen verdict basis (``db.adjudication``),
annotator quality (gold accuracy, agreement, time, Dawid–Skene rates), precision corrected for annotator error,
and the tidy export (one row per judgment + the study's design as JSON). Statistics are ``db.human``'s; this module
reads the database into its observation frames.

Failure modes in every CSV written here are the failure-mode codes joined by ``;`` in the order they are listed
(``colour_clash;season_mismatch``; empty for none): ``str.split(";")`` reads them back.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from ctl_core.io import atomic_write_text, to_jsonable
from db import human
from db.adjudication import BASIS_TEXT, adjudication_frame, queue_counts, verdict_frame
from db.history import history_frame
from db.schema import Judgment, Pair, Study, StudyQuery
from db.session import read_session
from db.stats import _sources, _study_models, _write_csv, agreement, judgment_frame
from db.store import StoreError

GOLD_ACCURACY_THRESHOLD = 0.7
MIN_GOLD_FOR_FLAG = 3
DEFAULT_SECONDS_PER_JUDGMENT = 10.0
CORRECTED_BOOTSTRAP = 400  # resamples behind the corrected precision's interval
TIDY_COLUMNS = ["study", "judgment_id", "pair_id", "query_product_id", "candidate_product_id", "is_gold",
                "gold_label", "models", "ranks", "annotator", "verdict", "failure_modes", "comment", "seconds_taken",
                "created_at", "updated_at"]
QUALITY_COLUMNS = ["annotator", "judgments", "skipped", "gold_judged", "gold_accuracy", "agreement", "agreement_items",
                   "median_seconds", "ds_sensitivity", "ds_specificity", "flagged"]


def observations(judgments: pd.DataFrame, sources: pd.DataFrame) -> pd.DataFrame:
    """The observation frame of ``db.human`` from a judgment frame (as ``judgment_frame`` or ``verdict_frame``)
    and the pair sources: non-gold, not skipped, one row per (judgment, model that produced its pair)."""
    j = judgments[~judgments["is_gold"].astype(bool) & judgments["compatible"].notna()]
    obs = j[["pair_id", "query_product_id", "compatible"]].merge(sources[["pair_id", "model"]], on="pair_id")
    return pd.DataFrame({"query": obs["query_product_id"].astype(str), "pair_id": obs["pair_id"].astype(int),
                         "model": obs["model"].astype(str), "y": obs["compatible"].astype(bool).astype(float)})


def study_observations(engine: Engine, study_id: int, basis: str = "all") -> tuple[pd.DataFrame, dict[str, int]]:
    frame, counts = verdict_frame(engine, study_id, basis)
    return observations(frame, _sources(engine, study_id)), counts


def precision(engine: Engine, study_id: int, basis: str = "all") -> pd.DataFrame:
    obs, _ = study_observations(engine, study_id, basis)
    return human.precision_table(obs, _study_models(engine, study_id))


def comparisons(engine: Engine, study_id: int, basis: str = "all") -> pd.DataFrame:
    obs, _ = study_observations(engine, study_id, basis)
    return human.paired_comparisons(obs, _study_models(engine, study_id))


def ds_inputs(judgments: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Dawid–Skene's input from a judgment frame (``judgment_frame`` columns): every non-skipped judgment as
    (pair_id, annotator, y) — empty without any — and the gold pairs' known answers."""
    j = judgments[judgments["compatible"].notna()]
    gold = j[j["is_gold"].astype(bool) & j["gold_label"].notna()].drop_duplicates("pair_id")
    known = {int(p): int(bool(g)) for p, g in zip(gold["pair_id"], gold["gold_label"])}
    return pd.DataFrame({"pair_id": j["pair_id"].astype(int).to_numpy(), "annotator": j["annotator"].astype(str),
                         "y": j["compatible"].astype(bool).astype(float).to_numpy()}), known


def fit_dawid_skene(engine: Engine, study_id: int) -> human.DawidSkene | None:
    """Dawid–Skene over every non-skipped judgment of the study, gold pairs clamped; None without judgments."""
    j, known = ds_inputs(judgment_frame(engine, study_id))
    if j.empty:
        return None
    return human.dawid_skene(j["pair_id"].tolist(), j["annotator"].tolist(), j["y"].to_numpy(), known=known)


def corrected(engine: Engine, study_id: int, n_boot: int = CORRECTED_BOOTSTRAP, seed: int = 0) -> pd.DataFrame:
    """Raw precision (all judgments) beside the Dawid–Skene corrected one, per model, with the corrected one's
    95% interval (bootstrap over queries, ``human.corrected_precision_intervals``; ``n_boot`` 0: none)."""
    obs, _ = study_observations(engine, study_id, "all")
    models = _study_models(engine, study_id)
    j, known = ds_inputs(judgment_frame(engine, study_id))
    return human.corrected_precision_intervals(j, obs, known, models, n_boot=n_boot, seed=seed)


def annotator_quality(engine: Engine, study_id: int, threshold: float = GOLD_ACCURACY_THRESHOLD,
                      ds: human.DawidSkene | None = None) -> pd.DataFrame:
    """Per annotator: judgments, skips, gold accuracy, agreement with the others (share of the pairs she shares
    with another annotator on which they gave the same verdict, over every such pairing), median seconds per
    judgment, Dawid–Skene sensitivity/specificity, and ``flagged`` when gold accuracy is below ``threshold`` on at
    least ``MIN_GOLD_FOR_FLAG`` gold pairs."""
    j = judgment_frame(engine, study_id)
    ds = ds or fit_dawid_skene(engine, study_id)
    rates = ds.rates().set_index("annotator") if ds else pd.DataFrame(columns=["ds_sensitivity", "ds_specificity"])
    judged = j[j["compatible"].notna()]
    by_pair = {int(p): dict(zip(g["annotator"], g["compatible"].astype(bool))) for p, g in judged.groupby("pair_id")}
    rows = []
    for who, g in j.groupby("annotator", sort=True):
        jd = g[g["compatible"].notna()]
        gold = jd[jd["is_gold"] & jd["gold_label"].notna()]
        n_gold = len(gold)
        acc = float(np.mean([bool(a) == bool(b) for a, b in zip(gold["compatible"], gold["gold_label"])])) \
            if n_gold else float("nan")
        agree = total = 0
        for pid, mine in zip(jd["pair_id"], jd["compatible"]):
            for other, v in by_pair.get(int(pid), {}).items():
                if other != who:
                    total += 1
                    agree += bool(v) == bool(mine)
        secs = pd.to_numeric(g["seconds_taken"], errors="coerce").dropna()
        rows.append({"annotator": who, "judgments": len(jd), "skipped": len(g) - len(jd), "gold_judged": n_gold,
                     "gold_accuracy": acc, "agreement": agree / total if total else float("nan"),
                     "agreement_items": total, "median_seconds": float(secs.median()) if len(secs) else float("nan"),
                     "ds_sensitivity": float(rates["ds_sensitivity"].get(who, np.nan)),
                     "ds_specificity": float(rates["ds_specificity"].get(who, np.nan)),
                     "flagged": bool(n_gold >= MIN_GOLD_FOR_FLAG and acc < threshold)})
    return pd.DataFrame(rows, columns=QUALITY_COLUMNS)


def flagged_annotators(engine: Engine, threshold: float = GOLD_ACCURACY_THRESHOLD) -> list[tuple[str, str, float, int]]:
    """(study name, annotator, gold accuracy, gold judged) for every flagged annotator of every open study."""
    from db.studies import list_studies
    out = []
    for st in list_studies(engine):
        if st.status != "open" or not st.num_gold:
            continue
        q = annotator_quality(engine, st.study_id, threshold)
        for r in q[q["flagged"]].itertuples(index=False):
            out.append((st.name, r.annotator, r.gold_accuracy, r.gold_judged))
    return out


def median_seconds_per_judgment(engine: Engine) -> tuple[float, str]:
    """The median recorded time per judgment over every study, and where the figure comes from."""
    with read_session(engine) as s:
        secs = [v for v in s.scalars(select(Judgment.seconds_taken).where(Judgment.seconds_taken.is_not(None)))]
    if len(secs) < 5:
        return DEFAULT_SECONDS_PER_JUDGMENT, "assumed: fewer than 5 timed judgments in the database"
    return float(np.median(secs)), f"the median of {len(secs):,} timed judgments in this database"


# ----------------------------------------------------------------------------------------------- the report

def study_report(engine: Engine, study_id: int, basis: str = "all") -> dict[str, Any]:
    """Everything ``study report`` prints: design, basis, per-model precision, paired comparisons, agreement,
    annotator quality, corrected precision, review queue counts."""
    obs, counts = study_observations(engine, study_id, basis)
    models = _study_models(engine, study_id)
    ds = fit_dawid_skene(engine, study_id)
    comp = human.paired_comparisons(obs, models)
    return {"design": study_design(engine, study_id), "basis": basis, "basis_text": BASIS_TEXT[basis],
            "basis_counts": counts, "precision": human.precision_table(obs, models).to_dict("records"),
            "comparisons": [dict(r, text=human.comparison_text(r)) for r in comp.to_dict("records")],
            "agreement": {k: v for k, v in agreement(engine, study_id).items() if k != "pairwise"},
            "annotators": annotator_quality(engine, study_id, ds=ds).to_dict("records"),
            "corrected": corrected(engine, study_id).to_dict("records"),
            "review_queue": queue_counts(engine, study_id)}


def format_report(rep: dict[str, Any]) -> str:
    """The report as text for the terminal."""
    d = rep["design"]
    lines = [f"study {d['name']!r} (id {d['study_id']}): {d['queries']} queries, models {', '.join(d['models'])}, "
             f"top {d['top_k']}, {d['annotators_per_pair']} annotators per pair, {d['pairs']} pairs "
             f"({d['gold_pairs']} gold), {d['judgments']} judgments",
             f"basis: {rep['basis']} — {rep['basis_text']}", "", "precision per model (95% CI, queries as clusters):"]
    for r in rep["precision"]:
        if r["judged"]:
            lines.append(f"  {r['model']:<20} {100 * r['precision']:5.1f}%  ({100 * r['ci_low']:.1f}–"
                         f"{100 * r['ci_high']:.1f})  n={r['judged']} judgments, {r['queries']} queries")
        else:
            lines.append(f"  {r['model']:<20}   —    no judgments")
    lines += ["", "paired comparisons (A − B):"] + [f"  {c['text']}" for c in rep["comparisons"]]
    ag = rep["agreement"]
    kappa = "n/a" if ag.get("cohen_kappa") is None else f"{ag['cohen_kappa']:.2f}"
    lines += ["", f"agreement: Cohen's kappa {kappa} on {ag.get('cohen_items', 0)} items"]
    lines += ["", "annotators (gold accuracy, agreement, median s, Dawid–Skene sens./spec.):"]
    for a in rep["annotators"]:
        f = lambda v, p=True: "—" if v != v else (f"{100 * v:.0f}%" if p else f"{v:.1f}")
        lines.append(f"  {a['annotator']:<20} gold {f(a['gold_accuracy'])} of {a['gold_judged']}, agreement "
                     f"{f(a['agreement'])}, {f(a['median_seconds'], False)} s, sens {f(a['ds_sensitivity'])} spec "
                     f"{f(a['ds_specificity'])}" + ("  FLAGGED: gold accuracy below threshold" if a["flagged"] else ""))
    lines += ["", "precision corrected for annotator error (Dawid–Skene; bootstrap interval over queries, which "
                  "covers only 67-75% in simulation: a sensitivity check, not a citable 95% interval):"]
    for c in rep["corrected"]:
        if c["raw_precision"] == c["raw_precision"]:
            ci = ("" if c["ci_low"] != c["ci_low"] else
                  f" ({100 * c['ci_low']:.1f}–{100 * c['ci_high']:.1f})")
            lines.append(f"  {c['model']:<20} raw {100 * c['raw_precision']:.1f}%  corrected "
                         f"{100 * c['corrected_precision']:.1f}%{ci}")
    q = rep["review_queue"]
    lines += ["", f"review queue: {q['open']} open, {q['resolved']} resolved"]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- export

def study_design(engine: Engine, study_id: int) -> dict[str, Any]:
    """The study's design: models, queries (in order), top K, annotators per pair, seed, counts."""
    with read_session(engine) as s:
        st = s.get(Study, study_id)
        if st is None:
            raise StoreError(f"no study with id {study_id}")
        queries = list(s.scalars(select(StudyQuery.product_id).where(StudyQuery.study_id == study_id)
                                 .order_by(StudyQuery.position)))
        pairs = s.execute(select(Pair.is_gold).where(Pair.study_id == study_id)).scalars().all()
        n_j = len(s.scalars(select(Judgment.id).join(Pair, Pair.id == Judgment.pair_id)
                            .where(Pair.study_id == study_id)).all())
        return {"study_id": st.id, "name": st.name, "created_at": st.created_at, "status": st.status,
                "models": list(st.models), "top_k": st.k, "annotators_per_pair": st.overlap, "seed": st.seed,
                "queries": len(queries), "query_product_ids": queries, "pairs": len(pairs),
                "gold_pairs": int(sum(bool(g) for g in pairs)), "judgments": n_j,
                "failure_modes_format": "failure-mode codes joined by ';' (empty: none)",
                "verdict_values": ["compatible", "not_compatible", "skipped"]}


def tidy_judgments(engine: Engine, study_id: int) -> pd.DataFrame:
    """One row per judgment (``TIDY_COLUMNS``): the pair, its query and candidate, the models that produced it and
    their ranks (``model:rank`` joined by ';'), the annotator, the verdict, failure-mode codes joined by ';', the
    comment and the time taken."""
    j = judgment_frame(engine, study_id)
    src = _sources(engine, study_id).sort_values(["pair_id", "model"])
    models = src.groupby("pair_id")["model"].agg(";".join).to_dict()
    ranks = src.assign(mr=src["model"] + ":" + src["rank"].astype(str)).groupby("pair_id")["mr"].agg(";".join)
    out = pd.DataFrame({
        "study": study_id, "judgment_id": j["judgment_id"], "pair_id": j["pair_id"],
        "query_product_id": j["query_product_id"], "candidate_product_id": j["candidate_product_id"],
        "is_gold": j["is_gold"].astype(int),
        "gold_label": ["" if g is None or pd.isna(g) else int(bool(g)) for g in j["gold_label"]],
        "models": [models.get(p, "") for p in j["pair_id"]], "ranks": [ranks.get(p, "") for p in j["pair_id"]],
        "annotator": j["annotator"],
        "verdict": ["skipped" if v is None or pd.isna(v) else "compatible" if bool(v) else "not_compatible"
                    for v in j["compatible"]],
        "failure_modes": [";".join(m) for m in j["failure_modes"]], "comment": j["comment"].fillna(""),
        "seconds_taken": j["seconds_taken"], "created_at": j["created_at"], "updated_at": j["updated_at"]})
    return out[TIDY_COLUMNS]


def export_study(engine: Engine, study_id: int, out_dir: str | Path) -> list[Path]:
    """``judgments.csv`` (tidy, one row per judgment), ``design.json``, ``summary.csv`` (per-model precision on
    all judgments), ``comparisons.csv``, ``annotators.csv``, ``adjudications.csv`` and ``history.csv`` into
    ``out_dir``, atomically and formula-safe; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ("judgments.csv", "design.json", "summary.csv", "comparisons.csv",
                                           "annotators.csv", "adjudications.csv", "history.csv")}
    _write_csv(tidy_judgments(engine, study_id), paths["judgments.csv"])
    atomic_write_text(paths["design.json"],
                      json.dumps(to_jsonable(study_design(engine, study_id)), indent=2, default=str))
    _write_csv(precision(engine, study_id), paths["summary.csv"])
    _write_csv(comparisons(engine, study_id), paths["comparisons.csv"])
    _write_csv(annotator_quality(engine, study_id), paths["annotators.csv"])
    _write_csv(adjudication_frame(engine, study_id), paths["adjudications.csv"])
    _write_csv(history_frame(engine, study_id), paths["history.csv"])
    return list(paths.values())
