"""The method registry: one spec per config.METHODS name, and the spec (not the name) drives step and loss."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from pytorch_metric_learning.losses import TripletMarginLoss

from ctl_core.config import METHODS
from ctl_core.training import methods
from ctl_core.training.losses import HeterogeneousContrastiveLoss, SampledProxySoftmaxLoss, make_style_loss
from ctl_core.training.methods import METHOD_SPECS, MethodSpec, UnknownMethodError, get_method
from ctl_core.training.samplers import HeterogeneousPairMiner, TripletMiner, encode_labels
from ctl_core.training.train import TrainConfig, TrainingError, _Step

LOSS_CLASS = {"proxy-softmax": SampledProxySoftmaxLoss, "contrastive": HeterogeneousContrastiveLoss,
              "triplet": TripletMarginLoss}


def test_every_method_has_a_spec_and_no_spec_is_extra():
    assert tuple(METHOD_SPECS) == METHODS
    for name in METHODS:
        spec = get_method(name)
        assert isinstance(spec, MethodSpec) and spec.name == name and spec.summary


def test_unknown_method_lists_the_known_names():
    with pytest.raises(UnknownMethodError, match="unknown method 'siamese'") as e:
        get_method("siamese")
    assert all(name in str(e.value) for name in METHODS)
    with pytest.raises(TrainingError, match="unknown method 'siamese'; expected one of classification"):
        TrainConfig(method="siamese")
    with pytest.raises(ValueError, match="unknown method"):
        make_style_loss("siamese", num_outfits=5, embedding_size=2, margin=0.3)


def test_table4_specs():
    assert get_method("triplet-category").negatives == "category" and get_method("triplet-category").category_negatives
    assert get_method("triplet-random").negatives == "random" and not get_method("triplet-random").category_negatives
    assert [get_method(m).neg_per_pos for m in METHODS] == [None, 16, 1, None, None]
    assert [get_method(m).margin for m in METHODS] == [0.0, 1.0, 1.0, 0.3, 0.3]
    assert get_method("classification").labels == "outfit-proxy"
    for m in METHODS:
        assert TrainConfig(method=m, recipe="paper").resolved_margin == get_method(m).margin
        assert TrainConfig(method=m).neg_per_pos == get_method(m).neg_per_pos


def test_recipes_fill_what_is_left_unset():
    from ctl_core.training.train import TrainingError
    paper = TrainConfig(method="triplet-category", recipe="paper")
    assert (paper.epochs, paper.negatives_per_positive, paper.resolved_margin) == (40, 1, 0.3)
    tuned = TrainConfig(method="triplet-category")  # the default recipe: validated
    assert (tuned.recipe, tuned.epochs, tuned.negatives_per_positive, tuned.resolved_margin) == ("validated", 80, 32,
                                                                                                   0.2)
    assert TrainConfig(method="triplet-category", epochs=5, margin=0.5).epochs == 5  # explicit values win
    assert TrainConfig(method="triplet-category", epochs=5, margin=0.5).resolved_margin == 0.5
    assert TrainConfig(method="siamese-16to1").epochs == 40  # not tuned: the paper's settings under both names
    assert TrainConfig.from_dict(tuned.to_dict()) == tuned
    assert TrainConfig(method="triplet-category").to_dict()["recipe"] == "validated"
    with pytest.raises(TrainingError, match="unknown recipe"):
        TrainConfig(recipe="fast")


def test_inconsistent_specs_are_refused():
    with pytest.raises(ValueError, match="miner"):
        MethodSpec("x", loss="triplet", miner="pairs", negatives="random", margin=0.3, labels="batch-outfit")
    with pytest.raises(ValueError, match="negatives"):
        MethodSpec("x", loss="contrastive", miner="pairs", negatives="category", margin=1.0, labels="batch-outfit",
                   neg_per_pos=1)
    with pytest.raises(ValueError, match="neg_per_pos"):
        MethodSpec("x", loss="contrastive", miner="pairs", negatives="random", margin=1.0, labels="batch-outfit")
    with pytest.raises(ValueError, match="loss must be one of"):
        MethodSpec("x", loss="arcface", miner="proxies", negatives="proxies", margin=0.0, labels="outfit-proxy")


def _labels(n_outfits: int = 12):
    rng = np.random.default_rng(0)
    outfits = np.repeat(np.arange(n_outfits), 4)
    cats = np.concatenate([rng.choice(21, size=4, replace=False) for _ in range(n_outfits)])
    return encode_labels(outfits)[0], cats


@pytest.mark.parametrize("method", METHODS)
def test_the_spec_drives_step_and_loss(method):
    spec = get_method(method)
    step = _Step(TrainConfig(method=method, batch_size=16, recipe="paper"), *_labels(), embed_dim=8)
    assert isinstance(step.loss, LOSS_CLASS[spec.loss])
    assert isinstance(make_style_loss(method, 12, 8, spec.margin), LOSS_CLASS[spec.loss])
    assert step.sampler.category_negatives == spec.category_negatives
    if spec.miner == "proxies":
        assert hasattr(step, "proxies") and not hasattr(step, "miner")
    elif spec.miner == "pairs":
        assert isinstance(step.miner, HeterogeneousPairMiner) and step.miner.neg_per_pos == spec.neg_per_pos
        assert step.loss.neg_margin == spec.margin
    else:
        assert isinstance(step.miner, TripletMiner) and step.miner.negatives == spec.negatives
        assert step.loss.margin == spec.margin


def test_changing_a_spec_changes_the_training_step(monkeypatch):
    """Nothing keys on the method name: give triplet-random category negatives and the step follows."""
    monkeypatch.setitem(METHOD_SPECS, "triplet-random", replace(get_method("triplet-random"), negatives="category"))
    step = _Step(TrainConfig(method="triplet-random", batch_size=16), *_labels(), embed_dim=8)
    assert step.sampler.category_negatives and step.miner.negatives == "category"
    monkeypatch.setitem(METHOD_SPECS, "siamese-1to1", replace(get_method("siamese-1to1"), neg_per_pos=4, margin=0.5))
    step = _Step(TrainConfig(method="siamese-1to1", batch_size=16), *_labels(), embed_dim=8)
    assert step.miner.neg_per_pos == 4 and step.loss.neg_margin == 0.5
    assert methods.get_method("siamese-1to1").neg_per_pos == 4
