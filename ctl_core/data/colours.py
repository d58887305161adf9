"""An item's own colour, for the cleanup's monochrome rule (paper sec. 4.3: "drop outfits whose items are all one
colour").

Real product shots sit on a plain *light but not white* background (Mango: about RGB 235, 232, 225, shaded towards
the corners), so "ignore near-white pixels" measures the background, not the product: on the Mango outfits that
made 60% of them "monochrome". ``foreground_mask`` segments the background away instead — the pixels close in Lab
to the border's common colours *and connected to the border* — and ``dominant_colour`` bins what is left. An item
of the background's own colour (a white shirt on white) leaves almost nothing: its colour is then taken from the
centre of the image, where a product shot has its product.
"""
from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.spatial.distance import cdist

from ctl_core.config import Workspace
from ctl_core.images import ImageError, crop_box, load_image, srgb_to_lab
from ctl_core.io import atomic_write_json, file_stamp

Lab = tuple[float, float, float]

COLOUR_CACHE_NAME = "colour_cache.json"
COLOUR_SIZE = 64              # images are measured at most this many pixels a side
BACKGROUND_DELTA_E = 10.0     # a pixel this close (CIE76) to a background colour may be background
FINE_DELTA_E = 2.0            # second try for a light item whose body the first tolerance took for background
SPARSE_FILL = 0.25            # ... tried when the item's pixels fill under this share of their bounding box
MAX_FINE_SHARE = 0.6          # ... and kept unless it took most of the image (the background's shading)
HOLE_DELTA_E = 3.0            # an enclosed region this close to a background colour is the backdrop seen through
MIN_FOREGROUND = 0.005        # under this share of the pixels left, the item is the background's colour
BACKGROUND_SUPPORT = 0.05     # a border colour shared by this share of the border is a background colour
_SQUARE = np.ones((3, 3), dtype=bool)
BORDER_UNIFORM = 0.6          # share of the border that must be background colours (else: no background)


def _lab_image(img: Image.Image) -> np.ndarray:
    small = img.convert("RGB")
    small.thumbnail((COLOUR_SIZE, COLOUR_SIZE))
    px = np.asarray(small, dtype=np.uint8)
    return srgb_to_lab(px.reshape(-1, 3)).reshape(px.shape)


def _border(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])


def _segment(lab: np.ndarray, max_delta_e: float) -> tuple[np.ndarray, np.ndarray | None]:
    """(foreground mask, distance of each pixel to the nearest background colour or None: no background)."""
    h, w = lab.shape[:2]
    everything = np.ones((h, w), dtype=bool)
    if h < 3 or w < 3:
        return everything, None
    border = _border(lab)
    d = cdist(border, border)
    support = (d <= max_delta_e / 2).mean(axis=1)
    common = support >= BACKGROUND_SUPPORT
    if not common.any() or (d[:, common] <= max_delta_e).any(axis=1).mean() < BORDER_UNIFORM:
        return everything, None
    colours = border[common][:: max(1, int(common.sum()) // 16)]
    dist = cdist(lab.reshape(-1, 3), colours).min(axis=1).reshape(h, w)
    near = dist <= max_delta_e
    far = ~near
    barrier = far | ndimage.binary_closing(far, structure=_SQUARE)
    labels, n = ndimage.label(near & ~barrier)
    if n == 0:
        return everything, dist
    outside = np.zeros(n + 1, dtype=bool)
    outside[np.unique(_border(labels))] = True
    size = np.bincount(labels.ravel(), minlength=n + 1)
    mean = np.bincount(labels.ravel(), weights=dist.ravel(), minlength=n + 1) / np.maximum(size, 1)
    outside |= mean <= min(HOLE_DELTA_E, max_delta_e)
    outside[0] = False
    return ~outside[labels], dist


def foreground_mask(lab: np.ndarray, max_delta_e: float = BACKGROUND_DELTA_E) -> np.ndarray:
    """``(H, W)`` bool: True where the pixel is not the plain background of a product shot.

    The background's colours are the border colours that a share ``BACKGROUND_SUPPORT`` of the border shares
    (several, so that a backdrop with a vignette or a plinth is one background; a product that touches the border
    somewhere is not). Background = the pixels within ``max_delta_e`` of one of them that are connected
    (4-neighbourhood) to the border, gaps of one pixel in the product's outline closed first, plus the enclosed
    regions that are the background's own colour (within ``HOLE_DELTA_E``: the backdrop seen through a bag's
    handle or a hoop earring). An enclosed region that is merely close to it (a white shirt drawn with an outline
    on a near-white background) stays foreground. A border that is not mostly such colours (a scene, a tight
    crop) has no background: everything is foreground.
    """
    return _segment(lab, max_delta_e)[0]


def item_mask(lab: np.ndarray, max_delta_e: float = BACKGROUND_DELTA_E) -> np.ndarray:
    """The pixels an item's colour is measured on: its silhouette (the foreground with gaps of up to two pixels
    closed and holes filled), less the pixels of the backdrop's own colour (within ``HOLE_DELTA_E``).

    The silhouette brings back the body of a light item whose outline the background leaked through (a white
    shirt on near-white); removing the backdrop's colour keeps a hoop earring's inside out of it.
    """
    fg, dist = _segment(lab, max_delta_e)
    if dist is None:
        return fg
    silhouette = ndimage.binary_fill_holes(ndimage.binary_closing(fg, structure=_SQUARE, iterations=2) | fg)
    return silhouette & (dist > min(HOLE_DELTA_E, max_delta_e))


def _sparse(mask: np.ndarray) -> bool:
    """Whether ``mask`` fills under ``SPARSE_FILL`` of its bounding box (details of an item, not its body)."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return True
    return len(ys) / ((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)) < SPARSE_FILL


def _dominant(lab: np.ndarray) -> Lab:
    """Mean of the most populated Lab bin (10 L units x 16 a/b units) of ``(N, 3)`` Lab pixels."""
    lb = np.clip(np.floor(lab[:, 0] / 10), 0, 10).astype(np.int64)
    ab = np.clip(np.floor(lab[:, 1:] / 16) + 9, 0, 17).astype(np.int64)
    code = (lb * 18 + ab[:, 0]) * 18 + ab[:, 1]
    best = int(np.argmax(np.bincount(code)))
    mean = lab[code == best].mean(axis=0)
    return (float(mean[0]), float(mean[1]), float(mean[2]))


def dominant_colour(img: Image.Image) -> Lab:
    """The dominant colour of an item image as CIE Lab ``(L, a, b)``: the most populated colour bin of its
    ``item_mask``.

    Binning (rather than the mean) keeps outlines, shadows and small prints from shifting it. When the item's
    pixels are under ``MIN_FOREGROUND`` of the image (an item of its background's own colour: a white shirt on
    white), the centre half of the image is measured instead — its pixels that differ from the border's median
    colour by more than half the background tolerance when there are enough of them, else all of them.
    """
    lab = _lab_image(img)
    mask = item_mask(lab)
    if _sparse(mask):   # only details of a light item found (its body within tolerance of the background)
        fine = item_mask(lab, FINE_DELTA_E)
        if fine.sum() >= 1.5 * mask.sum() and fine.mean() <= MAX_FINE_SHARE:
            mask = fine
    if mask.mean() >= MIN_FOREGROUND:
        return _dominant(lab[mask])
    h, w = mask.shape
    centre = lab[h // 4: h - h // 4, w // 4: w - w // 4].reshape(-1, 3)
    off = np.sqrt(((centre - np.median(_border(lab), axis=0)) ** 2).sum(-1)) > BACKGROUND_DELTA_E / 2
    return _dominant(centre[off] if off.mean() >= 0.1 else centre)


def is_monochrome(colours: Iterable[Lab | None], max_delta_e: float = 20.0) -> bool:
    """True when there are at least two colours, none unknown, and every pair is within ``max_delta_e`` (CIE76)."""
    cs = list(colours)
    if len(cs) < 2 or any(c is None for c in cs):
        return False
    arr = np.asarray(cs, dtype=np.float64)
    d = np.sqrt(((arr[:, None, :] - arr[None, :, :]) ** 2).sum(-1))
    return bool(d.max() <= max_delta_e)


class ColourCache:
    """Dominant colours per (image path, pixel box, file stamp), kept in ``data/colour_cache.json`` between runs."""

    VERSION = "foreground-3"   # bump when ``dominant_colour`` changes: old entries are then recomputed

    def __init__(self, ws: Workspace, use_disk_cache: bool):
        self.ws = ws
        self.cache_path = ws.data_dir / COLOUR_CACHE_NAME
        self.colours: dict[str, list[float] | None] = {}
        self.use_disk = use_disk_cache
        self.dirty = False
        if use_disk_cache and self.cache_path.exists():
            try:
                data = json.loads(self.cache_path.read_text())
                if isinstance(data, dict) and data.get("version") == self.VERSION:
                    self.colours = data.get("colours", {})
            except (OSError, json.JSONDecodeError):
                self.colours = {}

    def _key(self, image_path: str, box: tuple[int, int, int, int] | None) -> str:
        stamp = file_stamp(self.ws.abs(image_path))
        return f"{image_path}|{'' if box is None else ','.join(map(str, box))}|{stamp}"

    def colours_for(self, image_path: str, boxes: list[tuple[int, int, int, int] | None]) -> list[Lab | None]:
        """Dominant colours of several boxes of one image, decoding the image at most once (None: unreadable)."""
        keys = [self._key(image_path, b) for b in boxes]
        missing = [i for i, k in enumerate(keys) if k not in self.colours]
        if missing:
            try:
                img = load_image(self.ws.abs(image_path))
            except ImageError:
                img = None
            for i in missing:
                val = None
                if img is not None:
                    try:
                        val = list(dominant_colour(crop_box(img, boxes[i])))
                    except ImageError:
                        val = None
                self.colours[keys[i]] = val
            self.dirty = True
        return [tuple(self.colours[k]) if self.colours[k] is not None else None for k in keys]

    def save(self) -> None:
        if self.use_disk and self.dirty:
            atomic_write_json(self.cache_path, {"version": self.VERSION, "colours": self.colours})
