"""Extra category examples teach the category head (never the held-out share) on tiny arrays and a tiny workspace."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from PIL import Image

from ctl_core.config import Workspace
from ctl_core.data.categories import CATEGORY_INDEX
from ctl_core.data.tables import CATALOGUE_COLUMNS, write_table
from ctl_core.model.backbone import create_backbone
from ctl_core.training.category_examples import (
    HOLDOUT_FRACTION,
    CategoryExampleLoss,
    held_out_examples,
    is_held_out,
    training_examples,
)
from ctl_core.training.train import TrainConfig, train_heads


def _outfit_data(rng, n_outfits=24, dim=16):
    """Outfits of Shoes + Handbags items; features cluster by category in dims 0 and 1."""
    feats, outfits, cats = [], [], []
    for o in range(n_outfits):
        for c, d in (("Shoes", 0), ("Handbags", 1)):
            for _ in range(2):
                x = rng.normal(0, 0.1, dim)
                x[d] += 3.0
                feats.append(x)
                outfits.append(o)
                cats.append(c)
    return np.array(feats, np.float32), np.array(outfits), np.array(cats)


def test_examples_teach_a_category_the_outfits_never_show():
    rng = np.random.default_rng(0)
    feats, outfits, cats = _outfit_data(rng)
    ex = rng.normal(0, 0.1, (40, feats.shape[1])).astype(np.float32)
    ex[:, 2] += 3.0                                              # a third look: watches, only in the examples
    ex_cats = np.full(40, CATEGORY_INDEX["Watches"])
    config = TrainConfig(method="triplet-random", epochs=8, batch_size=16, items_per_outfit=4, category_batch=16,
                         device="cpu")
    probe = torch.as_tensor(ex[:8])
    plain, _ = train_heads(feats, outfits, cats, config)
    taught, curves = train_heads(feats, outfits, cats, config, category_examples=(ex, ex_cats))
    watches = CATEGORY_INDEX["Watches"]
    with torch.no_grad():
        assert (plain.classify(probe).argmax(1) != watches).all()
        assert (taught.classify(probe).argmax(1) == watches).all()
        shoes = torch.as_tensor(feats[cats == "Shoes"][:8])
        assert (taught.classify(shoes).argmax(1) == CATEGORY_INDEX["Shoes"]).all()   # outfit categories kept
    assert np.isfinite(curves["category_loss"]).all()
    off, _ = train_heads(feats, outfits, cats, TrainConfig(**{**config.__dict__, "category_batch": 0}),
                         category_examples=(ex, ex_cats))
    with torch.no_grad():                                        # category_batch=0: examples unused
        assert torch.equal(off.classify(probe), plain.classify(probe))


def test_example_loss_balances_categories():
    feats = np.zeros((101, 4), np.float32)
    cats = np.array([0] * 100 + [5])
    loss = CategoryExampleLoss(feats, cats, batch_size=2000, seed=0, device=torch.device("cpu"))
    drawn = loss.rng.choice(len(loss.p), size=4000, p=loss.p)
    assert 0.4 < (cats[drawn] == 5).mean() < 0.6                  # the lone example weighs as much as the 100


def test_held_out_split_is_stable_and_about_a_fifth():
    ids = [f"p{i}" for i in range(2000)]
    mask = is_held_out(ids)
    assert abs(mask.mean() - HOLDOUT_FRACTION) < 0.03
    assert (is_held_out(list(reversed(ids))) == mask[::-1]).all()  # per id, whatever the order or company
    assert (is_held_out(ids[:50]) == mask[:50]).all()


def test_training_examples_leave_the_held_out_share_out(tmp_path):
    ws = Workspace.at(tmp_path / "ws").ensure()
    rows = []
    for i in range(30):
        path = tmp_path / "img" / f"{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (24, 32), (10 * i, 80, 120)).save(path)
        rows.append({"product_id": f"x{i}", "category": "Watches" if i % 2 else "Ties", "image_path": str(path),
                     "source": "folder"})
    write_table(pd.DataFrame(rows, columns=CATALOGUE_COLUMNS), ws.category_examples_csv, CATALOGUE_COLUMNS)
    bb = create_backbone("tiny-cnn", pretrained=False)
    feats, cats = training_examples(ws, bb)
    held = held_out_examples(ws)
    assert len(feats) == len(cats) == 30 - len(held) and feats.shape[1] == bb.num_features
    assert set(cats) <= {CATEGORY_INDEX["Watches"], CATEGORY_INDEX["Ties"]}
    assert training_examples(Workspace.at(tmp_path / "empty"), bb) is None
