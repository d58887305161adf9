"""Full model, run folders, device choice, ImageNet category prior, TorchScript export."""
from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest
import torch
from PIL import Image

from ctl_core.config import Workspace
from ctl_core.data.categories import CATEGORIES, CATEGORY_INDEX
from ctl_core.model.backbone import create_backbone
from ctl_core.model.ctl_model import (
    IMAGENET_PRIOR,
    CTLModel,
    DeviceError,
    ModelNotFoundError,
    category_probs,
    load_model,
    model_checksum,
    pick_device,
    save_run,
)
from ctl_core.model.export import export_model, exported_metadata, load_exported
from ctl_core.model.heads import CTLHeads, HeadsConfig

SANDAL, ESPRESSO = 774, 967


def _heads(in_dim: int, seed: int = 0) -> CTLHeads:
    torch.manual_seed(seed)
    heads = CTLHeads(HeadsConfig(in_dim=in_dim))
    with torch.no_grad():  # non-trivial batch-norm statistics, so eval mode matters
        heads.style[1].running_mean.uniform_(-0.2, 0.2)
        heads.style[1].running_var.uniform_(0.5, 1.5)
    return heads.eval()


def _save(ws: Workspace, method: str, backbone: str, heads: CTLHeads, **kw):
    curves = pd.DataFrame({"epoch": [1, 2], "loss": [1.0, 0.5]})
    return save_run(ws.model_dir(method), heads, backbone, {"method": method, "epochs": 2, "lr": 1e-3}, curves, **kw)


@pytest.fixture(scope="module")
def lite0():
    return create_backbone("efficientnet-lite0")


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DeviceError, match="tpu"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            pick_device("cuda")


def test_ctl_model_outputs():
    bb = create_backbone("tiny-cnn")
    model = CTLModel(bb, _heads(64)).eval()
    imgs = [Image.new("RGB", (80, 60), c) for c in ("red", "navy", "white")]
    x = model.prepare(imgs)
    assert x.shape == (3, 3, 64, 64)
    with torch.no_grad():
        logits, emb = model(x)
        assert logits.shape == (3, len(CATEGORIES)) and emb.shape == (3, 128)
        assert torch.allclose(emb.norm(dim=1), torch.ones(3), atol=1e-5)
        assert torch.allclose(model.classify(x), logits) and torch.allclose(model.embed(x), emb)
        assert torch.allclose(model.forward_features(x), bb.forward_features(x))
    with pytest.raises(ValueError, match="128-d features"):
        CTLModel(bb, CTLHeads(HeadsConfig(in_dim=128)))


def test_save_run_then_load_model_round_trip(tmp_path):
    ws = Workspace.at(tmp_path)
    heads = _heads(64, seed=3)
    run = _save(ws, "triplet-category", "tiny-cnn", heads)
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "curves.csv", "heads.pt"]  # no temp files
    config = json.loads((run / "config.json").read_text())
    assert config["method"] == "triplet-category" and config["backbone"] == "tiny-cnn"
    assert config["heads"] == heads.config.to_dict() and config["train"]["epochs"] == 2
    assert pd.read_csv(run / "curves.csv")["loss"].tolist() == [1.0, 0.5]

    model = load_model(ws, "triplet-category", device="cpu")
    assert not model.training and model.backbone.fused
    reference = CTLModel(create_backbone("tiny-cnn"), heads).eval()
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(model(x), reference(x)):
            assert (a - b).abs().max() < 1e-4
    assert model_checksum(ws, "triplet-category") == hashlib.sha256((run / "heads.pt").read_bytes()).hexdigest()


def test_end_to_end_runs_carry_their_backbone(tmp_path):
    ws = Workspace.at(tmp_path)
    tuned = create_backbone("tiny-cnn")
    with torch.no_grad():
        tuned.body.features[0].weight.mul_(-1.0)
    heads = _heads(64)
    _save(ws, "siamese-1to1", "tiny-cnn", heads, backbone_state=tuned.state_dict())
    before = model_checksum(ws, "siamese-1to1")
    model = load_model(ws, "siamese-1to1", device="cpu", fuse=False)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model.forward_features(x), tuned.forward_features(x))
    # its features never mix with the pretrained backbone's cache
    assert model.backbone.cache_name == "tiny-cnn--siamese-1to1"
    assert model.backbone.fingerprint != create_backbone("tiny-cnn").fingerprint
    _save(ws, "siamese-1to1", "tiny-cnn", heads)  # a heads-only run replaces it: backbone.pt is gone
    assert not (ws.model_dir("siamese-1to1") / "backbone.pt").exists()
    assert model_checksum(ws, "siamese-1to1") != before


def test_missing_runs_are_clear_errors(tmp_path):
    ws = Workspace.at(tmp_path)
    with pytest.raises(ModelNotFoundError, match="train --method classification"):
        load_model(ws, "classification")
    with pytest.raises(ModelNotFoundError, match="heads.pt"):
        model_checksum(ws, "classification")
    _save(ws, "classification", "tiny-cnn", _heads(64))
    (ws.model_dir("classification") / "heads.pt").unlink()
    with pytest.raises(ModelNotFoundError, match="heads.pt is missing"):
        load_model(ws, "classification")


def test_imagenet_prior_indices_match_class_names():
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    expect = {774: "sandal", 770: "running shoe", 610: "jersey", 608: "jean", 655: "miniskirt", 836: "sunglass",
              748: "purse", 679: "necklace", 531: "digital watch", 514: "cowboy boot", 906: "Windsor tie",
              841: "sweatshirt", 474: "cardigan", 869: "trench coat", 806: "sock", 658: "mitten", 464: "buckle"}
    for idx, name in expect.items():
        assert name in info.index_to_description(idx), (idx, info.index_to_description(idx))
    assert set(IMAGENET_PRIOR.values()) <= set(CATEGORIES)
    assert len(set(IMAGENET_PRIOR.values())) >= 18
    assert IMAGENET_PRIOR[SANDAL] == "Shoes" and IMAGENET_PRIOR[514] == "Boots"


def _features_with_logit_peak(backbone, cls: int, n: int = 3) -> torch.Tensor:
    """Pooled features whose ImageNet logits are 15 at ``cls`` and 0 elsewhere (solved through the classifier)."""
    w, b = backbone.imagenet_head.weight.detach(), backbone.imagenet_head.bias.detach()
    target = torch.zeros(1000)
    target[cls] = 15.0
    f = torch.linalg.pinv(w) @ (target - b)
    return f.repeat(n, 1)


def test_category_prior_helps_a_random_head_on_a_sandal(lite0):
    model = CTLModel(lite0, _heads(1280)).eval()
    feats = _features_with_logit_peak(lite0, SANDAL)
    with torch.no_grad():
        assert int(lite0.imagenet_logits(feats)[0].argmax()) == SANDAL
    parts = category_probs(model, feats, return_parts=True)
    probs = parts["probs"]
    assert probs.shape == (3, len(CATEGORIES))
    assert torch.all(probs >= 0) and torch.allclose(probs.sum(1), torch.ones(3), atol=1e-5)
    assert (probs.argmax(1) == CATEGORY_INDEX["Shoes"]).all()
    assert float(parts["head"][0, CATEGORY_INDEX["Shoes"]]) < 0.3  # the random head alone is unsure
    assert float(parts["garment_mass"][0]) > 0.99 and abs(float(parts["weight"][0]) - 0.5) < 0.01
    # the same through heads + explicit logits (cached features path)
    logits = lite0.imagenet_logits(feats).detach()
    assert torch.allclose(category_probs(model.heads, feats, imagenet_logits=logits), probs, atol=1e-6)


def test_prior_stays_out_when_the_image_is_not_clothing(lite0):
    model = CTLModel(lite0, _heads(1280)).eval()
    feats = _features_with_logit_peak(lite0, ESPRESSO)
    parts = category_probs(model, feats, return_parts=True)
    assert float(parts["garment_mass"][0]) < 0.01
    assert torch.allclose(parts["probs"], parts["head"], atol=0.01)
    assert torch.allclose(category_probs(model, feats, prior_weight=0.0), parts["head"])
    # no ImageNet head at all: the trained head alone
    tiny = CTLModel(create_backbone("tiny-cnn"), _heads(64)).eval()
    f = torch.randn(2, 64)
    with torch.no_grad():
        assert torch.allclose(category_probs(tiny, f), torch.softmax(tiny.heads.classify(f), -1))


@pytest.mark.parametrize("backbone", ["tiny-cnn", "efficientnet-lite0"])
def test_export_agrees_with_eager(tmp_path, backbone):
    ws = Workspace.at(tmp_path)
    dim = 64 if backbone == "tiny-cnn" else 1280
    heads = _heads(dim, seed=1)
    _save(ws, "triplet-random", backbone, heads)
    path = export_model(ws, "triplet-random")
    assert path == ws.model_dir("triplet-random") / "model.ts" and path.is_file()
    meta = exported_metadata(path)
    assert meta["backbone"] == backbone and meta["heads_checksum"] == model_checksum(ws, "triplet-random")
    size = meta["preprocess"]["input_size"]
    exported = load_exported(path, "cpu")
    eager = load_model(ws, "triplet-random", device="cpu")
    unfused = CTLModel(create_backbone(backbone), heads).eval()
    x = torch.randn(3, 3, size, size, generator=torch.Generator().manual_seed(5))  # batch differs from the trace's
    with torch.no_grad():
        logits, emb = exported(x)
        e_logits, e_emb = eager(x)
        u_logits, u_emb = unfused(x)
    assert logits.shape == (3, len(CATEGORIES)) and emb.shape == (3, 128)
    assert (logits - e_logits).abs().max() < 1e-4 and (emb - e_emb).abs().max() < 1e-4
    assert (logits - u_logits).abs().max() < 1e-3 and (emb - u_emb).abs().max() < 1e-3
