"""The full CTL model (backbone + heads), training-run folders, and the ImageNet category prior.

A run folder ``ws.model_dir(method)`` holds ``heads.pt`` (CTLHeads state_dict), ``config.json``
(``{"method", "backbone", "heads": HeadsConfig dict, "train": {...}}``, optionally ``"backbone_pretrained"``,
``"backbone_seed"``, ``"backbone_weights"``), ``curves.csv``, and for end-to-end runs ``backbone.pt``.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from ctl_core.config import BACKBONE_FILE, CURVES_FILE, HEADS_FILE, RUN_CONFIG_FILE, Workspace
from ctl_core.data.categories import CATEGORY_INDEX, NUM_CATEGORIES
from ctl_core.io import atomic_write_bytes, read_json, sha256_bytes
from ctl_core.model.backbone import Backbone, build_transform, create_backbone, inference_copy
from ctl_core.model.device import DeviceError, pick_device
from ctl_core.model.heads import CTLHeads, HeadsConfig
from ctl_core.model.weights import torch_load_tensors

DEFAULT_PRIOR_WEIGHT = 0.5


class ModelNotFoundError(ValueError):
    """A training run folder without the files a model needs."""


class CTLModel(nn.Module):
    """Backbone + CTL heads. ``images`` are normalised (B, 3, S, S) tensors (see ``prepare``)."""

    def __init__(self, backbone: Backbone, heads: CTLHeads):
        super().__init__()
        if heads.config.in_dim != backbone.num_features:
            raise ValueError(f"heads expect {heads.config.in_dim}-d features but backbone {backbone.name} "
                             f"gives {backbone.num_features}-d")
        self.backbone = backbone
        self.heads = heads

    @property
    def device(self) -> torch.device:
        return next(self.heads.parameters()).device

    def prepare(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """PIL images → normalised batch on the model's device, using the backbone's own preprocessing."""
        tf = build_transform(self.backbone.preprocess)
        return torch.stack([tf(im) for im in images]).to(self.device)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        if self.backbone.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.backbone.forward_features(images)

    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """Category logits (B, 21)."""
        return self.heads.classify(self.forward_features(images))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised style embeddings (B, 128)."""
        return self.heads.embed(self.forward_features(images))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(category logits, style embedding)."""
        return self.heads(self.forward_features(images))


# ---------------------------------------------------------------------------------------------------- run folders

def _torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def save_run(run_dir: str | os.PathLike, heads: CTLHeads, backbone_name: str, train_config_dict: dict,
             curves_df: pd.DataFrame | None = None, *, backbone_state: dict | None = None,
             extra: dict | None = None) -> Path:
    """Write a training run: heads.pt, config.json, curves.csv (and backbone.pt for end-to-end runs), each atomically.

    ``extra`` adds keys to config.json (e.g. ``{"backbone_seed": 0}``). Returns the run folder.
    """
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in heads.state_dict().items()}
    if backbone_state is not None:
        atomic_write_bytes(run / BACKBONE_FILE, _torch_bytes({k: v.detach().cpu() for k, v in backbone_state.items()}))
    else:
        (run / BACKBONE_FILE).unlink(missing_ok=True)
    atomic_write_bytes(run / HEADS_FILE, _torch_bytes(state))
    config = {"method": train_config_dict.get("method", run.name), "backbone": backbone_name,
              "heads": heads.config.to_dict(), "train": train_config_dict, **(extra or {})}
    atomic_write_bytes(run / RUN_CONFIG_FILE, json.dumps(config, indent=2, default=str).encode())
    if curves_df is not None:
        atomic_write_bytes(run / CURVES_FILE, curves_df.to_csv(index=False).encode())
    return run


def read_curves(ws: Workspace, method: str) -> pd.DataFrame | None:
    """The run's training curves (curves.csv: epoch, losses, accuracies), or None when it has none."""
    path = ws.model_dir(method) / CURVES_FILE
    return pd.read_csv(path) if path.is_file() else None


def read_run_config(ws: Workspace, method: str) -> dict:
    """config.json of a run, or ``ModelNotFoundError`` that says how to make it."""
    run = ws.model_dir(method)
    for name in (RUN_CONFIG_FILE, HEADS_FILE):
        if not (run / name).is_file():
            raise ModelNotFoundError(f"no trained model for method {method!r}: {run / name} is missing; "
                                     f"train it first (python -m ctl_core train --method {method})")
    path = run / RUN_CONFIG_FILE
    fix = f"retrain it (python -m ctl_core train --method {method})"
    config = read_json(path, "run config", expect=dict, error=ModelNotFoundError, fix=fix)
    for key, typ in (("backbone", str), ("heads", dict)):
        if not isinstance(config.get(key), typ):
            raise ModelNotFoundError(f"{path} lacks {key!r} or it is not {'text' if typ is str else 'an object'}; "
                                     f"{fix}")
    heads_config(config, path, fix)  # refuse unknown or missing head settings here, before any weights load
    return config


def heads_config(config: dict, path: Path, fix: str = "retrain the model") -> HeadsConfig:
    """``HeadsConfig`` of a run's config.json, or ``ModelNotFoundError`` naming unknown, missing or bad keys."""
    heads: dict[str, Any] = config["heads"]
    known = {f.name for f in dataclasses.fields(HeadsConfig)}
    unknown = sorted(set(heads) - known)
    if unknown:
        raise ModelNotFoundError(f"{path}: unknown keys {unknown} under 'heads' (known: {sorted(known)}); {fix}")
    sizes = {k: heads.get(k) for k in ("in_dim", "num_categories", "embed_dim", "hidden") if k in heads}
    bad = [k for k, v in sizes.items() if not isinstance(v, int) or isinstance(v, bool) or v < 1]
    if bad:
        raise ModelNotFoundError(f"{path}: {', '.join(bad)} under 'heads' should be whole numbers >= 1; {fix}")
    try:
        return HeadsConfig(**heads)
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise ModelNotFoundError(f"{path}: the 'heads' settings are not usable ({e}); {fix}") from None


def _load_weights(path: Path, method: str) -> dict:
    """A state dict saved by ``save_run`` (tensors only: ``weights_only``), or ``ModelNotFoundError``."""
    fix = f"retrain it (python -m ctl_core train --method {method}) or put back the run folder from a backup"
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelNotFoundError(f"{path}: cannot read ({e.strerror or e}); {fix}") from None
    if not data:
        raise ModelNotFoundError(f"{path} is empty (0 bytes); {fix}")
    state = torch_load_tensors(data, path, fix, ModelNotFoundError)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelNotFoundError(f"{path} holds no state dict of tensors; {fix}")
    return state


def run_backbone(config: dict) -> Backbone:
    """The backbone a run was trained on, as built before any fine-tuned weights (``backbone.pt``) are loaded."""
    return create_backbone(config["backbone"], pretrained=bool(config.get("backbone_pretrained", True)),
                           weights_path=config.get("backbone_weights"), seed=int(config.get("backbone_seed", 0)))


def load_model(ws: Workspace, method: str, device: str | torch.device = "auto", *, fuse: bool = True) -> CTLModel:
    """The trained model of ``method`` in eval mode on ``device``; ``fuse`` folds batch norm for fast inference."""
    config = read_run_config(ws, method)
    run = ws.model_dir(method)
    heads_cfg = heads_config(config, run / RUN_CONFIG_FILE)
    dev = pick_device(device)
    backbone = run_backbone(config)
    if (run / BACKBONE_FILE).is_file():  # an end-to-end run: fine-tuned weights, so its own feature cache
        data = (run / BACKBONE_FILE).read_bytes()
        try:
            backbone.load_state_dict(_load_weights(run / BACKBONE_FILE, method))
        except RuntimeError as e:
            raise ModelNotFoundError(f"{run / BACKBONE_FILE} does not match backbone {config['backbone']!r}: "
                                     f"{str(e).splitlines()[0]}") from None
        backbone.fingerprint = f"{backbone.fingerprint}+{method}:{sha256_bytes(data)[:16]}"
        backbone.cache_name = f"{backbone.name}--{method}"
    try:
        heads = CTLHeads(heads_cfg)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ModelNotFoundError(f"{run / RUN_CONFIG_FILE}: the 'heads' settings do not make a model ({e}); "
                                 f"retrain it (python -m ctl_core train --method {method})") from None
    try:
        heads.load_state_dict(_load_weights(run / HEADS_FILE, method))
    except RuntimeError as e:
        raise ModelNotFoundError(f"{run / HEADS_FILE} does not match its config.json: {str(e).splitlines()[0]}; "
                                 f"retrain it (python -m ctl_core train --method {method})") from None
    if fuse:
        backbone = inference_copy(backbone, channels_last=True)
    return CTLModel(backbone, heads).to(dev).eval()


def model_checksum(ws: Workspace, method: str) -> str:
    """sha256 (hex) of the run's heads.pt (followed by backbone.pt for end-to-end runs)."""
    run = ws.model_dir(method)
    if not (run / HEADS_FILE).is_file():
        raise ModelNotFoundError(f"no trained model for method {method!r}: {run / HEADS_FILE} is missing; "
                                 f"train it first (python -m ctl_core train --method {method})")
    h = hashlib.sha256()
    for name in (HEADS_FILE, BACKBONE_FILE):
        p = run / name
        if p.is_file():
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------- category prior

# ImageNet-1k classes that are garments or accessories → our category (indices checked against timm's
# ImageNetInfo class names). Classes with no clear single category (pajama, vestment, apron) are left out.
IMAGENET_PRIOR: dict[int, str] = {
    # Shoes / Boots
    774: "Shoes",  # sandal
    770: "Shoes",  # running shoe
    630: "Shoes",  # Loafer
    502: "Shoes",  # clog, geta, patten, sabot
    788: "Shoes",  # shoe shop
    514: "Boots",  # cowboy boot
    # Handbags
    748: "Handbags",  # purse
    893: "Handbags",  # wallet
    636: "Handbags",  # mailbag, postbag
    414: "Handbags",  # backpack
    # Shirts & Tops / Sweaters
    610: "Shirts & Tops",  # jersey, T-shirt
    474: "Sweaters",  # cardigan
    841: "Sweaters",  # sweatshirt
    911: "Sweaters",  # wool
    # Pants, Skirts
    608: "Pants",  # jean, blue jean, denim
    655: "Skirts",  # miniskirt
    689: "Skirts",  # overskirt
    601: "Skirts",  # hoopskirt, crinoline
    775: "Skirts",  # sarong
    # Coats & Jackets
    869: "Coats & Jackets",  # trench coat
    568: "Coats & Jackets",  # fur coat
    617: "Coats & Jackets",  # lab coat
    735: "Coats & Jackets",  # poncho
    501: "Coats & Jackets",  # cloak
    834: "Coats & Jackets",  # suit
    652: "Coats & Jackets",  # military uniform
    # Dresses
    578: "Dresses",  # gown
    399: "Dresses",  # abaya
    614: "Dresses",  # kimono
    # Swimwear
    445: "Swimwear",  # bikini
    638: "Swimwear",  # maillot
    639: "Swimwear",  # maillot, tank suit
    842: "Swimwear",  # swimming trunks
    459: "Swimwear",  # brassiere, bandeau
    # Jewelry, Watches, Sunglasses, Belts
    679: "Jewelry",  # necklace
    488: "Jewelry",  # chain
    584: "Jewelry",  # hair slide
    531: "Watches",  # digital watch
    826: "Watches",  # stopwatch
    409: "Watches",  # analog clock
    836: "Sunglasses",  # sunglass
    837: "Sunglasses",  # sunglasses, dark glasses, shades
    464: "Belts",  # buckle
    # Hats, Scarves & Shawls, Ties, Socks & Tights, Gloves
    515: "Hats",  # cowboy hat
    808: "Hats",  # sombrero
    452: "Hats",  # bonnet, poke bonnet
    824: "Scarves & Shawls",  # stole
    552: "Scarves & Shawls",  # feather boa
    591: "Scarves & Shawls",  # handkerchief
    457: "Ties",  # bow tie
    906: "Ties",  # Windsor tie
    451: "Ties",  # bolo tie
    806: "Socks & Tights",  # sock
    496: "Socks & Tights",  # Christmas stocking
    658: "Gloves",  # mitten
}


@functools.lru_cache(maxsize=1)
def _prior_matrix_np(num_classes: int = 1000) -> np.ndarray:
    m = np.zeros((num_classes, NUM_CATEGORIES), np.float32)
    for idx, cat in IMAGENET_PRIOR.items():
        m[idx, CATEGORY_INDEX[cat]] = 1.0
    return m


def prior_matrix(num_classes: int = 1000) -> torch.Tensor:
    """(num_classes, 21) 0/1 matrix mapping ImageNet classes onto categories."""
    return torch.from_numpy(_prior_matrix_np(num_classes))


def category_probs(model: CTLModel | CTLHeads, feats: torch.Tensor | np.ndarray,
                   prior_weight: float = DEFAULT_PRIOR_WEIGHT, *, imagenet_logits: torch.Tensor | None = None,
                   return_parts: bool = False) -> torch.Tensor | dict[str, torch.Tensor]:
    """Category distribution (B, 21): the trained head's softmax blended with the ImageNet prior.

    prior = ImageNet softmax mass on garment classes (``IMAGENET_PRIOR``) summed per category and renormalised;
    g = total garment mass in [0, 1]; result = (1 - w) * head + w * prior with w = prior_weight * g per row. So a
    drawing the ImageNet classifier does not see as clothing (g ≈ 0) relies on the trained head, and a real photo
    of a sandal gets help from the prior. Without ImageNet logits (``imagenet_logits`` not given and the model's
    backbone has no ImageNet head) it is the head's softmax. ``return_parts`` returns a dict with ``probs``,
    ``head``, ``prior``, ``weight`` and ``garment_mass``.
    """
    heads = model.heads if isinstance(model, CTLModel) else model
    device = next(heads.parameters()).device
    x = torch.as_tensor(np.asarray(feats, dtype=np.float32) if isinstance(feats, np.ndarray) else feats)
    x = x.to(device=device, dtype=torch.float32)
    with torch.no_grad():
        head = F.softmax(heads.classify(x).float(), dim=-1)
        logits = imagenet_logits
        if logits is None and isinstance(model, CTLModel):
            logits = model.backbone.imagenet_logits(x)
        if logits is None:
            zeros = torch.zeros(len(x), device=device)
            parts = {"probs": head, "head": head, "prior": torch.full_like(head, 1.0 / NUM_CATEGORIES),
                     "weight": zeros, "garment_mass": zeros}
        else:
            logits = torch.as_tensor(logits).to(device=device, dtype=torch.float32)
            p_in = F.softmax(logits, dim=-1)
            mass = p_in @ prior_matrix(p_in.shape[1]).to(device)
            g = mass.sum(dim=-1).clamp(0.0, 1.0)
            prior = torch.where(g[:, None] > 1e-12, mass / g.clamp_min(1e-12)[:, None],
                                torch.full_like(mass, 1.0 / NUM_CATEGORIES))
            w = (float(prior_weight) * g).clamp(0.0, 1.0)
            probs = (1.0 - w)[:, None] * head + w[:, None] * prior
            parts = {"probs": probs, "head": head, "prior": prior, "weight": w, "garment_mass": g}
    return parts if return_parts else parts["probs"]


__all__ = ["CTLModel", "pick_device", "read_curves", "load_model", "save_run", "read_run_config",
           "model_checksum", "IMAGENET_PRIOR", "prior_matrix", "category_probs", "DeviceError", "ModelNotFoundError"]
