"""The two CTL heads over backbone features (paper sec. 5.1): category classifier and style extractor."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ctl_core.data.categories import NUM_CATEGORIES


@dataclass(frozen=True)
class HeadsConfig:
    in_dim: int
    num_categories: int = NUM_CATEGORIES
    embed_dim: int = 128
    hidden: int = 512
    dropout: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)


class CTLHeads(nn.Module):
    """Category classifier (2 FC layers) and style extractor (2 FC layers, batch norm, dropout, 128-d, unit length)."""

    def __init__(self, config: HeadsConfig):
        super().__init__()
        self.config = config
        c = config
        # Backbones differ wildly in feature scale (EfficientNet's pooled features vs a random tiny CNN's); a
        # shared, non-affine batch norm standardises each feature before both heads (running stats are the
        # cumulative average over every training batch, so they are exact even after a few steps).
        self.input_norm = nn.BatchNorm1d(c.in_dim, affine=False, momentum=None)  # cumulative average: exact stats
        self.category = nn.Sequential(
            nn.Linear(c.in_dim, c.hidden), nn.ReLU(inplace=True), nn.Linear(c.hidden, c.num_categories))
        self.style = nn.Sequential(
            nn.Linear(c.in_dim, c.hidden), nn.BatchNorm1d(c.hidden), nn.ReLU(inplace=True), nn.Dropout(c.dropout),
            nn.Linear(c.hidden, c.embed_dim))

    def classify(self, feats: torch.Tensor) -> torch.Tensor:
        """Category logits, (B, num_categories)."""
        return self.category(self.input_norm(feats))

    def embed(self, feats: torch.Tensor) -> torch.Tensor:
        """L2-normalised style embedding, (B, embed_dim)."""
        return F.normalize(self.style(self.input_norm(feats)), dim=-1)

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.input_norm(feats)
        return self.category(x), F.normalize(self.style(x), dim=-1)
