"""Catalogue inference (paper sec. 3): predicted category, product-shot score and style embedding per product.

Output, under ``ws.catalogue_dir(method)``:
  predictions.csv  product_id, pred_category, confidence, product_shot_score, category (true, from the catalogue)
  embeddings.npy   (N, 128) float32 unit vectors, row i belongs to row i of predictions.csv
  meta.json        the model that produced them (method, backbone, model checksum, embedding dim, count) and,
                   written last, what links the three files: the sha256 of predictions.csv and of embeddings.npy
                   and of the product-id order (``predictions_sha256``, ``embeddings_sha256``, ``product_ids_sha256``),
                   and which data/catalogue.csv it was made from (``catalogue_rows``, ``catalogue_sha256``)

``load_catalogue_inference`` refuses (``CatalogueError``, one line naming the file and the rebuild command) any
file whose checksum differs from meta.json — an ``index`` killed between two writes, embeddings permuted or
copied from another run — and a 0-byte, unreadable or wrong-dimension embeddings.npy. It also refuses a
data/catalogue.csv that is not the one the inference was made from (cut mid-row, edited, or re-imported without a
new ``index``): titles, prices and images are looked up there, so a changed file would serve results silently
without them. (A meta.json written before the catalogue was recorded is not checked against it.) Products whose image
cannot be used (unreadable, too large, too small or too elongated) are skipped, logged and counted in meta.json.

Resumable: a second run embeds only product ids not yet there (everything again if the model changed).
This is the local engine; ``ctl_core.serving.engines`` runs the same stage on Ray and ends in the same
``write_catalogue_inference``.

All glue to the model modules lives in ``ctl_core.serving.adapter.ModelAdapter``.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ctl_core.config import INFERENCE_META_FILE, Workspace
from ctl_core.data.categories import CATEGORIES
from ctl_core.data.tables import read_catalogue, write_table
from ctl_core.images import ImageError, load_image, product_shot_score
from ctl_core.io import atomic_write_json, read_json, save_npy_atomic, sha256_file
from ctl_core.progress import Progress
from ctl_core.serving.adapter import ModelAdapter
from ctl_core.serving.product_shot import ProductShotScorer, combine

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = ["product_id", "pred_category", "confidence", "product_shot_score", "category"]
Hit = tuple[dict, np.ndarray]  # (predictions row, embedding) of one product


class CatalogueError(ValueError):
    """Catalogue inference output is missing or inconsistent."""


# -- catalogue inference -----------------------------------------------------------------------------------------

def _paths(ws: Workspace, method: str) -> tuple[Path, Path, Path]:
    return ws.predictions_csv(method), ws.embeddings_npy(method), ws.catalogue_dir(method) / INFERENCE_META_FILE


def product_ids_sha256(ids) -> str:
    """sha256 of a product-id order (one id per line): links predictions.csv rows to embeddings.npy rows."""
    return hashlib.sha256("\n".join(map(str, ids)).encode("utf-8")).hexdigest()


def catalogue_stamp(ws: Workspace) -> dict:
    """What meta.json records of data/catalogue.csv: its data rows and sha256 (``{}`` when there is none)."""
    if not ws.catalogue_csv.exists():
        return {}
    return {"catalogue_rows": len(read_catalogue(ws.catalogue_csv)), "catalogue_sha256": sha256_file(ws.catalogue_csv)}


def check_catalogue(ws: Workspace, method: str, meta: dict) -> None:
    """``CatalogueError`` (one line: the file, rows recorded and now, what to run) when data/catalogue.csv is not the
    file ``meta`` (a catalogue inference's meta.json) records; nothing when meta records none (older version)."""
    recorded = meta.get("catalogue_sha256")
    if not isinstance(recorded, str):
        return
    path = ws.catalogue_csv
    if path.exists() and sha256_file(path) == recorded:
        return
    try:
        now = f"{len(read_catalogue(path))} rows now" if path.exists() else "the file is missing now"
    except (ValueError, OSError) as e:
        now = f"unreadable now ({str(e).splitlines()[0][:80]})"
    raise CatalogueError(
        f"{path} is not the catalogue that model {method!r} was indexed from ({meta.get('catalogue_rows')} rows "
        f"recorded, {now}; checksum differs): if it was damaged, re-import its source first (or python -m ctl_core "
        f"demo --force for the demo); then rebuild: python -m ctl_core index --model {method}")


def load_catalogue_inference(ws: Workspace, method: str, verify: bool = True,
                             catalogue: bool = True) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """(predictions, embeddings, meta) written by ``write_catalogue_inference``; ``CatalogueError`` when missing,
    unreadable or not the set meta.json describes (``verify``: compare the files' sha256 with meta.json;
    ``catalogue``: also data/catalogue.csv's, ``check_catalogue``)."""
    pred_p, emb_p, meta_p = _paths(ws, method)
    fix = f"rebuild: python -m ctl_core index --model {method}"
    if not (pred_p.exists() and emb_p.exists() and meta_p.exists()):
        raise CatalogueError(f"no catalogue inference for model {method!r} in {pred_p.parent}; "
                             f"run: python -m ctl_core index --model {method}")
    meta = read_json(meta_p, "catalogue inference meta", expect=dict, error=CatalogueError, fix=fix)
    if not all(isinstance(meta.get(k), str) for k in ("predictions_sha256", "embeddings_sha256")):
        raise CatalogueError(f"{meta_p} records no checksums of its files (written by an older version); {fix}")
    if verify:
        for path, key in ((pred_p, "predictions_sha256"), (emb_p, "embeddings_sha256")):
            if sha256_file(path) != meta[key]:
                raise CatalogueError(f"{path} does not match {meta_p} (checksum differs: written by another run, "
                                     f"or changed since); {fix}")
        if catalogue:
            check_catalogue(ws, method, meta)
    try:
        preds = pd.read_csv(pred_p, dtype={"product_id": "string", "pred_category": "string",
                                           "category": "string"}, keep_default_na=False)
    except (ValueError, OSError) as e:  # pandas' EmptyDataError and ParserError are ValueErrors
        raise CatalogueError(f"{pred_p} cannot be read as CSV ({e}); {fix}") from None
    missing = [c for c in PREDICTION_COLUMNS if c not in preds.columns]
    if missing:
        raise CatalogueError(f"{pred_p} lacks columns {missing}; {fix}")
    preds["product_id"] = preds["product_id"].astype(str)
    try:
        emb = np.load(emb_p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise CatalogueError(f"{emb_p} cannot be read as a NumPy array ({e or 'empty file'}); {fix}") from None
    dim = meta.get("embed_dim")
    if emb.ndim != 2 or (len(emb) and emb.shape[1] != dim) or not np.issubdtype(emb.dtype, np.floating):
        raise CatalogueError(f"{emb_p} holds a {emb.dtype} array of shape {emb.shape}; expected (N, {dim}) floats; "
                             f"{fix}")
    if len(preds) != len(emb):
        raise CatalogueError(f"{pred_p} has {len(preds)} rows but {emb_p} has {len(emb)}; {fix}")
    if meta.get("product_ids_sha256") not in (None, product_ids_sha256(preds["product_id"])):
        raise CatalogueError(f"{pred_p} lists its products in another order than {meta_p} records; {fix}")
    return preds, emb.astype(np.float32, copy=False), meta


def infer_catalogue(ws: Workspace, method: str, device: str = "auto", batch_size: int = 64,
                    progress: Progress | None = None, adapter: ModelAdapter | None = None) -> pd.DataFrame:
    """Predicted category + confidence, product-shot score and style embedding of every catalogue product.

    Only products not already in ``predictions.csv`` are computed (all of them when the model checksum
    changed). Products whose image cannot be read are skipped with a log line. Returns the predictions table.
    """
    adapter = adapter or ModelAdapter.load(ws, method, device)
    stamp = catalogue_stamp(ws)  # of the file read next (an import during the run leaves a mismatch, refused)
    cat = read_catalogue(ws.catalogue_csv)
    cat = cat.drop_duplicates("product_id", keep="first").reset_index(drop=True)
    # the workspace's person detector, when fitted for this backbone (not for a fine-tuned one: other features)
    scorer = ProductShotScorer.load(ws, adapter.backbone if adapter.use_feature_cache else None)
    old_rows = previous_rows(ws, method, adapter.checksum, scorer.fingerprint)
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

    new_rows: dict[str, Hit] = {}
    if len(todo):
        # Pass 2: backbone features (shared cache across methods), then the heads.
        feats = adapter.source_features(ws, [(p, None) for p in todo["image_path"]], batch_size=batch_size,
                                        progress=progress)
        probs_l, emb_l = [], []
        for s in range(0, len(feats), 1024):
            p, e = adapter.understand(feats[s:s + 1024], todo.iloc[s:s + 1024])  # rows: metadata side input
            probs_l.append(p)
            emb_l.append(e)
        probs, emb = np.concatenate(probs_l), np.concatenate(emb_l)
        top = probs.argmax(axis=1)
        # The person detector of the workspace, when fitted (build fits it where category examples exist): a
        # garment worn by a model is not served as a product shot, as on the upload path. In float32, as the Ray
        # engine stores it, so both engines agree at the threshold (1 - (0.5 + 1e-9) is 0.5 in float32 only).
        scores = combine(np.asarray(scores, dtype=np.float32), scorer.person_probability(feats)).astype(np.float32)
        for i, row in enumerate(todo.to_dict("records")):
            new_rows[row["product_id"]] = ({
                "product_id": row["product_id"], "pred_category": CATEGORIES[int(top[i])],
                "confidence": float(probs[i, top[i]]), "product_shot_score": float(scores[i]),
                "category": row["category"]}, emb[i])

    return write_catalogue_inference(ws, method, cat, {**old_rows, **new_rows}, backbone=adapter.name,
                                     checksum=adapter.checksum, computed=len(new_rows),
                                     extra_meta={"person_detector": scorer.fingerprint, **stamp})


def previous_rows(ws: Workspace, method: str, checksum: str, person_detector: str | None = None) -> dict[str, Hit]:
    """Rows of the last catalogue inference of ``method`` by product id; empty when missing, made by another model
    or scored with another person detector (``ProductShotScorer.fingerprint``). A changed catalogue.csv keeps them
    (only new products are computed)."""
    try:
        old_preds, old_emb, old_meta = load_catalogue_inference(ws, method, catalogue=False)
    except CatalogueError:
        return {}
    if old_meta.get("model_checksum") != checksum:
        log.info("model %s changed since the last catalogue inference: embedding everything again", method)
        return {}
    if old_meta.get("person_detector") != person_detector:
        log.info("the person detector changed since the last catalogue inference of %s: scoring everything again",
                 method)
        return {}
    return {row["product_id"]: (row, old_emb[i]) for i, row in enumerate(old_preds.to_dict("records"))}


def write_catalogue_inference(ws: Workspace, method: str, cat: pd.DataFrame, hits: dict[str, Hit], *,
                              backbone: str, checksum: str, computed: int, extra_meta: dict | None = None
                              ) -> pd.DataFrame:
    """Write predictions.csv, embeddings.npy and meta.json (last) from ``hits``, in the order of ``cat``.

    Products gone from the catalogue are dropped and the true category is refreshed from ``cat``; every engine
    ends here, so their outputs have one format. ``extra_meta`` adds keys to meta.json; without its
    ``catalogue_sha256`` the catalogue file is stamped now (``catalogue_stamp``).
    """
    pred_p, emb_p, meta_p = _paths(ws, method)
    pred_p.parent.mkdir(parents=True, exist_ok=True)
    rows, vecs = [], []
    for pid, true_cat in zip(cat["product_id"], cat["category"]):
        hit = hits.get(pid)
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
    # meta.json last: it links the two files by checksum, so a kill before this line leaves a set that
    # load_catalogue_inference refuses (and the next run recomputes) instead of one served wrong.
    extra_meta = dict(extra_meta or {})
    if "catalogue_sha256" not in extra_meta:
        extra_meta.update(catalogue_stamp(ws))
    atomic_write_json(meta_p, {"method": method, "backbone": backbone, "model_checksum": checksum,
                               "embed_dim": dim, "count": len(preds), "computed_this_run": computed,
                               "skipped_unreadable": int(len(cat) - len(preds)), **extra_meta,
                               "predictions_sha256": sha256_file(pred_p), "embeddings_sha256": sha256_file(emb_p),
                               "product_ids_sha256": product_ids_sha256(preds["product_id"])})
    return preds
