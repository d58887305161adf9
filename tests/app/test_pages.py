"""AppTest for every page on the tiny demo workspace: renders, recommends, labels, reports."""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from ctl_core.data.categories import complementary_categories
from ctl_core.data.tables import read_catalogue

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")


def page(name: str) -> str:
    return str(ROOT / "pages" / f"{name}.py")


@pytest.fixture
def app(demo_ws, monkeypatch):
    monkeypatch.setenv("CTL_WORKSPACE", str(demo_ws.root))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    assert not at.exception
    return at


@pytest.fixture
def fresh_app(demo_ws_copy, monkeypatch):
    """An app over a private copy of the workspace (its own SQLite file)."""
    monkeypatch.setenv("CTL_WORKSPACE", str(demo_ws_copy.root))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    return at


def goto(at: AppTest, name: str) -> AppTest:
    at.switch_page(page(name))
    at.run()
    assert not at.exception, at.exception
    return at


def test_home_shows_status(app):
    assert [m.value for m in app.metric][:3] == ["ready", "5 / 5", "5 / 5"]
    assert "CPU" in app.metric[3].value or "GPU" in app.metric[3].value


def test_home_on_empty_workspace_offers_the_build(tmp_path, monkeypatch):
    monkeypatch.setenv("CTL_WORKSPACE", str(tmp_path / "empty"))
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    assert not at.exception
    assert at.button(key="build_demo")
    assert any("nothing to serve" in i.value for i in at.info)


def test_complete_the_look_page_without_data_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("CTL_WORKSPACE", str(tmp_path / "empty"))
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    goto(at, "complete_the_look")
    assert any("python -m ctl_core demo" in w.value for w in at.warning)


def _pick_first_product(at: AppTest) -> str:
    pick = next(b for b in at.button if b.key and b.key.startswith("pick_"))
    pid = pick.key.removeprefix("pick_")
    pick.click()
    at.run()
    assert not at.exception, at.exception
    return pid


def test_choosing_a_product_shows_only_complementary_categories(app, demo_ws):
    goto(app, "complete_the_look")
    pid = _pick_first_product(app)
    rec = app.session_state["last_recommendation"]
    assert rec["query"]["item_id"] == pid
    cat = read_catalogue(demo_ws.catalogue_csv).set_index("product_id").loc[pid, "category"]
    allowed = set(complementary_categories(cat))
    assert rec["results"], "no results"
    assert {r["category"] for r in rec["results"]} <= allowed
    assert pid not in {r["item_id"] for r in rec["results"]}
    assert len(app.image) > len(rec["results"])  # query + result images are on the page


def test_model_selector_changes_the_results(app):
    goto(app, "complete_the_look")
    _pick_first_product(app)
    first = app.session_state["last_recommendation"]
    app.selectbox(key="model").set_value("classification").run()
    second = app.session_state["last_recommendation"]
    assert first["method"] == "triplet-category" and second["method"] == "classification"
    assert [r["item_id"] for r in first["results"]] != [r["item_id"] for r in second["results"]] or \
        [r["distance"] for r in first["results"]] != [r["distance"] for r in second["results"]]


def test_side_by_side_shows_several_methods(app):
    goto(app, "complete_the_look")
    _pick_first_product(app)
    app.toggle(key="compare").set_value(True).run()
    assert not app.exception
    assert any("Classification" in m.value or "Siamese" in m.value for m in app.markdown)


def test_bad_upload_shows_a_clear_error(app):
    goto(app, "complete_the_look")
    app.segmented_control(key="query_source").set_value("Upload an image").run()
    app.file_uploader(key="upload").set_value(("broken.jpg", b"this is not an image", "image/jpeg")).run()
    assert not app.exception
    assert any("not a readable image" in e.value for e in app.error)


def test_upload_of_a_product_photo_gives_recommendations(app):
    goto(app, "complete_the_look")
    app.segmented_control(key="query_source").set_value("Upload an image").run()
    img = Image.new("RGB", (120, 120), "white")
    img.paste(Image.new("RGB", (60, 80), (20, 40, 160)), (30, 20))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    app.file_uploader(key="upload").set_value(("shirt.png", buf.getvalue(), "image/png")).run()
    assert not app.exception
    rec = app.session_state["last_recommendation"]
    assert rec["query"]["item_id"] is None and rec["results"]
    assert {r["category"] for r in rec["results"]} <= set(complementary_categories(rec["query"]["category"]))


def test_models_page_shows_the_table_and_curves(app, demo_ws):
    goto(app, "models")
    table = app.dataframe[0].value
    assert table["method"].tolist()[:2] == ["random", "visual"]
    # percent, like the README and the CLI: the stored fraction × 100
    stored = pd.read_csv(demo_ws.eval_table_csv).set_index("method")
    row = table.set_index("method").loc["triplet-category"]
    assert row["FITB"] == f"{100 * stored.loc['triplet-category', 'FITB']:.1f}"
    assert row["n_FITB"] == str(stored.loc["triplet-category", "n_FITB"])  # counts stay counts
    paper = table[table["method"].str.startswith("paper: triplet-category")]
    assert len(paper) == 1 and paper["FITB"].iloc[0] == "78.5"
    baselines = table.set_index("method").loc[["random", "visual"], "category_acc"]
    assert baselines.tolist() == ["–", "–"]  # no category head: a dash, not "None"
    assert not table.isin(["None", "nan"]).any().any()
    charts = app.get("arrow_vega_lite_chart") + app.get("vega_lite_chart")
    assert '"ci_low"' in " ".join(c.proto.spec for c in charts)  # FITB bars carry their 95% intervals
    app.selectbox(key="run").set_value("triplet-category").run()
    assert not app.exception
    assert any("Triplets still inside the margin" in m.value for m in app.markdown)  # what shows learning


def test_side_by_side_with_one_served_method_says_why(demo_ws_copy, monkeypatch):
    for m in ("classification", "siamese-16to1", "siamese-1to1", "triplet-random"):
        demo_ws_copy.manifest_path(m).unlink()
    monkeypatch.setenv("CTL_WORKSPACE", str(demo_ws_copy.root))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    goto(at, "complete_the_look")
    _pick_first_product(at)
    at.toggle(key="compare").set_value(True).run()
    assert not at.exception
    assert any("needs a second trained method" in i.value and "ctl_core train --method" in i.value
               for i in at.info)
    assert at.session_state["last_recommendation"]["results"]  # the one method still answers


def test_the_result_area_is_one_element_after_the_inputs(app):
    """Point 5 of issue 19: everything a query shows sits in one placeholder after the inputs, so a new query
    replaces the previous one's images as a whole (a progress bar in between), never captions over stale images."""
    goto(app, "complete_the_look")
    _pick_first_product(app)
    main = app.main.children
    area = [getattr(e, "value", None) for e in main[max(main)]]  # the last element of the page's main column
    assert "Query understanding" in area and any(str(v).startswith("Completes the look") for v in area)
    assert not any(e.type == "progress" for e in app.main)  # the progress bar is replaced by the results


def test_study_label_and_results_flow(fresh_app):
    at = goto(fresh_app, "studies")
    at.text_input(key="new_name").set_value("pilot")
    at.number_input(key="new_n").set_value(6)
    at.number_input(key="new_k").set_value(2)
    at.button(key="FormSubmitter:create_study-Create study").click()
    at.run()
    assert not at.exception, at.exception
    assert any("Created study 'pilot'" in s.value for s in at.success)

    goto(at, "label")
    assert any("Sign in" in i.value for i in at.info)
    at.text_input(key="annotator").set_value("Ana").run()
    at.button(key="judge_yes").click().run()
    assert not at.exception
    at.pills(key=next(p.key for p in at.pills)).set_value(["colour_clash"]).run()
    at.button(key="judge_no").click().run()
    assert not at.exception
    recent = [m.value for m in at.markdown if "Compatible" in m.value or "Not compatible" in m.value]
    assert any("Not compatible** — Colour clash" in r for r in recent)  # the failure mode's label, not its code

    # the last judgment is editable: Edit, then judge again, and it is updated, not duplicated
    edit = next(b for b in at.button if b.key and b.key.startswith("edit_"))
    edit.click().run()
    assert any("Editing your earlier judgment: **Not compatible** — Colour clash" in i.value for i in at.info)
    assert at.button(key="judge_no").proto.type == "primary"  # the earlier verdict is the highlighted one
    assert at.button(key="judge_yes").proto.type == "secondary"
    at.button(key="judge_yes").click().run()
    recent = [m.value for m in at.markdown if ": **" in m.value]
    assert len(recent) == 2 and all(r.endswith("**Compatible**") for r in recent)

    goto(at, "results")
    for _ in range(12):  # gold pairs (hidden among the others) are not in precision: judge on until one counts
        if not any("No judgments yet" in i.value for i in at.info):
            break
        goto(at, "label").text_input(key="annotator").set_value("Ana").run()
        at.button(key="judge_yes").click().run()
        goto(at, "results")
    table = at.dataframe[0].value
    assert table["judged"].sum() >= 1
    assert set(table.columns) >= {"model", "precision", "ci_low", "ci_high"}
    assert "Colour clash" in at.selectbox(key="c_mode").options  # failure modes by their labels, not codes


def test_failure_modes_are_editable_from_the_studies_page(fresh_app):
    at = goto(fresh_app, "studies")
    at.text_input(key="mode_code").set_value("fit_issue")
    at.text_input(key="mode_label").set_value("Fit or silhouette clash")
    at.button(key="FormSubmitter:add_mode-Add or re-activate").click().run()
    assert not at.exception and not at.error
    codes = at.selectbox(key="mode_drop").options
    assert "fit_issue" in codes
    at.text_input(key="mode_code").set_value("Bad Code!")
    at.text_input(key="mode_label").set_value("x")
    at.button(key="FormSubmitter:add_mode-Add or re-activate").click().run()
    assert any("must be 1–50 characters" in e.value for e in at.error)
    at.selectbox(key="mode_drop").set_value("fit_issue")
    at.button(key="mode_deactivate").click().run()
    assert "fit_issue" not in at.selectbox(key="mode_drop").options


def test_shop_a_scene_with_the_scene_based_model(demo_ws_copy, monkeypatch):
    from ctl_core.scene import SceneConfig, train_scene_model
    train_scene_model(demo_ws_copy, SceneConfig(backbone="tiny-cnn", epochs=2, max_train_scenes=60))
    monkeypatch.setenv("CTL_WORKSPACE", str(demo_ws_copy.root))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    goto(at, "shop_a_scene")
    assert not at.warning
    at.file_uploader(key="scene_upload").set_value(("x.jpg", b"\x00garbage", "image/jpeg")).run()
    assert any("cannot be used" in e.value for e in at.error)
    collage = sorted((demo_ws_copy.universe_dir / "collages").glob("*.jpg"))[0]
    at.file_uploader(key="scene_upload").set_value((collage.name, collage.read_bytes(), "image/jpeg")).run()
    assert not at.exception and not at.error
    found = at.session_state["last_scene_recommendation"]
    assert found["per_category"] and all(rows for rows in found["per_category"].values())
    assert len(at.image) >= 1 + sum(len(r) for r in list(found["per_category"].values())[:4])


def test_shop_a_scene_says_how_to_train_without_a_scene_model(app):
    goto(app, "shop_a_scene")
    assert not app.exception
    assert any("scene train" in w.value for w in app.warning)
    goto(app, "complete_the_look")  # the scene mode is its own page now, not a query source here
    assert "Shop a scene" not in app.segmented_control(key="query_source").options
