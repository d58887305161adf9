"""Browser test: add a second product to the query on Complete the Look and see the look completed around both."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from ctl_core.data.categories import CATEGORIES, SLOTS, outfit_complements
from ctl_core.data.tables import read_catalogue
from tests.app.test_browser import CHROMIUM, CHROMIUM_ARGS, _serve, _wait_idle

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"Chromium not found at {CHROMIUM} (make test installs Debian's chromium)")


@pytest.fixture
def outfit_server(demo_ws):
    yield from _serve(demo_ws)


def test_a_second_product_fills_the_other_categories(outfit_server, demo_ws, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    cat = read_catalogue(demo_ws.catalogue_csv).drop_duplicates("product_id")
    first_cat = next(c for c in CATEGORIES if c in set(cat["category"]))  # the browse grid opens on it
    second_cat = next(c for c in outfit_complements([first_cat]) if c in set(cat["category"]))
    second = str(cat[cat["category"] == second_cat]["product_id"].iloc[0])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.goto(f"{outfit_server}/complete-the-look")
            _wait_idle(page)
            page.get_by_role("button", name="Complete this look").first.click()
            expect(page.get_by_text("Query understanding")).to_be_visible(timeout=90_000)
            _wait_idle(page)
            page.get_by_text(re.compile(r"^Outfit so far")).click()  # open the expander
            box = page.get_by_label("Add a product by id")
            box.fill(second)
            box.press("Enter")
            _wait_idle(page)
            page.get_by_role("button", name="Add", exact=True).click()
            expect(page.get_by_text(re.compile(r"Outfit of 2 products"))).to_be_visible(timeout=90_000)
            _wait_idle(page)
            line = page.locator("p", has_text="Complementary categories:").first.inner_text()
            served = [c.strip() for c in line.split(":", 1)[1].split(",") if c.strip()]
            taken = {SLOTS[first_cat], SLOTS[second_cat]}
            assert served and all(SLOTS[c] not in taken for c in served), (first_cat, second_cat, served)
            assert page.get_by_text("the outfit model re-orders").count() >= 1  # re-ranked by default
            shot = tmp_path / "complete_the_look_outfit.png"
            page.screenshot(path=str(shot), full_page=True)
            out = os.environ.get("CTL_SCREENSHOT_DIR")
            if out:
                Path(out).mkdir(parents=True, exist_ok=True)
                shutil.copy(shot, Path(out) / shot.name)
        finally:
            browser.close()
