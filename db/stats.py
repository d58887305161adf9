"""Statistics of a study (paper sec. 6.5): precision per model with Wilson intervals, failure modes, comments,
inter-annotator agreement, annotator reliability on gold pairs, the offline Table-4 rows, and CSV export.

CSV export is safe to open in a spreadsheet: a text cell that starts with ``= + - @``, a tab or a carriage return
(a comment ``=HYPERLINK(...)``, an annotator name ``@SUM(...)``) gets a leading ``'`` so it is shown as text and
never run as a formula (OWASP's "CSV injection" advice); ``csv_text`` does the same for in-app downloads.

Counting rule used throughout: a judgment of a pair counts once for every model that produced the pair
(``pair_sources``); gold pairs never count towards a model; skipped judgments (``compatible`` NULL) are not
observations. With overlap 2 every judgment is one observation, so a pair judged by two annotators contributes
two (correlated) observations; the Wilson interval is therefore taken on the effective sample size (judged / the
design effect of those pairs, ``design_effect``), not on the raw count.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select
from statsmodels.stats.inter_rater import fleiss_kappa as _fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

from ctl_core.io import atomic_path
from db import human
from db.history import history_frame
from db.schema import (
    Annotator,
    FailureMode,
    Judgment,
    OfflineMetric,
    Pair,
    PairSource,
    Study,
    judgment_failure_modes,
    utcnow,
)
from db.session import read_session, write_session
from db.store import StoreError, dialect_insert

PRECISION_COLUMNS = ["model", "judged", "compatible", "precision", "ci_low", "ci_high", "effective_n", "pairs",
                     "skipped"]
JUDGMENT_EXPORT_COLUMNS = ["study_id", "judgment_id", "pair_id", "query_product_id", "candidate_product_id",
                           "model", "rank", "is_gold", "gold_label", "annotator", "compatible", "failure_modes",
                           "comment", "seconds_taken", "created_at", "updated_at"]


# ----------------------------------------------------------------------------------------------- pure helpers

def wilson_interval(successes: float, n: float, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval of a proportion (NaN, NaN when n == 0); ``n`` may be an effective (non-integer) size."""
    if n <= 0:
        return float("nan"), float("nan")
    lo, hi = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return float(lo), float(hi)


def design_effect(values: Sequence[float], clusters: Sequence[Any]) -> tuple[float, float]:
    """Kish's design effect of clustered observations: (deff, icc), deff = 1 + (m − 1)·icc with m the mean cluster
    size and icc the one-way ANOVA intraclass correlation (clipped to [0, 1]).

    Here a cluster is a pair and its observations are the annotators' judgments of it: two stylists who agree
    bring less than two independent observations. When no within-pair variation can be seen (every judgment
    alike) the correlation is taken as 1, the conservative choice. Single-judgment pairs give deff = 1.
    """
    df = pd.DataFrame({"y": np.asarray(values, dtype=float), "c": list(clusters)})
    n = len(df)
    if n == 0:
        return 1.0, 0.0
    by_cluster = df.groupby("c")["y"]
    sizes, cluster_means = by_cluster.size(), by_cluster.mean()
    g = len(sizes)
    if g == n:
        return 1.0, 0.0
    ssw = float(((df["y"] - df["c"].map(cluster_means)) ** 2).sum())
    msw = ssw / (n - g)
    if g < 2:
        icc = 1.0 if ssw == 0 else 0.0
    else:
        msb = float((sizes * (cluster_means - df["y"].mean()) ** 2).sum()) / (g - 1)
        m0 = (n - float((sizes ** 2).sum()) / n) / (g - 1)
        denom = msb + (m0 - 1) * msw
        icc = 1.0 if denom <= 0 else min(1.0, max(0.0, (msb - msw) / denom))
    return 1.0 + (n / g - 1.0) * icc, icc


def cohen_kappa(a: Any, b: Any) -> float:
    """Cohen's kappa of two raters' labels over the same items: (p_o − p_e) / (1 − p_e).
    Perfect agreement gives 1 even when only one label occurs (where p_e = 1); NaN for no items."""
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise ValueError(f"raters labelled different numbers of items: {len(a)} and {len(b)}")
    if not a:
        return float("nan")
    labels = sorted(set(a) | set(b), key=str)
    n = len(a)
    po = sum(x == y for x, y in zip(a, b)) / n
    pe = sum((a.count(lab) / n) * (b.count(lab) / n) for lab in labels)
    if pe >= 1.0:
        return 1.0 if po == 1.0 else float("nan")
    return (po - pe) / (1.0 - pe)


def fleiss_kappa(table: np.ndarray) -> float:
    """Fleiss' kappa of an items × categories count table with the same number of raters per item
    (statsmodels), 1 for perfect agreement on a single category."""
    table = np.asarray(table, dtype=float)
    if table.size == 0:
        return float("nan")
    if np.all(table.max(axis=1) == table.sum(axis=1)) and np.count_nonzero(table.sum(axis=0)) == 1:
        return 1.0
    return float(_fleiss_kappa(table, method="fleiss"))


# ----------------------------------------------------------------------------------------------- frames

def judgment_frame(engine: Engine, study_id: int) -> pd.DataFrame:
    """One row per judgment of the study, with pair fields, annotator name and failure-mode codes (tuple)."""
    with read_session(engine) as s:
        if s.get(Study, study_id) is None:
            raise StoreError(f"no study with id {study_id}")
        rows = s.execute(
            select(Judgment.id, Judgment.pair_id, Pair.query_product_id, Pair.candidate_product_id, Pair.is_gold,
                   Pair.gold_label, Annotator.name, Judgment.compatible, Judgment.comment, Judgment.seconds_taken,
                   Judgment.created_at, Judgment.updated_at)
            .join(Pair, Pair.id == Judgment.pair_id).join(Annotator, Annotator.id == Judgment.annotator_id)
            .where(Pair.study_id == study_id).order_by(Judgment.id)).all()
        links = s.execute(
            select(judgment_failure_modes.c.judgment_id, FailureMode.code)
            .join(FailureMode, FailureMode.id == judgment_failure_modes.c.failure_mode_id)
            .join(Judgment, Judgment.id == judgment_failure_modes.c.judgment_id)
            .join(Pair, Pair.id == Judgment.pair_id).where(Pair.study_id == study_id)
            .order_by(judgment_failure_modes.c.judgment_id, FailureMode.id)).all()
    cols = ["judgment_id", "pair_id", "query_product_id", "candidate_product_id", "is_gold", "gold_label",
            "annotator", "compatible", "comment", "seconds_taken", "created_at", "updated_at"]
    df = pd.DataFrame(rows, columns=cols)
    modes: dict[int, list[str]] = {}
    for jid, code in links:
        modes.setdefault(jid, []).append(code)
    df["failure_modes"] = [tuple(modes.get(j, ())) for j in df["judgment_id"]]
    df["compatible"] = df["compatible"].astype("object")
    df["is_gold"] = df["is_gold"].astype(bool)
    return df


def _sources(engine: Engine, study_id: int) -> pd.DataFrame:
    with read_session(engine) as s:
        rows = s.execute(select(PairSource.pair_id, PairSource.model, PairSource.rank)
                         .join(Pair, Pair.id == PairSource.pair_id).where(Pair.study_id == study_id)).all()
    return pd.DataFrame(rows, columns=["pair_id", "model", "rank"])


def _study_models(engine: Engine, study_id: int) -> list[str]:
    with read_session(engine) as s:
        st = s.get(Study, study_id)
        if st is None:
            raise StoreError(f"no study with id {study_id}")
        return list(st.models)


def _model_observations(engine: Engine, study_id: int) -> pd.DataFrame:
    """Non-gold judgments × model sources (one row per judgment and model that produced its pair)."""
    j = judgment_frame(engine, study_id)
    j = j[~j["is_gold"]]
    return j.merge(_sources(engine, study_id), on="pair_id", how="inner")


def _precision_rows(obs: pd.DataFrame, keys: list[str], alpha: float) -> pd.DataFrame:
    out = []
    for key, g in obs.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        judged_rows = g[g["compatible"].notna()]
        n = len(judged_rows)
        ys = [float(bool(v)) for v in judged_rows["compatible"]]
        k = int(sum(ys))
        deff, _ = design_effect(ys, judged_rows["pair_id"].tolist())
        n_eff = n / deff
        lo, hi = wilson_interval(k / n * n_eff, n_eff, alpha) if n else wilson_interval(0, 0)
        out.append(dict(zip(keys, key), judged=n, compatible=k, precision=k / n if n else float("nan"),
                        ci_low=lo, ci_high=hi, effective_n=n_eff, pairs=judged_rows["pair_id"].nunique(),
                        skipped=len(g) - n))
    return pd.DataFrame(out, columns=keys + PRECISION_COLUMNS[1:])


# ----------------------------------------------------------------------------------------------- precision

def precision_by_model(engine: Engine, study_id: int, alpha: float = 0.05) -> pd.DataFrame:
    """Per model: judged (observations), compatible, precision = compatible / judged, Wilson interval
    (1 − alpha), distinct pairs judged, skipped. Every model of the study appears (NaN precision when unjudged).

    Observations are judgments, not pairs: with overlap 2 each pair usually contributes two observations, and a
    pair several models returned counts for each of them. Skips and gold pairs are excluded. The interval treats
    queries as clusters (``db.human.precision_table``: Wilson on the effective sample size ``effective_n`` from the
    cluster-robust variance); the within-pair design effect alone (``design_effect``, used before) ignored the
    correlation between the pairs of one query and covered too little in simulation (README).
    """
    obs = _model_observations(engine, study_id)
    table = _precision_rows(obs, ["model"], alpha).set_index("model")
    models = _study_models(engine, study_id)
    # The interval: queries as clusters (db.human; the within-pair design effect alone covered too little).
    judged = obs[obs["compatible"].notna()]
    clustered = human.precision_table(pd.DataFrame({
        "query": judged["query_product_id"].astype(str), "pair_id": judged["pair_id"], "model": judged["model"],
        "y": judged["compatible"].astype(bool).astype(float)}), list(table.index), alpha).set_index("model")
    table[["ci_low", "ci_high", "effective_n"]] = clustered[["ci_low", "ci_high", "effective_n"]]
    extra = sorted(set(table.index) - set(models))
    table = table.reindex(models + extra)
    table[["judged", "compatible", "pairs", "skipped"]] = table[["judged", "compatible", "pairs",
                                                                 "skipped"]].fillna(0).astype(int)
    return table.reset_index().rename(columns={"index": "model"})[PRECISION_COLUMNS]


def precision_by_model_category(engine: Engine, study_id: int,
                                category_of: Mapping[str, str] | Callable[[str], str],
                                alpha: float = 0.05) -> pd.DataFrame:
    """Precision per (model, candidate category); ``category_of`` maps a candidate product id to its category
    (a dict or a function); unmapped candidates fall under "unknown"."""
    obs = _model_observations(engine, study_id)
    look = category_of.get if isinstance(category_of, Mapping) else category_of
    obs["category"] = [look(c) or "unknown" for c in obs["candidate_product_id"]] if len(obs) else []
    return _precision_rows(obs, ["model", "category"], alpha)


# ----------------------------------------------------------------------------------------------- failure modes

def failure_mode_tallies(engine: Engine, study_id: int) -> pd.DataFrame:
    """Model × failure-mode counts over non-gold judgments (each judgment counted for every model that produced
    its pair; skipped judgments' modes included). Columns: model, then one per failure-mode code."""
    obs = _model_observations(engine, study_id)
    with read_session(engine) as s:
        codes = list(s.scalars(select(FailureMode.code).order_by(FailureMode.id)))
    models = _study_models(engine, study_id)
    counts = pd.DataFrame(0, index=pd.Index(models + sorted(set(obs["model"]) - set(models)), name="model"),
                          columns=codes, dtype=int)
    for model, modes in zip(obs["model"], obs["failure_modes"]):
        for code in modes:
            counts.loc[model, code] += 1
    return counts.reset_index()


def comments(engine: Engine, study_id: int, model: str | None = None, mode: str | None = None,
             annotator: str | None = None) -> pd.DataFrame:
    """Judgments with a non-empty comment, newest first, optionally only those of a model's pairs, carrying a
    failure mode, or by one annotator. ``models`` lists every model that produced the pair."""
    j = judgment_frame(engine, study_id)
    src = _sources(engine, study_id)
    by_pair = src.sort_values("model").groupby("pair_id")["model"].agg(list).to_dict()
    j["models"] = [tuple(by_pair.get(p, ())) for p in j["pair_id"]]
    j = j[j["comment"].fillna("").str.strip().str.len() > 0]
    if model is not None:
        j = j[[model in ms for ms in j["models"]]]
    if mode is not None:
        j = j[[mode in ms for ms in j["failure_modes"]]]
    if annotator is not None:
        j = j[j["annotator"] == annotator.strip()]
    cols = ["judgment_id", "pair_id", "query_product_id", "candidate_product_id", "models", "is_gold", "annotator",
            "compatible", "failure_modes", "comment", "updated_at"]
    return j.sort_values(["updated_at", "judgment_id"], ascending=False)[cols].reset_index(drop=True)


# ----------------------------------------------------------------------------------------------- agreement

def agreement(engine: Engine, study_id: int) -> dict[str, Any]:
    """Inter-annotator agreement on compatible / not compatible (skips left out; gold pairs included).

    ``cohen_kappa``: Cohen's kappa when two annotators share items; with several annotator pairs (overlap
    assignments rotate), the item-weighted mean of the pairwise kappas (Light's kappa), listed in ``pairwise``.
    ``fleiss_kappa``: over items with at least 3 ratings (each cut to the smallest such count, first raters by
    name), else None. ``items``: pairs with at least two ratings; ``percent_agreement`` over them.
    """
    j = judgment_frame(engine, study_id)
    j = j[j["compatible"].notna()]
    ratings: dict[int, dict[str, bool]] = {}
    for pid, who, val in zip(j["pair_id"], j["annotator"], j["compatible"]):
        ratings.setdefault(int(pid), {})[who] = bool(val)
    multi = {p: r for p, r in ratings.items() if len(r) >= 2}

    pairwise = []
    names = sorted({a for r in multi.values() for a in r})
    for a, b in combinations(names, 2):
        common = [p for p, r in multi.items() if a in r and b in r]
        if common:
            ka = cohen_kappa([multi[p][a] for p in common], [multi[p][b] for p in common])
            pairwise.append({"annotators": (a, b), "items": len(common), "kappa": ka})
    valid = [pw for pw in pairwise if not math.isnan(pw["kappa"])]
    cohen = (sum(pw["kappa"] * pw["items"] for pw in valid) / sum(pw["items"] for pw in valid)) if valid else None

    agree = [len(set(r.values())) == 1 for r in multi.values()]
    fleiss, fleiss_items, fleiss_raters = None, 0, 0
    three = {p: r for p, r in multi.items() if len(r) >= 3}
    if three:
        m = min(len(r) for r in three.values())
        table = []
        for r in three.values():
            vals = [r[a] for a in sorted(r)[:m]]
            table.append([vals.count(False), vals.count(True)])
        fleiss, fleiss_items, fleiss_raters = fleiss_kappa(np.array(table)), len(table), m
    return {"cohen_kappa": cohen, "cohen_items": sum(pw["items"] for pw in pairwise), "pairwise": pairwise,
            "fleiss_kappa": fleiss, "fleiss_items": fleiss_items, "fleiss_raters": fleiss_raters,
            "items": len(multi), "percent_agreement": (sum(agree) / len(agree)) if agree else None}


def annotator_reliability(engine: Engine, study_id: int, alpha: float = 0.05) -> pd.DataFrame:
    """Accuracy of each annotator on gold pairs (skips left out): gold_judged, gold_correct, accuracy, Wilson CI."""
    j = judgment_frame(engine, study_id)
    g = j[j["is_gold"] & j["compatible"].notna() & j["gold_label"].notna()]
    out = []
    for who, rows in g.groupby("annotator", sort=True):
        n = len(rows)
        k = int(sum(bool(a) == bool(b) for a, b in zip(rows["compatible"], rows["gold_label"])))
        lo, hi = wilson_interval(k, n, alpha)
        out.append({"annotator": who, "gold_judged": n, "gold_correct": k, "accuracy": k / n,
                    "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(out, columns=["annotator", "gold_judged", "gold_correct", "accuracy", "ci_low", "ci_high"])


# ----------------------------------------------------------------------------------------------- offline metrics

def save_offline_metrics(engine: Engine, table_df: pd.DataFrame) -> int:
    """Store Table-4 rows; ``table_df`` is long (method, metric, value) or wide (method + one column per metric,
    as ``evaluate_all`` returns). Re-saving a (method, metric) replaces it. Returns the number of cells stored."""
    if {"method", "metric", "value"} <= set(table_df.columns):
        long = table_df[["method", "metric", "value"]]
    elif "method" in table_df.columns:
        long = table_df.melt(id_vars=["method"], var_name="metric", value_name="value")
    else:
        raise StoreError("offline metrics need a 'method' column (long: method, metric, value; or wide)")
    now = utcnow()
    rows = []
    for method, metric, value in zip(long["method"], long["metric"], long["value"]):
        v = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
        rows.append({"method": str(method), "metric": str(metric),
                     "value": None if pd.isna(v) else float(v), "computed_at": now})
    if not rows:
        return 0
    with write_session(engine) as s:
        stmt = dialect_insert(s, OfflineMetric.__table__)
        stmt = stmt.on_conflict_do_update(index_elements=["method", "metric"], set_={
            "value": stmt.excluded.value, "computed_at": stmt.excluded.computed_at})
        s.execute(stmt, rows)
    return len(rows)


def load_offline_metrics(engine: Engine, wide: bool = False) -> pd.DataFrame:
    """Stored Table-4 cells: long (method, metric, value, computed_at) or wide (method × metric)."""
    with read_session(engine) as s:
        rows = s.execute(select(OfflineMetric.method, OfflineMetric.metric, OfflineMetric.value,
                                OfflineMetric.computed_at).order_by(OfflineMetric.id)).all()
    df = pd.DataFrame(rows, columns=["method", "metric", "value", "computed_at"])
    if not wide:
        return df
    if df.empty:
        return pd.DataFrame(columns=["method"])
    metrics = list(dict.fromkeys(df["metric"]))
    methods = list(dict.fromkeys(df["method"]))
    w = df.pivot(index="method", columns="metric", values="value").reindex(index=methods, columns=metrics)
    w.columns.name = None
    return w.reset_index()


# ----------------------------------------------------------------------------------------------- export

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells starting with a spreadsheet formula character are prefixed with ``'``."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = [("'" + v) if isinstance(v, str) and v.startswith(FORMULA_PREFIXES) else v for v in out[c]]
    return out


def csv_text(df: pd.DataFrame) -> str:
    """``df`` as CSV text, formula-safe (``neutralise_formulas``): what a download button should offer.

    Lines end in CRLF (RFC 4180), so a text cell holding a bare carriage return is quoted too."""
    return neutralise_formulas(df).to_csv(index=False, lineterminator="\r\n")


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(csv_text(df), encoding="utf-8", newline="")


def export_csv(engine: Engine, study_id: int, out_dir: str | Path) -> list[Path]:
    """Write ``judgments.csv`` (one row per judgment × model source; gold pairs once with an empty model; the
    latest value of each judgment), ``summary.csv`` (``precision_by_model``) and ``history.csv`` (every create and
    edit, ``db.history.history_frame``) into ``out_dir``, atomically and formula-safe; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    j = judgment_frame(engine, study_id)
    rows = j.merge(_sources(engine, study_id), on="pair_id", how="left")
    rows["study_id"] = study_id
    rows["model"] = rows["model"].fillna("")
    rows["rank"] = rows["rank"].astype("Int64")
    rows["failure_modes"] = [";".join(m) for m in rows["failure_modes"]]
    rows["compatible"] = [("" if v is None or (isinstance(v, float) and math.isnan(v)) else int(bool(v)))
                          for v in rows["compatible"]]
    rows["gold_label"] = [("" if v is None or pd.isna(v) else int(bool(v))) for v in rows["gold_label"]]
    rows["is_gold"] = rows["is_gold"].astype(int)
    rows = rows.sort_values(["judgment_id", "model"])[JUDGMENT_EXPORT_COLUMNS]
    paths = [out / "judgments.csv", out / "summary.csv", out / "history.csv"]
    _write_csv(rows, paths[0])
    _write_csv(precision_by_model(engine, study_id), paths[1])
    _write_csv(history_frame(engine, study_id), paths[2])
    return paths
