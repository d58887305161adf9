"""The engine switch for the offline stages: catalogue inference, index builds and the training feature cache.

``engine`` is an ``EngineConfig`` or just its name (``"local"``, ``"ray"``). ``local`` calls today's functions
unchanged (``catalogue.infer_catalogue``, ``index.build_indices``, ``features.cached_features``); ``ray`` runs them
as Ray jobs that write the same files. Ray is imported only when asked for.
"""
from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager

import numpy as np

from ctl_core.config import INFERENCE_META_FILE, Workspace
from ctl_core.data.importers.common import UNREADABLE_IMAGE
from ctl_core.data.tables import read_catalogue
from ctl_core.model.backbone import Backbone
from ctl_core.model.features import Source, cached_features
from ctl_core.progress import Progress
from ctl_core.serving import catalogue, category_source, index
from ctl_core.serving.engines.config import EngineConfig
from ctl_core.serving.engines.report import InferenceReport
from ctl_core.serving.index import IndexConfig


def as_engine(engine: EngineConfig | str | None) -> EngineConfig:
    """``EngineConfig`` from a config, an engine name or None (local)."""
    if isinstance(engine, EngineConfig):
        return engine
    return EngineConfig(engine=engine or "local")


def engine_session(engine: EngineConfig | str | None) -> AbstractContextManager:
    """Keep one Ray session open over several calls (a build indexing five models starts Ray once); a no-op locally."""
    cfg = as_engine(engine)
    if not cfg.is_ray:
        return contextlib.nullcontext()
    from ctl_core.serving.engines.runtime import ray_session
    return ray_session(cfg)


def infer_catalogue_engine(ws: Workspace, method: str, engine: EngineConfig | str | None = "local",
                           progress: Progress | None = None) -> InferenceReport:
    """Catalogue inference of ``method`` on ``engine``; writes predictions.csv, embeddings.npy, meta.json."""
    cfg = as_engine(engine)
    if cfg.is_ray:
        from ctl_core.serving.engines.ray_catalogue import infer_catalogue_ray
        return infer_catalogue_ray(ws, method, cfg)
    t0 = time.perf_counter()
    preds = catalogue.infer_catalogue(ws, method, device=cfg.device, progress=progress)
    meta = json.loads((ws.catalogue_dir(method) / INFERENCE_META_FILE).read_text())
    report = InferenceReport(engine="local", what=f"catalogue inference {method}", computed=meta["computed_this_run"],
                             reused=len(preds) - meta["computed_this_run"])
    report.products = len(preds) + int(meta.get("skipped_unreadable", 0))
    if meta.get("skipped_unreadable"):
        report.bad.skipped[UNREADABLE_IMAGE] = int(meta["skipped_unreadable"])  # the local engine logs each one
        report.bad.examples[UNREADABLE_IMAGE] = ["see the warnings logged above"]
    report.stages_s["inference"] = round(time.perf_counter() - t0, 3)
    return report


def build_indices_engine(ws: Workspace, method: str, engine: EngineConfig | str | None = "local",
                         progress: Progress | None = None, index_config: IndexConfig = IndexConfig()) -> dict:
    """Per-category indices of ``method`` on ``engine`` (Ray: one task per category); returns the manifest."""
    cfg = as_engine(engine)
    if cfg.is_ray:
        from ctl_core.serving.engines.ray_index import build_indices_ray
        return build_indices_ray(ws, method, cfg, index_config)
    return index.build_indices(ws, method, progress=progress, config=index_config)


def index_catalogue(ws: Workspace, method: str, engine: EngineConfig | str | None = "local",
                    progress: Progress | None = None) -> tuple[InferenceReport, dict]:
    """Catalogue inference then indices (the ``index`` command), in one Ray session, then the list of products whose
    shop category the head disagrees with (``write_category_disagreements``); (report, manifest)."""
    cfg = as_engine(engine)
    t_all = time.perf_counter()
    with engine_session(cfg) as info:
        report = infer_catalogue_engine(ws, method, cfg, progress)
        t0 = time.perf_counter()
        manifest = build_indices_engine(ws, method, cfg, progress)
        report.stages_s["indices"] = round(time.perf_counter() - t0, 3)
    write_category_disagreements(ws, method)
    if info is not None:  # Ray started here, for both stages: its start-up goes first
        report.stages_s = {"ray_start": info.startup_s, **{k: v for k, v in report.stages_s.items()
                                                          if k != "ray_start"}}
    report.stages_s["total"] = round(time.perf_counter() - t_all, 3)
    return report, manifest


def write_category_disagreements(ws: Workspace, method: str) -> int:
    """The data-quality list beside ``method``'s catalogue inference: products whose shop category the category
    head disagrees with (``category_source.write_disagreements``); returns how many."""
    preds, _, _ = catalogue.load_catalogue_inference(ws, method)
    titles = {}
    if ws.catalogue_csv.exists():
        cat = read_catalogue(ws.catalogue_csv)
        titles = dict(zip(cat["product_id"], cat["title"]))
    return category_source.write_disagreements(ws, method, preds, titles)


def cached_features_engine(ws: Workspace, backbone: Backbone, sources: Sequence[Source],
                           engine: EngineConfig | str | None = "local", progress: Progress | None = None,
                           **kwargs) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``features.cached_features`` with the missing features computed on ``engine`` first (Ray: a job that fills
    the cache); ``kwargs`` go to ``cached_features``."""
    cfg = as_engine(engine)
    if cfg.is_ray:
        from ctl_core.serving.engines.ray_features import fill_feature_cache_ray
        fill_feature_cache_ray(ws, backbone, sources, cfg)
    return cached_features(ws, backbone, sources, progress=progress, **kwargs)
