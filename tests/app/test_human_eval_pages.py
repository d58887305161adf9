"""AppTest of the human-evaluation pages added for issue 21: Results (paired comparisons, verdict basis, annotator
quality), Review (the adjudication queue) and Studies (plan, query mix, flags)."""
from __future__ import annotations

from pathlib import Path

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


@pytest.fixture
def judged_ws(demo_ws_copy):
    """A study of two models on the demo copy, every pair judged by Ana (yes) and Ben (yes to even pair ids)."""
    from ctl_core.workflows.study import create_study_from_workspace
    engine = make_engine(demo_ws_copy.db_url)
    init_db(engine)
    sid = create_study_from_workspace(demo_ws_copy, engine, name="pages", models=["triplet-category",
                                      "classification"], n=6, k=2, overlap=2, n_gold=2)
    for who, say in (("Ana", lambda p: True), ("Ben", lambda p: p.pair_id % 2 == 0)):
        store.get_or_create_annotator(engine, who)
        while (p := store.next_pair(engine, sid, who)) is not None:
            yes = say(p)
            store.submit_judgment(engine, sid, p.pair_id, who, yes, [] if yes else ["colour_clash"],
                                  seconds_taken=3.0)
    engine.dispose()
    return demo_ws_copy, sid


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
    at.number_input(key="new_n").set_value(8)
    at.button(key="FormSubmitter:create_study-Preview the query mix").click().run()
    assert not at.exception
    mix = frame(at, "catalogue_products")
    assert mix["queries"].sum() == 8 and (mix["queries"] <= mix["catalogue_products"]).all()
