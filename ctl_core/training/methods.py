"""The five training methods of Table 4 as data: one ``MethodSpec`` per name in ``ctl_core.config.METHODS``.

A spec says everything that differs between methods, so the training step (ctl_core.training.train) and the
loss factory (ctl_core.training.losses.make_style_loss) read it instead of testing method names:

- ``loss``: ``"proxy-softmax"`` (SampledProxySoftmaxLoss), ``"contrastive"`` (HeterogeneousContrastiveLoss) or
  ``"triplet"`` (PML TripletMarginLoss).
- ``miner``: what picks the loss's inputs from a batch: ``"proxies"`` (ProxySampler: the outfits scored against),
  ``"pairs"`` (HeterogeneousPairMiner: heterogeneous dyads + negatives) or ``"triplets"`` (TripletMiner).
- ``negatives``: ``"proxies"`` (the other sampled outfit proxies), ``"random"`` (a random in-batch item of another
  outfit) or ``"category"`` (an item of the positive's category from another outfit; the batch sampler then
  appends one such item per category).
- ``neg_per_pos``: negatives per positive dyad for the contrastive loss (16 or 1), None otherwise.
- ``margin``: default margin on Euclidean distance of unit vectors (range 0..2): the contrastive loss's negative
  margin, or the triplet margin; unused (0.0) by the proxy softmax.
- ``labels``: ``"outfit-proxy"`` (global outfit codes: the classes of the proxy softmax) or ``"batch-outfit"``
  (outfit codes re-numbered within the batch, for the miners).

All methods share TrainConfig's epochs and learning rate (no per-method defaults).
"""
from __future__ import annotations

from dataclasses import dataclass

from ctl_core.config import METHODS

LOSS_KINDS = ("proxy-softmax", "contrastive", "triplet")
# Each loss kind has one miner and one label kind; the spec still names them so readers need not know the rule.
_MINER_OF_LOSS = {"proxy-softmax": "proxies", "contrastive": "pairs", "triplet": "triplets"}
_LABELS_OF_LOSS = {"proxy-softmax": "outfit-proxy", "contrastive": "batch-outfit", "triplet": "batch-outfit"}
_NEGATIVES_OF_LOSS = {"proxy-softmax": ("proxies",), "contrastive": ("random",), "triplet": ("random", "category")}


class UnknownMethodError(ValueError):
    """A method name that is not one of ctl_core.config.METHODS."""


@dataclass(frozen=True)
class MethodSpec:
    """One Table-4 training method (see the module docstring for the meaning of each field)."""

    name: str
    loss: str
    miner: str
    negatives: str
    margin: float
    labels: str
    neg_per_pos: int | None = None
    summary: str = ""

    def __post_init__(self) -> None:
        if self.loss not in LOSS_KINDS:
            raise ValueError(f"{self.name}: loss must be one of {', '.join(LOSS_KINDS)}, got {self.loss!r}")
        if self.miner != _MINER_OF_LOSS[self.loss] or self.labels != _LABELS_OF_LOSS[self.loss]:
            raise ValueError(f"{self.name}: a {self.loss} loss needs miner {_MINER_OF_LOSS[self.loss]!r} and "
                             f"labels {_LABELS_OF_LOSS[self.loss]!r}, got {self.miner!r} and {self.labels!r}")
        if self.negatives not in _NEGATIVES_OF_LOSS[self.loss]:
            raise ValueError(f"{self.name}: a {self.loss} loss takes negatives "
                             f"{' or '.join(_NEGATIVES_OF_LOSS[self.loss])}, got {self.negatives!r}")
        if (self.neg_per_pos is not None) != (self.miner == "pairs"):
            raise ValueError(f"{self.name}: neg_per_pos is required for the pair miner and only for it")

    @property
    def category_negatives(self) -> bool:
        """Whether the batch sampler adds a same-category item of another outfit for every batch category."""
        return self.negatives == "category"


_SPECS = (
    MethodSpec("classification", loss="proxy-softmax", miner="proxies", negatives="proxies", margin=0.0,
               labels="outfit-proxy", summary="outfit classification: proxy softmax over sampled outfit proxies"),
    MethodSpec("siamese-16to1", loss="contrastive", miner="pairs", negatives="random", margin=1.0,
               labels="batch-outfit", neg_per_pos=16,
               summary="contrastive loss on heterogeneous dyads, 16 random negatives per positive"),
    MethodSpec("siamese-1to1", loss="contrastive", miner="pairs", negatives="random", margin=1.0,
               labels="batch-outfit", neg_per_pos=1,
               summary="contrastive loss on heterogeneous dyads, 1 random negative per positive"),
    MethodSpec("triplet-random", loss="triplet", miner="triplets", negatives="random", margin=0.3,
               labels="batch-outfit", summary="triplet loss, negative a random item of another outfit"),
    MethodSpec("triplet-category", loss="triplet", miner="triplets", negatives="category", margin=0.3,
               labels="batch-outfit",
               summary="triplet loss, negative an item of the positive's category from another outfit"),
)
METHOD_SPECS: dict[str, MethodSpec] = {s.name: s for s in _SPECS}


def get_method(name: str) -> MethodSpec:
    """The spec of method ``name``; ``UnknownMethodError`` (a ValueError) listing the known names otherwise."""
    try:
        return METHOD_SPECS[name]
    except (KeyError, TypeError):
        raise UnknownMethodError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}") from None


__all__ = ["MethodSpec", "METHOD_SPECS", "UnknownMethodError", "get_method", "LOSS_KINDS"]
