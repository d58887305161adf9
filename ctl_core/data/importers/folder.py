"""Importer of a plain folder of product images (optionally described by a CSV) as catalogue products.

Products get source "folder"; a folder brings no outfits, FITB questions or split.
"""
from __future__ import annotations

import csv as csv_module
import math
import re
from collections.abc import Iterator
from pathlib import Path

from ctl_core.config import Workspace
from ctl_core.data.importers.common import (
    DUPLICATE_ID,
    IMAGE_EXTENSIONS,
    MALFORMED,
    NOT_AN_IMAGE,
    SOURCE_FOLDER,
    UNKNOWN_LABEL,
    ImageChecker,
    ImportDataError,
    ImportReport,
    finish,
    match_category,
    other_product_ids,
    stored_path,
)
from ctl_core.progress import Progress

_ID_ALIASES = ("id", "product_id", "item_id", "sku")
_CATEGORY_ALIASES = ("category", "label", "type")
_IMAGE_ALIASES = ("image", "image_path", "path", "file", "filename")
_TITLE_ALIASES = ("title", "name", "description")

# One product a source row describes: (id, category, price, title, image, where the row is).
_Candidate = tuple[str, str, float | None, str, Path, str]


def _safe_id(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-")


def _image_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(image files, other non-hidden files) under ``folder``, sorted."""
    imgs, other = [], []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(folder).parts):
            continue
        (imgs if p.suffix.lower() in IMAGE_EXTENSIONS else other).append(p)
    return imgs, other


def _folder_candidates(folder: Path, images: list[Path], others: list[Path], report: ImportReport,
                       progress: Progress | None) -> Iterator[_Candidate]:
    """Every image file, its category the nearest enclosing folder named after one (else skipped)."""
    for p in others:
        report.rows_read += 1
        report.skip(NOT_AN_IMAGE, f"{p.relative_to(folder)}: extension {p.suffix or '(none)'} is not an image")
    for n, p in enumerate(images):
        if progress and n % 200 == 0:
            progress("import folder", n, len(images))
        report.rows_read += 1
        rel = p.relative_to(folder)
        category = next((c for c in map(match_category, reversed(rel.parts[:-1])) if c), None)
        if category is None:
            report.skip(UNKNOWN_LABEL, f"{rel}: no enclosing folder is named after a category")
            continue
        title = re.sub(r"[_-]+", " ", p.stem).strip()
        yield _safe_id(rel.with_suffix("").as_posix()), category, None, title, p, str(rel)


def _read_csv(csv: Path) -> tuple[list[str], list[list[str]]]:
    """(lower-cased header, rows) of the product CSV, or ``ImportDataError``."""
    try:
        with open(csv, newline="", encoding="utf-8-sig", errors="replace") as f:
            reader = csv_module.reader(f)
            header = [h.strip().lower() for h in next(reader, [])]
            return header, list(reader)
    except (OSError, csv_module.Error) as e:
        raise ImportDataError(f"{csv}: cannot read as CSV ({e})") from None


def _csv_candidates(folder: Path, csv: Path, images: list[Path], report: ImportReport,
                    progress: Progress | None) -> Iterator[_Candidate]:
    """The products the CSV's rows describe; malformed rows and unknown categories are counted and skipped."""
    by_stem: dict[str, Path] = {}
    for p in images:
        by_stem.setdefault(p.stem, p)
    header, table = _read_csv(csv)

    def col(aliases):
        return next((header.index(a) for a in aliases if a in header), None)

    ci, cc, cp, ct, cim = (col(_ID_ALIASES), col(_CATEGORY_ALIASES), col(("price",)), col(_TITLE_ALIASES),
                           col(_IMAGE_ALIASES))
    if ci is None or cc is None:
        raise ImportDataError(f"{csv}: needs an 'id' and a 'category' column, found {header}")
    for n, rec in enumerate(table, start=2):
        if progress and n % 200 == 0:
            progress("import folder", n, len(table))
        if not any(v.strip() for v in rec):
            continue
        report.rows_read += 1
        where = f"{csv.name}:{n}"
        if len(rec) != len(header):
            report.skip(MALFORMED, f"{where}: {len(rec)} fields, the header has {len(header)}")
            continue
        pid = _safe_id(rec[ci].strip())
        if not pid:
            report.skip(MALFORMED, f"{where}: empty id")
            continue
        price = None
        if cp is not None and rec[cp].strip():
            try:
                price = float(rec[cp].strip().lstrip("$€£"))
            except ValueError:
                price = float("nan")
            if not math.isfinite(price) or price < 0:
                report.skip(MALFORMED, f"{where}: price {rec[cp]!r} is not a non-negative number")
                continue
        category = match_category(rec[cc])
        if category is None:
            report.skip(UNKNOWN_LABEL, f"{where}: category {rec[cc]!r} is not one of ours")
            continue
        if cim is not None and rec[cim].strip():
            val = Path(rec[cim].strip())
            cands = [val] if val.is_absolute() else [folder / val, csv.parent / val]
            image = next((c for c in cands if c.is_file()), cands[0])
        else:
            image = by_stem.get(rec[ci].strip(), folder / f"{rec[ci].strip()}.jpg")
        title = rec[ct].strip() if ct is not None else ""
        yield pid, category, price, title, image, where


def import_folder(ws: Workspace, folder: str | Path, csv: str | Path | None = None,
                  progress: Progress | None = None) -> ImportReport:
    """Import a folder of product images as catalogue products (source "folder"); no outfits.

    Without ``csv``: every image file under ``folder``; its category is the nearest enclosing sub-folder whose
    name is a category (synonyms accepted, e.g. ``shoes/``, ``tops/``), else it is skipped as "unknown label";
    its id is its path below ``folder`` without the extension (unsafe characters -> '-').
    With ``csv``: columns ``id`` and ``category`` (required; aliases product_id/label), optional ``price``,
    ``title`` and ``image`` (a path relative to ``folder``, to the CSV's folder, or absolute); without an image
    column the image is the file under ``folder`` named ``<id>.<ext>``.
    Each image must open (``load_image``). Nothing is copied: image paths are stored absolute (relative when
    the folder lies inside the workspace).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImportDataError(f"{folder}: folder not found")
    report = ImportReport(SOURCE_FOLDER)
    other_ids = other_product_ids(ws, SOURCE_FOLDER)
    checker = ImageChecker()
    images, others = _image_files(folder)
    if csv is None:
        candidates = _folder_candidates(folder, images, others, report, progress)
    else:
        csv = Path(csv)
        if not csv.is_file():
            raise ImportDataError(f"{csv}: CSV file not found")
        candidates = _csv_candidates(folder, csv, images, report, progress)

    rows: list[dict] = []
    ids: set[str] = set()
    for pid, category, price, title, image, where in candidates:
        if pid in ids or pid in other_ids:
            report.skip(DUPLICATE_ID, f"{where}: id {pid!r} is already used"
                                      + ("" if pid in ids else " by another source"))
            continue
        if not checker.check(image, report, where):
            continue
        ids.add(pid)
        rows.append({"product_id": pid, "category": category, "price": price, "title": title,
                     "image_path": stored_path(ws, image), "source": SOURCE_FOLDER, "is_product_shot": None,
                     "theme": "", "colour": ""})
    report.imported = report.products = len(rows)
    return finish(ws, report, catalogue_rows=rows)
