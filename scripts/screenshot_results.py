"""The README's screenshot of the Results page with paired comparisons (docs/screenshots/results_paired.png).

Usage: .venv/bin/python scripts/screenshot_results.py [OUT_PNG]

Over the workspace's catalogue (``CTL_WORKSPACE`` or ./workspace; only catalogue.csv and its images are read) it
makes a study in a throw-away database (``CTL_DB_URL`` pointed at a temporary SQLite file; the workspace's own
database is not touched): 40 queries, three models whose candidates are drawn from the catalogue, two simulated
stylists (the simulation's annotator model: sensitivity 0.90/0.80, specificity 0.85/0.90) judging every pair with
true precisions 47.7 / 50.6 / 55.0% (the paper's Table 7), then serves the app and photographs Results."""
from __future__ import annotations

import os
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from screenshots import ARGS, serve  # noqa: E402  (the script beside this one: its folder is on sys.path when run)

from ctl_core.config import Workspace  # noqa: E402
from ctl_core.data.tables import read_catalogue  # noqa: E402
from db import store  # noqa: E402
from db.session import init_db, make_engine  # noqa: E402
from db.studies import create_study  # noqa: E402

MODELS = {"siamese-1to1": 0.477, "classification": 0.506, "triplet-category": 0.550}
RATES = {"Ana": (0.90, 0.85), "Ben": (0.80, 0.90)}


def make_study(ws: Workspace, url: str) -> None:
    rng = random.Random(0)
    cat = read_catalogue(ws.catalogue_csv)
    cat = cat[cat["is_product_shot"].astype(str) == "True"]
    ids = cat["product_id"].astype(str).tolist()
    category = dict(zip(ids, cat["category"].astype(str)))
    queries = rng.sample(ids, 40)
    truth: dict[tuple[str, str], bool] = {}
    query_effect = {q: rng.gauss(0, 0.15) for q in queries}

    def recommend(method: str, q: str, k: int) -> list[tuple[str, int]]:
        r = random.Random(f"{method}:{q}")
        pool = [c for c in ids if category[c] != category[q]]
        out = []
        for rank, c in enumerate(r.sample(pool, k), 1):
            p = min(max(MODELS[method] + query_effect[q], 0.02), 0.98)
            truth.setdefault((q, c), r.random() < p)
            out.append((c, rank))
        return out

    engine = make_engine(url)
    init_db(engine)
    sid = create_study(engine, "paper models (simulated stylists)", queries, list(MODELS), recommend, k=5,
                       overlap=2, seed=0)
    for who, (se, sp) in RATES.items():
        store.get_or_create_annotator(engine, who)
        while (p := store.next_pair(engine, sid, who)) is not None:
            t = truth[(p.query_product_id, p.candidate_product_id)]
            yes = rng.random() < (se if t else 1 - sp)
            store.submit_judgment(engine, sid, p.pair_id, who, yes, [] if yes else [rng.choice(
                ["colour_clash", "style_mismatch", "formality_mismatch", "season_mismatch"])],
                seconds_taken=round(rng.uniform(5, 16), 1))
    engine.dispose()


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    ws = Workspace.at(os.environ.get("CTL_WORKSPACE", ROOT / "workspace"))
    tmp = Path(tempfile.mkdtemp(prefix="ctl-results-shot-"))
    url = f"sqlite:///{tmp / 'ctl.sqlite'}"
    make_study(ws, url)
    with serve(env={**os.environ, "CTL_WORKSPACE": str(ws.root), "CTL_DB_URL": url}, wait_s=120) as base:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=os.environ.get("CTL_CHROMIUM", "/usr/bin/chromium"),
                                        args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            page.goto(f"{base}/results")
            page.get_by_text("Paired comparisons").first.wait_for(timeout=300_000)
            page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=300_000)
            page.wait_for_timeout(2500)
            page.get_by_text("Precision per model").first.scroll_into_view_if_needed()
            top = page.get_by_text("Precision per model").first.bounding_box()["y"]
            end = page.get_by_text("Precision per candidate category").first.bounding_box()["y"]
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True,
                            clip={"x": 0, "y": max(top - 20, 0), "width": 1400, "height": end - top + 10})
            browser.close()
    print(f"written: {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots" / "results_paired.png")
