"""The 17 fabric patterns (stripes, dots, plaid, florals, leopard, camo, sequins, denim, ...) as RGB arrays;
``render`` shows them inside an item's silhouette. ``grid`` is the shared (cached) pixel coordinate grid.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from ctl_core.data.universe.themes import COLOURS, colour_rgb


@lru_cache(maxsize=4)
def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return yy, xx


def pattern_fill(name: str, size: int, main: str, second: str, third: str, rng: np.random.Generator) -> np.ndarray:
    """An RGB float array (size, size, 3) of ``name`` in the given colours; element scale ~10% of ``size``."""
    yy, xx = grid(size)
    a, b, t = colour_rgb(main), colour_rgb(second), colour_rgb(third)
    out = np.empty((size, size, 3), np.float32)
    out[:] = a
    p = size * rng.uniform(0.085, 0.12)
    phase = rng.uniform(0, p)

    def put(mask: np.ndarray, colour: np.ndarray, alpha: float = 1.0) -> None:
        out[mask] = out[mask] * (1 - alpha) + colour * alpha

    if name == "stripes":
        coord = yy if rng.random() < 0.75 else (xx + yy) / 1.4
        put(((coord + phase) % p) < p * 0.45, b)
    elif name == "pinstripes":
        q = p * 0.55
        put(((xx + phase) % q) < max(1.5, size / 160), b, 0.8)
    elif name == "dots":
        q = p * 0.9
        row = np.floor((yy + phase) / q)
        dx = ((xx + phase + (row % 2) * q / 2) % q) - q / 2
        dy = ((yy + phase) % q) - q / 2
        put(dx * dx + dy * dy < (q * 0.24) ** 2, b)
    elif name == "checks":
        q = p * 0.7
        h = ((yy + phase) // q) % 2 == 0
        v = ((xx + phase) // q) % 2 == 0
        put(h ^ v, b, 0.45)
        put(h & v, b, 1.0)
    elif name == "plaid":
        q = p * 1.6
        h = ((yy + phase) % q) < q * 0.35
        v = ((xx + phase) % q) < q * 0.35
        put(h, b, 0.55)
        put(v, b, 0.55)
        put((((yy + phase) % q) - q * 0.62).__abs__() < max(1.0, size / 200), t, 0.9)
        put((((xx + phase) % q) - q * 0.62).__abs__() < max(1.0, size / 200), t, 0.9)
    elif name == "argyle":
        q = p * 1.4
        u = np.abs(((xx + phase) % q) - q / 2) / q
        w = np.abs(((yy + phase) % (q * 1.4)) - q * 0.7) / (q * 1.4)
        put(u + w < 0.5, b)
        d1 = np.abs(((xx + yy * 0.714 + phase) % q) - q / 2) < max(1.0, size / 220)
        put(d1, t, 0.8)
    elif name == "zebra":
        b = colour_rgb("black") if main != "black" else colour_rgb("white")
        wave = yy + size * 0.06 * np.sin(xx / size * 9 + phase) + size * 0.03 * np.sin(xx / size * 23)
        put(np.sin(wave / p * 2 * np.pi) > 0.25, b)
    elif name == "camo":
        for colour, thr in ((b, 0.55), (t, 0.62)):
            low = rng.random((7, 7)).astype(np.float32)
            field_ = np.asarray(Image.fromarray((low * 255).astype(np.uint8)).resize((size, size),
                                                                                      Image.BICUBIC))
            put(field_ > thr * 255, colour)
    elif name == "colourblock":
        cut = size * rng.uniform(0.35, 0.6)
        if rng.random() < 0.5:
            put(yy > cut, b)
            put(np.abs(yy - cut) < size * 0.04, t)
        else:
            put(xx + 0.4 * yy > cut * 1.2, b)
    elif name in ("fairisle", "aztec"):
        band = p * 2.2
        local = (yy + phase) % band
        zig = np.abs(((xx % p) / p) - 0.5) * p * 0.8
        put(np.abs(local - band * 0.3 - zig) < p * 0.16, b)
        put(np.abs(local - band * 0.7 + zig - p * 0.4) < p * 0.12, t if name == "aztec" else b)
        if name == "fairisle":
            dy = ((yy + phase) % band) - band * 0.5
            dx = (xx % (p * 0.6)) - p * 0.3
            put(dx * dx + dy * dy < (p * 0.1) ** 2, t)
    elif name == "knit":
        q = p * 0.7
        u = (xx + phase) % q
        shade = 0.82 + 0.18 * np.abs(np.sin((yy + np.where(u < q / 2, 0, q / 4)) / q * 2 * np.pi))
        out *= shade[..., None]
        put(np.abs(u - q / 2) < max(1.0, size / 200), a * 0.6)
    elif name == "sequins":
        q = max(4.0, p * 0.35)
        ci, cj = (yy // q).astype(np.int32), (xx // q).astype(np.int32)
        n = int(size // q) + 2
        bright = rng.uniform(0.55, 1.5, size=(n, n)).astype(np.float32)
        dx = (xx % q) - q / 2
        dy = (yy % q) - q / 2
        disk = dx * dx + dy * dy < (q * 0.42) ** 2
        factor = np.where(disk, bright[ci, cj], 0.7)
        out = np.clip(out * factor[..., None], 0, 255)
    elif name in ("florals", "tropical", "leopard"):
        img = Image.fromarray(out.astype(np.uint8))
        d = ImageDraw.Draw(img)
        q = p * (1.7 if name == "florals" else 2.4 if name == "tropical" else 1.2)
        n = int(size / q) + 2
        for gi in range(n):
            for gj in range(n):
                cx = (gj + 0.5 * (gi % 2)) * q + rng.uniform(-q, q) * 0.25
                cy = gi * q + rng.uniform(-q, q) * 0.25
                if name == "florals":
                    r = q * rng.uniform(0.16, 0.22)
                    col = tuple(int(x) for x in (b if (gi + gj) % 3 else t))
                    for k in range(5):
                        ang = 2 * np.pi * k / 5 + gi
                        px, py = cx + np.cos(ang) * r, cy + np.sin(ang) * r
                        d.ellipse([px - r * .8, py - r * .8, px + r * .8, py + r * .8], fill=col)
                    d.ellipse([cx - r * .5, cy - r * .5, cx + r * .5, cy + r * .5], fill=COLOURS["yellow"]
                              if main != "yellow" else COLOURS["white"])
                elif name == "tropical":
                    ang = rng.uniform(0, np.pi)
                    L, W = q * 0.55, q * 0.2
                    ca, sa = np.cos(ang), np.sin(ang)
                    leaf = [(cx + ca * L * s - sa * W * np.sin(np.pi * (s + 1) / 2) * side,
                             cy + sa * L * s + ca * W * np.sin(np.pi * (s + 1) / 2) * side)
                            for side in (1, -1) for s in (np.linspace(-1, 1, 8) if side == 1 else
                                                          np.linspace(1, -1, 8))]
                    col = (34, 139, 70) if (gi + gj) % 2 else tuple(int(x) for x in b)
                    d.polygon(leaf, fill=col)
                    d.line([(cx - ca * L, cy - sa * L), (cx + ca * L, cy + sa * L)], fill=tuple(int(x) for x in a),
                           width=max(1, size // 160))
                else:  # leopard rosettes
                    rx, ry = q * rng.uniform(0.22, 0.32), q * rng.uniform(0.16, 0.26)
                    d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=(40, 28, 20))
                    d.ellipse([cx - rx * .6, cy - ry * .6, cx + rx * .6, cy + ry * .6],
                              fill=tuple(int(x) for x in b))
        out = np.asarray(img, dtype=np.float32).copy()
    elif name == "denim":
        twill = ((xx + yy) % max(3.0, size / 80)) < max(1.5, size / 160)
        out *= np.where(twill, 1.1, 0.94)[..., None]
        noise = rng.normal(0, 6, size=(size // 4, size // 4)).astype(np.float32)
        out += np.kron(noise, np.ones((4, 4), np.float32))[:size, :size, None]
    return np.clip(out, 0, 255)

