"""Partial fine-tuning benchmark (issue 18 point 2): 0, 1, 2, ... trainable backbone stages, on validation only.

``run_partial_bench(ws, stages=(0, 1, 2), epochs, warmup_epochs)`` carves the validation split from the training
outfits (``ctl_core.training.validation``; the test split is never read) and, for each setting, reports FITB and
R@10 on the validation outfits, category accuracy on the held-out labelled photos (the category examples' held-out
20%), training minutes and cache size:
  * 0 stages: the heads alone on the frozen pooled features for ``warmup_epochs`` (the tuned pairwise model);
  * k >= 1 stages: those same heads, then ``epochs`` of the last k stages + conv head + heads from the cached
    stage inputs (``mode="partial"``, ``validate_partial``). Its minutes are the fine-tuning alone (add row 0's
    for the whole recipe).
The largest k's stage inputs are computed from images; smaller k's are derived from them
(``derive_stage_inputs``: no decoding, only the stages in between). The frozen pooled features of row 0 come from
the smallest cached maps through the pretrained top (equal to the pooled cache up to float16 rounding).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ctl_core.config import DEFAULT_BACKBONE, Workspace
from ctl_core.data.tables import read_items
from ctl_core.evaluation.table4 import evaluate_embeddings
from ctl_core.model.backbone import create_backbone
from ctl_core.model.ctl_model import save_run
from ctl_core.model.features import (
    cached_features,
    derive_stage_inputs,
    item_sources,
    source_key,
    stage_cache_name,
)
from ctl_core.model.stages import TrainableTop
from ctl_core.progress import Progress
from ctl_core.training import partial
from ctl_core.training.category_examples import training_example_sources
from ctl_core.training.train import TrainConfig, train_heads
from ctl_core.training.validation import ValidationConfig, carve_validation, validate_partial


def _mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2 ** 20 if folder.exists() else 0.0


def _photo_accuracy(heads, feats: np.ndarray, cats: np.ndarray, bad: np.ndarray) -> float:
    with torch.no_grad():
        pred = heads.classify(torch.as_tensor(feats)).argmax(1).numpy()
    return float((pred == cats)[~bad].mean())


def run_partial_bench(ws: Workspace, stages: Sequence[int] = (0, 1, 2), epochs: int = 5, warmup_epochs: int = 40,
                      base: TrainConfig | None = None, backbone_name: str = DEFAULT_BACKBONE,
                      config_v: ValidationConfig = ValidationConfig(), save_best: str | None = None,
                      progress: Progress | None = None, say: Callable[[str], None] = print,
                      on_row: Callable[[list[dict]], None] | None = None) -> list[dict]:
    """One row per setting: stages, FITB, R@10, photo_category_acc, n_fitb, n_queries, n_photos, train_minutes,
    cache_minutes (computing the stage-input cache; 0 when it was already there), cache_mib.

    ``base``: the training settings (default: triplet-category with the validated recipe's negatives and margin).
    ``save_best``: write the best setting by validation FITB as the run ``ws.model_dir(save_best)`` (trained on the
    fit outfits only; a partial run carries ``backbone.pt``), for ``partial.adapted_features``; rewritten whenever a
    row beats the ones before, so an interrupted bench keeps the best so far. ``on_row(rows)`` after every row.
    """
    base = base or TrainConfig(method="triplet-category", negatives_per_positive=32, margin=0.2)
    bb = create_backbone(backbone_name)
    items = read_items(ws.items_csv)
    train_rows = items[items["split"] == "train"].reset_index(drop=True)
    fit, val = carve_validation(train_rows, config_v)
    examples = training_example_sources(ws)
    photos = training_example_sources(ws, held_out=True)
    photo_sources, photo_cats = photos if photos is not None else ([], np.zeros(0, np.int64))
    every = item_sources(train_rows) + (examples[0] if examples else []) + list(photo_sources)
    ks = sorted({k for k in stages if k > 0}, reverse=True)
    cache_minutes: dict[int, float] = {}
    for i, k in enumerate(ks):  # the largest from images, the others derived from it
        t0 = time.perf_counter()
        if i == 0:
            partial.stage_inputs(ws, bb, every, k, progress, skip_bad=True)  # one map per distinct image
        else:
            derive_stage_inputs(ws, bb, ks[0], k, progress=progress)
        cache_minutes[k] = (time.perf_counter() - t0) / 60
        say(f"stage inputs k={k}: {cache_minutes[k]:.1f} min, "
            f"{_mib(ws.features_dir(stage_cache_name(bb, k))):.0f} MiB")

    k_src = min(ks) if ks else None
    frozen_top = TrainableTop(bb, k_src) if k_src is not None else None

    def frozen(sources):
        if frozen_top is None:
            return cached_features(ws, bb, sources, progress=progress, skip_bad=True)
        inputs, bad = partial.stage_inputs(ws, bb, sources, k_src, skip_bad=True)
        return partial.pooled(frozen_top, inputs), bad

    fit_f, _ = frozen(item_sources(fit))
    val_f, _ = frozen(item_sources(val))
    ex_f = None
    if examples is not None:
        f, bad = frozen(examples[0])
        ex_f = (f[~bad], examples[1][~bad])
    t0 = time.perf_counter()
    warm, _ = train_heads(fit_f, fit["outfit_id"].to_numpy(), fit["category"].to_numpy(),
                          replace(base, mode="heads", epochs=warmup_epochs), progress, category_examples=ex_f)
    warm_minutes = (time.perf_counter() - t0) / 60
    with torch.no_grad():
        res = evaluate_embeddings(warm.embed(torch.as_tensor(val_f)).numpy(), val.assign(split="test"), config_v.eval)
    rows: list[dict] = []
    best_fitb = -1.0

    def done(row: dict, heads, backbone, config: TrainConfig) -> None:
        nonlocal best_fitb
        rows.append(row)
        say(f"{row['stages']} stages: {row}")
        if save_best is not None and row["FITB"] > best_fitb:
            best_fitb = row["FITB"]
            run = save_run(ws.model_dir(save_best), heads, bb.name, config.to_dict(), None,
                           backbone_state=None if backbone is None else backbone.state_dict(),
                           extra={"validation": dict(row), "fit_outfits_only": True})
            say(f"best so far ({row['stages']} stages) saved to {run}")
        if on_row is not None:
            on_row(rows)

    if 0 in stages:
        row = {"stages": 0, "FITB": res["FITB"], "R@10": res["R@10"], "n_fitb": res["n_fitb"],
               "n_queries": res["n_queries"], "train_minutes": warm_minutes, "cache_minutes": 0.0,
               "cache_mib": len({source_key(*src) for src in every}) * bb.num_features * 4 / 2 ** 20}  # pooled
        if len(photo_sources):
            pf, pbad = frozen(photo_sources)
            row.update(photo_category_acc=_photo_accuracy(warm, pf, photo_cats, pbad), n_photos=int((~pbad).sum()))
        done(row, warm, None, replace(base, mode="heads", epochs=warmup_epochs))
    for k in sorted(ks):
        config = replace(base, mode="partial", trainable_stages=k, epochs=epochs, warmup_epochs=0)
        t0 = time.perf_counter()
        r = validate_partial(ws, config, backbone_name, config_v, progress, init_heads=warm)
        row = {"stages": k, "FITB": r["FITB"], "R@10": r["R@10"], "n_fitb": r["n_fitb"], "n_queries": r["n_queries"],
               "train_minutes": (time.perf_counter() - t0) / 60, "cache_minutes": cache_minutes[k],
               "cache_mib": _mib(ws.features_dir(stage_cache_name(bb, k)))}
        if "photo_category_acc" in r:
            row.update(photo_category_acc=r["photo_category_acc"], n_photos=r["n_photos"])
        done(row, r["heads"], r["backbone"], config)
    return rows


def format_table(rows: list[dict]) -> str:
    """The README's markdown table of ``run_partial_bench`` rows."""
    lines = ["| trainable stages | FITB | R@10 | category acc. (held-out photos) | training min | cache MiB |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        acc = f"{100 * r['photo_category_acc']:.1f}" if "photo_category_acc" in r else "–"
        lines.append(f"| {r['stages']} | {100 * r['FITB']:.1f} | {100 * r['R@10']:.1f} | {acc} | "
                     f"{r['train_minutes']:.1f} | {r['cache_mib']:.0f} |")
    return "\n".join(lines)


__all__ = ["format_table", "run_partial_bench"]
