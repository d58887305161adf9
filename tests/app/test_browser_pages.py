"""Browser tests of issue 19's page points (5, 6, 9): the real `streamlit run` server, Chromium through Playwright.

- the Label page at 1366×768: both images and the three verdict buttons inside the viewport without scrolling, with
  the guideline summary open and failure modes clicked;
- a shared /complete-the-look before sign-in: the sign-in form there, then the page; a reload keeps the session;
  signing out and reloading asks again;
- clicking the selected "Search by id" keeps it; no Deploy button or developer menu.
"""
from __future__ import annotations

import re

from tests.app.test_browser import (  # noqa: F401  (fixtures)
    CHROMIUM,
    CHROMIUM_ARGS,
    _wait_idle,
    private_server,
    pytestmark,
    server,
    team_server,
)

LAPTOP = {"width": 1366, "height": 768}


def _inside(box, viewport=LAPTOP) -> bool:
    return (box is not None and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= viewport["width"]
            and box["y"] + box["height"] <= viewport["height"])


def test_label_page_fits_a_laptop_screen(private_server, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=LAPTOP)
            page.goto(f"{private_server}/label")
            expect(page.get_by_placeholder("e.g. Ana")).to_be_visible(timeout=300_000)
            _wait_idle(page)
            box = page.get_by_placeholder("e.g. Ana")
            box.fill("Ana")
            box.press("Enter")
            expect(page.get_by_text("You: 0 /")).to_be_visible(timeout=60_000)
            expect(page.get_by_role("button", name=re.compile(r"^Compatible")).first).to_be_visible(timeout=60_000)
            _wait_idle(page)
            # the guideline summary is open for a first pair; click two failure modes as a stylist would
            expect(page.get_by_text("The question:").first).to_be_visible()
            for mode in ("Colour clash", "Style mismatch"):
                page.get_by_role("button", name=mode).click()
                _wait_idle(page)
            page.wait_for_timeout(500)
            page.screenshot(path=str(tmp_path / "label_1366x768.png"))
            assert page.evaluate("window.scrollY") == 0
            main = page.locator("[data-testid='stMain']")
            images = main.locator("[data-testid='stImage'] img")
            assert images.count() == 2, f"expected the query and candidate images ({tmp_path})"
            for i in range(2):
                assert _inside(images.nth(i).bounding_box()), f"image {i} is off a 1366×768 screen ({tmp_path})"
            for name in ("Compatible", "Not compatible", "Skip"):
                button = main.get_by_role("button", name=re.compile(rf"^{name} Shortcut"))
                assert _inside(button.first.bounding_box()), f"{name} is off a 1366×768 screen ({tmp_path})"
        finally:
            browser.close()


def test_deep_link_sign_in_reload_and_sign_out(team_server, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1300, "height": 1000}).new_page()
            page.goto(f"{team_server}/complete-the-look")  # a shared link, before sign-in
            # the whole form (a first run imports torch and friends: slow on a busy machine)
            expect(page.get_by_text("No account? Ask an admin")).to_be_visible(timeout=300_000)
            assert page.get_by_text("Page not found").count() == 0
            _wait_idle(page)
            page.wait_for_timeout(1000)  # the first run's script state can read idle before it has started
            page.get_by_role("textbox", name="Name").fill("Rita")
            page.get_by_role("textbox", name="Password").fill("rita password")
            page.get_by_role("button", name="Sign in").click()
            expect(page.locator("h1").filter(has_text="Complete the Look")).to_be_visible(timeout=120_000)
            assert page.url.endswith("/complete-the-look")
            expect(page.get_by_text("Signed in: Rita (researcher)")).to_be_visible(timeout=60_000)
            _wait_idle(page)
            cookie = [c for c in page.context.cookies() if c["name"] == "ctl_session"]
            assert cookie and cookie[0]["value"].startswith("v1.") and cookie[0]["sameSite"] == "Strict"

            page.reload()  # a reload keeps the session
            _wait_idle(page)
            expect(page.locator("h1").filter(has_text="Complete the Look")).to_be_visible(timeout=60_000)
            expect(page.get_by_text("Signed in: Rita (researcher)")).to_be_visible(timeout=60_000)
            page.screenshot(path=str(tmp_path / "after_reload.png"))

            # the selected "Search by id" stays selected when clicked again
            page.get_by_text("Search by id", exact=True).click()
            _wait_idle(page)
            page.get_by_text("Search by id", exact=True).click()
            _wait_idle(page)
            expect(page.get_by_label(re.compile(r"^Product id \(e\.g\. "))).to_be_visible(timeout=30_000)
            assert page.get_by_text("Upload a product photo").count() == 0
            # no Deploy button and no developer menu (client.toolbarMode = "minimal")
            assert page.locator("[data-testid='stAppDeployButton']").count() == 0
            assert page.locator("[data-testid='stMainMenu']").count() == 0

            page.get_by_role("button", name="Sign out").click()
            expect(page.get_by_role("textbox", name="Password")).to_be_visible(timeout=60_000)
            _wait_idle(page)
            page.reload()  # signed out stays signed out
            _wait_idle(page)
            expect(page.get_by_role("textbox", name="Password")).to_be_visible(timeout=60_000)
            assert not [c for c in page.context.cookies() if c["name"] == "ctl_session" and c["value"]]
        finally:
            browser.close()
