"""The shared backbone-feature cache (what training reads) filled by a Ray job instead of one process.

The same decode tasks and actor pool as catalogue inference (``FeatureActor``: backbone only). The job computes
exactly the sources ``model.features.cached_features`` would compute (keys missing from the cache, or whose file
changed since), streams the results back to the driver and appends them to the cache as parts (each written
atomically, so an interrupted job keeps what it finished); ``cached_features`` then reads the cache as always.
Unreadable images are counted by reason and left out of the cache, as the local path does with ``skip_bad``.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ctl_core.config import Workspace
from ctl_core.io import file_stamp
from ctl_core.model.backbone import Backbone
from ctl_core.model.features import Source, _Cache, source_key  # the cache's one reader/writer (private there)
from ctl_core.serving.engines.config import EngineConfig
from ctl_core.serving.engines.report import InferenceReport
from ctl_core.serving.engines.runtime import inference_dataset, plan_actors, ray_session, run_job
from ctl_core.serving.engines.stages import BOX_COLUMNS, OK, FeatureActor, fixed_list_to_numpy


def _missing(ws: Workspace, cache: _Cache, sources: Sequence[Source]) -> pd.DataFrame:
    index, rows, seen = cache.index(), [], set()
    for path, box in sources:
        key = source_key(path, box)
        if key in seen:
            continue
        seen.add(key)
        stamp = file_stamp(ws.abs(path))
        i = index.get(key)
        if i is None or cache.stamps[i] != stamp:
            rows.append((key, str(ws.abs(path)), stamp, *(box if box is not None else (-1, -1, -1, -1))))
    return pd.DataFrame(rows, columns=["key", "path", "stamp", *BOX_COLUMNS])


def fill_feature_cache_ray(ws: Workspace, backbone: Backbone, sources: Sequence[Source],
                           config: EngineConfig = EngineConfig(engine="ray"), chunk_size: int = 512) -> InferenceReport:
    """Compute on Ray the cached features of ``sources`` that the cache lacks; returns the run's report."""
    report = InferenceReport(engine="ray", what=f"backbone features {backbone.cache_name}")
    t_all = time.perf_counter()
    cache = _Cache(ws.features_dir(backbone.cache_name), backbone).load()
    todo = _missing(ws, cache, sources)
    report.products, report.reused = len(sources), len(sources) - len(todo)
    if not len(todo):
        return report
    with ray_session(config) as info:
        report.stages_s["ray_start"] = info.startup_s
        plan = plan_actors(config, info)
        report.ray = {"address": info.address, "actors": plan.actors, "device": plan.device}
        t0 = time.perf_counter()
        keys: list[str] = []
        stamps: list[str] = []
        feats: list = []

        def consume() -> None:  # the dataset lives in this frame only (see run_job)
            ds = inference_dataset(todo, {"preprocess": backbone.preprocess, "shot_score": False}, FeatureActor, {
                "backbone": backbone, "device": plan.device, "torch_threads": plan.torch_threads}, config, plan)
            for batch in ds.iter_batches(batch_size=chunk_size, batch_format="pyarrow"):
                f = fixed_list_to_numpy(batch.column("features"), int(backbone.num_features))
                for i, (k, s, st, msg) in enumerate(zip(*(batch.column(c).to_pylist()
                                                          for c in ("key", "stamp", "status", "message")))):
                    if st == OK:
                        keys.append(k)
                        stamps.append(s)
                        feats.append(f[i])
                    else:
                        report.bad.skip(st, msg)
                if len(keys) >= chunk_size:
                    _flush(cache, keys, stamps, feats)

        try:
            run_job(consume, f"backbone features {backbone.cache_name}")
        finally:  # what finished is kept, also when the job failed
            _flush(cache, keys, stamps, feats)
            cache.consolidate()
        report.stages_s["inference"] = round(time.perf_counter() - t0, 3)
    report.computed = len(todo) - sum(report.bad.skipped.values())
    report.stages_s["total"] = round(time.perf_counter() - t_all, 3)
    return report


def _flush(cache: _Cache, keys: list[str], stamps: list[str], feats: list) -> None:
    if not keys:
        return
    arr = np.stack(feats).astype(np.float32, copy=False)
    cache.write_part(list(keys), list(stamps), arr)
    cache.add(list(keys), list(stamps), arr)
    keys.clear()
    stamps.clear()
    feats.clear()
