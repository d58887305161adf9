"""Columns of the workspace tables (CSV under ``workspace/data``) and checked readers/writers.

Every source (demo universe, CTL TSV, Polyvore, image folder) is brought into these same tables.
Image paths are stored relative to the workspace root (or absolute for files the user keeps elsewhere).

catalogue.csv — products a user can query and be served, one row per product:
    product_id (str, unique), category (one of CATEGORIES), price (float, may be empty), title (str),
    image_path (str), source (str: demo|ctl-tsv|polyvore|folder),
    is_product_shot (bool or empty: ground truth when the source knows it), theme (str or empty), colour (str or empty)
    optional (``OPTIONAL_CATALOGUE_COLUMNS``; a catalogue.csv written before they existed still reads, as ''):
    group_id (str or empty: colour variants of one model share it), product_type (the source's own free-text type,
    e.g. "Ankle boots"), fabric (str or empty)

raw_boxes.csv — collage boxes before cleanup, one row per box:
    outfit_id (str: one collage = one outfit), image_path (collage image), x, y, w, h (float, normalised to
    [0, 1], origin top-left), label (category), product_id (str or empty: the catalogue product drawn there)

items.csv — cleaned outfit items, one row per item occurrence in an outfit:
    item_id (str, unique), outfit_id, category, image_path, box_x, box_y, box_w, box_h (int pixels of the crop
    in image_path, all empty = whole image), product_id (str or empty), price (float or empty),
    split (train|test)
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ctl_core.data.categories import CATEGORIES
from ctl_core.io import atomic_path

OPTIONAL_CATALOGUE_COLUMNS = ("group_id", "product_type", "fabric")
CATALOGUE_COLUMNS = ["product_id", "category", "price", "title", "image_path", "source",
                     "is_product_shot", "theme", "colour", *OPTIONAL_CATALOGUE_COLUMNS]
RAW_BOX_COLUMNS = ["outfit_id", "image_path", "x", "y", "w", "h", "label", "product_id"]
ITEM_COLUMNS = ["item_id", "outfit_id", "category", "image_path", "box_x", "box_y", "box_w", "box_h",
                "product_id", "price", "split"]

_STR = {"product_id", "item_id", "outfit_id", "category", "label", "title", "image_path", "source", "theme",
        "colour", "split", *OPTIONAL_CATALOGUE_COLUMNS}


class TableError(ValueError):
    """A workspace table is missing, malformed, or holds values outside the schema."""


def read_table(path: Path, columns: list[str], optional: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a workspace CSV, checking its columns; id/text columns come back as strings ('' when empty).

    Columns named in ``optional`` may be absent from the file (older tables): they come back empty.
    """
    if not Path(path).exists():
        raise TableError(f"{path} does not exist; build the data first (python -m ctl_core demo)")
    dtypes = {c: "string" for c in columns if c in _STR}
    df = pd.read_csv(path, dtype=dtypes, keep_default_na=True)
    for c in optional:
        if c in columns and c not in df.columns:
            df[c] = ""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise TableError(f"{path} lacks columns {missing}")
    for c in dtypes:
        df[c] = df[c].fillna("").astype(str)
    if "category" in df.columns:
        bad = sorted(set(df["category"]) - set(CATEGORIES))
        if bad:
            raise TableError(f"{path} has unknown categories {bad[:5]}")
    return df[columns].reset_index(drop=True)


def write_table(df: pd.DataFrame | list[pd.DataFrame], path: Path, columns: list[str]) -> None:
    """Write ``df`` with exactly ``columns`` atomically (temp file + rename), so a crash never leaves half a table.

    Optional columns (``OPTIONAL_CATALOGUE_COLUMNS``) that ``df`` lacks are written empty. A list of frames is
    written one after the other (no concatenated copy of a large table is made).
    """
    parts = df if isinstance(df, list) else [df]
    for i, part in enumerate(parts):
        absent = [c for c in OPTIONAL_CATALOGUE_COLUMNS if c in columns and c not in part.columns]
        if absent:
            part = parts[i] = part.assign(**{c: "" for c in absent})
        missing = [c for c in columns if c not in part.columns]
        if missing:
            raise TableError(f"cannot write {path}: missing columns {missing}")
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            for i, part in enumerate(parts):
                part[columns].to_csv(f, index=False, header=i == 0)


def replace_rows(path: Path, columns: list[str], new: pd.DataFrame, drop: Callable[[pd.DataFrame], pd.Series],
                 new_first: bool = False) -> int:
    """Replace one source's rows of a table: keep the old rows where ``drop(old)`` is False, add ``new``.

    The table is written only when something changes (rows dropped or added) or it already exists; the number of
    rows it holds is returned. ``new_first`` puts the new rows before the kept ones. The kept and the new rows are
    written one after the other, never concatenated (a large import would hold the table twice).
    """
    path = Path(path)
    old = read_table(path, columns, OPTIONAL_CATALOGUE_COLUMNS) if path.exists() else pd.DataFrame(columns=columns)
    mask = drop(old) if len(old) else pd.Series([], dtype=bool)
    kept = old[~mask.to_numpy(dtype=bool)] if len(old) else old
    new = new.reindex(columns=columns)
    parts = [new, kept] if new_first else [kept, new]
    parts = [p for p in parts if len(p)] or [pd.DataFrame(columns=columns)]
    if path.exists() or len(new) or bool(mask.any()):
        write_table(parts, path, columns)
    return sum(len(p) for p in parts)


def read_catalogue(path: Path) -> pd.DataFrame:
    return read_table(path, CATALOGUE_COLUMNS, OPTIONAL_CATALOGUE_COLUMNS)


def read_items(path: Path) -> pd.DataFrame:
    return read_table(path, ITEM_COLUMNS)


def read_raw_boxes(path: Path) -> pd.DataFrame:
    return read_table(path, RAW_BOX_COLUMNS)
