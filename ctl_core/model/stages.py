"""A backbone cut into stages, for fine-tuning only its last stages (issue 18: features adapted on a CPU).

``backbone_stages(backbone)`` lists the body's stages in forward order and its pooling head:
  * EfficientNet-Lite (timm): the stem (``conv_stem`` + ``bn1``), then the 7 block stages ``blocks[0..6]``
    (8 stages); the head is ``conv_head`` + ``bn2`` + global average pool (the 1x1 conv to 1280 channels is part
    of the head, so it is trained whenever any stage is).
    Lite0 stage inputs at 224 px: stage 7 (``blocks[6]``) takes 192 x 7 x 7, stage 6 (``blocks[5]``) 112 x 14 x 14.
  * ResNet-50 (torchvision): the stem (conv1, bn1, relu, maxpool), ``layer1..4``; head: average pool.
  * tiny-cnn: its three conv-bn-relu blocks; head: spatial mean.

``frozen_input(backbone, images, k)`` runs the frozen part (every stage but the last ``k``) and returns what the
trainable part takes; ``TrainableTop(backbone, k)`` is the last ``k`` stages plus the head as a module that SHARES
its parameters with ``backbone`` (training it fine-tunes the backbone in place, so the backbone's own state_dict is
what a run saves). ``top(frozen_input(bb, x, k)) == bb.forward_features(x)`` for every ``k``; with ``k`` equal to
``num_stages(backbone)`` the frozen part is the identity (the input is the image: end-to-end fine-tuning).

Stages are found on the module structure, so they work on ``inference_copy`` (batch norm folded) too.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ctl_core.model.backbone import Backbone, BackboneError, TinyCNN, _TimmPooled, _TorchvisionResNetPooled


@dataclass
class Stages:
    """The body's stages in forward order and the head (stage output -> pooled (B, D) features)."""

    stages: list[nn.Module]
    head: list[nn.Module]  # applied in order; the last one pools to (B, D)


class _SpatialMean(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class _AvgPoolFlat(nn.Module):
    def __init__(self, pool: nn.Module):
        super().__init__()
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(x), 1)


def backbone_stages(backbone: Backbone) -> Stages:
    """Stages and head of ``backbone``'s body (see the module docstring); ``BackboneError`` for another body."""
    body = getattr(backbone.body, "_orig_mod", backbone.body)
    if isinstance(body, _TimmPooled) and all(hasattr(body.model, a) for a in ("conv_stem", "blocks", "conv_head")):
        m = body.model
        return Stages([nn.Sequential(m.conv_stem, m.bn1), *m.blocks], [m.conv_head, m.bn2, m.global_pool])
    if isinstance(body, _TorchvisionResNetPooled):
        m = body.model
        return Stages([nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool), m.layer1, m.layer2, m.layer3, m.layer4],
                      [_AvgPoolFlat(m.avgpool)])
    if isinstance(body, TinyCNN):
        f = body.features
        return Stages([f[i:i + 3] for i in range(0, len(f), 3)], [_SpatialMean()])
    raise BackboneError(f"backbone {backbone.name!r} ({type(body).__name__}) cannot be cut into stages")


def num_stages(backbone: Backbone) -> int:
    """How many stages ``backbone`` has (Lite0: 8, the stem included)."""
    return len(backbone_stages(backbone).stages)


def check_trainable_stages(backbone: Backbone, k: int) -> None:
    """``ValueError`` unless 0 <= k <= num_stages(backbone)."""
    n = num_stages(backbone)
    if not 0 <= k <= n:
        raise ValueError(f"trainable_stages must be in 0..{n} for backbone {backbone.name!r}, got {k}")


def frozen_input(backbone: Backbone, images: torch.Tensor, k: int) -> torch.Tensor:
    """Images (B, 3, S, S), normalised -> the input of the last ``k`` stages (the output of the last stage for
    ``k`` = 0: what the head alone takes; the images themselves for ``k`` = num_stages)."""
    check_trainable_stages(backbone, k)
    stages = backbone_stages(backbone).stages
    if backbone.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    x = images
    for stage in stages[:len(stages) - k]:
        x = stage(x)
    return x


class TrainableTop(nn.Module):
    """The last ``k`` stages of ``backbone`` plus its head, sharing parameters with ``backbone``."""

    def __init__(self, backbone: Backbone, k: int):
        super().__init__()
        check_trainable_stages(backbone, k)
        parts = backbone_stages(backbone)
        self.k = k
        self.stages = nn.Sequential(*parts.stages[len(parts.stages) - k:])
        self.head = nn.Sequential(*parts.head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Stage input (B, C, h, w) -> pooled features (B, D)."""
        return self.head(self.stages(x))


__all__ = ["Stages", "TrainableTop", "backbone_stages", "check_trainable_stages", "frozen_input", "num_stages"]
