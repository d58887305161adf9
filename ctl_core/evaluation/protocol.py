"""The offline-evaluation protocol (paper sec. 6.1): drawing the Recall@K corpora and the FITB questions.

Protocol, as we implement it (the paper is terse; every choice it leaves open is written down here):

Recall@K. Test outfits of exactly ``outfit_size`` (5) items. Every item of such an outfit is a query; its corpus
holds ``corpus_size`` (200) items: the other 4 items of its outfit (positives) and random negatives drawn from the
test items of *other* outfits (never the query's own outfit; never an item showing the same catalogue product as
the query or one of its positives). Corpora are drawn once with ``numpy.random.Generator(seed)`` and shuffled, so
every method is scored on the same corpora and ties in distance never favour positives. Items are ranked by
ascending Euclidean distance between style embeddings, and
``R@K = (positives among the top K) / min(number of positives, K)``, averaged over queries.

Two corpus modes:
  (a) all categories — negatives sampled from test items of every category (columns ``R@K``);
  (b) one category at a time (columns ``R@K_cat``) — for each category c: the queries are the items whose
      selected outfit holds an item of category c other than the query; positives are those outfit-mates of
      category c (usually one); negatives are random test items of category c from other outfits. R@K is averaged
      over the queries of c, then the per-category values are averaged with equal weight (macro mean over
      categories). A category is scored only when the test split holds at least ``min_category_items`` items of it
      (a category with a handful of items would make near-trivial corpora); when it holds fewer than
      ``corpus_size`` items the corpus is every usable item (the per-category breakdown reports the mean size).

If fewer than ``min_outfits`` test outfits have exactly 5 items, outfits of at least 5 items are used instead, each
cut to 5 random (seeded) items; the returned ``protocol_note`` says so.

FITB. For each test outfit with at least two items one item is removed (seeded choice among its items whose
category has enough negatives); the candidates are the true item and ``fitb_candidates - 1`` random test items of
the same category from other outfits, in random order; the question is the remaining items. A candidate's score
is the SUM of Euclidean distances to the question items (the Polyvore protocol; the mean gives the same ranking,
as every candidate is scored against the same question); the lowest score wins.

FITB with popular distractors (``popular_fitb``, column ``FITB_pop``): the same questions and true items, but the
distractors are drawn in proportion to how often each PRODUCT appears in outfits (``popularity``: outfit counts over
every split, e.g. the whole items table); a product in several test rows is not favoured for that. Popular products
(basics that go with everything) are the hardest distractors: a popularity prior alone scores below chance.

Compatibility (the Polyvore protocol, ``build_compat_questions``). Every test outfit of at least 3 items is scored
as it is (label 1) and once corrupted (label 0): 1 to half of its items (seeded) are each swapped for a random test
item of the same category from another outfit (never one showing a product of the outfit). A method's outfit score
is the negative mean pairwise Euclidean distance of its items (pairwise methods) or the outfit model's
compatibility logit; the figure is the ROC AUC over all outfits (``compat_AUC``).

This module only draws (seeded, once per evaluation, shared by every method); ``table4`` scores embeddings on it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ctl_core.data.categories import CATEGORY_INDEX


class EvaluationError(ValueError):
    """The evaluation cannot run on this data (no test split, too few outfits, missing run)."""


@dataclass(frozen=True)
class EvalConfig:
    """The protocol's settings (defaults: the paper's corpora of 200, 5-item outfits, K = 1/5/10, 4 candidates)."""
    corpus_size: int = 200
    outfit_size: int = 5
    ks: tuple[int, ...] = (1, 5, 10)
    fitb_candidates: int = 4
    seed: int = 0
    min_outfits: int = 30          # fewer outfits of exactly outfit_size -> fall back to >= outfit_size
    min_category_items: int = 20   # per-category mode scores a category only with this many test items
    batch_size: int = 512          # queries scored at once (memory bound only; results do not depend on it)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ks"] = list(self.ks)
        return d


@dataclass(frozen=True)
class RecallCorpora:
    """One Recall@K task: per query, its corpus (row indices, -1 = padding) and which entries are positives."""
    category: str | None     # None = corpus across all categories
    queries: np.ndarray      # (Q,) rows of the query items
    corpus: np.ndarray       # (Q, N) rows, -1 where a corpus is shorter than N
    positive: np.ndarray     # (Q, N) bool


@dataclass(frozen=True)
class FitbQuestions:
    """FITB questions: question items (rows, -1 = padding), candidates (rows) and the correct candidate's index."""
    questions: np.ndarray    # (Q, M) rows, -1 padding
    candidates: np.ndarray   # (Q, C) rows
    correct: np.ndarray      # (Q,)


@dataclass(frozen=True)
class Protocol:
    """Everything drawn at random for one evaluation; reused for every method so all see the same corpora."""
    config: EvalConfig
    n_items: int
    n_outfits: int
    all_categories: RecallCorpora
    per_category: dict[str, RecallCorpora]
    fitb: FitbQuestions
    note: str = ""
    fitb_skipped: int = 0
    extra: dict = field(default_factory=dict)


def _sample_excluding(rng: np.random.Generator, pool: np.ndarray, n: int, excluded: np.ndarray) -> np.ndarray:
    """Up to ``n`` distinct elements of ``pool`` (distinct values) not in ``excluded``, in random order."""
    if n <= 0 or len(pool) == 0:
        return np.empty(0, dtype=np.int64)
    n_excl = int(np.isin(excluded, pool).sum()) if len(excluded) else 0
    n = min(n, len(pool) - n_excl)
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    draw = pool[rng.choice(len(pool), size=min(len(pool), n + n_excl), replace=False)]
    if n_excl:
        draw = draw[~np.isin(draw, excluded)]
    return draw[:n].astype(np.int64)


def _select_outfits(items: pd.DataFrame, config: EvalConfig,
                    rng: np.random.Generator) -> tuple[list[np.ndarray], str]:
    """Row-index arrays of the outfits used for Recall@K (exactly outfit_size items each), and a note."""
    groups = [np.asarray(ix, dtype=np.int64) for _, ix in sorted(items.groupby("outfit_id", sort=True).indices.items())]
    size = config.outfit_size
    exact = [g for g in groups if len(g) == size]
    if len(exact) >= config.min_outfits:
        return exact, ""
    larger = [g for g in groups if len(g) >= size]
    if len(larger) < 2:
        raise EvaluationError(
            f"Recall@K needs test outfits of at least {size} items; the test split has {len(larger)} "
            f"(of {len(groups)} outfits)")
    chosen = [g if len(g) == size else np.sort(rng.choice(g, size=size, replace=False)) for g in larger]
    note = (f"only {len(exact)} test outfits have exactly {size} items (< min_outfits={config.min_outfits}); "
            f"used {len(chosen)} outfits of >= {size} items, {size} random items of each (seeded)")
    return chosen, note


def _pad(rows: list[np.ndarray], width: int, fill: int = -1) -> np.ndarray:
    out = np.full((len(rows), width), fill, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


class _Index:
    """Lookups over the test items: outfit rows, category rows, rows sharing a catalogue product."""

    def __init__(self, items: pd.DataFrame):
        self.outfit = items["outfit_id"].astype(str).to_numpy()
        self.category = items["category"].astype(str).to_numpy()
        self.all_rows = np.arange(len(items), dtype=np.int64)
        self.outfit_rows = {k: np.asarray(v, dtype=np.int64)
                            for k, v in items.groupby("outfit_id", sort=True).indices.items()}
        self.category_rows = {k: np.asarray(v, dtype=np.int64)
                              for k, v in items.groupby("category", sort=True).indices.items()}
        pid = items["product_id"].fillna("").astype(str).to_numpy() if "product_id" in items else \
            np.full(len(items), "", dtype=object)
        self.product = pid
        self.product_rows = {k: np.asarray(v, dtype=np.int64)
                             for k, v in pd.Series(pid).groupby(pid).indices.items() if k}

    def excluded(self, outfit_id: str, rows: Sequence[int]) -> np.ndarray:
        """Rows a negative may never be: the outfit's own rows and rows showing the same product as ``rows``."""
        parts = [self.outfit_rows[outfit_id]]
        parts += [self.product_rows[self.product[r]] for r in rows if self.product[r]]
        return np.unique(np.concatenate(parts))


def _recall_corpora(idx: _Index, outfits: list[np.ndarray], config: EvalConfig, rng: np.random.Generator,
                    category: str | None) -> RecallCorpora | None:
    queries, corpora, positives = [], [], []
    pool = idx.all_rows if category is None else idx.category_rows.get(category, np.empty(0, dtype=np.int64))
    for outfit in outfits:
        for q in outfit:
            mates = outfit[outfit != q]
            if category is not None:
                mates = mates[idx.category[mates] == category]
            if len(mates) == 0:
                continue
            excl = idx.excluded(idx.outfit[q], [q, *mates])
            negs = _sample_excluding(rng, pool, config.corpus_size - len(mates), excl)
            corpus = np.concatenate([mates, negs])
            is_pos = np.zeros(len(corpus), dtype=bool)
            is_pos[:len(mates)] = True
            perm = rng.permutation(len(corpus))
            queries.append(q)
            corpora.append(corpus[perm])
            positives.append(is_pos[perm])
    if not queries:
        return None
    width = max(len(c) for c in corpora)
    pos = np.zeros((len(queries), width), dtype=bool)
    for i, p in enumerate(positives):
        pos[i, :len(p)] = p
    return RecallCorpora(category, np.asarray(queries, dtype=np.int64), _pad(corpora, width), pos)


def _fitb_questions(idx: _Index, config: EvalConfig, rng: np.random.Generator) -> tuple[FitbQuestions, int]:
    n_neg = config.fitb_candidates - 1
    questions, candidates, correct, skipped = [], [], [], 0
    for oid, rows in idx.outfit_rows.items():   # sorted by outfit id: deterministic
        if len(rows) < 2:
            skipped += 1
            continue
        order = rows[rng.permutation(len(rows))]
        picked = None
        for r in order:   # first item (random order) whose category has enough negatives
            excl = idx.excluded(oid, [r])
            pool = idx.category_rows[idx.category[r]]
            if len(pool) - int(np.isin(excl, pool).sum()) >= n_neg:
                picked = r
                break
        if picked is None:
            skipped += 1
            continue
        negs = _sample_excluding(rng, idx.category_rows[idx.category[picked]], n_neg, excl)
        cands = np.concatenate([[picked], negs])
        perm = rng.permutation(len(cands))
        questions.append(rows[rows != picked])
        candidates.append(cands[perm])
        correct.append(int(np.flatnonzero(perm == 0)[0]))
    width = max((len(q) for q in questions), default=1)
    fitb = FitbQuestions(_pad(questions, width), np.asarray(candidates, dtype=np.int64).reshape(-1, n_neg + 1),
                         np.asarray(correct, dtype=np.int64))
    return fitb, skipped


def popular_fitb(items_df: pd.DataFrame, fitb: FitbQuestions, popularity: dict[str, float],
                 seed: int = 0) -> FitbQuestions:
    """``fitb``'s questions over ``items_df`` with distractors drawn by product popularity (module docstring)."""
    items = items_df.reset_index(drop=True)
    idx = _Index(items)
    rng = np.random.default_rng(seed)
    per_row = pd.Series(idx.product).map(pd.Series(idx.product).value_counts()).to_numpy(dtype=float)
    weight = np.array([popularity.get(p, 1.0) if p else 1.0 for p in idx.product], dtype=float) / per_row
    n_neg = fitb.candidates.shape[1] - 1
    cands, correct = [], []
    for q, c in zip(fitb.candidates, fitb.correct):
        true = q[c]
        excl = idx.excluded(idx.outfit[true], [true])
        pool = idx.category_rows[idx.category[true]]
        pool = pool[~np.isin(pool, excl)]
        w = weight[pool] / weight[pool].sum()
        negs = pool[rng.choice(len(pool), size=min(n_neg, len(pool)), replace=False, p=w)]
        row = np.concatenate([[true], negs])
        perm = rng.permutation(len(row))
        cands.append(row[perm])
        correct.append(int(np.flatnonzero(perm == 0)[0]))
    return FitbQuestions(fitb.questions, np.asarray(cands, dtype=np.int64).reshape(-1, n_neg + 1),
                         np.asarray(correct, dtype=np.int64))


def product_popularity(items_df: pd.DataFrame) -> dict[str, float]:
    """Outfits each product appears in (over every row given; products without an id are left out)."""
    pid = items_df["product_id"].fillna("").astype(str) if "product_id" in items_df else pd.Series([], dtype=str)
    counts = items_df.assign(_p=pid)[pid != ""].groupby("_p")["outfit_id"].nunique()
    return {str(k): float(v) for k, v in counts.items()}


@dataclass(frozen=True)
class CompatQuestions:
    """Outfits to score for compatibility: item rows (-1 = padding) and whether each is a real outfit."""
    outfits: np.ndarray      # (2·O, M) rows, -1 padding
    labels: np.ndarray       # (2·O,) 1 = as composed, 0 = corrupted


def build_compat_questions(items_df: pd.DataFrame, seed: int = 0, min_items: int = 3) -> CompatQuestions:
    """Each outfit of ``items_df`` with >= ``min_items`` items, as it is and corrupted (see the module docstring)."""
    items = items_df.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    idx = _Index(items)
    real, fake = [], []
    for oid, rows in idx.outfit_rows.items():   # sorted: deterministic
        if len(rows) < min_items:
            continue
        n_swap = int(rng.integers(1, len(rows) // 2 + 1))
        corrupted = rows.copy()
        excl = idx.excluded(oid, rows)
        for j in rng.choice(len(rows), size=n_swap, replace=False):
            alt = _sample_excluding(rng, idx.category_rows[idx.category[rows[j]]], 1, excl)
            if len(alt):
                corrupted[j] = alt[0]
        if (corrupted != rows).any():
            real.append(rows)
            fake.append(corrupted)
    width = max((len(r) for r in real), default=1)
    return CompatQuestions(_pad(real + fake, width),
                           np.concatenate([np.ones(len(real)), np.zeros(len(fake))]).astype(np.int64))


def select_test_items(items_df: pd.DataFrame) -> pd.DataFrame:
    """The test-split rows of ``items_df`` (all rows when it has no split column); EvaluationError if none."""
    if "split" in items_df.columns:
        items_df = items_df[items_df["split"].astype(str) == "test"]
    if items_df.empty:
        raise EvaluationError("no test-split items to evaluate on; build the dataset first (it assigns splits)")
    return items_df


def build_fitb_questions(items_df: pd.DataFrame, config: EvalConfig = EvalConfig()) -> FitbQuestions:
    """The FITB questions alone (as ``build_protocol`` draws them, without Recall@K's need for 5-item outfits)."""
    fitb, _ = _fitb_questions(_Index(items_df.reset_index(drop=True)), config, np.random.default_rng(config.seed))
    return fitb


def build_protocol(items_df: pd.DataFrame, config: EvalConfig = EvalConfig()) -> Protocol:
    """Draw every corpus and FITB question for ``items_df`` (all rows are used: pass the test rows only)."""
    if config.fitb_candidates < 2:
        raise ValueError(f"fitb_candidates must be >= 2, got {config.fitb_candidates}")
    items = items_df.reset_index(drop=True)
    rng = np.random.default_rng(config.seed)
    idx = _Index(items)
    outfits, note = _select_outfits(items, config, rng)
    all_cat = _recall_corpora(idx, outfits, config, rng, None)
    per_cat: dict[str, RecallCorpora] = {}
    for cat in sorted(idx.category_rows, key=lambda c: CATEGORY_INDEX.get(c, 99)):
        if len(idx.category_rows[cat]) < config.min_category_items:
            continue
        corp = _recall_corpora(idx, outfits, config, rng, cat)
        if corp is not None:
            per_cat[cat] = corp
    fitb, skipped = _fitb_questions(idx, config, rng)
    return Protocol(config, len(items), len(outfits), all_cat, per_cat, fitb, note, skipped)
