"""Browser test: the real `streamlit run` server on 127.0.0.1, driven by Playwright on Debian's Chromium."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CTL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"Chromium not found at {CHROMIUM} (make test installs Debian's chromium)")


def _serve(ws):
    port = free_port()
    env = {**os.environ, "CTL_WORKSPACE": str(ws.root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "main.py"), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("streamlit did not answer /_stcore/health within 60 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def server(demo_ws):
    yield from _serve(demo_ws)


@pytest.fixture
def private_server(demo_ws_copy):
    """A server over a private copy of the workspace, with a small study of two models."""
    from ctl_core.workflows.study import create_study_from_workspace
    from db.session import init_db, make_engine
    engine = make_engine(demo_ws_copy.db_url)
    init_db(engine)
    create_study_from_workspace(demo_ws_copy, engine, name="two stylists", models=["triplet-category",
                                "classification"], n=6, k=2, overlap=2, n_gold=2)
    engine.dispose()
    yield from _serve(demo_ws_copy)


def _wait_idle(page) -> None:
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=90_000)


def test_pick_a_product_and_see_recommendations(server, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.goto(f"{server}/complete-the-look")
            _wait_idle(page)
            page.get_by_role("button", name="Complete this look").first.click()
            page.wait_for_selector("text=Query understanding", timeout=90_000)
            _wait_idle(page)
            page.wait_for_timeout(500)
            images = page.locator("[data-testid='stImage'] img")
            assert images.count() >= 8, f"expected the query and result images, saw {images.count()}"
            assert page.get_by_text("Complementary categories:").count() >= 1
            shot = tmp_path / "complete_the_look.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            out = os.environ.get("CTL_SCREENSHOT_DIR")
            if out:
                Path(out).mkdir(parents=True, exist_ok=True)
                shutil.copy(shot, Path(out) / shot.name)
        finally:
            browser.close()


def test_two_annotators_label_at_the_same_time(private_server, demo_ws_copy, tmp_path):
    """Two browser sessions sign in as two stylists and judge with the keyboard shortcuts, interleaved; the results
    page then shows precision with intervals and agreement, and every judgment is stored once."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pages = {}
            for name in ("Ana", "Ben"):
                page = browser.new_context(viewport={"width": 1300, "height": 1100}).new_page()
                page.goto(f"{private_server}/label")
                _wait_idle(page)
                box = page.get_by_placeholder("e.g. Ana")
                box.fill(name)
                box.press("Enter")
                # The sign-in rerun may not have started yet when the script state reads idle: wait for its result.
                expect(page.get_by_text("You: 0 /")).to_be_visible(timeout=60_000)
                expect(page.get_by_role("button", name=re.compile(r"^Compatible"))).to_be_visible(timeout=60_000)
                _wait_idle(page)
                page.locator("h1").first.click()
                pages[name] = page
            plan = {"Ana": "ynyny", "Ben": "ynnyy"}
            for i in range(5):
                for name, page in pages.items():
                    page.keyboard.press(plan[name][i])
                    page.get_by_text(f"You: {i + 1} /").wait_for(timeout=60_000)  # the judgment is saved
                    _wait_idle(page)
            for name, page in pages.items():
                page.screenshot(path=str(tmp_path / f"label_{name}.png"))
                assert page.get_by_text("You: 5 /").count() == 1, f"{name}'s progress did not reach 5 ({tmp_path})"
            page = pages["Ana"]
            page.goto(f"{private_server}/results")
            page.get_by_text("Precision per model").wait_for(timeout=60_000)
            # Elements stream in after the script starts: wait for the agreement metric itself, then read its value.
            cohen = page.locator("[data-testid='stMetric']").filter(has_text="Cohen's kappa")
            expect(cohen).to_be_visible(timeout=60_000)
            _wait_idle(page)
            page.screenshot(path=str(tmp_path / "results.png"))
            value = cohen.locator("[data-testid='stMetricValue']").inner_text().strip()
            assert re.fullmatch(r"-?\d\.\d\d", value), f"Cohen's kappa is {value!r}, not a number ({tmp_path})"
        finally:
            browser.close()

    from db.session import make_engine
    from db.stats import agreement, judgment_frame
    from db.studies import list_studies
    engine = make_engine(demo_ws_copy.db_url)
    sid = list_studies(engine)[0].study_id
    judged = judgment_frame(engine, sid)
    assert judged.groupby("annotator").size().to_dict() == {"Ana": 5, "Ben": 5}
    assert not judged.duplicated(["pair_id", "annotator"]).any()
    assert agreement(engine, sid)["cohen_items"] >= 3  # fill-to-overlap: both judged the same pairs
