"""The partial fine-tuning benchmark on a tiny workspace: one row per setting, the best run saved and served."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch
from PIL import Image

from ctl_core.bench.partial import format_table, run_partial_bench
from ctl_core.config import Workspace
from ctl_core.data.categories import CATEGORIES
from ctl_core.data.tables import CATALOGUE_COLUMNS, ITEM_COLUMNS, write_table
from ctl_core.evaluation.protocol import EvalConfig
from ctl_core.training.partial import adapted_features
from ctl_core.training.train import TrainConfig
from ctl_core.training.validation import ValidationConfig


def _workspace(root) -> Workspace:
    """24 outfits of 5 items (one colour per outfit), 3 of them test; 20 labelled photos for the category head."""
    ws = Workspace.at(root).ensure()
    rng = np.random.default_rng(0)
    (ws.root / "img").mkdir()

    def image(name: str, base) -> str:
        arr = np.clip(base + 50 * rng.standard_normal((40, 40, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(ws.root / f"img/{name}.png")
        return f"img/{name}.png"

    rows = []
    for o in range(24):
        base = rng.integers(0, 255, size=3)
        for j in range(5):
            rows.append({"item_id": f"i{o}_{j}", "outfit_id": f"o{o}", "category": CATEGORIES[j],
                         "image_path": image(f"o{o}_{j}", base), "box_x": "", "box_y": "", "box_w": "", "box_h": "",
                         "product_id": f"p{o}_{j}", "price": "", "split": "test" if o >= 21 else "train"})
    write_table(pd.DataFrame(rows), ws.items_csv, ITEM_COLUMNS)
    ex = [{"product_id": f"x{i}", "category": CATEGORIES[i % 5], "image_path": image(f"x{i}", [40 * (i % 5)] * 3),
           "price": "", "title": "", "source": "folder", "is_product_shot": "", "theme": "", "colour": ""}
          for i in range(20)]
    write_table(pd.DataFrame(ex), ws.category_examples_csv, CATALOGUE_COLUMNS)
    return ws


def test_bench_rows_and_best_run(tmp_path):
    torch.set_num_threads(1)
    ws = _workspace(tmp_path)
    (ws.root / "img" / "o23_0.png").write_bytes(b"")  # a test item: the bench must never read it
    base = TrainConfig(method="triplet-category", batch_size=20, items_per_outfit=2, negatives_per_positive=4,
                       margin=0.2, device="cpu", category_batch=8, backbone_lr=1e-3)
    cv = ValidationConfig(fraction=0.25, eval=EvalConfig(corpus_size=10, min_outfits=2, min_category_items=2))
    rows = run_partial_bench(ws, stages=(0, 1, 2), epochs=1, warmup_epochs=2, base=base, backbone_name="tiny-cnn",
                             config_v=cv, save_best="best", say=lambda s: None)
    assert [r["stages"] for r in rows] == [0, 1, 2]
    for r in rows:
        assert 0 <= r["FITB"] <= 1 and 0 <= r["photo_category_acc"] <= 1 and r["n_photos"] > 0
        assert r["cache_mib"] > 0 and r["train_minutes"] >= 0
    assert rows[2]["cache_minutes"] > 0 and rows[1]["cache_mib"] < rows[2]["cache_mib"]
    assert "| 2 |" in format_table(rows)
    cfg = json.loads((ws.model_dir("best") / "config.json").read_text())
    assert cfg["fit_outfits_only"] and cfg["validation"]["stages"] in (0, 1, 2)
    if cfg["train"]["mode"] == "partial":
        feats, bad = adapted_features(ws, "best", [("img/o0_0.png", None), ("img/missing.png", None)])
        assert feats.shape == (2, 64) and bad.tolist() == [False, True]
