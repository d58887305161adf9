"""Style losses for the five training methods. A loss never samples: it consumes what a miner/sampler chose.

Which loss a method uses is its spec's ``loss`` kind (ctl_core.training.methods); ``make_style_loss`` builds it.

Each loss is an ``nn.Module`` with ``forward(embeddings, labels, indices_tuple=None)`` returning a scalar.
- classification: ``SampledProxySoftmaxLoss`` — NormalizedSoftmax (cosine to a learned proxy per outfit, divided by a
  temperature, cross-entropy) over the sampled subset of proxies given as ``indices_tuple``. PML's
  NormalizedSoftmaxLoss / ProxyNCALoss always score every proxy, so the 2048-proxy subset is ours.
- siamese: ``HeterogeneousContrastiveLoss`` — contrastive loss on Euclidean distance of L2-normalised embeddings,
  averaged over positives and negatives *together*. PML's ContrastiveLoss reduces positive and negative pairs
  separately (each averaged on its own), which would cancel the 16:1 vs 1:1 ratio that Table 4 compares.
- triplets: PML's ``TripletMarginLoss`` (Euclidean distance of normalised embeddings).
"""
from __future__ import annotations

import torch
from pytorch_metric_learning.losses import TripletMarginLoss
from torch import nn
from torch.nn import functional as F

from ctl_core.training.methods import MethodSpec, get_method

__all__ = ["SampledProxySoftmaxLoss", "HeterogeneousContrastiveLoss", "TripletMarginLoss", "make_style_loss"]


class SampledProxySoftmaxLoss(nn.Module):
    """Cross-entropy of cosine(embedding, proxy) / temperature over a sampled subset of class proxies.

    ``labels`` are class (outfit) codes; ``indices_tuple`` is a 1-D tensor of the proxy codes to score (it must
    contain every label); ``None`` scores all proxies.
    """

    def __init__(self, num_classes: int, embedding_size: int, temperature: float = 0.05):
        super().__init__()
        assert temperature > 0, f"temperature must be positive, got {temperature}"
        self.temperature = temperature
        self.proxies = nn.Parameter(torch.randn(num_classes, embedding_size) / embedding_size ** 0.5)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor,
                indices_tuple: torch.Tensor | None = None) -> torch.Tensor:
        labels = labels.to(embeddings.device).long()
        if indices_tuple is None:
            ids = torch.arange(self.proxies.shape[0], device=embeddings.device)
        else:
            ids = torch.as_tensor(indices_tuple, device=embeddings.device).long()
        ids, _ = torch.sort(ids)
        pos = torch.searchsorted(ids, labels).clamp(max=len(ids) - 1)
        assert bool((ids[pos] == labels).all()), "every label's proxy must be among the sampled proxies"
        logits = F.normalize(embeddings.float(), dim=-1) @ F.normalize(self.proxies[ids].float(), dim=-1).T
        return F.cross_entropy(logits / self.temperature, pos)


class HeterogeneousContrastiveLoss(nn.Module):
    """Hadsell-style contrastive loss: mean over all pairs of relu(d - pos_margin)^2 (positives) and
    relu(neg_margin - d)^2 (negatives), d = Euclidean distance of L2-normalised embeddings.

    ``indices_tuple`` is (a1, p, a2, n) batch positions, as from ``HeterogeneousPairMiner``.
    """

    def __init__(self, pos_margin: float = 0.0, neg_margin: float = 1.0):
        super().__init__()
        assert 0 <= pos_margin < neg_margin <= 2, (
            f"need 0 <= pos_margin < neg_margin <= 2 (unit vectors), got {pos_margin} and {neg_margin}")
        self.pos_margin, self.neg_margin = pos_margin, neg_margin

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor | None = None,
                indices_tuple: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
        assert indices_tuple is not None and len(indices_tuple) == 4, "need mined pairs (a1, p, a2, n)"
        a1, p, a2, n = (torch.as_tensor(t, device=embeddings.device).long() for t in indices_tuple)
        e = F.normalize(embeddings.float(), dim=-1)
        d_pos = (e[a1] - e[p]).pow(2).sum(-1).clamp_min(1e-12).sqrt()
        d_neg = (e[a2] - e[n]).pow(2).sum(-1).clamp_min(1e-12).sqrt()
        total = F.relu(d_pos - self.pos_margin).pow(2).sum() + F.relu(self.neg_margin - d_neg).pow(2).sum()
        count = len(a1) + len(a2)
        return total / count if count else embeddings.sum() * 0.0


def make_style_loss(method: str | MethodSpec, num_outfits: int, embedding_size: int, margin: float,
                    temperature: float = 0.05) -> nn.Module:
    """The style loss of ``method`` (a name in ctl_core.config.METHODS, or its spec): the spec's ``loss`` kind."""
    spec = method if isinstance(method, MethodSpec) else get_method(method)
    if spec.loss == "proxy-softmax":
        return SampledProxySoftmaxLoss(num_outfits, embedding_size, temperature)
    if spec.loss == "contrastive":
        return HeterogeneousContrastiveLoss(pos_margin=0.0, neg_margin=margin)
    return TripletMarginLoss(margin=margin)  # spec.loss == "triplet" (MethodSpec admits no other kind)
