"""Starting or joining Ray, once per job: ``ray_session(config)`` and the resources the job may plan with.

With ``config.address`` None a local instance is started on this machine (no dashboard) and shut down when the
session ends; with an address the driver joins that cluster and leaves it running. A session entered while Ray
is already initialised (a test's session-wide instance, a build that indexes five models) reuses it and does not
shut it down.
"""
from __future__ import annotations

import gc
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pandas as pd
import ray
import ray.data

import ctl_core
from ctl_core.serving.engines.config import EngineConfig, EngineError
from ctl_core.serving.engines.stages import decode_batch

log = logging.getLogger(__name__)
T = TypeVar("T")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt)\b(\(.*\))?: ")

WRITE_CPUS = 0.25  # logical CPUs a Parquet write task reserves (Ray's default, 1, would wait for the actors)


class RayJobError(EngineError):
    """A Ray job that failed; what it finished is kept and a rerun resumes from there."""


@dataclass(frozen=True)
class RayInfo:
    """What the job runs on: cluster CPUs and GPUs, and how long start-up took (0 when Ray was already up)."""

    started_here: bool
    startup_s: float
    cpus: float
    gpus: float
    address: str


@dataclass(frozen=True)
class ActorPlan:
    """Resources of the inference actor pool and the decode tasks, resolved against the cluster."""

    actors: int
    gpus_per_actor: float
    actor_cpus: float
    decode_cpus: float
    torch_threads: int

    @property
    def device(self) -> str:
        return "cuda" if self.gpus_per_actor > 0 else "cpu"


def _info(started: bool, startup_s: float) -> RayInfo:
    res = ray.cluster_resources()
    ctx = ray.get_runtime_context()
    return RayInfo(started_here=started, startup_s=round(startup_s, 3), cpus=float(res.get("CPU", 0.0)),
                   gpus=float(res.get("GPU", 0.0)), address=str(getattr(ctx, "gcs_address", "") or "local"))


@contextmanager
def ray_session(config: EngineConfig) -> Iterator[RayInfo]:
    """Ray for the duration of the block (see the module docstring); ``EngineError`` when the cluster is unreachable."""
    if ray.is_initialized():
        yield _info(False, 0.0)
        return
    t0 = time.perf_counter()
    quiet = not config.progress_bars
    try:
        if config.address:
            # Ship this package to the cluster's workers (they still need the requirements installed).
            ray.init(address=config.address, log_to_driver=not quiet,
                     runtime_env={"py_modules": [str(Path(ctl_core.__file__).parent)]})
        else:
            # address="local": always a new instance, never a cluster left running on this machine
            ray.init(address="local", num_cpus=config.num_cpus or os.cpu_count() or 1, include_dashboard=False,
                     log_to_driver=not quiet)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {config.address!r}" if config.address else "a local Ray instance"
        raise EngineError(f"cannot start or reach {where} ({type(e).__name__}: {str(e).splitlines()[0]}); "
                          f"check the address (ray status on the head node) or drop --address") from None
    info = _info(True, time.perf_counter() - t0)
    log.info("Ray up in %.1f s: %s CPUs, %s GPUs (%s)", info.startup_s, info.cpus, info.gpus, info.address)
    try:
        yield info
    finally:
        ray.shutdown()  # stops the local instance; from a cluster it only disconnects this driver


def plan_actors(config: EngineConfig, info: RayInfo) -> ActorPlan:
    """Actor count and resources: GPU actors when the cluster has GPUs; on CPUs, room left for decode tasks."""
    gpus = config.gpus_per_actor if config.gpus_per_actor is not None else (1.0 if info.gpus > 0 else 0.0)
    actors = config.actors or (max(1, int(info.gpus // gpus)) if gpus > 0 else 2)
    decode = config.decode_cpus if config.decode_cpus is not None else 0.5
    if config.actor_cpus is not None:
        actor_cpus = config.actor_cpus
    elif gpus > 0:
        actor_cpus = 1.0
    else:  # leave a decode task and a write task room to run beside the actors, or the pipeline stalls
        actor_cpus = max(0.25, min(float(math.floor(info.cpus)), (info.cpus - decode - WRITE_CPUS) / actors))
    if gpus == 0 and actors * actor_cpus + decode + WRITE_CPUS > info.cpus + 1e-9:
        raise EngineError(f"{actors} actors of {actor_cpus:g} CPUs plus decode and write tasks "
                          f"({decode + WRITE_CPUS:g} CPUs) do not fit the cluster's {info.cpus:g} CPUs; "
                          "use fewer --ray-actors")
    threads = config.torch_threads or max(1, math.ceil(actor_cpus - 1e-9))
    return ActorPlan(actors=int(actors), gpus_per_actor=float(gpus), actor_cpus=round(float(actor_cpus), 3),
                     decode_cpus=float(decode), torch_threads=int(threads))


def inference_dataset(rows: pd.DataFrame, decode_kwargs: dict, actor_cls: type, actor_kwargs: dict,
                      config: EngineConfig, plan: ActorPlan) -> ray.data.Dataset:
    """rows (``key``, ``path``, ``stamp`` [, box columns]) → decode in CPU tasks → ``actor_cls`` in an actor pool.

    Blocks are small enough that every actor gets several and large enough that scheduling stays cheap.
    """
    ray.data.DataContext.get_current().enable_progress_bars = config.progress_bars
    n = len(rows)
    per_block = int(min(4096, max(1, math.ceil(n / (4 * max(2, plan.actors))))))
    ds = ray.data.from_pandas([rows.iloc[i:i + per_block].reset_index(drop=True) for i in range(0, n, per_block)])
    ds = ds.map_batches(decode_batch, fn_kwargs=decode_kwargs, batch_size=config.decode_batch_size,
                        batch_format="numpy", num_cpus=plan.decode_cpus)
    return ds.map_batches(actor_cls, fn_constructor_kwargs=actor_kwargs, batch_size=config.batch_size,
                          batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=plan.actors),
                          num_cpus=plan.actor_cpus, num_gpus=plan.gpus_per_actor or None)


def run_job(job: Callable[[], T], what: str) -> T:
    """Run a Ray Data job; a failure becomes one ``RayJobError`` line (the worker's traceback is in Ray's log).

    Build the dataset inside ``job``, never in a frame that outlives it: a failed job's actor pool lives as long as
    something references the dataset, and its reserved CPUs would make the next job wait for them forever. So the
    original exception (whose traceback holds that frame) is dropped before ``RayJobError`` is raised.
    """
    failure = None
    try:
        return job()
    except Exception as e:  # Ray wraps the worker's exception (RayTaskError, UserCodeException, ...)
        # the worker's own "SomeError: message" line, not Ray's wrapping and advice around it
        causes = [ln.strip() for ln in str(e).splitlines() if _EXCEPTION_LINE.match(ln.strip())]
        ours = [c for c in causes if not c.startswith("ray.")] or causes
        failure = ours[-1] if ours else f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    job = None  # nor does this frame keep the job's closure alive
    gc.collect()  # frees the failed job's dataset and actors now
    raise RayJobError(f"the Ray job ({what}) failed: {failure}; the shards it finished are kept, so running the "
                      "same command again resumes from there")
