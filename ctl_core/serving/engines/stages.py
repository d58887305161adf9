"""The two stages of the Ray pipeline that touch images and models, as plain functions and classes.

``decode_batch`` runs in CPU tasks: it reads each image once (``images.load_image``), takes the product-shot score,
crops the item box when there is one and resizes/centre-crops to the backbone's input (``backbone.to_uint8_array``),
exactly what the local engine does. An image that cannot be used becomes a row with a reason (the importers'
reason names) and a message, never a failed task. ``CatalogueActor`` and ``FeatureActor`` run in the actor pool:
one model load per actor (``__init__``), then backbone (and heads) over the good rows of each batch.

Timing columns (seconds per image): ``decode_s`` (reading + decoding), ``preprocess_s`` (product-shot score, crop,
resize), ``forward_s`` (the batch's forward pass divided by its good images): the measured costs behind the
README's scaling estimate.
"""
from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from ctl_core.config import Workspace
from ctl_core.data.categories import CATEGORIES
from ctl_core.data.importers.common import MALFORMED, MISSING_IMAGE, NOT_AN_IMAGE, OUTSIDE, UNREADABLE_IMAGE
from ctl_core.images import ImageError, crop_box, load_image, product_shot_score
from ctl_core.model.backbone import Backbone, Preprocess, inference_copy, normalize_batch, to_uint8_array
from ctl_core.model.device import pick_device
from ctl_core.serving.adapter import ModelAdapter
from ctl_core.serving.engines.config import EngineError
from ctl_core.serving.product_shot import PersonDetector, ProductShotScorer, combine

OK = "ok"
BOX_COLUMNS = ("box_x", "box_y", "box_w", "box_h")  # -1 everywhere: the whole image
TIMING_COLUMNS = ("decode_s", "preprocess_s", "forward_s")


def problem_reason(path: str) -> str:
    """The report reason for an image path that failed to load: missing, a wrong path (not a file), unreadable."""
    if not path:
        return MALFORMED
    if not os.path.exists(path):
        return MISSING_IMAGE
    if not os.path.isfile(path):
        return NOT_AN_IMAGE
    return UNREADABLE_IMAGE


def decode_batch(batch: dict[str, np.ndarray], preprocess: Preprocess, shot_score: bool = True) -> dict:
    """Decode + preprocess one batch of rows (``key``, ``path``, ``stamp`` [, box columns]) into uint8 pixels."""
    paths = [str(p) for p in batch["path"]]
    n, s = len(paths), preprocess.input_size
    pixels = np.zeros((n, s, s, 3), np.uint8)
    status = np.full(n, OK, dtype=object)
    message = np.full(n, "", dtype=object)
    shot = np.zeros(n, np.float32)
    t_dec, t_pre = np.zeros(n, np.float32), np.zeros(n, np.float32)
    boxes = np.stack([np.asarray(batch[c], np.int64) for c in BOX_COLUMNS], axis=1) if BOX_COLUMNS[0] in batch \
        else np.full((n, 4), -1, np.int64)
    for i, path in enumerate(paths):
        t0 = time.perf_counter()
        try:
            img = load_image(path)
        except ImageError as e:
            status[i], message[i] = problem_reason(path), str(e)
            continue
        t1 = time.perf_counter()
        try:
            if shot_score:
                shot[i] = product_shot_score(img)
            box = None if boxes[i, 0] < 0 else tuple(int(v) for v in boxes[i])
            pixels[i] = to_uint8_array(crop_box(img, box), preprocess)
        except ImageError as e:
            status[i], message[i] = OUTSIDE, f"{path}: {e}"
            continue
        t_dec[i], t_pre[i] = t1 - t0, time.perf_counter() - t1
    out = {k: v for k, v in batch.items()}
    out.update(pixels=pixels, status=status, message=message, product_shot_score=shot, decode_s=t_dec,
               preprocess_s=t_pre)
    return out


def _fixed_list(values: np.ndarray) -> pa.FixedSizeListArray:
    values = np.ascontiguousarray(values, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), int(values.shape[1]))


def fixed_list_to_numpy(column: pa.ChunkedArray | pa.Array, dim: int) -> np.ndarray:
    """(N, dim) float32 from a Parquet/Arrow fixed-size-list column written by the actors."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return np.asarray(arr.flatten(), dtype=np.float32).reshape(-1, dim) if len(arr) else np.zeros((0, dim), np.float32)


class _ForwardActor:
    """Shared part of the actors: a private inference copy of the backbone, uint8 batches → pooled features."""

    def _setup(self, backbone: Backbone, device: str, torch_threads: int | None) -> None:
        if torch_threads:
            torch.set_num_threads(int(torch_threads))
        self.device = pick_device(device)
        self.bb = inference_copy(backbone, channels_last=True).to(self.device)
        self.pre = backbone.preprocess
        self.dim = int(backbone.num_features)

    @torch.inference_mode()
    def _features(self, pixels: np.ndarray) -> np.ndarray:
        x = normalize_batch(torch.from_numpy(np.ascontiguousarray(pixels)).to(self.device), self.pre)
        return self.bb.forward_features(x).float().cpu().numpy()

    @staticmethod
    def _base(batch: dict, ok: np.ndarray, forward_s: float) -> dict[str, pa.Array]:
        fwd = np.zeros(len(ok), np.float32)
        fwd[ok] = forward_s / max(int(ok.sum()), 1)
        return {"status": pa.array(batch["status"].astype(str)), "message": pa.array(batch["message"].astype(str)),
                "decode_s": pa.array(batch["decode_s"]), "preprocess_s": pa.array(batch["preprocess_s"]),
                "forward_s": pa.array(fwd)}


class CatalogueActor(_ForwardActor):
    """Backbone + heads of a trained model (``ModelAdapter.load``), one load per actor; rows → Arrow shard rows."""

    def __init__(self, root: str, method: str, checksum: str, device: str = "cpu", torch_threads: int | None = None,
                 run_id: str = "", metadata_columns: Sequence[str] = (), person_detector: dict | None = None):
        self.adapter = ModelAdapter.load(Workspace.at(root), method, device)
        self.method, self.stale = method, self.adapter.checksum != checksum  # raised per batch: no restart loop
        self._setup(self.adapter.backbone, device, torch_threads)
        self.embed_dim = int(self.adapter.heads.config.embed_dim)
        self.run_id = run_id
        self.metadata_columns = list(metadata_columns)  # the catalogue row, for heads with a metadata side input
        # the driver's choice of person detector (as the local engine: min(border score, 1 - p(person)))
        self.scorer = ProductShotScorer(PersonDetector.from_dict(person_detector) if person_detector else None)

    def __call__(self, batch: dict[str, np.ndarray]) -> pa.Table:
        if self.stale:
            raise EngineError(f"model {self.method!r} changed while the job ran; run the index command again")
        ok = np.asarray(batch["status"] == OK, dtype=bool)
        n = len(ok)
        emb = np.zeros((n, self.embed_dim), np.float32)
        pred = np.full(n, "", dtype=object)
        conf = np.zeros(n, np.float32)
        shot = np.asarray(batch["product_shot_score"], np.float32).copy()
        t0 = time.perf_counter()
        if ok.any():
            meta = pd.DataFrame({c: batch[c][ok] for c in self.metadata_columns if c in batch})
            feats = self._features(batch["pixels"][ok])
            shot[ok] = combine(shot[ok], self.scorer.person_probability(feats))
            probs, e = self.adapter.understand(feats, meta)
            top = probs.argmax(axis=1)
            emb[ok], conf[ok] = e, probs[np.arange(len(top)), top]
            pred[ok] = [CATEGORIES[int(t)] for t in top]
        cols = {"product_id": pa.array(batch["key"].astype(str)), "stamp": pa.array(batch["stamp"].astype(str)),
                "pred_category": pa.array(pred.astype(str)), "confidence": pa.array(conf),
                "product_shot_score": pa.array(shot),
                "embedding": _fixed_list(emb), **self._base(batch, ok, time.perf_counter() - t0),
                "run_id": pa.array([self.run_id] * n, pa.string())}
        return pa.table(cols)


class FeatureActor(_ForwardActor):
    """Backbone only (the shared feature cache for training); rows → (key, stamp, status, features)."""

    def __init__(self, backbone: Backbone, device: str = "cpu", torch_threads: int | None = None):
        self._setup(backbone, device, torch_threads)

    def __call__(self, batch: dict[str, np.ndarray]) -> pa.Table:
        ok = np.asarray(batch["status"] == OK, dtype=bool)
        feats = np.zeros((len(ok), self.dim), np.float32)
        t0 = time.perf_counter()
        if ok.any():
            feats[ok] = self._features(batch["pixels"][ok])
        return pa.table({"key": pa.array(batch["key"].astype(str)), "stamp": pa.array(batch["stamp"].astype(str)),
                         "features": _fixed_list(feats), **self._base(batch, ok, time.perf_counter() - t0)})
