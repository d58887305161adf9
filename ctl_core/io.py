"""Small file infrastructure with one owner: atomic writes, checksums, file stamps, JSON reading and cleaning.

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


class JSONReadError(ValueError):
    """A JSON file that cannot be used (missing, not UTF-8, not JSON, nested too deep, or of the wrong type)."""


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


def read_json(path: str | os.PathLike, what: str = "JSON file", expect: type | tuple[type, ...] | None = None,
              error: type[ValueError] = JSONReadError, fix: str = "") -> Any:
    """The parsed JSON of ``path``, or ``error`` (a ValueError): one line naming the file, the problem and ``fix``.

    Every JSON a user hands us or the workspace holds is read here: besides syntax errors it catches input nested
    too deep for the parser (``RecursionError``, e.g. ``[[[[...]]]]`` 200,000 deep), bytes that are not UTF-8 and,
    with ``expect``, a top level of the wrong type (``expect=dict``: "expected an object, got a list").
    """
    suffix = f"; {fix}" if fix else ""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {what} not found{suffix}") from None
    except UnicodeDecodeError as e:
        raise error(f"{path}: {what} is not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})"
                    f"{suffix}") from None
    except OSError as e:
        raise error(f"{path}: cannot read {what} ({e.strerror or e}){suffix}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"{path}: {what} is not readable JSON ({e}){suffix}") from None
    except RecursionError:
        raise error(f"{path}: {what} is nested too deeply to read (more levels than the parser allows)"
                    f"{suffix}") from None
    if expect is not None and not isinstance(data, expect):
        names = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}
        want = " or ".join(names.get(t, t.__name__) for t in (expect if isinstance(expect, tuple) else (expect,)))
        raise error(f"{path}: {what} should be {want}, got {names.get(type(data), type(data).__name__)}"
                    f"{suffix}") from None
    return data


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
