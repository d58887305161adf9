"""Tuning on a validation split carved from the training outfits — never on the test split.

``carve_validation`` sets aside a seeded share of the TRAINING outfits (by outfit, as the test split is drawn;
``ctl_core.data.dataset.split_outfits`` with its own seed), ``validate_heads`` trains heads-only on the rest and
scores the held-out outfits with the Table-4 protocol (Recall@K in both corpus modes and FITB with same-category
distractors, ``ctl_core.evaluation``). The test split is not read at all, so a setting chosen here can then be
trained on the full training split and reported once on test (``python -m ctl_core train`` / ``evaluate``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ctl_core.config import DEFAULT_BACKBONE, Workspace
from ctl_core.data.dataset import split_outfits
from ctl_core.data.metadata import product_metadata
from ctl_core.data.tables import read_items
from ctl_core.evaluation.protocol import EvalConfig
from ctl_core.evaluation.table4 import evaluate_embeddings
from ctl_core.model.heads import CTLHeads
from ctl_core.progress import Progress
from ctl_core.training import partial
from ctl_core.training.category_examples import training_example_sources
from ctl_core.training.train import TrainConfig, TrainingError, train_heads, train_partial


@dataclass(frozen=True)
class ValidationConfig:
    """Which share of the training outfits is held out (seeded, by outfit) and how it is scored."""

    fraction: float = 0.15
    seed: int = 1  # not the test split's seed (0): another draw
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        if not 0.0 < self.fraction < 1.0:
            raise TrainingError(f"validation fraction must be in (0, 1), got {self.fraction}")


def carve_validation(items: pd.DataFrame, config: ValidationConfig = ValidationConfig(),
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit rows, validation rows) of the training split of ``items``; the test split is dropped, never used."""
    train = items[items["split"].astype(str) == "train"].reset_index(drop=True)
    outfits = sorted(set(train["outfit_id"].astype(str)))
    if len(outfits) < 4:
        raise TrainingError(f"need at least 4 training outfits to carve a validation split, got {len(outfits)}")
    held = split_outfits(outfits, config.fraction, config.seed)
    is_val = train["outfit_id"].astype(str).map(held).eq("test").to_numpy()
    return train[~is_val].reset_index(drop=True), train[is_val].reset_index(drop=True)


def validate_heads(features: np.ndarray, items: pd.DataFrame, config: TrainConfig,
                   config_v: ValidationConfig = ValidationConfig(), metadata: pd.DataFrame | None = None,
                   progress: Progress | None = None) -> dict:
    """Train on the fit rows, score the validation rows: the protocol's figures, counts and the training curves
    (``curves``, with the validation pair accuracy after each epoch); for heads with a metadata side input also
    ``without_metadata``: the figures with every item's metadata withheld (how an uploaded photo fares).

    ``features`` and ``metadata`` (optional, the ``config.metadata`` columns) are aligned with ``items``'s rows
    (any split; only training-split rows are used).
    """
    items = items.reset_index(drop=True)
    if len(features) != len(items) or (metadata is not None and len(metadata) != len(items)):
        raise TrainingError(f"features ({len(features)}) and metadata must have one row per item ({len(items)})")
    pos = pd.Series(np.arange(len(items)), index=items["item_id"].astype(str))
    fit, val = carve_validation(items, config_v)
    fit_rows, val_rows = pos[fit["item_id"]].to_numpy(), pos[val["item_id"]].to_numpy()
    meta = metadata.reset_index(drop=True) if metadata is not None else None
    val_meta = None if meta is None else meta.iloc[val_rows]
    heads, curves = train_heads(features[fit_rows], fit["outfit_id"].to_numpy(), fit["category"].to_numpy(), config,
                                progress=progress, metadata=None if meta is None else meta.iloc[fit_rows],
                                val=(features[val_rows], val["outfit_id"].to_numpy(), val["category"].to_numpy()),
                                val_metadata=val_meta)
    import torch  # training already loaded it

    with torch.no_grad():
        x = torch.as_tensor(np.ascontiguousarray(features[val_rows], dtype=np.float32))
        codes = heads.metadata_codes(val_meta, len(val_rows))
        emb = heads.embed(x, codes).numpy()
        bare = heads.embed(x).numpy() if heads.uses_metadata else None
    res = evaluate_embeddings(emb, val.assign(split="test"), config_v.eval)
    if bare is not None:  # the same products as uploaded photos: no metadata at all (the "unknown" token)
        res["without_metadata"] = {k: v for k, v in evaluate_embeddings(bare, val.assign(split="test"),
                                                                       config_v.eval).items() if k != "per_category"}
    res.update({"n_fit_outfits": int(fit["outfit_id"].nunique()), "n_val_outfits": int(val["outfit_id"].nunique()),
                "train_seconds": float(curves["seconds"].sum()), "curves": curves})
    return res


def validate(ws: Workspace, config: TrainConfig, backbone_name: str = DEFAULT_BACKBONE,
             config_v: ValidationConfig = ValidationConfig(), progress: Progress | None = None) -> dict:
    """``validate_heads`` on the workspace's items and cached features (heads mode), or ``validate_partial``."""
    if config.mode == "partial":
        return validate_partial(ws, config, backbone_name, config_v, progress)
    if config.mode != "heads":
        raise TrainingError("validation trains heads (mode='heads') or the last stages (mode='partial')")
    from ctl_core.model.backbone import create_backbone
    from ctl_core.model.features import cached_features, item_sources

    items = read_items(ws.items_csv)
    items = items[items["split"] == "train"].reset_index(drop=True)
    feats = cached_features(ws, create_backbone(backbone_name), item_sources(items), progress=progress)
    meta = product_metadata(ws, items["product_id"], config.metadata) if config.metadata else None
    return validate_heads(feats, items, config, config_v, meta, progress)


def validate_partial(ws: Workspace, config: TrainConfig, backbone_name: str = DEFAULT_BACKBONE,
                     config_v: ValidationConfig = ValidationConfig(), progress: Progress | None = None,
                     init_heads: CTLHeads | None = None) -> dict:
    """Partial fine-tuning (``train_partial``) on the fit rows, scored like ``validate_heads`` on the validation
    rows' fine-tuned features; plus ``photo_category_acc`` / ``n_photos`` on the held-out category examples (the
    category head on their fine-tuned features) when the workspace has any. ``init_heads``: as ``train_partial``.
    """
    import torch

    from ctl_core.model.backbone import create_backbone
    from ctl_core.model.features import item_sources
    from ctl_core.model.stages import TrainableTop

    items = read_items(ws.items_csv)
    fit, val = carve_validation(items[items["split"] == "train"], config_v)
    backbone = create_backbone(backbone_name)
    examples = training_example_sources(ws) if config.category_batch > 0 else None
    heads, curves = train_partial(ws, item_sources(fit), fit["outfit_id"].to_numpy(), fit["category"].to_numpy(),
                                  backbone, config, progress, example_sources=examples, init_heads=init_heads)
    top = TrainableTop(backbone, config.trainable_stages)
    with torch.no_grad():
        emb = heads.embed(torch.as_tensor(partial.pooled(top, partial.stage_inputs(
            ws, backbone, item_sources(val), config.trainable_stages)))).numpy()
    res = evaluate_embeddings(emb, val.assign(split="test"), config_v.eval)
    photos = training_example_sources(ws, held_out=True)
    if photos is not None:
        inputs, bad = partial.stage_inputs(ws, backbone, photos[0], config.trainable_stages, skip_bad=True)
        with torch.no_grad():
            pred = heads.classify(torch.as_tensor(partial.pooled(top, inputs))).argmax(1).numpy()
        res.update(photo_category_acc=float((pred == photos[1])[~bad].mean()), n_photos=int((~bad).sum()))
    res.update({"n_fit_outfits": int(fit["outfit_id"].nunique()), "n_val_outfits": int(val["outfit_id"].nunique()),
                "train_seconds": float(curves["seconds"].sum()), "curves": curves, "heads": heads,
                "backbone": backbone})
    return res


__all__ = ["ValidationConfig", "carve_validation", "validate", "validate_heads", "validate_partial"]
