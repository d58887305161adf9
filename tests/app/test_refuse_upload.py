"""The product-shot refusal mode from the app (issue 22, point 5): a sidebar toggle on Complete the Look."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "complete_the_look.py")


def _noise_png() -> bytes:
    """Not a product shot: noise to the border."""
    arr = np.random.default_rng(3).integers(0, 255, (120, 120, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, "PNG")
    return buf.getvalue()


def test_upload_that_is_not_a_product_shot_is_warned_or_refused(demo_ws, monkeypatch):
    monkeypatch.setenv("CTL_WORKSPACE", str(demo_ws.root))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    at.switch_page(PAGE).run()
    at.segmented_control(key="query_source").set_value("Upload an image").run()
    at.file_uploader(key="upload").set_value(("scene.png", _noise_png(), "image/png")).run()
    assert not at.exception
    warned = at.session_state["last_recommendation"]
    assert warned["query"]["warning"] and warned["results"]             # default: a warning beside the results
    del at.session_state["last_recommendation"]
    at.toggle(key="refuse_non_product").set_value(True).run()
    assert not at.exception
    assert any("product shot" in e.value for e in at.error)             # refused, with the reason
    assert "last_recommendation" not in at.session_state
