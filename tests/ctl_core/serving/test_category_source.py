"""The shop's own category and product-shot flag decide where a catalogue product is indexed and whether it is
served."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ctl_core.bench.slots import check_slots
from ctl_core.data.categories import SLOTS
from ctl_core.data.tables import CATALOGUE_COLUMNS, read_catalogue, write_table
from ctl_core.serving.catalogue import infer_catalogue, load_catalogue_inference
from ctl_core.serving.category_source import disagreements, disagreements_path, serving_categories
from ctl_core.serving.engines import index_catalogue
from ctl_core.serving.index import CategoryIndices, build_indices
from ctl_core.serving.product_shot import import_flag, served_as_product_shot
from ctl_core.serving.recommender import BlendConfig, Recommender
from tests.ctl_core.serving.serving_fixtures import fake_adapter, make_workspace

METHOD = "triplet-category"


def _relabel(ws, changes: dict[str, dict]) -> None:
    cat = read_catalogue(ws.catalogue_csv).astype({"is_product_shot": object})
    for pid, values in changes.items():
        for col, v in values.items():
            cat.loc[cat["product_id"] == pid, col] = v
    write_table(cat, ws.catalogue_csv, CATALOGUE_COLUMNS)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A catalogue where the shop calls a shoe-coloured product a hat (the fake head says Shoes), a blank white
    product the shop calls a product shot, an unflagged blank one, and a flagged-off product shot."""
    ws = make_workspace(tmp_path_factory.mktemp("ws"), per_category=3, n_scenes=2)
    white = ws.universe_dir / "products" / "p01-2.png"  # a Handbags product: white on white, scores 0
    Image.new("RGB", (32, 32), (250, 250, 250)).save(white)
    _relabel(ws, {"p00-0": {"category": "Hats", "title": "=Brick red beanie"},
                  "p01-1": {"is_product_shot": ""},
                  "p03-1": {"is_product_shot": "False"}})
    unflagged = ws.universe_dir / "products" / "p01-1.png"
    Image.new("RGB", (32, 32), (250, 250, 250)).save(unflagged)
    adapter, _ = fake_adapter()
    infer_catalogue(ws, METHOD, adapter=adapter)
    manifest = build_indices(ws, METHOD)
    return ws, adapter, manifest


def test_catalogue_product_is_indexed_under_the_shops_category(shop):
    ws, _, manifest = shop
    idx = CategoryIndices.load_dir(ws.index_dir(METHOD))
    preds, _, _ = load_catalogue_inference(ws, METHOD)
    row = preds[preds["product_id"] == "p00-0"].iloc[0]
    assert row["pred_category"] == "Shoes" and row["category"] == "Hats"  # the head disagrees with the shop
    assert "p00-0" in set(idx.ids["Hats"]) and "p00-0" not in set(idx.ids["Shoes"])
    listed = disagreements(preds)  # also the noise scenes and the blank whites, which the fake head cannot read
    assert "p00-0" in set(listed["product_id"]) and manifest["category_disagreements"] == len(listed)
    assert manifest["category_source"]["predicted"] == 0


def test_catalogue_product_is_shown_under_its_own_category(shop):
    ws, adapter, _ = shop
    rec = Recommender(ws, METHOD, adapter=adapter)
    out = rec.recommend(item_id="p05-0", k=40, blend=BlendConfig(dedupe=False))
    shown = {r.item_id: r.category for lst in out.per_category.values() for r in lst}
    assert shown.get("p00-0") == "Hats"  # a Dresses query is completed by the beanie, in the Hats row
    q = rec.recommend(item_id="p00-0", k=20).query  # the beanie as a query: completes a hat, never with hats
    assert q.category == "Hats" and q.category_source == "catalogue" and q.predicted_category == "Shoes"
    assert all(SLOTS[c] != SLOTS["Hats"] for c in q.complementary)


def test_import_flag_decides_what_is_served(shop):
    ws, adapter, manifest = shop
    idx = CategoryIndices.load_dir(ws.index_dir(METHOD))
    served = {i for c in idx.categories for i in idx.ids[c]}
    preds, _, _ = load_catalogue_inference(ws, METHOD)
    score = dict(zip(preds["product_id"], preds["product_shot_score"]))
    assert score["p01-2"] < 0.5 and "p01-2" in served  # the shop says product shot: served despite the score
    assert score["p01-1"] < 0.5 and "p01-1" not in served  # no flag: the score decides
    assert score["p03-1"] > 0.5 and "p03-1" not in served  # the shop says not a product shot
    assert not any(i.startswith("scene-") for i in served)
    assert manifest["served_by_import_flag"] == 1 and manifest["refused_by_import_flag"] == 1
    rec = Recommender(ws, METHOD, adapter=adapter)
    q = rec.recommend(item_id="p01-2", k=5).query  # no "product-shot check failed" on a flagged product shot
    assert q.is_product_shot and q.warning is None
    q = rec.recommend(item_id="p03-1", k=5).query
    assert not q.is_product_shot and "not a product shot" in q.warning


def test_disagreement_list_is_written_by_the_index_step(shop, tmp_path, monkeypatch):
    ws, adapter, _ = shop
    from ctl_core.serving.engines import api
    monkeypatch.setattr(api.catalogue, "infer_catalogue", lambda ws, m, **kw: infer_catalogue(ws, m, adapter=adapter))
    index_catalogue(ws, METHOD, "local")
    table = pd.read_csv(disagreements_path(ws, METHOD), dtype=str, keep_default_na=False)
    assert list(table.columns) == ["product_id", "category", "pred_category", "confidence", "title"]
    row = table[table["product_id"] == "p00-0"].iloc[0]
    assert (row["category"], row["pred_category"]) == ("Hats", "Shoes")
    assert row["title"] == "'=Brick red beanie"  # formula-safe: shops open it in a spreadsheet


def test_serving_categories_fall_back_to_the_prediction():
    preds = pd.DataFrame({"product_id": ["a", "b", "c"], "category": ["Hats", "", "Pants"],
                          "pred_category": ["Shoes", "Skirts", "Pants"], "confidence": [0.9, 0.8, 0.7]})
    assert serving_categories(preds).tolist() == ["Hats", "Skirts", "Pants"]
    assert disagreements(preds)["product_id"].tolist() == ["a"]


def test_served_as_product_shot_truth_table():
    flags = [import_flag(v) for v in ("True", "false", "", "nan", "1")]
    assert flags == [True, False, None, None, True]
    got = served_as_product_shot(np.array([0.1, 0.9, 0.9, 0.1, 0.0]), flags, 0.5)
    assert got.tolist() == [True, False, True, False, True]


def test_no_list_holds_a_product_of_the_querys_own_slot(shop):
    ws, adapter, _ = shop
    report = check_slots(ws, METHOD, recommender=Recommender(ws, METHOD, adapter=adapter), k=10)
    assert report.queries == 21 * 3 + 2 and report.lists > report.queries and report.results > 0
    assert report.same_slot == 0 and report.incompatible == 0, report.examples
    assert report.wrong_slot_predicted >= 1 and "hat -> footwear" in report.wrong_slot_by_pair


def test_build_and_index_say_how_many_products_the_head_disagrees_on(shop):
    ws, _, manifest = shop
    from ctl_core.serving.category_source import summary_line
    line = summary_line(ws, METHOD, manifest)
    assert f"disagrees with the shop on {manifest['category_disagreements']}" in line
    assert "category_disagreements.csv" in line and "1 served on the import's word" in line
