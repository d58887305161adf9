"""Featurizing benchmark: ``cached_features`` end to end (decode + resize + forward + cache) against the bare
forward pass on the same, already decoded batches (the limit). The pipeline should reach >= 0.8 of the limit.

Run: ``python -m ctl_core.bench.featurize [--workspace DIR] [--n 256] [--batch-size 32] [--compile]``.
Images come from the workspace (items.csv, else catalogue.csv) when there are enough, else synthetic
product-like JPEG/PNG files are written to a temporary folder. The cache goes to a temporary workspace, so the
real one is never touched.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ctl_core.config import DEFAULT_BACKBONE, Workspace
from ctl_core.data.tables import read_catalogue, read_items
from ctl_core.model.backbone import create_backbone, inference_copy, normalize_batch
from ctl_core.model.features import Source, _load_array, cached_features, default_num_workers, item_sources


def make_synthetic_images(folder: Path, n: int, size: int = 400, seed: int = 0) -> list[Path]:
    """``n`` product-like images (a patterned garment-ish shape on white), 3 in 4 JPEG, 1 in 4 PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        img = Image.new("RGB", (size, size), (255, 255, 255))
        d = ImageDraw.Draw(img)
        colour = tuple(int(c) for c in rng.integers(0, 230, 3))
        x0, y0 = rng.integers(20, size // 3, 2)
        x1, y1 = rng.integers(2 * size // 3, size - 20, 2)
        shape = i % 3
        if shape == 0:
            d.rectangle((x0, y0, x1, y1), fill=colour)
        elif shape == 1:
            d.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            d.polygon([(size // 2, y0), (x1, y1), (x0, y1)], fill=colour)
        stripe = tuple(int(c) for c in rng.integers(0, 255, 3))
        for s in range(int(y0), int(y1), int(rng.integers(8, 30))):
            d.line((x0, s, x1, s), fill=stripe, width=2)
        p = folder / (f"img{i:05d}.png" if i % 4 == 3 else f"img{i:05d}.jpg")
        img.save(p, quality=90) if p.suffix == ".jpg" else img.save(p)
        paths.append(p)
    return paths


def _workspace_sources(ws: Workspace, n: int) -> list[Source]:
    sources: list[Source] = []
    if ws.items_csv.exists():
        sources = item_sources(read_items(ws.items_csv))
    elif ws.catalogue_csv.exists():
        sources = [(p, None) for p in read_catalogue(ws.catalogue_csv)["image_path"]]
    unique = list(dict.fromkeys((str(ws.abs(p)), b) for p, b in sources))
    return unique[:n] if len(unique) >= n else []


def _time_forward(bb, batches: list[torch.Tensor]) -> float:
    with torch.inference_mode():
        bb.forward_features(batches[0])  # warm-up
        t = time.perf_counter()
        for x in batches:
            bb.forward_features(x)
        return time.perf_counter() - t


def run_featurize_bench(ws_or_tmp: Workspace | str | os.PathLike | None = None, n_images: int = 256,
                        batch_size: int = 32, backbone: str = DEFAULT_BACKBONE, compile: bool = False,
                        num_workers: int | None = None, repeats: int = 2, verbose: bool = True) -> dict:
    """Images/s of ``cached_features`` over ``n_images`` files on disk vs the bare forward pass; returns the figures.

    Decoding, the forward-only limit and the two pipelines are timed in turn ``repeats`` times; ``rows`` holds the
    medians, ``spread`` the median, min and max of each; ``ratio`` = median pipeline / median forward-only (target
    >= 0.8).
    """
    ws = ws_or_tmp if isinstance(ws_or_tmp, Workspace) else (Workspace.at(ws_or_tmp) if ws_or_tmp else None)
    bb = create_backbone(backbone)
    workers = default_num_workers(torch.device("cpu")) if num_workers is None else num_workers
    threads_row = f"cached_features ({workers} decode thread{'s' if workers != 1 else ''}, overlapped)"
    rows: dict[str, float] = {}
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="ctl-bench-") as tmp:
        tmp_path = Path(tmp)
        sources = _workspace_sources(ws, n_images) if ws is not None else []
        origin = "workspace" if sources else "synthetic"
        if not sources:
            sources = [(str(p), None) for p in make_synthetic_images(tmp_path / "images", n_images)]
        n = len(sources)
        pre = bb.preprocess
        any_ws = Workspace.at(tmp_path)
        timed: dict[str, list[float]] = {name: [] for name in ("decode + resize only (1 thread)",
                                                               "forward only (folded, channels_last)", threads_row,
                                                               "cached_features (decode in main thread)")}
        for _ in range(max(1, repeats)):
            t = time.perf_counter()
            arrays = np.stack([_load_array(any_ws, p, b, pre) for p, b in sources])
            timed["decode + resize only (1 thread)"].append(n / (time.perf_counter() - t))
        # the limit: forward only, on the same images already decoded into batch tensors
        batches = [normalize_batch(torch.from_numpy(arrays[i:i + batch_size]), pre)
                   for i in range(0, n, batch_size)]
        fast = inference_copy(bb)
        runs = 0

        def pipeline(workers_: int, compile_: bool) -> float:
            nonlocal runs
            runs += 1
            cache_ws = Workspace.at(tmp_path / f"ws-{runs}")  # a fresh, empty cache each time
            t0 = time.perf_counter()
            cached_features(cache_ws, bb, sources, batch_size=batch_size, num_workers=workers_, compile=compile_)
            return n / (time.perf_counter() - t0)

        limit_row = "forward only (folded, channels_last)"
        serial_row = "cached_features (decode in main thread)"
        for _ in range(max(1, repeats)):  # in turn, so that load on a shared machine hits each alike
            timed[limit_row].append(n / _time_forward(fast, batches))
            timed[threads_row].append(pipeline(workers, False))
            timed[serial_row].append(pipeline(0, False))
        rows.update({k: float(np.median(v)) for k, v in timed.items()})
        few = [b.contiguous() for b in batches[:2]]  # eager is slow: two batches are enough
        rows["forward only (eager, for reference)"] = sum(len(b) for b in few) / _time_forward(bb.eval(), few)
        if compile:
            compiled = inference_copy(bb)
            try:
                t0 = time.perf_counter()
                compiled.body = torch.compile(compiled.body)
                with torch.inference_mode():
                    compiled.forward_features(batches[0])
                seconds["torch.compile warm-up"] = time.perf_counter() - t0
                full = [b for b in batches if len(b) == batch_size]
                rows["forward only (compiled)"] = sum(len(b) for b in full) / _time_forward(compiled, full)
                # in the same process the compiled graph is reused, so this row excludes the warm-up above
                rows[f"cached_features (compiled, {workers} decode threads)"] = pipeline(workers, True)
            except Exception as e:  # no toolchain
                print(f"torch.compile failed: {type(e).__name__}: {e}")
    limit = rows[limit_row]
    result = {"backbone": backbone, "images": n, "origin": origin, "batch_size": batch_size,
              "decode_threads": workers, "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
              "forward_images_per_s": limit, "pipeline_images_per_s": rows[threads_row],
              "serial_pipeline_images_per_s": rows["cached_features (decode in main thread)"],
              "ratio": rows[threads_row] / limit, "rows": rows, "seconds": seconds, "repeats": max(1, repeats),
              "spread": {k: {"median": round(float(np.median(v)), 1), "min": round(float(min(v)), 1),
                             "max": round(float(max(v)), 1), "n": len(v)} for k, v in timed.items()}}
    if verbose:
        print(f"featurize benchmark: {backbone}, {n} {origin} images, batch {batch_size}, "
              f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs, median of {max(1, repeats)}")
        width = max(len(k) for k in rows) + 2
        print(f"{'':{width}}images/s")
        for k, v in rows.items():
            print(f"{k:{width}}{v:8.1f}")
        for k, v in seconds.items():
            print(f"{k:{width}}{v:8.1f} s")
        print(f"{'ratio pipeline / forward only':{width}}{result['ratio']:8.2f}  (target >= 0.80)")
    return result
