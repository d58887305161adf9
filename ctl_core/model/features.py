"""Cached backbone features for item crops and catalogue images.

``cached_features(ws, backbone, sources)`` returns one float32 row per ``(image_path, box)`` source, computing only
what ``ws.features_dir(backbone.cache_name)`` does not hold yet (``cache_name`` is the backbone's name, except for
a backbone fine-tuned by an end-to-end run, which gets its own folder).

Cache layout (one folder per backbone name):
  features.npy   (N, D) float32, row i belongs to keys.csv row i
  keys.csv       columns ``key`` (``path`` or ``path#x,y,w,h``) and ``stamp`` (file size and mtime when computed;
                 a file rewritten since then is recomputed)
  meta.json      backbone name, weights fingerprint, dimension; a different fingerprint empties the cache
  parts/         chunks written while a run is going (every ``chunk_size`` images, each atomically); they are
                 merged into features.npy/keys.csv at the end of a run or at the start of the next one, so an
                 interrupted run resumes where it stopped.

Decoding and resizing run in a thread pool (PIL releases the GIL) while the main thread runs the forward pass on
the previous batch, so decoding does not become the bottleneck.

Bad images: by default an unreadable image raises ``ImageError`` naming the file (work done before it is kept).
With ``skip_bad=True`` the call returns ``(features, bad)`` instead, where ``bad`` is a boolean mask over
``sources``; bad rows are zero vectors and are not cached (a fixed file is retried next time).
"""
from __future__ import annotations

import json
import os
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ctl_core.config import FEATURE_KEYS_FILE as KEYS_FILE
from ctl_core.config import FEATURES_FILE, Workspace
from ctl_core.images import ImageError, crop_box, load_image
from ctl_core.io import atomic_path, atomic_write_json, file_stamp, save_npy_atomic
from ctl_core.model.backbone import Backbone, inference_copy, normalize_batch, to_uint8_array
from ctl_core.model.device import pick_device
from ctl_core.model.stages import backbone_stages, frozen_input, num_stages
from ctl_core.progress import Progress

Box = tuple[int, int, int, int]
Source = tuple[str, Box | None]

META_FILE = "meta.json"
PARTS_DIR = "parts"


def item_sources(items_df: pd.DataFrame) -> list[Source]:
    """``(image_path, box or None)`` per items.csv row; a row whose box columns are all empty has no box."""
    cols = ["box_x", "box_y", "box_w", "box_h"]
    out: list[Source] = []
    boxes = items_df[cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float) if len(items_df) else \
        np.zeros((0, 4))
    for path, box in zip(items_df["image_path"].astype(str), boxes):
        if np.isnan(box).all():
            out.append((path, None))
        elif np.isnan(box).any():
            raise ValueError(f"items.csv row for {path} has a partial box {box.tolist()}; give all four or none")
        else:
            out.append((path, tuple(int(round(v)) for v in box)))
    return out


def source_key(path: str, box: Box | None) -> str:
    """Cache key of a source: the stored path, plus ``#x,y,w,h`` for a crop."""
    return path if box is None else f"{path}#{','.join(str(int(v)) for v in box)}"


# ---------------------------------------------------------------------------------------------------- cache files

def _save_keys_atomic(path: Path, keys: Sequence[str], stamps: Sequence[str]) -> None:
    with atomic_path(path) as tmp:
        pd.DataFrame({"key": list(keys), "stamp": list(stamps)}).to_csv(tmp, index=False)


def _read_keys(path: Path) -> tuple[list[str], list[str]]:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return df["key"].tolist(), df["stamp"].tolist()


class _Cache:
    """The feature cache folder of one backbone (see the module docstring)."""

    def __init__(self, folder: Path, backbone: Backbone, shape: tuple[int, ...] | None = None,
                 dtype: type = np.float32):
        """``shape``/``dtype``: one row's shape and type when it is not a (D,) float32 pooled feature (a stage
        input map, see ``cached_stage_inputs``); both are then recorded in meta.json."""
        self.folder = folder
        self.parts = folder / PARTS_DIR
        self.shape = (int(backbone.num_features),) if shape is None else tuple(int(v) for v in shape)
        self.dtype = np.dtype(dtype)
        self.meta = {"backbone": backbone.cache_name, "fingerprint": backbone.fingerprint, "dim": self.shape[0]}
        if shape is not None:
            self.meta.update(shape=list(self.shape), dtype=self.dtype.name)
        self.keys: list[str] = []
        self.stamps: list[str] = []
        self.feats = np.zeros((0, *self.shape), self.dtype)
        self._part_no = 0
        self._part_files: list[Path] = []  # parts this instance read or wrote; only these are deleted

    def load(self) -> "_Cache":
        """Read the cache (merging leftover parts from an interrupted run); a foreign fingerprint empties it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        meta_path = self.folder / META_FILE
        if meta_path.exists():
            try:
                old = json.loads(meta_path.read_text())
            except json.JSONDecodeError:
                old = {}
            if old != self.meta:
                warnings.warn(f"feature cache {self.folder} was made with {old.get('fingerprint')!r}, "
                              f"not {self.meta['fingerprint']!r}; recomputing it")
                self._clear()
        atomic_write_json(meta_path, self.meta, indent=1)

        keys: list[str] = []
        stamps: list[str] = []
        blocks: list[np.ndarray] = []
        fpath, kpath = self.folder / FEATURES_FILE, self.folder / KEYS_FILE
        if fpath.exists() and kpath.exists():
            k, s = _read_keys(kpath)
            f = np.load(fpath)
            n = min(len(k), len(f))  # features.npy is replaced before keys.csv: extra rows are a torn write
            keys, stamps, blocks = k[:n], s[:n], [f[:n]]
        part_keys = sorted(self.parts.glob("*.keys.csv")) if self.parts.exists() else []
        for pk in part_keys:
            pf = pk.with_name(pk.name[: -len(".keys.csv")] + ".npy")
            if not pf.exists():
                continue
            k, s = _read_keys(pk)
            f = np.load(pf)
            self._part_files += [pf, pk]
            n = min(len(k), len(f))
            keys += k[:n]
            stamps += s[:n]
            blocks.append(f[:n])
        empty = np.zeros((0, *self.shape), self.dtype)
        feats = np.concatenate(blocks).astype(self.dtype, copy=False) if blocks else empty
        if feats.shape[1:] != self.shape:
            warnings.warn(f"feature cache {self.folder} holds rows of shape {feats.shape[1:]}, expected "
                          f"{self.shape}; recomputing")
            self._clear()
            keys, stamps, feats, part_keys = [], [], empty, []
            self._part_files = []
        # later rows (newer stamps) win over earlier ones with the same key
        last = {k: i for i, k in enumerate(keys)}
        if len(last) != len(keys):
            idx = np.array(sorted(last.values()), dtype=np.int64)
            keys, stamps, feats = [keys[i] for i in idx], [stamps[i] for i in idx], feats[idx]
        self.keys, self.stamps, self.feats = keys, stamps, feats
        if part_keys:
            self.consolidate()
        return self

    def _clear(self) -> None:
        for p in (self.folder / FEATURES_FILE, self.folder / KEYS_FILE):
            p.unlink(missing_ok=True)
        if self.parts.exists():
            for p in self.parts.iterdir():
                p.unlink(missing_ok=True)

    def index(self) -> dict[str, int]:
        return {k: i for i, k in enumerate(self.keys)}

    def write_part(self, keys: list[str], stamps: list[str], feats: np.ndarray) -> None:
        """Append one chunk durably: the .npy first, then its keys file (a part counts only once both exist)."""
        self.parts.mkdir(parents=True, exist_ok=True)
        stem = f"{time.time_ns():020d}-{os.getpid()}-{self._part_no:05d}"
        self._part_no += 1
        save_npy_atomic(self.parts / f"{stem}.npy", feats.astype(self.dtype, copy=False))
        _save_keys_atomic(self.parts / f"{stem}.keys.csv", keys, stamps)
        self._part_files += [self.parts / f"{stem}.npy", self.parts / f"{stem}.keys.csv"]

    def add(self, keys: list[str], stamps: list[str], feats: np.ndarray) -> None:
        last = self.index()
        replace = [(last[k], j) for j, k in enumerate(keys) if k in last]
        if replace:
            old = np.array([i for i, _ in replace])
            new = np.array([j for _, j in replace])
            self.feats[old] = feats[new]
            for i, j in replace:
                self.stamps[i] = stamps[j]
            keep = np.setdiff1d(np.arange(len(keys)), new)
            keys, stamps, feats = [keys[j] for j in keep], [stamps[j] for j in keep], feats[keep]
        self.keys += keys
        self.stamps += stamps
        self.feats = np.concatenate([self.feats, feats.astype(self.dtype, copy=False)])

    def consolidate(self) -> None:
        """Write everything into features.npy + keys.csv (features first, then keys), then drop the parts."""
        save_npy_atomic(self.folder / FEATURES_FILE, self.feats)
        _save_keys_atomic(self.folder / KEYS_FILE, self.keys, self.stamps)
        for p in self._part_files:
            p.unlink(missing_ok=True)
        self._part_files = []


# ---------------------------------------------------------------------------------------------------- loading

def _load_array(ws: Workspace, path: str, box: Box | None, preprocess) -> np.ndarray:
    """Decode, crop and resize one source to a uint8 (S, S, 3) array; ``ImageError`` names the file."""
    full = ws.abs(path)
    img = load_image(full)  # its ImageError already names the file
    try:
        img = crop_box(img, box)
    except ImageError as e:
        raise ImageError(f"{full}: {e}") from None
    return to_uint8_array(img, preprocess)


def _load_batch(ws: Workspace, jobs: list[Source], preprocess) -> tuple[np.ndarray, list[tuple[int, str]]]:
    s = preprocess.input_size
    out = np.zeros((len(jobs), s, s, 3), np.uint8)
    bad: list[tuple[int, str]] = []
    for i, (path, box) in enumerate(jobs):
        try:
            out[i] = _load_array(ws, path, box, preprocess)
        except ImageError as e:
            bad.append((i, str(e)))
    return out, bad


def _prefetched(ws: Workspace, jobs: list[Source], preprocess, batch_size: int,
                num_workers: int) -> Iterable[tuple[int, np.ndarray, list[tuple[int, str]]]]:
    """Yield ``(start, uint8 batch, bad)`` in order while worker threads decode the next batches."""
    starts = list(range(0, len(jobs), batch_size))
    if num_workers <= 0:
        for st in starts:
            yield (st, *_load_batch(ws, jobs[st:st + batch_size], preprocess))
        return
    with ThreadPoolExecutor(max_workers=num_workers, thread_name_prefix="ctl-decode") as pool:
        pending: deque[tuple[int, Future]] = deque()
        it = iter(starts)
        try:
            for st in it:
                pending.append((st, pool.submit(_load_batch, ws, jobs[st:st + batch_size], preprocess)))
                if len(pending) > num_workers:  # keep every worker busy plus one batch ready
                    st0, fut = pending.popleft()
                    yield (st0, *fut.result())
            while pending:
                st0, fut = pending.popleft()
                yield (st0, *fut.result())
        finally:
            for _, fut in pending:
                fut.cancel()


def default_num_workers(device: torch.device) -> int:
    """Decode threads: half the cores on CPU (the forward pass needs the rest), all of them (up to 8) on GPU."""
    n = os.cpu_count() or 1
    return min(8, n) if device.type != "cpu" else max(1, min(4, n // 2))


def _maybe_compile(bb: Backbone, batch_size: int, device: torch.device) -> bool:
    """Compile ``bb.body`` in place and warm it up on one full batch; on any failure keep it eager (False)."""
    eager = bb.body
    s = bb.preprocess.input_size
    try:
        bb.body = torch.compile(eager)
        with torch.inference_mode():
            x = torch.zeros(batch_size, 3, s, s, device=device).contiguous(memory_format=torch.channels_last)
            bb.forward_features(x)
        return True
    except Exception as e:  # no compiler toolchain, unsupported platform
        warnings.warn(f"torch.compile unavailable ({type(e).__name__}: {e}); running eagerly")
        bb.body = eager
        return False


# ---------------------------------------------------------------------------------------------------- public

def cached_features(ws: Workspace, backbone: Backbone, sources: Sequence[Source], batch_size: int = 32,
                    num_workers: int | None = None, device: str | torch.device = "cpu",
                    progress: Progress | None = None, *, skip_bad: bool = False, chunk_size: int = 512,
                    compile: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Features (len(sources), D) float32 aligned with ``sources``, computing only keys missing from the cache.

    ``sources`` are ``(image_path relative to ws or absolute, pixel box (x, y, w, h) or None)``. Identical keys
    are computed once. Progress is reported as ``progress("features", done, total_missing)``. With
    ``skip_bad=True`` returns ``(features, bad_mask)`` (see the module docstring); otherwise an unreadable
    image raises ``ImageError`` naming the file.
    """
    cache = _Cache(ws.features_dir(backbone.cache_name), backbone)
    return _cached(ws, backbone, sources, cache, lambda bb, x: bb.forward_features(x), batch_size, num_workers,
                   device, progress, skip_bad, chunk_size, compile)


def stage_cache_name(backbone: Backbone, k: int, flip: bool = False) -> str:
    """Folder under ``features/`` of the input of ``backbone``'s last ``k`` stages, e.g.
    ``efficientnet-lite0-stage7-input`` (k = 1: stage 7 of 0..7), ``...-flip`` for mirrored images."""
    return f"{backbone.cache_name}-stage{num_stages(backbone) - k}-input{'-flip' if flip else ''}"


def cached_stage_inputs(ws: Workspace, backbone: Backbone, sources: Sequence[Source], k: int, *, flip: bool = False,
                        batch_size: int = 32, num_workers: int | None = None, device: str | torch.device = "cpu",
                        progress: Progress | None = None, skip_bad: bool = False, chunk_size: int = 256,
                        ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The input maps of the last ``k`` stages (ctl_core.model.stages), (len(sources), C, h, w) float16, aligned
    with ``sources``; cached like ``cached_features`` (same keys, stamps, parts, resumption) in
    ``features/<stage_cache_name>``. ``flip``: of the horizontally mirrored images (augmentation).
    ``k`` must leave a frozen stage (k < num_stages): the images themselves are not cached.
    """
    if not 0 <= k < num_stages(backbone):
        raise ValueError(f"stage inputs are cached for 0 <= k < {num_stages(backbone)}, got {k}")
    cache = _Cache(ws.features_dir(stage_cache_name(backbone, k, flip)), backbone, _stage_shape(backbone, k),
                   np.float16)

    def forward(bb: Backbone, x: torch.Tensor) -> torch.Tensor:
        return frozen_input(bb, x.flip(3) if flip else x, k)

    return _cached(ws, backbone, sources, cache, forward, batch_size, num_workers, device, progress, skip_bad,
                   chunk_size, False)


def derive_stage_inputs(ws: Workspace, backbone: Backbone, k_from: int, k_to: int, batch_size: int = 512,
                        progress: Progress | None = None) -> int:
    """Fill the cache of the last ``k_to`` stages' inputs from that of ``k_from`` > ``k_to`` (running the stages in
    between on the cached maps, not on images: no decoding, and only those stages). Same keys and stamps; rows
    already there are kept. Returns how many rows were added. The result differs from a computation from the
    images only by the float16 rounding of the ``k_from`` maps."""
    if not 0 <= k_to < k_from < num_stages(backbone):
        raise ValueError(f"need 0 <= k_to < k_from < {num_stages(backbone)}, got k_from={k_from}, k_to={k_to}")
    src = _Cache(ws.features_dir(stage_cache_name(backbone, k_from)), backbone, _stage_shape(backbone, k_from),
                 np.float16).load()
    dst = _Cache(ws.features_dir(stage_cache_name(backbone, k_to)), backbone, _stage_shape(backbone, k_to),
                 np.float16).load()
    have = {k: s for k, s in zip(dst.keys, dst.stamps)}
    todo = [i for i, (k, s) in enumerate(zip(src.keys, src.stamps)) if have.get(k) != s]
    bb = inference_copy(backbone, channels_last=True)
    stages = backbone_stages(bb).stages
    between = torch.nn.Sequential(*stages[len(stages) - k_from:len(stages) - k_to])
    with torch.inference_mode():
        for st in range(0, len(todo), batch_size):
            idx = todo[st:st + batch_size]
            x = torch.from_numpy(src.feats[idx]).float().contiguous(memory_format=torch.channels_last)
            out = between(x).float().numpy().astype(np.float16)
            keys, stamps = [src.keys[i] for i in idx], [src.stamps[i] for i in idx]
            dst.write_part(keys, stamps, out)  # resumable like the image path
            dst.add(keys, stamps, out)
            if progress is not None:
                progress("features", min(st + batch_size, len(todo)), len(todo))
    dst.consolidate()
    return len(todo)


def _stage_shape(backbone: Backbone, k: int) -> tuple[int, ...]:
    s = backbone.preprocess.input_size
    was_training = backbone.training
    with torch.no_grad():
        shape = tuple(frozen_input(backbone.eval(), torch.zeros(1, 3, s, s), k).shape[1:])
    backbone.train(was_training)
    return shape


def _cached(ws: Workspace, backbone: Backbone, sources: Sequence[Source], cache: _Cache,
            forward: Callable[[Backbone, torch.Tensor], torch.Tensor], batch_size: int, num_workers: int | None,
            device: str | torch.device, progress: Progress | None, skip_bad: bool, chunk_size: int,
            compile: bool) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``cached_features`` for any cache: ``forward(inference backbone, batch)`` gives the rows to cache."""
    if batch_size < 1 or chunk_size < 1:
        raise ValueError(f"batch_size and chunk_size must be positive, got {batch_size} and {chunk_size}")
    dev = pick_device(device) if isinstance(device, str) else device
    cache.load()
    keys = [source_key(p, b) for p, b in sources]
    stamps: dict[str, str] = {}
    todo: list[Source] = []
    index = cache.index()
    for (path, box), key in zip(sources, keys):
        if key in stamps:
            continue
        stamps[key] = file_stamp(ws.abs(path))
        i = index.get(key)
        if i is None or cache.stamps[i] != stamps[key]:
            todo.append((path, box))

    bad_keys: dict[str, str] = {}
    if todo:
        bad_keys = _compute(ws, backbone, todo, stamps, cache, forward, batch_size, num_workers, dev, progress,
                            skip_bad, chunk_size, compile)
    elif progress is not None:
        progress("features", 0, 0)

    index = cache.index()
    out = np.zeros((len(sources), *cache.shape), cache.dtype)
    bad = np.zeros(len(sources), dtype=bool)
    # a row counts only if it was computed from the file as it is now (a now-broken file must not reuse old rows)
    rows = np.array([i if (i := index.get(k, -1)) >= 0 and cache.stamps[i] == stamps[k] else -1 for k in keys],
                    dtype=np.int64)
    bad[:] = rows < 0
    if bad.any() and not skip_bad:  # cannot happen unless a bad image slipped through
        raise ImageError(f"no features for {keys[int(np.argmax(bad))]}")
    out[~bad] = cache.feats[rows[~bad]]
    if skip_bad:
        if bad_keys:
            warnings.warn(f"{int(bad.sum())} of {len(sources)} images could not be read and got zero features; "
                          f"first: {next(iter(bad_keys.values()))}")
        return out, bad
    return out


def _compute(ws: Workspace, backbone: Backbone, todo: list[Source], stamps: dict[str, str], cache: _Cache,
             forward: Callable[[Backbone, torch.Tensor], torch.Tensor], batch_size: int, num_workers: int | None,
             dev: torch.device, progress: Progress | None,
             skip_bad: bool, chunk_size: int, compile: bool) -> dict[str, str]:
    bb = inference_copy(backbone, channels_last=True).to(dev)
    # a compiled body gets full batches only (the last one padded), so it never recompiles for a new shape
    pad_to = batch_size if compile and _maybe_compile(bb, batch_size, dev) else 0
    workers = default_num_workers(dev) if num_workers is None else int(num_workers)
    pre = backbone.preprocess
    total = len(todo)
    if progress is not None:
        progress("features", 0, total)
    buf_keys: list[str] = []
    buf_feats: list[np.ndarray] = []
    bad_keys: dict[str, str] = {}
    done = 0

    def flush() -> None:
        if not buf_keys:
            return
        feats = np.concatenate(buf_feats)
        ks = list(buf_keys)
        cache.write_part(ks, [stamps[k] for k in ks], feats)
        cache.add(ks, [stamps[k] for k in ks], feats)
        buf_keys.clear()
        buf_feats.clear()

    try:
        with torch.inference_mode():
            for start, arr, bad in _prefetched(ws, todo, pre, batch_size, workers):
                batch_jobs = todo[start:start + len(arr)]
                if bad:
                    if not skip_bad:
                        raise ImageError(bad[0][1])
                    for i, msg in bad:
                        bad_keys[source_key(*batch_jobs[i])] = msg
                n = len(arr)
                if pad_to > n:
                    arr = np.concatenate([arr, np.zeros((pad_to - n, *arr.shape[1:]), arr.dtype)])
                x = normalize_batch(torch.from_numpy(arr).to(dev), pre)  # uint8 travels, not float
                f = forward(bb, x)[:n].float().cpu().numpy().astype(cache.dtype, copy=False)
                good = np.ones(n, dtype=bool)
                good[[i for i, _ in bad]] = False
                buf_keys.extend(source_key(*j) for j, g in zip(batch_jobs, good) if g)
                buf_feats.append(f[good])
                if len(buf_keys) >= chunk_size:
                    flush()
                done += n
                if progress is not None:
                    progress("features", done, total)
    finally:
        flush()
        cache.consolidate()
    return bad_keys


def imagenet_logits(backbone: Backbone, feats: np.ndarray | torch.Tensor,
                    batch_size: int = 8192) -> np.ndarray | None:
    """ImageNet-1k logits (N, 1000) float32 from cached pooled features; ``None`` for a backbone without a head."""
    if backbone.imagenet_head is None:
        return None
    x = torch.as_tensor(np.asarray(feats, dtype=np.float32))
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            out.append(backbone.imagenet_logits(x[i:i + batch_size]).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, backbone.imagenet_head.out_features), np.float32)
