"""The scene-based model (Kang et al.): its run config, the hybrid scene-to-product distance and the learned heads.

Given a SCENE (an outfit collage with one product's box whited out) and a candidate PRODUCT image, the model gives a
compatibility distance (lower = more compatible):

  * global:  ``d_g = ||s - p||²`` between the scene embedding ``s`` and the product embedding ``p``;
  * local:   ``d_l = Σ_i a_i ||r_i - p||²`` over the scene's spatial regions ``r_i`` (a 7x7 grid = 49 regions for
    EfficientNet-Lite0), with attention ``a = softmax_i(score(r_i ⊙ p))`` over regions (``RegionAttention``: a small
    MLP on the element-wise product, i.e. a learned region-vs-product similarity);
  * hybrid:  ``d = (d_g + d_l) / 2``.

All embeddings are ``embed_dim``-d and L2-normalised (so each squared distance lies in [0, 4]). They are linear
projections of FROZEN backbone features, standardised per channel with statistics of the training data: the pooled
feature of the product image and the pre-pooling feature map of the masked scene (``scene.data``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ctl_core.config import DEFAULT_BACKBONE


class SceneError(ValueError):
    """The scene-based model cannot be trained or evaluated on this workspace (the message says why)."""


@dataclass(frozen=True)
class SceneConfig:
    """One scene-based run. ``max_*_scenes`` bound the scenes (and the backbone passes) to keep CPU time small."""

    epochs: int = 15
    batch_size: int = 64
    lr: float = 1e-3
    margin: float = 0.2
    embed_dim: int = 128
    max_train_scenes: int = 4000
    max_test_scenes: int = 500
    seed: int = 0
    backbone: str = DEFAULT_BACKBONE
    weight_decay: float = 1e-4
    attention_hidden: int = 64
    fitb_candidates: int = 4
    corpus_size: int = 200
    ks: tuple[int, ...] = (1, 5, 10)
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.embed_dim < 1:
            raise SceneError(f"epochs, batch_size and embed_dim must be positive, got {self.epochs}, "
                             f"{self.batch_size}, {self.embed_dim}")
        if self.max_train_scenes < 1 or self.max_test_scenes < 1:
            raise SceneError("max_train_scenes and max_test_scenes must be positive")
        if self.fitb_candidates < 2 or self.corpus_size < 2:
            raise SceneError("fitb_candidates and corpus_size must be at least 2")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ks"] = list(self.ks)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SceneConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "ks" in known:
            known["ks"] = tuple(int(k) for k in known["ks"])
        return cls(**known)


# ------------------------------------------------------------------------------------------------ distance

class RegionAttention(nn.Module):
    """Attention over scene regions given a product: ``softmax_i(MLP(r_i ⊙ p))`` → (B, R), rows sum to 1."""

    def __init__(self, embed_dim: int, hidden: int = 64):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(embed_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, regions: torch.Tensor, product: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.score(regions * product.unsqueeze(1)).squeeze(-1), dim=1)


def _sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a - b) ** 2).sum(dim=-1)


def distance_parts(scene_regions: torch.Tensor, scene_global: torch.Tensor, product: torch.Tensor,
                   attention: nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(d_global (B,), d_local (B,), attention weights (B, R))`` for aligned scenes and products."""
    if scene_regions.ndim != 3 or scene_global.ndim != 2 or product.shape != scene_global.shape \
            or scene_regions.shape[0] != product.shape[0] or scene_regions.shape[2] != product.shape[1]:
        raise ValueError(f"expected scene_regions (B, R, d), scene_global (B, d), product (B, d); got "
                         f"{tuple(scene_regions.shape)}, {tuple(scene_global.shape)}, {tuple(product.shape)}")
    d_global = _sq_dist(scene_global, product)
    weights = attention(scene_regions, product)
    d_local = (weights * _sq_dist(scene_regions, product.unsqueeze(1))).sum(dim=1)
    return d_global, d_local, weights


def hybrid_distance(scene_regions: torch.Tensor, scene_global: torch.Tensor, product: torch.Tensor,
                    attention: nn.Module) -> torch.Tensor:
    """Kang et al.'s hybrid scene-product distance ``(d_global + d_local) / 2`` → (B,)."""
    d_global, d_local, _ = distance_parts(scene_regions, scene_global, product, attention)
    return (d_global + d_local) / 2


# ------------------------------------------------------------------------------------------------ heads

class SceneHeads(nn.Module):
    """Learned projections over frozen features: scene regions, scene (global) and product → unit ``embed_dim``-d,
    plus the region attention. Inputs are standardised by buffers set from training data (``set_standardisation``)."""

    def __init__(self, scene_dim: int, product_dim: int, embed_dim: int = 128, attention_hidden: int = 64):
        super().__init__()
        self.scene_dim, self.product_dim, self.embed_dim = scene_dim, product_dim, embed_dim
        self.register_buffer("scene_mean", torch.zeros(scene_dim))
        self.register_buffer("scene_std", torch.ones(scene_dim))
        self.register_buffer("product_mean", torch.zeros(product_dim))
        self.register_buffer("product_std", torch.ones(product_dim))
        self.region = nn.Linear(scene_dim, embed_dim)
        self.scene = nn.Linear(scene_dim, embed_dim)
        self.product = nn.Linear(product_dim, embed_dim)
        self.attention = RegionAttention(embed_dim, attention_hidden)

    def set_standardisation(self, scene_maps: np.ndarray, product_feats: np.ndarray, chunk: int = 256) -> None:
        """Per-channel mean/std of scene maps (N, R, D) over scenes and regions, and of product features (P, D)."""
        s = np.zeros(scene_maps.shape[2]), np.zeros(scene_maps.shape[2])
        n = 0
        for i in range(0, len(scene_maps), chunk):
            x = np.asarray(scene_maps[i:i + chunk], dtype=np.float64).reshape(-1, scene_maps.shape[2])
            s = s[0] + x.sum(0), s[1] + (x ** 2).sum(0)
            n += len(x)
        mean = s[0] / max(n, 1)
        std = np.sqrt(np.maximum(s[1] / max(n, 1) - mean ** 2, 0.0))
        p = np.asarray(product_feats, dtype=np.float64)
        with torch.no_grad():
            self.scene_mean.copy_(torch.as_tensor(mean))
            self.scene_std.copy_(torch.as_tensor(np.maximum(std, 1e-3)))
            self.product_mean.copy_(torch.as_tensor(p.mean(0)))
            self.product_std.copy_(torch.as_tensor(np.maximum(p.std(0), 1e-3)))

    def embed_scene(self, maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scene maps (B, R, D) → (regions (B, R, d), global (B, d)), unit vectors."""
        z = (maps.float() - self.scene_mean) / self.scene_std
        return F.normalize(self.region(z), dim=-1), F.normalize(self.scene(z.mean(dim=1)), dim=-1)

    def embed_product(self, feats: torch.Tensor) -> torch.Tensor:
        """Pooled product features (B, D) → (B, d), unit vectors."""
        return F.normalize(self.product((feats.float() - self.product_mean) / self.product_std), dim=-1)

    def forward(self, maps: torch.Tensor, product_feats: torch.Tensor) -> torch.Tensor:
        """Hybrid distance (B,) between aligned scenes and products."""
        regions, glob = self.embed_scene(maps)
        return hybrid_distance(regions, glob, self.embed_product(product_feats), self.attention)


# ------------------------------------------------------------------------------------------------ scoring

@torch.no_grad()
def candidate_distances(heads: SceneHeads, scene_maps: np.ndarray, product_feats: np.ndarray,
                        candidates: np.ndarray, mode: str = "hybrid", batch: int = 8) -> np.ndarray:
    """Distances (Q, C) from each scene to its candidate products (``candidates`` (Q, C) product indices).

    ``mode``: "hybrid" (the model), "global" (global distance only) or "local" (attention-weighted local only).
    """
    if mode not in ("hybrid", "global", "local"):
        raise ValueError(f"mode must be hybrid, global or local, got {mode!r}")
    heads = heads.eval()
    candidates = np.asarray(candidates, dtype=np.int64)
    prods = heads.embed_product(torch.as_tensor(np.ascontiguousarray(product_feats, dtype=np.float32)))
    out = np.zeros(candidates.shape, np.float64)
    for s in range(0, len(candidates), batch):
        maps = torch.as_tensor(np.asarray(scene_maps[s:s + batch], dtype=np.float32))
        regions, glob = heads.embed_scene(maps)
        q, c = candidates[s:s + batch].shape
        p = prods[torch.as_tensor(candidates[s:s + batch].reshape(-1))]
        r = regions.unsqueeze(1).expand(q, c, *regions.shape[1:]).reshape(q * c, *regions.shape[1:])
        g = glob.unsqueeze(1).expand(q, c, glob.shape[1]).reshape(q * c, -1)
        d_g, d_l, _ = distance_parts(r, g, p, heads.attention)
        d = {"hybrid": (d_g + d_l) / 2, "global": d_g, "local": d_l}[mode]
        out[s:s + q] = d.reshape(q, c).double().numpy()
    return out
