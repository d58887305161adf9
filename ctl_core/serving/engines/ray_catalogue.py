"""Catalogue inference as a Ray Data job; ends in the same predictions.csv / embeddings.npy / meta.json.

Pipeline: the catalogue rows still to do → ``decode_batch`` in CPU tasks (bad images become rows with a reason)
→ ``CatalogueActor`` in an actor pool (``map_batches`` with a class: one model load per actor, ``num_gpus=1``
each when the cluster has GPUs, ``batch_size`` and pool size from ``EngineConfig``) → Parquet shards, one file per
block, under ``catalogue/<method>/shards/<model checksum[:16]>/`` (columns: product_id, stamp, status, message,
pred_category, confidence, product_shot_score, embedding (fixed-size list), decode_s, preprocess_s, forward_s,
run_id). Then the driver assembles the shards into the local engine's files (``write_catalogue_inference``).

Resumable at two levels. Across runs: a product is recomputed only when it is new or its image file changed
(size and mtime, ``io.file_stamp``, kept in the shards); rows the local engine wrote (no stamp known) are kept
as the local engine keeps them. Within a job: an interrupted job leaves the shards it finished, and the next run
reuses them (a torn shard file is unreadable, dropped and its rows recomputed). A killed actor is restarted by
Ray Data and its batch retried (``max_restarts``/``max_task_retries`` are unlimited for actor pools), so the
result is complete and identical. After assembling, the shards of the model are compacted into one file and
those of other model checksums removed.
"""
from __future__ import annotations

import logging
import shutil
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ctl_core.config import BACKBONE_FILE, Workspace
from ctl_core.data.tables import read_catalogue
from ctl_core.io import atomic_path, file_stamp
from ctl_core.model.backbone import create_backbone
from ctl_core.model.ctl_model import model_checksum, read_run_config, run_backbone
from ctl_core.serving.catalogue import previous_rows, write_catalogue_inference
from ctl_core.serving.engines.config import EngineConfig
from ctl_core.serving.engines.report import InferenceReport
from ctl_core.serving.engines.runtime import WRITE_CPUS, inference_dataset, plan_actors, ray_session, run_job
from ctl_core.serving.engines.stages import OK, TIMING_COLUMNS, CatalogueActor, fixed_list_to_numpy
from ctl_core.serving.product_shot import PersonDetector, ProductShotScorer, load_person_detector

log = logging.getLogger(__name__)

SHARDS_DIR = "shards"


def shard_dir(ws: Workspace, method: str, checksum: str, person_detector: str | None = None) -> Path:
    """Where the Ray engine keeps the Parquet shards of ``method``'s model ``checksum`` (and person detector)."""
    return ws.catalogue_dir(method) / SHARDS_DIR / (checksum[:16] + (f"-{person_detector[:8]}"
                                                                      if person_detector else ""))


def _person_detector(ws: Workspace, method: str, run_cfg: dict) -> PersonDetector | None:
    """The detector the local engine would apply (``infer_catalogue``): fitted for the model's pretrained backbone."""
    if not ws.person_detector_path.is_file() or (ws.model_dir(method) / BACKBONE_FILE).is_file():
        return None
    return load_person_detector(ws, run_backbone(run_cfg))


def read_shards(folder: Path) -> pa.Table | None:
    """Every readable shard in ``folder`` as one table (None when there are none); torn files are removed."""
    tables = []
    for f in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        try:
            tables.append(pq.read_table(f))
        except (OSError, pa.ArrowException) as e:
            log.warning("dropping unreadable shard %s (an interrupted write: %s); its rows are recomputed", f, e)
            f.unlink(missing_ok=True)
    return pa.concat_tables(tables, promote_options="default") if tables else None


def _good_rows(table: pa.Table | None) -> dict[str, dict[str, int]]:
    """product id → {image stamp → row in ``table``} of its good rows (one per image version it had)."""
    out: dict[str, dict[str, int]] = {}
    if table is None:
        return out
    pid, stamp, status = (table.column(c).to_pylist() for c in ("product_id", "stamp", "status"))
    for i, (p, s, st) in enumerate(zip(pid, stamp, status)):
        if st == OK:
            out.setdefault(p, {})[s] = i
    return out


def _compact(folder: Path, table: pa.Table, rows: list[int], run_id: str) -> None:
    """Replace the shards in ``folder`` by one file holding ``rows`` (the current good row of each product)."""
    old = sorted(folder.glob("*.parquet"))
    target = folder / f"compact-{run_id}.parquet"
    with atomic_path(target) as tmp:
        pq.write_table(table.take(pa.array(rows, pa.int64())), tmp)
    for f in old:
        if f != target:
            f.unlink(missing_ok=True)
    for other in folder.parent.iterdir():  # shards of other model checksums can never be reused
        if other.is_dir() and other != folder:
            shutil.rmtree(other, ignore_errors=True)


def infer_catalogue_ray(ws: Workspace, method: str, config: EngineConfig = EngineConfig(engine="ray"), *,
                        actor_cls: type = CatalogueActor) -> InferenceReport:
    """Catalogue inference of ``method`` on Ray (see the module docstring); returns the run's report.

    ``actor_cls``: the actor class of the pool (a subclass of ``CatalogueActor``; tests inject faults with it).
    """
    report = InferenceReport(engine="ray", what=f"catalogue inference {method}")
    t0 = time.perf_counter()
    run_cfg = read_run_config(ws, method)
    checksum = model_checksum(ws, method)
    cat = read_catalogue(ws.catalogue_csv).drop_duplicates("product_id", keep="first").reset_index(drop=True)
    paths = [str(ws.abs(p)) if p else "" for p in cat["image_path"]]
    stamps = [file_stamp(p) if p else "missing" for p in paths]
    detector = _person_detector(ws, method, run_cfg)
    det_fp = ProductShotScorer(detector).fingerprint
    folder = shard_dir(ws, method, checksum, det_fp)
    known = _good_rows(read_shards(folder))
    prev = previous_rows(ws, method, checksum, det_fp)
    # new or changed image → compute; a row the local engine wrote (no stamp recorded) is kept as it keeps it
    todo_mask = np.array([(s not in known[p]) if p in known else p not in prev
                          for p, s in zip(cat["product_id"], stamps)], dtype=bool)
    # the catalogue row travels with the image: heads with a metadata side input read its columns
    todo = cat[todo_mask].assign(key=cat["product_id"][todo_mask], path=np.array(paths, dtype=object)[todo_mask],
                                 stamp=np.array(stamps, dtype=object)[todo_mask]).reset_index(drop=True)
    report.stages_s["plan"] = round(time.perf_counter() - t0, 3)
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    if len(todo):  # nothing to do: Ray is not even started
        with ray_session(config) as info:
            report.stages_s["ray_start"] = info.startup_s
            plan = plan_actors(config, info)
            report.ray = {"address": info.address, "cpus": info.cpus, "gpus": info.gpus, "actors": plan.actors,
                          "actor_cpus": plan.actor_cpus, "gpus_per_actor": plan.gpus_per_actor,
                          "batch_size": config.batch_size, "device": plan.device}
            t0 = time.perf_counter()
            preprocess = create_backbone(run_cfg["backbone"], pretrained=False).preprocess
            folder.mkdir(parents=True, exist_ok=True)

            def write_shards() -> None:  # the dataset lives in this frame only (see run_job)
                ds = inference_dataset(todo, {"preprocess": preprocess}, actor_cls, {
                    "root": str(ws.root), "method": method, "checksum": checksum, "device": plan.device,
                    "torch_threads": plan.torch_threads, "run_id": run_id, "metadata_columns": list(cat.columns),
                    "person_detector": detector.to_dict() if detector else None},
                    config, plan)
                ds.write_parquet(str(folder), ray_remote_args={"num_cpus": WRITE_CPUS})

            run_job(write_shards, f"catalogue inference of {method}")
            report.stages_s["inference"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    _assemble(ws, method, cat, stamps, prev, folder, run_id, report, checksum, run_cfg["backbone"], bool(len(todo)),
              det_fp)
    report.stages_s["assemble"] = round(time.perf_counter() - t0, 3)
    return report


def _assemble(ws: Workspace, method: str, cat: pd.DataFrame, stamps: list[str], prev: dict, folder: Path,
              run_id: str, report: InferenceReport, checksum: str, backbone: str, ran: bool,
              person_detector: str | None = None) -> None:
    """Shards (+ rows the local engine wrote) → the catalogue inference files; then compact the shards."""
    table = read_shards(folder)
    known = _good_rows(table)
    hits, keep = {}, []
    if table is not None:
        emb = fixed_list_to_numpy(table.column("embedding"), table.schema.field("embedding").type.list_size)
        cols = {c: table.column(c).to_pylist() for c in ("pred_category", "confidence", "product_shot_score",
                                                           "run_id")}
    for pid, stamp, true_cat in zip(cat["product_id"], stamps, cat["category"]):
        if pid in known:  # a row for the image as it is now, or nothing (changed, and failed this time)
            i = known[pid].get(stamp)
            if i is not None:
                keep.append(i)
                hits[pid] = ({"product_id": pid, "pred_category": cols["pred_category"][i],
                              "confidence": cols["confidence"][i],
                              "product_shot_score": cols["product_shot_score"][i], "category": true_cat}, emb[i])
        elif pid in prev:
            hits[pid] = prev[pid]
    if table is not None:
        _count_bad(report, table, run_id)
        report.per_image_ms = _per_image_ms(table, run_id)
        report.computed = sum(1 for i in keep if cols["run_id"][i] == run_id)
    report.products = len(cat)
    report.reused = len(hits) - report.computed
    write_catalogue_inference(ws, method, cat, hits, backbone=backbone, checksum=checksum, computed=report.computed,
                              extra_meta={"engine": "ray", "skipped_by_reason": report.skipped,
                                          "person_detector": person_detector})
    if table is not None and (ran or table.num_rows != len(keep)):
        _compact(folder, table, keep, run_id)


def _count_bad(report: InferenceReport, table: pa.Table, run_id: str) -> None:
    this = table.filter(pc.equal(table.column("run_id"), run_id))
    for pid, status, msg in zip(*(this.column(c).to_pylist() for c in ("product_id", "status", "message"))):
        if status != OK:
            report.bad.skip(status, f"product {pid}: {msg}")


def _per_image_ms(table: pa.Table, run_id: str) -> dict[str, float]:
    """Mean decode / preprocess / forward milliseconds per good image of this run."""
    mask = pc.and_(pc.equal(table.column("run_id"), run_id), pc.equal(table.column("status"), OK))
    this = table.filter(mask)
    if not this.num_rows:
        return {}
    return {c.removesuffix("_s"): round(1000.0 * float(np.mean(this.column(c).to_numpy())), 3)
            for c in TIMING_COLUMNS}
