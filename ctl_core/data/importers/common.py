"""What every importer shares: the bad-input report, category names, image checks, and the final step that puts
one source's rows in place of its old ones and writes the report.

An importer reads its source row by row; a row it cannot use is counted with ``ImportReport.skip(reason, message)``
under one of the reasons below (``ImageChecker.check`` does this for images that are missing or do not open).
It ends with ``finish(ws, report, catalogue_rows, box_rows, fitb, splits)``, which calls ``replace_source`` and
writes ``data/import_<source>_report.json``. A source that owns outfits adds its outfit id prefix to
``OUTFIT_PREFIX`` and, when it brings its own split, its split file name to ``SPLIT_FILE``.

Ids and paths (every importer gets these by calling the helpers here):
  * ids keep their Unicode: ``normalise_id`` applies NFC and trims surrounding whitespace, nothing else, so
    ``鞋-1`` and ``包-1`` stay two products; ``id_problem`` refuses empty ids, ids over ``MAX_ID_LEN``
    characters and ids holding control characters or path separators. ``path_id`` derives an id from a relative
    path (folder imports without a CSV): separators and other punctuation become ``-``, letters of any script stay;
  * ``ImageChecker(roots)`` resolves every image path (``..`` and symlinks followed) and refuses, counting the
    row, one that lands outside the folders being imported, or has a component over 255 bytes;
  * ``read_text_utf8`` refuses a file that is not UTF-8 with a message naming the encoding it looks like.

Several files, one consistent state (``replace_source``): the tables are written in an order that keeps every
reference valid after each single write — a kill between any two writes never leaves a raw box naming a product
that is not in catalogue.csv, nor a FITB question naming boxes of another import:
  1. ``data/.import_<source>.pending`` is written (the import is under way);
  2. fitb.json loses this source's questions;
  3. catalogue.csv holds the old AND the new products of the source (only when boxes are written too);
  4. raw_boxes.csv gets the new boxes (they name new products, present since step 3);
  5. catalogue.csv drops the source's products that are gone (no box names them since step 4);
  6. fitb.json gets the new questions, then the split file is written;
  7. the report is written and the pending marker removed.
An import found pending (``interrupted_imports``) was killed between steps: its tables are consistent but may
hold a mix of old and new rows; the next import of that source says so and puts the whole new state in place.
An import that would remove every product (or, for box-only sources, every box) of its source — a header-only
CSV on re-import, or a source whose every row was skipped — is refused unless ``replace=True`` (``--replace``).
"""
from __future__ import annotations

import csv as csv_module
import io
import re
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from ctl_core.config import Workspace
from ctl_core.data.categories import CATEGORIES
from ctl_core.data.tables import CATALOGUE_COLUMNS, RAW_BOX_COLUMNS, read_catalogue, read_raw_boxes, replace_rows
from ctl_core.images import ImageError, load_image
from ctl_core.io import JSONReadError, atomic_write_json, read_json

SOURCE_CTL, SOURCE_POLYVORE, SOURCE_FOLDER = "ctl-tsv", "polyvore", "folder"
SOURCE_OUTFITS = "outfits"   # outfit tables (Mango datathon, products.csv + outfits.csv): importers/outfits.py
OUTFIT_PREFIX = {SOURCE_CTL: "ctl-", SOURCE_POLYVORE: "pv-", SOURCE_OUTFITS: "of-"}
SPLIT_FILE = {SOURCE_CTL: "ctl_splits.json", SOURCE_POLYVORE: "polyvore_splits.json"}
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
MAX_EXAMPLES = 5
JSON_INDENT = 1   # fitb.json, split files and reports
MAX_ID_LEN = 200  # the database stores product ids in 200 characters
MAX_NAME_BYTES = 255  # longest file or folder name most file systems allow

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
BAD_ID = "bad id"
OUTSIDE_FOLDER = "image outside the imported folder"
BAD_PATH = "unusable image path"
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
    seconds: float | None = None  # wall time of the whole import, set when its report is written
    _started: float = field(default_factory=time.perf_counter, repr=False, compare=False)

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
        d = asdict(self)
        d.pop("_started", None)
        return d

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

def normalise_id(raw: object) -> str:
    """A source's id as we store it: NFC-normalised, surrounding whitespace trimmed; every other character kept."""
    return unicodedata.normalize("NFC", str(raw)).strip()


def id_problem(pid: str) -> str | None:
    """Why ``pid`` (already ``normalise_id``-ed) cannot be a product id, or None when it can."""
    if not pid:
        return "empty id"
    if len(pid) > MAX_ID_LEN:
        return f"id is {len(pid)} characters long; at most {MAX_ID_LEN} allowed"
    if "/" in pid or "\\" in pid or pid in (".", ".."):
        return f"id {pid[:60]!r} looks like a path (holds '/', '\\' or is '.'/'..')"
    if any(unicodedata.category(ch).startswith("C") for ch in pid):
        return f"id {pid[:60]!r} holds control characters"
    return None


def path_id(rel: Path) -> str:
    """An id for an image found at ``rel`` (relative, without its extension): letters and digits of any script,
    '.', '_' and '-' kept, every other run of characters (separators, spaces, punctuation) made one '-'."""
    text = unicodedata.normalize("NFC", rel.as_posix())
    return re.sub(r"[^\w.-]+", "-", text).strip("-")[:MAX_ID_LEN]


def path_problem(path: Path, roots: Sequence[Path]) -> tuple[str, str] | None:
    """None when ``path`` is usable, else ``(reason, message)``: a component over 255 bytes, or a path that,
    resolved (``..`` and symlinks followed), lies outside every folder in ``roots``, or one holding a NUL byte
    (no file system accepts it; ``os.stat`` raises ValueError)."""
    if "\0" in str(path):
        return (BAD_PATH, f"{str(path)[:80]!r}: the path holds a NUL byte")
    long = next((part for part in Path(path).parts if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES),
                None)
    if long is not None:
        return (BAD_PATH, f"{str(path)[:80]}…: a path component is {len(long.encode('utf-8', 'surrogateescape'))} "
                          f"bytes long; at most {MAX_NAME_BYTES} allowed")
    if not roots:
        return None
    try:
        real = Path(path).expanduser().resolve()
        inside = any(real.is_relative_to(Path(r).expanduser().resolve()) for r in roots)
    except (OSError, RuntimeError, ValueError) as e:  # RuntimeError: a symlink loop; ValueError: unencodable
        return (BAD_PATH, f"{str(path)[:80]!r}: cannot resolve ({e})")
    if not inside:
        where = " or ".join(str(r) for r in roots)
        return (OUTSIDE_FOLDER, f"{path}: resolves to {real}, outside {where}")
    return None


class ImageChecker:
    """Opens each image once (``load_image``); remembers whether it is missing, unreadable or out of bounds.

    ``roots``: the folders being imported; an image whose resolved path lies outside all of them is refused
    (``..`` or a symlink pointing out). None: no folder restriction (only the path-length check).
    """

    def __init__(self, roots: Sequence[Path] | Path | None = None) -> None:
        self.roots: tuple[Path, ...] = (() if roots is None else (Path(roots),) if isinstance(roots, (str, Path))
                                        else tuple(Path(r) for r in roots))
        self._seen: dict[Path, tuple[str, str] | None] = {}

    def problem(self, path: Path) -> tuple[str, str] | None:
        """None when the image opens, else ``(reason, message)``."""
        if path not in self._seen:
            self._seen[path] = path_problem(path, self.roots) or self._open_problem(path)
        return self._seen[path]

    @staticmethod
    def _open_problem(path: Path) -> tuple[str, str] | None:
        try:
            if not path.is_file():
                return (MISSING_IMAGE, f"{path}: file not found")
        except OSError as e:
            return (BAD_PATH, f"{path}: {e.strerror or e}")
        try:
            load_image(path)
        except ImageError as e:
            return (UNREADABLE_IMAGE, str(e))
        return None

    def check(self, path: Path, report: ImportReport, where: str) -> bool:
        """True when the image opens; else the row at ``where`` is counted as skipped and False returned."""
        problem = self.problem(path)
        if problem:
            report.skip(problem[0], f"{where}: {problem[1]}")
        return problem is None


def is_file(path: Path) -> bool:
    """``path.is_file()`` that answers False instead of raising (names over 255 bytes, permissions, a NUL byte)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def read_text_utf8(path: Path, what: str = "file") -> str:
    """The text of ``path`` (a UTF-8 BOM is dropped), or ``ImportDataError`` naming the encoding it seems to have.

    Files that are not UTF-8 are refused rather than guessed: Latin-1 and Windows-1252 decode any byte string,
    so no guess would be reliable and a wrong one corrupts every accented title silently.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImportDataError(f"{path}: cannot read {what} ({e.strerror or e})") from None
    _refuse_other_boms(data, path, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _not_utf8(path, what, data[e.start], e.start) from None


def _refuse_other_boms(head: bytes, path: Path, what: str) -> None:
    boms = ((b"\xff\xfe\x00\x00", "UTF-32 LE"), (b"\x00\x00\xfe\xff", "UTF-32 BE"), (b"\xff\xfe", "UTF-16 LE"),
            (b"\xfe\xff", "UTF-16 BE"))
    for bom, name in boms:
        if head.startswith(bom):
            raise ImportDataError(f"{path}: {what} is encoded as {name}; save it as UTF-8 and import again")


def _not_utf8(path: Path, what: str, byte: int, offset: int) -> ImportDataError:
    return ImportDataError(
        f"{path}: {what} is not UTF-8 (byte {byte:#04x} at offset {offset}); it looks like Latin-1 "
        f"(ISO-8859-1) or Windows-1252 — save it as UTF-8 (e.g. iconv -f latin1 -t utf-8) and import again")


def iter_csv_utf8(path: Path, what: str = "CSV file") -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """(lower-cased header, the non-blank rows as (line number, fields)) of a UTF-8 CSV read as a stream, never
    whole: memory stays bounded by the rows the caller keeps. Refused like ``read_text_utf8`` (``ImportDataError``);
    a byte that is not UTF-8 far in the file stops the iteration with the same message (naming its line)."""
    if not is_file(path):
        raise ImportDataError(f"{path}: file not found")
    try:
        raw = open(path, "rb")
    except OSError as e:
        raise ImportDataError(f"{path}: cannot read {what} ({e.strerror or e})") from None
    _refuse_other_boms(raw.read(4), path, what)
    raw.seek(0)
    f = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    reader = csv_module.reader(f)

    def fail(e: Exception) -> ImportDataError:
        f.close()
        if isinstance(e, UnicodeDecodeError):
            return ImportDataError(
                f"{path}: {what} is not UTF-8 (byte {e.object[e.start]:#04x} near line {reader.line_num + 1}); it "
                f"looks like Latin-1 (ISO-8859-1) or Windows-1252 — save it as UTF-8 (e.g. iconv -f latin1 -t utf-8) "
                f"and import again")
        return ImportDataError(f"{path}: cannot read as CSV ({e})")

    try:
        header = [h.strip().lower() for h in next(reader, [])]
    except (UnicodeDecodeError, csv_module.Error) as e:
        raise fail(e) from None

    def rows() -> Iterator[tuple[int, list[str]]]:
        with f:
            try:
                for rec in reader:
                    if any(v.strip() for v in rec):
                        yield reader.line_num, rec
            except (UnicodeDecodeError, csv_module.Error) as e:
                raise fail(e) from None

    return header, rows()


def stored_path(ws: Workspace, path: Path) -> str:
    """Relative to the workspace root when inside it, else absolute (posix)."""
    p = Path(path).expanduser().resolve()
    try:
        return p.relative_to(ws.root).as_posix()
    except ValueError:
        return p.as_posix()


def load_json(path: Path, what: str = "JSON file"):
    """The parsed JSON file, or ``ImportDataError`` saying why it cannot be read (``io.read_json``)."""
    return read_json(path, what, error=ImportDataError)


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


def pending_marker(ws: Workspace, source: str) -> Path:
    """The file that says an import of ``source`` has started and not finished."""
    return ws.data_dir / f".import_{source}.pending"


def interrupted_imports(ws: Workspace) -> list[str]:
    """Sources whose last import was killed before it finished (their tables are consistent, possibly mixed)."""
    return sorted(p.name.removeprefix(".import_").removesuffix(".pending")
                  for p in ws.data_dir.glob(".import_*.pending"))


class ImportWouldEmptyError(ImportDataError):
    """An import that would remove every product (or box) of its source; refused unless ``replace=True``."""


def _read_fitb(ws: Workspace) -> tuple[list[dict], bool]:
    """(the questions in fitb.json, whether the file is fine as it is: absent or a readable list)."""
    if not ws.fitb_json.exists():
        return [], True
    try:
        old = read_json(ws.fitb_json, "FITB questions", expect=list)
    except JSONReadError:
        return [], False  # an unreadable fitb.json holds nothing worth keeping; it is rewritten
    return [q for q in old if isinstance(q, dict)], True


def replace_source(ws: Workspace, source: str, catalogue_rows: list[dict] | None,
                   box_rows: list[dict] | pd.DataFrame | None,
                   fitb: list[dict] | None, splits: dict[str, list[str]] | None, replace: bool = False) -> None:
    """Write this source's rows in place of its old ones, keeping every other source's rows (kept rows first).

    The writes follow the order in the module docstring, so every intermediate state is consistent. Refused
    (``ImportWouldEmptyError``, nothing written) when the source had products or boxes and this import brings
    none, unless ``replace``.
    """
    ws.ensure()
    cat = existing_catalogue(ws)
    own_old = set(cat.loc[cat["source"] == source, "product_id"])
    new_cat = pd.DataFrame(catalogue_rows or [], columns=CATALOGUE_COLUMNS)
    prefix = OUTFIT_PREFIX.get(source)
    writes_boxes = box_rows is not None or source in OUTFIT_PREFIX
    new_boxes = (box_rows if isinstance(box_rows, pd.DataFrame)   # a large import hands a frame (importers/outfits)
                 else pd.DataFrame(box_rows or [], columns=RAW_BOX_COLUMNS))

    def mine(old: pd.DataFrame) -> pd.Series:
        m = old["product_id"].isin(own_old) & (old["product_id"] != "")
        if prefix:
            m |= old["outfit_id"].str.startswith(prefix)
        return m

    old_boxes = read_raw_boxes(ws.raw_boxes_csv) if writes_boxes and ws.raw_boxes_csv.exists() else None
    own_old_boxes = int(mine(old_boxes).sum()) if old_boxes is not None and len(old_boxes) else 0
    del old_boxes  # replace_rows reads the table again; two copies of a large one need not live at once
    if not replace:
        if own_old and not len(new_cat):
            raise ImportWouldEmptyError(
                f"import {source}: this import brings no products and would remove all {len(own_old)} products of "
                f"the last {source} import; nothing was changed — check the input, or pass --replace to remove them")
        if own_old_boxes and not len(new_boxes) and not len(new_cat):
            raise ImportWouldEmptyError(
                f"import {source}: this import brings no boxes and would remove all {own_old_boxes} boxes of the "
                f"last {source} import; nothing was changed — check the input, or pass --replace to remove them")

    marker = pending_marker(ws, source)
    atomic_write_json(marker, {"source": source})                                   # 1
    old_fitb, fitb_readable = _read_fitb(ws)
    kept_fitb = [q for q in old_fitb if q.get("source") != source]
    if len(kept_fitb) != len(old_fitb) or not fitb_readable:
        atomic_write_json(ws.fitb_json, kept_fitb, indent=JSON_INDENT)              # 2
    new_ids = set(new_cat["product_id"])
    going = own_old - new_ids
    if writes_boxes and len(new_cat):                                               # 3: old ∪ new products
        replace_rows(ws.catalogue_csv, CATALOGUE_COLUMNS, new_cat,
                     drop=lambda old: (old["source"] == source) & old["product_id"].isin(new_ids))
    if writes_boxes:                                                                # 4
        replace_rows(ws.raw_boxes_csv, RAW_BOX_COLUMNS, new_boxes,
                     drop=mine)
    if going or (not writes_boxes and len(new_cat)):
        # 5; an unchanged catalogue is not rewritten (its file stamp keys caches)
        replace_rows(ws.catalogue_csv, CATALOGUE_COLUMNS, new_cat, drop=lambda old: old["source"] == source)
    if fitb:                                                                        # 6
        atomic_write_json(ws.fitb_json, kept_fitb + list(fitb), indent=JSON_INDENT)
    if source in SPLIT_FILE:
        path = ws.data_dir / SPLIT_FILE[source]
        if splits and any(splits.values()):
            atomic_write_json(path, {"source": source, **splits}, indent=JSON_INDENT)
        elif path.exists():
            path.unlink()


def finish(ws: Workspace, report: ImportReport, catalogue_rows: list[dict] | None = None,
           box_rows: list[dict] | pd.DataFrame | None = None, fitb: list[dict] | None = None,
           splits: dict[str, list[str]] | None = None, replace: bool = False) -> ImportReport:
    """``replace_source`` with the import's rows, then write ``data/import_<source>_report.json`` (step 7).

    ``replace``: allow an import that removes every product (or box) of its source (``--replace``).
    """
    if report.source in interrupted_imports(ws):
        report.notes.append(f"the previous {report.source} import was interrupted; this one replaces its rows")
    try:
        replace_source(ws, report.source, catalogue_rows, box_rows, fitb, splits, replace=replace)
    except ImportWouldEmptyError as e:
        raise ImportWouldEmptyError(f"{e} ({report.rows_read} rows read, {report.rows_skipped} skipped)") from None
    report.seconds = round(time.perf_counter() - report._started, 1)
    atomic_write_json(ws.data_dir / f"import_{report.source}_report.json", report.to_dict(), indent=JSON_INDENT)
    pending_marker(ws, report.source).unlink(missing_ok=True)
    return report
