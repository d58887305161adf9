"""train_heads: determinism, curves, learning on synthetic outfits; train(): run folder wiring; end-to-end smoke."""
from __future__ import annotations

import json
import types
import zlib

import numpy as np
import pandas as pd
import pytest
import torch

import ctl_core.training.train as training
from ctl_core.config import METHODS, Workspace
from ctl_core.data.categories import CATEGORIES
from ctl_core.data.tables import ITEM_COLUMNS, write_table
from ctl_core.model.backbone import create_backbone
from ctl_core.model.ctl_model import load_model
from ctl_core.model.heads import CTLHeads, HeadsConfig
from ctl_core.training.train import TrainConfig, TrainingError, _pair_accuracy, train, train_heads


def synthetic_outfits(n_outfits: int, themes: np.ndarray, cat_vecs: np.ndarray, rng: np.random.Generator,
                      prefix: str = "o", noise: float = 1.0, theme_scale: float = 0.5):
    """Each outfit has a latent theme; an item = theme_scale*theme + its category's vector + noise."""
    feats, outfits, cats = [], [], []
    for o in range(n_outfits):
        t = themes[rng.integers(len(themes))]
        for c in rng.choice(len(cat_vecs), size=int(rng.integers(4, 6)), replace=False):
            feats.append(theme_scale * t + cat_vecs[c] + noise * rng.normal(size=themes.shape[1]))
            outfits.append(f"{prefix}{o}")
            cats.append(int(c))
    return np.asarray(feats, dtype=np.float32), np.asarray(outfits), np.asarray(cats)


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(0)
    themes, cat_vecs = rng.normal(size=(12, 64)), rng.normal(size=(21, 64))
    train_set = synthetic_outfits(300, themes, cat_vecs, rng, "train")
    test_set = synthetic_outfits(100, themes, cat_vecs, rng, "test")
    return train_set, test_set


def _small(world, n=400):
    (x, o, c), _ = world
    return x[:n], o[:n], c[:n]


def test_config_derives_ratio_and_margin_and_refuses_bad_values():
    assert TrainConfig(method="siamese-16to1").neg_per_pos == 16
    assert TrainConfig(method="siamese-1to1").to_dict()["neg_per_pos"] == 1
    assert TrainConfig(method="triplet-random").neg_per_pos is None
    d = TrainConfig(method="triplet-category", margin=None, recipe="paper").to_dict()
    assert d["margin"] == pytest.approx(0.3) and d["num_proxies"] == 2048 and d["mode"] == "heads"
    assert TrainConfig.from_dict(TrainConfig(method="classification", lr=0.01).to_dict()).lr == 0.01
    with pytest.raises(TrainingError, match="unknown method"):
        TrainConfig(method="siamese")
    with pytest.raises(TrainingError, match="mode"):
        TrainConfig(mode="full")


def test_same_seed_same_weights_and_other_seed_differs(world):
    x, o, c = _small(world)
    cfg = TrainConfig(method="triplet-random", epochs=2, batch_size=64)
    h1, cur1 = train_heads(x, o, c, cfg)
    h2, cur2 = train_heads(x, o, c, cfg)
    h3, _ = train_heads(x, o, c, TrainConfig(method="triplet-random", epochs=2, batch_size=64, seed=1))
    s1, s2, s3 = h1.state_dict(), h2.state_dict(), h3.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert not all(torch.equal(s1[k], s3[k]) for k in s1)
    pd.testing.assert_frame_equal(cur1.drop(columns="seconds"), cur2.drop(columns="seconds"))


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_with_curves_and_progress(world, method):
    x, o, c = _small(world, 300)
    calls = []
    heads, curves = train_heads(x, o, c, TrainConfig(method=method, epochs=2, batch_size=64),
                                progress=lambda *a: calls.append(a), val=(x[:80], o[:80], c[:80]))
    assert calls == [(f"train {method}", 1, 2), (f"train {method}", 2, 2)]
    assert list(curves["epoch"]) == [1, 2]
    for col in ("loss", "style_loss", "category_loss", "category_acc", "val_category_acc", "val_pair_acc"):
        assert curves[col].notna().all(), col
    assert np.allclose(curves["loss"], curves["style_loss"] + curves["category_loss"], atol=1e-4)
    assert isinstance(heads, CTLHeads) and not heads.training
    assert heads.embed(torch.as_tensor(x[:3])).shape == (3, 128)


def test_train_heads_refuses_mismatched_inputs():
    with pytest.raises(TrainingError, match="one outfit id and category per row"):
        train_heads(np.zeros((4, 8), np.float32), ["a"] * 3, [0] * 4, TrainConfig(epochs=1))
    with pytest.raises(TrainingError, match="at least two outfits"):
        train_heads(np.zeros((4, 8), np.float32), ["a"] * 4, [0, 1, 2, 3], TrainConfig(epochs=1, batch_size=8))


def test_triplet_category_learns_outfit_themes_and_categories(world):
    torch.set_num_threads(1)
    (x, o, c), (xt, ot, ct) = world
    torch.manual_seed(0)
    untrained = CTLHeads(HeadsConfig(in_dim=x.shape[1])).eval()
    heads, curves = train_heads(x, o, c, TrainConfig(method="triplet-category", epochs=15, batch_size=64))
    with torch.no_grad():
        emb0 = untrained.embed(torch.as_tensor(xt)).numpy()
        emb = heads.embed(torch.as_tensor(xt)).numpy()
        acc = (heads.classify(torch.as_tensor(xt)).argmax(1).numpy() == ct).mean()
    before, after = _pair_accuracy(emb0, ot, ct), _pair_accuracy(emb, ot, ct)
    # held-out outfits: an outfit-mate (same theme, other category) is closer than a random item
    assert after >= 0.85, f"outfit-mates closer than random items in only {after:.1%} of held-out triplets"
    assert after >= before + 0.15, f"training barely helped: {before:.1%} -> {after:.1%}"
    rng = np.random.default_rng(1)
    mates = np.array([rng.choice(np.flatnonzero((ot == ot[i]) & (ct != ct[i]))) for i in range(len(ot))])
    randoms = rng.integers(len(ot), size=len(ot))
    d_mate = np.linalg.norm(emb - emb[mates], axis=1).mean()
    d_rand = np.linalg.norm(emb - emb[randoms], axis=1).mean()
    assert d_rand - d_mate > 0.3, f"mean distance mate {d_mate:.3f} vs random {d_rand:.3f}"
    assert acc >= 0.95, f"category head accuracy {acc:.1%} on held-out items"
    assert curves["category_acc"].iloc[-1] >= 0.95


# ------------------------------------------------------------------------------------------- workspace wiring

def _items_workspace(tmp_path, n_outfits=6, with_images=False):
    """A tiny items.csv (4 items per outfit, distinct categories) and optional 48-px PNGs."""
    from PIL import Image
    ws = Workspace.at(tmp_path).ensure()
    rng = np.random.default_rng(0)
    rows = []
    for o in range(n_outfits):
        for j, cat in enumerate(rng.choice(len(CATEGORIES), size=4, replace=False)):
            path = f"universe/products/o{o}_{j}.png"
            if with_images:
                (ws.root / path).parent.mkdir(parents=True, exist_ok=True)
                colour = tuple(int(v) for v in rng.integers(0, 255, size=3))
                Image.new("RGB", (48, 48), colour).save(ws.root / path)
            rows.append({"item_id": f"i{o}_{j}", "outfit_id": f"outfit{o}", "category": CATEGORIES[cat],
                         "image_path": path, "box_x": "", "box_y": "", "box_w": "", "box_h": "", "product_id": "",
                         "price": "", "split": "test" if o >= n_outfits - 2 else "train"})
    write_table(pd.DataFrame(rows), ws.items_csv, ITEM_COLUMNS)
    return ws


def test_train_writes_the_run_folder(tmp_path, monkeypatch):
    """train() with a stand-in backbone and stand-in cached features: the run folder save_run writes."""
    ws = _items_workspace(tmp_path)

    def cached_features(ws_, backbone, sources, progress=None):
        return np.stack([np.random.default_rng(zlib.crc32(p.encode())).normal(size=16) for p, _ in sources]
                        ).astype(np.float32)

    monkeypatch.setattr(training, "create_backbone",
                        lambda name, pretrained=True: types.SimpleNamespace(name=name, num_features=16))
    monkeypatch.setattr(training, "item_sources", lambda df: [(p, None) for p in df["image_path"]])
    monkeypatch.setattr(training, "cached_features", cached_features)
    config = TrainConfig(method="siamese-1to1", epochs=2, batch_size=8, items_per_outfit=2)
    run = train(ws, config, backbone_name="fake")
    assert run == ws.model_dir("siamese-1to1")
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["method"] == "siamese-1to1" and cfg["backbone"] == "fake"
    assert cfg["train"] == json.loads(json.dumps(config.to_dict()))
    heads = CTLHeads(HeadsConfig(**cfg["heads"]))
    heads.load_state_dict(torch.load(run / "heads.pt", weights_only=True))
    curves = pd.read_csv(run / "curves.csv")
    assert list(curves["epoch"]) == [1, 2] and "val_pair_acc" in curves.columns


def test_train_refuses_a_workspace_without_training_outfits(tmp_path):
    ws = _items_workspace(tmp_path, n_outfits=2)  # both outfits are test outfits
    with pytest.raises(TrainingError, match="training outfits"):
        train(ws, TrainConfig(epochs=1))


@pytest.mark.parametrize("mode, chunk", [("heads", None), ("end-to-end", None), ("end-to-end", 4)])
def test_train_with_tiny_cnn(tmp_path, mode, chunk):
    """Real backbone/features/model modules, random tiny CNN: heads on cached features, or 1 fine-tuning step."""
    torch.set_num_threads(1)
    ws = _items_workspace(tmp_path, with_images=True)
    config = TrainConfig(method="triplet-category", epochs=1, batch_size=8, items_per_outfit=2, mode=mode,
                         max_steps=1, device="cpu", chunk_size=chunk)
    run = train(ws, config, backbone_name="tiny-cnn")
    assert (run / "heads.pt").is_file() and (run / "curves.csv").is_file()
    assert (run / "backbone.pt").is_file() == (mode == "end-to-end")
    loaded = load_model(ws, "triplet-category", device="cpu", fuse=False)
    if mode == "end-to-end":
        fresh = create_backbone("tiny-cnn")
        changed = any(not torch.equal(a, b) for a, b in zip(loaded.backbone.state_dict().values(),
                                                            fresh.state_dict().values()))
        assert changed, "end-to-end training must update the backbone"


def test_pair_accuracy_perfect_and_inverted():
    outfits = np.repeat(np.arange(10), 3)
    cats = np.tile([0, 1, 2], 10)
    emb = np.eye(10)[outfits].astype(np.float32)  # outfit-mates coincide, other outfits are far
    assert _pair_accuracy(emb, outfits, cats) == 1.0
    # embeddings that encode only the category: a mate (other category) is never strictly closer
    assert _pair_accuracy(np.eye(3)[cats], outfits, cats) == 0.0


def test_chunk_size_validated():
    with pytest.raises(TrainingError, match="chunk_size"):
        TrainConfig(chunk_size=3)
