"""Small file infrastructure with one owner: atomic writes, checksums, file stamps, JSON cleaning.

Every file the pipeline writes goes through ``atomic_path`` (or one of the writers built on it): the data is written
to a unique temporary file beside the target (``.<name>.<uuid>.tmp``, so two writers never share a temp file) and
renamed over the target, so a reader sees the old file or the new one, never half of one.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

TMP_SUFFIX = ".tmp"


def temp_path_for(path: Path) -> Path:
    """A unique temporary path in ``path``'s folder (hidden, ends in ``.tmp``)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}{TMP_SUFFIX}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed over ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """``obj`` cleaned by ``to_jsonable`` (NaN becomes null, so the file is strict JSON)."""
    atomic_write_text(path, json.dumps(to_jsonable(obj), indent=indent, allow_nan=False))


def save_npy_atomic(path: str | os.PathLike, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, arr)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 (hex) of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def file_stamp(path: str | os.PathLike) -> str:
    """Size and modification time of a file: changes when the file is replaced (cache invalidation)."""
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    return f"{st.st_size}-{st.st_mtime_ns}"


def to_jsonable(o: Any) -> Any:
    """``o`` with NumPy scalars and arrays made plain, NaN and infinities made None, paths made strings."""
    if isinstance(o, dict):
        return {str(k): to_jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [to_jsonable(v) for v in o]
    if isinstance(o, np.ndarray):
        return to_jsonable(o.tolist())
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, (int, np.integer)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        f = float(o)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(o, Path):
        return str(o)
    return o
