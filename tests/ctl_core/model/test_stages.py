"""Backbone stages: frozen part + trainable top = the whole forward, shared parameters, cached stage inputs."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ctl_core.config import Workspace
from ctl_core.model.backbone import build_transform, create_backbone, inference_copy
from ctl_core.model.features import cached_stage_inputs, derive_stage_inputs, stage_cache_name
from ctl_core.model.stages import TrainableTop, frozen_input, num_stages


@pytest.fixture(scope="module")
def tiny():
    return create_backbone("tiny-cnn")


def test_lite0_stage_inputs_and_split_forward():
    bb = create_backbone("efficientnet-lite0")
    assert num_stages(bb) == 8
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        full = bb.forward_features(x)
        assert tuple(frozen_input(bb, x, 1).shape) == (2, 192, 7, 7)
        assert tuple(frozen_input(bb, x, 2).shape) == (2, 112, 14, 14)
        for k in (0, 1, 2, 8):
            torch.testing.assert_close(TrainableTop(bb, k)(frozen_input(bb, x, k)), full, rtol=0, atol=1e-5)


def test_top_shares_parameters_with_the_backbone_and_splits_exactly(tiny):
    x = torch.randn(4, 3, 64, 64)
    full = tiny.forward_features(x)
    own = {id(p) for p in tiny.parameters()}
    for k in range(num_stages(tiny) + 1):
        top = TrainableTop(tiny, k)
        assert {id(p) for p in top.parameters()} <= own
        torch.testing.assert_close(top(frozen_input(tiny, x, k)), full, rtol=0, atol=1e-6)
        folded = inference_copy(tiny)  # the cache runs the frozen part with batch norm folded
        torch.testing.assert_close(top(frozen_input(folded, x, k)), full, rtol=1e-4, atol=1e-5)
    assert len(list(TrainableTop(tiny, 0).parameters())) == 0  # tiny-cnn's head is a plain mean
    with pytest.raises(ValueError, match="trainable_stages"):
        TrainableTop(tiny, num_stages(tiny) + 1)


def _images(ws: Workspace, n: int = 6) -> list[tuple[str, None]]:
    rng = np.random.default_rng(0)
    (ws.root / "img").mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        Image.fromarray((rng.random((60, 80, 3)) * 255).astype(np.uint8)).save(ws.root / f"img/p{i}.png")
        out.append((f"img/p{i}.png", None))
    return out


def test_cached_stage_inputs_match_the_frozen_forward_and_are_reused(tmp_path, tiny):
    ws = Workspace.at(tmp_path)
    sources = _images(ws)
    maps = cached_stage_inputs(ws, tiny, sources + sources[:2], 1)
    assert maps.dtype == np.float16 and maps.shape == (8, 32, 16, 16)
    tf = build_transform(tiny.preprocess)
    x = torch.stack([tf(Image.open(ws.abs(p)).convert("RGB")) for p, _ in sources])
    with torch.no_grad():
        direct = frozen_input(tiny, x, 1).numpy()
    np.testing.assert_allclose(maps[:6].astype(np.float32), direct, rtol=2e-3, atol=2e-3)
    np.testing.assert_array_equal(maps[6:], maps[:2])
    folder = ws.features_dir(stage_cache_name(tiny, 1))
    assert folder.name == "tiny-cnn-stage2-input"
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["shape"] == [32, 16, 16] and meta["dtype"] == "float16"
    calls = []
    again = cached_stage_inputs(ws, tiny, sources, 1, progress=lambda *a: calls.append(a))
    np.testing.assert_array_equal(again, maps[:6])
    assert calls == [("features", 0, 0)]  # nothing recomputed
    flipped = cached_stage_inputs(ws, tiny, sources[:1], 1, flip=True)
    with torch.no_grad():
        np.testing.assert_allclose(flipped[0].astype(np.float32), frozen_input(tiny, x[:1].flip(3), 1)[0].numpy(),
                                   rtol=2e-3, atol=2e-3)
    with pytest.raises(ValueError, match="stage inputs"):
        cached_stage_inputs(ws, tiny, sources, num_stages(tiny))


def test_derived_stage_inputs_equal_those_computed_from_images(tmp_path, tiny):
    ws = Workspace.at(tmp_path)
    sources = _images(ws)
    cached_stage_inputs(ws, tiny, sources, 2)
    assert derive_stage_inputs(ws, tiny, 2, 1) == len(sources)
    assert derive_stage_inputs(ws, tiny, 2, 1) == 0  # already there
    calls = []
    derived = cached_stage_inputs(ws, tiny, sources, 1, progress=lambda *a: calls.append(a))
    assert calls == [("features", 0, 0)]  # the derived rows are used: nothing computed from images
    direct = cached_stage_inputs(Workspace.at(tmp_path / "other"), tiny,
                                 [(str(ws.abs(p)), None) for p, _ in sources], 1)
    np.testing.assert_allclose(derived.astype(np.float32), direct.astype(np.float32), rtol=5e-3, atol=5e-3)
