"""Training the scene-based model: the triplet loop over cached features, and the run folder it writes.

Triplets (scene, the masked-out product = positive, a random product of the same category that is not in the
scene's outfit = negative), hinge loss ``max(0, d_pos - d_neg + margin)`` (hand-written: the distance is asymmetric
scene-to-product, which pytorch-metric-learning's embedding-pair losses do not cover), Adam. The run folder
``ws.model_dir(SCENE_METHOD)`` holds ``scene.pt`` (not heads.pt: this run is not a CTLHeads run and must not be
listed as one), ``config.json`` and ``curves.csv``.
"""
from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from ctl_core.config import CURVES_FILE, SCENE_METHOD, Workspace
from ctl_core.io import atomic_write_bytes, atomic_write_json
from ctl_core.model.backbone import create_backbone
from ctl_core.model.device import pick_device
from ctl_core.model.weights import torch_load_tensors
from ctl_core.progress import Progress
from ctl_core.scene.data import load_tables, negative_pools, split_data
from ctl_core.scene.model import SceneConfig, SceneError, SceneHeads, hybrid_distance


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
    device = pick_device(config.device)
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


def train_scene_model(ws: Workspace, config: SceneConfig = SceneConfig(), progress: Progress | None = None) -> Path:
    """Train the scene-based model on the train split; writes ``ws.model_dir("scene-based")`` (scene.pt,
    config.json, curves.csv) and returns it."""
    t0 = time.perf_counter()
    scenes, products = load_tables(ws)
    backbone = create_backbone(config.backbone, pretrained=True)
    data = split_data(ws, backbone, scenes, products, "train", config.max_train_scenes, config.seed, config.device,
                      progress)
    pools = negative_pools(data)
    usable = np.array([len(p) > 0 for p in pools], dtype=bool)
    if usable.sum() < 2:
        raise SceneError(f"{ws.items_csv}: {int(usable.sum())} training scenes with a same-category negative product; "
                         "need at least 2 (build the dataset first; the scene model needs collage boxes)")
    t_data = time.perf_counter() - t0
    if not usable.all():  # (a copy of the maps only when some scenes must go)
        data.maps, data.positives = data.maps[usable], data.positives[usable]
        pools = [p for p, u in zip(pools, usable) if u]
    heads, curves = train_scene_heads(data.maps, data.feats, data.positives, pools, config, progress)
    run_dir = ws.model_dir(SCENE_METHOD)
    run_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(heads.state_dict(), buf)
    atomic_write_bytes(ws.scene_weights_path, buf.getvalue())
    cfg = {"method": SCENE_METHOD, "backbone": backbone.name, "scene": config.to_dict(),
           "dims": {"scene_dim": heads.scene_dim, "product_dim": heads.product_dim, "regions": int(data.maps.shape[1])},
           "run": {"n_scenes": int(usable.sum()), "n_products": len(data.products),
                   "data_seconds": round(t_data, 2), "train_seconds": round(float(curves["seconds"].sum()), 2),
                   "trained_at": datetime.now(UTC).isoformat(timespec="seconds")}}
    atomic_write_json(ws.run_config_path(SCENE_METHOD), cfg)
    atomic_write_bytes(run_dir / CURVES_FILE, curves.to_csv(index=False).encode())
    return run_dir


def load_scene_heads(ws: Workspace) -> tuple[SceneHeads, SceneConfig]:
    """The trained heads (eval mode, CPU) and the config of the run in ``ws.model_dir("scene-based")``."""
    run_dir = ws.model_dir(SCENE_METHOD)
    if not ws.scene_weights_path.exists():
        raise SceneError(f"no scene-based model in {run_dir}; train it first")
    cfg = json.loads(ws.run_config_path(SCENE_METHOD).read_text())
    config = SceneConfig.from_dict(cfg["scene"])
    heads = SceneHeads(cfg["dims"]["scene_dim"], cfg["dims"]["product_dim"], config.embed_dim,
                       config.attention_hidden)
    heads.load_state_dict(torch_load_tensors(ws.scene_weights_path, ws.scene_weights_path,
                                             "retrain it (python -m ctl_core scene train)", SceneError))
    return heads.eval(), config
