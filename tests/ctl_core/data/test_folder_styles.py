"""`import folder --csv styles.csv`: a fashion-product-images-shaped CSV read as it is, and the import purpose."""
from __future__ import annotations

import csv

import pandas as pd
import pytest
from PIL import Image

from ctl_core.cli import main
from ctl_core.config import Workspace
from ctl_core.data.importers import import_folder
from ctl_core.data.importers.common import ImportWouldEmptyError
from ctl_core.data.importers.folder import PURPOSE_CATALOGUE, PURPOSE_CATEGORIES, default_purpose
from ctl_core.data.tables import CATALOGUE_COLUMNS, read_catalogue, write_table

HEADER = ["id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "year", "usage",
          "productDisplayName"]
ROWS = [
    ["1525", "Unisex", "Accessories", "Bags", "Backpacks", "Navy Blue", "Fall", "2010", "Casual",
     "Puma Deck Navy Blue Backpack"],
    ["2001", "Men", "Footwear", "Shoes", "Casual Shoes", "White", "Summer", "2012", "Casual", "Nike Men White Shoes"],
    ["2002", "Men", "Footwear", "Flip Flops", "Flip Flops", "Black", "Summer", "2012", "Casual", "Flip flops"],
    ["2003", "Women", "Accessories", "Jewellery", "Necklace and Chains", "Gold", "Fall", "2011", "Casual", "Chain"],
    ["2004", "Women", "Accessories", "Jewellery", "Pendant", "Silver", "Fall", "2011", "Casual", "Pendant"],
    ["2005", "Men", "Apparel", "Topwear", "Tshirts", "Red", "Summer", "2012", "Casual", "Red Tshirt"],
    ["2006", "Women", "Apparel", "Topwear", "Sweatshirts", "Grey", "Winter", "2012", "Casual", "Grey Sweatshirt"],
    ["2007", "Women", "Accessories", "Stoles", "Stoles", "Blue", "Winter", "2012", "Casual", "Blue Stole"],
    ["2008", "Women", "Personal Care", "Fragrance", "Perfume and Body Mist", "Pink", "Fall", "2012", "Casual",
     "Body mist"],
    ["2009", "Men", "Apparel", "Bottomwear", "Track Pants", "Black", "Fall", "2012", "Sports"],  # one field short
    ["2010", "Men", "Apparel", "Bottomwear", "Trousers", "Khaki", "Fall", "2012", "Formal", "no image"],
]
EXPECTED = {"1525": "Handbags", "2001": "Shoes", "2002": "Shoes", "2003": "Jewelry", "2004": "Jewelry",
            "2005": "Shirts & Tops", "2006": "Sweaters", "2007": "Scarves & Shawls"}


def styles_folder(root):
    """A folder laid out like fashion-product-images: styles.csv and images/<id>.jpg (60x80)."""
    (root / "images").mkdir(parents=True)
    for rec in ROWS:
        if rec[0] != "2010":
            Image.new("RGB", (60, 80), (200, 40, 40)).save(root / "images" / f"{rec[0]}.jpg", "JPEG")
    with open(root / "styles.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(ROWS)
    return root


def seed_outfit_source(ws):
    """A catalogue that already holds a real shop's products (source "outfits")."""
    ws.ensure()
    write_table(pd.DataFrame([{"product_id": "m1", "category": "Pants", "price": None, "title": "t",
                               "image_path": "x.jpg", "source": "outfits", "is_product_shot": True, "theme": "",
                               "colour": ""}], columns=CATALOGUE_COLUMNS), ws.catalogue_csv, CATALOGUE_COLUMNS)


def test_styles_csv_read_as_it_is(tmp_path):
    root = styles_folder(tmp_path / "fpi")
    ws = Workspace.at(tmp_path / "ws")
    report = import_folder(ws, root, csv=root / "styles.csv", purpose=PURPOSE_CATALOGUE)
    cat = read_catalogue(ws.catalogue_csv).set_index("product_id")
    assert cat["category"].to_dict() == EXPECTED
    assert cat.loc["1525", "title"] == "Puma Deck Navy Blue Backpack"
    assert cat.loc["1525", "colour"] == "navy blue"
    assert cat.loc["2001", "image_path"].endswith("images/2001.jpg")
    assert report.rows_read == len(ROWS) and report.imported == len(EXPECTED)
    assert report.skipped == {"unknown label": 1, "malformed row": 1, "missing image": 1}
    assert any("Perfume and Body Mist 1" in n for n in report.notes)
    assert not ws.category_examples_csv.exists()


def test_purpose_categories_stays_out_of_the_catalogue(tmp_path):
    root = styles_folder(tmp_path / "fpi")
    ws = Workspace.at(tmp_path / "ws")
    seed_outfit_source(ws)
    assert default_purpose(ws) == PURPOSE_CATEGORIES          # beside a real shop's catalogue: not served
    report = import_folder(ws, root, csv=root / "styles.csv")
    assert list(read_catalogue(ws.catalogue_csv)["product_id"]) == ["m1"]
    examples = read_catalogue(ws.category_examples_csv).set_index("product_id")
    assert examples["category"].to_dict() == EXPECTED
    assert any("purpose 'categories'" in n for n in report.notes)
    # asked for: served, and no longer a category example
    import_folder(ws, root, csv=root / "styles.csv", purpose=PURPOSE_CATALOGUE)
    assert len(read_catalogue(ws.catalogue_csv)) == 1 + len(EXPECTED)
    assert read_catalogue(ws.category_examples_csv).empty
    # taking served products out of the catalogue needs --replace
    with pytest.raises(ImportWouldEmptyError, match="--replace"):
        import_folder(ws, root, csv=root / "styles.csv", purpose=PURPOSE_CATEGORIES)
    import_folder(ws, root, csv=root / "styles.csv", purpose=PURPOSE_CATEGORIES, replace=True)
    assert list(read_catalogue(ws.catalogue_csv)["product_id"]) == ["m1"]
    assert len(read_catalogue(ws.category_examples_csv)) == len(EXPECTED)


def test_default_purpose_without_a_shop_is_catalogue(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    assert default_purpose(ws) == PURPOSE_CATALOGUE


def test_cli_import_folder_purpose(tmp_path, capsys):
    root = styles_folder(tmp_path / "fpi")
    args = ["--workspace", str(tmp_path / "ws"), "--quiet", "import", "folder", str(root), "--csv",
            str(root / "styles.csv")]
    assert main(args + ["--purpose", "categories"]) == 0
    assert "purpose 'categories'" in capsys.readouterr().out
    assert len(read_catalogue(Workspace.at(tmp_path / "ws").category_examples_csv)) == len(EXPECTED)
    with pytest.raises(SystemExit):                                       # argparse refuses it
        main(args + ["--purpose", "nonsense"])
