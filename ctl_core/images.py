"""Safe image loading for every entry point (catalogue files, uploads, collage crops).

Whatever arrives — zero bytes, truncated files, decompression bombs, CMYK, 16-bit, grayscale, palette, RGBA,
EXIF-rotated — either comes back as an upright 8-bit RGB ``PIL.Image`` or raises ``ImageError`` whose message
names the problem. Nothing else escapes. Checks run cheapest first, before anything is decoded: the file size by
``stat`` (a 2 GB file named ``.jpg`` is never read), then the header's pixel count (decompression bombs) and shape
(a side under ``MIN_SIDE`` pixels or an aspect ratio over ``MAX_ASPECT``:1 is no product photo, and Streamlit's
``st.image`` cannot even scale such an image down).

``displayable(path)`` answers, from the file's size and header alone, whether the app can show a catalogue image;
``load_thumbnail(path)`` gives a small RGB copy to show, or None.
"""
from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Largest image we decode (pixels). Larger ones are refused before decoding: a decompression bomb.
MAX_PIXELS = 40_000_000
# Largest upload we accept (bytes); the app shows this limit.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# Largest image file we read from disk (bytes), checked by stat before reading.
MAX_FILE_BYTES = 64 * 1024 * 1024
# Shape limits of a usable image: shortest side in pixels, longest side / shortest side.
MIN_SIDE = 16
MAX_ASPECT = 20.0
BACKGROUND = (255, 255, 255)


class ImageError(ValueError):
    """An image that cannot be used, with a message that says why."""


def _read_source(source: str | os.PathLike | bytes | BinaryIO, label: str, max_bytes: int) -> bytes:
    """The bytes of ``source``; a file larger than ``max_bytes`` is refused by its size, unread."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            if not path.is_file():
                raise ImageError(f"{label}: file not found")
            size = path.stat().st_size
        except OSError as e:  # e.g. a path component over 255 characters
            raise ImageError(f"{label}: cannot open ({e.strerror or e})") from None
        if size > max_bytes:
            raise ImageError(f"{label}: the file is {size / 2**20:,.0f} MiB; images over "
                             f"{max_bytes / 2**20:,.0f} MiB are refused")
        try:
            return path.read_bytes()
        except OSError as e:
            raise ImageError(f"{label}: cannot read ({e.strerror or e})") from None
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        data = source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageError(f"{label}: more than {max_bytes / 2**20:,.0f} MiB; larger images are refused")
    return data


def check_shape(width: int, height: int, label: str = "image", *, min_side: int = MIN_SIDE,
                max_aspect: float = MAX_ASPECT) -> None:
    """``ImageError`` when a ``width``×``height`` image is too small or too elongated to be a product photo."""
    if min(width, height) >= 1 and max(width, height) > max_aspect * min(width, height):
        raise ImageError(f"{label}: {width}x{height} pixels is {max(width, height) / min(width, height):,.0f}:1; "
                         f"images more elongated than {max_aspect:g}:1 are refused")
    if min(width, height) < min_side:
        raise ImageError(f"{label}: {width}x{height} pixels is too small; each side needs at least {min_side} "
                         "pixels")


def load_image(source: str | os.PathLike | bytes | BinaryIO, *, max_pixels: int = MAX_PIXELS,
               name: str | None = None, max_bytes: int = MAX_FILE_BYTES, min_side: int = MIN_SIDE,
               max_aspect: float = MAX_ASPECT, draft: int | None = None) -> Image.Image:
    """Open ``source`` (path, bytes or file object) as an upright 8-bit RGB image, or raise ``ImageError``.

    ``draft``: the shortest side the caller needs. A JPEG larger than that is decoded at a reduced scale (1/2, 1/4
    or 1/8, libjpeg's DCT scaling, ``Image.draft``) that keeps both sides at least ``draft`` pixels: a 12-megapixel
    phone photo for a 256-pixel backbone input decodes 8 times smaller and many times faster. The size checks
    apply to the file's own size.
    """
    label = name or (str(source) if isinstance(source, (str, os.PathLike)) else "uploaded image")
    data = _read_source(source, label, max_bytes)
    if len(data) == 0:
        raise ImageError(f"{label}: the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                raise ImageError(f"{label}: {w}x{h} pixels is larger than the limit of {max_pixels:,} pixels "
                                 "(possible decompression bomb)")
            check_shape(w, h, label, min_side=min_side, max_aspect=max_aspect)
            if draft and img.format == "JPEG" and min(w, h) >= 2 * max(int(draft), min_side):
                img.draft("RGB", (max(int(draft), min_side),) * 2)
            img.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{label}: image is too large to decode safely (decompression bomb): {e}") from None
    except UnidentifiedImageError:
        raise ImageError(f"{label}: not a readable image (unknown or corrupt format)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{label}: image data is truncated or corrupt ({e})") from None
    img = to_rgb(img)
    check_shape(*img.size, label, min_side=min_side, max_aspect=max_aspect)  # EXIF rotation keeps the shape
    return img


def displayable(path: str | os.PathLike) -> bool:
    """Whether the app can show the image file at ``path``: size, header, pixel count and shape all pass.

    Reads only the header (cheap enough for every tile of a grid); a file that passes can still be truncated,
    which ``st.image`` shows as a broken image rather than raising.
    """
    try:
        p = Path(path)
        if not p.is_file() or not 0 < p.stat().st_size <= MAX_FILE_BYTES:
            return False
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                w, h = img.size
        if w * h > MAX_PIXELS:
            return False
        check_shape(w, h)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return False  # ImageError is a ValueError; UnidentifiedImageError an OSError
    return True


def load_thumbnail(path: str | os.PathLike, max_side: int = 512) -> Image.Image | None:
    """An RGB copy of the image at ``path`` at most ``max_side`` pixels on its longest side, or None when the
    image cannot be used (for pages that must never break on one bad catalogue image)."""
    try:
        img = load_image(path)
    except ImageError:
        return None
    img.thumbnail((max_side, max_side))
    return img


def to_rgb(img: Image.Image) -> Image.Image:
    """Apply EXIF orientation and convert any mode (CMYK, 16-bit, L, P, RGBA, LA) to 8-bit RGB on white."""
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block must not make a good image unusable
        pass
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size and arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        img = Image.fromarray(((arr - lo) / (hi - lo or 1.0) * 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        bg = Image.new("RGB", rgba.size, BACKGROUND)
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    return img.convert("RGB")


def crop_box(img: Image.Image, box: tuple[int, int, int, int] | None) -> Image.Image:
    """Crop ``(x, y, w, h)`` pixels out of ``img`` (clipped to the image); ``None`` keeps the whole image."""
    if box is None:
        return img
    x, y, w, h = (int(round(v)) for v in box)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(img.width, x + w), min(img.height, y + h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise ImageError(f"box {box} lies outside the {img.width}x{img.height} image")
    return img.crop((x0, y0, x1, y1))


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes (any units, same for both)."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return float(inter / union) if union > 0 else 0.0


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 sRGB -> (N, 3) CIE Lab (D65)."""
    c = rgb.astype(np.float64) / 255.0
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375],
                  [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


PRODUCT_SHOT_THRESHOLD = 0.5
"""A product-shot score at or above this counts as a product shot (query understanding, indices, studies)."""
UNIFORM_STD = 2.0
"""Largest per-channel standard deviation (0–255) of a blank image: one at or below it scores 0."""
MIN_CONTENT = 0.01
"""Smallest share of pixels that must differ from the background for an image to show a product."""
CONTENT_DELTA = 8
"""Grey levels (0–255, any channel) by which a pixel must differ from the background to count as product: a white
blouse on a white backdrop differs by 8–20, and counting only differences of 24 or more (as the border test does)
read 278 Mango shots of white and off-white garments as blank."""


def product_shot_score(img: Image.Image) -> float:
    """How much ``img`` looks like a product shot (object on a plain light background), in [0, 1].

    Measured on a thin border: the share of border pixels that are light and close to the border's median
    colour, over the three most uniform sides (a product may stand on a plinth or be cut by one edge of the frame:
    a long coat, a boot on a step). Product shots score near 1; scenes, textures and tight crops score low. An image
    with no object on its background — blank or near-uniform (every channel's standard deviation at most
    ``UNIFORM_STD``), or fewer than ``MIN_CONTENT`` of its pixels ``CONTENT_DELTA`` away from the border colour —
    scores 0: there is no product to see.
    """
    rgb = img if img.mode == "RGB" else img.convert("RGB")
    # reducing_gap: a large image is first shrunk by an integer factor (box filter), then resampled: the same
    # 64x64 border within a grey level or two, 5-10x faster on an upload (Mango's 239x334 shots are unchanged)
    small = np.asarray(rgb.resize((64, 64), Image.Resampling.BICUBIC, reducing_gap=2.0), dtype=np.float32)
    if float(small.std(axis=(0, 1)).max()) <= UNIFORM_STD:
        return 0.0
    sides = [small[:4].reshape(-1, 3), small[-4:].reshape(-1, 3), small[:, :4].reshape(-1, 3),
             small[:, -4:].reshape(-1, 3)]
    median = np.median(np.concatenate(sides), axis=0)
    close = [float((np.abs(side - median).max(axis=1) < 24).mean()) for side in sides]
    light = [float((side.mean(axis=1) > 190).mean()) for side in sides]
    best = np.argsort(close)[1:]  # the three most uniform sides
    uniform, lit = float(np.mean([close[i] for i in best])), float(np.mean([light[i] for i in best]))
    content = float((np.abs(small.reshape(-1, 3) - median).max(axis=1) >= CONTENT_DELTA).mean())
    if content < MIN_CONTENT:
        return 0.0
    return float(np.clip(uniform * (0.5 + 0.5 * lit), 0.0, 1.0))
