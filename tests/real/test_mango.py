"""Real outfits end to end on a 300-outfit slice of the Mango datathon (../shared/real/mango): import, cleanup,
one method trained heads-only, catalogue inference, and fill-in-the-blank by product id.

The slice is written to tmp_path (its CSV rows and the images they name): nothing of the data set enters the
repository. A tiny random CNN stands in for the backbone to keep the test well under two minutes; it checks that
the pipeline holds on real files, not how well a model does (the README's Table 4 does that).
"""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from ctl_core.cli import main
from ctl_core.config import PROJECT_ROOT, Workspace
from ctl_core.data.importers import import_outfits
from ctl_core.data.tables import read_catalogue, read_items
from ctl_core.workflows.build import BuildConfig, build_workspace

MANGO = PROJECT_ROOT.parent / "shared" / "real" / "mango"
N_OUTFITS = 300

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.skipif(not (MANGO / "datathon" / "dataset" / "product_data.csv").is_file(),
                       reason=f"the Mango datathon data is not at {MANGO} (../shared/real/mango; absent on a "
                              "fresh clone)"),
]


def _read(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def mango_slice(dst):
    """The first ``N_OUTFITS`` outfits, their products and images, in the datathon layout under ``dst``."""
    ds = MANGO / "datathon" / "dataset"
    oh, orows = _read(ds / "outfit_data.csv")
    keep = list(dict.fromkeys(r[0] for r in orows))[:N_OUTFITS]
    orows = [r for r in orows if r[0] in set(keep)]
    used = {r[1] for r in orows}
    ph, prows = _read(ds / "product_data.csv")
    prows = [r for r in prows if r[0] in used]
    (dst / "datathon" / "dataset").mkdir(parents=True)
    for name, header, rows in (("outfit_data.csv", oh, orows), ("product_data.csv", ph, prows)):
        with open(dst / "datathon" / "dataset" / name, "w", newline="", encoding="utf-8") as f:
            csv.writer(f, quoting=csv.QUOTE_ALL).writerows([header, *rows])
    fi = ph.index("des_filename")
    for r in prows:
        (dst / r[fi]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(MANGO / r[fi], dst / r[fi])
    return dst


def fitb_questions(items, rng):
    """Standard FITB on test outfits: blank one item, 3 distractors of its category from other outfits."""
    test = items[items["split"] == "test"]
    by_cat = items.groupby("category")
    out = []
    for oid, g in test.groupby("outfit_id"):
        blank = g.iloc[int(rng.integers(len(g)))]
        others = by_cat.get_group(blank["category"])
        others = others[others["outfit_id"] != oid]["product_id"].unique()
        if len(others) < 3:
            continue
        answers = [blank["product_id"], *rng.choice(others, 3, replace=False)]
        out.append({"question": [p for p in g["product_id"] if p != blank["product_id"]],
                    "answers": [str(a) for a in answers], "correct": 0})
    return out


def test_mango_slice_end_to_end(tmp_path, capsys):
    src = mango_slice(tmp_path / "mango")
    ws = Workspace.at(tmp_path / "ws")
    report = import_outfits(ws, src)
    assert report.outfits >= 0.95 * N_OUTFITS and report.products > N_OUTFITS
    cat = read_catalogue(ws.catalogue_csv)
    assert cat["product_id"].is_unique and (cat["source"] == "outfits").all()
    assert (cat["group_id"] == cat["product_id"].str.split("-").str[0]).all()

    build = build_workspace(ws, BuildConfig(methods=("triplet-category",), backbone="tiny-cnn", epochs=1,
                                            evaluate=False), say=lambda m: None)
    assert [s["step"] for s in build.steps] == ["dataset", "features", "train triplet-category",
                                                 "train outfit model", "index triplet-category"]
    cleanup = json.loads((ws.data_dir / "cleanup_report.json").read_text())
    mono = next(r for r in cleanup["rules"] if r["name"] == "monochrome")
    assert mono["outfits_removed"] < 0.10 * cleanup["outfits_in"]          # the product's own colour, not the
    assert mono["by_source"].get("outfits", 0) == mono["outfits_removed"]  # background's
    assert cleanup["outfits_out"] >= 0.85 * cleanup["outfits_in"]

    items = read_items(ws.items_csv)
    qs = fitb_questions(items, np.random.default_rng(0))
    qs.append({"question": ["00000000-00", qs[0]["question"][0]], "answers": qs[0]["answers"], "correct": 0})
    path = tmp_path / "fitb.json"
    path.write_text(json.dumps(qs))
    assert main(["--workspace", str(ws.root), "--quiet", "evaluate", "--fitb", str(path), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)["methods"]["triplet-category"]
    assert r["n_scored"] == len(qs) - 1 and r["n_skipped"] == 1 and 0.0 <= r["accuracy"] <= 1.0
    assert r["ci_low"] <= r["accuracy"] <= r["ci_high"]
