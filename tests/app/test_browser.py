"""Browser test: the real `streamlit run` server on 127.0.0.1, driven by Playwright on Debian's Chromium."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


# ----------------------------------------------------------------------------------------------- accounts (issue 12)

def _sign_in(page, server: str, name: str, password: str) -> None:
    page.goto(server)
    _wait_idle(page)
    page.get_by_role("textbox", name="Name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def team_server(demo_ws_copy):
    """A server whose database has a stylist and a researcher, and a small study."""
    from ctl_core.workflows.study import create_study_from_workspace
    from db.accounts import AccountsConfig, add_account
    from db.session import init_db, make_engine
    engine = make_engine(demo_ws_copy.db_url)
    init_db(engine)
    fast = AccountsConfig(time_cost=1, memory_cost_kib=8, parallelism=1)
    add_account(engine, "Ana", "stylist", "ana password", config=fast)
    add_account(engine, "Rita", "researcher", "rita password", config=fast)
    create_study_from_workspace(demo_ws_copy, engine, name="team study", models=["triplet-category"], n=4, k=2,
                                overlap=1, n_gold=0)
    engine.dispose()
    yield from _serve(demo_ws_copy)


def test_sign_in_and_role_gates_in_a_browser(team_server, demo_ws_copy, tmp_path):
    """Sign-in is asked; a wrong password is refused; a stylist's menu holds Home and Label pairs only, typing the
    Results URL in her session gets Home, and she labels as herself; a reload keeps her signed in, still without
    Results; a researcher sees Results."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1300, "height": 1100}).new_page()
            _sign_in(page, team_server, "Ana", "not her password")
            expect(page.get_by_text("wrong name or password")).to_be_visible(timeout=60_000)
            _sign_in(page, team_server, "Ana", "ana password")
            expect(page.get_by_text("Signed in: Ana (stylist)")).to_be_visible(timeout=60_000)
            _wait_idle(page)
            nav = page.locator("[data-testid='stSidebarNav']")
            expect(nav.get_by_text("Label pairs")).to_be_visible()
            for hidden in ("Results", "Studies", "Users", "Complete the Look", "Models"):
                assert nav.get_by_text(hidden, exact=True).count() == 0, f"a stylist's menu shows {hidden}"
            # typing the URL of Results within her session (no reload): the app serves Home, not Results
            page.evaluate("history.pushState({}, '', '/results'); dispatchEvent(new PopStateEvent('popstate'))")
            page.wait_for_timeout(1500)
            _wait_idle(page)
            page.screenshot(path=str(tmp_path / "stylist_results_url.png"))
            assert page.locator("h1").filter(has_text="Results").count() == 0, f"stylist reached Results ({tmp_path})"
            nav.get_by_text("Label pairs").click()
            expect(page.get_by_text("Labelling as Ana")).to_be_visible(timeout=60_000)
            assert page.get_by_placeholder("e.g. Ana").count() == 0  # no name box: nobody labels as another
            expect(page.get_by_role("button", name=re.compile(r"^Compatible"))).to_be_visible(timeout=60_000)
            _wait_idle(page)
            page.locator("h1").first.click()
            page.keyboard.press("y")
            expect(page.get_by_text("You: 1 /")).to_be_visible(timeout=60_000)
            page.goto(f"{team_server}/results")  # a reload keeps her signed in (the session cookie), still no Results
            _wait_idle(page)
            expect(page.get_by_text("Signed in: Ana (stylist)")).to_be_visible(timeout=60_000)
            assert page.locator("h1").filter(has_text="Results").count() == 0

            rita = browser.new_context(viewport={"width": 1300, "height": 1100}).new_page()
            _sign_in(rita, team_server, "rita", "rita password")
            expect(rita.get_by_text("Signed in: Rita (researcher)")).to_be_visible(timeout=60_000)
            _wait_idle(rita)
            rnav = rita.locator("[data-testid='stSidebarNav']")
            assert rnav.get_by_text("Studies", exact=True).count() == 0
            rnav.get_by_text("Results", exact=True).click()
            expect(rita.locator("h1").filter(has_text="Results")).to_be_visible(timeout=60_000)
        finally:
            browser.close()

    from db.session import make_engine
    from db.stats import judgment_frame
    from db.studies import list_studies
    engine = make_engine(demo_ws_copy.db_url)
    judged = judgment_frame(engine, list_studies(engine)[0].study_id)
    assert judged["annotator"].tolist() == ["Ana"]


# ----------------------------------------------------------------------------------------------- no HTML from data

PROBE_IFRAME = "<iframe srcdoc=\"<script>document.title='pwned';window.pwned=1</script>\">"
PROBE_STYLE = ("<style>@import url(http://127.0.0.1:{port}/style.css); h1, p, body "
               "{{color: rgb(1, 2, 3) !important; background: url(http://127.0.0.1:{port}/bg.png)}}</style>"
               "<form><input name=password placeholder='Re-enter password'></form>")
PROBE_IMAGE = "![x](http://127.0.0.1:{port}/leak.png) <img src=http://127.0.0.1:{port}/img.png>"


@pytest.fixture
def leak_server():
    """A tiny HTTP server that records every request: nothing on the page may fetch from it."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield srv.server_address[1], seen
    finally:
        srv.shutdown()


@pytest.fixture
def probe_server(demo_ws_copy, leak_server, tmp_path):
    """The demo catalogue imported again with `import folder`, every title a probe; a study named by a probe, an
    annotator named by a probe, a probe comment and a probe failure mode; the recommender re-indexed."""
    import csv

    from ctl_core.cli import main
    from ctl_core.data.tables import read_catalogue
    from ctl_core.workflows.study import create_study_from_workspace
    from db import store
    from db.session import init_db, make_engine

    port, _ = leak_server
    probes = [PROBE_IFRAME, PROBE_STYLE.format(port=port), PROBE_IMAGE.format(port=port)]
    folder = tmp_path / "probes"
    folder.mkdir()
    rows, first_of = [], {}  # first_of: probe number -> a product shot titled by it (to query)
    for i, r in enumerate(read_catalogue(demo_ws_copy.catalogue_csv).to_dict("records")):
        pid = f"{r['product_id']}-probe"
        shutil.copy(demo_ws_copy.abs(r["image_path"]), folder / f"{pid}.png")
        rows.append({"id": pid, "category": r["category"], "price": r["price"], "title": probes[i % 3]})
        if str(r["is_product_shot"]) == "True":
            first_of.setdefault(i % 3, pid)
    with open(folder / "products.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    ws = ["--workspace", str(demo_ws_copy.root), "--quiet"]
    assert main(ws + ["import", "folder", str(folder), "--csv", str(folder / "products.csv")]) == 0
    assert main(ws + ["index", "--model", "triplet-category"]) == 0

    engine = make_engine(demo_ws_copy.db_url)
    init_db(engine)
    sid = create_study_from_workspace(demo_ws_copy, engine, name=PROBE_IMAGE.format(port=port),
                                      models=["triplet-category"], n=4, k=2, overlap=1, n_gold=0)
    store.add_failure_mode(engine, "probe_mode", PROBE_IMAGE.format(port=port), PROBE_STYLE.format(port=port))
    store.get_or_create_annotator(engine, PROBE_IFRAME)
    pair = store.next_pair(engine, sid, PROBE_IFRAME)
    store.submit_judgment(engine, sid, pair.pair_id, PROBE_IFRAME, False, failure_modes=["probe_mode"],
                          comment=f"{PROBE_STYLE.format(port=port)} {PROBE_IMAGE.format(port=port)}")
    engine.dispose()
    for url in _serve(demo_ws_copy):
        yield url, [first_of[k] for k in range(3)]


def _assert_nothing_ran(page, leak: tuple[int, list[str]], where: str, shots: Path) -> None:
    port, seen = leak
    page.wait_for_timeout(1500)  # time for any image, style or frame to load, were one there
    page.screenshot(path=str(shots / f"{where}.png"), full_page=True)
    for frame in page.frames:  # the page and any frame in it (a srcdoc iframe runs same-origin)
        assert frame.evaluate("typeof window.pwned") == "undefined", f"{where}: a script from data ran"
        assert "pwned" not in frame.evaluate("document.title"), f"{where}: a page title was changed"
    assert page.locator("iframe[srcdoc]").count() == 0, f"{where}: an iframe from data"
    assert page.locator("input[placeholder='Re-enter password']").count() == 0, f"{where}: a form from data"
    assert page.evaluate("[...document.querySelectorAll('style')].some(s => s.textContent.includes('rgb(1, 2, 3)'))"
                         ) is False, f"{where}: a style from data"
    assert page.evaluate("getComputedStyle(document.querySelector('h1')).color") != "rgb(1, 2, 3)"
    assert page.locator(f"img[src*=':{port}/']").count() == 0, f"{where}: an image element from data"
    assert page.locator(f"a[href*=':{port}']").count() == 0, f"{where}: a link from data"
    assert seen == [], f"{where}: the page fetched {seen} from a URL in the data"


def test_probe_titles_comments_and_names_render_as_text(probe_server, leak_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    port, _ = leak_server
    probe_server, query_ids = probe_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.goto(f"{probe_server}/complete-the-look")
            _wait_idle(page)
            _assert_nothing_ran(page, leak_server, "browse", tmp_path)  # the catalogue grid shows probe titles
            page.get_by_text("Search by id", exact=True).click()
            box = page.get_by_label(re.compile(r"^Product id \(e\.g\. "))
            for i, shown in enumerate([PROBE_IFRAME, "rgb(1, 2, 3) !important", "/leak.png) <img src="]):
                box.fill(query_ids[i])  # each probe title as the query of a look
                box.press("Enter")
                page.wait_for_selector("text=Query understanding", timeout=90_000)
                _wait_idle(page)
                _assert_nothing_ran(page, leak_server, f"complete_the_look_{i}", tmp_path)
                # the probe is on the page, as the literal text it is
                expect(page.get_by_text(shown).filter(visible=True).first).to_be_visible(timeout=30_000)

            page.goto(f"{probe_server}/label")
            _wait_idle(page)
            box = page.get_by_placeholder("e.g. Ana")
            box.fill(PROBE_IFRAME)
            box.press("Enter")
            expect(page.get_by_text("Your last judgments")).to_be_visible(timeout=60_000)
            expect(page.get_by_text("rgb(1, 2, 3)").filter(visible=True).first).to_be_visible(timeout=60_000)
            _wait_idle(page)
            _assert_nothing_ran(page, leak_server, "label", tmp_path)

            page.goto(f"{probe_server}/results")
            page.get_by_text("Precision per model").wait_for(timeout=60_000)
            _wait_idle(page)
            _assert_nothing_ran(page, leak_server, "results", tmp_path)
        finally:
            browser.close()
