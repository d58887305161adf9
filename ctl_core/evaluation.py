"""Offline evaluation (paper sec. 6.1): Recall@K and fill-in-the-blank (FITB), and the Table-4 comparison.

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
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ctl_core.categories import CATEGORY_INDEX
from ctl_core.config import METHODS, Workspace

from ctl_core.progress import Progress  # noqa: E402

TABLE_COLUMNS: list[str] = ["method", "R@1", "R@5", "R@10", "R@1_cat", "R@5_cat", "R@10_cat", "FITB",
                            "category_acc"]
BASELINES: tuple[str, ...] = ("random", "visual")
DEFAULT_BACKBONE = "efficientnet-lite0"

# The paper's Table 4, in PERCENT as printed (our tables hold fractions; format_table converts).
# Only the best row's figures are recorded here; the other rows exist in the paper but are not reproduced
# (None = not reported here). The paper does not say in the text we rely on which corpus mode its R@K uses; we
# file them under the all-category columns.
PAPER_TABLE4: dict[str, dict[str, float | None]] = {
    "classification": {"R@1": None, "R@5": None, "R@10": None, "FITB": None, "category_acc": None},
    "siamese-16to1": {"R@1": None, "R@5": None, "R@10": None, "FITB": None, "category_acc": None},
    "siamese-1to1": {"R@1": None, "R@5": None, "R@10": None, "FITB": None, "category_acc": None},
    "triplet-random": {"R@1": None, "R@5": None, "R@10": None, "FITB": None, "category_acc": None},
    "triplet-category": {"R@1": 20.3, "R@5": 51.4, "R@10": 68.8, "FITB": 78.5, "category_acc": 98.15},
}


class EvaluationError(ValueError):
    """The evaluation cannot run on this data (no test split, too few outfits, missing run)."""


@dataclass(frozen=True)
class EvalConfig:
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


# ----------------------------------------------------------------------------------------------- pure metrics

def recall_at_k(distances: np.ndarray, is_positive: np.ndarray, k: int) -> float:
    """Mean over queries of (positives in the k nearest by ascending distance) / min(#positives, k)."""
    d = np.asarray(distances, dtype=np.float64)
    pos = np.asarray(is_positive, dtype=bool)
    if d.shape != pos.shape or d.ndim != 2:
        raise ValueError(f"distances and is_positive must be (Q, N) of one shape, got {d.shape} and {pos.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n_pos = pos.sum(axis=1)
    keep = n_pos > 0
    if not keep.any():
        return float("nan")
    d, pos, n_pos = d[keep], pos[keep], n_pos[keep]
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    hits = np.take_along_axis(pos, order, axis=1).sum(axis=1)
    return float(np.mean(hits / np.minimum(n_pos, k)))


def fitb_accuracy(dist_sums: np.ndarray, correct_index: np.ndarray) -> float:
    """Share of questions whose lowest-scoring candidate is the correct one."""
    s = np.asarray(dist_sums, dtype=np.float64)
    c = np.asarray(correct_index)
    if s.ndim != 2 or c.shape != (s.shape[0],):
        raise ValueError(f"dist_sums must be (Q, C) and correct_index (Q,), got {s.shape} and {c.shape}")
    if len(c) == 0:
        return float("nan")
    return float(np.mean(np.argmin(s, axis=1) == c))


def category_accuracy(logits_or_pred: np.ndarray, labels: np.ndarray) -> float:
    """Share of items whose predicted category (argmax of (B, C) logits, or (B,) indices) equals the label."""
    p = np.asarray(logits_or_pred)
    y = np.asarray(labels)
    pred = p.argmax(axis=1) if p.ndim == 2 else p
    if pred.shape != y.shape:
        raise ValueError(f"predictions {pred.shape} and labels {y.shape} differ in length")
    if len(y) == 0:
        return float("nan")
    return float(np.mean(pred == y))


def euclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``a`` (..., d) and ``b`` (..., d), broadcast."""
    return np.sqrt(np.maximum(((a - b) ** 2).sum(axis=-1), 0.0))


# ------------------------------------------------------------------------------------------------- protocol

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


def _test_items(items_df: pd.DataFrame) -> pd.DataFrame:
    if "split" in items_df.columns:
        items_df = items_df[items_df["split"].astype(str) == "test"]
    if items_df.empty:
        raise EvaluationError("no test-split items to evaluate on; build the dataset first (it assigns splits)")
    return items_df


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


# ------------------------------------------------------------------------------------------------- scoring

def _corpus_distances(emb: np.ndarray, corp: RecallCorpora, batch: int) -> np.ndarray:
    out = np.empty(corp.corpus.shape, dtype=np.float64)
    for s in range(0, len(corp.queries), batch):
        c = corp.corpus[s:s + batch]
        d = euclidean(emb[corp.queries[s:s + batch]][:, None, :], emb[np.maximum(c, 0)])
        out[s:s + batch] = np.where(c >= 0, d, np.inf)
    return out


def fitb_distance_sums(emb: np.ndarray, fitb: FitbQuestions, batch: int = 512) -> np.ndarray:
    """(Q, C) sum of Euclidean distances from each candidate to the question items (padding ignored)."""
    out = np.empty(fitb.candidates.shape, dtype=np.float64)
    for s in range(0, len(fitb.correct), batch):
        q = fitb.questions[s:s + batch]
        d = euclidean(emb[fitb.candidates[s:s + batch]][:, :, None, :], emb[np.maximum(q, 0)][:, None, :, :])
        out[s:s + batch] = np.where((q >= 0)[:, None, :], d, 0.0).sum(axis=2)
    return out


def score_protocol(emb: np.ndarray, protocol: Protocol) -> dict:
    """Recall@K (both modes), FITB and counts of embeddings ``emb`` (rows aligned with the protocol's items)."""
    emb = np.asarray(emb, dtype=np.float32)
    if emb.ndim != 2 or len(emb) != protocol.n_items:
        raise ValueError(f"emb must be ({protocol.n_items}, d), got {emb.shape}")
    cfg = protocol.config
    out: dict = {}
    d = _corpus_distances(emb, protocol.all_categories, cfg.batch_size)
    for k in cfg.ks:
        out[f"R@{k}"] = recall_at_k(d, protocol.all_categories.positive, k)
    per_cat: dict[str, dict] = {}
    for cat, corp in protocol.per_category.items():
        dc = _corpus_distances(emb, corp, cfg.batch_size)
        row = {f"R@{k}": recall_at_k(dc, corp.positive, k) for k in cfg.ks}
        row["n_queries"] = int(len(corp.queries))
        row["mean_corpus_size"] = float((corp.corpus >= 0).sum(axis=1).mean())
        per_cat[cat] = row
    for k in cfg.ks:
        vals = [r[f"R@{k}"] for r in per_cat.values()]
        out[f"R@{k}_cat"] = float(np.mean(vals)) if vals else float("nan")
    out["FITB"] = fitb_accuracy(fitb_distance_sums(emb, protocol.fitb, cfg.batch_size), protocol.fitb.correct) \
        if len(protocol.fitb.correct) else float("nan")
    out["n_queries"] = int(len(protocol.all_categories.queries))
    out["n_outfits"] = int(protocol.n_outfits)
    out["mean_corpus_size"] = float((protocol.all_categories.corpus >= 0).sum(axis=1).mean())
    out["n_fitb"] = int(len(protocol.fitb.correct))
    out["n_fitb_skipped"] = int(protocol.fitb_skipped)
    out["per_category"] = per_cat
    out["protocol_note"] = protocol.note
    return out


def evaluate_embeddings(emb: np.ndarray, items_df: pd.DataFrame, config: EvalConfig = EvalConfig()) -> dict:
    """Recall@K (all-category and per-category mean), FITB and counts over the test-split rows of ``items_df``.

    ``emb`` (N, d) is aligned with the rows of ``items_df``; rows whose split is not "test" are ignored.
    """
    emb = np.asarray(emb)
    if len(emb) != len(items_df):
        raise ValueError(f"emb has {len(emb)} rows but items_df has {len(items_df)}")
    mask = (items_df["split"].astype(str) == "test").to_numpy() if "split" in items_df.columns \
        else np.ones(len(items_df), dtype=bool)
    test = _test_items(items_df)
    return score_protocol(emb[mask], build_protocol(test, config))


# ------------------------------------------------------------------------------------------- external FITB

def load_fitb_questions(ws: Workspace) -> list[dict]:
    """The imported FITB questions in ``ws.fitb_json`` ([] when there are none)."""
    if not ws.fitb_json.exists():
        return []
    data = json.loads(ws.fitb_json.read_text())
    if not isinstance(data, list):
        raise EvaluationError(f"{ws.fitb_json} must hold a JSON list of questions")
    return data


def fitb_external(questions: Sequence[Mapping], lookup: Mapping[str, np.ndarray]) -> dict:
    """FITB accuracy on supplied questions ({"question", "answers", "correct"}) with item_id -> embedding.

    Unmatched question items are dropped; a question is skipped when none of its question items, or any of its
    answers, has an embedding (dropping an answer would make the question easier). Both are counted.
    """
    sums, correct = [], []
    unmatched_items, skipped = 0, 0
    for q in questions:
        qi = [str(i) for i in q.get("question", [])]
        ans = [str(i) for i in q.get("answers", [])]
        known_q = [lookup[i] for i in qi if i in lookup]
        missing_a = sum(1 for a in ans if a not in lookup)
        unmatched_items += (len(qi) - len(known_q)) + missing_a
        c = int(q.get("correct", 0))
        if not known_q or missing_a or len(ans) < 2 or not 0 <= c < len(ans):
            skipped += 1
            continue
        qv = np.stack(known_q).astype(np.float64)
        av = np.stack([lookup[a] for a in ans]).astype(np.float64)
        sums.append(euclidean(av[:, None, :], qv[None, :, :]).sum(axis=1))
        correct.append(c)
    if not sums:
        acc = float("nan")
    else:
        width = max(len(s) for s in sums)   # answers may differ in number: pad with +inf (never chosen)
        mat = np.full((len(sums), width), np.inf)
        for i, s in enumerate(sums):
            mat[i, :len(s)] = s
        acc = fitb_accuracy(mat, np.asarray(correct))
    return {"FITB_external": acc, "n_fitb_external": len(correct), "n_fitb_external_skipped": skipped,
            "n_unmatched_items": unmatched_items}


# ---------------------------------------------------------------------------------------- model glue (lazy)

def _model_outputs(ws: Workspace, method: str, items: pd.DataFrame,
                   progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Style embeddings (N, 128) and category logits (N, 21) of a trained run over cached backbone features.

    The one place that touches ctl_core.backbone/features/model (integration glue; tests replace it).
    """
    import torch

    from ctl_core.features import cached_features, item_sources
    from ctl_core.model import load_model

    model = load_model(ws, method)
    feats = cached_features(ws, model.backbone, item_sources(items), device="auto", progress=progress)
    heads = model.heads.eval()
    device = next(heads.parameters()).device
    embs, logits = [], []
    with torch.no_grad():
        for s in range(0, len(feats), 4096):
            x = torch.from_numpy(np.ascontiguousarray(feats[s:s + 4096], dtype=np.float32)).to(device)
            embs.append(heads.embed(x).float().cpu().numpy())
            logits.append(heads.classify(x).float().cpu().numpy())
    return np.concatenate(embs), np.concatenate(logits)


def _backbone_features(ws: Workspace, backbone_name: str, items: pd.DataFrame,
                       progress: Progress | None = None) -> np.ndarray:
    """The backbone's own pooled features (N, D) of ``items`` (the "visual" baseline; cached)."""
    from ctl_core.backbone import create_backbone
    from ctl_core.features import cached_features, item_sources

    return cached_features(ws, create_backbone(backbone_name), item_sources(items), device="auto",
                           progress=progress)


# ------------------------------------------------------------------------------------------ Table 4

def trained_methods(ws: Workspace) -> list[str]:
    """Run folders under ws/models holding heads.pt: the paper's methods first, then others by name."""
    root = ws.model_dir("x").parent
    found = sorted(p.parent.name for p in root.glob("*/heads.pt")) if root.exists() else []
    return [m for m in METHODS if m in found] + [m for m in found if m not in METHODS]


def _run_backbone(ws: Workspace, method: str) -> str | None:
    cfg = ws.model_dir(method) / "config.json"
    try:
        return json.loads(cfg.read_text()).get("backbone") if cfg.exists() else None
    except (OSError, json.JSONDecodeError):
        return None


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_json_default, allow_nan=True))
    tmp.replace(path)


def _json_default(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _nan_to_none(v: object) -> object:
    return None if isinstance(v, float) and math.isnan(v) else v


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def evaluate_all(ws: Workspace, methods: Sequence[str] | None = None, config: EvalConfig = EvalConfig(),
                 progress: Progress | None = None, backbone_name: str | None = None,
                 baselines: bool = True) -> pd.DataFrame:
    """Table 4: every trained run (or ``methods``) plus the "random" and "visual" baselines on one protocol.

    Writes ``ws.eval_dir``/table.csv and table.json, and merges each run's metrics into its metrics.json.
    Metrics are fractions in [0, 1]; ``category_acc`` is NaN for baselines.
    """
    from ctl_core.schema import read_items

    items = _test_items(read_items(ws.items_csv)).reset_index(drop=True)
    if methods is None:
        methods = trained_methods(ws)
    methods = list(methods)
    for m in methods:
        if not (ws.model_dir(m) / "heads.pt").exists():
            raise EvaluationError(f"no trained run for {m!r} (missing {ws.model_dir(m) / 'heads.pt'}); "
                                  f"train it first (python -m ctl_core train --method {m})")
    questions = load_fitb_questions(ws)
    ext_ids = {str(i) for q in questions for i in [*q.get("question", []), *q.get("answers", [])]}
    # Items the external questions refer to that are not test items (e.g. train-split rows) are embedded too.
    if ext_ids:
        all_items = read_items(ws.items_csv)
        extra = all_items[all_items["item_id"].isin(ext_ids) & ~all_items["item_id"].isin(items["item_id"])]
        emb_items = pd.concat([items, extra], ignore_index=True)
    else:
        emb_items = items
    n_test = len(items)
    protocol = build_protocol(items, config)
    labels = np.array([CATEGORY_INDEX[c] for c in items["category"]])
    names = [*(BASELINES if baselines else ()), *methods]
    total = len(names)
    rows: list[dict] = []

    def score(name: str, emb: np.ndarray, logits: np.ndarray | None) -> dict:
        res = score_protocol(emb[:n_test], protocol)
        res["category_acc"] = category_accuracy(logits[:n_test], labels) if logits is not None else float("nan")
        if questions:
            res.update(fitb_external(questions, dict(zip(emb_items["item_id"], emb))))
        res["method"] = name
        return res

    for done, name in enumerate(names):
        if progress:
            progress("evaluate", done, total)
        if name == "random":
            rng = np.random.default_rng(config.seed)
            rows.append(score(name, _unit(rng.standard_normal((len(emb_items), 128))), None))
        elif name == "visual":
            bb = backbone_name or next((b for b in (_run_backbone(ws, m) for m in methods) if b), DEFAULT_BACKBONE)
            res = score(name, _unit(_backbone_features(ws, bb, emb_items, progress)), None)
            res["backbone"] = bb
            rows.append(res)
        else:
            emb, logits = _model_outputs(ws, name, emb_items, progress)
            res = score(name, np.asarray(emb, dtype=np.float32), np.asarray(logits))
            rows.append(res)
            _merge_metrics(ws, name, res, config)
    if progress:
        progress("evaluate", total, total)

    columns = TABLE_COLUMNS + (["FITB_external"] if questions else [])
    df = pd.DataFrame([{c: r.get(c, float("nan")) for c in columns} for r in rows], columns=columns)
    ws.eval_dir.mkdir(parents=True, exist_ok=True)
    tmp = ws.eval_dir / "table.csv.tmp"
    df.to_csv(tmp, index=False)
    tmp.replace(ws.eval_dir / "table.csv")
    _write_json(ws.eval_dir / "table.json", {
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "protocol_note": protocol.note,
        "rows": [{k: _nan_to_none(v) for k, v in r.items()} for r in rows],
        "paper": PAPER_TABLE4,
    })
    return df


def _merge_metrics(ws: Workspace, method: str, res: dict, config: EvalConfig) -> None:
    path = ws.model_dir(method) / "metrics.json"
    existing: dict = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text())
            existing = loaded if isinstance(loaded, dict) else {}
        except json.JSONDecodeError:
            existing = {}
    metric_keys = [c for c in TABLE_COLUMNS if c != "method"] + ["FITB_external"]
    existing.update({k: _nan_to_none(res[k]) for k in metric_keys if k in res})
    existing["eval"] = {
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        **{k: _nan_to_none(v) for k, v in res.items() if k not in metric_keys and k != "method"},
    }
    _write_json(path, existing)


def format_table(df: pd.DataFrame, paper: bool = True) -> str:
    """Markdown Table 4 (metrics as percentages), with the paper's reported figures as reference rows."""
    cols = [c for c in [*TABLE_COLUMNS, "FITB_external"] if c in df.columns]
    metric_cols = [c for c in cols if c != "method"]

    def cell(v: object, col: str) -> str:   # fractions -> percent; category accuracy with 2 decimals
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "n/a"
        return f"{float(v) * 100:.2f}" if col == "category_acc" else f"{float(v) * 100:.1f}"

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join([str(r["method"]), *(cell(r[c], c) for c in metric_cols)]) + " |")
    if paper:
        for m, fig in PAPER_TABLE4.items():
            if all(v is None for v in fig.values()):
                continue
            vals = [f"paper: {m}"]
            for c in metric_cols:
                v = fig.get(c)
                vals.append("n/r" if v is None else (f"{v:.2f}" if c == "category_acc" else f"{v:.1f}"))
            lines.append("| " + " | ".join(vals) + " |")
        missing = [m for m, fig in PAPER_TABLE4.items() if all(v is None for v in fig.values())]
        lines.append("")
        lines.append("Percent. n/a: not applicable (baselines have no category head); n/r: not reported here. "
                     "Paper: Li et al., KDD 2020, Table 4 (best method only; rows for "
                     f"{', '.join(missing)} are in the paper but not reproduced here).")
    return "\n".join(lines)
