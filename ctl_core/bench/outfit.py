"""The outfit model's ablation on a VALIDATION split (never the test split): what each step is worth.

``outfit_ablation`` carves the validation outfits from the training split (ctl_core.training.validation, seed 1),
trains on the rest and scores every variant on the same validation protocol (FITB, FITB with popular distractors,
Recall@10, compatibility AUC, each with n):

- pairwise triplet-category heads, ``paper`` and ``validated`` recipes (ctl_core.training.recipes);
- the outfit model over the frozen backbone features (early-stopped on the same validation FITB — the figure is
  optimistic by that selection, as every tuned row is);
- re-ranking as served: the outfit model's order among the pairwise model's top ``candidates`` (for FITB's four
  candidates this is the outfit model itself; for Recall@K it changes the ranking);
- score fusion: outfit cosine minus ``alpha`` x the pairwise mean distance, for a few ``alpha``.

``python -m ctl_core bench outfit [--seeds 0 1] [--epochs E]`` prints the table and writes it as JSON.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ctl_core.config import DEFAULT_BACKBONE, Workspace
from ctl_core.data.tables import read_items
from ctl_core.evaluation.fitb_file import wilson_interval
from ctl_core.evaluation.metrics import fitb_accuracy, recall_at_k
from ctl_core.evaluation.protocol import (
    EvalConfig,
    build_compat_questions,
    build_protocol,
    popular_fitb,
    product_popularity,
)
from ctl_core.evaluation.table4 import _corpus_distances, embedding_compat_auc, fitb_distance_sums
from ctl_core.progress import Progress


def _row(name: str, fitb_hits: np.ndarray, extra: dict) -> dict:
    n = len(fitb_hits)
    lo, hi = wilson_interval(int(fitb_hits.sum()), n)
    return {"variant": name, "FITB": float(fitb_hits.mean()), "FITB_lo": lo, "FITB_hi": hi, "n_FITB": n, **extra}


def outfit_ablation(ws: Workspace, seeds: Sequence[int] = (0,), epochs: int | None = None,
                    alphas: Sequence[float] = (0.5, 1.0, 2.0), candidates: int = 50,
                    backbone_name: str = DEFAULT_BACKBONE, progress: Progress | None = None) -> pd.DataFrame:
    """Validation figures of each variant (module docstring), one row per (variant, seed)."""
    from ctl_core.evaluation.outfit import OutfitScorer
    from ctl_core.training.outfit import (
        OutfitTrainConfig,
        _products,
        train_outfit_model,
        validation_arrays,
        validation_split,
    )
    from ctl_core.training.train import TrainConfig, train_heads

    items = read_items(ws.items_csv)
    fit, val, f_fit, f_val = validation_split(ws, backbone_name, progress=progress)
    val_t = val.assign(split="test").reset_index(drop=True)
    protocol = build_protocol(val_t, EvalConfig())
    compat = build_compat_questions(val_t)
    hard = popular_fitb(val_t, protocol.fitb, product_popularity(items[items["split"] == "train"]))
    corp = protocol.all_categories

    def pairwise_figures(emb: np.ndarray) -> tuple[np.ndarray, dict, np.ndarray, np.ndarray]:
        sums = fitb_distance_sums(emb, protocol.fitb)
        d = _corpus_distances(emb, corp, 512)
        hits = np.argmin(sums, axis=1) == protocol.fitb.correct
        return hits, {"FITB_pop": fitb_accuracy(fitb_distance_sums(emb, hard), hard.correct),
                      "R@10": recall_at_k(d, corp.positive, 10), "compat_AUC": embedding_compat_auc(emb, compat)}, \
            sums, d

    rows: list[dict] = []
    for seed in seeds:
        embs = {}
        for recipe in ("paper", "validated"):
            t0 = time.perf_counter()
            heads, _ = train_heads(f_fit, fit["outfit_id"].to_numpy(), fit["category"].to_numpy(),
                                   TrainConfig(method="triplet-category", recipe=recipe, seed=seed), progress=progress)
            import torch

            with torch.no_grad():
                embs[recipe] = heads.embed(torch.as_tensor(np.ascontiguousarray(f_val, np.float32))).numpy()
            hits, extra, _, _ = pairwise_figures(embs[recipe])
            rows.append(_row(f"pairwise triplet-category ({recipe} recipe)", hits,
                             {**extra, "seed": seed, "train_s": time.perf_counter() - t0}))
        t0 = time.perf_counter()
        config = OutfitTrainConfig(seed=seed, **({"epochs": epochs} if epochs else {}))
        model, curves, summary = train_outfit_model(
            f_fit, fit["outfit_id"].to_numpy(), fit["category"].to_numpy(), _products(fit), config,
            val=validation_arrays(val, f_val), progress=progress)
        train_s = time.perf_counter() - t0
        scorer = OutfitScorer(model, f_val, val["category"].to_numpy())
        s_fitb = scorer.fitb_scores(protocol.fitb)
        s_corp = scorer.corpus_scores(corp)
        outfit_extra = {"FITB_pop": scorer.fitb(hard), "R@10": recall_at_k(-s_corp, corp.positive, 10),
                        "compat_AUC": scorer.compat_auc(compat), "seed": seed, "train_s": train_s,
                        "best_epoch": summary.get("best_epoch")}
        rows.append(_row("outfit model (frozen features)", np.argmax(s_fitb, 1) == protocol.fitb.correct,
                         outfit_extra))
        _, _, sums, d = pairwise_figures(embs["validated"])
        # re-ranking as served: the outfit order within the pairwise top-N, the pairwise order after it
        top = np.argsort(np.argsort(d, axis=1, kind="stable"), axis=1) < candidates
        reranked = np.where(top, -s_corp, 10.0 + d)
        rows.append(_row(f"outfit re-ranking of pairwise top {candidates}",
                         np.argmax(s_fitb, 1) == protocol.fitb.correct,
                         {**outfit_extra, "R@10": recall_at_k(reranked, corp.positive, 10)}))
        n_q = (protocol.fitb.questions >= 0).sum(1, keepdims=True).clip(min=1)
        for a in alphas:
            fused = s_fitb - a * sums / n_q
            hits = np.argmax(fused, 1) == protocol.fitb.correct
            rows.append(_row(f"fusion: outfit - {a:g} x pairwise distance", hits,
                             {"R@10": recall_at_k(-s_corp + a * d, corp.positive, 10), "seed": seed}))
    return pd.DataFrame(rows)


def format_ablation(df: pd.DataFrame) -> str:
    """Markdown: mean over seeds per variant (FITB with the first seed's 95% interval), percent."""
    agg = df.groupby("variant", sort=False).agg(
        FITB=("FITB", "mean"), FITB_lo=("FITB_lo", "first"), FITB_hi=("FITB_hi", "first"), n=("n_FITB", "first"),
        FITB_pop=("FITB_pop", "mean"), R10=("R@10", "mean"), AUC=("compat_AUC", "mean"), seeds=("seed", "nunique"))
    lines = ["| variant (validation) | FITB | 95% CI | n | FITB_pop | R@10 | compat AUC | seeds |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]

    def pct(v) -> str:
        return "–" if v != v else f"{100 * v:.1f}"

    for name, r in agg.iterrows():
        lines.append(f"| {name} | {pct(r.FITB)} | {pct(r.FITB_lo)}–{pct(r.FITB_hi)} | {int(r.n)} | {pct(r.FITB_pop)} "
                     f"| {pct(r.R10)} | {'–' if r.AUC != r.AUC else f'{r.AUC:.3f}'} | {int(r.seeds)} |")
    return "\n".join(lines)
