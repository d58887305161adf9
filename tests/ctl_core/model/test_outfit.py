"""The outfit model (set transformer): shapes, masking, permutation invariance, training on a planted universe."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ctl_core.evaluation.metrics import compat_auc
from ctl_core.evaluation.outfit import OutfitScorer
from ctl_core.evaluation.protocol import EvalConfig, build_compat_questions, build_protocol
from ctl_core.evaluation.table4 import embedding_compat_auc
from ctl_core.model.outfit import OutfitModelConfig, OutfitTransformer
from ctl_core.training.outfit import OutfitTrainConfig, train_outfit_model
from ctl_core.training.train import TrainingError

CATS = ["Shirts & Tops", "Pants", "Shoes", "Handbags", "Jewelry"]


def planted(n_outfits: int, n_styles: int = 6, dim: int = 24, seed: int = 0) -> pd.DataFrame:
    """Outfits of 4-5 items, one per category, all of one latent style; a feature = style code + category code +
    noise, so an item completes an outfit exactly when it shares the outfit's style."""
    rng = np.random.default_rng(seed)
    style_vec = rng.standard_normal((n_styles, dim))
    cat_vec = rng.standard_normal((len(CATS), dim))
    rows = []
    for o in range(n_outfits):
        style = o % n_styles
        for c in rng.choice(len(CATS), size=int(rng.integers(4, 6)), replace=False):
            pid = f"p{style}-{c}-{int(rng.integers(3))}"  # a few products per (style, category), reused
            feat = style_vec[style] + 0.7 * cat_vec[c] + 0.3 * rng.standard_normal(dim)
            rows.append({"item_id": f"i{len(rows)}-{o}", "outfit_id": f"o{o:04d}", "category": CATS[c],
                         "product_id": pid, "feat": feat})
    return pd.DataFrame(rows)


def _model(in_dim: int = 24) -> OutfitTransformer:
    torch.manual_seed(0)
    return OutfitTransformer(OutfitModelConfig(in_dim=in_dim, d_model=32, n_layers=2, n_heads=4, embed_dim=16)).eval()


def test_shapes_and_unit_queries():
    m = _model()
    feats, cats = torch.randn(3, 5, 24), torch.randint(0, 5, (3, 5))
    valid = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.bool)
    q = m.query(feats, cats, valid, torch.tensor([0, 1, 2]))
    assert q.shape == (3, 16)
    assert torch.allclose(q.norm(dim=1), torch.ones(3), atol=1e-5)
    assert m.keys(torch.randn(7, 24)).shape == (7, 16)
    assert m.compatibility(feats, cats, valid).shape == (3,)


def test_padding_is_ignored():
    """Whatever a padded position holds, the query and the outfit score do not change."""
    m = _model()
    feats, cats = torch.randn(1, 4, 24), torch.randint(0, 5, (1, 4))
    valid = torch.tensor([[1, 1, 0, 0]], dtype=torch.bool)
    other = feats.clone()
    other[0, 2:] = torch.randn(2, 24) * 50
    with torch.no_grad():
        assert torch.allclose(m.query(feats, cats, valid, torch.tensor([3])),
                              m.query(other, cats, valid, torch.tensor([3])), atol=1e-5)
        assert torch.allclose(m.compatibility(feats, cats, valid), m.compatibility(other, cats, valid), atol=1e-5)


def test_outfit_score_is_permutation_invariant():
    m = _model()
    feats, cats = torch.randn(2, 6, 24), torch.randint(0, 5, (2, 6))
    valid = torch.ones(2, 6, dtype=torch.bool)
    perm = torch.tensor([4, 2, 5, 0, 3, 1])
    with torch.no_grad():
        assert torch.allclose(m.compatibility(feats, cats, valid),
                              m.compatibility(feats[:, perm], cats[:, perm], valid), atol=1e-5)
        assert torch.allclose(m.query(feats, cats, valid, torch.tensor([1, 2])),
                              m.query(feats[:, perm], cats[:, perm], valid, torch.tensor([1, 2])), atol=1e-5)


def test_the_wanted_category_changes_the_query():
    m = _model()
    feats, cats = torch.randn(1, 3, 24), torch.randint(0, 5, (1, 3))
    valid = torch.ones(1, 3, dtype=torch.bool)
    with torch.no_grad():
        a = m.query(feats, cats, valid, torch.tensor([0]))
        b = m.query(feats, cats, valid, torch.tensor([4]))
    assert not torch.allclose(a, b)


def _arrays(df: pd.DataFrame):
    return np.stack(df["feat"].to_numpy()), df["outfit_id"].to_numpy(), df["category"].to_numpy(), \
        df["product_id"].to_numpy()


def test_training_lowers_the_loss_and_ranks_the_planted_item_first():
    both = planted(300, n_styles=12, seed=0)  # one universe (shared style and category codes), split by outfit
    train, val = both[both["outfit_id"] < "o0240"], both[both["outfit_id"] >= "o0240"].reset_index(drop=True)
    f, o, c, p = _arrays(train)
    vf, vo, vc, vp = _arrays(val)
    config = OutfitTrainConfig(epochs=25, patience=25, batch_outfits=32, negatives=7, d_model=32, lr=3e-3, seed=0)
    model, curves, summary = train_outfit_model(f, o, c, p, config,
                                                val={"features": vf, "outfit_ids": vo, "categories": vc,
                                                     "product_ids": vp})
    assert curves["masked_item_loss"].iloc[-1] < 0.6 * curves["masked_item_loss"].iloc[0]
    assert summary["val_FITB"] >= 0.8          # chance 0.25 (a distractor of the same style is a tie)
    assert summary["val_compat_AUC"] >= 0.75   # chance 0.5
    # a planted compatible item is ranked first among same-category items of other styles
    scorer = OutfitScorer(model, vf, vc)
    first = val[val["outfit_id"] == val["outfit_id"].iloc[0]]
    ctx = first.index.to_numpy()[:-1]
    missing = first.iloc[-1]
    same_cat = val.index[(val["category"] == missing["category"]).to_numpy()].to_numpy()
    q = scorer.queries(ctx[None, :], np.array([scorer.cats[same_cat[0]].item()]))
    scores = (q @ scorer.keys[torch.as_tensor(same_cat)].T).numpy()[0]
    best = val.loc[same_cat[int(np.argmax(scores))]]
    assert best["outfit_id"] == missing["outfit_id"] or best["product_id"].split("-")[0] == \
        missing["product_id"].split("-")[0]


def test_training_is_seeded_and_checks_its_input():
    df = planted(40)
    f, o, c, p = _arrays(df)
    cfg = OutfitTrainConfig(epochs=2, batch_outfits=8, negatives=3, d_model=16, n_heads=2)
    m1, _, _ = train_outfit_model(f, o, c, p, cfg)
    m2, _, _ = train_outfit_model(f, o, c, p, cfg)
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(TrainingError, match="features must be"):
        train_outfit_model(f[:5], o, c, p, cfg)
    with pytest.raises(TrainingError, match="at least 2 outfits"):
        train_outfit_model(f[:1], o[:1], c[:1], p[:1], cfg)


def test_compat_questions_and_auc():
    df = planted(50)
    q = build_compat_questions(df, seed=0)
    assert len(q.labels) == 2 * 50 and q.labels.sum() == 50
    real, fake = q.outfits[:50], q.outfits[50:]
    assert (real != fake).any(axis=1).all()
    cats = df["category"].to_numpy()
    same_cat = np.where(real >= 0, cats[np.maximum(real, 0)], "") == np.where(fake >= 0, cats[np.maximum(fake, 0)], "")
    assert same_cat.all()  # a swap keeps the category
    feats = np.stack(df["feat"].to_numpy())
    assert embedding_compat_auc(feats, q) > 0.9  # planted style: real outfits are tighter
    assert compat_auc(np.array([3.0, 2.0, 1.0, 0.0]), np.array([1, 1, 0, 0])) == 1.0
    assert compat_auc(np.array([0.0, 1.0]), np.array([1, 0])) == 0.0
    assert compat_auc(np.array([1.0, 1.0, 0.0]), np.array([1, 0, 0])) == pytest.approx(0.75)


def test_outfit_scorer_on_the_protocol():
    df = planted(80)
    m = _model()
    protocol = build_protocol(df, EvalConfig(min_outfits=5, corpus_size=50))
    res = OutfitScorer(m, np.stack(df["feat"].to_numpy()), df["category"].to_numpy()).score_protocol(
        protocol, build_compat_questions(df))
    for key in ("R@1", "R@10", "R@10_cat", "FITB", "compat_AUC"):
        assert 0.0 <= res[key] <= 1.0
    assert res["n_fitb"] == 80


def test_popular_fitb_keeps_questions_and_favours_popular_products():
    from ctl_core.evaluation.protocol import popular_fitb, product_popularity
    df = planted(120)
    protocol = build_protocol(df, EvalConfig(min_outfits=5, corpus_size=50))
    pop = product_popularity(df)
    assert pop == df.groupby("product_id")["outfit_id"].nunique().astype(float).to_dict()
    skewed = {p: (1000.0 if p.endswith("-0") else 1.0) for p in pop}  # variant 0 of each (style, category)
    hard = popular_fitb(df, protocol.fitb, skewed, seed=0)
    np.testing.assert_array_equal(hard.questions, protocol.fitb.questions)
    true_rows = protocol.fitb.candidates[np.arange(len(protocol.fitb.correct)), protocol.fitb.correct]
    np.testing.assert_array_equal(hard.candidates[np.arange(len(hard.correct)), hard.correct], true_rows)
    negs = np.array([np.delete(c, k) for c, k in zip(hard.candidates, hard.correct)])
    share = np.mean([df["product_id"].iloc[r].endswith("-0") for r in negs.ravel()])
    assert share > 0.9  # about 1/3 under uniform draws
    cats = df["category"].to_numpy()
    assert (cats[hard.candidates] == cats[true_rows][:, None]).all()
