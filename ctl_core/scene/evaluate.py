"""Evaluating the scene-based model: FITB and Recall@K on the test split's scenes, against two baselines.

Protocol (``evaluate_scene_model``; test-split scenes, at most ``max_test_scenes``, seeded):
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

import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import torch

from ctl_core.config import SCENE_METHOD, Workspace
from ctl_core.evaluation.metrics import fitb_accuracy, recall_at_k
from ctl_core.io import atomic_write_json
from ctl_core.model.backbone import create_backbone
from ctl_core.progress import Progress
from ctl_core.scene.data import SplitData, load_tables, negative_pools, split_data
from ctl_core.scene.model import SceneConfig, SceneError, SceneHeads, candidate_distances
from ctl_core.scene.train import load_scene_heads


def _sample(rng: np.random.Generator, pool: np.ndarray, n: int) -> np.ndarray:
    return pool[rng.choice(len(pool), size=min(n, len(pool)), replace=False)]


def scene_protocol(data: SplitData, config: SceneConfig) -> dict[str, Any]:
    """The seeded FITB questions and Recall corpora over ``data`` (the protocol of the module docstring).

    Returns ``fitb`` (Q1, C) product indices + ``fitb_scenes`` + ``fitb_correct``, ``recall`` (Q2, C') +
    ``recall_positive`` (bool, same shape), and ``n_fitb_skipped``.
    """
    rng = np.random.default_rng([config.seed, 2])
    pools = negative_pools(data)
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


def score_scene_protocol(heads: SceneHeads, data: SplitData, protocol: dict[str, Any], config: SceneConfig,
                         mode: str = "hybrid") -> dict[str, float]:
    """FITB and R@K of ``heads`` (distance ``mode``) on ``protocol``; NaN where there are no questions."""
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
    t0 = time.perf_counter()
    heads, run_config = load_scene_heads(ws)
    config = config or run_config
    backbone = create_backbone(config.backbone, pretrained=True)
    scenes, products = load_tables(ws)
    data = split_data(ws, backbone, scenes, products, "test", config.max_test_scenes, config.seed, config.device,
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
        "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds"),
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
    atomic_write_json(ws.metrics_path(SCENE_METHOD), res)
    return res
