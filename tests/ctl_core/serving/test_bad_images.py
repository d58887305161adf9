"""Bad and unusual images: each loads as upright 8-bit RGB or raises ImageError naming the problem —
through ``images.load_image`` directly and through ``Recommender.recommend(image=...)``."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from ctl_core.images import ImageError, load_image
from ctl_core.serving.recommender import Recommender
from tests.ctl_core.serving.serving_fixtures import served_workspace

METHOD = "triplet-category"
RED, BLUE = (255, 0, 0), (0, 0, 255)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(w: int = 50_000, h: int = 50_000) -> bytes:
    """A tiny PNG whose header claims w×h pixels (a decompression bomb never gets decoded)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def noisy(size=(64, 64)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (*size[::-1], 3), dtype=np.uint8), "RGB")


def halves(w=40, h=20) -> Image.Image:
    """Left half red, right half blue."""
    img = Image.new("RGB", (w, h), RED)
    img.paste(BLUE, (w // 2, 0, w, h))
    return img


# (name, bytes, expected message fragment)
BAD = [
    ("unreadable", b"this is certainly not an image" * 10, "not a readable image"),
    ("truncated-png", encode(noisy(), "PNG")[:600], "truncated or corrupt"),
    ("truncated-jpeg", encode(noisy((128, 128)), "JPEG", quality=95)[:1500], "truncated or corrupt"),
    ("zero-bytes", b"", "empty"),
    ("bomb-header", bomb_png(), "decompression bomb"),
]


def _rgb_checks(img: Image.Image) -> np.ndarray:
    assert img.mode == "RGB"
    arr = np.asarray(img)
    assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
    return arr


def good_cases() -> list[tuple[str, bytes, callable]]:
    """(name, bytes, check(result image)) for unusual but valid images."""
    cmyk = Image.new("CMYK", (24, 24), (0, 255, 255, 0))  # pure red in CMYK
    grad16 = np.tile(np.linspace(0, 65535, 32).astype(np.uint16), (16, 1))
    gray = Image.new("L", (32, 16), 90)  # images under MIN_SIDE (16 px) are refused
    rgba = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    rgba.paste((255, 0, 0, 255), (0, 0, 10, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"

    def check_cmyk(img):
        arr = _rgb_checks(img).astype(int)
        assert np.abs(arr[12, 12] - np.array(RED)).max() < 40

    def check_16bit(img):
        arr = _rgb_checks(img).astype(int)
        assert img.size == (32, 16)
        assert arr[0, 0].max() < 10 and arr[0, -1].min() > 245  # full 16-bit range mapped onto 8 bits
        assert (np.diff(arr[0, :, 0]) >= 0).all() and (arr[..., 0] == arr[..., 2]).all()

    def check_gray(img):
        arr = _rgb_checks(img)
        assert img.size == (32, 16) and (arr == 90).all()

    def check_rgba(img):
        arr = _rgb_checks(img)
        assert tuple(arr[5, 2]) == RED and tuple(arr[5, 15]) == (255, 255, 255)  # transparent → white

    def check_exif(img):
        arr = _rgb_checks(img).astype(int)
        assert img.size == (20, 40)  # rotated upright
        assert np.abs(arr[5, 10] - np.array(RED)).max() < 40  # the left half is now on top
        assert np.abs(arr[34, 10] - np.array(BLUE)).max() < 40

    return [
        ("cmyk-jpeg", encode(cmyk, "JPEG", quality=95), check_cmyk),
        ("16-bit-png", encode(Image.fromarray(grad16), "PNG"), check_16bit),
        ("grayscale-png", encode(gray, "PNG"), check_gray),
        ("rgba-png", encode(rgba, "PNG"), check_rgba),
        ("exif-rotated-jpeg", encode(halves(), "JPEG", quality=95, exif=exif), check_exif),
    ]


GOOD = good_cases()


@pytest.mark.parametrize("name,data,message", BAD, ids=[b[0] for b in BAD])
def test_bad_bytes_raise_image_error_naming_the_problem(name, data, message, tmp_path):
    with pytest.raises(ImageError, match=message):
        load_image(data)
    path = tmp_path / f"{name}.img"
    path.write_bytes(data)
    with pytest.raises(ImageError, match=message) as e:
        load_image(path)
    assert str(path) in str(e.value)  # the file is named


def test_missing_file_and_pixel_limit(tmp_path):
    with pytest.raises(ImageError, match="file not found"):
        load_image(tmp_path / "nope.png")
    blank = encode(Image.new("RGB", (400, 300), "white"), "PNG")
    with pytest.raises(ImageError, match="larger than the limit"):
        load_image(blank, max_pixels=100_000)
    assert load_image(blank).size == (400, 300)


@pytest.mark.parametrize("name,data,check", GOOD, ids=[g[0] for g in GOOD])
def test_unusual_images_load_as_upright_rgb(name, data, check):
    check(load_image(data))
    check(load_image(io.BytesIO(data)))


# -- through the recommender ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    ws, adapter, _ = served_workspace(tmp_path_factory.mktemp("ws"), METHOD, per_category=2, n_scenes=1)
    return Recommender(ws, METHOD, adapter=adapter)


@pytest.mark.parametrize("name,data,message", BAD, ids=[b[0] for b in BAD])
def test_recommender_passes_image_errors_through(rec, name, data, message, tmp_path):
    with pytest.raises(ImageError, match=message):
        rec.recommend(image=data)
    path = tmp_path / f"{name}.jpg"
    path.write_bytes(data)
    with pytest.raises(ImageError, match=message):
        rec.recommend(image=path)
    with pytest.raises(ImageError, match="file not found"):
        rec.recommend(image=tmp_path / "missing.jpg")


@pytest.mark.parametrize("name,data,check", GOOD, ids=[g[0] for g in GOOD])
def test_recommender_serves_unusual_images(rec, name, data, check):
    out = rec.recommend(image=data, k=4)
    assert len(out.results) == 4 and 0.0 <= out.query.product_shot_score <= 1.0
    assert out.query.category not in {r.category for r in out.results}
