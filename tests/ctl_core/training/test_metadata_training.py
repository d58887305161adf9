"""Training with the metadata side input end to end on the tiny demo workspace: train → evaluate → index →
recommend, catalogue products served with their metadata, uploaded photos with none; ``train --validate``."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ctl_core.cli import main
from ctl_core.data.tables import read_catalogue
from ctl_core.model.ctl_model import load_model
from ctl_core.model.features import cached_features
from ctl_core.serving.catalogue import load_catalogue_inference
from ctl_core.training.train import TrainConfig, TrainingError

METHOD = "triplet-category"


def test_metadata_run_is_trained_evaluated_indexed_and_served(demo_ws_copy, capsys):
    ws = demo_ws_copy
    args = ["--workspace", str(ws.root), "--quiet"]
    assert main(args + ["train", "--method", METHOD, "--backbone", "tiny-cnn", "--epochs", "3",
                        "--metadata", "colour", "--meta-dropout", "0.3", "--items-per-outfit", "3"]) == 0
    model = load_model(ws, METHOD, device="cpu")
    assert model.heads.uses_metadata and model.heads.config.metadata.fields == ("colour",)
    assert "white" in model.heads.config.metadata.values[0]
    config = json.loads(ws.run_config_path(METHOD).read_text())
    assert config["train"]["metadata"] == ["colour"] and config["train"]["items_per_outfit"] == 3

    assert main(args + ["evaluate", "--methods", METHOD]) == 0
    assert main(args + ["index", "--model", METHOD]) == 0
    preds, emb, _ = load_catalogue_inference(ws, METHOD)
    cat = read_catalogue(ws.catalogue_csv).set_index("product_id").loc[preds["product_id"]].reset_index()
    feats = cached_features(ws, model.backbone, [(p, None) for p in cat["image_path"]])
    with torch.no_grad():
        x = torch.as_tensor(feats)
        served = model.heads.embed(x, model.heads.metadata_codes(cat)).numpy()
        bare = model.heads.embed(x).numpy()
    assert np.allclose(emb, served, atol=1e-4)  # catalogue products are served with their own metadata
    assert not np.allclose(emb, bare, atol=1e-3)

    capsys.readouterr()
    assert main(args + ["recommend", "--model", METHOD, "--image", str(ws.abs(cat.at[0, "image_path"])),
                        "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["results"], "an uploaded photo (no metadata) still gets recommendations"


def test_train_validate_prints_validation_figures_and_writes_nothing(demo_ws_copy, capsys):
    ws = demo_ws_copy
    before = ws.heads_path(METHOD).read_bytes()
    capsys.readouterr()
    assert main(["--workspace", str(ws.root), "--quiet", "train", "--method", METHOD, "--backbone", "tiny-cnn",
                 "--epochs", "2", "--metadata", "colour", "--validate", "--val-fraction", "0.5"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert 0.0 <= res["FITB"] <= 1.0 and res["n_fitb"] > 0 and res["n_val_outfits"] > 0
    assert "without_metadata" in res
    assert ws.heads_path(METHOD).read_bytes() == before


def test_metadata_options_are_checked():
    with pytest.raises(TrainingError, match="unknown metadata field"):
        TrainConfig(metadata=("price",))
    with pytest.raises(TrainingError, match="mode='heads'"):
        TrainConfig(metadata=("colour",), mode="end-to-end")
