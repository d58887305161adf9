"""Per-category FAISS indices built in parallel Ray tasks, saved exactly as ``index.build_indices`` saves them.

What is indexed comes from ``index.index_inputs`` and each task runs ``CategoryIndices.build`` for one category,
so the index types, the id maps and the manifest are those of the local engine; ``CategoryIndices.merge`` joins
the parts and ``save`` writes the files and, last and atomically, the manifest (an interrupted build leaves no
manifest that matches, and the recommender refuses indices without one).
"""
from __future__ import annotations

import time

import numpy as np
import ray

from ctl_core.config import Workspace
from ctl_core.serving.engines.config import EngineConfig
from ctl_core.serving.engines.runtime import ray_session, run_job
from ctl_core.serving.index import CategoryIndices, IndexConfig, index_inputs


@ray.remote(num_cpus=1)
def _build_group(vectors: dict[str, np.ndarray], ids: dict[str, np.ndarray], config: IndexConfig,
                 meta: dict) -> CategoryIndices:
    part = CategoryIndices.build(vectors, ids, config, meta=meta)
    return CategoryIndices.merge([part], use_gpu=False)  # CPU copy only: a GPU index cannot travel


def category_groups(counts: dict[str, int], n_groups: int) -> list[list[str]]:
    """Categories split into at most ``n_groups`` groups of similar total size (largest first, to the lightest
    group): one task per group, so small categories do not each pay a task's start-up."""
    groups: list[list[str]] = [[] for _ in range(max(1, min(n_groups, len(counts))))]
    load = [0] * len(groups)
    for c in sorted(counts, key=lambda c: -counts[c]):
        i = load.index(min(load))
        groups[i].append(c)
        load[i] += counts[c]
    return [g for g in groups if g]


def build_indices_ray(ws: Workspace, method: str, config: EngineConfig = EngineConfig(engine="ray"),
                      index_config: IndexConfig = IndexConfig(), expected_checksum: str | None = None) -> dict:
    """``index.build_indices`` with the categories built in parallel Ray tasks (one group of categories per
    cluster CPU); writes and returns the same manifest."""
    vecs, ids, meta = index_inputs(ws, method, index_config, expected_checksum)
    with ray_session(config) as info:
        t0 = time.perf_counter()
        groups = category_groups({c: len(v) for c, v in vecs.items()}, int(info.cpus))
        refs = [_build_group.remote({c: vecs[c] for c in g}, {c: ids[c] for c in g}, index_config, meta)
                for g in groups]
        parts = run_job(lambda: ray.get(refs), f"indices of {method}")
        built = CategoryIndices.merge(parts, use_gpu=index_config.use_gpu) if parts else \
            CategoryIndices.build({}, {}, index_config, meta=meta)
        built.manifest["build_s"] = round(time.perf_counter() - t0, 3)
    return built.save(ws.index_dir(method))
