"""Complete the Look on a shop's own categories: a catalogue product is served, browsed and shown under the category
its catalogue.csv gives it, even where the category head predicts another; the disagreement is listed for the shop.
And the slot rule: nothing served is of a slot the query (or its outfit) already fills."""
from __future__ import annotations

import pandas as pd
import pytest

from ctl_core.data.categories import SLOTS, complementary_categories
from ctl_core.data.tables import CATALOGUE_COLUMNS, read_catalogue, write_table
from tests.app.test_pages import MAIN, AppTest, goto


@pytest.fixture
def relabelled(demo_ws_copy):
    """The tiny demo with one product's catalogue category changed to a category of another slot (as a shop's
    file might say), re-indexed; returns (workspace, product id, the shop's category, the head's prediction)."""
    from ctl_core.serving.engines.api import index_catalogue
    ws = demo_ws_copy
    preds = pd.read_csv(ws.predictions_csv("triplet-category"), dtype={"product_id": str})
    cat = read_catalogue(ws.catalogue_csv)
    present = set(cat["category"])
    row = preds.sort_values("confidence", ascending=False).iloc[0]   # the head is sure of this one
    pid, predicted = str(row["product_id"]), str(row["pred_category"])
    shop = next(c for c in sorted(present) if SLOTS[c] != SLOTS[predicted]
                and set(complementary_categories(c)) & present)
    cat.loc[cat["product_id"] == pid, "category"] = shop
    write_table(cat, ws.catalogue_csv, CATALOGUE_COLUMNS)
    for method in ws.trained_methods():                              # every index follows the new catalogue
        if ws.predictions_csv(method).exists():
            index_catalogue(ws, method)
    return ws, pid, shop, predicted


def test_a_product_is_served_and_shown_under_the_shops_category(relabelled, monkeypatch):
    from ctl_core.serving.category_source import disagreements_path
    ws, pid, shop, predicted = relabelled
    listed = pd.read_csv(disagreements_path(ws, "triplet-category"), dtype={"product_id": str})
    assert listed.set_index("product_id").loc[pid, ["category", "pred_category"]].tolist() == [shop, predicted]

    monkeypatch.setenv("CTL_WORKSPACE", str(ws.root))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    goto(at, "complete_the_look")
    at.selectbox(key="browse_category").set_value(shop).run()       # browsed under the shop's category
    at.button(key=f"pick_{pid}").click().run()
    assert not at.exception, at.exception
    rec = at.session_state["last_recommendation"]
    q = rec["query"]
    assert (q["item_id"], q["category"], q["category_source"], q["predicted_category"]) == \
        (pid, shop, "catalogue", predicted)
    assert q["complementary"] and set(q["complementary"]) <= set(complementary_categories(shop))
    assert rec["results"] and all(SLOTS[r["category"]] != SLOTS[shop] for r in rec["results"])  # slot rule
    card = " ".join(m.value for m in at.markdown)
    assert f"**Category:** {shop} (the shop's; the category head predicts {predicted}" in card
    assert "Predicted category" not in card


def test_results_never_share_a_slot_with_the_query(demo_ws, monkeypatch):
    """The slot rule on every category of the tiny demo: one query per category, through the app."""
    cat = read_catalogue(demo_ws.catalogue_csv)
    monkeypatch.setenv("CTL_WORKSPACE", str(demo_ws.root))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    goto(at, "complete_the_look")
    checked = 0
    for category in at.selectbox(key="browse_category").options:
        at.selectbox(key="browse_category").set_value(category).run()
        pick = next(b for b in at.button if b.key and b.key.startswith("pick_"))
        pick.click().run()
        assert not at.exception, at.exception
        rec = at.session_state["last_recommendation"]
        shown = [r["category"] for r in rec["results"]] + [r["category"] for rs in rec["per_category"].values()
                                                          for r in rs]
        assert all(SLOTS[c] != SLOTS[category] for c in shown), (category, shown)
        checked += bool(shown)
    assert checked >= 3 and checked <= len(set(cat["category"]))
