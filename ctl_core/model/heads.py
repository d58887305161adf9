"""The two CTL heads over backbone features (paper sec. 5.1): category classifier and style extractor.

Optional side input (``HeadsConfig.metadata``): the product's own metadata (type, colour, fabric codes, see
ctl_core.data.metadata), one learned embedding per field, concatenated to the (normalised) backbone feature in
front of the style extractor only — the category head stays image-only, so an uploaded photo is classified as
before. Code 0 is the learned "unknown" token: what an uploaded photo (``meta=None``) and an unseen value get.
``meta_dropout`` hides an item's whole metadata (all fields -> unknown) with that probability during training, so
the style head also learns to place an image that comes without any.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from ctl_core.data.categories import NUM_CATEGORIES
from ctl_core.data.metadata import MetadataVocab


@dataclass(frozen=True)
class HeadsConfig:
    in_dim: int
    num_categories: int = NUM_CATEGORIES
    embed_dim: int = 128
    hidden: int = 512
    dropout: float = 0.5
    metadata: MetadataVocab | None = None  # side input to the style head; None = image only (the paper's heads)
    meta_dim: int = 16                     # embedding width per metadata field
    meta_dropout: float = 0.0              # training: probability that an item's metadata is hidden entirely

    def __post_init__(self) -> None:
        if isinstance(self.metadata, dict):  # read back from config.json
            object.__setattr__(self, "metadata", MetadataVocab.from_dict(self.metadata))
        if not 0.0 <= self.meta_dropout <= 1.0:
            raise ValueError(f"meta_dropout must be in [0, 1], got {self.meta_dropout}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["metadata"] = None if self.metadata is None else self.metadata.to_dict()
        return d


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
        sizes = c.metadata.sizes if c.metadata is not None else ()
        self.meta_embed = nn.ModuleList(nn.Embedding(n, c.meta_dim) for n in sizes) if sizes else None
        self.style = nn.Sequential(
            nn.Linear(c.in_dim + len(sizes) * c.meta_dim, c.hidden), nn.BatchNorm1d(c.hidden), nn.ReLU(inplace=True),
            nn.Dropout(c.dropout), nn.Linear(c.hidden, c.embed_dim))

    @property
    def uses_metadata(self) -> bool:
        return self.meta_embed is not None

    def metadata_codes(self, frame: pd.DataFrame | None, n: int | None = None) -> np.ndarray | None:
        """(N, fields) codes of ``frame``'s metadata columns for these heads; None when they take no metadata."""
        return None if self.config.metadata is None else self.config.metadata.encode(frame, n)

    def _style_input(self, x: torch.Tensor, meta: torch.Tensor | np.ndarray | None) -> torch.Tensor:
        if self.meta_embed is None:
            return x
        if meta is None:  # an uploaded photo: every field unknown
            codes = torch.zeros(x.shape[0], len(self.meta_embed), dtype=torch.long, device=x.device)
        else:
            codes = torch.as_tensor(meta, device=x.device).long()
            if codes.shape != (x.shape[0], len(self.meta_embed)):
                raise ValueError(f"metadata codes must be ({x.shape[0]}, {len(self.meta_embed)}), got "
                                 f"{tuple(codes.shape)}")
        if self.training and self.config.meta_dropout > 0:
            keep = torch.rand(codes.shape[0], 1, device=x.device) >= self.config.meta_dropout
            codes = codes * keep
        return torch.cat([x, *(emb(codes[:, j]).to(x.dtype) for j, emb in enumerate(self.meta_embed))], dim=1)

    def classify(self, feats: torch.Tensor) -> torch.Tensor:
        """Category logits, (B, num_categories)."""
        return self.category(self.input_norm(feats))

    def embed(self, feats: torch.Tensor, meta: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
        """L2-normalised style embedding, (B, embed_dim); ``meta``: (B, fields) codes, None = unknown."""
        return F.normalize(self.style(self._style_input(self.input_norm(feats), meta)), dim=-1)

    def forward(self, feats: torch.Tensor, meta: torch.Tensor | np.ndarray | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.input_norm(feats)
        return self.category(x), F.normalize(self.style(self._style_input(x, meta)), dim=-1)
