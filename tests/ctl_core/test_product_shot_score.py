"""The border score of the product-shot check on the shots a shop actually has."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ctl_core.images import PRODUCT_SHOT_THRESHOLD, product_shot_score


def _shot(garment, backdrop=(246, 246, 246), size=(239, 334)) -> Image.Image:
    img = Image.new("RGB", size, backdrop)
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((60, 60, 180, 280), radius=20, fill=garment)
    d.line((120, 70, 120, 270), fill=tuple(max(0, c - 14) for c in garment), width=3)  # a seam
    return img


def test_a_white_garment_on_a_light_backdrop_is_a_product_shot():
    """Issue 19: a plain white blouse on Mango's off-white backdrop scored 0.00 ("blank")."""
    assert product_shot_score(_shot((236, 236, 234))) >= PRODUCT_SHOT_THRESHOLD
    assert product_shot_score(_shot((232, 226, 214))) >= PRODUCT_SHOT_THRESHOLD  # off-white / ecru


def test_a_product_standing_on_one_edge_is_a_product_shot():
    img = _shot((30, 30, 30))
    ImageDraw.Draw(img).rectangle((0, 300, 238, 333), fill=(120, 110, 100))  # a plinth along the bottom edge
    assert product_shot_score(img) >= PRODUCT_SHOT_THRESHOLD


def test_scenes_and_blank_images_still_fail():
    rng = np.random.default_rng(0)
    scene = Image.fromarray(rng.integers(0, 255, (334, 239, 3), dtype=np.uint8))
    assert product_shot_score(scene) < PRODUCT_SHOT_THRESHOLD
    busy = _shot((30, 30, 30))
    d = ImageDraw.Draw(busy)
    for x in range(0, 239, 12):  # a patterned wall on every side
        d.line((x, 0, x, 333), fill=(90, 40, 20), width=5)
    assert product_shot_score(busy) < PRODUCT_SHOT_THRESHOLD
    assert product_shot_score(Image.new("RGB", (239, 334), (246, 246, 246))) == 0.0


def test_the_check_fails_when_either_test_fails_not_when_both_are_middling():
    from ctl_core.serving.product_shot import combine
    got = combine(np.array([0.8, 0.3, 0.9, 1.0]), np.array([0.4, 0.0, 0.6, 0.5]))
    np.testing.assert_allclose(got, [0.6, 0.3, 0.4, 0.5])  # 0.8 x 0.6 = 0.48 used to refuse the first
    assert (got >= PRODUCT_SHOT_THRESHOLD).tolist() == [True, False, False, True]
