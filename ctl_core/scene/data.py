"""The scene model's data: masked-collage scenes, their cached feature maps, and one split's scenes and products.

Scenes: one per (outfit, product): the collage of the outfit with every box of that product whited out. An item
whose ``image_path`` is its product image finds its box in ``raw_boxes.csv`` through (outfit_id, product_id); an
item that is itself a collage crop (``box_*`` set) masks that pixel box in its own image. A scene is resized as a
whole (no centre crop, which would cut off boxes at the border) to the backbone's input size.

A product is seen through the pooled feature of its image (``features.cached_features``, the cache every method
shares); a scene through the pre-pooling feature map of the masked scene (``scene_maps``, cached under
``features/<backbone>-scenes``).
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw

from ctl_core.config import Workspace
from ctl_core.data.tables import read_items, read_raw_boxes
from ctl_core.images import load_image
from ctl_core.io import atomic_write_json, file_stamp, save_npy_atomic
from ctl_core.model.backbone import Backbone, inference_copy, normalize_batch, resize_whole
from ctl_core.model.device import pick_device
from ctl_core.model.features import cached_features, item_sources
from ctl_core.progress import Progress

Box = tuple[float, float, float, float]


# ------------------------------------------------------------------------------------------------ scenes

def normalised_to_pixels(box: Box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Normalised (x, y, w, h) → pixel (x0, y0, x1, y1), rounded like the dataset's pixel boxes, clipped."""
    w_img, h_img = size
    x, y, w, h = box
    x0, y0 = int(round(x * w_img)), int(round(y * h_img))
    x1, y1 = int(round((x + w) * w_img)), int(round((y + h) * h_img))
    return max(0, x0), max(0, y0), min(w_img, x1), min(h_img, y1)


def mask_boxes(img: Image.Image, boxes: Sequence[Box], normalised: bool = True,
               fill: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """A copy of ``img`` with every box (x, y, w, h; normalised, or pixels when ``normalised=False``) filled white."""
    out = img.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    for box in boxes:
        if normalised:
            x0, y0, x1, y1 = normalised_to_pixels(box, out.size)
        else:
            x, y, w, h = (int(round(v)) for v in box)
            x0, y0, x1, y1 = max(0, x), max(0, y), min(out.width, x + w), min(out.height, y + h)
        if x1 > x0 and y1 > y0:
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=fill)  # PIL rectangles include their end pixel
    return out


@dataclass(frozen=True)
class Scene:
    """One scene: ``image_path`` (a collage) with ``boxes`` whited out; ``product`` is the masked-out product's key."""

    outfit_id: str
    product: str
    category: str
    split: str
    image_path: str
    boxes: tuple[Box, ...]
    normalised: bool = True

    def key(self) -> str:
        kind = "n" if self.normalised else "p"
        boxes = ";".join(",".join(f"{v:.5f}" for v in b) for b in self.boxes)
        return f"{self.image_path}|{kind}|{boxes}"


def _product_key(row: dict) -> str:
    return row["product_id"] if row["product_id"] else f"item:{row['item_id']}"


def build_scenes(items: pd.DataFrame, raw_boxes: pd.DataFrame) -> tuple[list[Scene], pd.DataFrame]:
    """Scenes of items.csv rows and the product table they refer to.

    Returns ``(scenes, products)``: one scene per (outfit, product) that can be located in a collage (see the
    module docstring), and one row per product key: ``product`` (product_id, or ``item:<item_id>`` for an item
    without one), ``category``, ``image_path``, ``box`` (pixel box or None: the product image source), ``splits``
    and ``outfits`` (sets of the splits and outfit ids it occurs in).
    """
    items = items.reset_index(drop=True)
    sources = item_sources(items)
    rows = items.to_dict("records")
    keys = [_product_key(r) for r in rows]
    products: dict[str, dict] = {}
    for key, r, src in zip(keys, rows, sources):
        p = products.setdefault(key, {"product": key, "category": r["category"], "image_path": src[0], "box": src[1],
                                      "splits": set(), "outfits": set()})
        p["splits"].add(r["split"])
        p["outfits"].add(r["outfit_id"])

    by_outfit_product: dict[tuple[str, str], list[tuple[str, Box]]] = {}
    if len(raw_boxes):
        rb = raw_boxes[raw_boxes["product_id"] != ""]
        for oid, img, x, y, w, h, pid in zip(rb["outfit_id"], rb["image_path"], rb["x"], rb["y"], rb["w"], rb["h"],
                                            rb["product_id"]):
            if all(math.isfinite(float(v)) for v in (x, y, w, h)):
                by_outfit_product.setdefault((oid, pid), []).append((img, (float(x), float(y), float(w), float(h))))

    scenes: list[Scene] = []
    seen: set[tuple[str, str]] = set()
    for key, r, (path, box) in zip(keys, rows, sources):
        if (r["outfit_id"], key) in seen:
            continue
        if box is not None:  # the item is a crop of its collage: mask that pixel box in the same image
            scene = Scene(r["outfit_id"], key, r["category"], r["split"], path, (tuple(float(v) for v in box),),
                          normalised=False)
        else:
            found = by_outfit_product.get((r["outfit_id"], r["product_id"])) if r["product_id"] else None
            if not found:
                continue
            collage = found[0][0]
            scene = Scene(r["outfit_id"], key, r["category"], r["split"], collage,
                          tuple(b for img, b in found if img == collage), normalised=True)
        seen.add((r["outfit_id"], key))
        scenes.append(scene)
    table = pd.DataFrame(list(products.values()),
                         columns=["product", "category", "image_path", "box", "splits", "outfits"])
    return scenes, table


# ------------------------------------------------------------------------------------------------ scene maps

def scenes_dir(ws: Workspace, backbone: Backbone) -> Path:
    """Cache folder of scene feature maps: ``features/<backbone>-scenes`` (one float16 .npy per scene)."""
    return ws.features_dir(f"{backbone.cache_name}-scenes")


def _scene_array(ws: Workspace, scene: Scene, backbone: Backbone) -> np.ndarray:
    pre = backbone.preprocess
    img = mask_boxes(load_image(ws.abs(scene.image_path)), scene.boxes, normalised=scene.normalised)
    return np.asarray(resize_whole(img, pre), dtype=np.uint8)


def render_scene(ws: Workspace, scene: Scene, backbone: Backbone) -> Image.Image:
    """The masked scene as the backbone sees it (resized whole to the input size) — for display and checks."""
    return Image.fromarray(_scene_array(ws, scene, backbone))


def scene_maps(ws: Workspace, backbone: Backbone, scenes: Sequence[Scene], batch_size: int = 32,
               device: str = "auto", progress: Progress | None = None) -> np.ndarray:
    """Feature maps (N, R, D) float16 of the masked scenes, R = h·w regions; cached per scene (file + its stamp).

    A backbone with other weights (fingerprint) empties the cache folder first.
    """
    folder = scenes_dir(ws, backbone)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"backbone": backbone.cache_name, "fingerprint": backbone.fingerprint,
            "dim": int(backbone.feature_map_channels)}
    meta_path = folder / "meta.json"
    if meta_path.exists():
        try:
            old = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError):
            old = {}
        if old != meta:
            for p in folder.glob("*.npy"):
                p.unlink()
    atomic_write_json(meta_path, meta, indent=None)
    files = []
    for s in scenes:
        digest = hashlib.sha1(f"{s.key()}|{file_stamp(ws.abs(s.image_path))}".encode()).hexdigest()[:20]
        files.append(folder / f"{digest}.npy")
    todo = sorted({i for i, f in enumerate(files) if not f.exists()})
    if todo:
        dev = pick_device(device)
        bb = inference_copy(backbone, channels_last=True).to(dev)
        if progress is not None:
            progress("scene maps", 0, len(todo))
        with torch.inference_mode():
            for s in range(0, len(todo), batch_size):
                chunk = todo[s:s + batch_size]
                arr = np.stack([_scene_array(ws, scenes[i], backbone) for i in chunk])
                x = normalize_batch(torch.from_numpy(arr).to(dev), backbone.preprocess)
                fmap = bb.forward_feature_map(x).float()
                regions = fmap.flatten(2).transpose(1, 2).cpu().numpy().astype(np.float16)  # (B, h*w, D)
                for i, r in zip(chunk, regions):
                    save_npy_atomic(files[i], np.ascontiguousarray(r))
                if progress is not None:
                    progress("scene maps", min(s + batch_size, len(todo)), len(todo))
    elif progress is not None:
        progress("scene maps", 0, 0)
    if not files:
        return np.zeros((0, 0, backbone.feature_map_channels), np.float16)
    first = np.load(files[0])
    out = np.empty((len(files), *first.shape), np.float16)
    for i, f in enumerate(files):
        out[i] = np.load(f)
    return out


# ------------------------------------------------------------------------------------------------ one split

@dataclass
class SplitData:
    """Scenes of one split with their maps, and the split's product pool with features."""

    scenes: list[Scene]
    maps: np.ndarray
    products: pd.DataFrame  # product pool of the split
    feats: np.ndarray       # (P, D) pooled features of products
    positives: np.ndarray   # (N,) index into products
    outfit_products: dict[str, set[int]] = field(default_factory=dict)


def load_tables(ws: Workspace) -> tuple[list[Scene], pd.DataFrame]:
    """``build_scenes`` of the workspace's items.csv and raw_boxes.csv (no raw boxes: crops only)."""
    items = read_items(ws.items_csv)
    raw = read_raw_boxes(ws.raw_boxes_csv) if ws.raw_boxes_csv.exists() else \
        pd.DataFrame(columns=["outfit_id", "image_path", "x", "y", "w", "h", "label", "product_id"])
    return build_scenes(items, raw)


def split_data(ws: Workspace, backbone: Backbone, scenes: list[Scene], products: pd.DataFrame, split: str,
               limit: int, seed: int, device: str, progress: Progress | None) -> SplitData:
    """The scenes of ``split`` (at most ``limit``, a seeded sample) with their maps, and the products occurring in
    ``split`` with their pooled features."""
    pool = products[[split in s for s in products["splits"]]].reset_index(drop=True)
    index = {p: i for i, p in enumerate(pool["product"])}
    chosen = [s for s in scenes if s.split == split and s.product in index]
    if len(chosen) > limit:
        rng = np.random.default_rng([seed, 0 if split == "train" else 1])
        keep = np.sort(rng.choice(len(chosen), size=limit, replace=False))
        chosen = [chosen[i] for i in keep]
    sources = [(p, b if isinstance(b, tuple) else None) for p, b in zip(pool["image_path"], pool["box"])]
    feats = cached_features(ws, backbone, sources, device=device,
                            progress=progress) if len(pool) else np.zeros((0, backbone.num_features), np.float32)
    maps = scene_maps(ws, backbone, chosen, device=device, progress=progress)
    outfit_products: dict[str, set[int]] = {}
    for i, outfits in enumerate(pool["outfits"]):
        for o in outfits:
            outfit_products.setdefault(o, set()).add(i)
    return SplitData(chosen, maps, pool, feats, np.array([index[s.product] for s in chosen], dtype=np.int64),
                     outfit_products)


def negative_pools(data: SplitData) -> list[np.ndarray]:
    """Per scene: products of the positive's category that do not occur in the scene's outfit."""
    by_cat = {c: np.flatnonzero(data.products["category"].to_numpy() == c) for c in data.products["category"].unique()}
    pools = []
    for s in data.scenes:
        cand = by_cat[s.category]
        excluded = data.outfit_products.get(s.outfit_id, set())
        pools.append(np.array([c for c in cand if c not in excluded], dtype=np.int64))
    return pools
