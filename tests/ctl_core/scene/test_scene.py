"""Scene-based CTL (Kang et al.): distance pieces, masking, triplet wiring, determinism, and a tiny end-to-end run."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from ctl_core import scene
from ctl_core.scene import (
    RegionAttention,
    SceneConfig,
    SceneHeads,
    build_scenes,
    distance_parts,
    hybrid_distance,
    mask_boxes,
    train_scene_heads,
)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x, dim=-1)


# ------------------------------------------------------------------------------------------------ distance

def test_attention_weights_sum_to_one_over_regions():
    torch.manual_seed(0)
    att = RegionAttention(8, hidden=4)
    w = att(_unit(torch.randn(5, 9, 8)), _unit(torch.randn(5, 8)))
    assert w.shape == (5, 9)
    assert torch.all(w >= 0)
    assert torch.allclose(w.sum(dim=1), torch.ones(5), atol=1e-6)


class _FixedAttention(torch.nn.Module):
    """Attention with given weights (for hand-computed distances)."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = w

    def forward(self, regions, product):
        return self.w


def test_hybrid_distance_hand_case():
    # one scene, two regions in 2-d; product p = (1, 0)
    regions = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])   # d to p: 0 and 2
    glob = torch.tensor([[-1.0, 0.0]])                   # d_global = 4
    p = torch.tensor([[1.0, 0.0]])
    att = _FixedAttention(torch.tensor([[0.25, 0.75]]))  # d_local = 0.75 * 2 = 1.5
    d_g, d_l, w = distance_parts(regions, glob, p, att)
    assert d_g.item() == pytest.approx(4.0) and d_l.item() == pytest.approx(1.5)
    assert hybrid_distance(regions, glob, p, att).item() == pytest.approx((4.0 + 1.5) / 2)


def test_hybrid_distance_shapes_and_errors():
    torch.manual_seed(0)
    att = RegionAttention(16)
    d = hybrid_distance(_unit(torch.randn(3, 49, 16)), _unit(torch.randn(3, 16)), _unit(torch.randn(3, 16)), att)
    assert d.shape == (3,) and torch.all(d >= 0) and torch.all(d <= 4.0 + 1e-5)
    with pytest.raises(ValueError, match="scene_regions"):
        hybrid_distance(torch.randn(3, 49, 16), torch.randn(3, 16), torch.randn(2, 16), att)


# ------------------------------------------------------------------------------------------------ masking

def test_mask_whites_out_exactly_the_box():
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 200, size=(40, 50, 3), dtype=np.uint8)  # never white
    img = Image.fromarray(arr)
    out = np.asarray(mask_boxes(img, [(0.2, 0.25, 0.4, 0.5)]))  # x 10..30, y 10..30 (exclusive ends)
    inside = np.zeros((40, 50), bool)
    inside[10:30, 10:30] = True
    assert np.all(out[inside] == 255)
    assert np.array_equal(out[~inside], arr[~inside])
    # pixel boxes, two at once, one clipped at the border
    out = np.asarray(mask_boxes(img, [(0, 0, 3, 2), (45, 35, 10, 10)], normalised=False))
    inside = np.zeros((40, 50), bool)
    inside[0:2, 0:3] = True
    inside[35:40, 45:50] = True
    assert np.all(out[inside] == 255) and np.array_equal(out[~inside], arr[~inside])
    assert np.array_equal(np.asarray(img), arr)  # the input is not changed


def test_build_scenes_masks_every_box_of_the_product_and_uses_crops():
    items = pd.DataFrame([
        # product image items of outfit o1 (boxes come from raw_boxes)
        {"item_id": "o1-0", "outfit_id": "o1", "category": "Shoes", "image_path": "p/a.png", "box_x": None,
         "box_y": None, "box_w": None, "box_h": None, "product_id": "a", "price": 1.0, "split": "train"},
        {"item_id": "o1-1", "outfit_id": "o1", "category": "Handbags", "image_path": "p/b.png", "box_x": None,
         "box_y": None, "box_w": None, "box_h": None, "product_id": "b", "price": 1.0, "split": "train"},
        # a collage crop without product id (as from a CTL import)
        {"item_id": "o2-0", "outfit_id": "o2", "category": "Shoes", "image_path": "c/o2.jpg", "box_x": 5,
         "box_y": 6, "box_w": 20, "box_h": 30, "product_id": "", "price": None, "split": "test"},
        # product b again in another outfit, test split
        {"item_id": "o2-1", "outfit_id": "o2", "category": "Handbags", "image_path": "p/b.png", "box_x": None,
         "box_y": None, "box_w": None, "box_h": None, "product_id": "b", "price": 1.0, "split": "test"},
    ])
    raw = pd.DataFrame([
        {"outfit_id": "o1", "image_path": "c/o1.jpg", "x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2, "label": "Shoes",
         "product_id": "a"},
        {"outfit_id": "o1", "image_path": "c/o1.jpg", "x": 0.5, "y": 0.5, "w": 0.2, "h": 0.2, "label": "Shoes",
         "product_id": "a"},  # a duplicate of the same product
        {"outfit_id": "o1", "image_path": "c/o1.jpg", "x": 0.6, "y": 0.1, "w": 0.3, "h": 0.3, "label": "Handbags",
         "product_id": "b"},
    ])
    scenes, products = build_scenes(items, raw)
    by = {(s.outfit_id, s.product): s for s in scenes}
    assert set(by) == {("o1", "a"), ("o1", "b"), ("o2", "item:o2-0")}  # (o2, b) has no box in o2's collage
    assert by[("o1", "a")].boxes == ((0.1, 0.1, 0.2, 0.2), (0.5, 0.5, 0.2, 0.2))
    assert by[("o1", "a")].normalised and by[("o1", "a")].image_path == "c/o1.jpg"
    crop = by[("o2", "item:o2-0")]
    assert not crop.normalised and crop.boxes == ((5.0, 6.0, 20.0, 30.0),) and crop.image_path == "c/o2.jpg"
    b = products.set_index("product").loc["b"]
    assert b["splits"] == {"train", "test"} and b["outfits"] == {"o1", "o2"} and b["box"] is None


# ------------------------------------------------------------------------------------------------ training

def _synthetic(n: int = 48, regions: int = 6, dim: int = 12, seed: int = 0):
    """Scenes whose region 0 holds a 'style' direction; the positive product shares it, negatives do not."""
    rng = np.random.default_rng(seed)
    styles = rng.normal(size=(4, dim))
    maps = rng.normal(scale=0.5, size=(n, regions, dim))
    style_of = rng.integers(0, 4, n)
    maps[:, 0] += 2 * styles[style_of]
    products = styles + rng.normal(scale=0.1, size=(4, dim))
    pools = [np.array([j for j in range(4) if j != style_of[i]]) for i in range(n)]
    return maps.astype(np.float16), products.astype(np.float32), style_of, pools


def test_triplet_loss_decreases_on_separable_problem_and_reaches_attention():
    maps, prods, pos, pools = _synthetic()
    cfg = SceneConfig(epochs=30, batch_size=16, lr=3e-3, embed_dim=16, attention_hidden=8, device="cpu")
    heads, curves = train_scene_heads(maps, prods, pos, pools, cfg)
    assert list(curves.columns) == ["epoch", "loss", "triplet_acc", "seconds"]
    assert curves["loss"].iloc[-1] < 0.5 * curves["loss"].iloc[0]
    assert curves["triplet_acc"].iloc[-1] > 0.9
    # gradients reach the attention MLP through the hybrid distance
    heads.train()
    regions, glob = heads.embed_scene(torch.as_tensor(maps[:8], dtype=torch.float32))
    p = heads.embed_product(torch.as_tensor(prods[pos[:8]]))
    hybrid_distance(regions, glob, p, heads.attention).sum().backward()
    grads = [q.grad for q in heads.attention.parameters()]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0


def test_training_is_deterministic_for_a_seed():
    maps, prods, pos, pools = _synthetic()
    cfg = SceneConfig(epochs=3, batch_size=16, embed_dim=16, attention_hidden=8, device="cpu", seed=7)
    a, ca = train_scene_heads(maps, prods, pos, pools, cfg)
    b, cb = train_scene_heads(maps, prods, pos, pools, cfg)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert ca["loss"].tolist() == cb["loss"].tolist()
    c, _ = train_scene_heads(maps, prods, pos, pools, SceneConfig(**{**cfg.to_dict(), "seed": 8, "ks": (1, 5, 10)}))
    assert not torch.equal(a.region.weight, c.region.weight)


def test_train_refuses_scenes_without_negatives():
    maps, prods, pos, pools = _synthetic(n=4)
    pools[2] = np.array([], dtype=np.int64)
    with pytest.raises(scene.SceneError, match="negative"):
        train_scene_heads(maps, prods, pos, pools, SceneConfig(epochs=1, device="cpu"))


def test_candidate_distances_modes_agree_with_heads():
    maps, prods, pos, _ = _synthetic(n=5)
    torch.manual_seed(0)
    heads = SceneHeads(maps.shape[2], prods.shape[1], 16, 8).eval()
    cand = np.array([[0, 1, 2], [3, 2, 1], [0, 0, 0], [1, 2, 3], [2, 3, 0]])
    hyb = scene.candidate_distances(heads, maps, prods, cand, "hybrid", batch=2)
    g = scene.candidate_distances(heads, maps, prods, cand, "global")
    loc = scene.candidate_distances(heads, maps, prods, cand, "local")
    assert np.allclose(hyb, (g + loc) / 2, atol=1e-5)
    with torch.no_grad():
        direct = heads(torch.as_tensor(maps[[1]], dtype=torch.float32), torch.as_tensor(prods[[2]]))
    assert hyb[1, 1] == pytest.approx(float(direct), abs=1e-5)


# ------------------------------------------------------------------------------------------------ end to end

@pytest.fixture(scope="module")
def tiny_ws(tmp_path_factory):
    from ctl_core.config import Workspace
    from ctl_core.data.dataset import CleanupConfig, build_dataset
    from ctl_core.data.universe import UniverseConfig, generate_universe

    ws = Workspace.at(tmp_path_factory.mktemp("scene_ws")).ensure()
    generate_universe(ws, UniverseConfig(size=40, seed=0))
    build_dataset(ws, CleanupConfig(test_fraction=0.3))
    return ws


def test_train_and_evaluate_end_to_end(tiny_ws):
    cfg = SceneConfig(epochs=4, batch_size=16, backbone="tiny-cnn", device="cpu", max_train_scenes=120,
                      max_test_scenes=40)
    run = scene.train_scene_model(tiny_ws, cfg)
    assert run == tiny_ws.model_dir("scene-based")
    assert {"scene.pt", "config.json", "curves.csv"} <= {p.name for p in run.iterdir()}
    assert not (run / "heads.pt").exists()  # not a CTLHeads run: Workspace.trained_methods must not list it
    saved = json.loads((run / "config.json").read_text())
    assert saved["method"] == "scene-based" and saved["backbone"] == "tiny-cnn"
    assert SceneConfig.from_dict(saved["scene"]) == cfg
    assert 0 < saved["run"]["n_scenes"] <= 120
    curves = pd.read_csv(run / "curves.csv")
    assert len(curves) == 4 and np.isfinite(curves["loss"]).all()

    cache = tiny_ws.root / "features" / "tiny-cnn-scenes"
    n_cached = len(list(cache.glob("*.npy")))
    assert n_cached >= saved["run"]["n_scenes"]

    m = scene.evaluate_scene_model(tiny_ws)
    keys = {"FITB", "R@1", "R@5", "R@10"}
    assert keys <= set(m) and set(m["baselines"]) == {"global-only", "untrained"}
    for res in (m, *m["baselines"].values()):
        for k in keys:
            assert 0.0 <= res[k] <= 1.0, (k, res[k])
        assert res["R@1"] <= res["R@5"] <= res["R@10"]
    assert m["eval"]["n_fitb"] > 0 and 0 < m["eval"]["n_test_scenes"] <= 40
    on_disk = json.loads((run / "metrics.json").read_text())
    assert on_disk["FITB"] == pytest.approx(m["FITB"]) and on_disk["baselines"]["untrained"]["R@10"] == \
        pytest.approx(m["baselines"]["untrained"]["R@10"])
    # evaluation is deterministic and reuses the scene cache (only test scenes were added)
    n_after_eval = len(list(cache.glob("*.npy")))
    assert n_after_eval == n_cached + m["eval"]["n_test_scenes"]  # train and test scenes are different outfits
    again = scene.evaluate_scene_model(tiny_ws)
    assert {k: again[k] for k in keys} == {k: m[k] for k in keys}
    assert len(list(cache.glob("*.npy"))) == n_after_eval


def test_evaluate_without_a_run_names_the_problem(tmp_path):
    from ctl_core.config import Workspace

    with pytest.raises(scene.SceneError, match="train it first"):
        scene.evaluate_scene_model(Workspace.at(tmp_path))


def test_scene_cache_is_reused(tiny_ws, monkeypatch):
    from ctl_core.model.backbone import Backbone, create_backbone

    bb = create_backbone("tiny-cnn")
    scenes, _ = scene.load_tables(tiny_ws)
    first = scene.scene_maps(tiny_ws, bb, scenes[:3], device="cpu")
    assert first.dtype == np.float16 and first.shape[0] == 3 and first.shape[2] == bb.num_features
    monkeypatch.setattr(Backbone, "forward_feature_map",
                        lambda *a: (_ for _ in ()).throw(AssertionError("recomputed")))
    assert np.array_equal(scene.scene_maps(tiny_ws, bb, scenes[:3], device="cpu"), first)
