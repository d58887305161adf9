"""Catalogue inference (paper sec. 3): predicted category, product-shot score and style embedding per product.

Output, under ``ws.catalogue_dir(method)``:
  predictions.csv  product_id, pred_category, confidence, product_shot_score, category (true, from the catalogue)
  embeddings.npy   (N, 128) float32 unit vectors, row i belongs to row i of predictions.csv
  meta.json        the model that produced them (method, backbone, model checksum, embedding dim, count)

Resumable: a second run embeds only product ids not yet there (everything again if the model changed).

All glue to the model modules lives in ``ctl_core.serving.adapter.ModelAdapter``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ctl_core.config import INFERENCE_META_FILE, Workspace
from ctl_core.data.categories import CATEGORIES
from ctl_core.data.tables import read_catalogue, write_table
from ctl_core.images import ImageError, load_image, product_shot_score
from ctl_core.io import atomic_write_json, save_npy_atomic
from ctl_core.progress import Progress
from ctl_core.serving.adapter import ModelAdapter

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = ["product_id", "pred_category", "confidence", "product_shot_score", "category"]


class CatalogueError(ValueError):
    """Catalogue inference output is missing or inconsistent."""


# -- catalogue inference -----------------------------------------------------------------------------------------

def _paths(ws: Workspace, method: str) -> tuple[Path, Path, Path]:
    return ws.predictions_csv(method), ws.embeddings_npy(method), ws.catalogue_dir(method) / INFERENCE_META_FILE


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
    save_npy_atomic(emb_p, emb_all)
    atomic_write_json(meta_p, {"method": method, "backbone": adapter.name, "model_checksum": adapter.checksum,
                        "embed_dim": dim, "count": len(preds), "computed_this_run": len(new_rows),
                        "skipped_unreadable": int(len(cat) - len(preds))})
    return preds
