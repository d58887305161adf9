"""``generate_universe``: plan the catalogue and outfits, render every product and collage, write the tables."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ctl_core.config import Workspace
from ctl_core.data.tables import CATALOGUE_COLUMNS, RAW_BOX_COLUMNS, replace_rows, write_table
from ctl_core.data.universe.collage import make_collage
from ctl_core.data.universe.config import UniverseConfig
from ctl_core.data.universe.outfits import DEFECT_KINDS, plan_outfits
from ctl_core.data.universe.products import plan_catalogue
from ctl_core.data.universe.render import draw_item, product_shot, scene_image
from ctl_core.data.universe.themes import THEMES
from ctl_core.io import atomic_path
from ctl_core.progress import Progress


def _save(img: Image.Image, path: Path, **options) -> None:
    """Save ``img`` atomically (``options`` name the format and its settings; the temp name has no suffix)."""
    with atomic_path(path) as tmp:
        img.save(tmp, **options)


def generate_universe(ws: Workspace, config: UniverseConfig = UniverseConfig(),
                      progress: Progress | None = None) -> dict:
    """Build the demo universe into ``ws`` (replacing an earlier one) and return counts.

    Returns ``{"products", "product_shots", "scenes", "outfits", "boxes", "defects": {kind: outfits}}``.
    Rows of other sources in catalogue.csv / raw_boxes.csv are kept.
    """
    ws.ensure()
    cfg = config
    rng = np.random.default_rng(cfg.seed)
    products, scenes = plan_catalogue(cfg, rng)
    outfits = plan_outfits(cfg, products, rng)

    out_dirs = {k: ws.universe_dir / k for k in ("products", "scenes", "collages")}
    for d in out_dirs.values():
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)

    everything = products + scenes
    total = len(everything)
    step = max(1, total // 100)
    images: dict[str, Image.Image] = {}
    rows = []
    for i, p in enumerate(everything):
        prng = np.random.default_rng([cfg.seed, 1, i])
        theme = THEMES.get(p.theme)
        metal = theme.metal if theme is not None else ("silver" if prng.random() < 0.5 else "gold")
        item = draw_item(p, cfg.product_px, prng, metal)
        if p.is_shot:
            img = product_shot(item, prng)
            path = out_dirs["products"] / f"{p.pid}.png"
            _save(img, path, format="PNG", compress_level=1)
            images[p.pid] = img
        else:
            img = scene_image(item, prng)
            path = out_dirs["scenes"] / f"{p.pid}.jpg"
            _save(img, path, format="JPEG", quality=cfg.jpeg_quality)
        rows.append({"product_id": p.pid, "category": p.category, "price": p.price, "title": p.title,
                     "image_path": ws.rel(path), "source": "demo", "is_product_shot": p.is_shot,
                     "theme": p.theme, "colour": p.colour})
        if progress is not None and (i % step == 0 or i == total - 1):
            progress("products", i + 1, total)

    box_rows, outfit_rows = [], []
    defects = {k: 0 for k in DEFECT_KINDS}
    n_out = len(outfits)
    step = max(1, n_out // 100)
    for k, o in enumerate(outfits):
        crng = np.random.default_rng([cfg.seed, 2, k])
        img, placed = make_collage(o, images, cfg.collage_px, crng)
        path = out_dirs["collages"] / f"{o.oid}.jpg"
        _save(img, path, format="JPEG", quality=cfg.jpeg_quality)
        rel = ws.rel(path)
        s = float(cfg.collage_px)
        for (x, y, w, h), p in placed:
            box_rows.append({"outfit_id": o.oid, "image_path": rel, "x": round(x / s, 5), "y": round(y / s, 5),
                             "w": round(w / s, 5), "h": round(h / s, 5), "label": p.category,
                             "product_id": p.pid})
        if o.defect in defects:
            defects[o.defect] += 1
        outfit_rows.append({"outfit_id": o.oid, "theme": o.theme, "defect": o.defect, "n_items": len(o.products),
                            "product_ids": ";".join(p.pid for p in o.products)})
        if progress is not None and (k % step == 0 or k == n_out - 1):
            progress("collages", k + 1, n_out)

    catalogue = pd.DataFrame(rows, columns=CATALOGUE_COLUMNS)
    boxes = pd.DataFrame(box_rows, columns=RAW_BOX_COLUMNS)
    universe_prefix = ws.rel(ws.universe_dir) + "/"
    # The new demo rows come first; rows of other sources (folder imports, real data) are kept after them.
    replace_rows(ws.catalogue_csv, CATALOGUE_COLUMNS, catalogue, drop=lambda old: old["source"] == "demo",
                 new_first=True)
    replace_rows(ws.raw_boxes_csv, RAW_BOX_COLUMNS, boxes,
                 drop=lambda old: old["image_path"].str.startswith(universe_prefix), new_first=True)
    write_table(pd.DataFrame(outfit_rows), ws.universe_dir / "outfits.csv",
                ["outfit_id", "theme", "defect", "n_items", "product_ids"])
    return {"products": total, "product_shots": len(products), "scenes": len(scenes), "outfits": n_out,
            "boxes": len(box_rows), "defects": defects}
