"""Re-ranking stage: the outfit model orders each category's ANN candidates given the whole query outfit.

Between full scoring (stage 3: the top ``candidates`` of each complementary category's index, by the pairwise
style distance) and blending (stage 4), ``OutfitReranker.rerank`` runs the outfit model once for all categories
(one sequence per category: the query products' tokens and a MASK token of that category) and scores every
candidate with its key vector (ctl_core.model.outfit). A pool's new order and blending score fuse both models:
``(1 - cos_outfit) + pairwise_weight · d_pairwise`` (lower is better; the default weight scored best on the Mango
validation split, README "Outfit model"), plus the price term already in the pool's score, so the price-aware and
diversity terms keep their meaning. The pairwise distance stays in ``Result.distance``.

The catalogue's keys and tokens are computed once at load from the shared backbone feature cache (a few hundred
milliseconds for 10k products); an uploaded image's tokens come from its backbone features.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ctl_core.config import RERANK_CANDIDATES, RERANK_PAIRWISE_WEIGHT, Workspace
from ctl_core.data.categories import CATEGORY_INDEX
from ctl_core.model.outfit import OutfitTransformer


@dataclass(frozen=True)
class RerankConfig:
    """``enabled``: re-rank with the workspace's outfit model when it has one; ``candidates``: the ANN depth per
    category that the outfit model re-orders (top N by pairwise distance)."""

    enabled: bool = True
    candidates: int = RERANK_CANDIDATES
    pairwise_weight: float = RERANK_PAIRWISE_WEIGHT  # of the pairwise distance in the fused score (0: outfit alone)

    def __post_init__(self) -> None:
        if self.candidates < 1:
            raise ValueError(f"rerank candidates must be >= 1, got {self.candidates}")
        if self.pairwise_weight < 0:
            raise ValueError(f"pairwise_weight must be >= 0, got {self.pairwise_weight}")


class OutfitReranker:
    """The outfit model over a catalogue: product id -> (token, key); ``rerank`` re-orders candidate pools."""

    def __init__(self, model: OutfitTransformer, product_ids: Sequence[str], features: np.ndarray,
                 categories: Sequence[str], backbone: str | None = None):
        self.model = model.eval()
        self.backbone = backbone
        self.row = {str(p): i for i, p in enumerate(product_ids)}
        cats = torch.as_tensor([CATEGORY_INDEX.get(str(c), 0) for c in categories], dtype=torch.long)
        with torch.inference_mode():
            f = torch.as_tensor(np.ascontiguousarray(features, dtype=np.float32))
            self.keys = model.keys(f).numpy() if len(f) else np.zeros((0, model.config.embed_dim), np.float32)
            self.tokens = model.item_tokens(f, cats) if len(f) else torch.zeros(0, model.config.d_model)

    @classmethod
    def load(cls, ws: Workspace, product_ids: Sequence[str], image_paths: Sequence[str],
             categories: Sequence[str], backbone=None) -> "OutfitReranker | None":
        """The workspace's outfit model over the catalogue rows given, or None when no outfit model is trained.
        ``backbone``: the serving model's backbone, reused when the outfit model was trained on the same one."""
        if not ws.outfit_weights_path.exists():
            return None
        from ctl_core.model.backbone import create_backbone
        from ctl_core.model.features import cached_features
        from ctl_core.training.outfit import load_outfit_model

        model, cfg = load_outfit_model(ws)
        if backbone is None or getattr(backbone, "name", None) != cfg["backbone"]:
            backbone = create_backbone(cfg["backbone"], pretrained=True)
        feats, bad = cached_features(ws, backbone, [(p, None) for p in image_paths], skip_bad=True)
        feats = np.asarray(feats, dtype=np.float32)
        feats[bad] = 0.0
        return cls(model, product_ids, feats, categories, backbone=cfg["backbone"])

    def takes_features_of(self, adapter) -> bool:
        """Whether ``adapter``'s backbone features are this outfit model's inputs (the same pretrained backbone);
        an upload is otherwise served without its own token (the categories it lacks still come from it)."""
        bb = getattr(adapter, "backbone", None)
        return bb is not None and getattr(adapter, "use_feature_cache", False) and bb.name == self.backbone

    def query_tokens(self, item_ids: Sequence[str] = (), features: np.ndarray | None = None,
                     categories: Sequence[str] = ()) -> torch.Tensor:
        """Tokens (M, d) of the query: catalogue products by id, plus uploaded items by backbone feature and
        (predicted) category."""
        parts = [self.tokens[[self.row[i] for i in item_ids if i in self.row]]]
        if features is not None and len(features):
            cats = torch.as_tensor([CATEGORY_INDEX.get(str(c), 0) for c in categories], dtype=torch.long)
            with torch.inference_mode():
                parts.append(self.model.item_tokens(torch.as_tensor(np.asarray(features, np.float32)), cats))
        return torch.cat(parts)

    @torch.inference_mode()
    def scores(self, query: torch.Tensor, categories: Sequence[str], candidates: Sequence[Sequence[str]],
               ) -> list[np.ndarray]:
        """Per category, the cosine of each candidate's key with the query vector for that category."""
        if not len(categories):
            return []
        n = len(categories)
        tokens = query.unsqueeze(0).expand(n, -1, -1)
        valid = torch.ones(n, query.shape[0], dtype=torch.bool)
        target = torch.as_tensor([CATEGORY_INDEX[c] for c in categories], dtype=torch.long)
        q = self.model.query_from_tokens(tokens, valid, target).numpy()
        return [self.keys[[self.row[i] for i in ids]] @ q[j] if len(ids) else np.zeros(0)
                for j, ids in enumerate(candidates)]

    def rerank(self, query: torch.Tensor, pools: list, pairwise_weight: float = RERANK_PAIRWISE_WEIGHT) -> float:
        """Re-order each pool (``recommender._Pool``) by the fused score, in place; returns the milliseconds spent."""
        t0 = time.perf_counter()
        known = [p for p in pools if all(i in self.row for i in p.ids)]
        for p, s in zip(known, self.scores(query, [p.category for p in known], [p.ids for p in known])):
            fused = fused_score(s, p.distances, pairwise_weight)
            extra = p.base - p.distances  # the price term already in the base score
            order = np.argsort(fused + extra, kind="stable")
            p.reorder(order, (fused + extra)[order])
        return (time.perf_counter() - t0) * 1e3


def fused_score(outfit_cos: np.ndarray, pairwise_distance: np.ndarray, pairwise_weight: float) -> np.ndarray:
    """Lower is better: ``(1 - cos_outfit) + pairwise_weight · d_pairwise`` (the module docstring)."""
    return (1.0 - np.asarray(outfit_cos, dtype=float)) + pairwise_weight * np.asarray(pairwise_distance, dtype=float)


__all__ = ["OutfitReranker", "RerankConfig"]
