"""Torch threads from the free cores; JPEG uploads decoded at the size the backbone needs."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ctl_core.images import load_image, product_shot_score
from ctl_core.threads import configure_threads, free_cores, user_threads


def test_free_cores_subtracts_the_load_of_other_processes():
    assert free_cores(load=0.0, cores=2) == 2
    assert free_cores(load=1.2, cores=2) == 1
    assert free_cores(load=14.0, cores=2) == 1  # never below one
    assert free_cores(load=0.4, cores=8) == 8


def test_a_thread_count_the_user_set_wins():
    env = {"OMP_NUM_THREADS": "3"}
    assert configure_threads(env, set_torch=False) == 3 and env["MKL_NUM_THREADS"] == "3"
    env = {"CTL_THREADS": "1"}
    assert configure_threads(env, set_torch=False) == 1 and env["OMP_NUM_THREADS"] == "1"
    env = {}
    n = configure_threads(env, set_torch=False)
    assert 1 <= n and env["OMP_NUM_THREADS"] == str(n)


def test_a_count_this_module_chose_is_not_read_back_as_the_users():
    # a process we start inherits OMP_NUM_THREADS from our pick: a benchmark there must not take it for a choice
    assert user_threads({"OMP_NUM_THREADS": "1", "CTL_THREADS_CHOSEN_BY": "ctl_core"}) is None
    assert user_threads({"OMP_NUM_THREADS": "1", "CTL_THREADS_CHOSEN_BY": "ctl_core", "CTL_THREADS": "2"}) == 2
    assert user_threads({"OMP_NUM_THREADS": "3"}) == 3
    assert user_threads({"CTL_THREADS": "many"}) is None and user_threads({}) is None


def _jpeg(w: int, h: int) -> bytes:
    img = Image.new("RGB", (w, h), (255, 255, 255))
    img.paste((30, 60, 200), (w // 4, h // 4, 3 * w // 4, 3 * h // 4))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def test_draft_decodes_a_large_jpeg_smaller_but_never_below_the_size_asked():
    data = _jpeg(2400, 3200)
    full, small = load_image(data), load_image(data, draft=256)
    assert full.size == (2400, 3200)
    assert min(small.size) >= 256 and small.size == (300, 400)  # 1/8 scale
    assert load_image(_jpeg(400, 500), draft=256).size == (400, 500)  # under 2x the size asked: decoded as is
    png = io.BytesIO()
    Image.new("RGB", (1200, 1200), (255, 255, 255)).save(png, format="PNG")
    assert load_image(png.getvalue(), draft=256).size == (1200, 1200)  # only JPEG has DCT scaling
    assert abs(product_shot_score(full) - product_shot_score(small)) < 0.02
    a = np.asarray(full.resize((64, 64)), float)
    b = np.asarray(small.resize((64, 64)), float)
    assert np.abs(a - b).mean() < 3.0  # the same picture
