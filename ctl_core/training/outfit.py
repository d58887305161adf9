"""Training the outfit model (ctl_core.model.outfit) on the training outfits.

Each step takes ``batch_outfits`` outfits; in each, one item is the target and the others are the context: all of
them for a ``full_context`` share of the targets (the fill-in-the-blank case), a random 1..all of them for the rest
(so the model also learns to complete partial outfits of one or two products).

- Masked-item loss (InfoNCE): the query vector for the target's category is scored against the target and
  ``negatives`` items of the SAME category drawn from the training items as often as outfits use them (uniform
  over item occurrences, so popular products — the hardest distractors — come up as often as they are worn);
  a negative showing the target's own product is masked out.
- Compatibility loss (binary cross-entropy): the outfit as it is against the same outfit with one or two items
  swapped for same-category items of other outfits (the Polyvore compatibility protocol's corruption).

Validation FITB (``val``: held-out outfits) is scored after every epoch and training keeps the best epoch's
weights, stopping after ``patience`` epochs without improvement (the model overfits after ~45 epochs on Mango).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from ctl_core.config import (
    CURVES_FILE,
    DEFAULT_BACKBONE,
    METRICS_FILE,
    OUTFIT_METHOD,
    OUTFIT_WEIGHTS_FILE,
    RUN_CONFIG_FILE,
    Workspace,
)
from ctl_core.data.tables import read_items
from ctl_core.io import atomic_path, atomic_write_json, atomic_write_text
from ctl_core.model.outfit import OutfitModelConfig, OutfitTransformer
from ctl_core.progress import Progress
from ctl_core.training.train import TrainingError, _category_codes


@dataclass(frozen=True)
class OutfitTrainConfig:
    """One outfit-model run (defaults chosen on the Mango validation split; README, "Outfit model")."""

    epochs: int = 50
    patience: int = 10           # epochs without a better validation FITB before stopping (needs ``val``)
    batch_outfits: int = 128
    negatives: int = 31          # same-category negatives per target
    lr: float = 1e-3
    weight_decay: float = 1e-4
    compat_weight: float = 0.5
    full_context: float = 0.8    # share of targets whose context is the whole rest of the outfit (FITB's case);
    #                              the others see a random 1..all of it (partial outfits). Chosen between the
    #                              validated 0.5 and 1.0 (README "Outfit model"), keeping some partial contexts
    max_items: int = 10          # items kept per outfit (random ones beyond this)
    seed: int = 0
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    dropout: float = 0.1
    max_steps: int | None = None  # per epoch (tests)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_outfits < 2 or self.negatives < 1 or self.max_items < 2:
            raise TrainingError(f"need epochs >= 1, batch_outfits >= 2, negatives >= 1 and max_items >= 2, got "
                                f"{self.epochs}, {self.batch_outfits}, {self.negatives}, {self.max_items}")

    def model_config(self, in_dim: int) -> OutfitModelConfig:
        return OutfitModelConfig(in_dim=in_dim, d_model=self.d_model, n_layers=self.n_layers, n_heads=self.n_heads,
                                 dropout=self.dropout)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class OutfitData:
    """Items grouped into outfits: ``rows`` (O, M) item rows padded with -1; per item its category index and a
    product code (items showing one product share it)."""

    rows: np.ndarray
    categories: np.ndarray
    products: np.ndarray
    category_pool: dict[int, np.ndarray] = field(default_factory=dict)

    @classmethod
    def build(cls, outfit_ids, categories, product_ids, max_items: int, seed: int = 0) -> "OutfitData":
        outfit_ids = np.asarray(outfit_ids).astype(str)
        cats = _category_codes(categories)
        _, products = np.unique(np.asarray(product_ids).astype(str), return_inverse=True)
        rng = np.random.default_rng(seed)
        groups = pd.Series(np.arange(len(outfit_ids))).groupby(outfit_ids, sort=True).indices
        outfits = []
        for _, ix in sorted(groups.items()):
            ix = np.asarray(ix)
            if len(ix) > max_items:
                ix = np.sort(rng.choice(ix, size=max_items, replace=False))
            if len(ix) >= 2:
                outfits.append(ix)
        if len(outfits) < 2:
            raise TrainingError(f"the outfit model needs at least 2 outfits of 2+ items, got {len(outfits)}")
        width = max(len(o) for o in outfits)
        rows = np.full((len(outfits), width), -1, dtype=np.int64)
        for i, o in enumerate(outfits):
            rows[i, :len(o)] = o
        pool = {int(c): np.flatnonzero(cats == c) for c in np.unique(cats)}
        return cls(rows, cats, products.astype(np.int64), pool)

    def sample_same_category(self, rng: np.random.Generator, targets: np.ndarray, n: int) -> np.ndarray:
        """(len(targets), n) item rows of each target's category (uniform over occurrences; may repeat)."""
        out = np.empty((len(targets), n), dtype=np.int64)
        for i, t in enumerate(targets):
            pool = self.category_pool[int(self.categories[t])]
            out[i] = pool[rng.integers(len(pool), size=n)]
        return out


def _batch(data: OutfitData, outfits: np.ndarray, rng: np.random.Generator, negatives: int,
           full_context: float = 0.0):
    """Targets, contexts (rows padded -1), negatives and corrupted full outfits for one step."""
    rows = data.rows[outfits]
    n_items = (rows >= 0).sum(1)
    width = rows.shape[1]
    target_pos = (rng.random(len(rows)) * n_items).astype(np.int64)
    targets = rows[np.arange(len(rows)), target_pos]
    context = np.full((len(rows), width - 1), -1, dtype=np.int64)
    for i, (r, n, t) in enumerate(zip(rows, n_items, target_pos)):
        others = np.delete(r[:n], t)
        k = len(others) if rng.random() < full_context else int(rng.integers(1, len(others) + 1))  # 1 .. all
        context[i, :k] = rng.permutation(others)[:k]
    negs = data.sample_same_category(rng, targets, negatives)
    corrupted = rows.copy()
    for i, n in enumerate(n_items):
        swap = rng.choice(n, size=min(n - 1, int(rng.integers(1, 3))), replace=False)
        corrupted[i, swap] = data.sample_same_category(rng, rows[i, swap], 1)[:, 0]
    return rows, targets, context, negs, corrupted


def _gather(feats: torch.Tensor, cats: torch.Tensor, rows: np.ndarray):
    r = torch.as_tensor(rows)
    valid = r >= 0
    safe = r.clamp_min(0)
    return feats[safe], cats[safe], valid


def outfit_losses(model: OutfitTransformer, feats: torch.Tensor, cats: torch.Tensor, products: torch.Tensor,
                  batch) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(masked-item InfoNCE, compatibility BCE, share of targets ranked first) for one ``_batch``."""
    rows, targets, context, negs, corrupted = batch
    cf, cc, cv = _gather(feats, cats, context)
    t = torch.as_tensor(targets)
    q = model.query(cf, cc, cv, cats[t])
    cand = torch.cat([t[:, None], torch.as_tensor(negs)], dim=1)
    logits = model.score(q, model.keys(feats[cand]))
    same_product = products[cand[:, 1:]] == products[t][:, None]
    logits = torch.cat([logits[:, :1], logits[:, 1:].masked_fill(same_product, float("-inf"))], dim=1)
    nce = F.cross_entropy(logits, torch.zeros(len(t), dtype=torch.long))
    top1 = float((logits.argmax(1) == 0).float().mean())
    rf, rc, rv = _gather(feats, cats, rows)
    kf, kc, kv = _gather(feats, cats, corrupted)
    compat = model.compatibility(torch.cat([rf, kf]), torch.cat([rc, kc]), torch.cat([rv, kv]))
    labels = torch.cat([torch.ones(len(rows)), torch.zeros(len(rows))])
    bce = F.binary_cross_entropy_with_logits(compat, labels)
    return nce, bce, top1


def train_outfit_model(features: np.ndarray, outfit_ids, categories, product_ids, config: OutfitTrainConfig,
                       val: dict | None = None, progress: Progress | None = None,
                       ) -> tuple[OutfitTransformer, pd.DataFrame, dict]:
    """Train a fresh outfit model on item features (N, D) grouped by ``outfit_ids``; same seed -> same weights.

    ``val``: ``{"features", "outfit_ids", "categories", "product_ids"}`` of held-out outfits; their FITB (same
    protocol as Table 4) is scored after each epoch, the best epoch kept, and training stops after
    ``config.patience`` epochs without improvement. Returns the model (eval mode, CPU), the curves and a summary
    (best epoch, its validation figures).
    """
    features = np.ascontiguousarray(features, dtype=np.float32)
    if features.ndim != 2 or len(features) != len(outfit_ids):
        raise TrainingError(f"features must be (N, D) with one outfit id per row, got {features.shape} and "
                            f"{len(outfit_ids)} outfit ids")
    data = OutfitData.build(outfit_ids, categories, product_ids, config.max_items, config.seed)
    rng = np.random.default_rng(config.seed)
    feats = torch.from_numpy(features)
    cats = torch.as_tensor(data.categories)
    products = torch.as_tensor(data.products)
    scorer = _validation_scorer(val) if val is not None else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = OutfitTransformer(config.model_config(features.shape[1]))
        model.set_feature_stats(feats)
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        n_out = len(data.rows)
        steps = max(1, n_out // config.batch_outfits)
        if config.max_steps is not None:
            steps = min(steps, config.max_steps)
        total, warm = steps * config.epochs, max(1, steps * config.epochs // 10)
        sched = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up over 10% of the steps, then cosine decay
            opt, lambda i: min(1.0, (i + 1) / warm) * 0.5 * (1.0 + math.cos(math.pi * min(i, total) / total)))
        rows, best, best_state, since_best = [], -1.0, None, 0
        for epoch in range(1, config.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            order = rng.permutation(n_out)
            sums = np.zeros(3)
            for s in range(steps):
                batch = _batch(data, order[s * config.batch_outfits:(s + 1) * config.batch_outfits], rng,
                               config.negatives, config.full_context)
                nce, bce, top1 = outfit_losses(model, feats, cats, products, batch)
                loss = nce + config.compat_weight * bce
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                opt.step()
                sched.step()
                sums += (float(nce.detach()), float(bce.detach()), top1)
            row = {"epoch": epoch, "masked_item_loss": sums[0] / steps, "compat_loss": sums[1] / steps,
                   "train_top1": sums[2] / steps}
            if scorer is not None:
                row.update(scorer(model))
            row["seconds"] = time.perf_counter() - t0
            rows.append(row)
            if progress is not None:
                progress("train outfit model", epoch, config.epochs)
            if scorer is not None:
                if row["val_FITB"] > best:
                    best, best_state, since_best = row["val_FITB"], copy.deepcopy(model.state_dict()), 0
                else:
                    since_best += 1
                    if since_best >= config.patience:
                        break
    curves = pd.DataFrame(rows)
    summary: dict[str, Any] = {"epochs_run": len(rows), "train_seconds": float(curves["seconds"].sum())}
    if best_state is not None:
        model.load_state_dict(best_state)
        best_row = curves.loc[curves["val_FITB"].idxmax()]
        summary.update({"best_epoch": int(best_row["epoch"]),
                        **{k: float(v) for k, v in best_row.items() if str(k).startswith("val_")}})
    return model.eval(), curves, summary


def _validation_scorer(val: dict):
    """A function model -> {"val_FITB", "val_compat_AUC"} over the held-out outfits (protocol drawn once)."""
    from ctl_core.evaluation.outfit import OutfitScorer
    from ctl_core.evaluation.protocol import EvalConfig, build_compat_questions, build_fitb_questions

    items = pd.DataFrame({"item_id": np.arange(len(val["outfit_ids"])).astype(str),
                          "outfit_id": np.asarray(val["outfit_ids"]).astype(str),
                          "category": np.asarray(val["categories"]).astype(str),
                          "product_id": np.asarray(val["product_ids"]).astype(str)})
    fitb = build_fitb_questions(items, EvalConfig())  # FITB alone: any validation set has questions
    compat = build_compat_questions(items)
    feats = np.ascontiguousarray(val["features"], dtype=np.float32)

    def score(model: OutfitTransformer) -> dict[str, float]:
        s = OutfitScorer(model, feats, items["category"].to_numpy())
        return {"val_FITB": s.fitb(fitb), "val_compat_AUC": s.compat_auc(compat)}

    return score


# ---------------------------------------------------------------------------------------------------------------
# Workspace wiring

def save_outfit_run(run_dir: Path, model: OutfitTransformer, backbone: str, config: OutfitTrainConfig,
                    curves: pd.DataFrame, summary: dict) -> None:
    """models/outfit-transformer/: outfit.pt (state_dict), config.json, curves.csv, metrics.json (written last
    of the weights: a folder with outfit.pt always has its config)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / RUN_CONFIG_FILE, {"method": OUTFIT_METHOD, "backbone": backbone,
                                                  "train": config.to_dict(), "model": model.config.to_dict()})
    atomic_write_text(run_dir / CURVES_FILE, curves.to_csv(index=False))
    atomic_write_json(run_dir / METRICS_FILE, {"training": summary})
    with atomic_path(run_dir / OUTFIT_WEIGHTS_FILE) as tmp:
        torch.save(model.state_dict(), tmp)


def load_outfit_model(ws: Workspace) -> tuple[OutfitTransformer, dict]:
    """The workspace's trained outfit model (eval mode, CPU) and its run config; OutfitModelMissing if none."""
    import json

    path = ws.outfit_weights_path
    if not path.exists():
        raise OutfitModelMissing(f"no outfit model in {ws.root} (missing {path}); train it: "
                                 "python -m ctl_core train --method outfit-transformer")
    cfg = json.loads(ws.run_config_path(OUTFIT_METHOD).read_text())
    model = OutfitTransformer(OutfitModelConfig(**cfg["model"]))
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval(), cfg


class OutfitModelMissing(ValueError):
    """No trained outfit model in the workspace (the message says how to train one)."""


def train_outfit(ws: Workspace, config: OutfitTrainConfig = OutfitTrainConfig(),
                 backbone_name: str = DEFAULT_BACKBONE, progress: Progress | None = None,
                 validation_fraction: float = 0.15) -> Path:
    """Train the outfit model on the workspace's training outfits and write its run folder.

    A validation split is carved from the TRAINING outfits (ctl_core.training.validation, seed 1) for early
    stopping; the test split is never read. Inputs: the cached pooled backbone features of every item.
    """
    fit, val, f_fit, f_val = validation_split(ws, backbone_name, validation_fraction, progress)
    model, curves, summary = train_outfit_model(
        f_fit, fit["outfit_id"].to_numpy(), fit["category"].to_numpy(), _products(fit), config,
        val=validation_arrays(val, f_val), progress=progress)
    summary.update({"n_fit_outfits": int(fit["outfit_id"].nunique()),
                    "n_val_outfits": int(val["outfit_id"].nunique())})
    run_dir = ws.model_dir(OUTFIT_METHOD)
    save_outfit_run(run_dir, model, backbone_name, config, curves, summary)
    return run_dir


def validation_split(ws: Workspace, backbone_name: str = DEFAULT_BACKBONE, fraction: float = 0.15,
                     progress: Progress | None = None) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    """(fit items, validation items, their cached backbone features): the training outfits split as
    ``training.validation.carve_validation`` does (the test split is not read)."""
    from ctl_core.model.backbone import create_backbone
    from ctl_core.model.features import cached_features, item_sources
    from ctl_core.training.validation import ValidationConfig, carve_validation

    fit, val = carve_validation(read_items(ws.items_csv), ValidationConfig(fraction=fraction))
    backbone = create_backbone(backbone_name, pretrained=True)
    return fit, val, cached_features(ws, backbone, item_sources(fit), progress=progress), \
        cached_features(ws, backbone, item_sources(val), progress=progress)


def validation_arrays(items: pd.DataFrame, features: np.ndarray) -> dict:
    """``train_outfit_model``'s ``val`` argument for held-out ``items`` and their features."""
    return {"features": features, "outfit_ids": items["outfit_id"].to_numpy(),
            "categories": items["category"].to_numpy(), "product_ids": _products(items)}


def _products(items: pd.DataFrame) -> np.ndarray:
    """Product ids per item (an item without one is its own product)."""
    pid = items["product_id"].fillna("").astype(str) if "product_id" in items else pd.Series([""] * len(items))
    return np.where(pid.to_numpy() == "", "item:" + items["item_id"].astype(str).to_numpy(), pid.to_numpy())
