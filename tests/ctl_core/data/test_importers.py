"""Importers on tiny fixtures generated in tmp_path: happy paths, the bad-input reports, format quirks."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from PIL import Image

from ctl_core.config import Workspace
from ctl_core.data.dataset import CleanupConfig, build_dataset, fitb_questions
from ctl_core.data.importers import (
    ImportDataError,
    import_ctl_tsv,
    import_folder,
    import_polyvore,
    match_category,
    polyvore_category,
)
from ctl_core.data.tables import (
    CATALOGUE_COLUMNS,
    RAW_BOX_COLUMNS,
    read_catalogue,
    read_items,
    read_raw_boxes,
    write_table,
)

COLOURS = [(200, 30, 30), (30, 60, 200), (40, 160, 60), (230, 200, 40), (120, 40, 150), (20, 20, 20)]


def jpg(path, colour=(200, 30, 30), size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, "JPEG")
    return path


def collage(path, size=(80, 60)):
    """Three coloured quadrants on white (so the cleanup's colour rule keeps it)."""
    img = Image.new("RGB", size, (255, 255, 255))
    W, H = size
    for (x, y), c in zip([(0, 0), (W // 2, 0), (0, H // 2)], COLOURS):
        img.paste(c, (x + 1, y + 1, x + W // 2 - 1, y + H // 2 - 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG")


def seed_other_source(ws: Workspace) -> None:
    """A demo product and demo raw boxes that every import must keep."""
    jpg(ws.root / "demo" / "d1.jpg")
    write_table(pd.DataFrame([{"product_id": "d1", "category": "Shoes", "price": 10.0, "title": "demo shoe",
                               "image_path": "demo/d1.jpg", "source": "demo", "is_product_shot": True,
                               "theme": "", "colour": ""}], columns=CATALOGUE_COLUMNS),
                ws.catalogue_csv, CATALOGUE_COLUMNS)
    write_table(pd.DataFrame([{"outfit_id": "demo-1", "image_path": "demo/d1.jpg", "x": 0, "y": 0, "w": 1, "h": 1,
                               "label": "Shoes", "product_id": "d1"}], columns=RAW_BOX_COLUMNS),
                ws.raw_boxes_csv, RAW_BOX_COLUMNS)


# --------------------------------------------------------------------------------------------- categories

@pytest.mark.parametrize("label,expected", [
    ("Shirts & Tops", "Shirts & Tops"), ("shirts and tops", "Shirts & Tops"), ("tops", "Shirts & Tops"),
    ("HANDBAGS", "Handbags"), ("handbag", "Handbags"), ("Coats and Jackets", "Coats & Jackets"),
    ("scarves", "Scarves & Shawls"), ("jewellery", "Jewelry"), ("Watch", "Watches"), ("Spacesuits", None),
    ("", None)])
def test_match_category(label, expected):
    assert match_category(label) == expected


@pytest.mark.parametrize("semantic,title,expected", [
    ("tops", "silk blouse", "Shirts & Tops"), ("bottoms", "pleated mini skirt", "Skirts"),
    ("bottoms", "denim shorts", "Shorts"), ("bottoms", "slim jeans", "Pants"), ("shoes", "ankle boots", "Boots"),
    ("shoes", "leather pumps", "Shoes"), ("bags", "tote", "Handbags"), ("jewellery", "ring", "Jewelry"),
    ("accessories", "leather belt", "Belts"), ("accessories", "gold watch", "Watches"),
    ("accessories", "keychain", None), ("outerwear", "trench", "Coats & Jackets"),
    ("all-body", "floral jumpsuit", "Jumpsuits"), ("all-body", "maxi dress", "Dresses"),
    ("sunglasses", "aviators", "Sunglasses"), ("hats", "fedora", "Hats"), ("scarves", "silk", "Scarves & Shawls")])
def test_polyvore_category(semantic, title, expected):
    assert polyvore_category(semantic, title) == expected


# --------------------------------------------------------------------------------------------- CTL TSV

SIGS = ["aa11bb22cc33dd44ee55ff6600000001", "0139dbef9bcc82bbe4875894cc118132", "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        "cccccccccccccccccccccccccccccccc", "dddddddddddddddddddddddddddddddd"]
BOXES = [(0.0125, 0.0166, 0.475, 0.4666, "Shirts & Tops"), (0.5125, 0.0166, 0.475, 0.4666, "Pants"),
         (0.0125, 0.5166, 0.475, 0.4666, "Shoes")]


def ctl_fixture(tmp_path):
    images = tmp_path / "ctl_images"
    collage(images / f"{SIGS[0]}.jpg")                                               # flat
    s = SIGS[1]
    collage(images / "400x" / s[0:2] / s[2:4] / s[4:6] / f"{s}.jpg")                # release URL layout
    s = SIGS[2]
    collage(images / s[0:2] / s[2:4] / s[4:6] / f"{s}.jpg")                         # nested, no 400x
    (images / f"{SIGS[3]}.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")          # corrupt; SIGS[4] missing
    lines = ["image_signature bounding_x  bounding_y  bounding_width  bounding_height label"]   # space header
    for sig in SIGS[:3]:
        labels = ["tops", "PANTS", "Shoes"] if sig == SIGS[1] else [b[4] for b in BOXES]   # synonyms
        lines += ["\t".join([sig, *map(str, b[:4]), lab]) for b, lab in zip(BOXES, labels)]
    lines += [
        f"{SIGS[0]}\t0.1\t0.1\t0.3",                                   # malformed: 4 fields
        f"{SIGS[0]}\t0.1\tabc\t0.3\t0.3\tHats",                        # malformed: not a number
        f"{SIGS[0]}\t0.5\t0.5\t0.3\t0.3\tSpacesuits",                  # unknown label
        f"{SIGS[0]}\t0.9\t0.5\t0.5\t0.3\tHats",                        # outside the image
        "\t".join([SIGS[0], *map(str, BOXES[0][:4]), BOXES[0][4]]),    # duplicate
        f"{SIGS[3]}\t0.1\t0.1\t0.3\t0.3\tHats",                        # unreadable image
        f"{SIGS[4]}\t0.1\t0.1\t0.3\t0.3\tHats",                        # missing image
        "",
    ]
    tsv = tmp_path / "raw_test.tsv"
    tsv.write_text("\n".join(lines))
    return tsv, images


def entry(sig, box):
    return {"signature": sig, "x": str(box[0]), "y": str(box[1]), "w": str(box[2]), "h": str(box[3]),
            "label": box[4]}


def test_ctl_tsv_happy_path_and_bad_input_report(tmp_path):
    ws = Workspace.at(tmp_path / "ws").ensure()
    seed_other_source(ws)
    tsv, images = ctl_fixture(tmp_path)
    rep = import_ctl_tsv(ws, tsv, images)
    assert (rep.rows_read, rep.imported, rep.outfits) == (16, 9, 3)
    assert rep.skipped == {"malformed row": 2, "unknown label": 1, "box outside the image": 1, "duplicate row": 1,
                           "unreadable image": 1, "missing image": 1}
    assert rep.rows_read == rep.imported + rep.rows_skipped
    assert any("Spacesuits" in m for m in rep.examples["unknown label"])
    text = str(rep)
    assert "16 rows read, 9 imported, 7 skipped" in text and "missing image" in text

    raw = read_raw_boxes(ws.raw_boxes_csv)
    assert "demo-1" in set(raw["outfit_id"])                                # other source kept
    ctl = raw[raw["outfit_id"].str.startswith("ctl-")]
    assert set(ctl["outfit_id"]) == {f"ctl-{s}" for s in SIGS[:3]}
    assert set(ctl["label"]) == {"Shirts & Tops", "Pants", "Shoes"}
    nested = ctl[ctl["outfit_id"] == f"ctl-{SIGS[1]}"]["image_path"].iloc[0]
    assert nested.endswith(f"400x/01/39/db/{SIGS[1]}.jpg") and nested.startswith("/")   # outside ws: absolute
    assert (ctl["product_id"] == "").all()
    assert set(json.loads((ws.data_dir / "ctl_splits.json").read_text())["test"]) == {f"ctl-{s}" for s in SIGS[:3]}
    assert json.loads((ws.data_dir / "import_ctl-tsv_report.json").read_text())["imported"] == 9

    # re-import replaces its own rows rather than adding to them
    import_ctl_tsv(ws, tsv, images)
    assert len(read_raw_boxes(ws.raw_boxes_csv)) == 10

    # the cleanup turns the boxes into items with pixel boxes, honouring the release's test split
    rep_ds = build_dataset(ws, CleanupConfig(test_fraction=0.0))
    items = read_items(ws.items_csv)
    ctl_items = items[items["outfit_id"].str.startswith("ctl-")]
    assert len(ctl_items) == 9 and (ctl_items["split"] == "test").all()
    assert ctl_items.iloc[0][["box_x", "box_y", "box_w", "box_h"]].tolist() == [1, 1, 38, 28]
    assert rep_ds.split_from_files == 3


def test_ctl_tsv_without_header_and_space_separated_rows(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    images = tmp_path / "imgs"
    collage(images / f"{SIGS[0]}.jpg")
    tsv = tmp_path / "rows.tsv"
    tsv.write_text("\n".join(f"{SIGS[0]} {b[0]} {b[1]} {b[2]} {b[3]} {b[4]}" for b in BOXES) + "\n")
    rep = import_ctl_tsv(ws, tsv, images)
    assert (rep.rows_read, rep.imported, rep.skipped) == (3, 3, {})
    assert read_raw_boxes(ws.raw_boxes_csv)["label"].tolist() == ["Shirts & Tops", "Pants", "Shoes"]
    assert not (ws.data_dir / "ctl_splits.json").exists()       # file name says neither train nor test


def test_ctl_tsv_images_inside_workspace_are_relative(tmp_path):
    ws = Workspace.at(tmp_path / "ws").ensure()
    images = ws.root / "ctl"
    collage(images / f"{SIGS[0]}.jpg")
    tsv = tmp_path / "raw_train.tsv"
    tsv.write_text("\n".join("\t".join([SIGS[0], *map(str, b[:4]), b[4]]) for b in BOXES))
    import_ctl_tsv(ws, tsv, images)
    assert set(read_raw_boxes(ws.raw_boxes_csv)["image_path"]) == {f"ctl/{SIGS[0]}.jpg"}
    assert json.loads((ws.data_dir / "ctl_splits.json").read_text())["train"] == [f"ctl-{SIGS[0]}"]


def test_ctl_fitb_matched_to_items(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    tsv, images = ctl_fixture(tmp_path)
    fitb = tmp_path / "fitb_eval.json"
    s0, s1, s2 = SIGS[:3]
    fitb.write_text(json.dumps([
        {"question": [entry(s0, BOXES[0]), entry(s0, BOXES[1])],
         "answers": [entry(s0, BOXES[2]), entry(s1, BOXES[2]), entry(s2, BOXES[2]), f"{s1}_0"]},
        {"question": [entry(s0, BOXES[0]), {"signature": s0, "label": "Pants"}],     # no coords: by label
         "answers": [entry(s0, BOXES[2]), entry(s1, BOXES[2]), entry(s2, BOXES[2]), entry(s2, BOXES[1])]},
        {"question": [entry(s0, BOXES[0]), entry(SIGS[4], BOXES[1])],                # image missing: unmatched
         "answers": [entry(s0, BOXES[2]), entry(s1, BOXES[2]), entry(s2, BOXES[2]), entry(s2, BOXES[1])]},
        {"question": "not a list", "answers": []},
    ]))
    rep = import_ctl_tsv(ws, tsv, images, fitb=fitb)
    assert (rep.fitb_read, rep.fitb_imported) == (4, 2)
    assert rep.skipped["fitb: unmatched item"] == 1 and rep.skipped["fitb: malformed question"] == 1
    assert rep.rows_read == rep.imported + rep.rows_skipped      # FITB skips are not row skips
    qs = json.loads(ws.fitb_json.read_text())
    assert qs[0]["question"] == [f"ctl-{s0}-0", f"ctl-{s0}-1"]
    assert qs[0]["answers"] == [f"ctl-{s0}-2", f"ctl-{s1}-2", f"ctl-{s2}-2", f"ctl-{s1}-0"]
    assert qs[0]["correct"] == 0 and qs[0]["source"] == "ctl-tsv" and qs[0]["raw"]["answers"][3] == f"{s1}_0"
    assert qs[1]["question"][1] == f"ctl-{s0}-1"
    build_dataset(ws, CleanupConfig(test_fraction=0.0))
    assert len(fitb_questions(ws)) == 2           # every referenced item exists in items.csv


def test_ctl_missing_inputs_raise_clear_errors(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    with pytest.raises(ImportDataError, match="image folder not found"):
        import_ctl_tsv(ws, tmp_path / "x.tsv", tmp_path / "nope")
    (tmp_path / "imgs").mkdir()
    with pytest.raises(ImportDataError, match="TSV file not found"):
        import_ctl_tsv(ws, tmp_path / "x.tsv", tmp_path / "imgs")


# --------------------------------------------------------------------------------------------- Polyvore

def polyvore_fixture(tmp_path):
    root = tmp_path / "polyvore_outfits"
    meta = {
        "101": {"semantic_category": "tops", "title": "striped tee"},
        "102": {"semantic_category": "bottoms", "title": "pleated mini skirt"},
        "103": {"semantic_category": "shoes", "title": "ankle boots"},
        "104": {"semantic_category": "bags", "title": "tote bag"},
        "201": {"semantic_category": "tops", "title": "silk blouse"},
        "202": {"semantic_category": "bottoms", "title": "wide leg trousers"},
        "203": {"semantic_category": "shoes", "title": "pumps"},
        "301": {"semantic_category": "tops", "title": "knit sweater"},
        "302": {"semantic_category": "bottoms", "title": "denim shorts"},
        "303": {"semantic_category": "jewellery", "title": "hoops"},
        "304": {"semantic_category": "accessories", "title": "keychain"},      # unknown label
        "305": {"semantic_category": "hats", "title": "cap"},                 # image missing
        "306": {"semantic_category": "sunglasses", "title": "aviators"},      # image corrupt
        "d1": {"semantic_category": "shoes", "title": "clash"},               # id used by the demo source
    }
    (root / "nondisjoint").mkdir(parents=True)
    (root / "polyvore_item_metadata.json").write_text(json.dumps(meta))
    for n, item_id in enumerate(i for i in meta if i not in ("305", "306")):
        jpg(root / "images" / f"{item_id}.jpg", COLOURS[n % len(COLOURS)])
    (root / "images" / "306.jpg").write_bytes(b"")
    train = [{"set_id": "s1", "items": [{"item_id": i, "index": k + 1} for k, i in enumerate(["101", "102", "103",
                                                                                             "104"])]},
             {"set_id": "s3", "items": [{"item_id": i, "index": k + 1}
                                        for k, i in enumerate(["301", "304", "302", "303", "305", "306", "999"])]},
             {"set_id": "s4", "items": "oops"},                                # malformed outfit
             {"set_id": "s5", "items": [{"index": 1}, {"item_id": "d1", "index": 2}]}]
    test = [{"set_id": "s2", "items": [{"item_id": i, "index": k + 1} for k, i in enumerate(["201", "202", "203"])]}]
    (root / "nondisjoint" / "train.json").write_text(json.dumps(train))
    (root / "nondisjoint" / "test.json").write_text(json.dumps(test))
    (root / "nondisjoint" / "fill_in_blank_test.json").write_text(json.dumps([
        {"question": ["s2_1", "s2_2"], "answers": ["s1_3", "s2_3", "s3_1", "s3_3"], "blank_position": 3},
        {"question": ["s2_1", "s2_2"], "answers": ["s1_3", "s2_3", "s3_2", "s3_3"], "blank_position": 3},  # s3_2
        {"question": ["s2_1", "s2_2"], "answers": ["s1_3", "s1_2", "s3_1", "s3_3"], "blank_position": 3},
    ]))
    return root


def test_polyvore_happy_path_and_report(tmp_path):
    ws = Workspace.at(tmp_path / "ws").ensure()
    seed_other_source(ws)
    root = polyvore_fixture(tmp_path)
    rep = import_polyvore(ws, root)
    rows_skipped = {k: v for k, v in rep.skipped.items() if not k.startswith("fitb:")}
    assert rows_skipped == {"unknown label": 1, "missing image": 1, "unreadable image": 1, "unknown item": 1,
                            "malformed row": 2, "duplicate id": 1}
    assert (rep.imported, rep.outfits, rep.products) == (10, 3, 10)
    assert rep.rows_read == rep.imported + rep.rows_skipped == 17
    assert any("valid.json not found" in n for n in rep.notes)

    cat = read_catalogue(ws.catalogue_csv).set_index("product_id")
    assert cat.loc["d1", "source"] == "demo" and cat.loc["d1", "title"] == "demo shoe"   # other source kept
    pv = cat[cat["source"] == "polyvore"]
    assert len(pv) == 10
    assert pv.loc["102", "category"] == "Skirts" and pv.loc["103", "category"] == "Boots"
    assert pv.loc["301", "category"] == "Sweaters" and pv.loc["302", "category"] == "Shorts"
    raw = read_raw_boxes(ws.raw_boxes_csv)
    s1 = raw[raw["outfit_id"] == "pv-s1"]
    assert s1["product_id"].tolist() == ["101", "102", "103", "104"]
    assert (s1[["x", "y", "w", "h"]].to_numpy() == [0, 0, 1, 1]).all()
    splits = json.loads((ws.data_dir / "polyvore_splits.json").read_text())
    assert splits["train"] == ["pv-s1", "pv-s3"] and splits["test"] == ["pv-s2"]

    # FITB: correct answer (from the question's outfit) moved first; unmatched and answerless skipped
    assert (rep.fitb_read, rep.fitb_imported) == (3, 1)
    assert rep.skipped.get("fitb: unmatched item") == 1 and rep.skipped.get("fitb: no correct answer") == 1
    q = json.loads(ws.fitb_json.read_text())[0]
    assert q["question"] == ["pv-s2-0", "pv-s2-1"]
    # s3_3 is s3's second imported row (s3_2 was skipped): pv-s3-1
    assert q["answers"] == ["pv-s2-2", "pv-s1-2", "pv-s3-0", "pv-s3-1"] and q["correct"] == 0

    # cleanup: product-backed items, source split honoured
    build_dataset(ws, CleanupConfig(test_fraction=0.0))
    items = read_items(ws.items_csv).set_index("item_id")
    assert items.loc["pv-s2-2", "split"] == "test" and items.loc["pv-s1-0", "split"] == "train"
    assert items.loc["pv-s1-1", "product_id"] == "102" and pd.isna(items.loc["pv-s1-1", "box_x"])
    assert items.loc["pv-s1-1", "image_path"] == pv.loc["102", "image_path"]

    # re-import replaces its rows
    import_polyvore(ws, root)
    assert len(read_catalogue(ws.catalogue_csv)) == 11 and len(read_raw_boxes(ws.raw_boxes_csv)) == 11


def test_polyvore_unreadable_source_raises(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    with pytest.raises(ImportDataError, match="polyvore_item_metadata.json"):
        import_polyvore(ws, tmp_path)
    (tmp_path / "polyvore_item_metadata.json").write_text("{not json")
    with pytest.raises(ImportDataError, match="not readable JSON"):
        import_polyvore(ws, tmp_path)
    with pytest.raises(ImportDataError, match="variant"):
        import_polyvore(ws, tmp_path, variant="both")


# --------------------------------------------------------------------------------------------- folder

def test_folder_by_subfolder_names(tmp_path):
    ws = Workspace.at(tmp_path / "ws").ensure()
    seed_other_source(ws)
    folder = tmp_path / "shop"
    jpg(folder / "shoes" / "red_heel.jpg")
    jpg(folder / "Tops" / "summer" / "tee-1.jpg")
    jpg(folder / "misc" / "thing.jpg")                              # no category folder
    (folder / "bags").mkdir()
    (folder / "bags" / "broken.jpg").write_bytes(b"garbage")        # corrupt
    (folder / "README.txt").write_text("hello")                     # not an image
    (folder / ".DS_Store").write_bytes(b"x")                        # hidden: ignored
    rep = import_folder(ws, folder)
    assert (rep.rows_read, rep.imported) == (5, 2)
    assert rep.skipped == {"unknown label": 1, "unreadable image": 1, "not an image file": 1}
    cat = read_catalogue(ws.catalogue_csv).set_index("product_id")
    assert cat.loc["shoes-red_heel", "category"] == "Shoes" and cat.loc["shoes-red_heel", "title"] == "red heel"
    assert cat.loc["Tops-summer-tee-1", "category"] == "Shirts & Tops"
    assert cat.loc["shoes-red_heel", "image_path"] == str(folder / "shoes" / "red_heel.jpg")
    assert cat.loc["d1", "source"] == "demo"
    assert len(read_raw_boxes(ws.raw_boxes_csv)) == 1              # folders bring no outfits


def test_folder_with_csv_and_bad_rows(tmp_path):
    ws = Workspace.at(tmp_path / "ws").ensure()
    seed_other_source(ws)
    folder = tmp_path / "imgs"
    for name in ("p1", "p2", "p3", "p4", "d1"):
        jpg(folder / f"{name}.jpg")
    jpg(folder / "sub" / "other.jpg")
    (folder / "p5.jpg").write_bytes(b"")
    csv = tmp_path / "products.csv"
    csv.write_text("ID,Category,Price,Title,Image\n"
                   "p1,Shoes,49.90,red heel,\n"
                   "p2,handbags,$120,tote,\n"
                   "p3,Shoes,cheap,bad price,\n"
                   "p4,Spacesuits,1,unknown,\n"
                   "p6,Shoes,1,no image,\n"
                   "p1,Shoes,1,dup,\n"
                   "d1,Shoes,1,clash with demo,\n"
                   "p5,Shoes,1,empty file,\n"
                   "x9,tops,5,explicit path,sub/other.jpg\n"
                   "short,row\n"
                   ",Shoes,1,no id,\n")
    rep = import_folder(ws, folder, csv=csv)
    assert rep.rows_read == 11 and rep.imported == 3
    assert rep.skipped == {"malformed row": 3, "unknown label": 1, "missing image": 1, "duplicate id": 2,
                           "unreadable image": 1}
    cat = read_catalogue(ws.catalogue_csv).set_index("product_id")
    assert cat.loc["p1", "price"] == pytest.approx(49.9) and cat.loc["p2", "price"] == 120
    assert cat.loc["x9", "category"] == "Shirts & Tops" and cat.loc["x9", "image_path"].endswith("sub/other.jpg")
    assert cat.loc["d1", "source"] == "demo"
    # a second folder import replaces the first one's products
    csv.write_text("id,category\np3,Shoes\n")
    import_folder(ws, folder, csv=csv)
    cat = read_catalogue(ws.catalogue_csv)
    assert sorted(cat["product_id"]) == ["d1", "p3"]


def test_folder_csv_without_required_columns(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    csv = tmp_path / "p.csv"
    csv.write_text("name,price\nx,1\n")
    with pytest.raises(ImportDataError, match="'id' and a 'category'"):
        import_folder(Workspace.at(tmp_path / "ws"), folder, csv=csv)
