"""Catalogue inference (resumable) and the four-stage recommender with blending."""
from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest

from ctl_core.data.categories import CATEGORIES, SLOTS, complementary_categories
from ctl_core.serving.catalogue import infer_catalogue, load_catalogue_inference
from ctl_core.serving.index import CategoryIndices, IndexConfig, build_indices
from ctl_core.serving.recommender import (
    BlendConfig,
    NotProductShotError,
    Recommender,
    RecommenderConfig,
    RecommendError,
    serve,
)
from tests.ctl_core.serving.serving_fixtures import fake_adapter, make_workspace, product_image, served_workspace

METHOD = "triplet-category"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    ws, adapter, _ = served_workspace(tmp_path_factory.mktemp("ws"), METHOD)
    return ws, adapter, Recommender(ws, METHOD, adapter=adapter)


# -- catalogue inference ------------------------------------------------------------------------------------------

def test_catalogue_inference_writes_aligned_predictions_and_embeddings(tmp_path):
    ws = make_workspace(tmp_path, per_category=2, n_scenes=2)
    adapter, feat = fake_adapter()
    preds = infer_catalogue(ws, METHOD, adapter=adapter)
    on_disk, emb, meta = load_catalogue_inference(ws, METHOD)
    assert list(on_disk.columns) == ["product_id", "pred_category", "confidence", "product_shot_score", "category"]
    assert len(preds) == len(on_disk) == len(emb) == 21 * 2 + 2 and feat.seen == 44
    assert meta["model_checksum"] == adapter.checksum and meta["embed_dim"] == 16
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    shots = on_disk[~on_disk["product_id"].str.startswith("scene")]
    assert (shots["pred_category"] == shots["category"]).all()  # the fake model knows the colour code
    assert (shots["product_shot_score"] > 0.9).all()
    assert (on_disk[on_disk["product_id"].str.startswith("scene")]["product_shot_score"] < 0.5).all()
    # row i of embeddings.npy is the embedding of row i of predictions.csv
    i = int(np.flatnonzero(on_disk["product_id"] == "p05-1")[0])
    _, e = adapter.understand(adapter.featurize([product_image("Dresses", 5 * 100 + 1)]))
    np.testing.assert_allclose(emb[i], e[0], atol=1e-5)


def test_catalogue_inference_is_resumable(tmp_path):
    ws = make_workspace(tmp_path, per_category=1, n_scenes=0)
    adapter, feat = fake_adapter()
    infer_catalogue(ws, METHOD, adapter=adapter)
    assert feat.seen == 21
    _, emb1, _ = load_catalogue_inference(ws, METHOD)
    infer_catalogue(ws, METHOD, adapter=adapter)
    assert feat.seen == 21  # nothing new: nothing embedded
    make_workspace(tmp_path, per_category=1, n_scenes=1, start=1)  # 21 new products + 1 scene
    preds = infer_catalogue(ws, METHOD, adapter=adapter)
    assert feat.seen == 21 + 22 and len(preds) == 43
    _, emb2, meta = load_catalogue_inference(ws, METHOD)
    np.testing.assert_array_equal(emb2[:21], emb1)
    assert meta["computed_this_run"] == 22
    other, feat2 = fake_adapter(seed=3)  # a changed model embeds everything again
    infer_catalogue(ws, METHOD, adapter=other)
    assert feat2.seen == 43


def test_unreadable_catalogue_image_is_skipped(tmp_path):
    ws = make_workspace(tmp_path, per_category=1, n_scenes=0)
    (ws.universe_dir / "products" / "p03-0.png").write_bytes(b"\x89PNG broken")
    adapter, _ = fake_adapter()
    preds = infer_catalogue(ws, METHOD, adapter=adapter)
    assert "p03-0" not in set(preds["product_id"]) and len(preds) == 20


# -- the recommender ----------------------------------------------------------------------------------------------

def test_item_query_returns_only_complementary_categories_never_the_query(served):
    ws, _, rec = served
    for item, cat in (("p00-0", "Shoes"), ("p05-1", "Dresses"), ("p03-2", "Pants")):
        out = rec.recommend(item_id=item, k=30)
        comp = complementary_categories(cat)
        assert out.query.category == cat and out.query.category_source == "catalogue"
        assert out.query.complementary == comp
        assert out.results and all(r.category in comp for r in out.results)
        assert all(r.item_id != item for r in out.results)
        assert all(SLOTS[r.category] != SLOTS[cat] for r in out.results)
        assert set(out.per_category) <= set(comp)
        # blended results are drawn from the per-category lists and are sorted within a category
        for lst in out.per_category.values():
            d = [r.distance for r in lst]
            assert d == sorted(d)


def test_k_is_respected(served):
    _, _, rec = served
    for k in (1, 4, 10):
        out = rec.recommend(item_id="p02-0", k=k, blend=BlendConfig(dedupe=False))  # random heads: near-duplicates
        assert len(out.results) == k
        assert all(len(v) <= k for v in out.per_category.values())
        assert len({r.item_id for r in out.results}) == k
    out = rec.recommend(item_id="p02-0", k=3, blend=BlendConfig(per_category_k=2, dedupe=False))
    assert len(out.results) == 3 and all(len(v) == 2 for v in out.per_category.values())
    with pytest.raises(RecommendError):
        rec.recommend(item_id="p02-0", k=0)


def test_round_robin_represents_every_category(served):
    _, _, rec = served
    out = rec.recommend(item_id="p02-0", k=5, max_categories=5)
    assert out.query.complementary == complementary_categories("Shirts & Tops")[:5]
    assert sorted(r.category for r in out.results) == sorted(out.query.complementary)
    # the first round is ordered by score
    assert [r.score for r in out.results] == sorted(r.score for r in out.results)


def test_explicit_categories(served):
    _, _, rec = served
    out = rec.recommend(item_id="p00-0", k=6, categories=["Handbags", "Pants"])
    assert {r.category for r in out.results} == {"Handbags", "Pants"}
    with pytest.raises(RecommendError, match="Boots"):
        rec.recommend(item_id="p00-0", categories=["Boots"])  # same slot as Shoes: never complementary


def test_to_dict_is_json_with_timings(served):
    _, _, rec = served
    d = json.loads(json.dumps(rec.recommend(item_id="p04-0", k=5).to_dict()))
    assert set(d) == {"query", "results", "per_category", "timings_ms"}
    assert set(d["timings_ms"]) == {"understanding", "candidates", "scoring", "blending", "total"}
    assert all(v >= 0 for v in d["timings_ms"].values())
    assert d["timings_ms"]["total"] >= d["timings_ms"]["scoring"]
    q = d["query"]
    for key in ("item_id", "category", "confidence", "product_shot_score", "is_product_shot", "warning",
                "complementary"):
        assert key in q
    r = d["results"][0]
    assert {"item_id", "category", "distance", "price", "score", "image_path", "title"} <= set(r)
    assert isinstance(r["distance"], float) and isinstance(r["price"], float)


def test_image_query_predicts_category_and_expands(served):
    ws, _, rec = served
    buf = io.BytesIO()
    product_image("Shoes", 777).save(buf, format="PNG")
    for image in (product_image("Shoes", 777), buf.getvalue(), ws.universe_dir / "products" / "p00-1.png"):
        out = rec.recommend(image=image, k=8)
        assert out.query.item_id is None and out.query.category == "Shoes"
        assert out.query.category_source == "predicted" and out.query.confidence > 0.5
        assert out.query.is_product_shot and out.query.warning is None
        assert {r.category for r in out.results} <= set(complementary_categories("Shoes"))
    with pytest.raises(RecommendError, match="exactly one"):
        rec.recommend()


def test_non_product_shot_is_flagged_or_refused(served):
    ws, adapter, rec = served
    scene = ws.universe_dir / "products" / "scene-0.png"
    out = rec.recommend(image=scene, k=3)
    assert not out.query.is_product_shot and "product shot" in out.query.warning and len(out.results) == 3
    strict = Recommender(ws, METHOD, adapter=adapter, config=RecommenderConfig(on_non_product="refuse"))
    with pytest.raises(NotProductShotError, match="product shot"):
        strict.recommend(image=scene)
    assert isinstance(NotProductShotError("x"), ValueError)
    with pytest.raises(NotProductShotError, match="product shot"):   # per call: the app's toggle, the CLI's flag
        rec.recommend(image=scene, on_non_product="refuse")
    assert strict.recommend(image=scene, k=3, on_non_product="warn").query.warning
    assert rec.recommend(image=ws.universe_dir / "products" / "p00-1.png", k=3, on_non_product="refuse").results


def test_unknown_item_and_stale_indices(served, tmp_path):
    ws, _, rec = served
    with pytest.raises(RecommendError, match="unknown product"):
        rec.recommend(item_id="nope")
    other, _ = fake_adapter(seed=5)
    with pytest.raises(ValueError, match="model"):
        Recommender(ws, METHOD, adapter=other)


# -- blending terms -------------------------------------------------------------------------------------------------

def _unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_price_term_moves_price_mismatched_items_down():
    q = _unit([1, 0, 0, 0])
    vecs = _unit([[1, 0.05, 0, 0], [1, 0.10, 0, 0], [1, 0.15, 0, 0], [1, 0.2, 0, 0]])
    prices = {"ring-8000": 8000.0, "ring-25": 25.0, "ring-20": 20.0, "ring-nan": math.nan}
    ids = np.array(list(prices))
    idx = CategoryIndices.build({"Jewelry": vecs}, {"Jewelry": ids})
    info = lambda i: {"price": prices[i]}
    _, plain, _ = serve(idx, q, ["Jewelry"], 4, BlendConfig(dedupe=False), query_price=20.0, item_info=info)
    assert [r.item_id for r in plain] == ["ring-8000", "ring-25", "ring-20", "ring-nan"]
    per, priced, _ = serve(idx, q, ["Jewelry"], 4, BlendConfig(price_weight=0.1, dedupe=False), query_price=20.0,
                           item_info=info)
    order = [r.item_id for r in priced]
    assert order.index("ring-8000") == 3  # the $8,000 ring no longer leads a $20 dress's list
    assert order[:2] == ["ring-25", "ring-20"]
    r8000 = next(r for r in priced if r.item_id == "ring-8000")
    assert r8000.score == pytest.approx(r8000.distance + 0.1 * abs(math.log(8000 / 20)), rel=1e-5)
    assert [r.item_id for r in per["Jewelry"]] == order  # per-category lists use the same score
    # no query price: the term is inactive
    _, noprice, _ = serve(idx, q, ["Jewelry"], 4, BlendConfig(price_weight=0.1, dedupe=False), item_info=info)
    assert [r.item_id for r in noprice] == [r.item_id for r in plain]


def _mean_pairwise_sim(v):
    s = v @ v.T
    n = len(v)
    return float((s.sum() - n) / (n * (n - 1)))


@pytest.mark.parametrize("strategy", ["distance", "round_robin"])
def test_diversity_reduces_pairwise_similarity_of_top_k(strategy):
    rng = np.random.default_rng(0)
    q = _unit(np.eye(8)[0])
    dup = _unit(q + 0.3 * np.eye(8)[1] + 0.01 * rng.normal(size=(6, 8)))  # near-duplicates, all close to q
    spread = _unit(q + 0.45 * np.eye(8)[2:8])  # a bit farther, each in its own direction
    vecs = {"Shoes": np.vstack([dup[:3], spread[:3]]), "Handbags": np.vstack([dup[3:], spread[3:]])}
    ids = {c: np.array([f"{c}{i}" for i in range(6)]) for c in vecs}
    idx = CategoryIndices.build(vecs, ids)
    lookup = {f"{c}{i}": vecs[c][i] for c in vecs for i in range(6)}
    cats = ["Shoes", "Handbags"]
    _, plain, _ = serve(idx, q, cats, 4, BlendConfig(strategy=strategy, dedupe=False))
    _, diverse, _ = serve(idx, q, cats, 4, BlendConfig(strategy=strategy, diversity=1.0, dedupe=False))
    sim_plain = _mean_pairwise_sim(np.stack([lookup[r.item_id] for r in plain]))
    sim_div = _mean_pairwise_sim(np.stack([lookup[r.item_id] for r in diverse]))
    assert sim_div < sim_plain - 0.05
    assert len(diverse) == 4 and len({r.item_id for r in diverse}) == 4
    # mean distance to the query grows only a little: relevance is still part of the score
    assert np.mean([r.distance for r in diverse]) < 0.5


def test_round_robin_versus_distance_merge():
    q = _unit([1, 0, 0])
    near = _unit([[1, 0.01, 0], [1, 0.02, 0], [1, 0.03, 0]])
    far = _unit([[1, 0.5, 0], [1, 0.6, 0], [1, 0.7, 0]])
    idx = CategoryIndices.build({"Shoes": near, "Hats": far},
                                {"Shoes": np.array(["s0", "s1", "s2"]), "Hats": np.array(["h0", "h1", "h2"])})
    _, rr, _ = serve(idx, q, ["Shoes", "Hats"], 4, BlendConfig(dedupe=False))
    assert [r.item_id for r in rr] == ["s0", "h0", "s1", "h1"]
    _, dist, _ = serve(idx, q, ["Shoes", "Hats"], 4, BlendConfig(strategy="distance", dedupe=False))
    assert [r.item_id for r in dist] == ["s0", "s1", "s2", "h0"]
    with pytest.raises(ValueError):
        BlendConfig(strategy="nope")


# -- integration with the real model modules -------------------------------------------------------------------------

def test_end_to_end_with_real_model_modules(tmp_path):
    import torch

    from ctl_core.model import backbone as backbone_mod
    from ctl_core.model import ctl_model as model_mod
    from ctl_core.model.heads import CTLHeads, HeadsConfig
    from ctl_core.serving.adapter import ModelAdapter

    ws = make_workspace(tmp_path, per_category=2, n_scenes=1)
    bb = backbone_mod.create_backbone("tiny-cnn", pretrained=False)
    torch.manual_seed(0)
    heads = CTLHeads(HeadsConfig(in_dim=bb.num_features, hidden=32)).eval()
    model_mod.save_run(ws.model_dir(METHOD), heads, "tiny-cnn", {"method": METHOD},
                       extra={"backbone_pretrained": False})
    adapter = ModelAdapter.load(ws, METHOD, device="cpu")  # the real load_model / category_probs path
    assert adapter.checksum == model_mod.model_checksum(ws, METHOD) and adapter.name == "tiny-cnn"
    preds = infer_catalogue(ws, METHOD, device="cpu")  # loads the model itself
    assert len(preds) == 43 and set(preds["pred_category"]) <= set(CATEGORIES)
    assert (ws.features_dir(bb.name) / "features.npy").exists()  # shared backbone feature cache used
    _, emb, _ = load_catalogue_inference(ws, METHOD)
    assert emb.shape == (43, 128)
    build_indices(ws, METHOD, config=IndexConfig(hnsw_threshold=2))
    rec = Recommender(ws, METHOD, device="cpu")
    # random heads predict arbitrary categories, so how many candidates exist depends on those predictions
    available = lambda cat: sum(rec.indices.count(c) for c in complementary_categories(cat))
    out = rec.recommend(item_id="p00-0", k=5, blend=BlendConfig(dedupe=False))  # random heads: near-duplicates
    assert len(out.results) == min(5, available("Shoes"))
    assert all(r.category in complementary_categories("Shoes") and r.item_id != "p00-0" for r in out.results)
    up = rec.recommend(image=product_image("Hats", 3), k=5, blend=BlendConfig(dedupe=False))
    assert up.query.category in CATEGORIES and len(up.results) == min(5, available(up.query.category))
    assert all(r.category in complementary_categories(up.query.category) for r in up.results)
    json.dumps(up.to_dict())
