"""Catalogue inference (paper sec. 3): predicted category, product-shot score and style embedding per product.

Output, under ``ws.catalogue_dir(method)``:
  predictions.csv  product_id, pred_category, confidence, product_shot_score, category (true, from the catalogue)
  embeddings.npy   (N, 128) float32 unit vectors, row i belongs to row i of predictions.csv
  meta.json        the model that produced them (method, backbone, model checksum, embedding dim, count)

Resumable: a second run embeds only product ids not yet there (everything again if the model changed).

All glue to the model modules (backbone.py, features.py, model.py) lives in ``ModelAdapter``; the rest of
serving (indices, recommender, benchmark) sees only ``featurize(images)`` and ``understand(feats)``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image

from ctl_core.categories import CATEGORIES
from ctl_core.config import Workspace
from ctl_core.images import ImageError, load_image, product_shot_score
from ctl_core.schema import read_catalogue, write_table

log = logging.getLogger(__name__)

from ctl_core.progress import Progress  # noqa: E402
PREDICTION_COLUMNS = ["product_id", "pred_category", "confidence", "product_shot_score", "category"]


class CatalogueError(ValueError):
    """Catalogue inference output is missing or inconsistent."""


class ModelAdapter:
    """The one place serving touches the model: images → backbone features → (category probs, style embedding).

    Build it with ``ModelAdapter.load(ws, method, device)`` for a trained model, or directly over any
    featurizer and ``CTLHeads`` (tests, benchmarks):

    - ``featurize_fn(list[PIL.Image]) -> np.ndarray (B, D)`` backbone features;
    - ``heads``: ``CTLHeads`` (its ``embed`` gives the style embedding);
    - ``probs_fn(torch.Tensor feats) -> (B, 21)`` category probabilities (default: softmax of ``heads.classify``);
    - ``name`` (backbone name) and ``checksum`` (identifies the model in index manifests).
    """

    def __init__(self, featurize_fn: Callable[[list[Image.Image]], np.ndarray], heads: torch.nn.Module, *,
                 probs_fn: Callable[[torch.Tensor], torch.Tensor] | None = None, name: str = "custom",
                 checksum: str | None = None, device: str | torch.device = "cpu", backbone=None):
        self._featurize_fn = featurize_fn
        self.heads = heads.eval()
        self._probs_fn = probs_fn
        self.name = name
        self.device = torch.device(device)
        self.checksum = checksum or heads_checksum(heads)
        self.backbone = backbone  # the real Backbone when there is one (feature cache key, benchmarks)
        self.use_feature_cache = backbone is not None

    # -- construction over the real model modules -----------------------------------------------------------
    @classmethod
    def load(cls, ws: Workspace, method: str, device: str = "auto") -> "ModelAdapter":
        """The trained model of ``method`` (``model.load_model``) behind the adapter interface."""
        from ctl_core import model as model_mod  # lazy: the model modules are heavy and optional for tests

        dev = model_mod.pick_device(device)
        m = model_mod.load_model(ws, method, device=str(dev))
        adapter = cls.from_model(m, device=dev, checksum=model_mod.model_checksum(ws, method))
        # An end-to-end run fine-tuned the backbone: the shared (pretrained) feature cache does not apply to it.
        adapter.use_feature_cache = not (ws.model_dir(method) / "backbone.pt").is_file()
        return adapter

    @classmethod
    def from_model(cls, m, device: str | torch.device = "cpu", checksum: str | None = None) -> "ModelAdapter":
        """Wrap a ``CTLModel`` (``.backbone`` + ``.heads``) already in memory."""
        from ctl_core import backbone as backbone_mod
        from ctl_core import model as model_mod

        dev = torch.device(device)
        m = m.to(dev).eval()
        transform = backbone_mod.build_transform(m.backbone.preprocess)
        # Batch norm folded + channels_last: the fast inference form of the same weights (ENVIRONMENT.md).
        # ``load_model`` already returns it; a model built in memory gets a folded copy here.
        bb = m.backbone
        if not getattr(bb, "fused", True) and hasattr(backbone_mod, "inference_copy"):
            bb = backbone_mod.inference_copy(bb).to(dev)

        @torch.inference_mode()
        def featurize(images: list[Image.Image]) -> np.ndarray:
            x = torch.stack([transform(im) for im in images]).to(dev)
            if getattr(bb, "channels_last", False):
                x = x.contiguous(memory_format=torch.channels_last)
            return bb.forward_features(x).float().cpu().numpy()

        def probs(feats: torch.Tensor) -> torch.Tensor:
            return torch.as_tensor(model_mod.category_probs(m, feats))

        return cls(featurize, m.heads, probs_fn=probs, name=m.backbone.name, checksum=checksum, device=dev,
                   backbone=m.backbone)

    # -- the interface serving uses ----------------------------------------------------------------------------
    def featurize(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Backbone features (B, D) float32 of RGB images."""
        if not images:
            return np.zeros((0, 0), np.float32)
        return np.asarray(self._featurize_fn(list(images)), dtype=np.float32)

    @torch.inference_mode()
    def understand(self, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(category probabilities (B, 21), L2-normalised style embeddings (B, E)) from backbone features."""
        t = torch.as_tensor(np.asarray(feats, dtype=np.float32), device=self.device)
        self.heads.eval()
        if self._probs_fn is not None:
            probs = self._probs_fn(t)
        else:
            probs = torch.softmax(self.heads.classify(t), dim=-1)
        emb = self.heads.embed(t)
        return (np.asarray(torch.as_tensor(probs).float().cpu(), dtype=np.float32),
                np.ascontiguousarray(emb.float().cpu().numpy(), dtype=np.float32))

    def source_features(self, ws: Workspace, sources: list[tuple[str, tuple | None]], batch_size: int = 32,
                        progress: Progress | None = None) -> np.ndarray:
        """Backbone features of workspace images; through the shared feature cache when a real backbone is present."""
        if self.backbone is not None and self.use_feature_cache:
            from ctl_core import features as features_mod

            return np.asarray(features_mod.cached_features(ws, self.backbone, sources, batch_size=batch_size,
                                                           device=self.device, progress=progress), dtype=np.float32)
        from ctl_core.images import crop_box

        out: list[np.ndarray] = []
        for start in range(0, len(sources), batch_size):
            chunk = sources[start:start + batch_size]
            imgs = [crop_box(load_image(ws.abs(p)), box) for p, box in chunk]
            out.append(self.featurize(imgs))
            if progress:
                progress("features", min(start + batch_size, len(sources)), len(sources))
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def heads_checksum(heads: torch.nn.Module) -> str:
    """sha256 over a module's state dict (names, shapes, values): identifies an in-memory model."""
    h = hashlib.sha256()
    for k, v in heads.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


# -- catalogue inference -----------------------------------------------------------------------------------------

def _paths(ws: Workspace, method: str) -> tuple[Path, Path, Path]:
    d = ws.catalogue_dir(method)
    return d / "predictions.csv", d / "embeddings.npy", d / "meta.json"


def _save_npy(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, arr)
    os.replace(tmp, path)


def _save_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def load_catalogue_inference(ws: Workspace, method: str) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """(predictions, embeddings, meta) written by ``infer_catalogue``; ``CatalogueError`` when missing or misaligned."""
    pred_p, emb_p, meta_p = _paths(ws, method)
    if not (pred_p.exists() and emb_p.exists() and meta_p.exists()):
        raise CatalogueError(f"no catalogue inference for model {method!r} in {pred_p.parent}; "
                             f"run: python -m ctl_core index --model {method}")
    preds = pd.read_csv(pred_p, dtype={"product_id": "string", "pred_category": "string", "category": "string"},
                        keep_default_na=False)
    preds["product_id"] = preds["product_id"].astype(str)
    emb = np.load(emb_p)
    meta = json.loads(meta_p.read_text())
    if len(preds) != len(emb):
        raise CatalogueError(f"{pred_p} has {len(preds)} rows but {emb_p} has {len(emb)}; re-run catalogue inference")
    return preds, emb.astype(np.float32, copy=False), meta


def infer_catalogue(ws: Workspace, method: str, device: str = "auto", batch_size: int = 64,
                    progress: Progress | None = None, adapter: ModelAdapter | None = None) -> pd.DataFrame:
    """Predicted category + confidence, product-shot score and style embedding of every catalogue product.

    Only products not already in ``predictions.csv`` are computed (all of them when the model checksum
    changed). Products whose image cannot be read are skipped with a log line. Returns the predictions table.
    """
    adapter = adapter or ModelAdapter.load(ws, method, device)
    cat = read_catalogue(ws.catalogue_csv)
    cat = cat.drop_duplicates("product_id", keep="first").reset_index(drop=True)
    pred_p, emb_p, meta_p = _paths(ws, method)
    pred_p.parent.mkdir(parents=True, exist_ok=True)

    old_rows: dict[str, tuple[dict, np.ndarray]] = {}
    try:
        old_preds, old_emb, old_meta = load_catalogue_inference(ws, method)
        if old_meta.get("model_checksum") == adapter.checksum:
            for i, row in enumerate(old_preds.to_dict("records")):
                old_rows[row["product_id"]] = (row, old_emb[i])
        else:
            log.info("model %s changed since the last catalogue inference: embedding everything again", method)
    except CatalogueError:
        pass

    todo = cat[~cat["product_id"].isin(old_rows)].reset_index(drop=True)
    # Pass 1: product-shot score (needs the decoded image); unreadable images are skipped here.
    scores: list[float] = []
    keep: list[int] = []
    for i, path in enumerate(todo["image_path"]):
        try:
            scores.append(product_shot_score(load_image(ws.abs(path))))
            keep.append(i)
        except ImageError as e:
            log.warning("skipping product %s: %s", todo.at[i, "product_id"], e)
        if progress and ((i + 1) % 256 == 0 or i + 1 == len(todo)):
            progress("product-shot scores", i + 1, len(todo))
    todo = todo.iloc[keep].reset_index(drop=True)

    new_rows: dict[str, tuple[dict, np.ndarray]] = {}
    if len(todo):
        # Pass 2: backbone features (shared cache across methods), then the heads.
        feats = adapter.source_features(ws, [(p, None) for p in todo["image_path"]], batch_size=batch_size,
                                        progress=progress)
        probs_l, emb_l = [], []
        for s in range(0, len(feats), 1024):
            p, e = adapter.understand(feats[s:s + 1024])
            probs_l.append(p)
            emb_l.append(e)
        probs, emb = np.concatenate(probs_l), np.concatenate(emb_l)
        top = probs.argmax(axis=1)
        for i, row in enumerate(todo.to_dict("records")):
            new_rows[row["product_id"]] = ({
                "product_id": row["product_id"], "pred_category": CATEGORIES[int(top[i])],
                "confidence": float(probs[i, top[i]]), "product_shot_score": float(scores[i]),
                "category": row["category"]}, emb[i])

    # Assemble in catalogue order; products gone from the catalogue are dropped; true category refreshed.
    rows, vecs = [], []
    for pid, true_cat in zip(cat["product_id"], cat["category"]):
        hit = new_rows.get(pid) or old_rows.get(pid)
        if hit is None:
            continue
        r = dict(hit[0])
        r["category"] = true_cat
        rows.append(r)
        vecs.append(hit[1])
    preds = pd.DataFrame(rows, columns=PREDICTION_COLUMNS)
    dim = int(vecs[0].shape[0]) if vecs else 0
    emb_all = np.stack(vecs).astype(np.float32) if vecs else np.zeros((0, dim), np.float32)
    write_table(preds, pred_p, PREDICTION_COLUMNS)
    _save_npy(emb_p, emb_all)
    _save_json(meta_p, {"method": method, "backbone": adapter.name, "model_checksum": adapter.checksum,
                        "embed_dim": dim, "count": len(preds), "computed_this_run": len(new_rows),
                        "skipped_unreadable": int(len(cat) - len(preds))})
    return preds
