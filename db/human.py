"""Statistics of a human-evaluation study that respect how its data were gathered (pure functions over frames; the
database is read by ``db.report``; nothing here touches it).

The unit of the design is the **query**: every model answers the same sampled query products, a (query, candidate)
pair is judged by several annotators, and a pair two models both returned counts for both. Judgments of one query
are correlated (a hard query is hard for every model; two stylists judging one pair see the same images), so the
intervals here treat queries as independent clusters and everything inside a query as arbitrarily correlated.

Input everywhere is an *observation frame*: one row per (judgment, model that produced its pair), non-gold and not
skipped, with columns ``query`` (the query product), ``pair_id``, ``model`` and ``y`` (1 compatible, 0 not).

- **Precision of a model** = Σy / n over its rows (each judgment one observation, as in the paper's Table 7).
  Its 95% interval is a Wilson interval on the effective sample size n_eff = p(1−p) / Var(p̂), where Var(p̂) is
  the cluster-robust (linearisation, "sandwich") variance of the ratio estimator with queries as clusters and the
  small-sample factor G/(G−1); the Wilson z is the t quantile on G−1 degrees of freedom. This equals what
  statsmodels' GEE (independence working correlation, robust covariance) gives for a model-indicator regression,
  times G/(G−1) (tests check it), and its coverage is measured by simulation (``ctl_core.workflows.human_sim``).
  The earlier interval (Kish's design effect from the within-pair intraclass correlation, ``db.stats``) ignores
  the correlation between pairs of one query and covers less than 95% when queries differ; the simulation shows by
  how much.
- **Paired difference** of two models A − B: p̂_A − p̂_B with the same cluster-robust variance, computed from the
  per-query residual contributions of both models together (a pair both returned contributes to both and cancels),
  so the covariance between the two estimates is in it; interval p̂_A − p̂_B ± t_{G−1}·SE and a two-sided t-test.
- **Dawid–Skene**: the latent-class model of binary judgments (each annotator a sensitivity and a specificity; one
  prevalence), fitted by EM from majority-vote starting values, with gold pairs clamped to their known answer and a
  Beta(2, 2) prior on each rate (so one annotator's perfect record does not become a rate of exactly 1).
  The corrected precision of a model is the mean posterior probability that its pairs are compatible. Its 95%
  interval (``corrected_precision_intervals``) is a percentile bootstrap over queries — the design's clusters —
  refitting Dawid–Skene on each resample (a query drawn twice counts as two queries with their own pairs; gold
  pairs are the fixed calibration set of every resample), so it carries both the sampling of queries and the
  uncertainty of the estimated annotator rates — but not the correction's bias: in the simulation (annotators of a
  pair sharing its difficulty) it covered the true precision only 67–75% of the time
  (``docs/results/human_eval_corrected_coverage.md``); a sensitivity check, not a citable 95% interval.
- **Study sizing** (``plan_paired_comparison``): queries needed so that a paired difference of D points is detected
  with the given power, from the variance of the per-query difference, built from variance components (share of
  the judged-scale variance between queries per model, between pairs, between annotators of one pair) — defaults
  from the simulation's default model, or measured on an earlier study (``variance_components``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

OBS_COLUMNS = ["query", "pair_id", "model", "y"]
PRECISION_TABLE_COLUMNS = ["model", "judged", "compatible", "precision", "ci_low", "ci_high", "effective_n",
                           "queries", "pairs"]
COMPARISON_COLUMNS = ["model_a", "model_b", "diff", "ci_low", "ci_high", "p_value", "se", "queries", "judged_a",
                      "judged_b"]


# ----------------------------------------------------------------------------------------------- small helpers

def wilson(successes: float, n: float, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a proportion with ``n`` possibly non-integer and a chosen ``z``."""
    if not n or n <= 0:
        return float("nan"), float("nan")
    p = successes / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(max(p * (1 - p) / n + z * z / (4 * n * n), 0.0)) / d
    return max(0.0, centre - half), min(1.0, centre + half)


def t_quantile(df: int, alpha: float = 0.05) -> float:
    """Two-sided critical value of Student's t (normal for df < 1, which only an empty study reaches)."""
    return float(sps.t.ppf(1 - alpha / 2, df)) if df >= 1 else float(sps.norm.ppf(1 - alpha / 2))


def _codes(values) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values in order of appearance, code of each value)."""
    inv, uniq = pd.factorize(pd.Series(values) if not isinstance(values, pd.Series) else values)
    return np.asarray(uniq), inv


# ----------------------------------------------------------------------------------------------- precision

@dataclass(frozen=True)
class _Model:
    n: float
    k: float
    p: float
    resid: np.ndarray  # per query: Σ (y − p̂) over the model's rows in that query (0 where it has none)
    present: np.ndarray  # per query: the model has rows there


def _per_model(obs: pd.DataFrame, models: Sequence[str]) -> tuple[dict[str, _Model], int]:
    _, q = _codes(obs["query"]) if len(obs) else (np.array([]), np.zeros(0, dtype=int))
    n_q = int(q.max()) + 1 if len(q) else 0
    y = obs["y"].to_numpy(dtype=float)
    mod = obs["model"].astype(str).to_numpy()
    out = {}
    for m in models:
        sel = mod == m
        n = float(sel.sum())
        k = float(y[sel].sum())
        p = k / n if n else float("nan")
        resid = np.bincount(q[sel], weights=y[sel] - (p if n else 0.0), minlength=n_q)
        present = np.bincount(q[sel], minlength=n_q) > 0
        out[m] = _Model(n, k, p, resid, present)
    return out, n_q


def precision_table(obs: pd.DataFrame, models: Sequence[str] | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Per model: judged, compatible, precision, the query-clustered Wilson interval (see the module docstring),
    effective_n and the number of queries and distinct pairs behind it. Models without rows get NaN."""
    models = list(models) if models is not None else sorted(obs["model"].astype(str).unique())
    per, _ = _per_model(obs, models)
    rows = []
    for m in models:
        st = per[m]
        sel = obs["model"].astype(str) == m
        g = int(st.present.sum())
        if st.n == 0:
            rows.append(dict(model=m, judged=0, compatible=0, precision=np.nan, ci_low=np.nan, ci_high=np.nan,
                             effective_n=0.0, queries=0, pairs=0))
            continue
        var = (g / (g - 1) if g > 1 else 1.0) * float((st.resid ** 2).sum()) / st.n ** 2
        pq = st.p * (1 - st.p)
        n_eff = min(st.n, pq / var) if var > 0 else st.n
        lo, hi = wilson(st.p * n_eff, n_eff, t_quantile(g - 1, alpha))
        rows.append(dict(model=m, judged=int(st.n), compatible=int(st.k), precision=st.p, ci_low=lo, ci_high=hi,
                         effective_n=n_eff, queries=g, pairs=int(obs.loc[sel, "pair_id"].nunique())))
    return pd.DataFrame(rows, columns=PRECISION_TABLE_COLUMNS)


def paired_comparisons(obs: pd.DataFrame, models: Sequence[str] | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Every pair of models (in the order given: A before B): difference p̂_A − p̂_B, its interval, two-sided p-value
    and standard error, with queries as clusters (see the module docstring). ``queries``: clusters where either model
    has a judgment. Identical data give a difference of 0 with a zero-width interval and p = 1."""
    models = list(models) if models is not None else sorted(obs["model"].astype(str).unique())
    per, _ = _per_model(obs, models)
    rows = []
    for i, a in enumerate(models):
        for b in models[i + 1:]:
            A, B = per[a], per[b]
            if not A.n or not B.n:
                rows.append(dict(model_a=a, model_b=b, diff=np.nan, ci_low=np.nan, ci_high=np.nan, p_value=np.nan,
                                 se=np.nan, queries=0, judged_a=int(A.n), judged_b=int(B.n)))
                continue
            e = A.resid / A.n - B.resid / B.n
            g = int((A.present | B.present).sum())
            var = (g / (g - 1) if g > 1 else 1.0) * float((e ** 2).sum())
            se = math.sqrt(max(var, 0.0))
            d = A.p - B.p
            tq = t_quantile(g - 1, alpha)
            if se > 1e-15:
                p_value = float(2 * sps.t.sf(abs(d) / se, max(g - 1, 1)))
            else:
                se, p_value = 0.0, (1.0 if abs(d) < 1e-15 else 0.0)
            rows.append(dict(model_a=a, model_b=b, diff=d, ci_low=d - tq * se, ci_high=d + tq * se, p_value=p_value,
                             se=se, queries=g, judged_a=int(A.n), judged_b=int(B.n)))
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def comparison_text(row: dict | pd.Series) -> str:
    """"A vs B: +4.4 points (95% CI −1.2 to +10.0, p = 0.12)"."""
    if row["diff"] != row["diff"]:
        return f"{row['model_a']} vs {row['model_b']}: not enough judgments"
    p = row["p_value"]
    ptxt = "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"
    return (f"{row['model_a']} vs {row['model_b']}: {100 * row['diff']:+.1f} points "
            f"(95% CI {100 * row['ci_low']:+.1f} to {100 * row['ci_high']:+.1f}, {ptxt})")


# ----------------------------------------------------------------------------------------------- Dawid–Skene

@dataclass(frozen=True)
class DawidSkene:
    """A fitted latent-class model: per-annotator sensitivity/specificity, prevalence, per-item posterior."""
    annotators: list[str]
    sensitivity: np.ndarray
    specificity: np.ndarray
    prevalence: float
    items: list
    posterior: np.ndarray  # P(truly compatible) per item
    iterations: int

    def rates(self) -> pd.DataFrame:
        return pd.DataFrame({"annotator": self.annotators, "ds_sensitivity": self.sensitivity,
                             "ds_specificity": self.specificity})

    def posterior_of(self) -> dict:
        return dict(zip(self.items, self.posterior))


def dawid_skene(item, annotator, y, known: dict | None = None, max_iter: int = 200, tol: float = 1e-6,
                prior: float = 2.0) -> DawidSkene:
    """Fit the two-class Dawid–Skene model to judgments (item, annotator, y ∈ {0, 1}); ``known`` maps items whose
    truth is known (gold pairs) to 0/1, which stay clamped. ``prior`` is the Beta(prior, prior) pseudo-count."""
    ii, items = pd.factorize(pd.Series(list(item) if not isinstance(item, (pd.Series, np.ndarray)) else item))
    aa, names = pd.factorize(pd.Series(list(annotator)))
    y = np.asarray(y, dtype=float)
    n_i, n_a = len(items), len(names)
    clamp = np.full(n_i, np.nan)
    if known:
        pos = pd.Index(items).get_indexer(list(known))
        ok = pos >= 0
        clamp[pos[ok]] = np.asarray(list(known.values()), dtype=float)[ok]
    # start: the mean vote of each item (majority vote, softened)
    votes = np.bincount(ii, weights=y, minlength=n_i) / np.maximum(np.bincount(ii, minlength=n_i), 1)
    w = np.where(np.isnan(clamp), votes, clamp)
    a0 = prior - 1.0
    iterations = 0
    se = sp = np.full(n_a, 0.8)
    prev = 0.5
    for iterations in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        wj = w[ii]
        se = (np.bincount(aa, weights=wj * y, minlength=n_a) + a0) / (np.bincount(aa, weights=wj, minlength=n_a)
                                                                      + 2 * a0)
        sp = (np.bincount(aa, weights=(1 - wj) * (1 - y), minlength=n_a) + a0) / (
            np.bincount(aa, weights=1 - wj, minlength=n_a) + 2 * a0)
        se, sp = np.clip(se, 1e-6, 1 - 1e-6), np.clip(sp, 1e-6, 1 - 1e-6)
        prev = float(np.clip((w.sum() + a0) / (n_i + 2 * a0), 1e-6, 1 - 1e-6))
        l1 = np.bincount(ii, weights=y * np.log(se[aa]) + (1 - y) * np.log(1 - se[aa]), minlength=n_i)
        l0 = np.bincount(ii, weights=y * np.log(1 - sp[aa]) + (1 - y) * np.log(sp[aa]), minlength=n_i)
        logit = math.log(prev) - math.log(1 - prev) + l1 - l0
        new = 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))
        new = np.where(np.isnan(clamp), new, clamp)
        done = float(np.abs(new - w).max()) < tol if n_i else True
        w = new
        if done:
            break
    return DawidSkene([str(n) for n in names], se, sp, prev, list(items), w, iterations)


def corrected_precision(obs: pd.DataFrame, posterior: dict, models: Sequence[str] | None = None) -> pd.DataFrame:
    """Per model: mean Dawid–Skene posterior P(compatible) over its distinct pairs, beside the raw precision."""
    models = list(models) if models is not None else sorted(obs["model"].astype(str).unique())
    raw = obs.groupby("model")["y"].mean()
    pairs = obs.drop_duplicates(["model", "pair_id"])
    post = pairs["pair_id"].map(posterior)
    corr = post.groupby(pairs["model"]).mean()
    count = pairs.groupby("model").size()
    return pd.DataFrame({"model": models, "raw_precision": [float(raw.get(m, np.nan)) for m in models],
                         "corrected_precision": [float(corr.get(m, np.nan)) for m in models],
                         "pairs": [int(count.get(m, 0)) for m in models]})


def corrected_precision_intervals(judgments: pd.DataFrame, obs: pd.DataFrame, known: dict,
                                  models: Sequence[str] | None = None, n_boot: int = 400, alpha: float = 0.05,
                                  seed: int = 0) -> pd.DataFrame:
    """``corrected_precision`` with a (1 − alpha) percentile interval from a bootstrap over queries.

    ``judgments``: every judgment Dawid–Skene is fitted on (columns ``pair_id``, ``annotator``, ``y``), gold pairs
    included; ``known``: gold pair → 0/1; ``obs``: the observation frame (non-gold), which maps pairs to queries and
    models. Each of ``n_boot`` resamples draws G queries with replacement (G = the number of queries), gives every
    drawn copy its own pair items, keeps the gold judgments as they are, refits Dawid–Skene and takes each model's
    mean posterior. Seeded: the same data and seed give the same interval.
    """
    models = list(models) if models is not None else sorted(obs["model"].astype(str).unique())
    j = judgments[["pair_id", "annotator", "y"]].copy()
    full = dawid_skene(j["pair_id"].tolist(), j["annotator"].tolist(), j["y"].to_numpy(float), known=known)
    point = corrected_precision(obs, full.posterior_of(), models)
    lo = {m: float("nan") for m in models}
    hi = dict(lo)
    pairs = obs.drop_duplicates(["model", "pair_id"])[["query", "pair_id", "model"]]
    queries = pd.Index(sorted(pairs["query"].astype(str).unique()))
    if len(queries) >= 2 and n_boot > 0:
        pair_query = dict(zip(pairs["pair_id"], pairs["query"].astype(str)))
        gold = j[j["pair_id"].isin(list(known))]
        rest = j[j["pair_id"].map(pair_query).notna() & ~j["pair_id"].isin(list(known))]
        ann_codes, _ = pd.factorize(pd.concat([gold["annotator"], rest["annotator"]]).astype(str))
        gold_ann, rest_ann = ann_codes[:len(gold)], ann_codes[len(gold):]
        pair_codes, pair_index = pd.factorize(pd.concat([pairs["pair_id"], rest["pair_id"]]))
        n_pairs = len(pair_index)
        q_of_rest = queries.get_indexer(rest["pair_id"].map(pair_query))
        q_of_pairs = queries.get_indexer(pairs["query"].astype(str))
        rest_by_q = [np.flatnonzero(q_of_rest == q) for q in range(len(queries))]
        pairs_by_q = [np.flatnonzero(q_of_pairs == q) for q in range(len(queries))]
        rest_pair, rest_y = pair_codes[len(pairs):], rest["y"].to_numpy(float)
        pair_code_of_row, model_of_row = pair_codes[:len(pairs)], pairs["model"].astype(str).to_numpy()
        gold_items = -1 - pd.factorize(gold["pair_id"])[0]           # negative ids: never a resampled pair's
        gold_known = {-1 - i: known[p] for i, p in enumerate(pd.unique(gold["pair_id"]))}
        rng = np.random.default_rng(seed)
        draws = {m: [] for m in models}
        for _ in range(n_boot):
            picked = rng.integers(0, len(queries), len(queries))
            idx = np.concatenate([rest_by_q[q] for q in picked])              # G >= 2 draws: never empty
            copies = np.concatenate([np.full(len(rest_by_q[q]), c) for c, q in enumerate(picked)])
            items = np.concatenate([gold_items, copies * n_pairs + rest_pair[idx]])
            ds = dawid_skene(items, np.concatenate([gold_ann, rest_ann[idx]]),
                             np.concatenate([gold["y"].to_numpy(float), rest_y[idx]]), known=gold_known)
            r_idx = np.concatenate([pairs_by_q[q] for q in picked])
            r_copy = np.concatenate([np.full(len(pairs_by_q[q]), c) for c, q in enumerate(picked)])
            at = pd.Index(ds.items).get_indexer(r_copy * n_pairs + pair_code_of_row[r_idx])
            values = np.where(at >= 0, ds.posterior[np.maximum(at, 0)], np.nan)  # a pair nobody judged: none
            frame = pd.DataFrame({"model": model_of_row[r_idx], "p": values}).dropna()
            means = frame.groupby("model")["p"].mean()
            for m in models:
                if m in means.index:
                    draws[m].append(float(means[m]))
        for m in models:
            if len(draws[m]) >= 2:
                lo[m], hi[m] = (float(v) for v in np.quantile(draws[m], [alpha / 2, 1 - alpha / 2]))
    point.insert(point.columns.get_loc("corrected_precision") + 1, "ci_low", [lo[m] for m in point["model"]])
    point.insert(point.columns.get_loc("ci_low") + 1, "ci_high", [hi[m] for m in point["model"]])
    return point


# ----------------------------------------------------------------------------------------------- sizing

@dataclass(frozen=True)
class VarianceComponents:
    """Shares of the judged-scale variance p(1−p) of one judgment: ``query_model`` varies between queries and is
    not shared by the other model (what a shared query effect leaves in a paired difference), ``pair`` between
    pairs within a query, the rest between annotators of one pair. ``source`` says where they come from."""
    query_model: float = 0.03
    pair: float = 0.29
    source: str = "assumed: measured on 3,000 queries drawn from the simulation's default model"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StudyPlan:
    diff_points: float
    power: float
    alpha: float
    annotators: int
    top_k: int
    gold_share: float
    precision: float
    queries: int
    pairs: int
    judgments: int
    seconds_per_judgment: float
    seconds_source: str
    hours: float
    components: VarianceComponents

    def to_dict(self) -> dict:
        d = asdict(self)
        d["components"] = self.components.to_dict()
        return d

    def text(self) -> str:
        return (f"To detect a difference of {self.diff_points:g} points between two models (precision near "
                f"{100 * self.precision:.0f}%) with {100 * self.power:.0f}% power at α = {self.alpha:g}: "
                f"{self.queries} queries, top {self.top_k} per model, {self.annotators} annotator"
                f"{'s' if self.annotators != 1 else ''} per pair → about {self.pairs:,} pairs and "
                f"{self.judgments:,} judgments ({100 * self.gold_share:.0f}% gold included), "
                f"{self.hours:.1f} hours of labelling at {self.seconds_per_judgment:.1f} s per judgment "
                f"({self.seconds_source}). Variance components: {self.components.source}.")


def per_query_diff_variance(precision: float, top_k: int, annotators: int, components: VarianceComponents) -> float:
    """Variance of one query's difference between two models' precisions (each: top_k pairs × annotators)."""
    v = precision * (1 - precision)
    judge = max(0.0, 1.0 - components.query_model - components.pair)
    return 2 * v * (components.query_model + (components.pair + judge / annotators) / top_k)


def plan_paired_comparison(diff_points: float, annotators: int = 2, top_k: int = 5, gold_share: float = 0.1,
                           precision: float = 0.5, power: float = 0.8, alpha: float = 0.05, models: int = 2,
                           shared_pairs: float = 0.0, seconds_per_judgment: float = 10.0,
                           seconds_source: str = "assumed", components: VarianceComponents | None = None
                           ) -> StudyPlan:
    """Queries (and pairs, judgments, hours) for a two-sided test of a paired difference of ``diff_points``.

    G is the smallest number of queries with (t_{1−α/2, G−1} + t_{power, G−1})² · σ²_d / G ≤ D², σ²_d from
    ``per_query_diff_variance``. Pairs = G × top_k × models × (1 − shared_pairs); judgments = pairs × annotators /
    (1 − gold_share) (the gold pairs are judged too)."""
    if not 0 < diff_points < 100:
        raise ValueError(f"the difference to detect must be between 0 and 100 points, got {diff_points}")
    if annotators < 1 or top_k < 1 or models < 2:
        raise ValueError("a plan needs at least 1 annotator per pair, top K ≥ 1 and 2 models")
    if not 0 <= gold_share < 1:
        raise ValueError(f"the gold share must be in [0, 1), got {gold_share}")
    comps = components or VarianceComponents()
    var_d = per_query_diff_variance(precision, top_k, annotators, comps)
    d = diff_points / 100
    z = float(sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power))
    g = max(2, int(math.ceil(z * z * var_d / d ** 2)))  # the normal approximation, then t's heavier tails
    while (t_quantile(g - 1, alpha) + float(sps.t.ppf(power, g - 1))) ** 2 * var_d / d ** 2 > g:
        g += 1
    pairs = int(math.ceil(g * top_k * models * (1 - shared_pairs)))
    judgments = int(math.ceil(pairs * annotators / (1 - gold_share)))
    return StudyPlan(diff_points, power, alpha, annotators, top_k, gold_share, precision, g, pairs, judgments,
                     seconds_per_judgment, seconds_source, judgments * seconds_per_judgment / 3600, comps)


def variance_components(obs: pd.DataFrame, source: str = "measured") -> VarianceComponents | None:
    """Variance components estimated by moments from an observation frame (None when there are too few data):
    the within-pair variance from pairs with ≥ 2 judgments, the between-pair variance (within query and model) from
    the spread of pair means, and the model-specific query share from the per-query differences of the first two
    models. Each is a share of p(1−p), clipped to [0, 1]."""
    if obs.empty:
        return None
    p = float(obs["y"].astype(float).mean())
    tot = p * (1 - p)
    if tot <= 0:
        return None
    default = VarianceComponents()
    by_pair = obs.groupby(["model", "pair_id"])["y"]
    sizes, means = by_pair.size(), by_pair.mean()
    r = max(float(sizes.mean()), 1.0)
    multi = sizes >= 2
    judge = (float(by_pair.var(ddof=1)[multi].mean()) if multi.sum() >= 5
             else (1 - default.pair - default.query_model) * tot)
    pm = means.rename("y").reset_index().merge(obs[["pair_id", "query"]].drop_duplicates("pair_id"), on="pair_id")
    q_means = pm.groupby(["model", "query"])["y"].transform("mean")
    between = max(0.0, float(((pm["y"] - q_means) ** 2).mean()) - judge / r)
    qm = default.query_model * tot
    models = list(pd.unique(obs["model"]))
    if len(models) >= 2:
        wide = pm.groupby(["query", "model"])["y"].mean().unstack()[models[:2]].dropna()
        if len(wide) >= 5:
            k = float(pm.groupby(["model", "query"]).size().mean())
            qm = max(0.0, float((wide[models[0]] - wide[models[1]]).var(ddof=1)) / 2 - (between + judge / r) / k)
    judge_share = min(1.0, judge / tot)
    pair_share = float(np.clip(between / tot, 0.0, 1.0 - judge_share))
    return VarianceComponents(float(np.clip(qm / tot, 0.0, 1.0 - judge_share - pair_share)), pair_share, source)
