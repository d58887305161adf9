"""``build`` after an import, on a tiny outfit table made here (tiny CNN backbone, one method, one epoch)."""
from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
from PIL import Image, ImageDraw

from ctl_core.cli import main
from ctl_core.config import Workspace
from ctl_core.data.importers import import_outfits
from ctl_core.workflows.build import BuildConfig, BuildError, build_workspace, stale

TYPES = ["T-shirt", "Trousers", "Sandals", "Handbag", "Earrings"]


def outfit_table(root, n_outfits=36, seed=0):
    """products.csv + outfits.csv: ``n_outfits`` outfits of 5 products (one per type), product shots on grey."""
    rng = np.random.default_rng(seed)
    (root / "img").mkdir(parents=True)
    products, outfits = [], []
    for o in range(n_outfits):
        base = rng.integers(30, 220, size=3)
        for k, t in enumerate(TYPES):
            pid = f"P{o:03d}{k}"
            img = Image.new("RGB", (40, 56), (236, 233, 226))
            colour = tuple(int(c) for c in np.clip(base + rng.integers(-25, 25, size=3), 0, 255))
            ImageDraw.Draw(img).rectangle([8 + k, 8, 32, 48 - k], fill=colour)
            img.save(root / "img" / f"{pid}.jpg")
            products.append([pid, t, f"img/{pid}.jpg"])
            outfits.append([f"o{o}", pid])
    for name, header, rows in (("products.csv", ["product_id", "type", "image"], products),
                               ("outfits.csv", ["outfit_id", "product_id"], outfits)):
        with open(root / name, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
    return root


CONFIG = BuildConfig(methods=("triplet-category",), backbone="tiny-cnn", epochs=1)


@pytest.fixture
def imported(tmp_path) -> Workspace:
    ws = Workspace.at(tmp_path / "ws")
    import_outfits(ws, outfit_table(tmp_path / "shop"))
    return ws


def test_build_runs_every_step_then_nothing(imported):
    said: list[str] = []
    report = build_workspace(imported, CONFIG, say=said.append)
    steps = {s["step"]: s for s in report.steps}
    assert list(steps) == ["dataset", "features", "train triplet-category", "train outfit model", "evaluate",
                           "index triplet-category"]
    assert all(s["ran"] and s["seconds"] >= 0 for s in steps.values())
    assert imported.items_csv.exists() and imported.heads_path("triplet-category").exists()
    assert imported.eval_table_csv.exists() and imported.manifest_path("triplet-category").exists()
    saved = json.loads((imported.data_dir / "build_report.json").read_text())
    assert [s["step"] for s in saved["steps"]] == list(steps) and saved["total_seconds"] >= 0
    assert saved["peak_rss_mb"] > 50 and saved["torch_threads"] >= 1   # the process's peak memory and threads
    assert "wall time per step" in said[-1] and "[1/5] dataset cleanup and split" in said[0]

    again = build_workspace(imported, CONFIG, say=said.append)
    assert [s["ran"] for s in again.steps] == [False, True, False, False, False, False]  # features: a cache, checked


def test_a_new_import_rebuilds_what_depends_on_it(imported, tmp_path):
    build_workspace(imported, CONFIG, say=lambda m: None)
    import_outfits(imported, outfit_table(tmp_path / "shop2", n_outfits=34, seed=1))
    again = build_workspace(imported, CONFIG, say=lambda m: None)
    assert all(s["ran"] for s in again.steps)


def test_build_before_any_import_says_what_to_do(tmp_path):
    with pytest.raises(BuildError, match="import outfits first"):
        build_workspace(Workspace.at(tmp_path / "empty"), CONFIG)


def test_stale(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert stale(a, b)                          # missing output
    a.write_text("x")
    assert not stale(a, b)                      # missing input: nothing newer
    b.write_text("y")
    os.utime(a, (1, 1))
    assert stale(a, b)


def test_cli_build(imported, capsys):
    assert main(["--workspace", str(imported.root), "--quiet", "build", "--methods", "triplet-category",
                 "--backbone", "tiny-cnn", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "build: wall time per step" in out and "workspace built" in out
    assert main(["--workspace", str(imported.root.parent / "nothing"), "--quiet", "build"]) == 2


def test_another_recipe_retrains_and_is_recorded(imported):
    import dataclasses
    import json
    build_workspace(imported, CONFIG, say=lambda m: None)
    cfg = json.loads(imported.run_config_path("triplet-category").read_text())["train"]
    assert cfg["recipe"] == "validated" and cfg["negatives_per_positive"] == 32
    report = build_workspace(imported, dataclasses.replace(CONFIG, recipe="paper"), say=lambda m: None)
    steps = {s["step"]: s["ran"] for s in report.steps}
    assert steps["train triplet-category"] and not steps["train outfit model"]
    cfg = json.loads(imported.run_config_path("triplet-category").read_text())["train"]
    assert cfg["recipe"] == "paper" and cfg["negatives_per_positive"] == 1 and cfg["margin"] == 0.3
