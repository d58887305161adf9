"""Catalogue-inference benchmark: the local engine against the Ray engine with 1 and 2 actors, in one run.

Each measured run starts cold in a scratch workspace beside the real one: the same catalogue rows (image paths made
absolute, so no image is copied), the trained model's run folder copied, no feature cache and no earlier output, so
every engine decodes, preprocesses and runs backbone + heads on every image. Figures per run: images/s of the
inference stage (model loads included, Ray start-up excluded), per-image costs (Ray: decode, preprocess, forward
from the job's own timing columns), peak memory (PSS) and CPU seconds of the driver and every process it started
(Ray's workers included), and the largest embedding difference from the local engine's output. Ray's start-up is timed
once, separately. Optionally a second catalogue is measured the same way: a folder of product images (e.g. the
Mango photos), with a placeholder category (the benchmark needs images, not labels).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import ray  # noqa: F401  (puts Ray's bundled psutil on sys.path: _processes)

from ctl_core.config import Workspace
from ctl_core.data.categories import CATEGORIES
from ctl_core.data.importers.common import IMAGE_EXTENSIONS
from ctl_core.data.tables import CATALOGUE_COLUMNS, read_catalogue, write_table
from ctl_core.serving.catalogue import load_catalogue_inference
from ctl_core.serving.engines import EngineConfig, infer_catalogue_engine
from ctl_core.serving.engines.runtime import ray_session


def _processes(tree: bool) -> list:
    import psutil  # Ray's bundled copy, on sys.path once ray is imported (above)

    me = psutil.Process()
    return [me, *me.children(recursive=True)] if tree else [me]


def tree_memory_mib(tree: bool = True) -> float:
    """Proportional set size (MiB: shared pages split between the processes that map them) of this process and
    (``tree``) all its descendants, a local Ray instance's included; resident size where PSS is unavailable."""
    import psutil

    total = 0
    for p in _processes(tree):
        try:
            info = p.memory_full_info()
            total += getattr(info, "pss", info.rss)
        except (psutil.NoSuchProcess, psutil.AccessDenied):  # a worker that just exited
            pass
    return total / 2**20


class ResourceMonitor:
    """While the block runs: peak ``tree_memory_mib(tree)`` and the CPU seconds (user + system) the processes
    used, sampled every ``interval`` seconds (a process that lives less than one interval is missed). CPU time per
    image does not depend on what else the machine runs; wall time does."""

    def __init__(self, tree: bool = True, interval: float = 0.25):
        self.tree, self.interval = tree, interval
        self.peak_mib = 0.0
        self.cpu_s = 0.0
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self, initial: bool = False) -> None:
        import psutil

        total = 0
        for p in _processes(self.tree):
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    info = p.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            cpu = t.user + t.system
            self._first.setdefault(p.pid, cpu if initial else 0.0)  # a process started in the block: all of it
            self._last[p.pid] = cpu
            total += getattr(info, "pss", info.rss)
        self.peak_mib = max(self.peak_mib, total / 2**20)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> "ResourceMonitor":
        self._sample(initial=True)  # what already ran before the block is not counted
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.peak_mib = round(self.peak_mib, 1)
        self.cpu_s = round(sum(self._last[p] - self._first[p] for p in self._last), 2)


def scratch_workspace(ws: Workspace, method: str, root: Path, catalogue: pd.DataFrame | None = None) -> Workspace:
    """A workspace at ``root``: ``ws``'s catalogue (or ``catalogue``) with absolute image paths, ``method``'s run."""
    scratch = Workspace.at(root).ensure()
    cat = read_catalogue(ws.catalogue_csv) if catalogue is None else catalogue
    cat = cat.copy()
    cat["image_path"] = [str(ws.abs(p)) for p in cat["image_path"]]
    scratch.catalogue_csv.parent.mkdir(parents=True, exist_ok=True)
    write_table(cat, scratch.catalogue_csv, CATALOGUE_COLUMNS)
    shutil.copytree(ws.model_dir(method), scratch.model_dir(method), dirs_exist_ok=True)
    return scratch


def folder_catalogue(folder: Path, n: int | None) -> pd.DataFrame:
    """Catalogue rows for the first ``n`` images of ``folder`` (placeholder category: only the images matter)."""
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)[:n]
    if not files:
        raise FileNotFoundError(f"no images in {folder}; pass a folder of product photos")
    return pd.DataFrame({"product_id": [f"img{i:07d}" for i in range(len(files))], "category": CATEGORIES[0],
                         "price": np.nan, "title": "", "image_path": [str(p) for p in files], "source": "bench",
                         "is_product_shot": True, "theme": "", "colour": ""}).reindex(columns=CATALOGUE_COLUMNS)


def _reset(scratch: Workspace, method: str) -> None:
    shutil.rmtree(scratch.catalogue_dir(method), ignore_errors=True)
    shutil.rmtree(scratch.features_dir("x").parent, ignore_errors=True)  # the whole feature cache: a cold start


def _measure(scratch: Workspace, method: str, engine: EngineConfig,
             reference: tuple[pd.DataFrame, np.ndarray] | None = None) -> tuple[dict, pd.DataFrame, np.ndarray]:
    """One cold run of ``engine`` on ``scratch``: (figures, predictions, embeddings)."""
    _reset(scratch, method)
    with ResourceMonitor(tree=engine.is_ray) as mon:  # the local engine is this process alone
        t0 = time.perf_counter()
        report = infer_catalogue_engine(scratch, method, engine)
        wall = time.perf_counter() - t0
    preds, emb, _ = load_catalogue_inference(scratch, method)
    t = report.stages_s.get("inference") or wall
    row = {"engine": engine.engine, "actors": engine.actors if engine.is_ray else None, "images": report.computed,
           "skipped": sum(report.skipped.values()), "inference_s": round(t, 2),
           "images_per_s": round(report.computed / t, 1) if t else None, "peak_mib": mon.peak_mib,
           "cpu_s": mon.cpu_s, "cpu_ms_per_image": round(1000 * mon.cpu_s / report.computed, 2)
           if report.computed else None,
           "per_image_ms": report.per_image_ms, "stages_s": report.stages_s}
    if reference is not None:
        ref_preds, ref_emb = reference
        same = len(preds) == len(ref_preds) and bool((preds["product_id"].to_numpy() ==
                                                       ref_preds["product_id"].to_numpy()).all())
        row["same_products_as_local"] = same
        if same:
            row["same_categories_as_local"] = bool((preds["pred_category"].to_numpy() ==
                                                    ref_preds["pred_category"].to_numpy()).all())
            row["max_abs_embedding_diff_vs_local"] = float(np.abs(ref_emb - emb).max()) if len(emb) else 0.0
    return row, preds, emb


def _spread(values: Sequence[float | None]) -> dict:
    v = [float(x) for x in values if x is not None]
    return {"median": round(float(np.median(v)), 2) if v else None, "min": round(min(v), 2) if v else None,
            "max": round(max(v), 2) if v else None, "n": len(v)}


def _summary(runs: list[dict]) -> dict:
    """One engine's runs: median and range of images/s and CPU ms per image, the largest memory and difference."""
    first = runs[0]
    diffs = [r["max_abs_embedding_diff_vs_local"] for r in runs if "max_abs_embedding_diff_vs_local" in r]
    return {"engine": first["engine"], "actors": first["actors"], "images": first["images"],
            "images_per_s": _spread([r["images_per_s"] for r in runs]),
            "cpu_ms_per_image": _spread([r["cpu_ms_per_image"] for r in runs]),
            "peak_mib_max": max(r["peak_mib"] for r in runs),
            "same_categories_as_local": all(r.get("same_categories_as_local", True) for r in runs),
            "max_abs_embedding_diff_vs_local": max(diffs) if diffs else None}


def run_catalogue_bench(ws: Workspace, method: str = "triplet-category", actors: Sequence[int] = (1, 2),
                        batch_size: int = 32, n_images: int | None = None, images: Path | None = None,
                        num_cpus: int | None = None, repeats: int = 1) -> dict:
    """Local vs Ray (each pool size in ``actors``) on ``ws``'s catalogue, and on ``images`` (a folder) when given.

    ``n_images`` caps each catalogue. One local Ray instance serves every Ray run: its start-up is
    ``ray_startup_s``, the memory of the driver plus the idle instance ``ray_idle_mib``. The engines run in turn,
    ``repeats`` rounds; per catalogue ``summary`` holds each engine's median and range of images/s and CPU ms per
    image, and ``ratio_to_local`` the ratio of the medians (``runs``: every run).
    Local ``peak_mib`` and ``cpu_s`` are this process alone; Ray's include the driver and every Ray process.
    """
    catalogues = {"workspace": read_catalogue(ws.catalogue_csv)}
    if images is not None:
        catalogues[str(images)] = folder_catalogue(images, n_images)
    engines = [EngineConfig(engine="local", device="cpu")] + [
        EngineConfig(engine="ray", actors=a, batch_size=batch_size, progress_bars=False) for a in actors]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ctl-bench-catalogue-") as tmp, \
            ray_session(EngineConfig(engine="ray", num_cpus=num_cpus, progress_bars=False)) as info:
        result = {"method": method, "ray_startup_s": info.startup_s, "ray_idle_mib": round(tree_memory_mib(), 1),
                  "cpus": info.cpus, "gpus": info.gpus, "batch_size": batch_size, "repeats": repeats,
                  "catalogues": {}}
        for i, (name, cat) in enumerate(catalogues.items()):
            cat = cat.drop_duplicates("product_id").iloc[:n_images]
            scratch = scratch_workspace(ws, method, Path(tmp) / f"ws{i}", cat)
            runs: list[list[dict]] = [[] for _ in engines]
            reference = None
            for _ in range(repeats):  # rounds over the engines in turn: load on a shared machine hits each alike
                for k, engine in enumerate(engines):
                    row, preds, emb = _measure(scratch, method, engine, reference)
                    reference = reference or (preds, emb)  # the local engine's output (it runs first)
                    runs[k].append(row)
            summary = [_summary(r) for r in runs]
            for s in summary[1:]:
                s["ratio_to_local"] = round(s["images_per_s"]["median"] / summary[0]["images_per_s"]["median"], 3) \
                    if s["images_per_s"]["median"] and summary[0]["images_per_s"]["median"] else None
                s["cpu_ratio_to_local"] = round(s["cpu_ms_per_image"]["median"] /
                                                summary[0]["cpu_ms_per_image"]["median"], 3) \
                    if s["cpu_ms_per_image"]["median"] and summary[0]["cpu_ms_per_image"]["median"] else None
            result["catalogues"][name] = {"images": len(cat), "summary": summary, "runs": runs}
    result["load_average_1min"] = {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)}
    return result
