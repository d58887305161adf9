"""Re-ranking cost: the outfit model's stage alone at the serving benchmark's candidate sizes, and whole catalogue
recommendations with and without it on a built workspace.

- ``run_rerank_bench``: an outfit model of the default size (``OutfitModelConfig``; weights do not change the
  cost) over synthetic features, ``OutfitReranker.scores`` for ``categories`` complementary categories of
  ``candidates`` each and a query of 1-5 products: p50/p99 ms. The stage's cost depends on the candidates it
  re-orders and the query's size, not on the catalogue's (the keys are precomputed), so these are the 1M-item
  benchmark's figures too (it serves 4 categories x top 10, pools deepened to 50 when re-ranking).
- ``run_recommend_bench``: ``Recommender.recommend`` for ``n_queries`` seeded catalogue products of a workspace,
  re-ranking on and off (same queries, interleaved): p50/p99 of the total and of the re-ranking stage.

``python -m ctl_core bench rerank [--model M] [--n-queries Q]`` runs both (the second when the workspace has the
model's indices and an outfit model).
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from ctl_core.config import Workspace
from ctl_core.data.categories import CATEGORIES
from ctl_core.model.outfit import OutfitModelConfig, OutfitTransformer
from ctl_core.serving.rerank import OutfitReranker


def _pct(ms: Sequence[float]) -> dict[str, float]:
    a = np.asarray(ms, dtype=float)
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)), "n": int(len(a))}


def run_rerank_bench(candidates: Sequence[int] = (50, 200), categories: int = 4, query_sizes: Sequence[int] = (1, 5),
                     in_dim: int = 1280, n_items: int = 20_000, repeats: int = 200, seed: int = 0) -> dict:
    """Milliseconds of the re-ranking stage per query (module docstring)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = OutfitTransformer(OutfitModelConfig(in_dim=in_dim)).eval()
    ids = [f"i{i}" for i in range(n_items)]
    cats = [CATEGORIES[i % len(CATEGORIES)] for i in range(n_items)]
    t0 = time.perf_counter()
    rr = OutfitReranker(model, ids, rng.standard_normal((n_items, in_dim)).astype(np.float32), cats)
    out: dict = {"load_ms_per_1k_products": (time.perf_counter() - t0) * 1e3 / (n_items / 1000),
                 "threads": torch.get_num_threads(), "runs": []}
    for n_cand in candidates:
        for q in query_sizes:
            times = []
            for _ in range(repeats):
                query = rr.query_tokens([ids[j] for j in rng.integers(n_items, size=q)])
                pools = [[ids[j] for j in rng.integers(n_items, size=n_cand)] for _ in range(categories)]
                t = time.perf_counter()
                rr.scores(query, list(CATEGORIES[:categories]), pools)
                times.append((time.perf_counter() - t) * 1e3)
            out["runs"].append({"candidates": n_cand, "categories": categories, "query_products": q,
                                **_pct(times[5:])})  # the first few warm up the allocator
    return out


def run_recommend_bench(ws: Workspace, method: str = "triplet-category", n_queries: int = 200, k: int = 10,
                        seed: int = 0) -> dict:
    """Whole recommendations for seeded catalogue products, re-ranking on and off (module docstring)."""
    from ctl_core.serving.recommender import Recommender, RerankConfig

    t0 = time.perf_counter()
    rec = Recommender(ws, method)
    load_s = time.perf_counter() - t0
    if rec.reranker is None:
        return {"skipped": "no outfit model in the workspace (python -m ctl_core train --method outfit-transformer)"}
    ids = [r["product_id"] for r in rec._preds]
    picks = [ids[i] for i in np.random.default_rng(seed).choice(len(ids), size=min(n_queries, len(ids)),
                                                                 replace=False)]
    on, off, stage = [], [], []
    for pid in picks[:5]:  # warm-up
        rec.recommend(item_id=pid, k=k)
    for pid in picks:
        a = rec.recommend(item_id=pid, k=k, rerank=RerankConfig(enabled=True))
        b = rec.recommend(item_id=pid, k=k, rerank=RerankConfig(enabled=False))
        on.append(a.timings_ms["total"])
        stage.append(a.timings_ms.get("reranking", 0.0))
        off.append(b.timings_ms["total"])
    return {"method": method, "catalogue_products": len(ids), "load_s": load_s, "k": k,
            "threads": torch.get_num_threads(), "with_rerank": _pct(on), "rerank_stage": _pct(stage),
            "without_rerank": _pct(off)}


def format_rerank(res: dict) -> str:
    """Markdown of ``bench rerank``'s figures (ms, p50 / p99)."""
    lines = ["| re-ranking stage alone | candidates per category | query products | p50 ms | p99 ms |",
             "|---|---:|---:|---:|---:|"]
    for r in res["stage"]["runs"]:
        lines.append(f"| {r['categories']} categories | {r['candidates']} | {r['query_products']} | "
                     f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} |")
    cat = res.get("catalogue")
    if cat and "skipped" not in cat:
        lines += ["", f"Whole catalogue recommendations ({cat['method']}, {cat['catalogue_products']:,} products, "
                      f"k = {cat['k']}, n = {cat['with_rerank']['n']} seeded queries, {cat['threads']} thread(s)):", "",
                  "| | p50 ms | p99 ms |", "|---|---:|---:|"]
        for key, name in (("without_rerank", "without re-ranking"), ("with_rerank", "with re-ranking (total)"),
                          ("rerank_stage", "re-ranking stage")):
            lines.append(f"| {name} | {cat[key]['p50_ms']:.1f} | {cat[key]['p99_ms']:.1f} |")
    return "\n".join(lines)
