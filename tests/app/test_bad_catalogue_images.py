"""An image of extreme aspect ratio never breaks a page (issue 12, finding 4).

Before: a 100000x10 PNG of 1 KB passed every check, then ``st.image`` raised "height and width must be > 0" —
uploaded, it broke the page for that user; imported into the catalogue, it broke the browse page and every result
grid showing it, for every visitor. Now the loader refuses it (upload: a clear error; import: a skipped row;
catalogue inference: skipped and counted) and ``ctl_core.images.displayable`` lets pages skip a catalogue file
that turned bad on disk after it was imported.
"""
from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from streamlit.testing.v1 import AppTest

from ctl_core.data.importers import UNREADABLE_IMAGE, import_folder
from ctl_core.data.tables import read_catalogue

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")
METHOD = "triplet-category"


def png(size, colour=(255, 255, 255)) -> bytes:
    img = Image.new("RGB", size, colour)
    if min(size) >= 40:   # a product on white
        img.paste(Image.new("RGB", (size[0] // 2, size[1] // 2), (30, 60, 150)), (size[0] // 4, size[1] // 4))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


WIDE = png((100_000, 10))


def start(ws, monkeypatch) -> AppTest:
    monkeypatch.setenv("CTL_WORKSPACE", str(ws.root))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    at.switch_page(str(ROOT / "pages" / "complete_the_look.py"))
    at.run()
    assert not at.exception, at.exception
    return at


def browse(at: AppTest, category: str) -> AppTest:
    at.selectbox(key="browse_category").set_value(category).run()
    assert not at.exception, at.exception
    return at


def test_uploading_the_extreme_image_shows_a_clear_error(demo_ws, monkeypatch):
    at = start(demo_ws, monkeypatch)
    at.segmented_control(key="query_source").set_value("Upload an image").run()
    at.file_uploader(key="upload").set_value(("wide.png", WIDE, "image/png")).run()
    assert not at.exception, at.exception
    assert any("100000x10" in e.value and "elongated" in e.value for e in at.error)
    # the page still works for the next query
    at.file_uploader(key="upload").set_value(("shirt.png", png((120, 120)), "image/png")).run()
    assert not at.exception and at.session_state["last_recommendation"]["results"]


def test_importing_the_extreme_image_skips_it_and_the_browse_page_renders(demo_ws_copy, monkeypatch, tmp_path):
    ws = demo_ws_copy
    shop = tmp_path / "shop" / "shoes"
    shop.mkdir(parents=True)
    (shop / "wide.png").write_bytes(WIDE)
    (shop / "good.png").write_bytes(png((120, 120)))
    rep = import_folder(ws, tmp_path / "shop", purpose="catalogue")
    assert rep.imported == 1 and rep.skipped == {UNREADABLE_IMAGE: 1}
    assert "elongated" in rep.examples[UNREADABLE_IMAGE][0]
    cat = read_catalogue(ws.catalogue_csv)
    assert "shoes-good" in set(cat["product_id"]) and "shoes-wide" not in set(cat["product_id"])
    at = browse(start(ws, monkeypatch), "Shoes")
    assert any(b.key == "pick_shoes-good" for b in at.button)
    assert len(at.image) >= 2


def test_a_catalogue_image_that_turned_extreme_on_disk_breaks_no_page(demo_ws_copy, monkeypatch):
    """The file of an indexed, served product is replaced by the extreme PNG after indexing: the browse page, the
    result grid and the query card still render (the tile is left out) — through ``images.displayable``."""
    ws = demo_ws_copy
    at = start(ws, monkeypatch)
    pick = next(b for b in at.button if b.key and b.key.startswith("pick_"))
    pick.click().run()
    rec = at.session_state["last_recommendation"]
    victim = rec["results"][0]
    ws.abs(victim["image_path"]).write_bytes(WIDE)       # the served product's file turns bad
    at.run()                                             # the result grid shows it again
    assert not at.exception, at.exception
    assert at.session_state["last_recommendation"]["results"][0]["item_id"] == victim["item_id"]
    browse(at, victim["category"])                       # and the browse page of its category
    assert not at.exception, at.exception
