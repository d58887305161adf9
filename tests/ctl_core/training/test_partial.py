"""Partial fine-tuning from cached stage inputs: same outputs and gradients as on the fly, it learns, and the run
folder serves the adapted backbone."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from ctl_core.config import Workspace
from ctl_core.data.categories import CATEGORIES
from ctl_core.data.tables import ITEM_COLUMNS, write_table
from ctl_core.model.backbone import build_transform, create_backbone
from ctl_core.model.ctl_model import load_model
from ctl_core.model.features import cached_features, item_sources
from ctl_core.model.heads import CTLHeads, HeadsConfig
from ctl_core.model.stages import TrainableTop, frozen_input, num_stages
from ctl_core.training import partial
from ctl_core.training.train import TrainConfig, TrainingError, train, train_partial


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _workspace(root, n_outfits: int = 10) -> Workspace:
    """Outfits of 4 items (distinct categories); each outfit has its own base colour, items add texture."""
    ws = Workspace.at(root).ensure()
    rng = np.random.default_rng(0)
    rows = []
    for o in range(n_outfits):
        base = rng.integers(0, 255, size=3)
        for j, cat in enumerate(rng.choice(len(CATEGORIES), size=4, replace=False)):
            path = f"universe/products/o{o}_{j}.png"
            (ws.root / path).parent.mkdir(parents=True, exist_ok=True)
            arr = np.clip(base + 60 * rng.standard_normal((48, 48, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(ws.root / path)
            rows.append({"item_id": f"i{o}_{j}", "outfit_id": f"outfit{o}", "category": CATEGORIES[cat],
                         "image_path": path, "box_x": "", "box_y": "", "box_w": "", "box_h": "", "product_id": "",
                         "price": "", "split": "test" if o >= n_outfits - 2 else "train"})
    write_table(pd.DataFrame(rows), ws.items_csv, ITEM_COLUMNS)
    return ws


def _images(ws: Workspace, sources) -> torch.Tensor:
    tf = build_transform(create_backbone("tiny-cnn").preprocess)
    return torch.stack([tf(Image.open(ws.abs(p)).convert("RGB")) for p, _ in sources])


@pytest.mark.parametrize("k", [1, 2])
def test_cached_inputs_give_the_same_outputs_and_gradients_as_running_the_stages_on_the_fly(tmp_path, k):
    ws = _workspace(tmp_path, n_outfits=3)
    sources = [(f"universe/products/o{o}_{j}.png", None) for o in range(3) for j in range(4)]
    bb = create_backbone("tiny-cnn").eval()
    heads = CTLHeads(HeadsConfig(in_dim=bb.num_features)).eval()
    weights = torch.randn(len(sources), 128)

    def grads(feats: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        bb.zero_grad()
        loss = (heads.embed(feats) * weights).sum()
        loss.backward()
        return feats.detach(), [p.grad.clone() for p in TrainableTop(bb, k).parameters()]

    inputs = partial.stage_inputs(ws, bb, sources, k)  # cached float16 maps of the frozen stages
    cached_out, cached_grads = grads(TrainableTop(bb, k)(inputs.take(np.arange(len(sources)))))
    for p in bb.parameters():  # on the fly: the whole backbone from images, lower stages frozen
        p.requires_grad_(False)
    for p in TrainableTop(bb, k).parameters():
        p.requires_grad_(True)
    fly_out, fly_grads = grads(bb.forward_features(_images(ws, sources)))
    torch.testing.assert_close(cached_out, fly_out, rtol=1e-2, atol=1e-3)
    assert len(cached_grads) == len(fly_grads) > 0
    for a, b in zip(cached_grads, fly_grads):  # float16 storage only: a ReLU may flip for a rounded input
        assert float((a - b).norm() / b.norm()) < 1e-2


def test_partial_training_lowers_the_loss_and_changes_only_the_top(tmp_path):
    ws = _workspace(tmp_path)
    bb = create_backbone("tiny-cnn")
    before = {k: v.clone() for k, v in bb.state_dict().items()}
    items = pd.read_csv(ws.items_csv, dtype=str, keep_default_na=False)
    items = items[items["split"] == "train"]
    config = TrainConfig(method="triplet-category", epochs=8, batch_size=16, items_per_outfit=2, mode="partial",
                         trainable_stages=1, device="cpu", backbone_lr=1e-3)
    heads, curves = train_partial(ws, item_sources(items), items["outfit_id"].to_numpy(),
                                  items["category"].to_numpy(), bb, config)
    assert list(curves["phase"].unique()) == ["partial"] and len(curves) == 8
    assert curves["loss"].iloc[-3:].mean() < curves["loss"].iloc[:3].mean()
    after = bb.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("body.features.6.", "body.features.7.")) for k in changed)  # last stage
    for k in before:
        if k.endswith(("running_mean", "running_var")):
            assert torch.equal(before[k], after[k]), f"{k}: batch-norm statistics stay frozen"
    assert not heads.training


def test_warmup_trains_heads_first_and_curves_say_so(tmp_path):
    ws = _workspace(tmp_path, n_outfits=6)
    items = pd.read_csv(ws.items_csv, dtype=str, keep_default_na=False)
    items = items[items["split"] == "train"]
    config = TrainConfig(method="triplet-category", epochs=1, batch_size=8, items_per_outfit=2, mode="partial",
                         trainable_stages=2, warmup_epochs=2, device="cpu")
    _, curves = train_partial(ws, item_sources(items), items["outfit_id"].to_numpy(), items["category"].to_numpy(),
                              create_backbone("tiny-cnn"), config)
    assert list(curves["phase"]) == ["heads", "heads", "partial"]


def test_run_records_mode_and_stages_and_serving_loads_the_adapted_backbone(tmp_path):
    ws = _workspace(tmp_path, n_outfits=6)
    config = TrainConfig(method="triplet-category", epochs=2, batch_size=8, items_per_outfit=2, mode="partial",
                         trainable_stages=1, device="cpu", backbone_lr=1e-2)
    run = train(ws, config, backbone_name="tiny-cnn")
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["mode"] == "partial" and cfg["train"]["trainable_stages"] == 1
    assert (run / "backbone.pt").is_file()
    model = load_model(ws, "triplet-category", device="cpu")  # folded batch norm, as serving loads it
    fresh = create_backbone("tiny-cnn")
    items = pd.read_csv(ws.items_csv, dtype=str, keep_default_na=False)
    sources = item_sources(items)[:8]
    x = _images(ws, sources)
    with torch.no_grad():
        served = model.forward_features(x)
        assert not torch.allclose(served, fresh.forward_features(x), atol=1e-4)  # the adapted backbone is used
        tuned = load_model(ws, "triplet-category", device="cpu", fuse=False).backbone
        top = TrainableTop(tuned, 1)
        torch.testing.assert_close(served, top(frozen_input(fresh, x, 1)), rtol=1e-4, atol=1e-5)  # lower: frozen
    # catalogue inference's cache for this model is its own folder, filled from the adapted backbone
    feats = cached_features(ws, model.backbone, sources)
    np.testing.assert_allclose(feats, served.numpy(), rtol=1e-4, atol=1e-5)
    assert model.backbone.cache_name == "tiny-cnn--triplet-category"
    fast, bad = partial.adapted_features(ws, "triplet-category", sources)  # from the cached stage inputs
    assert not bad.any()
    np.testing.assert_allclose(fast, served.numpy(), rtol=1e-2, atol=1e-3)


def test_every_stage_trainable_is_end_to_end_on_images(tmp_path):
    ws = _workspace(tmp_path, n_outfits=6)
    n = num_stages(create_backbone("tiny-cnn"))
    config = TrainConfig(method="triplet-category", epochs=1, batch_size=8, items_per_outfit=2, mode="partial",
                         trainable_stages=n, max_steps=1, device="cpu", chunk_size=4)
    run = train(ws, config, backbone_name="tiny-cnn")
    tuned = load_model(ws, "triplet-category", device="cpu", fuse=False).backbone.state_dict()
    fresh = create_backbone("tiny-cnn").state_dict()
    assert not torch.equal(tuned["body.features.0.weight"], fresh["body.features.0.weight"])  # the first stage too
    assert not (ws.root / "features").exists()  # images in, nothing cached
    assert (run / "backbone.pt").is_file()
    with pytest.raises(TrainingError, match="trainable_stages"):
        train(ws, TrainConfig(mode="partial", trainable_stages=n + 1, epochs=1, device="cpu"), backbone_name="tiny-cnn")
    with pytest.raises(TrainingError, match="trainable_stages"):
        TrainConfig(mode="partial", trainable_stages=-1)


def test_cli_parses_partial_mode():
    from ctl_core.cli import build_parser
    args = build_parser().parse_args(["train", "--method", "triplet-category", "--mode", "partial",
                                      "--trainable-stages", "2", "--warmup-epochs", "3"])
    assert (args.mode, args.trainable_stages, args.warmup_epochs) == ("partial", 2, 3)
