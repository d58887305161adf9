"""What every importer shares: the bad-input report, category names, image checks, and the final step that puts
one source's rows in place of its old ones and writes the report.

An importer reads its source row by row; a row it cannot use is counted with ``ImportReport.skip(reason, message)``
under one of the reasons below (``ImageChecker.check`` does this for images that are missing or do not open).
It ends with ``finish(ws, report, catalogue_rows, box_rows, fitb, splits)``, which calls ``replace_source`` and
writes ``data/import_<source>_report.json``. A source that owns outfits adds its outfit id prefix to
``OUTFIT_PREFIX`` and, when it brings its own split, its split file name to ``SPLIT_FILE``.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from ctl_core.config import Workspace
from ctl_core.data.categories import CATEGORIES
from ctl_core.data.tables import CATALOGUE_COLUMNS, RAW_BOX_COLUMNS, read_catalogue, replace_rows
from ctl_core.images import ImageError, load_image
from ctl_core.io import atomic_write_json

SOURCE_CTL, SOURCE_POLYVORE, SOURCE_FOLDER = "ctl-tsv", "polyvore", "folder"
OUTFIT_PREFIX = {SOURCE_CTL: "ctl-", SOURCE_POLYVORE: "pv-"}
SPLIT_FILE = {SOURCE_CTL: "ctl_splits.json", SOURCE_POLYVORE: "polyvore_splits.json"}
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
MAX_EXAMPLES = 5
JSON_INDENT = 1   # fitb.json, split files and reports

# Skip reasons (the report's keys).
MALFORMED = "malformed row"
MISSING_IMAGE = "missing image"
UNREADABLE_IMAGE = "unreadable image"
OUTSIDE = "box outside the image"
UNKNOWN_LABEL = "unknown label"
DUPLICATE = "duplicate row"
DUPLICATE_ID = "duplicate id"
UNKNOWN_ITEM = "unknown item"
NOT_AN_IMAGE = "not an image file"
FITB_UNMATCHED = "fitb: unmatched item"
FITB_MALFORMED = "fitb: malformed question"
FITB_NO_ANSWER = "fitb: no correct answer"


class ImportDataError(ValueError):
    """A source that cannot be imported at all (missing folder or file, unusable header)."""


@dataclass
class ImportReport:
    """What an import read, wrote and skipped (by reason, with a few examples each)."""

    source: str
    rows_read: int = 0
    imported: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    outfits: int = 0
    products: int = 0
    fitb_read: int = 0
    fitb_imported: int = 0
    notes: list[str] = field(default_factory=list)

    def skip(self, reason: str, message: str) -> None:
        """Count one skipped row (or FITB question) under ``reason``, keeping the first few messages."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < MAX_EXAMPLES:
            ex.append(message)

    @property
    def rows_skipped(self) -> int:
        return sum(v for k, v in self.skipped.items() if not k.startswith("fitb:"))

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        lines = [f"import {self.source}: {self.rows_read} rows read, {self.imported} imported, "
                 f"{self.rows_skipped} skipped"]
        counts = [f"{n} {what}" for n, what in ((self.outfits, "outfits"), (self.products, "catalogue products"))
                  if n]
        if counts:
            lines.append("  " + ", ".join(counts))
        if self.fitb_read:
            lines.append(f"  FITB: {self.fitb_read} questions read, {self.fitb_imported} imported")
        if self.skipped:
            w = max(len(k) for k in self.skipped)
            lines.append("  skipped by reason:")
            for reason, n in sorted(self.skipped.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"    {reason:<{w}}  {n:>7}")
                for ex in self.examples.get(reason, []):
                    lines.append(f"      e.g. {ex}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------ category names

def _key(s: str) -> str:
    return re.sub(r"[^a-z]", "", str(s).lower().replace("&", "and"))


_SYNONYMS: dict[str, tuple[str, ...]] = {
    "Shoes": ("shoe", "shoes", "footwear", "sneakers", "heels", "sandals", "pumps", "flats", "loafers"),
    "Handbags": ("handbag", "handbags", "bag", "bags", "purse", "purses", "clutch", "clutches", "totes"),
    "Shirts & Tops": ("shirts & tops", "shirts and tops", "tops", "top", "shirt", "shirts", "blouse", "blouses",
                      "tshirt", "tshirts", "tees", "tee", "tops & tees"),
    "Pants": ("pant", "pants", "trousers", "jeans", "leggings"),
    "Coats & Jackets": ("coats & jackets", "coat", "coats", "jacket", "jackets", "outerwear", "blazer", "blazers"),
    "Dresses": ("dress", "dresses", "gown", "gowns"),
    "Jewelry": ("jewelry", "jewellery", "jewels", "necklace", "necklaces", "earrings", "bracelets", "rings"),
    "Hats": ("hat", "hats", "cap", "caps", "beanie", "beanies", "headwear"),
    "Skirts": ("skirt", "skirts"),
    "Sunglasses": ("sunglasses", "sunglass", "eyewear", "glasses", "shades"),
    "Shorts": ("shorts",),
    "Scarves & Shawls": ("scarves & shawls", "scarf", "scarves", "shawl", "shawls", "wraps"),
    "Watches": ("watch", "watches"),
    "Belts": ("belt", "belts"),
    "Boots": ("boot", "boots", "booties"),
    "Sweaters": ("sweater", "sweaters", "knitwear", "cardigan", "cardigans", "jumpers", "pullovers"),
    "Swimwear": ("swimwear", "swimsuit", "swimsuits", "bikini", "bikinis", "swim"),
    "Jumpsuits": ("jumpsuit", "jumpsuits", "romper", "rompers", "playsuit", "playsuits", "overalls"),
    "Socks & Tights": ("socks & tights", "socks", "sock", "tights", "hosiery", "stockings"),
    "Gloves": ("glove", "gloves", "mittens"),
    "Ties": ("tie", "ties", "neckties", "bowties"),
}
LABEL_SYNONYMS: dict[str, str] = {_key(c): c for c in CATEGORIES}
for _cat, _names in _SYNONYMS.items():
    for _n in _names:
        LABEL_SYNONYMS.setdefault(_key(_n), _cat)


def match_category(label: str) -> str | None:
    """One of CATEGORIES for a source's label (case-insensitive, '&'/'and', common synonyms), else None."""
    k = _key(label)
    if not k:
        return None
    for cand in (k, k[:-1] if k.endswith("s") else k + "s"):
        if cand in LABEL_SYNONYMS:
            return LABEL_SYNONYMS[cand]
    return None


# ------------------------------------------------------------------------------------------ reading input

class ImageChecker:
    """Opens each image once (``load_image``); remembers whether it is missing or unreadable."""

    def __init__(self) -> None:
        self._seen: dict[Path, tuple[str, str] | None] = {}

    def problem(self, path: Path) -> tuple[str, str] | None:
        """None when the image opens, else ``(reason, message)``."""
        if path not in self._seen:
            if not path.is_file():
                self._seen[path] = (MISSING_IMAGE, f"{path}: file not found")
            else:
                try:
                    load_image(path)
                    self._seen[path] = None
                except ImageError as e:
                    self._seen[path] = (UNREADABLE_IMAGE, str(e))
        return self._seen[path]

    def check(self, path: Path, report: ImportReport, where: str) -> bool:
        """True when the image opens; else the row at ``where`` is counted as skipped and False returned."""
        problem = self.problem(path)
        if problem:
            report.skip(problem[0], f"{where}: {problem[1]}")
        return problem is None


def stored_path(ws: Workspace, path: Path) -> str:
    """Relative to the workspace root when inside it, else absolute (posix)."""
    p = Path(path).expanduser().resolve()
    try:
        return p.relative_to(ws.root).as_posix()
    except ValueError:
        return p.as_posix()


def load_json(path: Path):
    """The parsed JSON file, or ``ImportDataError`` saying why it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ImportDataError(f"{path}: not readable JSON ({e})") from None


def load_fitb_list(path: Path, report: ImportReport) -> list | None:
    """The list of FITB questions in ``path``, or None after counting the whole file as one malformed question."""
    try:
        data = load_json(path)
    except ImportDataError as e:
        report.skip(FITB_MALFORMED, str(e))
        return None
    if not isinstance(data, list):
        report.skip(FITB_MALFORMED, f"{path}: expected a list of questions")
        return None
    return data


def fitb_shape_ok(q) -> bool:
    """Whether a FITB question is a dict with a non-empty 'question' list and at least two 'answers'."""
    return (isinstance(q, dict) and isinstance(q.get("question"), list) and isinstance(q.get("answers"), list)
            and bool(q["question"]) and len(q["answers"]) >= 2)


# ------------------------------------------------------------------------------------------ writing

def existing_catalogue(ws: Workspace) -> pd.DataFrame:
    if ws.catalogue_csv.exists():
        return read_catalogue(ws.catalogue_csv)
    return pd.DataFrame(columns=CATALOGUE_COLUMNS)


def other_product_ids(ws: Workspace, source: str) -> set[str]:
    """Product ids the catalogue already holds from other sources (an import must not reuse them)."""
    cat = existing_catalogue(ws)
    return set(cat.loc[cat["source"] != source, "product_id"])


def replace_source(ws: Workspace, source: str, catalogue_rows: list[dict] | None, box_rows: list[dict] | None,
                   fitb: list[dict] | None, splits: dict[str, list[str]] | None) -> None:
    """Write this source's rows in place of its old ones, keeping every other source's rows (kept rows first)."""
    ws.ensure()
    cat = existing_catalogue(ws)
    own_old = set(cat.loc[cat["source"] == source, "product_id"])
    new_cat = pd.DataFrame(catalogue_rows or [], columns=CATALOGUE_COLUMNS)
    if own_old or len(new_cat):   # an unchanged catalogue is not rewritten (its file stamp keys caches)
        replace_rows(ws.catalogue_csv, CATALOGUE_COLUMNS, new_cat, drop=lambda old: old["source"] == source)

    if box_rows is not None or source in OUTFIT_PREFIX:
        prefix = OUTFIT_PREFIX.get(source)

        def mine(old: pd.DataFrame) -> pd.Series:
            m = old["product_id"].isin(own_old) & (old["product_id"] != "")
            if prefix:
                m |= old["outfit_id"].str.startswith(prefix)
            return m

        replace_rows(ws.raw_boxes_csv, RAW_BOX_COLUMNS, pd.DataFrame(box_rows or [], columns=RAW_BOX_COLUMNS),
                     drop=mine)

    if ws.fitb_json.exists() or fitb:
        try:
            old = json.loads(ws.fitb_json.read_text()) if ws.fitb_json.exists() else []
        except (OSError, json.JSONDecodeError):
            old = []
        kept = [q for q in old if isinstance(q, dict) and q.get("source") != source]
        atomic_write_json(ws.fitb_json, kept + list(fitb or []), indent=JSON_INDENT)

    if source in SPLIT_FILE:
        path = ws.data_dir / SPLIT_FILE[source]
        if splits and any(splits.values()):
            atomic_write_json(path, {"source": source, **splits}, indent=JSON_INDENT)
        elif path.exists():
            path.unlink()


def finish(ws: Workspace, report: ImportReport, catalogue_rows: list[dict] | None = None,
           box_rows: list[dict] | None = None, fitb: list[dict] | None = None,
           splits: dict[str, list[str]] | None = None) -> ImportReport:
    """``replace_source`` with the import's rows, then write ``data/import_<source>_report.json``."""
    replace_source(ws, report.source, catalogue_rows, box_rows, fitb, splits)
    atomic_write_json(ws.data_dir / f"import_{report.source}_report.json", report.to_dict(), indent=JSON_INDENT)
    return report
