"""Screenshots of Complete the Look on real data for the README: one catalogue product (by id) and one uploaded
photo, over a built real workspace (e.g. one made by ``make run DATA=../shared/real/mango``).

Usage: CTL_WORKSPACE=WS .venv/bin/python scripts/screenshots_real.py OUT_DIR PRODUCT_ID PHOTO [METHOD [SECOND_ID]]

Writes OUT_DIR/complete_the_look_real.png and OUT_DIR/complete_the_look_upload.png; with SECOND_ID also
OUT_DIR/complete_the_look_outfit_real.png (PRODUCT_ID and SECOND_ID as a partial outfit). Reads the workspace only (no
study, no judgments). The photos shown are the shop's own; screenshots are the one place they may appear in the
repository (see ../shared/real/README.md).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright
from screenshots import ARGS, serve  # the script beside this one (its folder is on sys.path when run)


def main(out: Path, product_id: str, photo: Path, method: str = "triplet-category", second: str | None = None) -> None:
    if not photo.is_file():
        sys.exit(f"no such photo: {photo}")
    out.mkdir(parents=True, exist_ok=True)
    with serve() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("CTL_CHROMIUM", "/usr/bin/chromium"), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1900})

        def idle() -> None:
            page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=180_000)
            page.wait_for_timeout(1500)

        page.goto(f"{url}/complete-the-look")
        idle()
        labels = page.locator("[data-testid='stSidebar']").get_by_role("combobox")
        if method != "triplet-category":
            labels.first.click()
            page.get_by_role("option", name=method).click()
            idle()
        page.get_by_text("Search by id", exact=True).click()
        idle()
        box = page.get_by_label("Product id", exact=False)
        box.fill(product_id)
        box.press("Enter")
        page.wait_for_selector("text=Query understanding", timeout=180_000)
        idle()
        page.screenshot(path=str(out / "complete_the_look_real.png"))
        if second:  # a partial outfit: the same product and a second one
            page.get_by_text("Outfit so far", exact=False).click()
            add = page.get_by_label("Add a product by id")
            add.fill(second)
            add.press("Enter")
            idle()
            page.get_by_role("button", name="Add", exact=True).click()
            page.wait_for_selector("text=Outfit of 2 products", timeout=180_000)
            idle()
            page.screenshot(path=str(out / "complete_the_look_outfit_real.png"), full_page=True)
            page.get_by_role("button", name="Clear the outfit").click()
            idle()
        page.get_by_text("Upload an image", exact=True).click()
        idle()
        page.locator("input[type='file']").set_input_files(str(photo))
        page.wait_for_selector("text=Query understanding", timeout=180_000)
        idle()
        page.screenshot(path=str(out / "complete_the_look_upload.png"))
        browser.close()


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), *sys.argv[4:6])
