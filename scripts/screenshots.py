"""Screenshots of the app for the README: starts `streamlit run` on 127.0.0.1 over the current workspace and drives
Debian's Chromium with Playwright.  Usage: .venv/bin/python scripts/screenshots.py [OUT_DIR]

It creates a study and records ten judgments each as annotators "Ben" and "Ana" in the workspace's database (to
show the human-evaluation pages): run it on a demo workspace, or set CTL_WORKSPACE to a copy."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def serve(env: dict | None = None, wait_s: float = 60) -> Iterator[str]:
    """``streamlit run`` of the app on a free 127.0.0.1 port over the current workspace (``env``: the whole
    environment instead, e.g. another CTL_DB_URL); waits up to ``wait_s`` for it to answer; yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app/main.py"), "--server.headless",
                             "true", "--server.address", "127.0.0.1", "--server.port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(int(wait_s * 2)):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with serve() as url:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=os.environ.get("CTL_CHROMIUM", "/usr/bin/chromium"), args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1700})

            def idle():
                page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=120_000)
                page.wait_for_timeout(800)

            page.goto(url)
            idle()
            page.screenshot(path=str(out / "home.png"))
            page.goto(f"{url}/complete-the-look")
            idle()
            page.get_by_role("combobox").nth(1).click()
            page.get_by_role("option", name="Dresses").click()
            idle()
            page.get_by_role("button", name="Complete this look").nth(2).click()
            page.wait_for_selector("text=Query understanding")
            idle()
            page.screenshot(path=str(out / "complete_the_look.png"))
            page.goto(f"{url}/models")
            idle()
            page.screenshot(path=str(out / "models.png"))
            # Human evaluation: create a study (form defaults), label a few pairs as one annotator, see the results.
            page.goto(f"{url}/studies")
            idle()
            page.get_by_role("button", name="Create study").click()
            page.wait_for_selector("text=Created study", timeout=300_000)
            idle()
            page.screenshot(path=str(out / "studies.png"))
            # Two stylists: each labels the same first pairs (pairs are filled to their overlap first).
            for name, keys in (("Ben", "ynnyynynyy"), ("Ana", "ynyyynnnyy")):
                page.goto(f"{url}/label")
                idle()
                box = page.get_by_placeholder("e.g. Ana")
                box.fill(name)
                box.press("Enter")
                page.get_by_text("You: 0 /").wait_for(timeout=60_000)
                idle()  # the sign-in rerun has rendered
                page.locator("h1").first.click()  # focus out of the name box, then judge with the shortcuts
                for i, key in enumerate(keys):
                    if key == "n":  # name a failure mode before "not compatible"
                        page.get_by_role("button", name="Colour clash" if i % 2 else "Style mismatch").click()
                        idle()
                        page.locator("h1").first.click()
                    page.keyboard.press(key)
                    page.get_by_text(f"You: {i + 1} /").wait_for(timeout=60_000)
                    idle()
            page.set_viewport_size({"width": 1366, "height": 768})  # a stylist's laptop: images and buttons fit
            idle()
            page.screenshot(path=str(out / "label.png"))
            page.set_viewport_size({"width": 1400, "height": 1700})
            page.goto(f"{url}/results")
            idle()
            page.screenshot(path=str(out / "results.png"))
            browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
