"""The outfit model: a small set transformer over the items of an outfit (after OutfitTransformer, WACV 2023).

Each item is one token: its backbone feature (standardised, projected to ``d_model``) plus a learned embedding of
its category. There are no positional encodings, so the encoder is permutation-equivariant over the items and
every read-out below is permutation-invariant. Two read-outs:

- ``query(items, target_category)``: a MASK token (a learned vector plus the wanted category's embedding) is put
  beside the items; its output, projected to ``embed_dim`` and L2-normalised, is the "what is missing" vector.
  A candidate's score is the scaled dot product with its ``keys`` vector (a separate projection of its feature).
  This is what answers fill-in-the-blank, re-ranks ANN candidates and completes partial outfits: one forward pass
  per (outfit, category), then one dot product per candidate.
- ``compatibility(items)``: a learned OUTFIT token's output through a linear layer, a logit that the items form a
  real outfit (trained against outfits with one or more items swapped for items of the same category).

The inputs are frozen (or adapted) backbone features, never a style embedding fitted to the same training outfits
(such an embedding memorises them and the set model then leans on it; see DESIGN.md).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ctl_core.data.categories import NUM_CATEGORIES


@dataclass(frozen=True)
class OutfitModelConfig:
    in_dim: int
    num_categories: int = NUM_CATEGORIES
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    ff_mult: int = 4
    dropout: float = 0.1
    embed_dim: int = 128
    init_temperature: float = 0.07

    def to_dict(self) -> dict:
        return asdict(self)


class OutfitTransformer(nn.Module):
    """Set transformer over item tokens; see the module docstring for the two read-outs."""

    def __init__(self, config: OutfitModelConfig):
        super().__init__()
        c = self.config = config
        # Standardise features with statistics of the training items (set once by ``set_feature_stats``).
        self.register_buffer("feat_mean", torch.zeros(c.in_dim))
        self.register_buffer("feat_std", torch.ones(c.in_dim))
        self.item_proj = nn.Sequential(nn.Linear(c.in_dim, c.d_model), nn.GELU(), nn.Dropout(c.dropout),
                                       nn.Linear(c.d_model, c.d_model))
        self.category_emb = nn.Embedding(c.num_categories, c.d_model)
        self.mask_token = nn.Parameter(torch.randn(c.d_model) * 0.02)
        self.outfit_token = nn.Parameter(torch.randn(c.d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(c.d_model, c.n_heads, c.ff_mult * c.d_model, c.dropout, batch_first=True,
                                           norm_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, c.n_layers, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(c.d_model)
        self.query_head = nn.Linear(c.d_model, c.embed_dim)
        self.key_head = nn.Sequential(nn.Linear(c.in_dim, c.d_model), nn.GELU(), nn.Linear(c.d_model, c.embed_dim))
        self.compat_head = nn.Linear(c.d_model, 1)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / c.init_temperature)))

    # ----------------------------------------------------------------------------------------------- inputs
    @torch.no_grad()
    def set_feature_stats(self, features: torch.Tensor) -> None:
        """Standardisation statistics from the training items' features (N, in_dim)."""
        self.feat_mean.copy_(features.float().mean(0))
        self.feat_std.copy_(features.float().std(0).clamp_min(1e-4))

    def _std(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats.float() - self.feat_mean) / self.feat_std

    def item_tokens(self, feats: torch.Tensor, cats: torch.Tensor) -> torch.Tensor:
        """(..., in_dim) features and (...) category indices -> (..., d_model) tokens."""
        return self.item_proj(self._std(feats)) + self.category_emb(cats)

    def keys(self, feats: torch.Tensor) -> torch.Tensor:
        """Candidate vectors (..., embed_dim), unit length: what a query vector is compared with."""
        return F.normalize(self.key_head(self._std(feats)), dim=-1)

    # ----------------------------------------------------------------------------------------------- encoder
    def _encode(self, tokens: torch.Tensor, valid: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        """Encode [extra tokens (B, E, d)] + item tokens (B, M, d) with padding ``~valid`` (B, M); returns the
        outputs of the extra tokens (B, E, d)."""
        x = torch.cat([extra, tokens], dim=1)
        pad = torch.cat([torch.zeros(valid.shape[0], extra.shape[1], dtype=torch.bool, device=valid.device), ~valid],
                        dim=1)
        out = self.encoder(x, src_key_padding_mask=pad)
        return self.out_norm(out[:, :extra.shape[1]])

    def query(self, feats: torch.Tensor, cats: torch.Tensor, valid: torch.Tensor,
              target_cats: torch.Tensor) -> torch.Tensor:
        """(B, M, in_dim) items, (B, M) categories, (B, M) validity, (B,) wanted category -> (B, embed_dim) unit
        query vectors. ``valid`` may be all False for a row (no context: the category prior alone)."""
        return self.query_from_tokens(self.item_tokens(feats, cats), valid, target_cats)

    def query_from_tokens(self, tokens: torch.Tensor, valid: torch.Tensor, target_cats: torch.Tensor) -> torch.Tensor:
        """``query`` over precomputed item tokens (serving keeps each catalogue product's token)."""
        mask = (self.mask_token + self.category_emb(target_cats)).unsqueeze(1)
        return F.normalize(self.query_head(self._encode(tokens, valid, mask)[:, 0]), dim=-1)

    def score(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Scaled similarities: (B, d) x (B, C, d) -> (B, C) logits (higher = completes the outfit better)."""
        return self.logit_scale.exp().clamp(max=100.0) * torch.einsum("bd,bcd->bc", queries, keys)

    def compatibility(self, feats: torch.Tensor, cats: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B,) logits that each set of items is a real outfit."""
        tokens = self.item_tokens(feats, cats)
        out = self._encode(tokens, valid, self.outfit_token.expand(tokens.shape[0], 1, -1))
        return self.compat_head(out[:, 0]).squeeze(-1)


__all__ = ["OutfitModelConfig", "OutfitTransformer"]
