"""Backbone factory: real pretrained weights, deterministic outputs, inference folding, clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from ctl_core.config import DEFAULT_BACKBONE
from ctl_core.model.backbone import (
    BACKBONES,
    Backbone,
    MissingWeightsError,
    Preprocess,
    UnknownBackboneError,
    build_transform,
    create_backbone,
    efficientnet_lite0_weights_path,
    fold_batchnorm,
    inference_copy,
    lukemelas_to_timm_lite0,
    register_backbone,
    resize_crop,
    resize_whole,
)


@pytest.fixture(scope="module")
def lite0() -> Backbone:
    return create_backbone("efficientnet-lite0")


@pytest.fixture(scope="module")
def synthetic_batch() -> torch.Tensor:
    return torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0)) * 0.5


def _sandal_like_image() -> Image.Image:
    img = Image.new("RGB", (300, 260), "white")
    d = ImageDraw.Draw(img)
    d.ellipse((40, 120, 260, 200), fill=(120, 70, 30))
    d.line((80, 120, 150, 60, 220, 120), fill=(90, 50, 20), width=10)
    return img


def test_lite0_weights_rename_and_load_strictly(lite0):
    import timm

    raw = torch.load(efficientnet_lite0_weights_path(), map_location="cpu", weights_only=True)
    assert len(raw) == 296
    renamed = lukemelas_to_timm_lite0(raw)
    reference = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    assert set(renamed) == set(reference)
    assert all(renamed[k].shape == reference[k].shape for k in reference)
    # the factory's model really carries the file's tensors (stem, a middle block, the classifier)
    body = lite0.body.model
    assert torch.equal(body.conv_stem.weight, raw["_conv_stem.weight"])
    assert torch.equal(body.blocks[3][1].conv_dw.weight, raw["_blocks.6._depthwise_conv.weight"])
    assert torch.equal(lite0.imagenet_head.weight, raw["_fc.weight"])
    assert lite0.num_features == 1280 and lite0.imagenet_head.out_features == 1000


def test_lite0_preprocess_is_the_tf_one(lite0):
    p = lite0.preprocess
    assert (p.input_size, p.resize, p.interpolation) == (224, 256, "bicubic")
    assert p.mean == p.std == (0.5, 0.5, 0.5)


def test_pretrained_features_differ_from_random_and_are_stable(lite0, synthetic_batch):
    again = create_backbone("efficientnet-lite0")
    random = create_backbone("efficientnet-lite0", pretrained=False)
    with torch.no_grad():
        a = lite0.forward_features(synthetic_batch)
        b = again.forward_features(synthetic_batch)
        r = random.forward_features(synthetic_batch)
    assert a.shape == (2, 1280)
    assert torch.equal(a, b)  # two loads, same output
    assert (a - r).abs().mean() > 0.1 * a.abs().mean()
    assert random.imagenet_logits(r) is None


def test_imagenet_top1_of_a_synthetic_image_is_deterministic(lite0):
    x = build_transform(lite0.preprocess)(_sandal_like_image()).unsqueeze(0)
    again = create_backbone("efficientnet-lite0")
    with torch.no_grad():
        l1 = lite0.imagenet_logits(lite0.forward_features(x))
        l2 = again.imagenet_logits(again.forward_features(x))
    assert l1.shape == (1, 1000)
    assert int(l1.argmax()) == int(l2.argmax())
    assert torch.allclose(l1, l2)
    # a trained classifier is confident on something; random logits would be flat
    assert torch.softmax(l1, -1).max() > 0.02


def test_inference_copy_folds_batchnorm_without_changing_outputs(lite0, synthetic_batch):
    fast = inference_copy(lite0)
    assert fast.fused and fast.channels_last and not lite0.fused
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in lite0.modules())  # original untouched
    with torch.no_grad():
        ref = lite0.forward_features(synthetic_batch)
        out = fast.forward_features(synthetic_batch.contiguous(memory_format=torch.channels_last))
    assert (ref - out).abs().max() < 1e-3 * ref.abs().max()


def test_fold_batchnorm_on_tiny_cnn_is_exact():
    bb = create_backbone("tiny-cnn")
    for m in bb.modules():  # non-trivial running statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        ref = bb.forward_features(x)
        assert fold_batchnorm(bb.body) == 3
        out = bb.forward_features(x)
    assert torch.allclose(ref, out, atol=1e-5)


def test_tiny_cnn_is_deterministic_per_seed():
    a, b, c = create_backbone("tiny-cnn"), create_backbone("tiny-cnn"), create_backbone("tiny-cnn", seed=1)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        fa, fb, fc = a.forward_features(x), b.forward_features(x), c.forward_features(x)
    assert fa.shape == (2, 64) and a.num_features == 64
    assert torch.equal(fa, fb) and not torch.allclose(fa, fc)
    assert a.preprocess.input_size == 64
    assert a.imagenet_logits(fa) is None and not a.has_imagenet_head
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_unknown_backbone_is_a_clear_error():
    with pytest.raises(UnknownBackboneError, match="vgg16.*efficientnet-lite0"):
        create_backbone("vgg16")
    assert issubclass(UnknownBackboneError, ValueError)


def test_backbones_are_a_registry():
    assert BACKBONES == ("efficientnet-lite0", "efficientnet-lite2", "resnet50", "tiny-cnn")
    assert DEFAULT_BACKBONE in BACKBONES
    with pytest.raises(UnknownBackboneError, match="vgg16.*efficientnet-lite0, efficientnet-lite2, resnet50, tiny-cnn"):
        create_backbone("vgg16")
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("tiny-cnn")(lambda pretrained, weights_path, seed: None)


def test_feature_map_mean_is_the_pooled_feature():
    bb = create_backbone("tiny-cnn")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        fmap = bb.forward_feature_map(x)
        assert fmap.ndim == 4 and fmap.shape[1] == bb.num_features == bb.feature_map_channels
        assert torch.allclose(fmap.mean(dim=(2, 3)), bb.forward_features(x), atol=1e-5)
        fast = inference_copy(bb)  # the folded copy gives the same map
        assert torch.allclose(fast.forward_feature_map(x), fmap, atol=1e-5)


def test_resize_whole_keeps_the_whole_image():
    img = _sandal_like_image()
    pre = Preprocess(input_size=64, resize=64, interpolation="bilinear")
    out = resize_whole(img, pre)
    assert out.size == (64, 64)
    assert np.array_equal(np.asarray(out), np.asarray(img.resize((64, 64), Image.Resampling.BILINEAR)))


def test_resnet50_pretrained_needs_a_weights_file(monkeypatch, tmp_path):
    monkeypatch.delenv("CTL_RESNET50_WEIGHTS", raising=False)
    with pytest.raises(MissingWeightsError, match="CTL_RESNET50_WEIGHTS") as e:
        create_backbone("resnet50")
    assert "weights_path" in str(e.value) and isinstance(e.value, ValueError)
    monkeypatch.setenv("CTL_RESNET50_WEIGHTS", str(tmp_path / "nope.pth"))
    with pytest.raises(MissingWeightsError, match="nope.pth"):
        create_backbone("resnet50")
    rnd = create_backbone("resnet50", pretrained=False)
    assert rnd.num_features == 2048 and rnd.imagenet_logits(torch.zeros(1, 2048)) is None
    assert rnd.preprocess.mean == (0.485, 0.456, 0.406)


def test_transform_matches_torchvision_resize_and_centre_crop():
    from torchvision import transforms as T

    img = _sandal_like_image()
    pre = Preprocess()
    ours = np.asarray(resize_crop(img, pre), dtype=np.float32)
    ref = T.CenterCrop(224)(T.Resize(256, interpolation=T.InterpolationMode.BICUBIC)(img))
    assert ours.shape == (224, 224, 3)
    assert np.abs(ours - np.asarray(ref, dtype=np.float32)).mean() < 2.0
    x = build_transform(pre)(img)
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    assert -1.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert abs(float(x[:, 0, 0].mean()) - 1.0) < 1e-6  # white corner → (1 - 0.5) / 0.5

