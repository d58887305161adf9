"""Per-category FAISS indices: manifest, index type by size, Euclidean search, refusal of mismatched/corrupt files."""
from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from ctl_core.data.categories import CATEGORIES
from ctl_core.serving.catalogue import infer_catalogue
from ctl_core.serving.index import CategoryIndices, IndexConfig, IndexMismatchError, build_indices
from tests.ctl_core.serving.serving_fixtures import fake_adapter, make_workspace, served_workspace

METHOD = "triplet-category"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return served_workspace(tmp_path_factory.mktemp("ws"), METHOD, index_config=IndexConfig(hnsw_threshold=1000))


def test_manifest_describes_every_category_index(built):
    ws, adapter, m = built
    assert m["model_checksum"] == adapter.checksum and m["backbone"] == "fake"
    assert m["embed_dim"] == 16 and m["metric"] == "L2"
    assert set(m["categories"]) == set(CATEGORIES)
    assert sum(e["count"] for e in m["categories"].values()) == 21 * 3  # the 3 scenes are not indexed
    assert m["excluded_non_product_shots"] == 3
    on_disk = json.loads((ws.index_dir(METHOD) / "manifest.json").read_text())
    assert on_disk == m
    for c, e in m["categories"].items():
        assert e["factory"] == "Flat" and e["count"] == 3
        ids = json.loads((ws.index_dir(METHOD) / e["ids_file"]).read_text())
        assert len(ids) == 3 and all(i.startswith(f"p{CATEGORIES.index(c):02d}-") for i in ids)
        assert len(e["index_sha256"]) == 64


def test_non_product_shots_are_never_indexed(built):
    ws, adapter, _ = built
    idx = CategoryIndices.load(ws, METHOD, expected_checksum=adapter.checksum)
    all_ids = {i for c in idx.categories for i in idx.ids[c]}
    assert not any(i.startswith("scene-") for i in all_ids)
    assert len(all_ids) == 63


def test_search_returns_euclidean_distances_nearest_first(built):
    ws, adapter, _ = built
    from ctl_core.serving.catalogue import load_catalogue_inference

    preds, emb, _ = load_catalogue_inference(ws, METHOD)
    idx = CategoryIndices.load(ws, METHOD)
    q = emb[0]
    ids, dist = idx.search("Handbags", q, k=2)
    rows = {p: i for i, p in enumerate(preds["product_id"])}
    expected = sorted((float(np.linalg.norm(emb[rows[i]] - q)), i) for i in idx.ids["Handbags"])
    assert ids == [i for _, i in expected[:2]]
    np.testing.assert_allclose(dist, [d for d, _ in expected[:2]], atol=1e-5)
    # exclusion and k larger than the category
    ids_all, _ = idx.search("Handbags", q, k=10, exclude={expected[0][1]})
    assert len(ids_all) == 2 and expected[0][1] not in ids_all
    assert idx.search("Handbags", q, k=0)[0] == []


def test_index_type_chosen_by_size(tmp_path):
    rng = np.random.default_rng(0)
    vecs = {"Shoes": rng.normal(size=(40, 8)).astype(np.float32), "Ties": rng.normal(size=(5, 8)).astype(np.float32)}
    vecs = {c: v / np.linalg.norm(v, axis=1, keepdims=True) for c, v in vecs.items()}
    ids = {c: np.array([f"{c[:2]}{i}" for i in range(len(v))]) for c, v in vecs.items()}
    cfg = IndexConfig(hnsw_threshold=10, ef_search=32)
    built = CategoryIndices.build(vecs, ids, cfg, meta={"model_checksum": "abc"})
    m = built.save(tmp_path)
    assert m["categories"]["Shoes"]["factory"] == "HNSW32" and m["categories"]["Shoes"]["ef_search"] == 32
    assert m["categories"]["Ties"]["factory"] == "Flat" and m["categories"]["Ties"]["ef_search"] is None
    loaded = CategoryIndices.load_dir(tmp_path, expected_checksum="abc")
    big, small = faiss.downcast_index(loaded._cpu["Shoes"]), faiss.downcast_index(loaded._cpu["Ties"])
    assert isinstance(big, faiss.IndexHNSWFlat) and big.hnsw.efSearch == 32
    assert isinstance(small, faiss.IndexFlat)
    # HNSW on 40 vectors finds the exact nearest neighbours
    q = vecs["Shoes"][3]
    got, dist = loaded.search("Shoes", q, 5)
    exact = np.argsort(np.linalg.norm(vecs["Shoes"] - q, axis=1))[:5]
    assert got == [f"Sh{i}" for i in exact] and dist[0] == pytest.approx(0.0, abs=1e-5)
    np.testing.assert_allclose(loaded.vectors("Shoes", np.array([3])), vecs["Shoes"][3:4], atol=1e-6)


def test_build_indices_uses_hnsw_above_threshold(tmp_path):
    ws = make_workspace(tmp_path, per_category=3, n_scenes=0)
    adapter, _ = fake_adapter()
    infer_catalogue(ws, METHOD, adapter=adapter)
    m = build_indices(ws, METHOD, config=IndexConfig(hnsw_threshold=3))
    assert {e["factory"] for e in m["categories"].values()} == {"HNSW32"}


def test_manifest_of_another_model_is_refused(built):
    ws, _, _ = built
    with pytest.raises(IndexMismatchError, match="model"):
        CategoryIndices.load(ws, METHOD, expected_checksum="0" * 64)
    other, _ = fake_adapter(seed=1)
    with pytest.raises(IndexMismatchError, match="another model"):
        build_indices(ws, METHOD, expected_checksum=other.checksum)


def test_corrupt_or_missing_files_are_refused(tmp_path):
    ws = make_workspace(tmp_path, per_category=2, n_scenes=0)
    adapter, _ = fake_adapter()
    infer_catalogue(ws, METHOD, adapter=adapter)
    m = build_indices(ws, METHOD)
    folder = ws.index_dir(METHOD)
    target = folder / m["categories"]["Shoes"]["index_file"]
    good = target.read_bytes()
    target.write_bytes(good[:-7] + b"garbage")
    with pytest.raises(IndexMismatchError, match="corrupt"):
        CategoryIndices.load(ws, METHOD, expected_checksum=adapter.checksum)
    target.write_bytes(b"not an index")
    with pytest.raises(IndexMismatchError, match="(corrupt|cannot be read)"):
        CategoryIndices.load(ws, METHOD, verify=False)
    target.unlink()
    with pytest.raises(IndexMismatchError, match="missing"):
        CategoryIndices.load(ws, METHOD)
    (folder / "manifest.json").unlink()
    with pytest.raises(IndexMismatchError, match="no index manifest"):
        CategoryIndices.load(ws, METHOD)


def test_rebuild_removes_stale_category_files(tmp_path):
    rng = np.random.default_rng(1)
    v = rng.normal(size=(4, 8)).astype(np.float32)
    CategoryIndices.build({"Shoes": v, "Ties": v}, {"Shoes": np.arange(4), "Ties": np.arange(4)}).save(tmp_path)
    assert (tmp_path / "ties.faiss").exists()
    CategoryIndices.build({"Shoes": v}, {"Shoes": np.arange(4)}).save(tmp_path)
    assert not (tmp_path / "ties.faiss").exists() and not (tmp_path / "ties.ids.json").exists()
    assert CategoryIndices.load_dir(tmp_path).categories == ["Shoes"]


def test_serving_benchmark_quick_run():
    from ctl_core.bench.serve import category_sizes, run_serve_bench, synthetic_corpus

    assert sum(category_sizes(1_000_003).values()) == 1_000_003
    X, labels, slices = synthetic_corpus(2000, dim=32)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    assert (labels[slices["Shoes"]] == CATEGORIES.index("Shoes")).all() and slices["Shoes"].stop - \
        slices["Shoes"].start == 320
    res = run_serve_bench(n_items=4000, n_queries=30, k=10, hnsw_threshold=400, baseline_queries=10, upload=False)
    assert res["build"]["index_types"]["HNSW32"] >= 3 and res["build"]["index_bytes"] > 4000 * 128 * 4
    assert res["latency_ms"]["n"] == 30 and 0 < res["latency_ms"]["p50"] <= res["latency_ms"]["p99"]
    assert res["recall_at_k"]["hnsw"] >= 0.95 and res["recall_at_k"]["all"] >= 0.95
    assert res["baseline_ms"]["n"] == 10 and res["upload"] == {"skipped": "upload=False"}
    json.dumps(res)
