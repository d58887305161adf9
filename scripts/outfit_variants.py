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

from ctl_core.config import Workspace
from ctl_core.training.outfit import (
    OutfitTrainConfig,
    _products,
    train_outfit_model,
    validation_arrays,
    validation_split,
)


def main(workspace: str, name: str, overrides: dict) -> dict:
    fit, val, f_fit, f_val = validation_split(Workspace.at(workspace))
    t0 = time.time()
    _, _, summary = train_outfit_model(
        f_fit, fit["outfit_id"].to_numpy(), fit["category"].to_numpy(), _products(fit), OutfitTrainConfig(**overrides),
        val=validation_arrays(val, f_val))
    return {"name": name, "overrides": overrides, **summary, "wall_s": time.time() - t0}


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: outfit_variants.py WORKSPACE NAME '{\"field\": value, ...}'")
    print(json.dumps(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))))
