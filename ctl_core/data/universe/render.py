"""Rendering one planned product: its silhouette drawn and filled with its pattern, accent, metal and detail
colours under a soft light (``draw_item``), then placed on a near-white product-shot background
(``product_shot``) or over a textured scene, sometimes tightly cropped (``scene_image``).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from ctl_core.data.categories import CATEGORIES
from ctl_core.data.universe import accessories, garments
from ctl_core.data.universe.drawing import Canvas
from ctl_core.data.universe.patterns import grid, pattern_fill
from ctl_core.data.universe.products import SOLID_ONLY, VARIANTS, Product
from ctl_core.data.universe.themes import METALS, colour_rgb

_DRAWERS = {**garments.DRAWERS, **accessories.DRAWERS}
assert set(_DRAWERS) == set(CATEGORIES) == set(VARIANTS)
# Aspect (width, height) of the unit box per category: wide items are drawn flatter.
_ASPECT = {"Belts": (1.0, .9), "Sunglasses": (1.0, .9), "Shoes": (1.0, .95), "Ties": (.8, 1.0),
           "Watches": (.8, 1.0)}


def _lum(rgb) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def _detail_colour(main: str) -> np.ndarray:
    a = colour_rgb(main)
    return np.clip(a + 90, 0, 255) if _lum(a) < 60 else a * 0.45


def _accent_colour(p: Product) -> np.ndarray:
    a = colour_rgb(p.colour)
    if p.accent == "dark":
        return colour_rgb("charcoal") if _lum(a) < 50 or p.colour in ("charcoal", "black") else colour_rgb("black")
    if p.accent == "shade":
        return a * 0.72 if _lum(a) > 60 else np.clip(a + 45, 0, 255)
    if p.accent == "white":
        return colour_rgb("white") if _lum(a) < 200 else colour_rgb("grey")
    if p.accent == "tan":
        return colour_rgb("tan")
    if p.accent == "lens":
        return np.array((46, 52, 66), np.float32)
    return colour_rgb(p.second)


@lru_cache(maxsize=4)
def _light(size: int) -> Image.Image:
    """Soft light from the top left, as an RGB multiplier image (255 = unchanged)."""
    yy, xx = grid(size)
    shade = 255 * (1.0 - 0.10 * (0.6 * yy + 0.4 * xx) / size)
    return Image.fromarray(shade.astype(np.uint8), "L").convert("RGB")


def draw_item(p: Product, px: int, rng: np.random.Generator, metal: str) -> Image.Image:
    """The item alone as an RGBA image of ``px`` x ``px`` (transparent outside the silhouette)."""
    size = 2 * px                                         # supersampled, reduced at the end
    ax, ay = _ASPECT.get(p.category, (1.0, 1.0))
    scale = rng.uniform(0.70, 0.82)
    hw = 0.5 * size * scale * ax * rng.uniform(0.92, 1.0)
    hh = 0.5 * size * scale * ay * rng.uniform(0.92, 1.0)
    cx = size / 2 + rng.uniform(-0.02, 0.02) * size
    cy = size / 2 + rng.uniform(-0.02, 0.02) * size
    canvas = Canvas(size, (cx - hw, cy - hh, cx + hw, cy + hh), rng, wobble=0.006)
    _DRAWERS[p.category](canvas, p.variant, lambda s: float(rng.uniform(-s, s)))

    body, acc, met, det = (canvas.layers[k] for k in ("body", "acc", "metal", "det"))
    alpha = ImageChops.lighter(ImageChops.lighter(body, acc), ImageChops.lighter(met, det))
    eroded = alpha
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        eroded = ImageChops.darker(eroded, ImageChops.offset(alpha, dx, dy))
    edge = ImageChops.subtract(alpha, eroded).point(lambda v: v * 3 // 4)
    pattern = "solid" if p.category in SOLID_ONLY else p.pattern
    img = Image.fromarray(pattern_fill(pattern, size, p.colour, p.second, p.third, rng).astype(np.uint8), "RGB")
    dcol = tuple(int(v) for v in _detail_colour(p.colour))
    img.paste(tuple(int(v) for v in _accent_colour(p)), mask=acc)
    img.paste(METALS[metal], mask=met)
    img.paste(dcol, mask=det)
    img.paste(dcol, mask=edge)
    img = ImageChops.multiply(img, _light(size))
    img.putalpha(alpha)
    angle = float(rng.uniform(-4, 4))
    return img.reduce(2).rotate(angle, resample=Image.BICUBIC, center=(cx / 2, cy / 2))


def product_shot(item: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Centre ``item`` on a near-white, slightly varied background with a soft floor shadow."""
    px = item.width
    base = rng.uniform(244, 253)   # every channel stays above 240: cleanup reads near-white as background
    tint = rng.uniform(-2, 2, size=3)
    yy, _ = grid(px)
    grad = (yy / px - 0.5)[..., None] * rng.uniform(-3, 3)
    bg = np.clip(base + tint + grad, 0, 255).astype(np.uint8)
    img = Image.fromarray(bg, "RGB")
    bbox = item.getchannel("A").getbbox()
    if bbox is not None:
        shadow = Image.new("L", (px, px), 0)
        x0, _, x1, y1 = bbox
        ImageDraw.Draw(shadow).ellipse([x0 + 4, y1 - 5, x1 - 4, min(px - 12, y1 + 3)], fill=40)
        shadow = shadow.filter(ImageFilter.BoxBlur(3))
        img.paste((int(base) - 30,) * 3, mask=shadow)
    img.paste(item, mask=item.getchannel("A"))
    return img


def _scene_background(px: int, rng: np.random.Generator) -> np.ndarray:
    """A textured or scene background (mid/dark tones, not uniform): gradient, noise, wood, wallpaper, sky."""
    yy, xx = grid(px)
    kind = ("gradient", "noise", "wood", "wallpaper", "sky")[int(rng.integers(5))]
    if kind == "gradient":
        c0, c1 = rng.uniform(20, 150, 3), rng.uniform(60, 200, 3)
        t = ((yy + xx * rng.uniform(0, 1)) / (px * 2))[..., None]
        bg = c0 * (1 - t) + c1 * t
    elif kind == "noise":
        low = rng.uniform(40, 170, size=(8, 8, 3))
        bg = np.kron(low, np.ones((px // 8 + 1, px // 8 + 1, 1)))[:px, :px] + rng.normal(0, 18, (px, px, 3))
    elif kind == "wood":
        brown = np.array([130, 85, 50]) * rng.uniform(0.7, 1.2)
        grain = 0.8 + 0.2 * np.sin(yy / px * 60 + 3 * np.sin(xx / px * 5))
        plank = ((yy // (px / 4)) % 2) * 0.12 + 0.9
        bg = brown * (grain * plank)[..., None]
        bg[(yy % (px / 4)) < 2] *= 0.5
    elif kind == "wallpaper":
        c0, c1 = rng.uniform(40, 150, 3), rng.uniform(60, 180, 3)
        q = px / rng.uniform(6, 12)
        bg = np.where((((xx + rng.uniform(0, q)) % q) < q / 2)[..., None], c0, c1)
    else:
        horizon = px * rng.uniform(0.55, 0.75)
        t = (yy / horizon)[..., None]
        sky = np.array([70, 120, 200]) * (1 - t) + np.array([150, 185, 225]) * t
        ground = np.array([70, 110, 50]) * rng.uniform(0.7, 1.3) + rng.normal(0, 14, (px, px, 3))
        bg = np.where((yy > horizon)[..., None], ground, sky)
    return np.clip(bg, 0, 255).astype(np.uint8)


def scene_image(item: Image.Image, rng: np.random.Generator) -> Image.Image:
    """``item`` over a scene background, sometimes tightly cropped (not a product shot)."""
    px = item.width
    img = Image.fromarray(_scene_background(px, rng), "RGB")
    img.paste(item, mask=item.getchannel("A"))
    bbox = item.getchannel("A").getbbox()
    if bbox is not None and rng.random() < 0.5:   # tight crop: the item touches or leaves the frame
        x0, y0, x1, y1 = bbox
        side = max(x1 - x0, y1 - y0) * rng.uniform(0.7, 0.9)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        img = img.crop((int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2)))
        img = img.resize((px, px), Image.BILINEAR)
    return img

