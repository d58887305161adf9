"""Scene-based Complete The Look (Kang et al., CVPR 2019): the baseline row of the KDD 2020 paper.

Given a SCENE (here: an outfit collage with one product's box whited out) and a candidate PRODUCT image, the model
gives a compatibility distance (lower = more compatible):

  * global:  ``d_g = ||s - p||²`` between the scene embedding ``s`` and the product embedding ``p``;
  * local:   ``d_l = Σ_i a_i ||r_i - p||²`` over the scene's spatial regions ``r_i`` (a 7x7 grid = 49 regions for
    EfficientNet-Lite0), with attention ``a = softmax_i(score(r_i ⊙ p))`` over regions (``RegionAttention``: a small
    MLP on the element-wise product, i.e. a learned region-vs-product similarity);
  * hybrid:  ``d = (d_g + d_l) / 2``.

All embeddings are ``embed_dim``-d and L2-normalised (so each squared distance lies in [0, 4]). They are linear
projections of FROZEN backbone features, standardised per channel with statistics of the training data: the
pooled feature of the product image (``features.cached_features``, the cache every method shares) and the
pre-pooling feature map of the masked scene (``scene_maps``, cached under ``features/<backbone>-scenes``).
Training: triplets (scene, the masked-out product = positive, a random product of the same category that is not
in the scene's outfit = negative), hinge loss ``max(0, d_pos - d_neg + margin)`` (hand-written: the distance is
asymmetric scene-to-product, which pytorch-metric-learning's embedding-pair losses do not cover), Adam.

Scenes: one per (outfit, product): the collage of the outfit with every box of that product whited out. An item
whose ``image_path`` is its product image finds its box in ``raw_boxes.csv`` through (outfit_id, product_id); an
item that is itself a collage crop (``box_*`` set) masks that pixel box in its own image. A scene is resized as a
whole (no centre crop, which would cut off boxes at the border) to the backbone's input size.

Evaluation protocol (``evaluate_scene_model``; test-split scenes, at most ``max_test_scenes``, seeded):
  * FITB: the masked-out product among it and ``fitb_candidates - 1`` (3) random test products of the same category
    from other outfits, in random order; the lowest distance wins. Scenes whose category has too few such products
    are skipped (counted in ``n_fitb_skipped``).
  * Recall@{1,5,10}: a corpus of the true product plus ``corpus_size - 1`` (199) random test products of ANY
    category (never a product of the scene's own outfit, which is visible in the scene), shuffled; one positive, so
    R@K = share of scenes whose product ranks in the top K. With fewer test products the corpus is all of them.
  * Both for the trained hybrid distance and two baselines on the same questions: ``global-only`` (the trained
    model's global distance alone) and ``untrained`` (randomly initialised heads, hybrid distance).
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw
from torch import nn
from torch.nn import functional as F

from ctl_core.backbone import (Backbone, BackboneError, TinyCNN, _TimmPooled, _TorchvisionResNetPooled, _PIL_INTERP,
                               inference_copy, normalize_batch)
from ctl_core.config import Workspace
from ctl_core.images import load_image
from ctl_core.features import file_stamp, save_npy_atomic

from ctl_core.progress import Progress  # noqa: E402
Box = tuple[float, float, float, float]

METHOD = "scene-based"
WEIGHTS_FILE = "scene.pt"  # not heads.pt: this run is not a CTLHeads run and must not be listed as one


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
    backbone: str = "efficientnet-lite0"
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


# ------------------------------------------------------------------------------------------------ model pieces

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


# ------------------------------------------------------------------------------------------------ training (pure)

def _pick_device(name: str) -> torch.device:
    from ctl_core.model import pick_device
    return pick_device(name)


def train_scene_heads(scene_maps: np.ndarray, product_feats: np.ndarray, positives: np.ndarray,
                      negative_pools: Sequence[np.ndarray], config: SceneConfig,
                      progress: Progress | None = None) -> tuple[SceneHeads, pd.DataFrame]:
    """Train fresh ``SceneHeads`` with the triplet hinge loss; same seed → same weights (CPU).

    ``scene_maps`` (N, R, D) (float16 is fine), ``product_feats`` (P, Dp), ``positives`` (N,) the index of each
    scene's masked-out product, ``negative_pools[i]`` the product indices scene i may draw its negative from (one
    fresh draw per scene and epoch). Returns the heads (eval mode, CPU) and curves: epoch, loss, triplet_acc
    (share of triplets with d_pos < d_neg during the epoch), seconds.
    """
    n = len(scene_maps)
    positives = np.asarray(positives, dtype=np.int64)
    if scene_maps.ndim != 3 or product_feats.ndim != 2 or len(positives) != n or len(negative_pools) != n:
        raise SceneError(f"need scene_maps (N, R, D), product_feats (P, D), N positives and N negative pools; got "
                         f"{scene_maps.shape}, {product_feats.shape}, {len(positives)}, {len(negative_pools)}")
    if n == 0 or any(len(p) == 0 for p in negative_pools):
        raise SceneError("every training scene needs at least one negative product (and there must be scenes)")
    device = _pick_device(config.device)
    rng = np.random.default_rng(config.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        heads = SceneHeads(scene_maps.shape[2], product_feats.shape[1], config.embed_dim, config.attention_hidden)
    heads.set_standardisation(scene_maps, product_feats)
    heads.to(device).train()
    prods = torch.as_tensor(np.ascontiguousarray(product_feats, dtype=np.float32), device=device)
    opt = torch.optim.Adam(heads.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    rows = []
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        order = rng.permutation(n)
        negatives = np.array([negative_pools[i][rng.integers(len(negative_pools[i]))] for i in range(n)])
        loss_sum, correct, steps = 0.0, 0, 0
        for s in range(0, n, config.batch_size):
            b = np.sort(order[s:s + config.batch_size])  # sorted: faster gather from a memory-mapped array
            maps = torch.as_tensor(np.asarray(scene_maps[b], dtype=np.float32), device=device)
            regions, glob = heads.embed_scene(maps)
            pos = heads.embed_product(prods[torch.as_tensor(positives[b], device=device)])
            neg = heads.embed_product(prods[torch.as_tensor(negatives[b], device=device)])
            d_pos = hybrid_distance(regions, glob, pos, heads.attention)
            d_neg = hybrid_distance(regions, glob, neg, heads.attention)
            loss = F.relu(d_pos - d_neg + config.margin).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach())
            correct += int((d_pos < d_neg).sum())
            steps += 1
        rows.append({"epoch": epoch, "loss": loss_sum / max(steps, 1), "triplet_acc": correct / n,
                     "seconds": time.perf_counter() - t0})
        if progress is not None:
            progress("train scene-based", epoch, config.epochs)
    return heads.cpu().eval(), pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ scoring (pure)

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


# ------------------------------------------------------------------------------------------------ scenes

def normalised_to_pixels(box: Box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Normalised (x, y, w, h) → pixel (x0, y0, x1, y1), rounded like the dataset's pixel boxes, clipped."""
    w_img, h_img = size
    x, y, w, h = box
    x0, y0 = int(round(x * w_img)), int(round(y * h_img))
    x1, y1 = int(round((x + w) * w_img)), int(round((y + h) * h_img))
    return max(0, x0), max(0, y0), min(w_img, x1), min(h_img, y1)


def mask_boxes(img: Image.Image, boxes: Sequence[Box], normalised: bool = True,
               fill: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """A copy of ``img`` with every box (x, y, w, h; normalised, or pixels when ``normalised=False``) filled white."""
    out = img.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    for box in boxes:
        if normalised:
            x0, y0, x1, y1 = normalised_to_pixels(box, out.size)
        else:
            x, y, w, h = (int(round(v)) for v in box)
            x0, y0, x1, y1 = max(0, x), max(0, y), min(out.width, x + w), min(out.height, y + h)
        if x1 > x0 and y1 > y0:
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=fill)  # PIL rectangles include their end pixel
    return out


@dataclass(frozen=True)
class Scene:
    """One scene: ``image_path`` (a collage) with ``boxes`` whited out; ``product`` is the masked-out product's key."""

    outfit_id: str
    product: str
    category: str
    split: str
    image_path: str
    boxes: tuple[Box, ...]
    normalised: bool = True

    def key(self) -> str:
        kind = "n" if self.normalised else "p"
        boxes = ";".join(",".join(f"{v:.5f}" for v in b) for b in self.boxes)
        return f"{self.image_path}|{kind}|{boxes}"


def _product_key(row: dict) -> str:
    return row["product_id"] if row["product_id"] else f"item:{row['item_id']}"


def build_scenes(items: pd.DataFrame, raw_boxes: pd.DataFrame) -> tuple[list[Scene], pd.DataFrame]:
    """Scenes of items.csv rows and the product table they refer to.

    Returns ``(scenes, products)``: one scene per (outfit, product) that can be located in a collage (see the
    module docstring), and one row per product key: ``product`` (product_id, or ``item:<item_id>`` for an item
    without one), ``category``, ``image_path``, ``box`` (pixel box or None: the product image source), ``splits``
    and ``outfits`` (sets of the splits and outfit ids it occurs in).
    """
    from ctl_core.features import item_sources

    items = items.reset_index(drop=True)
    sources = item_sources(items)
    rows = items.to_dict("records")
    keys = [_product_key(r) for r in rows]
    products: dict[str, dict] = {}
    for key, r, src in zip(keys, rows, sources):
        p = products.setdefault(key, {"product": key, "category": r["category"], "image_path": src[0], "box": src[1],
                                      "splits": set(), "outfits": set()})
        p["splits"].add(r["split"])
        p["outfits"].add(r["outfit_id"])

    by_outfit_product: dict[tuple[str, str], list[tuple[str, Box]]] = {}
    if len(raw_boxes):
        rb = raw_boxes[raw_boxes["product_id"] != ""]
        for oid, img, x, y, w, h, pid in zip(rb["outfit_id"], rb["image_path"], rb["x"], rb["y"], rb["w"], rb["h"],
                                            rb["product_id"]):
            if all(math.isfinite(float(v)) for v in (x, y, w, h)):
                by_outfit_product.setdefault((oid, pid), []).append((img, (float(x), float(y), float(w), float(h))))

    scenes: list[Scene] = []
    seen: set[tuple[str, str]] = set()
    for key, r, (path, box) in zip(keys, rows, sources):
        if (r["outfit_id"], key) in seen:
            continue
        if box is not None:  # the item is a crop of its collage: mask that pixel box in the same image
            scene = Scene(r["outfit_id"], key, r["category"], r["split"], path, (tuple(float(v) for v in box),),
                          normalised=False)
        else:
            found = by_outfit_product.get((r["outfit_id"], r["product_id"])) if r["product_id"] else None
            if not found:
                continue
            collage = found[0][0]
            scene = Scene(r["outfit_id"], key, r["category"], r["split"], collage,
                          tuple(b for img, b in found if img == collage), normalised=True)
        seen.add((r["outfit_id"], key))
        scenes.append(scene)
    table = pd.DataFrame(list(products.values()),
                         columns=["product", "category", "image_path", "box", "splits", "outfits"])
    return scenes, table


# ------------------------------------------------------------------------------------------------ scene maps

def feature_map(backbone: Backbone, x: torch.Tensor) -> torch.Tensor:
    """The backbone's feature map before global pooling, (B, D, h, w); its spatial mean is ``forward_features``."""
    body = backbone.body
    body = getattr(body, "_orig_mod", body)  # a torch.compile'd body
    if isinstance(body, _TimmPooled):
        return body.model.forward_features(x)
    if isinstance(body, TinyCNN):
        return body.features(x)
    if isinstance(body, _TorchvisionResNetPooled):
        m = body.model
        return m.layer4(m.layer3(m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(x))))))))
    raise BackboneError(f"no feature map for backbone {backbone.name!r} ({type(body).__name__})")


def scenes_dir(ws: Workspace, backbone: Backbone) -> Path:
    """Cache folder of scene feature maps: ``features/<backbone>-scenes`` (one float16 .npy per scene)."""
    return ws.root / "features" / f"{backbone.cache_name}-scenes"


def _scene_array(ws: Workspace, scene: Scene, backbone: Backbone) -> np.ndarray:
    pre = backbone.preprocess
    img = mask_boxes(load_image(ws.abs(scene.image_path)), scene.boxes, normalised=scene.normalised)
    img = img.resize((pre.input_size, pre.input_size), _PIL_INTERP[pre.interpolation])
    return np.asarray(img, dtype=np.uint8)


def render_scene(ws: Workspace, scene: Scene, backbone: Backbone) -> Image.Image:
    """The masked scene as the backbone sees it (resized whole to the input size) — for display and checks."""
    return Image.fromarray(_scene_array(ws, scene, backbone))


def scene_maps(ws: Workspace, backbone: Backbone, scenes: Sequence[Scene], batch_size: int = 32,
               device: str = "auto", progress: Progress | None = None) -> np.ndarray:
    """Feature maps (N, R, D) float16 of the masked scenes, R = h·w regions; cached per scene (file + its stamp).

    A backbone with other weights (fingerprint) empties the cache folder first.
    """
    folder = scenes_dir(ws, backbone)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"backbone": backbone.cache_name, "fingerprint": backbone.fingerprint, "dim": int(backbone.num_features)}
    meta_path = folder / "meta.json"
    if meta_path.exists():
        try:
            old = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError):
            old = {}
        if old != meta:
            for p in folder.glob("*.npy"):
                p.unlink()
    meta_path.write_text(json.dumps(meta))
    files = []
    for s in scenes:
        digest = hashlib.sha1(f"{s.key()}|{file_stamp(ws.abs(s.image_path))}".encode()).hexdigest()[:20]
        files.append(folder / f"{digest}.npy")
    todo = sorted({i for i, f in enumerate(files) if not f.exists()})
    if todo:
        dev = _pick_device(device)
        bb = inference_copy(backbone, channels_last=True).to(dev)
        if progress is not None:
            progress("scene maps", 0, len(todo))
        with torch.inference_mode():
            for s in range(0, len(todo), batch_size):
                chunk = todo[s:s + batch_size]
                arr = np.stack([_scene_array(ws, scenes[i], backbone) for i in chunk])
                x = normalize_batch(torch.from_numpy(arr).to(dev), backbone.preprocess)
                fmap = feature_map(bb, x).float()
                regions = fmap.flatten(2).transpose(1, 2).cpu().numpy().astype(np.float16)  # (B, h*w, D)
                for i, r in zip(chunk, regions):
                    save_npy_atomic(files[i], np.ascontiguousarray(r))
                if progress is not None:
                    progress("scene maps", min(s + batch_size, len(todo)), len(todo))
    elif progress is not None:
        progress("scene maps", 0, 0)
    if not files:
        return np.zeros((0, 0, backbone.num_features), np.float16)
    first = np.load(files[0])
    out = np.empty((len(files), *first.shape), np.float16)
    for i, f in enumerate(files):
        out[i] = np.load(f)
    return out


# ------------------------------------------------------------------------------------------------ workspace wiring

@dataclass
class _Data:
    """Scenes of one split with their maps, and the split's product pool with features."""

    scenes: list[Scene]
    maps: np.ndarray
    products: pd.DataFrame  # product pool of the split
    feats: np.ndarray       # (P, D) pooled features of products
    positives: np.ndarray   # (N,) index into products
    outfit_products: dict[str, set[int]] = field(default_factory=dict)


def _load_tables(ws: Workspace) -> tuple[list[Scene], pd.DataFrame]:
    from ctl_core.schema import read_items, read_raw_boxes

    items = read_items(ws.items_csv)
    raw = read_raw_boxes(ws.raw_boxes_csv) if ws.raw_boxes_csv.exists() else \
        pd.DataFrame(columns=["outfit_id", "image_path", "x", "y", "w", "h", "label", "product_id"])
    return build_scenes(items, raw)


def _split_data(ws: Workspace, backbone: Backbone, scenes: list[Scene], products: pd.DataFrame, split: str,
                limit: int, seed: int, device: str, progress: Progress | None) -> _Data:
    from ctl_core.features import cached_features

    pool = products[[split in s for s in products["splits"]]].reset_index(drop=True)
    index = {p: i for i, p in enumerate(pool["product"])}
    chosen = [s for s in scenes if s.split == split and s.product in index]
    if len(chosen) > limit:
        rng = np.random.default_rng([seed, 0 if split == "train" else 1])
        keep = np.sort(rng.choice(len(chosen), size=limit, replace=False))
        chosen = [chosen[i] for i in keep]
    sources = [(p, b if isinstance(b, tuple) else None) for p, b in zip(pool["image_path"], pool["box"])]
    feats = cached_features(ws, backbone, sources, device=device,
                            progress=progress) if len(pool) else np.zeros((0, backbone.num_features), np.float32)
    maps = scene_maps(ws, backbone, chosen, device=device, progress=progress)
    outfit_products: dict[str, set[int]] = {}
    for i, outfits in enumerate(pool["outfits"]):
        for o in outfits:
            outfit_products.setdefault(o, set()).add(i)
    return _Data(chosen, maps, pool, feats, np.array([index[s.product] for s in chosen], dtype=np.int64),
                 outfit_products)


def _negative_pools(data: _Data) -> list[np.ndarray]:
    """Per scene: products of the positive's category that do not occur in the scene's outfit."""
    by_cat = {c: np.flatnonzero(data.products["category"].to_numpy() == c) for c in data.products["category"].unique()}
    pools = []
    for s in data.scenes:
        cand = by_cat[s.category]
        excluded = data.outfit_products.get(s.outfit_id, set())
        pools.append(np.array([c for c in cand if c not in excluded], dtype=np.int64))
    return pools


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def train_scene_model(ws: Workspace, config: SceneConfig = SceneConfig(), progress: Progress | None = None) -> Path:
    """Train the scene-based model on the train split; writes ``ws.model_dir("scene-based")`` (scene.pt,
    config.json, curves.csv) and returns it."""
    from ctl_core.backbone import create_backbone

    t0 = time.perf_counter()
    scenes, products = _load_tables(ws)
    backbone = create_backbone(config.backbone, pretrained=True)
    data = _split_data(ws, backbone, scenes, products, "train", config.max_train_scenes, config.seed, config.device,
                       progress)
    pools = _negative_pools(data)
    usable = np.array([len(p) > 0 for p in pools], dtype=bool)
    if usable.sum() < 2:
        raise SceneError(f"{ws.items_csv}: {int(usable.sum())} training scenes with a same-category negative product; "
                         "need at least 2 (build the dataset first; the scene model needs collage boxes)")
    t_data = time.perf_counter() - t0
    if not usable.all():  # (a copy of the maps only when some scenes must go)
        data.maps, data.positives = data.maps[usable], data.positives[usable]
        pools = [p for p, u in zip(pools, usable) if u]
    heads, curves = train_scene_heads(data.maps, data.feats, data.positives, pools, config, progress)
    run_dir = ws.model_dir(METHOD)
    run_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(heads.state_dict(), buf)
    _write_atomic(run_dir / WEIGHTS_FILE, buf.getvalue())
    cfg = {"method": METHOD, "backbone": backbone.name, "scene": config.to_dict(),
           "dims": {"scene_dim": heads.scene_dim, "product_dim": heads.product_dim, "regions": int(data.maps.shape[1])},
           "run": {"n_scenes": int(usable.sum()), "n_products": len(data.products),
                     "data_seconds": round(t_data, 2), "train_seconds": round(float(curves["seconds"].sum()), 2),
                     "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}}
    _write_atomic(run_dir / "config.json", json.dumps(cfg, indent=2).encode())
    _write_atomic(run_dir / "curves.csv", curves.to_csv(index=False).encode())
    return run_dir


def load_scene_heads(ws: Workspace) -> tuple[SceneHeads, SceneConfig]:
    """The trained heads (eval mode, CPU) and the config of the run in ``ws.model_dir("scene-based")``."""
    run_dir = ws.model_dir(METHOD)
    if not (run_dir / WEIGHTS_FILE).exists():
        raise SceneError(f"no scene-based model in {run_dir}; train it first")
    cfg = json.loads((run_dir / "config.json").read_text())
    config = SceneConfig.from_dict(cfg["scene"])
    heads = SceneHeads(cfg["dims"]["scene_dim"], cfg["dims"]["product_dim"], config.embed_dim,
                       config.attention_hidden)
    heads.load_state_dict(torch.load(run_dir / WEIGHTS_FILE, map_location="cpu", weights_only=True))
    return heads.eval(), config


def _sample(rng: np.random.Generator, pool: np.ndarray, n: int) -> np.ndarray:
    return pool[rng.choice(len(pool), size=min(n, len(pool)), replace=False)]


def scene_protocol(data: _Data, config: SceneConfig) -> dict[str, Any]:
    """The seeded FITB questions and Recall corpora over ``data`` (see the module docstring).

    Returns ``fitb`` (Q1, C) product indices + ``fitb_scenes`` + ``fitb_correct``, ``recall`` (Q2, C') +
    ``recall_positive`` (bool, same shape), and ``n_fitb_skipped``.
    """
    rng = np.random.default_rng([config.seed, 2])
    pools = _negative_pools(data)
    n_dis = config.fitb_candidates - 1
    fitb, fitb_scenes, correct, skipped = [], [], [], 0
    for i, pool in enumerate(pools):
        if len(pool) < n_dis:
            skipped += 1
            continue
        cand = np.concatenate([[data.positives[i]], _sample(rng, pool, n_dis)])
        perm = rng.permutation(len(cand))
        fitb.append(cand[perm])
        correct.append(int(np.flatnonzero(perm == 0)[0]))
        fitb_scenes.append(i)
    all_idx = np.arange(len(data.products))
    width = min(config.corpus_size, len(data.products))
    recall, positive = [], []
    for i, s in enumerate(data.scenes):
        excluded = data.outfit_products.get(s.outfit_id, set()) | {int(data.positives[i])}
        pool = np.array([j for j in all_idx if j not in excluded], dtype=np.int64)
        negs = _sample(rng, pool, width - 1)
        cand = np.concatenate([[data.positives[i]], negs])
        cand = np.concatenate([cand, np.full(width - len(cand), -1)]) if len(cand) < width else cand
        perm = rng.permutation(width)
        recall.append(cand[perm])
        positive.append(perm == 0)
    return {"fitb": np.array(fitb, dtype=np.int64).reshape(-1, config.fitb_candidates),
            "fitb_scenes": np.array(fitb_scenes, dtype=np.int64), "fitb_correct": np.array(correct, dtype=np.int64),
            "recall": np.array(recall, dtype=np.int64).reshape(-1, width),
            "recall_positive": np.array(positive, dtype=bool).reshape(-1, width), "n_fitb_skipped": skipped}


def score_scene_protocol(heads: SceneHeads, data: _Data, protocol: dict[str, Any], config: SceneConfig,
                         mode: str = "hybrid") -> dict[str, float]:
    """FITB and R@K of ``heads`` (distance ``mode``) on ``protocol``; NaN where there are no questions."""
    from ctl_core.evaluation import fitb_accuracy, recall_at_k

    out: dict[str, float] = {}
    if len(protocol["fitb"]):
        d = candidate_distances(heads, data.maps[protocol["fitb_scenes"]], data.feats, protocol["fitb"], mode)
        out["FITB"] = fitb_accuracy(d, protocol["fitb_correct"])
    else:
        out["FITB"] = float("nan")
    rec = protocol["recall"]
    if len(rec):
        d = candidate_distances(heads, data.maps, data.feats, np.where(rec < 0, 0, rec), mode)
        d[rec < 0] = np.inf  # padding never ranks
        for k in config.ks:
            out[f"R@{k}"] = recall_at_k(d, protocol["recall_positive"], k)
    else:
        out.update({f"R@{k}": float("nan") for k in config.ks})
    return out


def evaluate_scene_model(ws: Workspace, config: SceneConfig | None = None,
                         progress: Progress | None = None) -> dict[str, Any]:
    """FITB and Recall@K of the trained scene-based model and its two baselines on the test split's scenes.

    ``config`` None: the trained run's own config. Writes ``ws.model_dir("scene-based")/metrics.json``: top-level
    ``FITB``, ``R@1``, ``R@5``, ``R@10`` (trained hybrid distance), ``baselines`` {``global-only``, ``untrained``}
    with the same keys, and ``eval`` (protocol counts and notes). Returns the same dict.
    """
    from ctl_core.backbone import create_backbone

    t0 = time.perf_counter()
    heads, run_config = load_scene_heads(ws)
    config = config or run_config
    backbone = create_backbone(config.backbone, pretrained=True)
    scenes, products = _load_tables(ws)
    data = _split_data(ws, backbone, scenes, products, "test", config.max_test_scenes, config.seed, config.device,
                       progress)
    if not data.scenes:
        raise SceneError(f"{ws.items_csv} has no test-split scenes to evaluate on")
    protocol = scene_protocol(data, config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 1)
        untrained = SceneHeads(heads.scene_dim, heads.product_dim, config.embed_dim, config.attention_hidden)
    # same input standardisation as the trained heads: the baseline differs only in its learned weights
    for name in ("scene_mean", "scene_std", "product_mean", "product_std"):
        getattr(untrained, name).copy_(getattr(heads, name))
    res: dict[str, Any] = score_scene_protocol(heads, data, protocol, config, "hybrid")
    res["baselines"] = {"global-only": score_scene_protocol(heads, data, protocol, config, "global"),
                        "untrained": score_scene_protocol(untrained.eval(), data, protocol, config, "hybrid")}
    res["eval"] = {
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "n_test_scenes": len(data.scenes), "n_test_products": len(data.products),
        "n_fitb": int(len(protocol["fitb"])), "n_fitb_skipped": int(protocol["n_fitb_skipped"]),
        "corpus_size": int(protocol["recall"].shape[1]) if len(protocol["recall"]) else 0,
        "regions": int(data.maps.shape[1]),
        "protocol_note": ("FITB: the masked-out product vs 3 random same-category test products from other outfits; "
                          "R@K: the true product in a corpus with random test products of ANY category (not from "
                          "the scene's outfit); one positive per scene"),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    path = ws.model_dir(METHOD) / "metrics.json"
    _write_atomic(path, json.dumps(_jsonable(res), indent=2).encode())
    return res


def _jsonable(o: Any) -> Any:
    if isinstance(o, dict):
        return {k: _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (np.floating, float)):
        return None if math.isnan(float(o)) else float(o)
    if isinstance(o, np.integer):
        return int(o)
    return o


# ------------------------------------------------------------------------------------------------ serving a scene

class SceneRecommender:
    """Products that complete a scene (Kang et al. 2018): every product shot of the catalogue ranked by the trained
    hybrid distance to an uploaded scene (a collage or an outfit photo), top ``k`` per category.

    Exhaustive over the catalogue (a few thousand products: a few ms); the product embeddings are computed once.
    """

    def __init__(self, ws: Workspace, device: str = "cpu"):
        from ctl_core.backbone import create_backbone
        from ctl_core.features import cached_features
        from ctl_core.schema import read_catalogue

        self.heads, self.config = load_scene_heads(ws)
        self.device = _pick_device(device)
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
        arr = np.array(img.resize((pre.input_size, pre.input_size), _PIL_INTERP[pre.interpolation]), np.uint8)
        with torch.inference_mode():
            x = normalize_batch(torch.from_numpy(arr[None]).to(self.device), pre)
            fmap = feature_map(self._bb, x).float().flatten(2).transpose(1, 2).cpu()  # (1, R, D)
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
