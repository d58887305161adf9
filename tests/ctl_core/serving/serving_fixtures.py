"""Tiny serving fixtures: a workspace of small product images and a fake model adapter (no backbone needed)."""
from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from ctl_core.config import Workspace
from ctl_core.data.categories import CATEGORIES, NUM_CATEGORIES
from ctl_core.data.tables import CATALOGUE_COLUMNS, write_table
from ctl_core.model.heads import CTLHeads, HeadsConfig
from ctl_core.serving.adapter import ModelAdapter

PX = 32
PALETTE = [tuple(int(255 * v) for v in colorsys.hsv_to_rgb(i / NUM_CATEGORIES, 0.9, 0.55 + 0.4 * (i % 2)))
           for i in range(NUM_CATEGORIES)]
IN_DIM = NUM_CATEGORIES + 48


def product_image(category: str, variant: int) -> Image.Image:
    """A product shot: the category's colour as a centred square on white, with a variant-dependent stripe."""
    img = Image.new("RGB", (PX, PX), (255, 255, 255))
    colour = PALETTE[CATEGORIES.index(category)]
    img.paste(colour, (8, 8, 24, 24))
    rng = np.random.default_rng(variant)
    img.paste(tuple(int(x) for x in rng.integers(0, 255, 3)), (8, 20, 24, 24))
    return img


def scene_image(seed: int) -> Image.Image:
    """Not a product shot: noise everywhere (busy border)."""
    arr = np.random.default_rng(1000 + seed).integers(0, 255, (PX, PX, 3), dtype=np.uint8)
    return Image.fromarray(arr, "RGB")


class CountingFeaturizer:
    """Fake backbone: one-hot of the nearest palette colour at the centre + a 4x4 thumbnail. Counts images seen."""

    def __init__(self):
        self.seen = 0

    def __call__(self, images: list[Image.Image]) -> np.ndarray:
        self.seen += len(images)
        out = np.zeros((len(images), IN_DIM), np.float32)
        pal = np.asarray(PALETTE, np.float32)
        for i, im in enumerate(images):
            im = im.convert("RGB").resize((PX, PX))
            centre = np.asarray(im, np.float32)[PX // 2 - 4, PX // 2]
            out[i, int(np.abs(pal - centre).sum(axis=1).argmin())] = 1.0
            out[i, NUM_CATEGORIES:] = np.asarray(im.resize((4, 4)), np.float32).reshape(-1) / 255.0
        return out


def fake_adapter(seed: int = 0) -> tuple[ModelAdapter, CountingFeaturizer]:
    """A ModelAdapter over random CTLHeads; category = the one-hot part of the fake features (always right)."""
    torch.manual_seed(seed)
    heads = CTLHeads(HeadsConfig(in_dim=IN_DIM, hidden=32, embed_dim=16)).eval()
    feat = CountingFeaturizer()
    probs = lambda t: torch.softmax(8.0 * t[:, :NUM_CATEGORIES], dim=-1)
    return ModelAdapter(feat, heads, probs_fn=probs, name="fake"), feat


def make_workspace(root: Path, per_category: int = 3, n_scenes: int = 3, start: int = 0) -> Workspace:
    """Write product images + catalogue.csv; ``start`` offsets variants (to add products to a catalogue later)."""
    ws = Workspace.at(root).ensure()
    prod = ws.universe_dir / "products"
    prod.mkdir(parents=True, exist_ok=True)
    rows = []
    for ci, c in enumerate(CATEGORIES):
        for v in range(start, start + per_category):
            pid = f"p{ci:02d}-{v}"
            path = prod / f"{pid}.png"
            product_image(c, ci * 100 + v).save(path)
            rows.append({"product_id": pid, "category": c, "price": float(10 * (1 + v) * (1 + ci % 4)),
                         "title": f"{c} {v}", "image_path": ws.rel(path), "source": "demo",
                         "is_product_shot": True, "theme": "", "colour": ""})
    for s in range(start, start + n_scenes):
        pid = f"scene-{s}"
        path = prod / f"{pid}.png"
        scene_image(s).save(path)
        rows.append({"product_id": pid, "category": "Dresses", "price": 50.0, "title": "scene",
                     "image_path": ws.rel(path), "source": "demo", "is_product_shot": False, "theme": "",
                     "colour": ""})
    df = pd.DataFrame(rows)
    if start and ws.catalogue_csv.exists():
        df = pd.concat([pd.read_csv(ws.catalogue_csv, dtype=str), df.astype(str)], ignore_index=True)
    write_table(df, ws.catalogue_csv, CATALOGUE_COLUMNS)
    return ws


def served_workspace(root: Path, method: str, per_category: int = 3, n_scenes: int = 3, index_config=None):
    """A workspace with the catalogue inferred and indices built for ``method`` by the fake adapter.

    Returns (workspace, adapter, manifest).
    """
    from ctl_core.serving.catalogue import infer_catalogue
    from ctl_core.serving.index import IndexConfig, build_indices
    ws = make_workspace(root, per_category=per_category, n_scenes=n_scenes)
    adapter, _ = fake_adapter()
    infer_catalogue(ws, method, adapter=adapter)
    manifest = build_indices(ws, method, config=index_config or IndexConfig())
    return ws, adapter, manifest
