"""Complete the Look with a partial outfit (several query products) and the outfit model's re-ranking."""
from __future__ import annotations

import pytest

from ctl_core.data.categories import SLOTS, outfit_complements
from ctl_core.data.tables import read_catalogue
from tests.app.test_pages import _pick_first_product, goto


@pytest.fixture
def app(demo_ws, monkeypatch):
    """The app over the tiny demo workspace (whose build trains the outfit model too)."""
    from tests.app.test_pages import MAIN, AppTest
    monkeypatch.setenv("CTL_WORKSPACE", str(demo_ws.root))
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    assert not at.exception
    return at


def test_adding_a_second_product_serves_what_the_outfit_lacks(app, demo_ws):
    goto(app, "complete_the_look")
    first = _pick_first_product(app)
    cat = read_catalogue(demo_ws.catalogue_csv).drop_duplicates("product_id").set_index("product_id")["category"]
    assert app.session_state["last_recommendation"]["query"]["reranked"]  # the demo build trains the outfit model
    other = next(c for c in outfit_complements([cat[first]]) if c in set(app.selectbox(key="browse_category").options))
    app.selectbox(key="browse_category").set_value(other).run()
    add = next(b for b in app.button if b.key and b.key.startswith("add_"))
    second = add.key.removeprefix("add_")
    add.click().run()
    assert not app.exception, app.exception
    rec = app.session_state["last_recommendation"]
    assert [m["item_id"] for m in rec["query"]["outfit"]] == [first, second]
    assert rec["query"]["complementary"] == [c for c in outfit_complements([cat[first], cat[second]])
                                             if c in rec["query"]["complementary"]]
    taken = {SLOTS[cat[first]], SLOTS[cat[second]]}
    assert rec["results"] and all(SLOTS[r["category"]] not in taken for r in rec["results"])
    assert "reranking" in rec["timings_ms"]
    # removing it completes the single product again
    app.button(key=f"outfit_remove_{second}").click().run()
    assert [m["item_id"] for m in app.session_state["last_recommendation"]["query"]["outfit"]] == [first]


def test_rerank_can_be_switched_off_and_compared(app):
    goto(app, "complete_the_look")
    _pick_first_product(app)
    app.toggle(key="rerank").set_value(False).run()
    rec = app.session_state["last_recommendation"]
    assert not rec["query"]["reranked"] and "reranking" not in rec["timings_ms"]
    app.toggle(key="compare_rerank").set_value(True).run()
    assert not app.exception
    heads = [m.value for m in app.markdown]
    assert any("+ outfit re-ranking" in h for h in heads) and any(h.startswith("#### Triplet") and "re-ranking"
                                                                 not in h for h in heads)
