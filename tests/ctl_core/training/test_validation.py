"""Tuning on a validation split carved from the training outfits: disjoint, seeded, never touching test."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ctl_core.data.categories import CATEGORIES
from ctl_core.evaluation.protocol import EvalConfig
from ctl_core.training.train import TrainConfig, TrainingError
from ctl_core.training.validation import ValidationConfig, carve_validation, validate_heads


def _items(n_outfits: int = 60, size: int = 5, test_every: int = 5) -> pd.DataFrame:
    rows = []
    for o in range(n_outfits):
        for k in range(size):
            rows.append({"item_id": f"o{o}-{k}", "outfit_id": f"o{o}", "category": CATEGORIES[k],
                         "product_id": f"p{o}-{k}", "split": "test" if o % test_every == 0 else "train"})
    return pd.DataFrame(rows)


def test_carve_validation_is_by_outfit_seeded_and_leaves_test_out():
    items = _items()
    fit, val = carve_validation(items, ValidationConfig(fraction=0.25, seed=1))
    assert set(fit["outfit_id"]).isdisjoint(val["outfit_id"])
    assert not (set(fit["outfit_id"]) | set(val["outfit_id"])) & set(items.loc[items.split == "test", "outfit_id"])
    assert len(fit) + len(val) == int((items.split == "train").sum())
    assert val["outfit_id"].nunique() == round(48 * 0.25)
    again, _ = carve_validation(items.sample(frac=1, random_state=3), ValidationConfig(fraction=0.25, seed=1))
    assert set(again["outfit_id"]) == set(fit["outfit_id"])  # row order does not matter
    other, _ = carve_validation(items, ValidationConfig(fraction=0.25, seed=2))
    assert set(other["outfit_id"]) != set(fit["outfit_id"])
    with pytest.raises(TrainingError, match="fraction"):
        ValidationConfig(fraction=1.0)


def test_validate_heads_learns_outfit_clusters_and_reports_counts():
    items = _items()
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((60, 16))
    outfit = items["outfit_id"].str[1:].astype(int).to_numpy()
    feats = (centres[outfit] + 0.3 * rng.standard_normal((len(items), 16))).astype(np.float32)
    feats[items["split"].eq("test").to_numpy()] = np.nan  # test rows must never be read
    config = TrainConfig(method="triplet-category", epochs=8, batch_size=40, seed=0)
    res = validate_heads(feats, items, config, ValidationConfig(
        fraction=0.25, eval=EvalConfig(corpus_size=20, min_outfits=2, min_category_items=5)))
    assert res["n_val_outfits"] == 12 and res["n_fit_outfits"] == 36
    assert res["n_fitb"] == 12
    # outfit mates share a cluster centre the heads never saw: far better than chance (25%)
    assert res["FITB"] >= 0.75 and res["R@10"] > 0.5
    assert "val_pair_acc" in res["curves"]
