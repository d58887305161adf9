"""Dataset cleanup rules, split and report, on hand-made raw boxes over tiny PIL collages."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from PIL import Image, ImageDraw

from ctl_core.config import Workspace
from ctl_core.data.dataset import (
    CleanupConfig,
    box_iou,
    build_dataset,
    dominant_colour,
    fitb_questions,
    is_monochrome,
    nms,
    split_outfits,
)
from ctl_core.data.tables import CATALOGUE_COLUMNS, RAW_BOX_COLUMNS, read_items, write_table

PALETTE = [(200, 30, 30), (30, 60, 200), (40, 160, 60), (230, 200, 40), (120, 40, 150), (240, 130, 20),
           (20, 20, 20), (120, 80, 40), (0, 170, 170)]
# Four non-overlapping boxes, each 40% x 40% of the collage (16% of its area).
GRID = [(0.05, 0.05, 0.4, 0.4), (0.55, 0.05, 0.4, 0.4), (0.05, 0.55, 0.4, 0.4), (0.55, 0.55, 0.4, 0.4)]
LABELS = ["Shirts & Tops", "Pants", "Shoes", "Handbags", "Hats", "Jewelry", "Watches", "Belts", "Sunglasses"]


def make_collage(path, boxes, colours, size=(200, 160)):
    img = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(img)
    W, H = size
    for (x, y, w, h), c in zip(boxes, colours):
        x0, y0 = max(0, x) * W + 2, max(0, y) * H + 2
        x1, y1 = min(1, x + w) * W - 2, min(1, y + h) * H - 2
        if x1 > x0 and y1 > y0:
            d.rectangle([x0, y0, x1, y1], fill=c)
    img.save(path)


def make_ws(tmp_path, outfits: dict[str, list[tuple]], size=(200, 160)) -> Workspace:
    """``outfits``: outfit_id -> [(box, label, colour)]; one PNG collage per outfit."""
    ws = Workspace.at(tmp_path / "ws").ensure()
    (ws.root / "collages").mkdir()
    rows = []
    for oid, boxes in outfits.items():
        rel = f"collages/{oid}.png"
        make_collage(ws.root / rel, [b[0] for b in boxes], [b[2] for b in boxes], size)
        for box, label, _ in boxes:
            rows.append({"outfit_id": oid, "image_path": rel, "x": box[0], "y": box[1], "w": box[2], "h": box[3],
                         "label": label, "product_id": ""})
    write_table(pd.DataFrame(rows, columns=RAW_BOX_COLUMNS), ws.raw_boxes_csv, RAW_BOX_COLUMNS)
    return ws


def good(n=4, offset=0):
    return [(GRID[i], LABELS[(i + offset) % len(LABELS)], PALETTE[(i + offset) % len(PALETTE)]) for i in range(n)]


def test_box_iou_hand_computed():
    assert box_iou((0, 0, 2, 2), (1, 1, 2, 2)) == pytest.approx(1 / 7)
    assert box_iou((0, 0, 1, 1), (0, 0, 1, 1)) == 1.0
    assert box_iou((0, 0, 1, 1), (2, 2, 1, 1)) == 0.0
    assert box_iou((0, 0, 1, 1), (1, 0, 1, 1)) == 0.0   # touching edges


def test_nms_keeps_larger_box_and_respects_threshold():
    boxes = [(0, 0, 1, 1), (0, 0, 2, 2), (5, 5, 1, 1)]   # IoU(0, 1) = 0.25
    assert nms(boxes, 0.1) == [1, 2]
    assert nms(boxes, 0.3) == [0, 1, 2]
    assert nms([(0, 0, 1, 1), (0, 0, 1, 1)], 0.1) == [0]   # equal size: the first one


def test_rule1_outside_boxes_clipped_or_dropped(tmp_path):
    boxes = good(4) + [((1.2, 0.1, 0.3, 0.3), "Hats", (0, 0, 0)),          # entirely right of the image
                       ((0.1, 0.1, -0.2, 0.3), "Hats", (0, 0, 0))]         # negative width
    boxes[3] = ((0.55, 0.55, 0.6, 0.6), "Handbags", PALETTE[3])             # sticks out: clipped
    ws = make_ws(tmp_path, {"o1": boxes})
    rep = build_dataset(ws, CleanupConfig(test_fraction=0.0))
    r = rep.rule("outside_image")
    assert (r.boxes_removed, r.extra["clipped"], r.outfits_removed) == (2, 1, 0)
    items = read_items(ws.items_csv)
    assert len(items) == 4
    bag = items[items["category"] == "Handbags"].iloc[0]
    # clipped to 0.55..1.0 of a 200x160 image
    assert (bag["box_x"], bag["box_y"], bag["box_w"], bag["box_h"]) == (110, 88, 90, 72)


def test_rule2_nms_within_one_collage_only(tmp_path):
    big = ((0.05, 0.05, 0.4, 0.4), "Shirts & Tops", PALETTE[0])
    small_overlap = ((0.1, 0.1, 0.3, 0.3), "Sweaters", PALETTE[5])   # IoU 0.5625 with big
    ws = make_ws(tmp_path, {"o1": [big, small_overlap] + good(4)[1:], "o2": good(4, offset=1)})
    rep = build_dataset(ws, CleanupConfig(test_fraction=0.0))
    assert rep.rule("nms").boxes_removed == 1
    items = read_items(ws.items_csv)
    o1 = items[items["outfit_id"] == "o1"]
    assert "Sweaters" not in set(o1["category"]) and "Shirts & Tops" in set(o1["category"])
    assert o1["item_id"].tolist() == ["o1-0", "o1-2", "o1-3", "o1-4"]   # ids count raw rows, before cleanup


def test_rule2_same_boxes_in_different_collages_are_kept(tmp_path):
    ws = make_ws(tmp_path, {"a": good(3), "b": good(3)})   # identical boxes, different images
    rep = build_dataset(ws, CleanupConfig(test_fraction=0.0))
    assert rep.rule("nms").boxes_removed == 0 and rep.items_out == 6


def test_rule3_small_boxes_dropped(tmp_path):
    tiny = ((0.46, 0.46, 0.08, 0.08), "Jewelry", (255, 0, 255))   # 0.64% of the area
    edge = ((0.46, 0.46, 0.25, 0.2), "Watches", (0, 0, 0))        # exactly 5%: kept
    ws = make_ws(tmp_path, {"o1": good(3) + [tiny]})
    rep = build_dataset(ws, CleanupConfig(test_fraction=0.0))
    assert rep.rule("min_area").boxes_removed == 1
    assert "Jewelry" not in set(read_items(ws.items_csv)["category"])
    ws2 = make_ws(tmp_path / "2", {"o1": good(2) + [edge]})
    assert build_dataset(ws2, CleanupConfig(test_fraction=0.0, nms_iou=1.0)).rule("min_area").boxes_removed == 0


def test_rule4_item_count(tmp_path):
    nine = [((0.02 + 0.32 * (i % 3), 0.02 + 0.32 * (i // 3), 0.3, 0.3), LABELS[i], PALETTE[i]) for i in range(9)]
    ws = make_ws(tmp_path, {"two": good(2), "four": good(4), "nine": nine})
    rep = build_dataset(ws, CleanupConfig(test_fraction=0.0))
    r = rep.rule("item_count")
    assert (r.outfits_removed, r.boxes_removed) == (2, 11)
    assert set(read_items(ws.items_csv)["outfit_id"]) == {"four"}


def test_rule5_distinct_categories(tmp_path):
    same = [(GRID[i], "Shoes" if i < 2 else "Pants", PALETTE[i]) for i in range(4)]   # 2 categories
    ws = make_ws(tmp_path, {"dup": same, "ok": good(3)})
    rep = build_dataset(ws, CleanupConfig(test_fraction=0.0))
    assert rep.rule("categories").outfits_removed == 1 and rep.rule("categories").boxes_removed == 4
    assert set(read_items(ws.items_csv)["outfit_id"]) == {"ok"}


def test_dominant_colour_ignores_white_background():
    img = Image.new("RGB", (60, 60), (255, 255, 255))
    ImageDraw.Draw(img).rectangle([20, 20, 40, 40], fill=(200, 30, 30))      # 12% red, rest white
    L, a, b = dominant_colour(img)
    assert a > 40 and b > 20 and 35 < L < 55
    white = dominant_colour(Image.new("RGB", (10, 10), (250, 250, 250)))     # an all-white item stays white
    assert white[0] > 95


def test_is_monochrome():
    red, dark_red, blue = (45.0, 65.0, 50.0), (40.0, 60.0, 45.0), (30.0, 60.0, -90.0)
    assert is_monochrome([red, dark_red, red])
    assert not is_monochrome([red, dark_red, blue])
    assert not is_monochrome([red, None, red])     # unknown colours never make an outfit monochrome
    assert not is_monochrome([red])


def test_rule6_monochrome_outfit_dropped(tmp_path):
    shades = [(200, 30, 30), (190, 35, 30), (205, 25, 35), (195, 30, 25)]
    mono = [(GRID[i], LABELS[i], shades[i]) for i in range(4)]
    ws = make_ws(tmp_path, {"mono": mono, "multi": good(4)})
    rep = build_dataset(ws, CleanupConfig(test_fraction=0.0))
    r = rep.rule("monochrome")
    assert (r.outfits_removed, r.boxes_removed) == (1, 4)
    assert set(read_items(ws.items_csv)["outfit_id"]) == {"multi"}
    assert (ws.data_dir / "colour_cache.json").exists()
    # the rule can be switched off, and the cached run gives the same answer
    assert build_dataset(ws, CleanupConfig(test_fraction=0.0, drop_monochrome=False)).outfits_out == 2
    assert build_dataset(ws, CleanupConfig(test_fraction=0.0)).outfits_out == 1


def test_unusable_rows_counted(tmp_path):
    ws = make_ws(tmp_path, {"o1": good(3) + [((0.46, 0.46, 0.3, 0.3), "Spacesuits", (0, 0, 0))], "o2": good(3)})
    (ws.root / "collages" / "o2.png").write_bytes(b"not an image")
    rep = build_dataset(ws, CleanupConfig(test_fraction=0.0))
    r = rep.rule("unusable")
    assert r.extra == {"unknown label": 1, "image missing or unreadable": 3}
    assert (r.boxes_removed, r.outfits_removed) == (4, 1)


def test_product_backed_boxes_use_the_product_image_and_price(tmp_path):
    ws = make_ws(tmp_path, {"o1": good(3)})
    (ws.root / "products").mkdir()
    Image.new("RGB", (32, 32), PALETTE[0]).save(ws.root / "products" / "p1.png")
    cat = pd.DataFrame([{"product_id": "p1", "category": "Shirts & Tops", "price": 19.5, "title": "tee",
                         "image_path": "products/p1.png", "source": "demo", "is_product_shot": True,
                         "theme": "", "colour": ""}], columns=CATALOGUE_COLUMNS)
    write_table(cat, ws.catalogue_csv, CATALOGUE_COLUMNS)
    raw = pd.read_csv(ws.raw_boxes_csv, dtype={"product_id": str})
    raw.loc[0, "product_id"] = "p1"
    raw.loc[1, "product_id"] = "not-in-catalogue"
    raw.to_csv(ws.raw_boxes_csv, index=False)
    build_dataset(ws, CleanupConfig(test_fraction=0.0))
    items = read_items(ws.items_csv).set_index("item_id")
    assert items.loc["o1-0", "image_path"] == "products/p1.png" and items.loc["o1-0", "price"] == 19.5
    assert pd.isna(items.loc["o1-0", "box_x"])
    assert items.loc["o1-1", "image_path"] == "collages/o1.png" and items.loc["o1-1", "box_w"] == 80
    assert pd.isna(items.loc["o1-1", "price"])


def test_split_outfits_deterministic_and_exact():
    ids = [f"o{i}" for i in range(100)]
    a = split_outfits(ids, 0.2, seed=3)
    assert a == split_outfits(list(reversed(ids)), 0.2, seed=3)
    assert sum(v == "test" for v in a.values()) == 20
    assert a != split_outfits(ids, 0.2, seed=4)
    grown = split_outfits(ids + [f"n{i}" for i in range(10)], 0.2, seed=3)
    moved = sum(grown[o] != a[o] for o in ids)
    assert moved <= 4   # adding outfits moves few of the old ones


def test_split_by_outfit_and_report(tmp_path):
    outfits = {f"o{i}": good(4, offset=i) for i in range(10)}
    ws = make_ws(tmp_path, outfits)
    rep = build_dataset(ws, CleanupConfig(test_fraction=0.3, seed=1))
    items = read_items(ws.items_csv)
    assert items.groupby("outfit_id")["split"].nunique().max() == 1      # one split per outfit
    assert items["item_id"].is_unique
    assert (rep.outfits_in, rep.boxes_in, rep.outfits_out, rep.items_out) == (10, 40, 10, 40)
    assert (rep.train_outfits, rep.test_outfits, rep.train_items, rep.test_items) == (7, 3, 28, 12)
    saved = json.loads((ws.data_dir / "cleanup_report.json").read_text())
    assert saved == rep.to_dict() and [r["name"] for r in saved["rules"]] == [
        "unusable", "outside_image", "nms", "min_area", "item_count", "categories", "monochrome"]
    text = str(rep)
    assert "nms" in text and "train 7 outfits (28 items)" in text
    first = items[["item_id", "split"]].copy()
    build_dataset(ws, CleanupConfig(test_fraction=0.3, seed=1))
    assert read_items(ws.items_csv)[["item_id", "split"]].equals(first)   # reproducible


def test_split_file_is_honoured(tmp_path):
    outfits = {f"o{i}": good(4, offset=i) for i in range(6)}
    ws = make_ws(tmp_path, outfits)
    (ws.data_dir / "polyvore_splits.json").write_text(json.dumps({"train": ["o0"], "valid": ["o1"],
                                                                  "test": ["o2", "o3"]}))
    rep = build_dataset(ws, CleanupConfig(test_fraction=0.0))
    split = read_items(ws.items_csv).groupby("outfit_id")["split"].first().to_dict()
    assert split == {"o0": "train", "o1": "train", "o2": "test", "o3": "test", "o4": "train", "o5": "train"}
    assert rep.split_from_files == 4


def test_fitb_questions_filtered_to_surviving_items(tmp_path):
    ws = make_ws(tmp_path, {"a": good(3), "b": good(2)})     # b is dropped (2 items)
    build_dataset(ws, CleanupConfig(test_fraction=0.0))
    ws.fitb_json.write_text(json.dumps([
        {"question": ["a-0", "a-1"], "answers": ["a-2", "a-0", "a-1", "a-2"], "correct": 0, "source": "t"},
        {"question": ["a-0", "a-1"], "answers": ["a-2", "b-0", "a-1", "a-2"], "correct": 0, "source": "t"}]))
    assert len(fitb_questions(ws)) == 1


def test_everything_dropped_still_writes_an_empty_table(tmp_path):
    ws = make_ws(tmp_path, {"a": good(2), "b": good(1)})
    rep = build_dataset(ws, CleanupConfig())
    assert rep.outfits_out == 0 and rep.rule("item_count").outfits_removed == 2
    items = read_items(ws.items_csv)
    assert len(items) == 0 and list(items.columns)[:2] == ["item_id", "outfit_id"]


def test_missing_raw_boxes_says_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        build_dataset(Workspace.at(tmp_path / "ws"))


# --------------------------------------------------------------------------------- real product shots, per source

SHOT_BG = (236, 233, 226)          # Mango's light, slightly warm background (measured on its product shots)


def product_shot(colour, shape="shirt", bg=SHOT_BG, outline=None, size=(120, 168)):
    """A product drawn on a plain light background with a soft vertical shading and a floor shadow."""
    W, H = size
    img = Image.new("RGB", size, bg)
    px = img.load()
    for y in range(H):                                    # shading: a few units darker towards the bottom
        for x in range(W):
            px[x, y] = tuple(max(0, c - y * 8 // H) for c in bg)
    d = ImageDraw.Draw(img)
    d.ellipse([W * 0.2, H * 0.86, W * 0.8, H * 0.92], fill=tuple(c - 14 for c in bg))
    box = {"shirt": [W * 0.2, H * 0.15, W * 0.8, H * 0.8], "trousers": [W * 0.3, H * 0.1, W * 0.7, H * 0.88],
           "bag": [W * 0.25, H * 0.45, W * 0.75, H * 0.8]}[shape]
    d.rectangle(box, fill=colour, outline=outline, width=2 if outline else 0)
    if shape == "bag":                                    # a handle loop showing the background through it
        d.ellipse([W * 0.33, H * 0.25, W * 0.67, H * 0.6], outline=colour, width=5)
    return img


def shot_ws(tmp_path, outfits: dict[str, list[tuple[str, tuple, str]]]) -> Workspace:
    """Whole-image product outfits (source "outfits", ids "of-..."), each product its own product shot."""
    ws = Workspace.at(tmp_path / "ws").ensure()
    (ws.root / "shots").mkdir()
    cat, rows = [], []
    for oid, items in outfits.items():
        for k, (shape, colour, label) in enumerate(items):
            pid, rel = f"{oid}-p{k}", f"shots/{oid}-{k}.png"
            product_shot(colour, shape).save(ws.root / rel)
            cat.append({"product_id": pid, "category": label, "price": None, "title": "", "image_path": rel,
                        "source": "outfits", "is_product_shot": True, "theme": "", "colour": ""})
            rows.append({"outfit_id": f"of-{oid}", "image_path": rel, "x": 0, "y": 0, "w": 1, "h": 1,
                         "label": label, "product_id": pid})
    write_table(pd.DataFrame(cat, columns=CATALOGUE_COLUMNS), ws.catalogue_csv, CATALOGUE_COLUMNS)
    write_table(pd.DataFrame(rows, columns=RAW_BOX_COLUMNS), ws.raw_boxes_csv, RAW_BOX_COLUMNS)
    return ws


RED, DARK_RED, BLUE = (190, 30, 35), (170, 25, 30), (30, 60, 190)


def test_foreground_colour_is_the_product_not_the_background():
    L, a, b = dominant_colour(product_shot(RED))
    assert a > 40 and 30 < L < 55                                     # red, not the light background
    bag = dominant_colour(product_shot(RED, "bag"))                   # the handle's inside is background
    assert bag[1] > 40
    assert not is_monochrome([dominant_colour(product_shot(c)) for c in (RED, BLUE)])


def test_white_shirt_on_white_background_is_handled():
    white_bg, white = (246, 246, 246), (255, 255, 255)
    for img in (product_shot(white_bg, bg=white_bg),                           # the background's own colour
                product_shot(white, bg=white_bg, outline=(180, 180, 180)),     # outlined
                product_shot(white, bg=white_bg),                              # no outline
                product_shot((240, 240, 238), bg=SHOT_BG)):                    # white on light grey
        L, a, b = dominant_colour(img)
        assert L > 85 and abs(a) < 5 and abs(b) < 8, (L, a, b)
    white_outfit = [dominant_colour(product_shot(white, s, bg=white_bg, outline=(200, 200, 200)))
                    for s in ("shirt", "trousers", "bag")]
    assert is_monochrome(white_outfit)
    assert not is_monochrome(white_outfit + [dominant_colour(product_shot(RED, bg=white_bg))])


def test_monochrome_rule_on_product_shots_and_per_source_report(tmp_path):
    ws = shot_ws(tmp_path, {
        "red": [("shirt", RED, "Shirts & Tops"), ("trousers", DARK_RED, "Pants"), ("bag", RED, "Handbags")],
        "mixed": [("shirt", RED, "Shirts & Tops"), ("trousers", BLUE, "Pants"), ("bag", RED, "Handbags")]})
    rep = build_dataset(ws, CleanupConfig(test_fraction=0.0))
    assert set(read_items(ws.items_csv)["outfit_id"]) == {"of-mixed"}
    assert rep.rule("monochrome").by_source == {"outfits": 1}
    assert rep.outfits_in_by_source == {"outfits": 2} and rep.outfits_out_by_source == {"outfits": 1}
    assert "outfits" in str(rep).splitlines()[1]                      # a column per source


def test_item_count_maximum_per_source(tmp_path):
    ten = [("shirt", PALETTE[i % len(PALETTE)], LABELS[i % len(LABELS)]) for i in range(10)]
    ws = shot_ws(tmp_path, {"ten": ten})
    collage_ws = make_ws(tmp_path / "c", {"nine": [((0.02 + 0.32 * (i % 3), 0.02 + 0.32 * (i // 3), 0.3, 0.3),
                                                    LABELS[i], PALETTE[i]) for i in range(9)]})
    rep = build_dataset(ws, CleanupConfig(test_fraction=0.0, drop_monochrome=False))
    assert rep.outfits_out == 1                                       # outfit tables keep up to 10
    assert build_dataset(ws, CleanupConfig(test_fraction=0.0, drop_monochrome=False,
                                           max_items_by_source=())).rule("item_count").extra["too many"] == 1
    crep = build_dataset(collage_ws, CleanupConfig(test_fraction=0.0))
    assert crep.rule("item_count").by_source == {"collage": 1}        # collages keep the paper's 3-8
    with pytest.raises(ValueError, match="max_items for outfits"):
        CleanupConfig(max_items_by_source=(("outfits", 2),))
