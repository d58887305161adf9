"""Style losses: scalar output, hand-computed values, gradients to the heads, and learning on a separable toy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ctl_core.config import METHODS
from ctl_core.model.heads import CTLHeads, HeadsConfig
from ctl_core.training.losses import HeterogeneousContrastiveLoss, SampledProxySoftmaxLoss, make_style_loss
from ctl_core.training.samplers import encode_labels
from ctl_core.training.train import TrainConfig, _Step


def test_proxy_loss_scalar_grads_and_proxy_check():
    torch.manual_seed(0)
    loss_fn = SampledProxySoftmaxLoss(num_classes=10, embedding_size=8)
    emb = torch.randn(4, 8, requires_grad=True)
    loss = loss_fn(emb, torch.tensor([1, 1, 3, 7]), torch.tensor([7, 1, 3, 5]))
    assert loss.ndim == 0 and loss.item() > 0
    loss.backward()
    assert emb.grad.abs().sum() > 0
    assert loss_fn.proxies.grad[[1, 3, 5, 7]].abs().sum() > 0
    assert loss_fn.proxies.grad[[0, 2, 4, 6, 8, 9]].abs().sum() == 0, "unsampled proxies get no gradient"
    with pytest.raises(AssertionError, match="among the sampled proxies"):
        loss_fn(emb, torch.tensor([1, 1, 3, 8]), torch.tensor([7, 1, 3, 5]))


def test_proxy_loss_is_cross_entropy_over_sampled_proxies():
    loss_fn = SampledProxySoftmaxLoss(num_classes=3, embedding_size=2, temperature=0.5)
    with torch.no_grad():
        loss_fn.proxies.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
    emb = torch.tensor([[2.0, 0.0]])
    got = loss_fn(emb, torch.tensor([0]), torch.tensor([0, 1])).item()
    # cosines 1 and 0, / 0.5 -> logits 2 and 0
    assert got == pytest.approx(-np.log(np.exp(2) / (np.exp(2) + 1)), rel=1e-5)


def test_contrastive_loss_hand_computed_and_ratio_weighted_jointly():
    loss_fn = HeterogeneousContrastiveLoss(pos_margin=0.0, neg_margin=1.0)
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    # positive (0,1): d = sqrt2 -> 2.0; negative (0,2): d = 0 -> (1-0)^2 = 1; negative (0,1): d = sqrt2 -> 0
    pairs = tuple(torch.tensor(x) for x in ([0], [1], [0, 0], [2, 1]))
    assert loss_fn(emb, None, pairs).item() == pytest.approx((2.0 + 1.0 + 0.0) / 3)
    perfect = tuple(torch.tensor(x) for x in ([0], [2], [0], [1]))
    assert loss_fn(emb, None, perfect).item() == pytest.approx(0.0, abs=1e-6)


def test_triplet_loss_from_factory_is_pml_and_scalar():
    loss_fn = make_style_loss("triplet-random", num_outfits=5, embedding_size=2, margin=0.3)
    emb = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    easy = loss_fn(emb, torch.tensor([0, 0, 1]), (torch.tensor([0]), torch.tensor([1]), torch.tensor([2])))
    assert easy.ndim == 0 and easy.item() == pytest.approx(0.0, abs=1e-6)
    hard = loss_fn(emb, torch.tensor([0, 0, 1]), (torch.tensor([0]), torch.tensor([2]), torch.tensor([1])))
    assert hard.item() == pytest.approx(2 ** 0.5 + 0.3, rel=1e-4)


def _toy(n_outfits: int = 24, dim: int = 32, seed: int = 0):
    """Outfit items = the outfit's own direction + category direction + small noise (separable by outfit)."""
    rng = np.random.default_rng(seed)
    themes, cats_v = rng.normal(size=(n_outfits, dim)), rng.normal(size=(21, dim))
    feats, outs, cats = [], [], []
    for o in range(n_outfits):
        for c in rng.choice(21, size=4, replace=False):
            feats.append(2 * themes[o] + cats_v[c] + 0.1 * rng.normal(size=dim))
            outs.append(o)
            cats.append(c)
    return torch.tensor(np.array(feats), dtype=torch.float32), np.array(outs), np.array(cats)


@pytest.mark.parametrize("method", METHODS)
def test_each_method_loss_decreases_and_reaches_the_heads(method):
    torch.manual_seed(0)
    feats, outs, cats = _toy()
    config = TrainConfig(method=method, batch_size=32, items_per_outfit=4)
    heads = CTLHeads(HeadsConfig(in_dim=feats.shape[1], embed_dim=8, hidden=32, dropout=0.0))
    step = _Step(config, encode_labels(outs)[0], cats, 8)
    opt = torch.optim.Adam(list(heads.parameters()) + list(step.loss.parameters()), lr=1e-2)
    losses = []
    for epoch in range(15):
        total = 0.0
        for batch in step.sampler:
            loss = step.style_loss(heads.embed(feats[batch]), batch)
            assert loss.ndim == 0
            opt.zero_grad()
            loss.backward()
            if epoch == 0 and not losses:
                assert heads.style[0].weight.grad.abs().sum() > 0, "the style loss must reach the style head"
            opt.step()
            total += loss.item()
        losses.append(total)
    assert losses[-1] < 0.6 * losses[0], f"{method}: loss did not decrease: {losses[0]:.3f} -> {losses[-1]:.3f}"
