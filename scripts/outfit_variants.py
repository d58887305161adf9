"""Outfit-model variants on the VALIDATION split of a workspace (the test split is never read).

Trains the outfit model on the training outfits minus the validation share (ctl_core.training.validation, seed 1)
with the OutfitTrainConfig fields given as JSON, and prints the best validation FITB (the early-stopping draw),
compatibility AUC and epochs. The README's "Outfit model" variant table came from:

    CTL_THREADS=1 .venv/bin/python scripts/outfit_variants.py workspace-mango full1 \
        '{"full_context": 1.0, "epochs": 50}'
"""
from __future__ import annotations

import json
import sys
import time

from ctl_core.config import DEFAULT_BACKBONE, Workspace
from ctl_core.data.tables import read_items
from ctl_core.model.backbone import create_backbone
from ctl_core.model.features import cached_features, item_sources
from ctl_core.training.outfit import OutfitTrainConfig, _products, train_outfit_model
from ctl_core.training.validation import ValidationConfig, carve_validation


def main(workspace: str, name: str, overrides: dict) -> dict:
    ws = Workspace.at(workspace)
    fit, val = carve_validation(read_items(ws.items_csv), ValidationConfig())
    backbone = create_backbone(DEFAULT_BACKBONE, pretrained=True)
    f_fit, f_val = cached_features(ws, backbone, item_sources(fit)), cached_features(ws, backbone, item_sources(val))
    t0 = time.time()
    _, _, summary = train_outfit_model(
        f_fit, fit["outfit_id"].to_numpy(), fit["category"].to_numpy(), _products(fit), OutfitTrainConfig(**overrides),
        val={"features": f_val, "outfit_ids": val["outfit_id"].to_numpy(), "categories": val["category"].to_numpy(),
             "product_ids": _products(val)})
    return {"name": name, "overrides": overrides, **summary, "wall_s": time.time() - t0}


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: outfit_variants.py WORKSPACE NAME '{\"field\": value, ...}'")
    print(json.dumps(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))))
