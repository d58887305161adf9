"""The labelled product photos of another shop (../shared/real/fashion-product-images): styles.csv read as it is,
kept out of a real shop's catalogue, the held-out split, and the product-shot check's person rule.

Nothing of the data set enters the repository: the tests read it in place and write only to tmp_path. Image rules
only (no backbone): the README's category table and the product-shot precision/recall come from the full runs.
"""
from __future__ import annotations

import csv
from collections import Counter

import pandas as pd
import pytest

from ctl_core.config import PROJECT_ROOT, Workspace
from ctl_core.data.importers import import_folder, type_category
from ctl_core.data.tables import CATALOGUE_COLUMNS, read_catalogue, write_table
from ctl_core.images import load_image
from ctl_core.serving.product_shot import worn_by_person
from ctl_core.training.category_examples import HOLDOUT_FRACTION, held_out_examples

FPI = PROJECT_ROOT.parent / "shared" / "real" / "fashion-product-images"

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.skipif(not (FPI / "styles.csv").is_file(),
                       reason=f"the labelled product photos are not at {FPI} (../shared/real/fashion-product-images; "
                              "absent on a fresh clone)"),
]


def _styles() -> list[dict]:
    with open(FPI / "styles.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_article_type_maps_onto_our_categories():
    types = Counter(r["articleType"] for r in _styles())
    assert len(types) == 37
    assert [t for t in types if type_category(t)[0] is None] == []


def test_import_as_category_examples_beside_a_shop(tmp_path):
    ws = Workspace.at(tmp_path / "ws").ensure()
    write_table(pd.DataFrame([{"product_id": "m1", "category": "Pants", "title": "t", "image_path": "x.jpg",
                               "source": "outfits", "is_product_shot": True}], columns=CATALOGUE_COLUMNS),
                ws.catalogue_csv, CATALOGUE_COLUMNS)
    report = import_folder(ws, FPI, csv=FPI / "styles.csv")
    assert report.rows_read == len(_styles()) and report.rows_skipped == 0
    assert list(read_catalogue(ws.catalogue_csv)["product_id"]) == ["m1"]      # not served
    ex = read_catalogue(ws.category_examples_csv)
    assert len(ex) == report.imported and ex["title"].str.len().gt(0).mean() > 0.99   # productDisplayName
    held = held_out_examples(ws)
    assert abs(len(held) / len(ex) - HOLDOUT_FRACTION) < 0.02
    assert held["category"].nunique() == ex["category"].nunique()               # every category tested


@pytest.mark.parametrize("article_type,lo,hi", [("Tshirts", 0.6, 1.0), ("Jeans", 0.6, 1.0),
                                                ("Watches", 0.0, 0.1), ("Handbags", 0.0, 0.1)])
def test_person_rule_on_worn_apparel_and_accessories(article_type, lo, hi):
    rows = [r for r in _styles() if r["articleType"] == article_type][:40]
    share = sum(worn_by_person(load_image(FPI / "images" / f"{r['id']}.jpg")) for r in rows) / len(rows)
    assert lo <= share <= hi
