"""Browser test (issue 21): two stylists disagree on the same pairs, an admin adjudicates one on the Review page;
the adjudicated verdict is stored beside the judgments, which stay as they were."""
from __future__ import annotations

import re

import pytest

from tests.app.test_browser import CHROMIUM, CHROMIUM_ARGS, _serve
from tests.app.test_human_eval_pages import light_workspace, stand_in

pytestmark = pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                                reason=f"Chromium not found at {CHROMIUM} (make test installs Debian's chromium)")


def _wait_idle(page) -> None:
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=300_000)


def _sign_in(page, server: str, name: str, password: str) -> None:
    page.goto(server, timeout=300_000)
    _wait_idle(page)
    page.get_by_role("textbox", name="Name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def review_server(tmp_path):
    """A light workspace (tiny catalogue, no trained model), three accounts and a study of 2 annotators per pair."""
    from db.accounts import AccountsConfig, add_account
    from db.session import init_db, make_engine
    from db.studies import create_study
    ws = light_workspace(tmp_path / "ws")
    engine = make_engine(ws.db_url)
    init_db(engine)
    fast = AccountsConfig(time_cost=1, memory_cost_kib=8, parallelism=1)
    for name, role in (("Ana", "stylist"), ("Ben", "stylist"), ("Maria", "admin")):
        add_account(engine, name, role, f"{name.lower()} password", config=fast)
    create_study(engine, "disagreements", ["p00", "p03"], ["triplet-category"], stand_in, k=2, overlap=2)
    engine.dispose()
    for url in _serve(ws):
        yield url, ws


def test_two_stylists_disagree_and_an_admin_adjudicates(review_server, tmp_path):
    review_server, ws = review_server
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name, key, n in (("Ana", "y", 2), ("Ben", "n", 4)):  # Ben judges every pair: 2 disagreements
                page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
                _sign_in(page, review_server, name, f"{name.lower()} password")
                expect(page.get_by_text(f"Signed in: {name} (stylist)")).to_be_visible(timeout=240_000)
                _wait_idle(page)
                page.locator("[data-testid='stSidebarNav']").get_by_text("Label pairs").click()
                expect(page.get_by_role("button", name=re.compile(r"^Compatible"))).to_be_visible(timeout=240_000)
                _wait_idle(page)
                for i in range(n):
                    page.locator("h1").first.click()
                    page.keyboard.press(key)
                    expect(page.get_by_text(f"You: {i + 1} /")).to_be_visible(timeout=240_000)
                    _wait_idle(page)

            admin = browser.new_context(viewport={"width": 1366, "height": 1400}).new_page()
            _sign_in(admin, review_server, "Maria", "maria password")
            expect(admin.get_by_text("Signed in: Maria (admin)")).to_be_visible(timeout=240_000)
            _wait_idle(admin)
            admin.locator("[data-testid='stSidebarNav']").get_by_text("Review", exact=True).click()
            try:
                expect(admin.get_by_text("2 open")).to_be_visible(timeout=240_000)
            finally:
                admin.screenshot(path=str(tmp_path / "review_before.png"), full_page=True)
            _wait_idle(admin)
            main = admin.locator("[data-testid='stMain']")
            expect(main.get_by_text("Ana: Compatible")).to_be_visible()
            expect(main.get_by_text("Ben: Not compatible")).to_be_visible()
            admin.screenshot(path=str(tmp_path / "review.png"), full_page=True)
            main.get_by_role("button", name=re.compile("Not compatible")).click()
            expect(admin.get_by_text("1 open")).to_be_visible(timeout=240_000)
            _wait_idle(admin)
            admin.screenshot(path=str(tmp_path / "review_after.png"), full_page=True)
        finally:
            browser.close()

    from db import adjudication
    from db.session import make_engine
    from db.stats import judgment_frame
    from db.studies import list_studies
    engine = make_engine(ws.db_url)
    sid = list_studies(engine)[0].study_id
    judged = judgment_frame(engine, sid)
    assert sorted(judged.groupby("annotator")["compatible"].agg(list).to_dict().items()) == [
        ("Ana", [True, True]), ("Ben", [False] * 4)]  # the originals stay
    hist = adjudication.adjudication_frame(engine, sid)
    assert hist["adjudicator"].tolist() == ["Maria"] and hist["compatible"].tolist() == [False]
    assert adjudication.queue_counts(engine, sid) == {"open": 1, "resolved": 1, "disagreement": 2, "gold": 0}
