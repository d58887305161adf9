"""Serving the scene-based model: products of the catalogue that complete an uploaded scene (Kang et al. 2018).

The result is a plain dict (what ``scene recommend --json`` prints and the "Shop a scene" page reads), not the main
recommender's ``Recommendation``: a scene has no query understanding (category, product-shot check) to report.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ctl_core.config import Workspace
from ctl_core.data.tables import read_catalogue
from ctl_core.images import load_image
from ctl_core.model.backbone import create_backbone, inference_copy, normalize_batch, resize_whole
from ctl_core.model.device import pick_device
from ctl_core.model.features import cached_features
from ctl_core.scene.model import distance_parts
from ctl_core.scene.train import load_scene_heads


class SceneRecommender:
    """Products that complete a scene (Kang et al. 2018): every product shot of the catalogue ranked by the trained
    hybrid distance to an uploaded scene (a collage or an outfit photo), top ``k`` per category.

    Exhaustive over the catalogue (a few thousand products: a few ms); the product embeddings are computed once.
    """

    def __init__(self, ws: Workspace, device: str = "cpu"):
        self.heads, self.config = load_scene_heads(ws)
        self.device = pick_device(device)
        self.backbone = create_backbone(self.config.backbone)
        self._bb = inference_copy(self.backbone, channels_last=True).to(self.device)
        catalogue = read_catalogue(ws.catalogue_csv)
        shots = catalogue["is_product_shot"].astype(str).str.lower() != "false"
        self.products = catalogue[shots].reset_index(drop=True)
        feats = cached_features(ws, self.backbone, [(p, None) for p in self.products["image_path"]])
        with torch.inference_mode():
            self._emb = self.heads.embed_product(torch.from_numpy(np.ascontiguousarray(feats, np.float32)))

    def recommend(self, image: Image.Image | bytes | str | Path, k: int = 6,
                  categories: Sequence[str] | None = None) -> dict[str, Any]:
        """``{"per_category": {category: [result, ...]}, "timings_ms": {...}}``, results nearest first; a result has
        item_id, category, distance, price, image_path, title. A bad image raises ``ImageError``."""
        t0 = time.perf_counter()
        img = image.convert("RGB") if isinstance(image, Image.Image) else load_image(image)
        pre = self.backbone.preprocess
        arr = np.array(resize_whole(img, pre), np.uint8)
        with torch.inference_mode():
            x = normalize_batch(torch.from_numpy(arr[None]).to(self.device), pre)
            fmap = self._bb.forward_feature_map(x).float().flatten(2).transpose(1, 2).cpu()  # (1, R, D)
            t1 = time.perf_counter()
            regions, glob = self.heads.embed_scene(fmap)
            n = len(self._emb)
            d_g, d_l, _ = distance_parts(regions.expand(n, -1, -1), glob.expand(n, -1), self._emb,
                                         self.heads.attention)
            dist = ((d_g + d_l) / 2).numpy()
        t2 = time.perf_counter()
        wanted = list(categories) if categories else sorted(set(self.products["category"]))
        out: dict[str, list[dict[str, Any]]] = {}
        for cat in wanted:
            idx = np.flatnonzero(self.products["category"].to_numpy() == cat)
            if len(idx) == 0:
                continue
            best = idx[np.argsort(dist[idx], kind="stable")[:k]]
            out[cat] = [{"item_id": str(self.products.at[i, "product_id"]), "category": cat,
                         "distance": float(dist[i]), "price": _float_or_none(self.products.at[i, "price"]),
                         "image_path": str(self.products.at[i, "image_path"]),
                         "title": str(self.products.at[i, "title"])} for i in best]
        out = dict(sorted(out.items(), key=lambda kv: kv[1][0]["distance"]))  # best-matching categories first
        t3 = time.perf_counter()
        return {"per_category": out, "timings_ms": {"backbone": (t1 - t0) * 1e3, "scoring": (t2 - t1) * 1e3,
                                                    "ranking": (t3 - t2) * 1e3, "total": (t3 - t0) * 1e3}}


def _float_or_none(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else f
