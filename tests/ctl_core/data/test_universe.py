"""The demo universe: deterministic, every category drawn, slot-respecting outfits, realistic defects."""
from __future__ import annotations

import hashlib
from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from ctl_core.config import Workspace
from ctl_core.data import dataset
from ctl_core.data.categories import CATEGORIES, slots_compatible
from ctl_core.data.tables import CATALOGUE_COLUMNS, RAW_BOX_COLUMNS, read_catalogue, read_raw_boxes, write_table
from ctl_core.data.universe import (
    CLASHING_THEMES,
    DEFECT_KINDS,
    THEMES,
    Theme,
    UniverseConfig,
    generate_universe,
)
from ctl_core.data.universe.products import _price
from ctl_core.images import box_iou, load_image, product_shot_score

TINY = UniverseConfig(size=40, seed=3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Workspace, dict, list]:
    ws = Workspace.at(tmp_path_factory.mktemp("universe"))
    calls: list[tuple[str, int, int]] = []
    counts = generate_universe(ws, TINY, progress=lambda s, i, n: calls.append((s, i, n)))
    return ws, counts, calls


def _tables(ws: Workspace) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    outfits = pd.read_csv(ws.universe_dir / "outfits.csv", dtype=str, keep_default_na=False)
    return read_catalogue(ws.catalogue_csv), read_raw_boxes(ws.raw_boxes_csv), outfits


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_gives_identical_tables_and_images(tiny, tmp_path):
    ws, _, _ = tiny
    other = Workspace.at(tmp_path / "again")
    generate_universe(other, TINY)
    for rel in ("data/catalogue.csv", "data/raw_boxes.csv", "universe/outfits.csv"):
        assert (ws.root / rel).read_bytes() == (other.root / rel).read_bytes(), rel
    cat, boxes, _ = _tables(ws)
    images = list(cat["image_path"][:5]) + list(cat.loc[~cat["is_product_shot"].astype(bool), "image_path"][:2])
    images += list(boxes["image_path"].drop_duplicates()[:3])
    for rel in images:
        assert _sha(ws.abs(rel)) == _sha(other.abs(rel)), rel


def test_another_seed_gives_another_universe(tiny, tmp_path):
    ws, _, _ = tiny
    other = Workspace.at(tmp_path / "seed4")
    generate_universe(other, UniverseConfig(size=40, seed=4))
    assert ws.catalogue_csv.read_bytes() != other.catalogue_csv.read_bytes()


def test_catalogue_has_every_category_priced_and_titled(tiny):
    ws, counts, _ = tiny
    cat, _, _ = _tables(ws)
    shots = cat[cat["is_product_shot"].astype(bool)]
    per_cat = shots["category"].value_counts()
    assert set(per_cat.index) == set(CATEGORIES)
    assert per_cat.min() >= 2
    assert (cat["price"] > 0).all()
    assert cat["product_id"].is_unique and cat["product_id"].str.fullmatch(r"p\d{5}").all()
    assert (cat["source"] == "demo").all()
    assert set(cat["theme"]) <= set(THEMES) | {"basic"} and "basic" in set(cat["theme"])
    assert cat["title"].str.len().min() > 3 and cat["colour"].ne("").all()
    assert not cat["image_path"].str.startswith("/").any()
    assert counts["products"] == len(cat) and counts["scenes"] == (~cat["is_product_shot"].astype(bool)).sum()
    # Catalogue scales with size: about 0.8 products per outfit, never fewer than 3 per category.
    assert len(shots) >= 3 * len(CATEGORIES)


def test_outfits_respect_slots_and_sizes(tiny):
    ws, counts, _ = tiny
    cat, boxes, outfits = _tables(ws)
    assert boxes["outfit_id"].str.fullmatch(r"o\d{5}").all()
    assert counts["outfits"] == len(outfits) == boxes["outfit_id"].nunique() == TINY.size
    category = dict(zip(cat["product_id"], cat["category"]))
    theme_of = dict(zip(cat["product_id"], cat["theme"]))
    assert set(boxes["product_id"]) <= set(category)
    assert (boxes["label"] == boxes["product_id"].map(category)).all()
    on_theme = total = 0
    for row in outfits.itertuples():
        pids = row.product_ids.split(";")
        cats = [category[p] for p in pids]
        assert len(set(cats)) == len(cats), row.outfit_id
        assert all(slots_compatible(a, b) for a, b in combinations(cats, 2)), (row.outfit_id, cats)
        assert set(boxes.loc[boxes["outfit_id"] == row.outfit_id, "product_id"]) == set(pids)
        if row.defect in ("none", "overlap", "tiny", "duplicate"):
            assert 3 <= len(pids) <= 8, (row.outfit_id, pids)
            on_theme += sum(theme_of[p] in (row.theme, "basic") for p in pids)
            total += len(pids)
    assert on_theme / total > 0.8
    # Products are reused across outfits.
    assert boxes.drop_duplicates(["outfit_id", "product_id"])["product_id"].value_counts().max() >= 2


def test_boxes_are_normalised(tiny):
    ws, counts, _ = tiny
    _, boxes, _ = _tables(ws)
    assert counts["boxes"] == len(boxes)
    assert (boxes[["x", "y"]] >= 0).all().all()
    assert (boxes[["w", "h"]] > 0).all().all()
    assert ((boxes["x"] + boxes["w"]) <= 1 + 1e-9).all() and ((boxes["y"] + boxes["h"]) <= 1 + 1e-9).all()


def test_defects_are_present_and_labelled(tiny):
    ws, counts, _ = tiny
    cat, boxes, outfits = _tables(ws)
    assert set(counts["defects"]) == set(DEFECT_KINDS) and all(v >= 1 for v in counts["defects"].values())
    overlapping, tiny_boxes = set(), set()
    for oid, g in boxes.groupby("outfit_id"):
        rects = g[["x", "y", "w", "h"]].to_numpy()
        if any(box_iou(a, b) > 0.1 for a, b in combinations(rects, 2)):
            overlapping.add(oid)
        if (rects[:, 2] * rects[:, 3] < 0.05).any():
            tiny_boxes.add(oid)
    defect = dict(zip(outfits["outfit_id"], outfits["defect"]))
    assert {o for o in overlapping if defect[o] in ("overlap", "duplicate")}
    assert {o for o in tiny_boxes if defect[o] == "tiny"}
    # Clean outfits have neither defect, so cleanup keeps them.
    clean = {o for o, d in defect.items() if d == "none"}
    assert not (overlapping | tiny_boxes) & clean
    colour = dict(zip(cat["product_id"], cat["colour"]))
    for row in outfits.itertuples():
        colours = {colour[p] for p in row.product_ids.split(";")}
        if row.defect == "monochrome":
            assert len(colours) == 1 and int(row.n_items) >= 3
        elif row.defect == "few_categories":
            assert int(row.n_items) < 3
        else:
            assert len(colours) > 1
    # Roughly 5-15% of outfits carry each defect.
    for kind, n in counts["defects"].items():
        assert 1 <= n <= 0.2 * TINY.size, (kind, n)


def test_monochrome_defects_are_what_image_cleanup_sees(tiny):
    """Monochrome outfits look one-coloured to the dataset's image-based rule; clean outfits do not."""
    ws, _, _ = tiny
    cat, _, outfits = _tables(ws)
    path = dict(zip(cat["product_id"], cat["image_path"]))
    colour = {p: dataset.dominant_colour(load_image(ws.abs(rel))) for p, rel in path.items()}
    seen = {"monochrome": [], "none": []}
    for row in outfits.itertuples():
        if row.defect in seen:
            seen[row.defect].append(dataset.is_monochrome([colour[p] for p in row.product_ids.split(";")]))
    assert seen["monochrome"] and all(seen["monochrome"])
    assert seen["none"] and not any(seen["none"])


def test_product_shots_and_scenes_are_separable(tiny):
    ws, counts, _ = tiny
    cat, _, _ = _tables(ws)
    shot = cat["is_product_shot"].astype(bool)
    assert counts["scenes"] >= 2
    assert cat.loc[~shot, "image_path"].str.startswith("universe/scenes/").all()
    assert cat.loc[shot, "image_path"].str.startswith("universe/products/").all()
    scores = {r.product_id: product_shot_score(load_image(ws.abs(r.image_path))) for r in cat.itertuples()}
    shot_scores = np.array([scores[p] for p in cat.loc[shot, "product_id"]])
    scene_scores = np.array([scores[p] for p in cat.loc[~shot, "product_id"]])
    assert shot_scores.min() > 0.8
    assert scene_scores.max() < 0.5


def test_images_load_with_the_configured_sizes(tiny):
    ws, _, _ = tiny
    cat, boxes, _ = _tables(ws)
    for rel in cat["image_path"]:
        assert load_image(ws.abs(rel)).size == (TINY.product_px, TINY.product_px)
    for rel in boxes["image_path"].drop_duplicates():
        img = load_image(ws.abs(rel))
        assert img.size == (TINY.collage_px, TINY.collage_px)
    # A product shot is mostly light background with a coloured item in the middle.
    arr = np.asarray(load_image(ws.abs(cat["image_path"][0])), dtype=float)
    assert arr[:8].mean() > 230 and arr[60:100, 60:100].std() > 5


def test_progress_reports_both_stages(tiny):
    _, counts, calls = tiny
    stages = {s for s, _, _ in calls}
    assert stages == {"products", "collages"}
    assert ("products", counts["products"], counts["products"]) in calls
    assert ("collages", counts["outfits"], counts["outfits"]) in calls


def test_regenerating_keeps_rows_of_other_sources(tmp_path):
    ws = Workspace.at(tmp_path / "ws").ensure()
    other = pd.DataFrame([{"product_id": "f1", "category": "Shoes", "price": 10.0, "title": "x",
                           "image_path": "/elsewhere/a.jpg", "source": "folder", "is_product_shot": "",
                           "theme": "", "colour": ""}])
    write_table(other, ws.catalogue_csv, CATALOGUE_COLUMNS)
    write_table(pd.DataFrame([{"outfit_id": "t1", "image_path": "/elsewhere/c.jpg", "x": 0, "y": 0, "w": .5,
                               "h": .5, "label": "Shoes", "product_id": ""}]), ws.raw_boxes_csv, RAW_BOX_COLUMNS)
    generate_universe(ws, UniverseConfig(size=12, seed=0))
    cat, boxes = read_catalogue(ws.catalogue_csv), read_raw_boxes(ws.raw_boxes_csv)
    assert "f1" in set(cat["product_id"]) and "t1" in set(boxes["outfit_id"])
    n_demo = (cat["source"] == "demo").sum()
    generate_universe(ws, UniverseConfig(size=12, seed=0))
    cat2 = read_catalogue(ws.catalogue_csv)
    assert (cat2["source"] == "demo").sum() == n_demo and len(cat2) == len(cat)
    # The new demo rows come first, the kept rows of other sources after them.
    assert list(cat2["source"]) == ["demo"] * n_demo + ["folder"]
    assert list(read_raw_boxes(ws.raw_boxes_csv)["outfit_id"])[-1] == "t1"


def test_themes_share_colours_and_clash():
    assert len(THEMES) >= 10 and all(isinstance(t, Theme) for t in THEMES.values())
    navy = {name for name, t in THEMES.items() if "navy" in t.palette}
    assert {"nautical", "preppy", "business"} <= navy
    assert all(len(t.patterns) == len(t.pattern_weights) and 0 <= t.formality <= 1 for t in THEMES.values())
    assert len({p for t in THEMES.values() for p in t.patterns}) >= 8
    assert ("beach", "winter") in CLASHING_THEMES or ("winter", "beach") in CLASHING_THEMES
    assert THEMES["beach"].category_weight("Gloves") == 0 and THEMES["winter"].category_weight("Swimwear") == 0


def test_luxury_accessories_cost_far_more():
    rng = np.random.default_rng(0)
    lux = np.median([_price("Watches", THEMES["glam"].price_tier, rng) for _ in range(200)])
    budget = np.median([_price("Watches", THEMES["beach"].price_tier, rng) for _ in range(200)])
    socks = np.median([_price("Socks & Tights", THEMES["glam"].price_tier, rng) for _ in range(200)])
    assert lux > 10 * budget and lux > 10 * socks


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="size"):
        UniverseConfig(size=0)
    with pytest.raises(ValueError, match="scene_share"):
        UniverseConfig(scene_share=1.5)
