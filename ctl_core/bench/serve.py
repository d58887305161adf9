"""Serving benchmark: one recommendation over a 1,000,000-item catalogue, per-category ANN vs exact search.

Synthetic corpus: ``n_items`` 128-d unit vectors split across the 21 categories by ``CATEGORY_SHARES``, drawn
from a mixture of many Gaussian clusters in a low-dimensional subspace (plus a little full-dimensional noise)
and normalised — shaped like learned embeddings. (Uniform random vectors are a known worst case for ANN and
would mislead; see the environment notes.)

Measured, with the SAME code the ``Recommender`` runs (``CategoryIndices`` + ``recommender.serve``):
- index build time, index bytes on disk, process RSS;
- latency of one catalogue-item recommendation (4 complementary categories, top ``k`` each, blending
  included): p50 / p99;
- a naive baseline in the same script: exact numpy search over the whole corpus, then filtering by category
  (and the same blending);
- recall@k of the ANN per-category search against exact per-category search;
- the upload path (image bytes in → recommendations out) with the real backbone, and the share of its time
  spent in the backbone (skipped with a note when the model modules or weights are not available).

Run: ``python -m ctl_core bench serve`` (1M items) or ``python -m ctl_core.bench.serve --n-items 100000``.
"""
from __future__ import annotations

import io
import os
import tempfile
import time

import numpy as np
import torch
from PIL import Image, ImageDraw

from ctl_core.config import DEFAULT_BACKBONE
from ctl_core.data.categories import CATEGORIES, CATEGORY_SHARES, complementary_categories
from ctl_core.model import backbone as backbone_mod
from ctl_core.model import ctl_model as model_mod
from ctl_core.model.heads import CTLHeads, HeadsConfig
from ctl_core.progress import Progress
from ctl_core.resources import peak_rss_mb
from ctl_core.serving.adapter import ModelAdapter
from ctl_core.serving.index import CategoryIndices, IndexConfig
from ctl_core.serving.product_shot import PersonDetector, ProductShotScorer
from ctl_core.serving.recommender import BlendConfig, _Pool, blend, serve, understand_image

TARGET_P50_MS = 5.0
TARGET_SPEEDUP = 20.0
TARGET_RECALL = 0.95


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def category_sizes(n_items: int) -> dict[str, int]:
    """Items per category by ``CATEGORY_SHARES``, summing exactly to ``n_items``."""
    raw = {c: CATEGORY_SHARES[c] * n_items for c in CATEGORIES}
    sizes = {c: int(v) for c, v in raw.items()}
    for c in sorted(raw, key=lambda c: raw[c] - sizes[c], reverse=True)[: n_items - sum(sizes.values())]:
        sizes[c] += 1
    return sizes


def synthetic_corpus(n_items: int, dim: int = 128, seed: int = 0, subspace: int = 16, items_per_style: int = 400,
                     category_shift: float = 0.5, spread: float = 0.3, noise: float = 0.02,
                     ) -> tuple[np.ndarray, np.ndarray, dict[str, slice]]:
    """(vectors (N, dim) float32 unit rows grouped by category, category index per row, row slice per category).

    Shaped like a CTL embedding: ``n_items / items_per_style`` style clusters shared by all categories (items
    worn together are close across categories), each category shifted a little (``category_shift``), items
    Gaussian around their style (``spread``) in a ``subspace``-d subspace, plus ``noise`` in all dimensions.
    """
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(dim, subspace)))  # orthonormal columns: the embedding subspace
    basis = basis.T.astype(np.float32)  # (subspace, dim)
    styles = rng.normal(size=(max(8, n_items // items_per_style), subspace)).astype(np.float32)
    sizes = category_sizes(n_items)
    X = np.empty((n_items, dim), np.float32)
    labels = np.empty(n_items, np.int16)
    slices: dict[str, slice] = {}
    start = 0
    for ci, c in enumerate(CATEGORIES):
        n = sizes[c]
        slices[c] = slice(start, start + n)
        labels[start:start + n] = ci
        shift = (category_shift * rng.normal(size=subspace)).astype(np.float32)
        which = rng.integers(0, len(styles), n)
        for s in range(0, n, 200_000):  # chunks keep temporaries small
            e = min(n, s + 200_000)
            pts = styles[which[s:e]] + shift + spread * rng.standard_normal((e - s, subspace), dtype=np.float32)
            v = pts @ basis + noise * rng.standard_normal((e - s, dim), dtype=np.float32)
            X[start + s:start + e] = v / np.linalg.norm(v, axis=1, keepdims=True)
        start += n
    return X, labels, slices


def spread_of(values: list[float]) -> dict[str, float]:
    """Median, min and max of per-repeat figures."""
    a = np.asarray(values, dtype=float)
    return {"median": round(float(np.median(a)), 4), "min": round(float(a.min()), 4),
            "max": round(float(a.max()), 4), "n": int(len(a))}


def _percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50": round(float(np.percentile(a, 50)), 4), "p99": round(float(np.percentile(a, 99)), 4),
            "mean": round(float(a.mean()), 4), "n": int(len(a))}


def _exact_serve(X: np.ndarray, rows_by_cat: dict[str, np.ndarray], q: np.ndarray, cats: list[str], k: int,
                 bc: BlendConfig, exclude: int) -> list:
    """Naive baseline: exact scores over the whole corpus, then filter by category, then the same blending."""
    scores = X @ q
    pools = []
    for c in cats:
        rows = rows_by_cat[c]
        s = scores[rows]
        top = np.argpartition(-s, min(k + 1, len(s) - 1))[: k + 1]
        top = top[np.argsort(-s[top])]
        ids = rows[top]
        keep = ids != exclude
        ids, sc = ids[keep][:k], s[top][keep][:k]
        d = np.sqrt(np.maximum(2.0 - 2.0 * sc, 0.0))
        pools.append(_Pool(c, list(ids), d, d.astype(float), np.full(len(ids), np.nan)))
    return blend(pools, k, bc)


def _product_jpeg(seed: int, px: int = 400) -> bytes:
    """A synthetic product shot: a coloured shape on white, JPEG-encoded (what an upload looks like)."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (px, px), (255, 255, 255))
    d = ImageDraw.Draw(img)
    colour = tuple(int(x) for x in rng.integers(0, 200, 3))
    d.rounded_rectangle((px // 5, px // 6, 4 * px // 5, 5 * px // 6), radius=px // 10, fill=colour)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _upload_bench(indices: CategoryIndices, k: int, categories_per_query: int, n_uploads: int,
                  backbone_name: str, repeats: int = 1) -> dict:
    """Image bytes in → recommendations out, with the real backbone, random heads and a person detector of random
    weights (timing only: the path a workspace with a fitted detector serves), ``repeats`` times."""
    try:
        bb = backbone_mod.create_backbone(backbone_name, pretrained=True)
    except Exception as e:  # missing weights package etc.
        return {"skipped": f"backbone {backbone_name!r} unavailable: {e}"}
    torch.manual_seed(0)
    heads = CTLHeads(HeadsConfig(in_dim=bb.num_features, embed_dim=indices.manifest["embed_dim"])).eval()
    adapter = ModelAdapter.from_model(model_mod.CTLModel(bb, heads), device="cpu")
    rng = np.random.default_rng(0)
    d = bb.num_features
    scorer = ProductShotScorer(PersonDetector("bench", np.zeros(d), np.ones(d), rng.normal(0, 0.01, d), 0.0, {}, {}))
    backbone_ms: list[float] = []
    inner = adapter._featurize_fn

    def timed(images):
        t = time.perf_counter()
        out = inner(images)
        backbone_ms.append((time.perf_counter() - t) * 1e3)
        return out

    adapter._featurize_fn = timed
    images = [_product_jpeg(i) for i in range(n_uploads + 3)]
    runs = []
    for _ in range(max(1, repeats)):
        totals, understanding = [], []
        backbone_ms.clear()
        for i, data in enumerate(images):
            t0 = time.perf_counter()
            vec, cat, conf, shot = understand_image(adapter, data, scorer)
            t1 = time.perf_counter()
            cats = complementary_categories(cat)[:categories_per_query]
            serve(indices, vec, cats, k, BlendConfig())
            t2 = time.perf_counter()
            if i >= 3:  # warm-up excluded
                totals.append((t2 - t0) * 1e3)
                understanding.append((t1 - t0) * 1e3)
        bb_ms = backbone_ms[3:]
        runs.append({"total_ms": _percentiles(totals), "understanding_ms": _percentiles(understanding),
                     "backbone_ms": _percentiles(bb_ms), "backbone_share": round(float(np.sum(bb_ms) /
                                                                                       np.sum(totals)), 4)})
    return {"backbone": f"{backbone_name} (batch norm folded, channels_last, batch 1, "
                        f"{torch.get_num_threads()} threads)", "n_uploads": n_uploads,
            **runs[-1], "repeats": runs,
            "total_p50_ms": spread_of([r["total_ms"]["p50"] for r in runs]),
            "backbone_p50_ms": spread_of([r["backbone_ms"]["p50"] for r in runs])}


def run_serve_bench(n_items: int = 1_000_000, n_queries: int = 1000, k: int = 10, categories_per_query: int = 4,
                    dim: int = 128, seed: int = 0, hnsw_threshold: int = 20_000, ef_search: int = 64,
                    baseline_queries: int = 200, upload: bool = True, n_uploads: int = 20,
                    upload_backbone: str = DEFAULT_BACKBONE, repeats: int = 1,
                    progress: Progress | None = None) -> dict:
    """Build per-category indices over a synthetic clustered corpus and time one recommendation; see the module doc.

    The recommender (duplicate removal on, as served) and the exact baseline are timed in turn, ``repeats`` times;
    ``p50_ms`` etc. are the median and range of the per-repeat percentiles and ``speedup_p50`` the ratio of the two
    medians. ``latency_ms`` / ``baseline_ms`` pool every repeat. Recall is measured apart, without duplicate removal
    and without the rows' diversity re-ranking (which changes the order on purpose).
    """
    say = (lambda s: progress(s, 0, 1)) if progress else (lambda s: None)
    bc = BlendConfig(dedupe=False, row_diversity=0.0)  # ANN recall against exact search: the plain top k
    rss0 = _rss_mb()
    t = time.perf_counter()
    X, labels, slices = synthetic_corpus(n_items, dim=dim, seed=seed)
    gen_s = time.perf_counter() - t
    rss_corpus = _rss_mb()

    say("building indices")
    config = IndexConfig(hnsw_threshold=hnsw_threshold, ef_search=ef_search)
    vecs = {c: X[s] for c, s in slices.items()}
    ids = {c: np.arange(s.start, s.stop, dtype=np.int64) for c, s in slices.items()}
    t = time.perf_counter()
    built = CategoryIndices.build(vecs, ids, config, meta={"method": "bench", "model_checksum": "synthetic"},
                                  progress=progress)
    build_s = time.perf_counter() - t
    rss_built = _rss_mb()
    with tempfile.TemporaryDirectory(prefix="ctl-bench-") as tmp:
        t = time.perf_counter()
        manifest = built.save(tmp)
        save_s = time.perf_counter() - t
        del built
        t = time.perf_counter()
        indices = CategoryIndices.load_dir(tmp, expected_checksum="synthetic")
        load_s = time.perf_counter() - t
    index_bytes = int(sum(e["index_bytes"] for e in manifest["categories"].values()))
    rss_loaded = _rss_mb()

    rng = np.random.default_rng(seed + 1)
    q_rows = rng.choice(n_items, size=n_queries, replace=False)
    queries = [(int(r), CATEGORIES[labels[r]]) for r in q_rows]
    cats_of = {c: complementary_categories(c)[:categories_per_query] for c in CATEGORIES}

    say("timing the recommender and the exact baseline")
    served = BlendConfig()  # what the recommender serves: duplicate removal on (deeper pools)
    for r, c in queries[:20]:  # warm-up
        serve(indices, X[r], cats_of[c], k, served, exclude=frozenset({str(r)}))
    rows_by_cat = {c: np.arange(s.start, s.stop) for c, s in slices.items()}
    nb = min(baseline_queries, n_queries)
    runs: list[dict] = []  # per repeat: the recommender's and the baseline's percentiles, timed in turn
    lat, base, stages = [], [], {"candidates": [], "scoring": [], "blending": []}
    for _ in range(max(1, repeats)):
        lat_r, base_r = [], []
        for r, c in queries:
            t = time.perf_counter()
            _, _, timings = serve(indices, X[r], cats_of[c], k, served, exclude=frozenset({str(r)}))
            lat_r.append((time.perf_counter() - t) * 1e3)
            for key in stages:
                stages[key].append(timings[key])
        for r, c in queries[:nb]:
            t = time.perf_counter()
            _exact_serve(X, rows_by_cat, X[r], cats_of[c], k, served, exclude=r)
            base_r.append((time.perf_counter() - t) * 1e3)
        runs.append({"ann": _percentiles(lat_r), "baseline": _percentiles(base_r)})
        lat += lat_r
        base += base_r

    say("recall against exact per-category search")
    ann_lists = [{cc: [x.item_id for x in lst] for cc, lst in serve(indices, X[r], cats_of[c], k, bc,
                                                                    exclude=frozenset({str(r)}))[0].items()}
                 for r, c in queries]
    hits = {"all": [0, 0], "hnsw": [0, 0]}
    for qi, (r, c) in enumerate(queries):
        for cc in cats_of[c]:
            s = slices[cc]
            sc = X[s] @ X[r]
            kk = min(k, s.stop - s.start)
            exact = set((s.start + np.argpartition(-sc, kk - 1)[:kk]).tolist())
            got = set(int(x) for x in ann_lists[qi].get(cc, []))
            h = len(exact & got)
            kind = "hnsw" if manifest["categories"][cc]["factory"] != "Flat" else "flat"
            for key in ("all", kind) if kind == "hnsw" else ("all",):
                hits[key][0] += h
                hits[key][1] += kk

    upload_res = _upload_bench(indices, k, categories_per_query, n_uploads, upload_backbone, repeats) if upload \
        else {"skipped": "upload=False"}

    p = _percentiles(lat)
    b = _percentiles(base)
    p50, b50 = spread_of([r["ann"]["p50"] for r in runs]), spread_of([r["baseline"]["p50"] for r in runs])
    recall = {key: round(h / n, 4) if n else None for key, (h, n) in hits.items()}
    factories: dict[str, int] = {}
    for e in manifest["categories"].values():
        factories[e["factory"]] = factories.get(e["factory"], 0) + 1
    return {
        "config": {"n_items": n_items, "n_queries": n_queries, "k": k, "categories_per_query": categories_per_query,
                   "dim": dim, "hnsw_threshold": hnsw_threshold, "ef_search": ef_search,
                   "blend": "round_robin", "cpu_count": os.cpu_count(),
                   "corpus": "style clusters shared across categories (~400 items each) in a 16-d subspace, "
                             "per-category shift, normalised"},
        "corpus_s": round(gen_s, 2),
        "build": {"seconds": round(build_s, 2), "save_s": round(save_s, 2), "load_s": round(load_s, 2),
                  "index_types": factories,
                  "per_category": {c: {"factory": e["factory"], "count": e["count"], "build_s": e["build_s"]}
                                   for c, e in manifest["categories"].items()},
                  "index_bytes": index_bytes, "index_mb": round(index_bytes / 2**20, 1),
                  "rss_mb": {"start": round(rss0, 1), "corpus": round(rss_corpus, 1),
                             "after_build": round(rss_built, 1), "after_load": round(rss_loaded, 1),
                             "peak": round(peak_rss_mb(), 1)}},
        "latency_ms": p,
        "stage_p50_ms": {key: round(float(np.median(v)), 4) for key, v in stages.items()},
        "baseline_ms": {**b, "what": "exact numpy X@q over all items, filter by category, top-k, same blending"},
        "repeats": runs,
        "p50_ms": p50, "p99_ms": spread_of([r["ann"]["p99"] for r in runs]),
        "baseline_p50_ms": b50, "baseline_p99_ms": spread_of([r["baseline"]["p99"] for r in runs]),
        "speedup_p50": round(b50["median"] / p50["median"], 1),
        "recall_at_k": recall,
        "upload": upload_res,
        "targets": {f"p50 < {TARGET_P50_MS} ms": p50["median"] < TARGET_P50_MS,
                    f"speedup >= {TARGET_SPEEDUP}x": b50["median"] / p50["median"] >= TARGET_SPEEDUP,
                    f"recall@{k} >= {TARGET_RECALL}": (recall["all"] or 0) >= TARGET_RECALL},
    }
