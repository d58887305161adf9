"""The four-stage CTL recommender (paper sec. 3): query understanding → candidate generation → full scoring → blending.

1. Query understanding: a catalogue product uses its stored embedding and prediction (its TRUE category when
   the catalogue knows it); an uploaded image is loaded safely, featurized, classified, and scored as a
   product shot (non-product shots are refused or flagged, ``RecommenderConfig.on_non_product``). The query
   category expands to its complementary categories (``categories.complementary_categories``; never its own).
2. Candidate generation: the per-category indices of those categories (``ctl_core.serving.index``).
3. Full scoring: ANN search of the query's style embedding in each, Euclidean distance; the query product
   itself is excluded.
4. Blending (``blend``): merge the per-category lists into one ordering of ``k`` results.
   Default ``strategy="round_robin"``: rank 1 of every category first (ordered among themselves by score),
   then rank 2 of every category, and so on — every served category is represented once ``k`` reaches the
   number of categories, and a category with generally smaller distances cannot crowd out the others.
   ``strategy="distance"`` merges purely by score. The score (lower is better) is the Euclidean distance plus
   two optional terms, both off by default (the paper's future work):
     - price-aware: ``price_weight · |log(price_candidate) − log(price_query)|`` (no $8,000 ring with a $20
       dress); items or queries without a price get no penalty;
     - diversity (MMR-style): ``diversity · max(0, max cosine similarity to results already chosen)``,
       recomputed at every pick, so near-duplicates of chosen items move down.
   When a term is on, each category's pool is deepened (``oversample``) so re-ranking has room to act.
   Duplicates (``dedupe``, on by default; what a product manager must not see twice in one list): once an item
   is picked, every candidate of the same ``group_id`` (colour variants of one model, from the catalogue) and
   every candidate of its category whose backbone features (the shared feature cache; the style vectors where
   the model has no cached backbone) have cosine similarity above ``duplicate_cosine`` with it (near-identical
   images, e.g. the demo's repeated "Silver ring": 0.98-0.99; the gold one beside them: 0.88) is dropped from the
   blended list and from the per-category lists. Only within a category: compatible items of different
   categories are close on purpose. Not the style vectors: on Mango (triplet-category) 3,304 same-category
   pairs exceed 0.98 there, mostly distinct products (a rust turtleneck and a white shirt at 0.981); their
   backbone cosine has median 0.81.
   ``dedupe=False`` (``recommend --show-duplicates``, the app's sidebar toggle) shows them.

``serve`` (stages 2–4 over a query vector) is shared by ``Recommender`` and the serving benchmark.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO

import numpy as np
from PIL import Image

from ctl_core.config import Workspace
from ctl_core.data.categories import CATEGORIES, CATEGORY_INDEX, outfit_complements
from ctl_core.data.tables import read_catalogue
from ctl_core.images import PRODUCT_SHOT_THRESHOLD, load_image, to_rgb
from ctl_core.io import to_jsonable
from ctl_core.model import features as features_mod
from ctl_core.serving.adapter import ModelAdapter
from ctl_core.serving.catalogue import load_catalogue_inference
from ctl_core.serving.diversity import mmr_positions
from ctl_core.serving.index import CategoryIndices, IndexMismatchError
from ctl_core.serving.product_shot import ProductShotScorer, import_flag, served_as_product_shot
from ctl_core.serving.rerank import OutfitReranker, RerankConfig
from ctl_core.serving.understand import shot_warning, understand_pil

MAX_OUTFIT_ITEMS = 5  # a query outfit: one product (or photo) and up to four more


class RecommendError(ValueError):
    """A query the recommender cannot answer (unknown product, bad category choice, ...)."""


class NotProductShotError(RecommendError):
    """The query image does not look like a product shot and the recommender is set to refuse those."""


@dataclass(frozen=True)
class BlendConfig:
    """How per-category lists merge into one ordering (see the module docstring)."""

    strategy: str = "round_robin"  # "round_robin" | "distance"
    price_weight: float = 0.0
    diversity: float = 0.0
    per_category_k: int | None = None  # items kept per category in ``per_category``; None: k
    oversample: int = 3  # pool depth multiplier when a re-ranking term (or dedupe) is on
    dedupe: bool = True  # drop colour variants (same group_id) and near-identical images of picked items
    duplicate_cosine: float = 0.97  # backbone-feature cosine above which two items count as the same image
    row_diversity: float = 0.2  # MMR within each category row over backbone features (ctl_core.serving.diversity)

    def __post_init__(self):
        if self.strategy not in ("round_robin", "distance"):
            raise ValueError(f"unknown blending strategy {self.strategy!r}; use 'round_robin' or 'distance'")
        if self.price_weight < 0 or self.diversity < 0 or self.row_diversity < 0:
            raise ValueError("price_weight, diversity and row_diversity must be >= 0")
        if not -1.0 <= self.duplicate_cosine <= 1.0:
            raise ValueError(f"duplicate_cosine must be in [-1, 1], got {self.duplicate_cosine}")

    @property
    def reranks(self) -> bool:
        """Whether pools need depth and stored vectors (a re-ranking term or dedupe is on)."""
        return bool(self.price_weight or self.diversity or self.dedupe or self.row_diversity)


@dataclass(frozen=True)
class RecommenderConfig:
    on_non_product: str = "warn"  # "warn" | "refuse"
    product_shot_threshold: float | None = None  # None: the threshold the indices were built with
    use_gpu: bool | None = None

    def __post_init__(self):
        if self.on_non_product not in ("warn", "refuse"):
            raise ValueError(f"on_non_product must be 'warn' or 'refuse', got {self.on_non_product!r}")


@dataclass
class Result:
    item_id: str
    category: str
    distance: float
    price: float | None = None
    score: float = 0.0  # blended score: distance + active penalties (lower is better)
    image_path: str = ""
    title: str = ""


@dataclass
class QueryUnderstanding:
    item_id: str | None
    category: str  # the category expanded from (catalogue's true one for items when known, else predicted)
    predicted_category: str
    confidence: float
    product_shot_score: float
    is_product_shot: bool
    warning: str | None
    complementary: list[str]  # categories served, in serving order
    category_source: str = "predicted"  # "catalogue" | "predicted"
    price: float | None = None
    outfit: list[dict] = field(default_factory=list)  # every product of the query: {"item_id", "category"}
    reranked: bool = False  # whether the outfit model re-ordered the candidates


@dataclass
class Recommendation:
    query: QueryUnderstanding
    results: list[Result]
    per_category: dict[str, list[Result]]
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain JSON-serialisable dict (what ``recommend --json`` prints); NaN becomes null."""
        return to_jsonable(asdict(self))


# -- stages 2-4, shared with the benchmark -------------------------------------------------------------------------

def _price_penalty(prices: np.ndarray, query_price: float | None, weight: float) -> np.ndarray:
    if not weight or query_price is None or not (query_price > 0):
        return np.zeros(len(prices))
    p = np.asarray(prices, dtype=float)
    ok = np.isfinite(p) & (p > 0)
    out = np.zeros(len(p))
    out[ok] = weight * np.abs(np.log(p[ok]) - math.log(query_price))
    return out


@dataclass
class _Pool:
    """One category's candidates, ordered by base score (distance + price penalty)."""

    category: str
    ids: list
    distances: np.ndarray
    base: np.ndarray
    prices: np.ndarray
    vectors: np.ndarray | None = None
    groups: list[str] = field(default_factory=list)  # group_id per candidate ('' = none)
    looks: np.ndarray | None = None  # unit backbone features per candidate (near-identical images); None: vectors

    def reorder(self, order: np.ndarray, base: np.ndarray) -> None:
        """Put the candidates in ``order`` with new blending scores ``base`` (a re-ranking stage)."""
        order = np.asarray(order, dtype=np.int64)
        self.ids = [self.ids[i] for i in order]
        self.groups = [self.groups[i] for i in order] if self.groups else self.groups
        self.distances, self.prices, self.base = self.distances[order], self.prices[order], np.asarray(base, float)
        self.vectors = None if self.vectors is None else self.vectors[order]
        self.looks = None if self.looks is None else self.looks[order]


def _duplicates(pools: Sequence[_Pool], pool: _Pool, pos: int, config: BlendConfig) -> list[np.ndarray]:
    """Per pool, the candidates that duplicate ``pool``'s candidate ``pos`` (same group or near-identical image)."""
    group = pool.groups[pos] if pool.groups else ""
    looks = pool.looks if pool.looks is not None else pool.vectors
    out = []
    for p in pools:
        m = np.zeros(len(p.ids), bool)
        if group and p.groups:
            m |= np.array([g == group for g in p.groups], dtype=bool)
        if looks is not None and p is pool and len(p.ids):  # near-identical images: within a category only
            m |= looks @ looks[pos] > config.duplicate_cosine
        out.append(m)
    return out


def dedupe_positions(pool: _Pool, n: int, config: BlendConfig) -> list[int]:
    """The first ``n`` positions of ``pool`` that duplicate no earlier kept one (all of them without dedupe)."""
    if not config.dedupe:
        return list(range(min(n, len(pool.ids))))
    kept, blocked = [], np.zeros(len(pool.ids), bool)
    for i in range(len(pool.ids)):
        if len(kept) == n:
            break
        if not blocked[i]:
            kept.append(i)
            blocked |= _duplicates([pool], pool, i, config)[0]
    return kept


def row_positions(pool: _Pool, n: int, config: BlendConfig) -> list[int]:
    """The positions of ``pool`` its category row shows: ``dedupe_positions``, spread by ``config.row_diversity``."""
    if not config.row_diversity:
        return dedupe_positions(pool, n, config)
    looks = pool.looks if pool.looks is not None else pool.vectors
    dup = (lambda i: _duplicates([pool], pool, i, config)[0]) if config.dedupe else None
    return mmr_positions(pool.base, looks, n, config.row_diversity, dup)


def blend(pools: Sequence[_Pool], k: int, config: BlendConfig) -> list[tuple[_Pool, int, float]]:
    """Merge per-category pools into ``k`` picks ``(pool, position, score)``; see the module docstring."""
    heads = [0] * len(pools)  # fast path: without diversity, a pool's best remaining is its head
    taken = [np.zeros(len(p.ids), bool) for p in pools]
    chosen_vecs: list[np.ndarray] = []
    picks: list[tuple[_Pool, int, float]] = []
    total = sum(len(p.ids) for p in pools)
    k = min(k, total)

    def best(j: int) -> tuple[int, float] | None:
        p = pools[j]
        if config.diversity and chosen_vecs and p.vectors is not None:
            free = np.flatnonzero(~taken[j])
            if not len(free):
                return None
            sim = p.vectors[free] @ np.stack(chosen_vecs).T
            adj = p.base[free] + config.diversity * np.maximum(sim.max(axis=1), 0.0)
            i = int(np.argmin(adj))
            return int(free[i]), float(adj[i])
        while heads[j] < len(p.ids) and taken[j][heads[j]]:
            heads[j] += 1
        return (heads[j], float(p.base[heads[j]])) if heads[j] < len(p.ids) else None

    def block(j: int, pos: int) -> None:  # a pick makes its duplicates unavailable
        taken[j][pos] = True
        if config.dedupe:
            for t, m in zip(taken, _duplicates(pools, pools[j], pos, config)):
                t |= m

    def take(j: int, pos: int, score: float) -> None:
        block(j, pos)
        if pools[j].vectors is not None:
            chosen_vecs.append(pools[j].vectors[pos])
        picks.append((pools[j], pos, score))

    if config.strategy == "distance":
        while len(picks) < k:
            cands = [(b[1], j, b[0]) for j in range(len(pools)) if (b := best(j)) is not None]
            if not cands:  # duplicates removed left fewer than k
                break
            score, j, pos = min(cands)
            take(j, pos, score)
        return picks
    while len(picks) < k:  # round robin: one per category per round, the round ordered by score
        round_picks = []
        for j in range(len(pools)):
            b = best(j)
            if b is None:
                continue
            if config.diversity and pools[j].vectors is not None:
                take(j, b[0], b[1])  # later picks in this round see it
                picks.pop()
            else:
                block(j, b[0])
            round_picks.append((b[1], j, b[0]))
        if not round_picks:  # duplicates removed left fewer than k
            break
        for score, j, pos in sorted(round_picks)[: k - len(picks)]:
            picks.append((pools[j], pos, score))
    return picks


def serve(indices: CategoryIndices, query_vec: np.ndarray, categories: Sequence[str], k: int,
          blend_config: BlendConfig = BlendConfig(), exclude: set | frozenset | None = None,
          query_price: float | None = None, item_info: Callable[[str], dict] | None = None,
          looks: Callable[[list], np.ndarray | None] | None = None,
          rerank: Callable[[list[_Pool]], float] | None = None, rerank_depth: int = 0,
          ) -> tuple[dict[str, list[Result]], list[Result], dict[str, float]]:
    """Stages 2–4 for one query vector: (per-category lists, blended results, timings in ms).

    ``item_info(item_id) -> {"price", "title", "image_path", "group_id"}`` enriches results (and feeds the price
    term and dedupe); ``looks(item_ids) -> (n, D) unit backbone features`` (or None) judges near-identical images
    for dedupe, else the stored style vectors do. ``rerank(pools) -> ms`` re-orders each category's pool (at least
    the top ``rerank_depth`` by distance) between scoring and blending (``ctl_core.serving.rerank``).
    """
    bc = blend_config
    t0 = time.perf_counter()
    cats = [c for c in categories if c in indices]  # stage 2: candidate generation = the categories' indices
    per_k = bc.per_category_k or k
    depth = max(per_k, k) * (bc.oversample if bc.reranks else 1)
    if rerank is not None:
        depth = max(depth, rerank_depth)
    t1 = time.perf_counter()
    pools: list[_Pool] = []
    for c in cats:  # stage 3: full scoring
        pos, dist = indices.search_local(c, query_vec, depth + (len(exclude) if exclude else 0))
        ids = indices.ids[c][pos]
        if exclude:
            keep = np.array([x not in exclude for x in ids], dtype=bool)
            pos, ids, dist = pos[keep], ids[keep], dist[keep]
        pos, ids, dist = pos[:depth], list(ids[:depth]), dist[:depth]
        infos = [item_info(i) for i in ids] if item_info else None
        prices = np.array([_as_price(x.get("price")) for x in infos], dtype=float) if infos else \
            np.full(len(ids), np.nan)
        base = dist.astype(float) + _price_penalty(prices, query_price, bc.price_weight)
        order = np.argsort(base, kind="stable")
        vecs = indices.vectors(c, pos[order]) if (bc.diversity or bc.dedupe or bc.row_diversity) else None
        groups = [str((infos[i].get("group_id") if infos else "") or "") for i in order]
        cand = [ids[i] for i in order]
        pools.append(_Pool(c, cand, dist[order], base[order], prices[order], vecs, groups,
                           looks(cand) if (looks is not None and (bc.dedupe or bc.row_diversity)) else None))
    rerank_ms = rerank(pools) if rerank is not None else None
    t2 = time.perf_counter()

    def result(p: _Pool, i: int, score: float) -> Result:  # stage 4: blending
        info = item_info(p.ids[i]) if item_info else {}
        return Result(item_id=str(p.ids[i]), category=p.category, distance=float(p.distances[i]),
                      price=_as_price(info.get("price")), score=float(score),
                      image_path=str(info.get("image_path", "") or ""), title=str(info.get("title", "") or ""))

    per_category = {p.category: [result(p, i, p.base[i]) for i in row_positions(p, per_k, bc)] for p in pools}
    results = [result(p, i, s) for p, i, s in blend(pools, k, bc)]
    t3 = time.perf_counter()
    timings = {"candidates": (t1 - t0) * 1e3, "scoring": (t2 - t1) * 1e3 - (rerank_ms or 0.0)}
    if rerank_ms is not None:  # its own stage, between scoring and blending
        timings["reranking"] = rerank_ms
    timings["blending"] = (t3 - t2) * 1e3
    return per_category, results, timings


def _as_price(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


# -- stage 1 and the whole pipeline ----------------------------------------------------------------------------------

def understand_image(adapter: ModelAdapter, image: Image.Image | bytes | str | os.PathLike | IO[bytes],
                     scorer: ProductShotScorer | None = None, return_features: bool = False) -> tuple:
    """Load (safely), featurize and classify one image: (embedding, predicted category, confidence, shot score),
    and with ``return_features`` its backbone feature (D,) last.

    The same stage 1 as ``python -m ctl_core understand`` (``understand.understand_pil``: test-time flip, the
    product-shot scorer). A bad image raises ``ctl_core.images.ImageError`` naming the problem.
    """
    draft = adapter.backbone.preprocess.resize if adapter.backbone is not None else None  # JPEG: decode smaller
    img = to_rgb(image) if isinstance(image, Image.Image) else load_image(image, draft=draft)
    probs, emb, shots, feats = understand_pil(adapter, [img], scorer=scorer, return_features=True)
    top = int(probs[0].argmax())
    out = (emb[0], CATEGORIES[top], float(probs[0, top]), float(shots[0]))
    return (*out, feats[0]) if return_features else out


class Recommender:
    """Loads the model, the indices and the catalogue once; ``recommend`` runs the four stages."""

    def __init__(self, ws: Workspace, method: str, device: str = "auto",
                 config: RecommenderConfig = RecommenderConfig(), adapter: ModelAdapter | None = None):
        self.ws, self.method, self.config = ws, method, config
        self.adapter = adapter or ModelAdapter.load(ws, method, device)
        self.indices = CategoryIndices.load(ws, method, expected_checksum=self.adapter.checksum,
                                            use_gpu=config.use_gpu)
        preds, emb, meta = load_catalogue_inference(ws, method)
        if meta.get("model_checksum") != self.adapter.checksum:
            raise IndexMismatchError(f"catalogue embeddings of {method!r} come from another model; run: "
                                     f"python -m ctl_core index --model {method}")
        self._emb = emb
        self._row = {pid: i for i, pid in enumerate(preds["product_id"])}
        self._preds = preds.to_dict("records")
        cat = read_catalogue(ws.catalogue_csv).drop_duplicates("product_id")
        self._info = {r["product_id"]: {"price": _as_price(r["price"]), "title": r["title"],
                                        "image_path": r["image_path"], "category": r["category"],
                                        "group_id": r.get("group_id", ""),
                                        "is_product_shot": import_flag(r.get("is_product_shot", ""))}
                      for r in cat.to_dict("records")}
        self.scorer = ProductShotScorer.load(ws, self.adapter.backbone)  # the person detector when fitted
        self._looks = self._catalogue_looks(ws, preds)
        ids = list(preds["product_id"])
        self.reranker = OutfitReranker.load(  # None until the outfit model is trained
            ws, ids, [self._info.get(i, {}).get("image_path", "") for i in ids], [self._category_of(i) for i in ids],
            backbone=self.adapter.backbone if self.adapter.use_feature_cache else None)
        self.threshold = (config.product_shot_threshold if config.product_shot_threshold is not None
                          else float(self.indices.manifest.get("product_shot_threshold", PRODUCT_SHOT_THRESHOLD)))

    def _catalogue_looks(self, ws: Workspace, preds) -> np.ndarray | None:
        """Unit backbone features of the catalogue (the shared feature cache; stored styles judge near-identical
        images poorly: on Mango, pairs of distinct products reach 0.98 cosine), or None without a real backbone."""
        if self.adapter.backbone is None or not self.adapter.use_feature_cache or not len(preds):
            return None
        sources = [(self._info.get(pid, {}).get("image_path", ""), None) for pid in preds["product_id"]]
        feats, bad = features_mod.cached_features(ws, self.adapter.backbone, sources, skip_bad=True)
        feats[bad] = 0.0
        return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)

    def _looks_of(self, item_ids: list) -> np.ndarray | None:
        return None if self._looks is None else self._looks[[self._row[i] for i in item_ids]]

    def _item_info(self, item_id: str) -> dict:
        return self._info.get(item_id, {})

    def _category_of(self, item_id: str, with_source: bool = False):
        """A catalogue product's category: the shop's own when it has one, else the predicted one (with
        ``with_source``: and "catalogue" or "predicted")."""
        r = self._preds[self._row[item_id]]
        true_cat = r.get("category") or self._info.get(item_id, {}).get("category") or ""
        found = (true_cat, "catalogue") if true_cat in CATEGORY_INDEX else (r["pred_category"], "predicted")
        return found if with_source else found[0]

    def _catalogue_query(self, item_id: str) -> dict:
        """Stage 1 for a catalogue product: its stored embedding, prediction and (shop's or predicted) category."""
        item_id = str(item_id)
        if item_id not in self._row:
            if item_id in self._info:
                raise RecommendError(f"product {item_id!r} has no embedding yet (unreadable image or added "
                                     f"after indexing); run: python -m ctl_core index --model {self.method}")
            raise RecommendError(f"unknown product id {item_id!r}")
        r = self._preds[self._row[item_id]]
        category, source = self._category_of(item_id, with_source=True)
        return {"item_id": item_id, "vec": self._emb[self._row[item_id]], "pred": r["pred_category"],
                "conf": float(r["confidence"]), "shot": float(r["product_shot_score"]), "category": category,
                "source": source,
                "price": self._info.get(item_id, {}).get("price"),
                "flag": self._info.get(item_id, {}).get("is_product_shot")}  # the import's word, as indexing takes

    def recommend(self, item_id: str | None = None, image=None, k: int = 10, max_categories: int | None = None,
                  categories: Sequence[str] | None = None, blend: BlendConfig = BlendConfig(),
                  on_non_product: str | None = None, items: Sequence[str] = (),
                  rerank: RerankConfig = RerankConfig()) -> Recommendation:
        """Complementary products for a catalogue ``item_id`` or an ``image`` (PIL image, bytes, path or file),
        optionally with more catalogue products ``items`` of the same outfit (a partial outfit).

        A partial outfit is served only the categories that complete EVERY product in it (the intersection of their
        complementary categories, so none of the outfit's own slots); the ANN query is the normalised mean of the
        products' style embeddings, and the outfit model (``rerank``, when the workspace has one) re-orders each
        category's top ``rerank.candidates`` given all of them. ``QueryUnderstanding`` describes the first product
        (or the image); ``outfit`` lists every product with its category.

        ``on_non_product`` ("warn" | "refuse"; None: the config's): what a query that does not look like a product
        shot gets — a warning beside the results, or ``NotProductShotError``.
        """
        mode = self.config.on_non_product if on_non_product is None else on_non_product
        if mode not in ("warn", "refuse"):
            raise RecommendError(f"on_non_product must be 'warn' or 'refuse', got {mode!r}")
        if (item_id is None) == (image is None):
            raise RecommendError("give exactly one of item_id or image")
        if k < 1:
            raise RecommendError(f"k must be at least 1, got {k}")
        if len(items) > MAX_OUTFIT_ITEMS - 1:
            raise RecommendError(f"a partial outfit holds at most {MAX_OUTFIT_ITEMS} products, got {len(items) + 1}")
        t0 = time.perf_counter()
        upload_feats = None
        if item_id is not None:
            first = self._catalogue_query(item_id)
        else:
            vec, pred, conf, shot, feat = understand_image(self.adapter, image, self.scorer, return_features=True)
            first = {"item_id": None, "vec": vec, "pred": pred, "conf": conf, "shot": shot, "category": pred,
                     "source": "predicted", "price": None, "flag": None}
            if self.reranker is not None and rerank.enabled and self.reranker.takes_features_of(self.adapter):
                upload_feats = feat[None, :]  # the outfit model's token of the upload: the same backbone feature
        members = [first] + [self._catalogue_query(i) for i in items]
        ids = [m["item_id"] for m in members if m["item_id"] is not None]
        if len(set(ids)) != len(ids):
            raise RecommendError("the same product is in the outfit twice")
        is_shot = bool(served_as_product_shot([first["shot"]], [first["flag"]], self.threshold)[0])
        warning = None if is_shot else (shot_warning(first["shot"], self.threshold)
                                        or "the catalogue marks this image as not a product shot")
        if warning and mode == "refuse":
            raise NotProductShotError(warning)
        comp = outfit_complements([m["category"] for m in members])
        if categories is not None:
            bad = [c for c in categories if c not in comp]
            if bad:
                raise RecommendError(f"{', '.join(map(repr, bad))} do not complete "
                                     f"{' + '.join(repr(m['category']) for m in members)}; "
                                     f"choose among {', '.join(comp)}")
            comp = [c for c in comp if c in set(categories)]
        if max_categories is not None:
            comp = comp[:max(0, int(max_categories))]
        served = [c for c in comp if c in self.indices]
        vec = np.mean([m["vec"] for m in members], axis=0)
        vec = (vec / max(float(np.linalg.norm(vec)), 1e-12)).astype(np.float32)
        reranker = None
        if self.reranker is not None and rerank.enabled:
            query_tokens = self.reranker.query_tokens(ids, upload_feats, [first["category"]])
            if len(query_tokens):  # nothing of the query known to the outfit model: pairwise order alone
                reranker = lambda pools: self.reranker.rerank(query_tokens, pools, rerank.pairwise_weight)
        t1 = time.perf_counter()
        per_category, results, timings = serve(self.indices, vec, served, k, blend, exclude=frozenset(ids),
                                               query_price=first["price"], item_info=self._item_info,
                                               looks=self._looks_of, rerank=reranker,
                                               rerank_depth=rerank.candidates)
        t2 = time.perf_counter()
        missing = [c for c in comp if c not in self.indices]
        if missing and warning is None and len(missing) == len(comp):
            warning = "no indexed products in the complementary categories"
        if not comp and warning is None:
            warning = "the outfit already fills every category that could complete it"
        q = QueryUnderstanding(item_id=first["item_id"], category=first["category"], predicted_category=first["pred"],
                               confidence=first["conf"], product_shot_score=first["shot"],
                               is_product_shot=bool(is_shot), warning=warning, complementary=served,
                               category_source=first["source"], price=first["price"],
                               outfit=[{"item_id": m["item_id"], "category": m["category"]} for m in members],
                               reranked=reranker is not None)
        timings_ms = {"understanding": (t1 - t0) * 1e3, **timings, "total": (t2 - t0) * 1e3}
        return Recommendation(q, results, per_category, timings_ms)
