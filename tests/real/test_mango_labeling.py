"""Human evaluation on real products (issue 11, item 8): a study on a small Mango workspace shows the shop's own
product photos to a stylist, who labels a few pairs in the browser.

The workspace is built here, under tmp_path, from a 300-outfit slice of ../shared/real/mango (its images copied into
the slice folder, since an import reads nothing outside the folder it is given), with tiny settings: the random
tiny-cnn backbone, one method, two epochs. Nothing is copied into the repository.
"""
from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest

from tests.app.test_browser import CHROMIUM, CHROMIUM_ARGS, _serve, _sign_in, _wait_idle

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "real" / "mango"
SLICE_OUTFITS = 300
METHOD = "triplet-category"

pytestmark = [
    pytest.mark.real_data, pytest.mark.browser, pytest.mark.slow,
    pytest.mark.skipif(not (REAL / "datathon" / "dataset" / "outfit_data.csv").is_file(),
                       reason=f"real Mango data not found at {REAL} (../shared/real/mango; absent on a fresh clone)"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"Chromium not found at {CHROMIUM} (make test installs Debian's chromium)"),
]


def mango_slice(dst: Path, n_outfits: int = SLICE_OUTFITS) -> Path:
    """The first ``n_outfits`` outfits of the datathon in its own layout under ``dst``: both CSVs cut to them and
    their products, and those products' images copied (the import refuses paths that lead out of its folder)."""
    src = REAL / "datathon" / "dataset"
    with open(src / "outfit_data.csv", newline="", encoding="utf-8") as f:
        outfit_rows = list(csv.DictReader(f))
    keep = sorted({r["cod_outfit"] for r in outfit_rows}, key=int)[:n_outfits]
    outfit_rows = [r for r in outfit_rows if r["cod_outfit"] in set(keep)]
    wanted = {r["cod_modelo_color"] for r in outfit_rows}
    with open(src / "product_data.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames
        product_rows = [r for r in reader if r["cod_modelo_color"] in wanted]
    (dst / "datathon" / "dataset").mkdir(parents=True)
    for name, rows, cols in (("outfit_data.csv", outfit_rows, ["cod_outfit", "cod_modelo_color"]),
                             ("product_data.csv", product_rows, fields)):
        with open(dst / "datathon" / "dataset" / name, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=cols, quoting=csv.QUOTE_ALL)
            w.writeheader()
            w.writerows(rows)
    for r in product_rows:
        image = REAL / r["des_filename"]
        if image.is_file():
            target = dst / r["des_filename"]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image, target)
    return dst


@pytest.fixture(scope="module")
def mango_ws(tmp_path_factory):
    """A small built Mango workspace with two accounts and a study of real product photos."""
    from ctl_core.cli import main
    from ctl_core.config import Workspace
    from db.accounts import AccountsConfig, add_account
    from db.session import init_db, make_engine

    root = tmp_path_factory.mktemp("mango_study")
    folder = mango_slice(root / "mango")
    ws = Workspace.at(root / "ws")
    args = ["--workspace", str(ws.root), "--quiet"]
    assert main(args + ["import", "outfits", str(folder)]) == 0
    assert main(args + ["dataset"]) == 0
    assert main(args + ["train", "--method", METHOD, "--backbone", "tiny-cnn", "--epochs", "2"]) == 0
    assert main(args + ["index", "--model", METHOD]) == 0
    engine = make_engine(ws.db_url)
    init_db(engine)
    fast = AccountsConfig(time_cost=1, memory_cost_kib=8, parallelism=1)
    add_account(engine, "Ana", "stylist", "ana password", config=fast)
    engine.dispose()
    assert main(args + ["study", "create", "--name", "mango real products", "--models", METHOD, "--n", "4",
                        "--k", "2", "--overlap", "1", "--gold", "0"]) == 0
    return ws


def test_study_on_mango_shows_real_product_photos(mango_ws):
    """Every pair of the study is a Mango product with its own photo (the datathon's 239x334 product shots)."""
    from PIL import Image

    from ctl_core.data.tables import read_catalogue
    from db.session import make_engine
    from db.studies import list_studies, study_pairs

    engine = make_engine(mango_ws.db_url)
    study = list_studies(engine)[0]
    pairs = study_pairs(engine, study.study_id)
    engine.dispose()
    catalogue = read_catalogue(mango_ws.catalogue_csv).set_index("product_id")
    shown = set(pairs["query_product_id"]) | set(pairs["candidate_product_id"])
    assert len(pairs) >= 4 and shown <= set(catalogue.index)
    assert set(catalogue.loc[sorted(shown), "source"]) == {"outfits"}
    for pid in sorted(shown):
        path = mango_ws.abs(catalogue.at[pid, "image_path"])
        assert "datathon/images" in path.as_posix()
        with Image.open(path) as im:
            assert im.size == (239, 334), f"{pid}: {im.size} is not a datathon product shot"


def test_a_stylist_labels_real_mango_pairs_in_the_browser(mango_ws, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from db.session import make_engine
    from db.stats import judgment_frame
    from db.studies import list_studies

    labelled = 3
    for url in _serve(mango_ws):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_context(viewport={"width": 1300, "height": 1400}).new_page()
                _sign_in(page, url, "Ana", "ana password")
                expect(page.get_by_text("Signed in: Ana (stylist)")).to_be_visible(timeout=60_000)
                _wait_idle(page)
                page.locator("[data-testid='stSidebarNav']").get_by_text("Label pairs").click()
                expect(page.get_by_text("Labelling as Ana")).to_be_visible(timeout=60_000)
                expect(page.get_by_role("button", name=re.compile(r"^Compatible"))).to_be_visible(timeout=60_000)
                _wait_idle(page)
                for i in range(labelled):
                    photos = page.locator("[data-testid='stImage'] img")
                    expect(photos.nth(1)).to_be_visible(timeout=60_000)
                    page.wait_for_function("() => [...document.querySelectorAll(\"[data-testid='stImage'] img\")]"
                                           ".slice(0, 2).every(im => im.complete && im.naturalWidth > 0)",
                                           timeout=60_000)
                    sizes = photos.evaluate_all("ims => ims.slice(0, 2).map(im => [im.naturalWidth, im.naturalHeight])")
                    for w, h in sizes:  # the shop's portrait product shots (239x334), not demo drawings
                        assert abs(h / w - 334 / 239) < 0.02, f"pair {i}: an image of {w}x{h} is not a Mango photo"
                    if i == 0:
                        page.screenshot(path=str(tmp_path / "label_mango.png"), full_page=True)
                    page.locator("h1").first.click()
                    page.keyboard.press("yny"[i])
                    expect(page.get_by_text(f"You: {i + 1} /")).to_be_visible(timeout=60_000)
                    _wait_idle(page)
            finally:
                browser.close()

    engine = make_engine(mango_ws.db_url)
    judged = judgment_frame(engine, list_studies(engine)[0].study_id)
    engine.dispose()
    assert len(judged) == labelled and set(judged["annotator"]) == {"Ana"}
    assert judged["compatible"].tolist() == [True, False, True]
