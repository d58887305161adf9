"""AppTest of the human-evaluation pages added for issue 21: Results (paired comparisons, verdict basis, annotator
quality), Review (the adjudication queue) and Studies (plan, query mix, flags)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from db import adjudication, store
from db.session import init_db, make_engine

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")


def frame(at: AppTest, column: str):
    """The first dataframe on the page with this column (AppTest does not expose a dataframe's key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def goto(at: AppTest, name: str) -> AppTest:
    at.switch_page(str(ROOT / "pages" / f"{name}.py"))
    at.run()
    assert not at.exception, at.exception
    return at


CATEGORIES = ("Shoes", "Dresses", "Handbags", "Pants", "Jewelry")


def light_workspace(root: Path):
    """A workspace with a 40-product catalogue of tiny images and one 'served' model (an index manifest file, so
    the Studies form is offered); no model is trained: studies are made with a stand-in recommender."""
    from PIL import Image

    from ctl_core.config import Workspace
    from ctl_core.data.tables import CATALOGUE_COLUMNS
    ws = Workspace.at(root)
    (root / "images").mkdir(parents=True)
    rows = []
    for i in range(40):
        cat = CATEGORIES[i % len(CATEGORIES)]
        Image.new("RGB", (64, 64), ((37 * i) % 255, 120, 200)).save(root / "images" / f"p{i:02d}.png")
        rows.append({"product_id": f"p{i:02d}", "category": cat, "price": 10 + i, "title": f"{cat} {i}",
                     "image_path": f"images/p{i:02d}.png", "source": "test", "is_product_shot": True,
                     "theme": "", "colour": ""})
    ws.catalogue_csv.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=CATALOGUE_COLUMNS).to_csv(ws.catalogue_csv, index=False)
    ws.manifest_path("triplet-category").parent.mkdir(parents=True, exist_ok=True)
    ws.manifest_path("triplet-category").write_text("{}")
    return ws


def stand_in(method: str, q: str, k: int) -> list[tuple[str, int]]:
    """Each model returns k products of other categories, shifted per model (so some pairs are shared)."""
    i = int(q[1:])
    shift = {"triplet-category": 1, "classification": 2}[method]
    return [(f"p{(i + shift + j) % 40:02d}", j + 1) for j in range(k)]


def make_judged_study(ws, disagree=lambda p: p.pair_id % 2 == 0) -> int:
    from db.studies import create_study
    engine = make_engine(ws.db_url)
    init_db(engine)
    sid = create_study(engine, "pages", [f"p{i:02d}" for i in range(0, 40, 3)], ["triplet-category",
                       "classification"], stand_in, k=2, overlap=2, gold_pairs=[("p00", "p06", True),
                                                                                ("p01", "p07", False)])
    for who, say in (("Ana", lambda p: True), ("Ben", disagree)):
        store.get_or_create_annotator(engine, who)
        while (p := store.next_pair(engine, sid, who)) is not None:
            yes = say(p)
            store.submit_judgment(engine, sid, p.pair_id, who, yes, [] if yes else ["colour_clash"],
                                  seconds_taken=3.0)
    engine.dispose()
    return sid


@pytest.fixture
def judged_ws(tmp_path):
    ws = light_workspace(tmp_path / "ws")
    return ws, make_judged_study(ws)


@pytest.fixture
def at(judged_ws, monkeypatch):
    ws, _ = judged_ws
    monkeypatch.setenv("CTL_WORKSPACE", str(ws.root))
    app = AppTest.from_file(MAIN, default_timeout=120)
    app.run()
    return app


def test_results_show_paired_comparisons_basis_and_quality(at):
    goto(at, "results")
    texts = [t.value for t in at.text]
    assert any(t.startswith("triplet-category vs classification: ") and "points (95% CI" in t for t in texts)
    assert frame(at, "p_value")[["diff", "ci_low", "ci_high", "p_value"]].notna().all().all()
    assert any("items judged by two annotators" in c.value and "n = " in c.value for c in at.caption)
    quality = frame(at, "ds_sensitivity").set_index("annotator")
    assert quality.loc["Ana", "median_seconds"] == 3.0 and {"ds_sensitivity", "ds_specificity"} <= set(quality)
    assert len(frame(at, "corrected_precision")) == 2
    assert any("Review queue:" in c.value for c in at.caption)
    at.radio(key="results_basis").set_value("majority").run()
    assert not at.exception
    assert any("one verdict per pair" in m.value and "ties left out" in m.value for m in at.markdown)


def test_review_page_adjudicates_a_disagreement(at, judged_ws):
    ws, sid = judged_ws
    goto(at, "review")
    at.sidebar.text_input(key="adjudicator").set_value("Maria").run()
    engine = make_engine(ws.db_url)
    first = adjudication.review_queue(engine, sid)[0]
    assert any(f"Pair {first.pair_id}:" in h.value for h in at.subheader)
    assert sum("**Ana**" in m.value or "**Ben**" in m.value for m in at.markdown) == 2  # both verdicts shown
    open_before = adjudication.queue_counts(engine, sid)["open"]
    at.button(key="adj_no").click().run()
    assert not at.exception
    assert adjudication.queue_counts(engine, sid)["open"] == open_before - 1
    hist = adjudication.adjudication_frame(engine, sid)
    assert hist["adjudicator"].tolist() == ["Maria"] and hist["pair_id"].tolist() == [first.pair_id]
    assert frame(at, "adjudicator")["pair_id"].tolist() == [first.pair_id]


def test_studies_page_plans_and_previews_the_query_mix(at):
    goto(at, "studies")
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Queries"].replace(",", "")) > 0 and metrics["Labelling time"].endswith(" h")
    q5 = int(metrics["Queries"].replace(",", ""))
    at.number_input(key="plan_diff").set_value(10.0).run()
    assert int(at.metric[0].value.replace(",", "")) < q5
    at.number_input(key="new_n").set_value(12)
    at.button(key="FormSubmitter:create_study-Preview the query mix").click().run()
    assert not at.exception
    mix = frame(at, "catalogue_products")
    # stratified: 12 of 40 products over 5 equal categories -> 2 or 3 each
    assert mix["queries"].sum() == 12 and set(mix["queries"]) <= {2, 3} and len(mix) == 5
