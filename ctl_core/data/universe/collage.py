"""Polyvore-style collages: an outfit's product shots pasted into jittered grid boxes, with the box defects
injected (a strongly overlapping box, a duplicated box, a tiny extra box)."""
from __future__ import annotations

import numpy as np
from PIL import Image

from ctl_core.data.universe.outfits import Outfit
from ctl_core.data.universe.products import Product
from ctl_core.images import box_iou


def _layout(n: int, px: int, rng: np.random.Generator) -> list[tuple[int, int, int, int]]:
    """``n`` square boxes (x, y, w, h) in pixels on a grid with jitter; neighbours overlap with IoU < 0.1."""
    cols, rows = (2, 2) if n <= 4 else (3, 2) if n <= 6 else (3, 3)
    if n in (5, 6) and rng.random() < 0.5:
        cols, rows = 2, 3
    cw, ch = px / cols, px / rows
    cells = rng.permutation(cols * rows)[:n]
    boxes = []
    for cell in cells:
        r, c = divmod(int(cell), cols)
        s = int(min(cw, ch) * rng.uniform(0.80, 0.98))
        x = c * cw + rng.uniform(0, max(0.0, cw - s))
        y = r * ch + rng.uniform(0, max(0.0, ch - s))
        boxes.append((int(np.clip(x, 0, px - s)), int(np.clip(y, 0, px - s)), s, s))
    return boxes


def make_collage(outfit: Outfit, images: dict[str, Image.Image], px: int,
             rng: np.random.Generator) -> tuple[Image.Image, list[tuple[tuple[int, int, int, int], Product]]]:
    items = list(outfit.products)
    boxes = _layout(len(items), px, rng)
    placed = list(zip(boxes, items))
    if outfit.defect == "overlap" and len(placed) >= 2:
        (bx, by, bs, _), _ = placed[0]
        (_, _, s2, _), p2 = placed[1]
        for _ in range(20):
            dx, dy = (rng.uniform(-0.45, 0.45, 2) * bs).astype(int)
            x, y = int(np.clip(bx + dx, 0, px - s2)), int(np.clip(by + dy, 0, px - s2))
            if box_iou((bx, by, bs, bs), (x, y, s2, s2)) > 0.15:
                break
        placed[1] = ((x, y, s2, s2), p2)
    elif outfit.defect == "duplicate" and placed:
        (bx, by, bs, _), p = placed[int(rng.integers(len(placed)))]
        s = int(bs * rng.uniform(0.9, 1.05))
        x = int(np.clip(bx + rng.integers(-12, 13), 0, px - s))
        y = int(np.clip(by + rng.integers(-12, 13), 0, px - s))
        placed.append(((x, y, s, s), p))
    elif outfit.defect == "tiny" and placed:
        p = placed[int(rng.integers(len(placed)))][1]
        s = int(px * rng.uniform(0.12, 0.19))
        placed.append(((int(rng.integers(0, px - s)), int(rng.integers(0, px - s)), s, s), p))
    img = Image.new("RGB", (px, px), (255, 255, 255))
    for (x, y, s, _), p in placed:
        img.paste(images[p.pid].resize((s, s), Image.BILINEAR), (x, y))
    return img, placed

