"""Importer of a plain folder of product images (optionally described by a CSV) as catalogue products.

Products get source "folder"; a folder brings no outfits, FITB questions or split.
"""
from __future__ import annotations

import csv as csv_module
import io
import math
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from ctl_core.config import Workspace
from ctl_core.data.importers.common import (
    BAD_ID,
    DUPLICATE_ID,
    IMAGE_EXTENSIONS,
    MALFORMED,
    NOT_AN_IMAGE,
    SOURCE_CTL,
    SOURCE_FOLDER,
    SOURCE_OUTFITS,
    SOURCE_POLYVORE,
    UNKNOWN_LABEL,
    ImageChecker,
    ImportDataError,
    ImportReport,
    ImportWouldEmptyError,
    existing_catalogue,
    finish,
    id_problem,
    is_file,
    match_category,
    normalise_id,
    other_product_ids,
    path_id,
    read_text_utf8,
    stored_path,
)
from ctl_core.data.importers.outfits import type_category
from ctl_core.data.tables import CATALOGUE_COLUMNS, read_catalogue, replace_rows
from ctl_core.progress import Progress

_ID_ALIASES = ("id", "product_id", "item_id", "sku")
# The category column: our names or a free-text type ("articleType": the styles.csv of fashion-product-images).
_CATEGORY_ALIASES = ("category", "label", "type", "articletype", "article_type", "product_type")
# Coarser type columns, tried when the category column's value maps to none of ours ("Bags", "Jewellery").
_FALLBACK_ALIASES = ("subcategory", "sub_category", "family", "mastercategory")
_IMAGE_ALIASES = ("image", "image_path", "path", "file", "filename")
_TITLE_ALIASES = ("title", "name", "productdisplayname", "display_name", "product_name", "description")
_COLOUR_ALIASES = ("colour", "color", "basecolour", "basecolor")

# What products of a folder import are for (``import folder --purpose``): served in catalogue.csv, or only
# teaching the category head from ``ws.category_examples_csv`` (ctl_core.training.category_examples).
PURPOSE_CATALOGUE, PURPOSE_CATEGORIES = "catalogue", "categories"
PURPOSES = (PURPOSE_CATALOGUE, PURPOSE_CATEGORIES)
# Sources that make the catalogue a real shop's: a folder imported beside one teaches categories by default.
_SHOP_SOURCES = (SOURCE_OUTFITS, SOURCE_POLYVORE, SOURCE_CTL)

# One product a source row describes: (id, category, price, title, image, where the row is, colour).
_Candidate = tuple[str, str, float | None, str, Path, str, str]


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
        yield path_id(rel.with_suffix("")), category, None, title, p, str(rel), ""


def _read_csv(csv: Path) -> tuple[list[str], list[list[str]]]:
    """(lower-cased header, rows) of the product CSV, or ``ImportDataError`` (not UTF-8, not CSV)."""
    text = read_text_utf8(csv, "the product CSV")
    try:
        reader = csv_module.reader(io.StringIO(text, newline=""))
        header = [h.strip().lower() for h in next(reader, [])]
        return header, list(reader)
    except csv_module.Error as e:
        raise ImportDataError(f"{csv}: cannot read as CSV ({e})") from None


def _csv_candidates(folder: Path, csv: Path, images: list[Path], report: ImportReport,
                    progress: Progress | None) -> Iterator[_Candidate]:
    """The products the CSV's rows describe; malformed rows and unknown categories are counted and skipped.

    The category is ``type_category`` of the category column's value, then of the coarser type columns
    (``_FALLBACK_ALIASES``); values that map to none of ours are counted in a report note.
    """
    by_stem: dict[str, Path] = {}
    for p in images:
        by_stem.setdefault(p.stem, p)
    header, table = _read_csv(csv)

    def col(aliases):
        return next((header.index(a) for a in aliases if a in header), None)

    ci, cc, cp, ct, cim = (col(_ID_ALIASES), col(_CATEGORY_ALIASES), col(("price",)), col(_TITLE_ALIASES),
                           col(_IMAGE_ALIASES))
    ccol = col(_COLOUR_ALIASES)
    fallbacks = [header.index(a) for a in _FALLBACK_ALIASES if a in header]
    unmapped: Counter[str] = Counter()
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
        pid = normalise_id(rec[ci])
        if not pid:
            report.skip(MALFORMED, f"{where}: empty id")
            continue
        problem = id_problem(pid)
        if problem:
            report.skip(BAD_ID, f"{where}: {problem}")
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
        category = type_category(rec[cc], *(rec[j] for j in fallbacks))[0]
        if category is None:
            unmapped[rec[cc].strip() or "(empty)"] += 1
            report.skip(UNKNOWN_LABEL, f"{where}: category {rec[cc]!r} is not one of ours")
            continue
        if cim is not None and rec[cim].strip():
            val = Path(rec[cim].strip())
            cands = [val] if val.is_absolute() else [folder / val, csv.parent / val]
            image = next((c for c in cands if is_file(c)), cands[0])
        else:
            image = by_stem.get(pid, folder / f"{pid}.jpg")
        title = rec[ct].strip() if ct is not None else ""
        yield pid, category, price, title, image, where, rec[ccol].strip().lower() if ccol is not None else ""
    if unmapped:
        report.notes.append("types that map to none of our categories: "
                            + ", ".join(f"{t} {n}" for t, n in unmapped.most_common()))


def import_folder(ws: Workspace, folder: str | Path, csv: str | Path | None = None,
                  progress: Progress | None = None, replace: bool = False,
                  purpose: str | None = None) -> ImportReport:
    """Import a folder of product images as catalogue products (source "folder"); no outfits.

    Without ``csv``: every image file under ``folder``; its category is the nearest enclosing sub-folder whose
    name is a category (synonyms accepted, e.g. ``shoes/``, ``tops/``), else it is skipped as "unknown label";
    its id is its path below ``folder`` without the extension (``common.path_id``: separators and punctuation
    -> '-', letters of every script kept).
    With ``csv`` (UTF-8): columns ``id`` and ``category`` (required; aliases product_id/label), optional
    ``price``, ``title`` and ``image`` (a path relative to ``folder`` or to the CSV's folder, or an absolute path;
    wherever it points, it must lie inside ``folder``); without an image column the image is the file under
    ``folder`` named ``<id>.<ext>``. Ids are kept as written (NFC-normalised, trimmed; ``common.normalise_id``);
    ids holding '/' or control characters are skipped as "bad id".
    Each image must open (``load_image``) and, resolved (``..`` and symlinks followed), lie inside ``folder``;
    others are skipped and counted ("image outside the imported folder"). Nothing is copied: image paths are
    stored absolute (relative when the folder lies inside the workspace). ``replace``: allow an import that
    removes every product of the previous folder import (``--replace``).
    A CSV's category column may hold a free-text type (``articleType``, e.g. "Casual Shoes" -> Shoes; see
    ``type_category``); ``colour``/``baseColour`` fills the colour column, ``productDisplayName`` the title.
    ``purpose`` (``PURPOSES``; None: ``default_purpose``): "catalogue" serves the products (catalogue.csv);
    "categories" only teaches the category head with them (``ws.category_examples_csv``), never served.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImportDataError(f"{folder}: folder not found")
    purpose = default_purpose(ws) if purpose is None else purpose
    if purpose not in PURPOSES:
        raise ImportDataError(f"unknown purpose {purpose!r}; use one of {', '.join(PURPOSES)}")
    served = int((existing_catalogue(ws)["source"] == SOURCE_FOLDER).sum())
    if purpose == PURPOSE_CATEGORIES and served and not replace:
        raise ImportWouldEmptyError(f"import folder: --purpose categories would take the {served} served products "
                                    "of the last folder import out of the catalogue; pass --replace to do so")
    report = ImportReport(SOURCE_FOLDER)
    other_ids = other_product_ids(ws, SOURCE_FOLDER)
    images, others = _image_files(folder)
    if csv is None:
        checker = ImageChecker(roots=[folder])
        candidates = _folder_candidates(folder, images, others, report, progress)
    else:
        csv = Path(csv)
        if not csv.is_file():
            raise ImportDataError(f"{csv}: CSV file not found")
        checker = ImageChecker(roots=[folder])
        candidates = _csv_candidates(folder, csv, images, report, progress)

    rows: list[dict] = []
    ids: set[str] = set()
    for pid, category, price, title, image, where, colour in candidates:
        if pid in ids or pid in other_ids:
            report.skip(DUPLICATE_ID, f"{where}: id {pid!r} is already used"
                                      + ("" if pid in ids else " by another source"))
            continue
        if not checker.check(image, report, where):
            continue
        ids.add(pid)
        rows.append({"product_id": pid, "category": category, "price": price, "title": title,
                     "image_path": stored_path(ws, image), "source": SOURCE_FOLDER, "is_product_shot": None,
                     "theme": "", "colour": colour})
    report.imported = report.products = len(rows)
    if purpose == PURPOSE_CATALOGUE:
        finish(ws, report, catalogue_rows=rows, replace=replace)
        _write_category_examples(ws, [], replace=True)
        return report
    _write_category_examples(ws, rows, replace=replace)
    report.products = 0  # none served
    report.notes.append(f"purpose 'categories': the {len(rows)} products teach the category head "
                        f"({ws.category_examples_csv.name}) and are not served; --purpose catalogue serves them")
    return finish(ws, report, catalogue_rows=[], replace=replace)


def default_purpose(ws: Workspace) -> str:
    """``categories`` when the catalogue already holds a real shop's products (an outfit source), else ``catalogue``:
    another shop's labelled photos must not be served in it unless asked."""
    return PURPOSE_CATEGORIES if existing_catalogue(ws)["source"].isin(_SHOP_SOURCES).any() else PURPOSE_CATALOGUE


def _write_category_examples(ws: Workspace, rows: list[dict], replace: bool) -> None:
    """Put ``rows`` in place of the folder source's rows of ``ws.category_examples_csv``; refuses to empty it."""
    path = ws.category_examples_csv
    if not path.exists() and not rows:
        return
    if not rows and not replace:
        n = int((read_catalogue(path)["source"] == SOURCE_FOLDER).sum())
        if n:
            raise ImportWouldEmptyError(f"import folder: this import brings no products and would remove all {n} "
                                        f"category examples of the last one; pass --replace to remove them")
    replace_rows(path, CATALOGUE_COLUMNS, pd.DataFrame(rows, columns=CATALOGUE_COLUMNS),
                 drop=lambda old: old["source"] == SOURCE_FOLDER)
