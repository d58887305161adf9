"""The outfit-table importer on tiny fixtures made here: both layouts, bad rows, group ids, unmapped types."""
from __future__ import annotations

import csv
import json

import pandas as pd
import pytest
from PIL import Image

from ctl_core.cli import main
from ctl_core.config import Workspace
from ctl_core.data.importers import ImportDataError, import_folder, import_outfits, type_category
from ctl_core.data.importers.common import BAD_ID, OUTSIDE_FOLDER
from ctl_core.data.importers.outfits import PRODUCT_NOT_IMPORTED, colour_name, make_title
from ctl_core.data.tables import CATALOGUE_COLUMNS, read_catalogue, read_raw_boxes

MANGO_HEADER = ["cod_modelo_color", "cod_color_code", "des_color_specification_esp", "des_agrup_color_eng",
                "des_sex", "des_age", "des_line", "des_fabric", "des_product_category",
                "des_product_aggregated_family", "des_product_family", "des_product_type", "des_filename"]


def jpg(path, colour=(200, 30, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (24, 32), colour).save(path, "JPEG")


def write_csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def mango_folder(root):
    """Six products (two colours of one model, one fragrance, one missing image) and three outfits."""
    rows = [("41085800-02", "OFFWHITE", "WHITE", "Bottoms", "Trousers", "Trousers"),
            ("41085800-99", "NEGRO", "GREY", "Bottoms", "Trousers", "Trousers"),
            ("53000586-TO", "ROJO", "RED", "Tops", "Shirt", "Blouse"),
            ("57000001-01", "ORO", "WHITE", "Accesories, Swim and Intimate", "Jewellery", "Earrings"),
            ("57000002-01", "NEGRO", "GREY", "Accesories, Swim and Intimate", "Footwear", "Ankle Boots"),
            ("58000003-01", "ROSA", "PINK", "Beauty", "Fragances", "Fragance"),
            ("58000004-01", "NEGRO", "GREY", "Accesories, Swim and Intimate", "Intimate", "Socks"),
            ("59000005-01", "AZUL", "BLUE", "Tops", "T-shirt", "T-Shirt")]
    table = []
    for pid, es, en, cat, fam, typ in rows:
        model, colour = pid.split("-")
        image = f"datathon/images/2019_{model}_{colour}.jpg"
        if pid != "59000005-01":           # its image is missing
            jpg(root / image)
        table.append([pid, colour, es, en, "Female", "Adult", "SHE", "P-PLANA", cat, fam, fam, typ, image])
    table.append(["bad-row", "01"])                     # malformed: too few fields
    write_csv(root / "datathon/dataset/product_data.csv", MANGO_HEADER, table)
    write_csv(root / "datathon/dataset/outfit_data.csv", ["cod_outfit", "cod_modelo_color"],
              [(1, "41085800-02"), (1, "53000586-TO"), (1, "57000001-01"), (1, "58000003-01"),
               (2, "41085800-99"), (2, "57000002-01"), (2, "57000002-01"), (2, "00000000-00"),
               (3, "53000586-TO"), (3, "59000005-01"), (3, "58000004-01")])
    return root


def test_mango_layout(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    report = import_outfits(ws, mango_folder(tmp_path / "mango"))
    cat = read_catalogue(ws.catalogue_csv).set_index("product_id")
    assert set(cat.index) == {"41085800-02", "41085800-99", "53000586-TO", "57000001-01", "57000002-01",
                              "58000004-01"}
    assert cat.loc["41085800-02", "category"] == "Pants"
    assert cat.loc["41085800-02", "title"] == "Off-white trousers"
    assert cat.loc["53000586-TO", "title"] == "Red blouse"
    assert cat.loc["57000002-01", "category"] == "Boots"
    assert cat.loc["58000004-01", "category"] == "Socks & Tights"     # type beats its family (Intimate)
    assert cat.loc["41085800-02", "group_id"] == cat.loc["41085800-99", "group_id"] == "41085800"
    assert cat.loc["41085800-02", "colour"] == "off-white"
    assert (cat["source"] == "outfits").all()

    boxes = read_raw_boxes(ws.raw_boxes_csv)
    assert sorted(boxes["outfit_id"].unique()) == ["of-1", "of-2", "of-3"]
    assert boxes.groupby("outfit_id").size().to_dict() == {"of-1": 3, "of-2": 2, "of-3": 2}
    assert set(boxes["product_id"]) <= set(cat.index)
    assert (boxes[["x", "y", "w", "h"]].to_numpy() == [0, 0, 1, 1]).all()

    assert report.skipped["unknown label"] == 1                  # the fragrance
    assert report.skipped["missing image"] == 1
    assert report.skipped["malformed row"] == 1
    assert report.skipped["duplicate row"] == 1                  # a product twice in outfit 2
    assert report.skipped["unknown item"] == 1                   # 00000000-00
    assert report.skipped[PRODUCT_NOT_IMPORTED] == 2             # the fragrance and the missing image in outfits
    assert report.rows_read == 9 + 11
    assert report.products == 6 and report.outfits == 3
    assert any("Fragance 1" in n for n in report.notes)
    stored = json.loads((ws.data_dir / "import_outfits_report.json").read_text())
    assert stored["seconds"] >= 0 and "_started" not in stored  # its wall time, for the report's build table
    assert stored["products"] == 6


def test_mango_datathon_folder_itself_and_reimport_replaces(tmp_path):
    root = mango_folder(tmp_path / "mango")
    ws = Workspace.at(tmp_path / "ws")
    import_outfits(ws, root / "datathon")
    import_outfits(ws, root)                                     # replaces its own rows, no duplicates
    assert len(read_catalogue(ws.catalogue_csv)) == 6
    assert len(read_raw_boxes(ws.raw_boxes_csv)) == 7


def plain_folder(root):
    for name, colour in (("a", (200, 0, 0)), ("b", (0, 0, 200)), ("c", (0, 150, 0)), ("d", (20, 20, 20))):
        jpg(root / "img" / f"{name}.jpg", colour)
    jpg(root.parent / "outside.jpg")
    write_csv(root / "products.csv", ["product_id", "type", "image", "title", "price", "colour", "group_id"], [
        ["SKU 1", "Crossbody bag", "img/a.jpg", "", "35", "red", "M1"],
        ["SKU 2", "Ankle boots", "img/b.jpg", "Blue boots", "80.5", "", "M1"],
        ["SKU 3", "Shirts & Tops", "img/c.jpg", "Green tee", "", "green", ""],
        ["SKU 4", "Pants", "img/d.jpg", "", "-3", "", ""],              # bad price
        ["SKU 5", "Pyjama", "img/d.jpg", "", "", "", ""],               # not ours
        ["SKU 6", "Spacesuit", "img/d.jpg", "", "", "", ""],            # unknown type
        ["SKU 7", "Pants", "../outside.jpg", "", "", "", ""],          # outside the folder
        ["SKU 1", "Pants", "img/d.jpg", "", "", "", ""],                # duplicate id
    ])
    write_csv(root / "outfits.csv", ["outfit_id", "product_id"],
              [["o1", "SKU 1"], ["o1", "SKU 2"], ["o1", "SKU 3"], ["o2", "SKU 3"], ["o2", "SKU 7"], ["o2", ""]])
    return root


def test_plain_layout(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    report = import_outfits(ws, plain_folder(tmp_path / "shop"))
    cat = read_catalogue(ws.catalogue_csv).set_index("product_id")
    assert list(cat.index) == ["SKU 1", "SKU 2", "SKU 3"]            # ids verbatim (a space kept)
    assert cat.loc["SKU 1", "category"] == "Handbags" and cat.loc["SKU 1", "title"] == "Red crossbody bag"
    assert cat.loc["SKU 2", "category"] == "Boots" and cat.loc["SKU 2", "price"] == 80.5
    assert cat.loc["SKU 1", "group_id"] == cat.loc["SKU 2", "group_id"] == "M1"
    assert cat.loc["SKU 3", "group_id"] == ""
    boxes = read_raw_boxes(ws.raw_boxes_csv)
    assert boxes.groupby("outfit_id").size().to_dict() == {"of-o1": 3, "of-o2": 1}
    assert report.skipped["malformed row"] == 1                      # bad price
    assert report.skipped[BAD_ID] == 1                               # an empty product id in outfits.csv
    assert report.skipped["unknown label"] == 2                      # pyjama, spacesuit
    assert report.skipped[OUTSIDE_FOLDER] == 1
    assert report.skipped["duplicate id"] == 1
    assert report.skipped[PRODUCT_NOT_IMPORTED] == 1                 # SKU 7 in outfit o2
    assert any("Pyjama 1" in n and "Spacesuit 1" in n for n in report.notes)


def test_import_keeps_other_sources_and_refuses_their_ids(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    jpg(tmp_path / "folder" / "shoes" / "SKU 3.jpg")
    import_folder(ws, tmp_path / "folder")
    report = import_outfits(ws, plain_folder(tmp_path / "shop"))
    cat = read_catalogue(ws.catalogue_csv)
    assert sorted(cat["source"].unique()) == ["folder", "outfits"]
    assert "shoes-SKU-3" in set(cat["product_id"])
    assert report.products == 3


def test_old_catalogue_without_optional_columns_reads(tmp_path):
    path = tmp_path / "catalogue.csv"
    old = [c for c in CATALOGUE_COLUMNS if c not in ("group_id", "product_type", "fabric")]
    pd.DataFrame([{"product_id": "p1", "category": "Shoes", "price": 1.0, "title": "t", "image_path": "x.jpg",
                   "source": "demo", "is_product_shot": True, "theme": "", "colour": ""}], columns=old).to_csv(
        path, index=False)
    cat = read_catalogue(path)
    assert list(cat.columns) == CATALOGUE_COLUMNS and cat.loc[0, "group_id"] == ""


def test_unusable_folders_raise(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    with pytest.raises(ImportDataError, match="folder not found"):
        import_outfits(ws, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImportDataError, match="products.csv"):
        import_outfits(ws, tmp_path / "empty")
    write_csv(tmp_path / "nocat" / "products.csv", ["product_id", "image"], [["a", "a.jpg"]])
    with pytest.raises(ImportDataError, match="'category' or a 'type'"):
        import_outfits(ws, tmp_path / "nocat")
    write_csv(tmp_path / "noout" / "products.csv", ["product_id", "type", "image"], [["a", "Pants", "a.jpg"]])
    with pytest.raises(ImportDataError, match="outfits.csv: file not found"):
        import_outfits(ws, tmp_path / "noout")


def test_cli_import_outfits(tmp_path, capsys):
    root = plain_folder(tmp_path / "shop")
    assert main(["--workspace", str(tmp_path / "ws"), "--quiet", "import", "outfits", str(root)]) == 0
    out = capsys.readouterr().out
    assert "import outfits:" in out and "next: python -m ctl_core build" in out
    assert main(["--workspace", str(tmp_path / "ws"), "--quiet", "import", "outfits", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: ")


@pytest.mark.parametrize("labels,expected", [
    (("Ankle Boots", "Footwear"), ("Boots", True)), (("Kerchief", "Hats, scarves and gloves"),
                                                      ("Scarves & Shawls", True)),
    (("Earrings",), ("Jewelry", True)), (("Crossbody bag",), ("Handbags", True)), (("Pyjama Top", "Intimate"),
                                                                                  (None, True)),
    (("", "Fragances"), (None, True)), (("Wallet", "Wallets & cases"), (None, True)),
    (("Spacesuit",), (None, False)), (("", "", "Shirts & Tops"), ("Shirts & Tops", True)),
    (("Puffer coat", "Puffer coats"), ("Coats & Jackets", True))])
def test_type_category(labels, expected):
    assert type_category(*labels) == expected


def test_colour_names_and_titles():
    assert colour_name("OFFWHITE", "WHITE") == "off-white"
    assert colour_name("TEJANO OSCURO") == "dark denim"
    assert colour_name("", "BLUE") == "blue"
    assert colour_name("Heather", "") == "heather"
    assert make_title("off-white", "Trousers") == "Off-white trousers"
    assert make_title("", "Ankle Boots") == "Ankle boots"


# ------------------------------------------------------------------------------------------ memory (issue 20)

def _plain_table(folder, rows: int, products: int = 50):
    """A plain-layout folder: ``products`` tiny products, ``rows`` outfit rows of 5-item outfits."""
    for i in range(products):
        jpg(folder / "img" / f"p{i}.jpg", (i * 5 % 256, 40, 90))
    write_csv(folder / "products.csv", ["product_id", "type", "image"],
              [[f"p{i}", "Dress" if i % 2 else "Shoes", f"img/p{i}.jpg"] for i in range(products)])
    with open(folder / "outfits.csv", "w") as f:
        f.write("outfit_id,product_id\n")
        f.writelines(f"o{r // 5},p{(r * 7919) % products}\n" for r in range(rows))
    return folder


def test_outfit_table_over_the_row_limit_is_refused_with_one_line(tmp_path, monkeypatch, capsys):
    """Issue 20, finding 7: memory grew without bound with the outfit table (2,000,000 rows: 2.07 GB); a table over
    the documented limit is now refused before it is read further, nothing changed."""
    from ctl_core.data.importers import outfits as outfits_mod
    monkeypatch.setattr(outfits_mod, "MAX_OUTFIT_ROWS", 100)
    folder = _plain_table(tmp_path / "big", rows=101)
    ws = Workspace.at(tmp_path / "ws").ensure()
    assert main(["--workspace", str(ws.root), "--quiet", "import", "outfits", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "more than 100 outfit rows" in err and "\n" not in err
    assert not ws.raw_boxes_csv.exists() and not ws.catalogue_csv.exists()
    _plain_table(tmp_path / "ok", rows=100)
    assert import_outfits(ws, tmp_path / "ok").imported == 50 + 100


@pytest.mark.slow
def test_outfit_import_memory_grows_by_bytes_not_a_kilobyte_a_row(tmp_path):
    """Issue 20, finding 7: ≈1 KB of RSS a row before (the rows' text kept as lists and dicts); now the file is
    streamed and rows are kept as codes. Peak RSS of a child process, 200,000 rows against 1,000."""
    import subprocess
    import sys

    def peak_mb(rows: int) -> float:
        folder = _plain_table(tmp_path / f"t{rows}", rows)
        script = ("import resource, sys; from ctl_core.config import Workspace; "
                  "from ctl_core.data.importers import import_outfits; "
                  "import_outfits(Workspace.at(sys.argv[1]).ensure(), sys.argv[2]); "
                  "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
        out = subprocess.run([sys.executable, "-c", script, str(tmp_path / f"ws{rows}"), str(folder)],
                             capture_output=True, text=True, check=True)
        return float(out.stdout.split()[-1])

    small, large = peak_mb(1_000), peak_mb(200_000)
    per_row = (large - small) * 1024 * 1024 / 199_000
    assert per_row < 400, f"{per_row:.0f} bytes of peak RSS a row (small {small:.0f} MB, large {large:.0f} MB)"
