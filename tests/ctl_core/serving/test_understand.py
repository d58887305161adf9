"""`understand`: query understanding for images and folders (batched), and the product-shot check's person cue."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ctl_core.cli import main
from ctl_core.config import Workspace
from ctl_core.data.categories import CATEGORIES
from ctl_core.data.tables import CATALOGUE_COLUMNS, write_table
from ctl_core.model.backbone import create_backbone
from ctl_core.serving.product_shot import (
    PersonDetector,
    ProductShotScorer,
    fit_person_detector,
    load_person_detector,
    worn_by_person,
)
from ctl_core.serving.understand import UnderstandConfig, UnderstandError, image_paths, understand_images

from .serving_fixtures import fake_adapter, product_image, scene_image

KEYS = {"path", "category", "confidence", "top", "product_shot_score", "is_product_shot", "warning", "error"}
SKIN = (224, 172, 140)


def person_photo(seed: int = 0) -> Image.Image:
    """A model on a white studio background: skin-coloured head and arms, a garment, legs cut by the frame."""
    img = Image.new("RGB", (60, 80), (255, 255, 255))
    img.paste(SKIN, (25, 4, 35, 16))                          # head
    img.paste((30 + seed, 60, 160), (18, 16, 42, 50))         # the garment
    img.paste(SKIN, (12, 18, 18, 46))                         # arms
    img.paste(SKIN, (42, 18, 48, 46))
    img.paste((40, 40, 60), (22, 50, 38, 80))                 # legs, leaving the frame at the bottom
    return img


def flat_shot(seed: int = 0) -> Image.Image:
    """A product alone in the middle of a white background."""
    img = Image.new("RGB", (60, 80), (255, 255, 255))
    img.paste((30 + seed, 60, 160), (15, 20, 45, 60))
    return img


def photo_folder(root):
    (root / "sub").mkdir(parents=True)
    for i, c in enumerate(("Shoes", "Handbags", "Hats")):
        product_image(c, i).save(root / f"{i}_{c}.png")
    scene_image(0).save(root / "sub" / "scene.png")
    (root / "sub" / "broken.jpg").write_bytes(b"not an image")
    (root / "notes.txt").write_text("ignored")
    (root / ".hidden.png").write_bytes(b"ignored")
    return root


def test_understand_folder_batched(tmp_path):
    root = photo_folder(tmp_path / "photos")
    adapter, feat = fake_adapter()
    out = understand_images(adapter, [root], UnderstandConfig(batch_size=2, flip=False))
    assert [o.path.rsplit("/", 1)[-1] for o in out] == ["0_Shoes.png", "1_Handbags.png", "2_Hats.png",
                                                         "broken.jpg", "scene.png"]
    assert [o.category for o in out[:3]] == ["Shoes", "Handbags", "Hats"]
    assert all(o.is_product_shot and o.warning is None and len(o.top) == 3 for o in out[:3])
    assert out[3].error and out[3].category is None                 # the rest still answered
    assert out[4].is_product_shot is False and "product shot" in out[4].warning
    assert feat.seen == 4                                           # every readable image featurized once
    flipped = understand_images(adapter, [root / "0_Shoes.png"], UnderstandConfig(flip=True))
    assert flipped[0].category == "Shoes" and feat.seen == 4 + 2    # the image and its mirror


def test_understand_paths_refused(tmp_path):
    with pytest.raises(UnderstandError, match="no such file"):
        image_paths([tmp_path / "missing.jpg"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnderstandError, match="no image files"):
        image_paths([tmp_path / "empty"])


def test_understand_cli_json(demo_ws_copy, tmp_path, capsys):
    root = photo_folder(tmp_path / "photos")
    args = ["--workspace", str(demo_ws_copy.root), "--quiet", "understand", "--model", "triplet-category"]
    assert main(args + [str(root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out) == 5 and all(set(o) == KEYS for o in out)
    good = [o for o in out if not o["error"]]
    assert len(good) == 4 and all(o["category"] in CATEGORIES and 0 <= o["confidence"] <= 1 for o in good)
    assert all(0 <= o["product_shot_score"] <= 1 for o in good)
    assert main(args + [str(root / "0_Shoes.png")]) == 0
    assert "0_Shoes.png: " in capsys.readouterr().out
    assert main(args + [str(tmp_path / "nothing")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_person_rule_on_drawn_photos():
    assert all(worn_by_person(person_photo(s)) for s in range(3))
    assert not any(worn_by_person(flat_shot(s)) for s in range(3))


def test_scorer_multiplies_border_by_no_person():
    det = PersonDetector("fp", np.zeros(2), np.ones(2), np.array([4.0, 0.0]), 0.0, {}, {})
    scorer = ProductShotScorer(det)
    imgs = [flat_shot(), flat_shot()]
    s = scorer.score(imgs, np.array([[-3.0, 0.0], [3.0, 0.0]]))       # p(person) ~0 and ~1
    border = ProductShotScorer().score(imgs, np.zeros((2, 2)))
    assert s[0] == pytest.approx(border[0], abs=1e-4) and s[1] < 0.01
    assert PersonDetector.from_dict(json.loads(json.dumps(det.to_dict()))).probability(np.ones((1, 2)))[0] == \
        pytest.approx(det.probability(np.ones((1, 2)))[0])


def test_fit_person_detector_on_a_tiny_workspace(tmp_path):
    ws = Workspace.at(tmp_path / "ws").ensure()
    img_dir = tmp_path / "img"
    img_dir.mkdir()
    rows, examples = [], []
    for i in range(12):
        flat_shot(i).save(img_dir / f"shot{i}.png")
        rows.append({"product_id": f"s{i}", "category": "Shirts & Tops", "image_path": str(img_dir / f"shot{i}.png"),
                     "source": "outfits", "is_product_shot": True})
        (person_photo if i % 2 else flat_shot)(i).save(img_dir / f"ex{i}.png")
        examples.append({"product_id": f"e{i}", "category": "Shirts & Tops", "image_path": str(img_dir / f"ex{i}.png"),
                         "source": "folder"})
    write_table(pd.DataFrame(rows, columns=CATALOGUE_COLUMNS), ws.catalogue_csv, CATALOGUE_COLUMNS)
    write_table(pd.DataFrame(examples, columns=CATALOGUE_COLUMNS), ws.category_examples_csv, CATALOGUE_COLUMNS)
    bb = create_backbone("tiny-cnn", pretrained=False)
    assert load_person_detector(ws, bb) is None
    det = fit_person_detector(ws, bb)
    assert det is not None and det.counts["positives"] >= 1 and det.counts["negatives"] >= 12
    assert load_person_detector(ws, bb) is not None                  # stored, and current
    assert ProductShotScorer.load(ws, bb).detector is not None
    write_table(pd.DataFrame(rows[:6], columns=CATALOGUE_COLUMNS), ws.catalogue_csv, CATALOGUE_COLUMNS)
    assert load_person_detector(ws, bb) is None                      # the catalogue changed: stale
    assert ProductShotScorer.load(ws, None).detector is None         # no backbone (custom adapter): border only


def test_catalogue_inference_scores_worn_photos_with_the_person_detector(tmp_path):
    """Catalogue inference scores min(border score, 1 - p(person)) once a detector is fitted, records which
    detector it used, and scores everything again when that detector changes (here: removed)."""
    import torch

    from ctl_core.images import load_image, product_shot_score
    from ctl_core.model.ctl_model import CTLModel
    from ctl_core.model.heads import CTLHeads, HeadsConfig
    from ctl_core.serving.adapter import ModelAdapter
    from ctl_core.serving.catalogue import infer_catalogue, load_catalogue_inference

    ws = Workspace.at(tmp_path / "ws").ensure()
    img_dir = ws.root / "img"
    img_dir.mkdir()
    rows, examples = [], []
    for i in range(12):
        for kind, draw in (("shot", flat_shot), ("worn", person_photo)):
            draw(i).save(img_dir / f"{kind}{i}.png")
        rows.append({"product_id": f"s{i}", "category": "Shirts & Tops", "image_path": f"img/shot{i}.png",
                     "source": "outfits", "is_product_shot": True})
        examples.append({"product_id": f"e{i}", "category": "Shirts & Tops", "image_path": f"img/worn{i}.png",
                         "source": "folder"})
    rows += [{"product_id": "w0", "category": "Shirts & Tops", "image_path": "img/worn0.png", "source": "outfits",
              "is_product_shot": False}]
    write_table(pd.DataFrame(rows, columns=CATALOGUE_COLUMNS), ws.catalogue_csv, CATALOGUE_COLUMNS)
    write_table(pd.DataFrame(examples, columns=CATALOGUE_COLUMNS), ws.category_examples_csv, CATALOGUE_COLUMNS)
    bb = create_backbone("tiny-cnn", pretrained=False)
    torch.manual_seed(0)
    adapter = ModelAdapter.from_model(CTLModel(bb, CTLHeads(HeadsConfig(in_dim=bb.num_features, embed_dim=8))))
    adapter.backbone = bb  # the detector and the feature cache are keyed by the backbone as built, not the copy
    det = fit_person_detector(ws, bb)
    assert det is not None

    preds = infer_catalogue(ws, "m", adapter=adapter).set_index("product_id")
    border = {pid: product_shot_score(load_image(ws.abs(f"img/{'worn0' if pid == 'w0' else 'shot' + pid[1:]}.png")))
              for pid in preds.index}
    assert (preds["product_shot_score"] <= pd.Series(border) + 1e-9).all()
    assert preds.at["w0", "product_shot_score"] < 0.5 * border["w0"]        # worn: p(person) high
    assert preds.loc[[f"s{i}" for i in range(12)], "product_shot_score"].min() > 0.5 * min(border.values())
    fingerprint = ProductShotScorer.load(ws, bb).fingerprint
    assert load_catalogue_inference(ws, "m")[2]["person_detector"] == fingerprint is not None

    ws.person_detector_path.unlink()                                   # no detector any more: border scores only
    again = infer_catalogue(ws, "m", adapter=adapter).set_index("product_id")
    assert np.allclose(again["product_shot_score"], pd.Series(border)[again.index])
    assert load_catalogue_inference(ws, "m")[2]["person_detector"] is None
