"""Partial outfits (several query products) and the outfit model's re-ranking stage in the recommender."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ctl_core.cli import main
from ctl_core.data.categories import SLOTS, complementary_categories, outfit_complements
from ctl_core.model.outfit import OutfitModelConfig, OutfitTransformer
from ctl_core.serving.recommender import Recommender, RecommendError, RerankConfig
from ctl_core.serving.rerank import OutfitReranker
from tests.ctl_core.serving.serving_fixtures import IN_DIM, served_workspace

METHOD = "triplet-category"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    ws, adapter, _ = served_workspace(tmp_path_factory.mktemp("ws"), METHOD)
    return ws, adapter, Recommender(ws, METHOD, adapter=adapter)


def test_outfit_complements_is_the_intersection():
    comp = outfit_complements(["Shirts & Tops", "Pants"])
    assert comp == [c for c in complementary_categories("Shirts & Tops") if c in complementary_categories("Pants")]
    taken = {SLOTS["Shirts & Tops"], SLOTS["Pants"], "onepiece"}
    assert comp and all(SLOTS[c] not in taken for c in comp)
    assert outfit_complements(["Dresses"]) == complementary_categories("Dresses")
    with pytest.raises(ValueError):
        outfit_complements([])


def test_a_partial_outfit_is_served_only_what_it_lacks(served):
    ws, _, rec = served
    out = rec.recommend(item_id="p02-0", items=["p03-0", "p00-1"], k=30)  # a top, pants and shoes
    cats = {"Shirts & Tops", "Pants", "Shoes"}
    assert [m["category"] for m in out.query.outfit] == ["Shirts & Tops", "Pants", "Shoes"]
    assert out.query.complementary == [c for c in outfit_complements(sorted(cats)) if c in rec.indices]
    taken = {SLOTS[c] for c in cats} | {"onepiece"}
    assert out.results and all(SLOTS[r.category] not in taken for r in out.results)
    assert not {"p02-0", "p03-0", "p00-1"} & {r.item_id for r in out.results}
    assert all(SLOTS[c] not in taken for c in out.per_category)


def test_partial_outfit_errors(served):
    _, _, rec = served
    with pytest.raises(RecommendError, match="twice"):
        rec.recommend(item_id="p02-0", items=["p02-0"])
    with pytest.raises(RecommendError, match="at most 5"):
        rec.recommend(item_id="p02-0", items=["p03-0", "p00-0", "p01-0", "p06-0", "p07-0"])
    with pytest.raises(RecommendError, match="unknown product"):
        rec.recommend(item_id="p02-0", items=["nope"])


class _Planted(OutfitReranker):
    """An outfit model whose score prefers one product per category (to see the re-ranking take effect)."""

    def __init__(self, rec: Recommender, favourites: set[str]):
        ids = [r["product_id"] for r in rec._preds]
        torch.manual_seed(0)
        model = OutfitTransformer(OutfitModelConfig(in_dim=IN_DIM, d_model=16, n_heads=2, embed_dim=8))
        super().__init__(model, ids, np.zeros((len(ids), IN_DIM), np.float32), ["Shoes"] * len(ids))
        self.favourites = favourites

    def scores(self, query, categories, candidates):
        return [np.array([1.0 if i in self.favourites else 0.0 for i in ids]) for ids in candidates]


def test_rerank_orders_each_category_by_the_outfit_model(served):
    _, _, rec = served
    base = rec.recommend(item_id="p02-0", k=20, rerank=RerankConfig(enabled=False))
    assert not base.query.reranked and "reranking" not in base.timings_ms
    favourites = {rows[-1].item_id for rows in base.per_category.values() if len(rows) > 1}
    rec.reranker = _Planted(rec, favourites)
    try:
        out = rec.recommend(item_id="p02-0", k=20)
        assert out.query.reranked and out.timings_ms["reranking"] >= 0.0
        assert list(out.timings_ms)[:5] == ["understanding", "candidates", "scoring", "reranking", "blending"]
        for cat, rows in out.per_category.items():
            if len(base.per_category[cat]) > 1:
                assert rows[0].item_id in favourites  # the pairwise last is the outfit model's first
        off = rec.recommend(item_id="p02-0", k=20, rerank=RerankConfig(enabled=False))
        assert [r.item_id for r in off.results] == [r.item_id for r in base.results]
    finally:
        rec.reranker = None


def test_reranker_absent_without_an_outfit_model(served):
    ws, _, rec = served
    assert rec.reranker is None
    assert OutfitReranker.load(ws, ["p00-0"], ["x.png"], ["Shoes"]) is None
    with pytest.raises(ValueError):
        RerankConfig(candidates=0)


def test_cli_recommend_with_two_items(served, capsys):
    ws, adapter, _ = served
    from unittest import mock

    from ctl_core.serving import adapter as adapter_mod
    with mock.patch.object(adapter_mod.ModelAdapter, "load", classmethod(lambda cls, *a, **k: adapter)):
        rc = main(["--workspace", str(ws.root), "--quiet", "recommend", "--model", METHOD, "--item", "p02-0",
                   "--item", "p03-0", "--k", "5", "--json"])
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    assert [m["item_id"] for m in d["query"]["outfit"]] == ["p02-0", "p03-0"]
    assert all(r["category"] not in ("Shirts & Tops", "Pants", "Skirts", "Shorts", "Dresses") for r in d["results"])
    assert main(["--workspace", str(ws.root), "--quiet", "recommend", "--model", METHOD]) == 2
    assert "give --item" in capsys.readouterr().err


def test_rerank_bench_measures_the_stage():
    from ctl_core.bench.rerank import run_rerank_bench
    res = run_rerank_bench(candidates=(5, 20), categories=3, query_sizes=(1, 2), in_dim=16, n_items=60, repeats=10)
    assert [(r["candidates"], r["query_products"]) for r in res["runs"]] == [(5, 1), (5, 2), (20, 1), (20, 2)]
    assert all(0 < r["p50_ms"] <= r["p99_ms"] and r["n"] == 5 for r in res["runs"])
    from ctl_core.bench.rerank import format_rerank
    md = format_rerank({"stage": res})
    assert md.count("| 3 categories |") == 4 and "Whole catalogue" not in md
