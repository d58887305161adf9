"""Training the CTL heads (or backbone + heads) with one of the five methods of Table 4.

``train_heads`` is pure over arrays of cached backbone features; ``train`` wires it to a workspace (items.csv,
cached features, the run folder). Per step: the sampler picks a batch of items, the heads embed and classify
them, the miner picks pairs/triplets (or the proxy sampler picks proxies), the style loss consumes them, and
``category_weight`` x cross-entropy of the category head is added. Which sampler options, miner and loss a method
uses is its ``MethodSpec`` (ctl_core.training.methods); end-to-end batches are run in chunks with gradient caching
(ctl_core.training.gradient_cache).
"""
from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from ctl_core.config import DEFAULT_BACKBONE, Workspace
from ctl_core.data.categories import CATEGORY_INDEX, NUM_CATEGORIES
from ctl_core.data.metadata import METADATA_FIELDS, MetadataVocab, product_metadata
from ctl_core.data.tables import read_items
from ctl_core.images import crop_box, load_image
from ctl_core.model.backbone import Backbone, build_transform, create_backbone
from ctl_core.model.ctl_model import pick_device, save_run
from ctl_core.model.features import cached_features, item_sources
from ctl_core.model.heads import CTLHeads, HeadsConfig
from ctl_core.model.stages import TrainableTop, num_stages
from ctl_core.progress import Progress
from ctl_core.training import partial
from ctl_core.training.category_examples import CategoryExampleLoss, training_example_sources, training_examples
from ctl_core.training.gradient_cache import forward_backward_in_chunks
from ctl_core.training.losses import make_style_loss
from ctl_core.training.methods import MethodSpec, UnknownMethodError, get_method
from ctl_core.training.recipes import (
    DEFAULT_RECIPE,
    PAPER_EPOCHS,
    PAPER_NEGATIVES_PER_POSITIVE,
    RECIPE_FIELDS,
    recipe_values,
)
from ctl_core.training.samplers import (
    HeterogeneousPairMiner,
    OutfitBatchSampler,
    ProxySampler,
    TripletMiner,
    encode_labels,
)


class TrainingError(ValueError):
    """Training cannot start: bad configuration or no usable data (the message says which)."""


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``recipe`` (ctl_core.training.recipes: ``validated`` by default, or ``paper``) fills
    ``epochs``, ``negatives_per_positive`` and ``margin`` where they are left None; a margin still None after that
    takes the method's default (its ``MethodSpec.margin``).

    ``batch_size`` counts items: a batch holds ``batch_size // items_per_outfit`` outfits (plus, for
    triplet-category, one extra same-category negative per category in the batch). One epoch visits every
    training outfit once. ``max_steps`` caps the steps per epoch (tests, smoke runs).

    ``metadata``: catalogue fields (ctl_core.data.metadata.METADATA_FIELDS, e.g. ``("product_type", "colour")``)
    fed to the style head beside the image feature (heads mode only; ``()`` = image only, the paper's heads);
    values seen fewer than ``meta_min_count`` times in training are "unknown", and ``meta_dropout`` hides an
    item's whole metadata during training so an uploaded photo without any still lands in the right place.

    ``chunk_size`` (end-to-end only): images per backbone forward/backward. The loss still sees the whole batch —
    embeddings are computed chunk by chunk without a graph, the loss's gradients with respect to them are cached,
    then each chunk is run again with its graph and back-propagated (gradient caching, Gao et al. 2021) — so a
    256-item batch of triplets fits in a few GB instead of tens. ``None`` runs the batch in one piece.

    ``mode="partial"`` fine-tunes the last ``trainable_stages`` stages of the backbone, its conv head and the heads
    (lr ``backbone_lr`` for the backbone) from cached inputs of those stages (``train_partial``); first, for
    ``warmup_epochs``, the heads alone on the frozen features. ``trainable_stages`` = every stage (Lite0: 8) is
    end-to-end fine-tuning on images through the same code (the GPU's path; chunked as above).
    """

    method: str = "triplet-category"
    recipe: str = DEFAULT_RECIPE  # fills epochs / negatives_per_positive / margin left None (training.recipes)
    epochs: int | None = None  # None: the recipe's, else the paper's 40
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-5
    seed: int = 0
    num_proxies: int = 2048
    margin: float | None = None
    temperature: float = 0.05
    proxy_lr_scale: float = 10.0
    items_per_outfit: int = 4
    category_weight: float = 1.0
    embed_dim: int = 128
    mode: str = "heads"
    device: str = "auto"
    amp: bool = True
    backbone_lr: float = 1e-4
    num_workers: int = 0
    max_steps: int | None = None
    chunk_size: int | None = 32
    negatives_per_positive: int | None = None  # triplet methods: batch negatives per (anchor, positive); None: recipe
    random_negatives_per_positive: int = 0  # triplet-category: random negatives added per (anchor, positive)
    metadata: tuple[str, ...] = ()
    meta_dim: int = 16
    meta_dropout: float = 0.3
    meta_min_count: int = 2
    category_batch: int = 64  # extra category examples per step (ctl_core.training.category_examples); 0: none
    trainable_stages: int = 1  # mode "partial": backbone stages fine-tuned (ctl_core.model.stages)
    warmup_epochs: int = 0  # mode "partial": epochs of heads alone on the frozen features first

    def __post_init__(self) -> None:
        object.__setattr__(self, "metadata", tuple(self.metadata))
        try:
            from_recipe = recipe_values(self.recipe, self.method)
        except ValueError as e:
            raise TrainingError(str(e)) from None
        paper = {"epochs": PAPER_EPOCHS, "negatives_per_positive": PAPER_NEGATIVES_PER_POSITIVE, "margin": None}
        for name in RECIPE_FIELDS:  # explicit values win; then the recipe; then the paper's
            if getattr(self, name) is None:
                object.__setattr__(self, name, from_recipe.get(name, paper[name]))
        unknown = sorted(set(self.metadata) - set(METADATA_FIELDS))
        if unknown:
            raise TrainingError(f"unknown metadata field(s) {unknown}; expected some of {', '.join(METADATA_FIELDS)}")
        if self.metadata and self.mode != "heads":
            raise TrainingError("metadata side input needs mode='heads'; end-to-end runs take no metadata")
        if not 0.0 <= self.meta_dropout <= 1.0:
            raise TrainingError(f"meta_dropout must be in [0, 1], got {self.meta_dropout}")
        try:
            get_method(self.method)
        except UnknownMethodError as e:
            raise TrainingError(str(e)) from None
        if self.mode not in ("heads", "end-to-end", "partial"):
            raise TrainingError(f"mode must be 'heads', 'end-to-end' or 'partial', got {self.mode!r}")
        if self.trainable_stages < 0 or self.warmup_epochs < 0:
            raise TrainingError(f"trainable_stages and warmup_epochs must be >= 0, got {self.trainable_stages} and "
                                f"{self.warmup_epochs}")
        if self.chunk_size is not None and self.chunk_size < 4:
            raise TrainingError(f"chunk_size must be >= 4 (batch norm needs several items per chunk) or None, got "
                                f"{self.chunk_size}")
        if self.epochs < 1 or self.batch_size < 2 * self.items_per_outfit:
            raise TrainingError(f"need epochs >= 1 and batch_size >= 2 * items_per_outfit, got epochs={self.epochs}, "
                                f"batch_size={self.batch_size}, items_per_outfit={self.items_per_outfit}")

    @property
    def spec(self) -> MethodSpec:
        """What ``method`` trains with: loss, miner, negatives (ctl_core.training.methods)."""
        return get_method(self.method)

    @property
    def neg_per_pos(self) -> int | None:
        """Negatives per positive for the siamese methods (16 or 1), None otherwise."""
        return self.spec.neg_per_pos

    @property
    def resolved_margin(self) -> float:
        return self.spec.margin if self.margin is None else self.margin

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["margin"] = self.resolved_margin
        d["neg_per_pos"] = self.neg_per_pos
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        fields = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in fields})


def _category_codes(categories: np.ndarray | list) -> np.ndarray:
    arr = np.asarray(categories)
    if arr.dtype.kind in "OUS":
        unknown = sorted(set(arr.tolist()) - set(CATEGORY_INDEX))
        if unknown:
            raise TrainingError(f"unknown categories {unknown[:5]}")
        arr = np.array([CATEGORY_INDEX[c] for c in arr.tolist()])
    arr = arr.astype(np.int64)
    if len(arr) and (arr.min() < 0 or arr.max() >= NUM_CATEGORIES):
        raise TrainingError(f"category indices must lie in 0..{NUM_CATEGORIES - 1}")
    return arr


class _Step:
    """The method-specific part of a step, built from the method's spec: batch sampler, miner/proxy sampler and
    style loss."""

    def __init__(self, config: TrainConfig, outfit_codes: np.ndarray, categories: np.ndarray, embed_dim: int):
        c, seeds = config, np.random.SeedSequence(config.seed).spawn(3)
        self.spec = spec = c.spec
        self.outfits, self.categories = outfit_codes, categories
        n_outfits = int(outfit_codes.max()) + 1
        self.sampler = OutfitBatchSampler(outfit_codes, categories, c.batch_size, c.items_per_outfit,
                                          category_negatives=spec.category_negatives, seed=seeds[0])
        if spec.miner == "proxies":
            self.proxies = ProxySampler(n_outfits, c.num_proxies, seed=seeds[1])
        elif spec.miner == "pairs":
            self.miner = HeterogeneousPairMiner(spec.neg_per_pos, seed=seeds[1])
        else:
            self.miner = TripletMiner(spec.negatives, seed=seeds[1], per_positive=c.negatives_per_positive,
                                      extra_random=c.random_negatives_per_positive)
        self.loss = make_style_loss(spec, n_outfits, embed_dim, c.resolved_margin, c.temperature)
        self.active_triplets: list[float] = []  # triplet losses: share of mined triplets inside the margin, per step

    def style_loss(self, emb: torch.Tensor, batch: np.ndarray) -> torch.Tensor:
        labels = self.outfits[batch]
        if self.spec.labels == "outfit-proxy":  # global outfit codes, scored against the sampled proxies
            ids = torch.as_tensor(self.proxies.sample(labels))
            return self.loss(emb, torch.as_tensor(labels), ids)
        local, _ = encode_labels(labels)  # "batch-outfit": codes within the batch, for the miner
        tup = tuple(t.to(emb.device) for t in self.miner.mine(local, self.categories[batch]))
        if self.spec.loss == "triplet" and len(tup[0]):  # the loss averages over these only: record their share
            with torch.no_grad():
                d = self.loss.distance(emb.detach().float())
                inside = self.loss.distance.margin(d[tup[0], tup[1]], d[tup[0], tup[2]]) + self.loss.margin > 0
                self.active_triplets.append(float(inside.float().mean()))
        return self.loss(emb.float(), torch.as_tensor(local, device=emb.device), tup)


def _pair_accuracy(emb: np.ndarray, outfits: np.ndarray, categories: np.ndarray, seed: int = 0,
                   n: int = 2000) -> float:
    """Share of (anchor, outfit-mate of another category, random item of another outfit) with the mate closer."""
    rng = np.random.default_rng(seed)
    outfits, categories = np.asarray(outfits), np.asarray(categories)
    order = np.argsort(outfits, kind="stable")
    _, start, count = np.unique(outfits[order], return_index=True, return_counts=True)
    code = np.searchsorted(np.unique(outfits), outfits)
    a = rng.integers(len(outfits), size=n)
    mate = np.full(n, -1)
    for _ in range(20):  # rejection sampling of a mate of another category (outfits hold few items)
        todo = np.flatnonzero(mate < 0)
        if not len(todo):
            break
        o = code[a[todo]]
        j = order[start[o] + rng.integers(count[o])]
        ok = categories[j] != categories[a[todo]]
        mate[todo[ok]] = j[ok]
    neg = rng.integers(len(outfits), size=n)
    keep = (mate >= 0) & (outfits[neg] != outfits[a])
    if not keep.any():
        return float("nan")
    a, mate, neg = a[keep], mate[keep], neg[keep]
    d_mate = ((emb[a] - emb[mate]) ** 2).sum(1)
    d_neg = ((emb[a] - emb[neg]) ** 2).sum(1)
    return float((d_mate < d_neg).mean())


@torch.no_grad()
def _evaluate(heads: CTLHeads, features: np.ndarray, outfits: np.ndarray, categories: np.ndarray,
              device: torch.device, meta: np.ndarray | None = None) -> dict[str, float]:
    heads.eval()
    logits, embs = [], []
    for s in range(0, len(features), 4096):
        x = torch.as_tensor(features[s:s + 4096], device=device).float()
        lg, e = heads(x, None if meta is None else meta[s:s + 4096])
        logits.append(lg.float().cpu())
        embs.append(e.float().cpu())
    heads.train()
    acc = (torch.cat(logits).argmax(1).numpy() == categories).mean()
    return {"val_category_acc": float(acc),
            "val_pair_acc": _pair_accuracy(torch.cat(embs).numpy(), outfits, categories)}


def _optimizer(config: TrainConfig, params: list[dict]) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def _run_epochs(config: TrainConfig, step: _Step, heads: CTLHeads,
                batches: Callable[[], Iterable[tuple[np.ndarray, Any]]], forward: Callable[[Any], torch.Tensor],
                optimizer: torch.optim.Optimizer, device: torch.device,
                progress: Progress | None, evaluate: Callable[[], dict[str, float]] | None,
                train_modules: list[nn.Module], chunk: int | None = None, per_step: bool = False,
                meta: Callable[[np.ndarray], torch.Tensor | None] = lambda batch: None,
                extra_category: Callable[[], torch.Tensor] | None = None) -> pd.DataFrame:
    """The loop shared by heads-only and end-to-end training; returns the curves.

    ``batches()`` yields (item indices, input) per step for one epoch; ``forward(input)`` gives backbone features.
    ``chunk``: run inputs through ``forward`` and the heads in chunks of this size with gradient caching
    (``forward_backward_in_chunks``). ``per_step``: report progress after every step (slow end-to-end epochs),
    not only after every epoch. ``meta(batch)``: the batch's metadata codes for the style head (None: none).
    """
    use_amp = config.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    rows, stage = [], f"train {config.method}"
    steps = len(step.sampler) if config.max_steps is None else min(len(step.sampler), config.max_steps)
    for m in train_modules:
        m.train()
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        sums = {"loss": 0.0, "style_loss": 0.0, "category_loss": 0.0}
        correct = seen = 0
        for i, (batch, inputs) in enumerate(batches()):
            if i >= steps:
                break
            batch = np.asarray(batch)
            cats = torch.as_tensor(step.categories[batch], device=device)
            parts: dict[str, torch.Tensor] = {}

            def loss_fn(logits: torch.Tensor, emb: torch.Tensor, batch: np.ndarray = batch,
                        cats: torch.Tensor = cats, parts: dict[str, torch.Tensor] = parts) -> torch.Tensor:
                parts["style"] = step.style_loss(emb.float(), batch)
                parts["category"] = F.cross_entropy(logits.float(), cats)
                if extra_category is not None:  # category examples beside the outfit batch
                    parts["category"] = parts["category"] + extra_category()
                return parts["style"] + config.category_weight * parts["category"]

            optimizer.zero_grad(set_to_none=True)
            if chunk is not None and len(batch) > chunk:
                loss, (logits, _) = forward_backward_in_chunks(lambda x: heads(forward(x)), inputs, loss_fn, chunk,
                                                               device, scale=scaler.scale, autocast=use_amp)
            else:
                with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                    logits, emb = heads(forward(inputs), meta(batch))
                loss = loss_fn(logits, emb)
                scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            sums["loss"] += float(loss.detach())
            sums["style_loss"] += float(parts["style"].detach())
            sums["category_loss"] += float(parts["category"].detach())
            correct += int((logits.argmax(1) == cats).sum())
            seen += len(batch)
            if per_step and progress is not None:
                progress(f"{stage} epoch {epoch}/{config.epochs}", i + 1, steps)
        row = {"epoch": epoch, **{k: v / max(steps, 1) for k, v in sums.items()},
               "category_acc": correct / max(seen, 1)}
        if step.active_triplets:  # triplet methods: what shows learning while the loss stays near the margin
            row["active_triplets"] = float(np.mean(step.active_triplets))
            step.active_triplets.clear()
        if evaluate is not None:
            row.update(evaluate())
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        if progress is not None and not per_step:
            progress(stage, epoch, config.epochs)
    return pd.DataFrame(rows)


def _step_and_optimizer(config: TrainConfig, outfits: np.ndarray, cats: np.ndarray, heads: nn.Module,
                        device: torch.device, backbone_params=None) -> tuple["_Step", torch.optim.Optimizer]:
    """The method's sampler and loss (on ``device``) and one optimizer over the heads, the trainable backbone part
    (``backbone_params``, at ``config.backbone_lr``) and the loss's own parameters (proxies, at a scaled lr)."""
    try:
        step = _Step(config, outfits, cats, config.embed_dim)
    except AssertionError as e:
        raise TrainingError(f"cannot train {config.method}: {e}") from None
    step.loss.to(device)
    params = [{"params": heads.parameters()}]
    if backbone_params is not None:
        params.append({"params": backbone_params, "lr": config.backbone_lr})
    if any(True for _ in step.loss.parameters()):
        params.append({"params": step.loss.parameters(), "lr": config.lr * config.proxy_lr_scale})
    return step, _optimizer(config, params)


def train_heads(features: np.ndarray, outfit_ids: np.ndarray | list, categories: np.ndarray | list,
                config: TrainConfig, progress: Progress | None = None,
                val: tuple[np.ndarray, np.ndarray | list, np.ndarray | list] | None = None,
                metadata: pd.DataFrame | None = None, val_metadata: pd.DataFrame | None = None,
                category_examples: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[CTLHeads, pd.DataFrame]:
    """Train fresh CTL heads on cached features (N, D) with ``config.method``; same seed -> same weights (CPU).

    ``metadata`` (one row per feature row, the ``config.metadata`` columns) is required when ``config.metadata``
    names fields: its vocabulary (training rows only) goes into the heads' config; ``val_metadata`` likewise for
    ``val``. ``category_examples`` (features, category indices): extra examples for the category head only,
    ``config.category_batch`` of them per step (``CategoryExampleLoss``).

    ``outfit_ids``: one outfit label (str/int) per row; ``categories``: category index 0..20 (or name) per row.
    ``val`` (features, outfit_ids, categories) adds val_category_acc / val_pair_acc to the curves after each
    epoch (monitoring only; nothing is selected on it). Returns the heads (eval mode, on CPU) and the curves:
    epoch, loss, style_loss, category_loss, category_acc, [val_...], seconds.
    """
    features = np.ascontiguousarray(features, dtype=np.float32)
    if features.ndim != 2 or len(features) != len(outfit_ids) or len(features) != len(categories):
        raise TrainingError(f"features must be (N, D) with one outfit id and category per row, got "
                            f"{features.shape}, {len(outfit_ids)} outfit ids, {len(categories)} categories")
    cats = _category_codes(categories)
    outfits, _ = encode_labels(outfit_ids)
    device = pick_device(config.device)
    vocab, codes_t = None, None
    if config.metadata:
        if metadata is None or len(metadata) != len(features):
            raise TrainingError(f"config.metadata names {list(config.metadata)} but metadata has "
                                f"{'no' if metadata is None else len(metadata)} rows for {len(features)} features")
        vocab = MetadataVocab.build(metadata, config.metadata, config.meta_min_count)
        codes_t = torch.as_tensor(vocab.encode(metadata), device=device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        heads = CTLHeads(HeadsConfig(in_dim=features.shape[1], embed_dim=config.embed_dim, metadata=vocab,
                                     meta_dim=config.meta_dim, meta_dropout=config.meta_dropout)).to(device)
        step, optimizer = _step_and_optimizer(config, outfits, cats, heads, device)
        feats_t = torch.as_tensor(features, device=device)
        evaluate = None
        if val is not None:
            v_feats = np.ascontiguousarray(val[0], dtype=np.float32)
            v_out, _ = encode_labels(val[1])
            v_cats = _category_codes(val[2])
            v_meta = heads.metadata_codes(val_metadata, len(v_feats))
            evaluate = lambda: _evaluate(heads, v_feats, v_out, v_cats, device, v_meta)
        meta = (lambda b: codes_t[torch.as_tensor(b, device=device)]) if codes_t is not None else (lambda b: None)
        extra = None
        if category_examples is not None and config.category_batch > 0:
            examples = CategoryExampleLoss(*category_examples, config.category_batch, config.seed, device)
            extra = lambda: examples(heads)
        curves = _run_epochs(config, step, heads, lambda: ((b, b) for b in step.sampler),
                             lambda b: feats_t[torch.as_tensor(b, device=device)],
                             optimizer, device, progress, evaluate, [heads], meta=meta, extra_category=extra)
    return heads.cpu().eval(), curves


# ---------------------------------------------------------------------------------------------------------------
# Workspace wiring


class _ItemImages(torch.utils.data.Dataset):
    """Item crops as backbone input tensors, indexed like the training arrays."""

    def __init__(self, ws: Workspace, sources: list[tuple[str, tuple | None]], transform: Callable):
        self.ws, self.sources, self.transform = ws, sources, transform

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, box = self.sources[i]
        return self.transform(crop_box(load_image(self.ws.abs(path)), box)), i


def train_end_to_end(ws: Workspace, sources: list[tuple[str, tuple | None]], outfit_ids: np.ndarray,
                     categories: np.ndarray, backbone: nn.Module, config: TrainConfig,
                     progress: Progress | None = None) -> tuple[CTLHeads, pd.DataFrame]:
    """Fine-tune ``backbone`` and fresh heads on item images with the same samplers/losses as ``train_heads``.

    The backbone is updated in place (lr ``config.backbone_lr``); the heads come back on CPU in eval mode.
    """
    cats = _category_codes(categories)
    outfits, _ = encode_labels(outfit_ids)
    device = pick_device(config.device)
    images = _ItemImages(ws, sources, build_transform(backbone.preprocess))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        heads = CTLHeads(HeadsConfig(in_dim=backbone.num_features, embed_dim=config.embed_dim)).to(device)
        backbone.to(device)
        step, optimizer = _step_and_optimizer(config, outfits, cats, heads, device, backbone.parameters())
        loader = torch.utils.data.DataLoader(images, batch_sampler=step.sampler, num_workers=config.num_workers,
                                             pin_memory=device.type == "cuda")
        curves = _run_epochs(config, step, heads, lambda: ((idx.numpy(), x) for x, idx in loader),
                             lambda x: backbone.forward_features(x.to(device, non_blocking=True)),
                             optimizer, device, progress, None, [heads, backbone], chunk=config.chunk_size,
                             per_step=True)
    backbone.eval()
    return heads.cpu().eval(), curves


def train_partial(ws: Workspace, sources: list[tuple[str, tuple | None]], outfit_ids: np.ndarray,
                  categories: np.ndarray, backbone: Backbone, config: TrainConfig, progress: Progress | None = None,
                  *, example_sources: tuple[list, np.ndarray] | None = None, init_heads: CTLHeads | None = None,
                  ) -> tuple[CTLHeads, pd.DataFrame]:
    """Fine-tune the last ``config.trainable_stages`` stages of ``backbone`` (in place) and heads, forward = cached
    stage input -> those stages -> conv head -> pool -> heads, with the samplers and losses of every mode.

    Batch norm inside the backbone keeps its ImageNet statistics (eval mode; its affine weights train), so a
    row's features do not depend on its batch. ``example_sources`` (sources, category indices): labelled photos
    for the category head, through the trainable stages too. ``init_heads``: start from these heads (copied)
    instead of ``config.warmup_epochs`` of heads-only training. After training the heads' input statistics are
    set to the fine-tuned features of the training rows (``partial.refresh_input_norm``). With every stage
    trainable the input is the image (no cache; ``config.chunk_size`` chunks, no category examples).
    """
    k, n_stages = config.trainable_stages, num_stages(backbone)
    if k > n_stages:
        raise TrainingError(f"trainable_stages must be at most {n_stages} for backbone {backbone.name!r}, got {k}")
    cats, (outfits, _) = _category_codes(categories), encode_labels(outfit_ids)
    device = pick_device(config.device)
    backbone.eval().requires_grad_(False)
    top = TrainableTop(backbone, k).requires_grad_(True).to(device)
    inputs = partial.stage_inputs(ws, backbone, sources, k, progress).to(device) if k < n_stages else None
    examples = None
    if example_sources is not None and inputs is not None and config.category_batch > 0:
        ex, bad = partial.stage_inputs(ws, backbone, example_sources[0], k, progress, skip_bad=True)
        examples = (ex.subset(np.flatnonzero(~bad)), example_sources[1][~bad])
    curves = []
    if init_heads is None and config.warmup_epochs > 0 and inputs is not None:
        ex_feats = None if examples is None else (partial.pooled(top, examples[0]), examples[1])
        init_heads, warm = train_heads(partial.pooled(top, inputs), outfit_ids, categories,
                                       replace(config, mode="heads", epochs=config.warmup_epochs), progress,
                                       category_examples=ex_feats)
        curves.append(warm.assign(phase="heads"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        if init_heads is None:
            heads = CTLHeads(HeadsConfig(in_dim=backbone.num_features, embed_dim=config.embed_dim))
        else:
            heads = copy.deepcopy(init_heads)
            heads.input_norm.reset_running_stats()  # the fine-tuned features' statistics from here on
        heads = heads.to(device)
        step, optimizer = _step_and_optimizer(config, outfits, cats, heads, device, top.parameters())
        extra = None
        if examples is not None:
            ex_maps = examples[0].maps[torch.as_tensor(examples[0].rows)].numpy()
            ex_loss = CategoryExampleLoss(ex_maps, examples[1], config.category_batch, config.seed, device,
                                          featurize=top)
            extra = lambda: ex_loss(heads)
        if inputs is not None:
            batches, forward = (lambda: ((b, b) for b in step.sampler)), (lambda b: top(inputs.take(b)))
        else:  # every stage trainable: images, as end-to-end mode reads them
            loader = torch.utils.data.DataLoader(_ItemImages(ws, sources, build_transform(backbone.preprocess)),
                                                 batch_sampler=step.sampler, num_workers=config.num_workers)
            batches = lambda: ((idx.numpy(), x) for x, idx in loader)
            forward = lambda x: top(x.to(device, non_blocking=True))
        curves.append(_run_epochs(config, step, heads, batches, forward, optimizer, device,
                                  progress, None, [heads], chunk=None if inputs is not None else config.chunk_size,
                                  per_step=inputs is None, extra_category=extra).assign(phase="partial"))
    if inputs is not None:
        partial.refresh_input_norm(heads, partial.pooled(top, inputs))
    backbone.cpu().requires_grad_(True)
    return heads.cpu().eval(), pd.concat(curves, ignore_index=True)


def train(ws: Workspace, config: TrainConfig, backbone_name: str = DEFAULT_BACKBONE,
          progress: Progress | None = None) -> Path:
    """Train ``config.method`` on the workspace's train split and write the run folder; returns ws.model_dir(method).

    Heads mode trains on cached features (computed once per backbone, resumable); the test split's cached
    features are used only to draw the validation curves. End-to-end mode fine-tunes the backbone on images and
    also writes ``backbone.pt`` (its state_dict) to the run folder; so does partial mode (the whole backbone, its
    last stages fine-tuned), which serving loads like an end-to-end run's.
    """
    items = read_items(ws.items_csv)
    train_items = items[items["split"] == "train"].reset_index(drop=True)
    test_items = items[items["split"] == "test"].reset_index(drop=True)
    if train_items["outfit_id"].nunique() < 2:
        raise TrainingError(f"{ws.items_csv} has {train_items['outfit_id'].nunique()} training outfits; need at "
                            "least 2 (build the dataset first)")
    backbone = create_backbone(backbone_name, pretrained=True)
    run_dir = ws.model_dir(config.method)
    if config.mode == "heads":
        feats = cached_features(ws, backbone, item_sources(train_items), progress=progress)
        val = None
        if len(test_items):
            val = (cached_features(ws, backbone, item_sources(test_items), progress=progress),
                   test_items["outfit_id"].to_numpy(), test_items["category"].to_numpy())
        meta = val_meta = None
        if config.metadata:
            meta = product_metadata(ws, train_items["product_id"], config.metadata)
            val_meta = product_metadata(ws, test_items["product_id"], config.metadata)
        examples = training_examples(ws, backbone, progress) if config.category_batch > 0 else None
        heads, curves = train_heads(feats, train_items["outfit_id"].to_numpy(), train_items["category"].to_numpy(),
                                    config, progress=progress, val=val, metadata=meta, val_metadata=val_meta,
                                    category_examples=examples)
        save_run(run_dir, heads, backbone.name, config.to_dict(), curves,
                 extra={"category_examples": 0 if examples is None else len(examples[1])})
    elif config.mode == "partial":
        examples = training_example_sources(ws) if config.category_batch > 0 else None
        heads, curves = train_partial(ws, item_sources(train_items), train_items["outfit_id"].to_numpy(),
                                      train_items["category"].to_numpy(), backbone, config, progress,
                                      example_sources=examples)
        save_run(run_dir, heads, backbone.name, config.to_dict(), curves, backbone_state=backbone.state_dict())
    else:
        heads, curves = train_end_to_end(ws, item_sources(train_items), train_items["outfit_id"].to_numpy(),
                                         train_items["category"].to_numpy(), backbone, config, progress)
        save_run(run_dir, heads, backbone.name, config.to_dict(), curves, backbone_state=backbone.cpu().state_dict())
    return run_dir

