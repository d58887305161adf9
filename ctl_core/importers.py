"""Importers: bring a real source into the workspace tables (catalogue.csv, raw_boxes.csv, fitb.json).

Bad input never crashes an import and never disappears silently: malformed rows, missing or unreadable images,
boxes outside the image, unknown labels and duplicates are skipped and counted by reason in an ``ImportReport``
(with up to 5 example messages per reason). Only a source that cannot be read at all (no such folder, no
metadata file, a CSV without the required columns) raises ``ImportDataError``, whose message says what is wrong.

Every import replaces the rows of its own source and keeps the rows of the others:
  * catalogue.csv rows are owned through the ``source`` column ("ctl-tsv" writes none, "polyvore", "folder");
  * raw_boxes.csv rows through the outfit id prefix ("ctl-" for the CTL release, "pv-" for Polyvore);
  * fitb.json questions through their ``source`` field;
  * the source's own split through ``data/<name>_splits.json`` (honoured by ``dataset.build_dataset``).
Images are never copied: paths inside the workspace are stored relative to it, others absolute.
Run ``dataset.build_dataset`` afterwards to turn the raw boxes into items.csv.

Item ids in imported FITB questions follow ``dataset``'s rule: ``f"{outfit_id}-{k}"`` with ``k`` the box's
position among its outfit's rows in raw_boxes.csv, so questions can name items before cleanup runs;
``dataset.fitb_questions`` keeps the questions whose items all survived cleanup.
"""
from __future__ import annotations

import csv as csv_module
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd

from ctl_core.categories import CATEGORIES
from ctl_core.config import Workspace
from ctl_core.images import ImageError, load_image
from ctl_core.progress import Progress
from ctl_core.schema import CATALOGUE_COLUMNS, RAW_BOX_COLUMNS, read_catalogue, read_raw_boxes, write_table


SOURCE_CTL, SOURCE_POLYVORE, SOURCE_FOLDER = "ctl-tsv", "polyvore", "folder"
OUTFIT_PREFIX = {SOURCE_CTL: "ctl-", SOURCE_POLYVORE: "pv-"}
SPLIT_FILE = {SOURCE_CTL: "ctl_splits.json", SOURCE_POLYVORE: "polyvore_splits.json"}
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
MAX_EXAMPLES = 5
BOX_TOLERANCE = 0.01   # normalised boxes may overshoot [0, 1] by this much (then they are clipped)

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


def _has(text: str, *words: str) -> bool:
    return any(re.search(rf"\b{w}", text) for w in words)


def polyvore_category(semantic: str, title: str) -> str | None:
    """Map a Polyvore Outfits semantic category (+ title keywords) onto CATEGORIES; None = not ours."""
    s, t = str(semantic).strip().lower(), str(title).lower()
    if s == "tops":
        return "Sweaters" if _has(t, "sweater", "cardigan", "jumper", "pullover", "knit") else "Shirts & Tops"
    if s == "bottoms":
        if _has(t, "skirt"):
            return "Skirts"
        if _has(t, "shorts"):
            return "Shorts"
        if _has(t, "tights", "stocking", "sock"):
            return "Socks & Tights"
        return "Pants"
    if s == "shoes":
        return "Boots" if _has(t, "boot") else "Shoes"
    if s == "bags":
        return "Handbags"
    if s in ("jewellery", "jewelry"):
        return "Jewelry"
    if s == "outerwear":
        return "Coats & Jackets"
    if s == "all-body":
        if _has(t, "jumpsuit", "romper", "playsuit", "overall"):
            return "Jumpsuits"
        if _has(t, "swim", "bikini"):
            return "Swimwear"
        return "Dresses"
    if s == "sunglasses":
        return "Sunglasses"
    if s == "hats":
        return "Hats"
    if s == "scarves":
        return "Scarves & Shawls"
    if s == "accessories":
        for words, cat in ((("belt",), "Belts"), (("watch",), "Watches"), (("sunglass",), "Sunglasses"),
                           (("hat", "cap", "beanie", "beret", "fedora"), "Hats"), (("scarf", "scarves", "shawl"),
                                                                                  "Scarves & Shawls"),
                           (("glove", "mitten"), "Gloves"), (("tie", "bow tie", "necktie"), "Ties"),
                           (("sock", "tights"), "Socks & Tights"),
                           (("necklace", "earring", "bracelet", "ring", "brooch"), "Jewelry")):
            if _has(t, *words):
                return cat
        return None
    return match_category(s)


# ------------------------------------------------------------------------------------------ shared helpers

class _ImageChecker:
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


def _stored_path(ws: Workspace, path: Path) -> str:
    """Relative to the workspace root when inside it, else absolute (posix)."""
    p = Path(path).expanduser().resolve()
    try:
        return p.relative_to(ws.root).as_posix()
    except ValueError:
        return p.as_posix()


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def _existing_catalogue(ws: Workspace) -> pd.DataFrame:
    if ws.catalogue_csv.exists():
        return read_catalogue(ws.catalogue_csv)
    return pd.DataFrame(columns=CATALOGUE_COLUMNS)


def _other_product_ids(ws: Workspace, source: str) -> set[str]:
    cat = _existing_catalogue(ws)
    return set(cat.loc[cat["source"] != source, "product_id"])


def _replace_source(ws: Workspace, source: str, catalogue_rows: list[dict] | None, box_rows: list[dict] | None,
                    fitb: list[dict] | None, splits: dict[str, list[str]] | None) -> None:
    """Write this source's rows in place of its old ones, keeping every other source's rows."""
    ws.ensure()
    cat = _existing_catalogue(ws)
    own_old = set(cat.loc[cat["source"] == source, "product_id"])
    new_cat = pd.DataFrame(catalogue_rows or [], columns=CATALOGUE_COLUMNS)
    if own_old or len(new_cat):
        merged = pd.concat([cat[cat["source"] != source], new_cat], ignore_index=True)
        write_table(merged, ws.catalogue_csv, CATALOGUE_COLUMNS)

    if box_rows is not None or source in OUTFIT_PREFIX:
        raw = read_raw_boxes(ws.raw_boxes_csv) if ws.raw_boxes_csv.exists() else pd.DataFrame(
            columns=RAW_BOX_COLUMNS)
        prefix = OUTFIT_PREFIX.get(source)
        mine = raw["product_id"].isin(own_old) & (raw["product_id"] != "")
        if prefix:
            mine |= raw["outfit_id"].str.startswith(prefix)
        new_boxes = pd.DataFrame(box_rows or [], columns=RAW_BOX_COLUMNS)
        if mine.any() or len(new_boxes) or ws.raw_boxes_csv.exists():
            write_table(pd.concat([raw[~mine], new_boxes], ignore_index=True), ws.raw_boxes_csv, RAW_BOX_COLUMNS)

    if ws.fitb_json.exists() or fitb:
        try:
            old = json.loads(ws.fitb_json.read_text()) if ws.fitb_json.exists() else []
        except (OSError, json.JSONDecodeError):
            old = []
        kept = [q for q in old if isinstance(q, dict) and q.get("source") != source]
        _write_json(ws.fitb_json, kept + list(fitb or []))

    if source in SPLIT_FILE:
        path = ws.data_dir / SPLIT_FILE[source]
        if splits and any(splits.values()):
            _write_json(path, {"source": source, **splits})
        elif path.exists():
            path.unlink()


def _finish(ws: Workspace, report: ImportReport) -> ImportReport:
    _write_json(ws.data_dir / f"import_{report.source}_report.json", report.to_dict())
    return report


# ------------------------------------------------------------------------------------------ CTL release TSV

_HEADER_FIRST = {"image_signature", "signature", "sig", "image_signature_anchor"}
_SIG_RE = re.compile(r"[0-9A-Za-z_.-]+")


def _split_ctl_line(line: str) -> list[str]:
    """Fields of one TSV line: tab-separated rows, or whitespace-separated (label last, may hold spaces)."""
    line = line.rstrip("\r\n")
    if "\t" in line:
        parts = [p.strip() for p in line.split("\t")]
        while parts and parts[-1] == "":
            parts.pop()
        return parts
    return line.split(None, 5)


def _find_collage(images: Path, sig: str) -> Path | None:
    """``{sig}.jpg`` (or another extension) in ``images``, or the release's nested URL layout
    ``[400x/]{s[0:2]}/{s[2:4]}/{s[4:6]}/{s}.jpg``."""
    nested = Path(sig[0:2], sig[2:4], sig[4:6])
    for folder in (images, images / "400x" / nested, images / nested):
        for ext in (".jpg", ".jpeg", ".png", ".webp"):
            p = folder / f"{sig}{ext}"
            if p.is_file():
                return p
    return None


def _box_key(sig: str, x: float, y: float, w: float, h: float) -> tuple:
    return (sig, round(x, 4), round(y, 4), round(w, 4), round(h, 4))


def import_ctl_tsv(ws: Workspace, tsv: str | Path | Sequence[str | Path], images: str | Path,
                   fitb: str | Path | None = None, progress: Progress | None = None) -> ImportReport:
    """Import the released CTL dataset (github.com/eileenforwhat/complete-the-look-dataset).

    ``tsv``: one or more of ``raw_train.tsv`` / ``raw_test.tsv`` (rows ``image_signature, bounding_x, bounding_y,
    bounding_width, bounding_height, label``, boxes normalised, origin top-left). The release's header line is
    space-separated while its rows are tab-separated; both, and files without a header, are read. A file whose
    name contains "test" (or "train") gives its outfits that split (``data/ctl_splits.json``).
    ``images``: folder of collages named ``{signature}.jpg``, flat or nested like the release's URLs.
    One signature = one collage = one outfit, ``outfit_id = "ctl-" + signature``.

    ``fitb``: the release's ``fitb_eval.json``: ``[{"question": [entry...], "answers": [4 entries]}]`` with the
    correct answer first. An entry is a box dict ``{"signature", "x", "y", "w", "h", "label"}`` (values as
    strings); it is matched to the imported box of that signature with the same coordinates (to 1e-4), else to
    the only box of that signature with that label. A string entry ``"<signature>_<i>"`` (or ``-<i>``) names the
    i-th row (0-based, as read) of that signature. Matched questions go to ``ws.fitb_json`` (correct = 0), keeping
    the raw entries as compact strings under ``"raw"``; questions with an unmatched entry are counted and skipped.
    """
    images = Path(images)
    if not images.is_dir():
        raise ImportDataError(f"{images}: image folder not found")
    paths = [Path(tsv)] if isinstance(tsv, (str, Path)) else [Path(p) for p in tsv]
    for p in paths:
        if not p.is_file():
            raise ImportDataError(f"{p}: TSV file not found")
    report = ImportReport(SOURCE_CTL)
    checker = _ImageChecker()
    collage_of: dict[str, Path | None] = {}
    seen: set[tuple] = set()
    rows: list[dict] = []
    per_outfit: dict[str, int] = {}
    by_box: dict[tuple, str] = {}
    by_label: dict[tuple[str, str], list[str]] = {}
    by_position: dict[tuple[str, int], str] = {}
    positions: dict[str, int] = {}
    splits: dict[str, list[str]] = {"train": [], "test": []}

    for path in paths:
        name = path.name.lower()
        file_split = "test" if "test" in name else "train" if "train" in name else None
        file_outfits: set[str] = set()
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise ImportDataError(f"{path}: cannot read ({e})") from None
        lines = text.splitlines()
        for n, line in enumerate(lines, start=1):
            if progress and n % 5000 == 0:
                progress(f"import {path.name}", n, len(lines))
            if not line.strip():
                continue
            parts = _split_ctl_line(line)
            if parts and parts[0].strip().lower() in _HEADER_FIRST:
                continue
            report.rows_read += 1
            where = f"{path.name}:{n}"
            if len(parts) != 6:
                report.skip(MALFORMED, f"{where}: expected 6 fields, got {len(parts)}")
                continue
            sig, label = parts[0].strip(), parts[5].strip()
            if not _SIG_RE.fullmatch(sig):
                report.skip(MALFORMED, f"{where}: bad image signature {sig[:40]!r}")
                continue
            pos = positions.get(sig, 0)
            positions[sig] = pos + 1
            try:
                x, y, w, h = (float(v) for v in parts[1:5])
            except ValueError:
                report.skip(MALFORMED, f"{where}: box values {parts[1:5]} are not numbers")
                continue
            if not all(math.isfinite(v) for v in (x, y, w, h)):
                report.skip(MALFORMED, f"{where}: box values {parts[1:5]} are not finite")
                continue
            category = match_category(label)
            if category is None:
                report.skip(UNKNOWN_LABEL, f"{where}: label {label!r} is not one of our categories")
                continue
            t = BOX_TOLERANCE
            if w <= 0 or h <= 0 or x < -t or y < -t or x + w > 1 + t or y + h > 1 + t:
                report.skip(OUTSIDE, f"{where}: box ({x:g}, {y:g}, {w:g}, {h:g}) is outside the unit square")
                continue
            key = _box_key(sig, x, y, w, h)
            if key + (category,) in seen:
                report.skip(DUPLICATE, f"{where}: same signature, box and label as an earlier row")
                continue
            if sig not in collage_of:
                collage_of[sig] = _find_collage(images, sig)
            collage = collage_of[sig]
            if collage is None:
                report.skip(MISSING_IMAGE, f"{where}: no image for signature {sig} under {images}")
                continue
            problem = checker.problem(collage)
            if problem:
                report.skip(problem[0], f"{where}: {problem[1]}")
                continue
            seen.add(key + (category,))
            x0, y0 = max(0.0, x), max(0.0, y)
            w, h = min(1.0, x + w) - x0, min(1.0, y + h) - y0
            oid = OUTFIT_PREFIX[SOURCE_CTL] + sig
            k = per_outfit.get(oid, 0)
            per_outfit[oid] = k + 1
            item_id = f"{oid}-{k}"
            by_box.setdefault(key, item_id)
            by_label.setdefault((sig, category), []).append(item_id)
            by_position[(sig, pos)] = item_id
            rows.append({"outfit_id": oid, "image_path": _stored_path(ws, collage), "x": x0, "y": y0, "w": w,
                         "h": h, "label": category, "product_id": ""})
            if file_split and oid not in file_outfits:
                file_outfits.add(oid)
                splits[file_split].append(oid)
    report.imported = len(rows)
    report.outfits = len(per_outfit)

    questions: list[dict] = []
    if fitb is not None:
        questions = _ctl_fitb(Path(fitb), report, by_box, by_label, by_position)
    _replace_source(ws, SOURCE_CTL, None, rows, questions, splits)
    return _finish(ws, report)


def _ctl_entry(entry, by_box, by_label, by_position) -> tuple[str | None, str]:
    """(our item id or None, a compact raw string) for one FITB entry of the CTL release."""
    if isinstance(entry, str):
        m = re.fullmatch(r"(.+)[_-](\d+)", entry.strip())
        return (by_position.get((m.group(1), int(m.group(2)))) if m else None), entry
    if not isinstance(entry, dict):
        return None, repr(entry)[:80]
    sig = str(entry.get("signature", entry.get("image_signature", ""))).strip()
    label = str(entry.get("label", ""))
    raw = f"{sig}:{entry.get('x')},{entry.get('y')},{entry.get('w')},{entry.get('h')}:{label}"
    try:
        key = _box_key(sig, *(float(entry[c]) for c in ("x", "y", "w", "h")))
        if key in by_box:
            return by_box[key], raw
    except (KeyError, TypeError, ValueError):
        pass
    cat = match_category(label)
    cands = by_label.get((sig, cat), []) if cat else []
    return (cands[0] if len(cands) == 1 else None), raw


def _ctl_fitb(path: Path, report: ImportReport, by_box, by_label, by_position) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        report.skip(FITB_MALFORMED, f"{path}: not readable JSON ({e})")
        return []
    if not isinstance(data, list):
        report.skip(FITB_MALFORMED, f"{path}: expected a list of questions")
        return []
    out = []
    for n, q in enumerate(data):
        report.fitb_read += 1
        if not isinstance(q, dict) or not isinstance(q.get("question"), list) or not isinstance(
                q.get("answers"), list) or not q["question"] or len(q["answers"]) < 2:
            report.skip(FITB_MALFORMED, f"question {n}: needs a 'question' list and an 'answers' list")
            continue
        qs = [_ctl_entry(e, by_box, by_label, by_position) for e in q["question"]]
        ans = [_ctl_entry(e, by_box, by_label, by_position) for e in q["answers"]]
        missing = [raw for item, raw in qs + ans if item is None]
        if missing:
            report.skip(FITB_UNMATCHED, f"question {n}: {len(missing)} entries not among the imported boxes, "
                                        f"e.g. {missing[0]}")
            continue
        out.append({"question": [i for i, _ in qs], "answers": [i for i, _ in ans], "correct": 0,
                    "source": SOURCE_CTL, "raw": {"question": [r for _, r in qs], "answers": [r for _, r in ans]}})
    report.fitb_imported = len(out)
    return out


# ------------------------------------------------------------------------------------------ Polyvore Outfits

def _load_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ImportDataError(f"{path}: not readable JSON ({e})") from None


def import_polyvore(ws: Workspace, root: str | Path, variant: str = "nondisjoint",
                    progress: Progress | None = None) -> ImportReport:
    """Import a Polyvore Outfits folder (Vasileva et al. 2018).

    Reads ``polyvore_item_metadata.json``, ``{variant}/{train,valid,test}.json`` (outfits: ``set_id`` and
    ``items: [{item_id, index}]``), ``{variant}/fill_in_blank_{split}.json`` (or beside the metadata) and
    ``images/<item_id>.jpg``. Each item becomes a catalogue product (``product_id = item_id``, source
    "polyvore", a product shot); each outfit item becomes a whole-image raw box (0, 0, 1, 1) with that
    product_id, in outfit ``"pv-" + set_id``. The source split goes to ``data/polyvore_splits.json``.

    FITB questions (``question``: ["<set_id>_<index>", ...], ``answers``: [...]) are mapped to our item ids
    (``items.csv``'s item_id; its product_id is the Polyvore item_id). The correct answer is the one from the
    question's outfit; it is moved first (``correct = 0``), the raw strings are kept under ``"raw"``.
    """
    if variant not in ("nondisjoint", "disjoint"):
        raise ImportDataError(f"variant must be 'nondisjoint' or 'disjoint', got {variant!r}")
    root = Path(root)
    meta_path = root / "polyvore_item_metadata.json"
    if not meta_path.is_file():
        raise ImportDataError(f"{root}: no polyvore_item_metadata.json here; is this a Polyvore Outfits folder?")
    meta = _load_json(meta_path)
    if not isinstance(meta, dict):
        raise ImportDataError(f"{meta_path}: expected an object of item_id -> metadata")
    split_files = {s: root / variant / f"{s}.json" for s in ("train", "valid", "test")}
    if not any(p.is_file() for p in split_files.values()):
        raise ImportDataError(f"{root / variant}: none of train.json, valid.json, test.json found")

    report = ImportReport(SOURCE_POLYVORE)
    other_ids = _other_product_ids(ws, SOURCE_POLYVORE)
    checker = _ImageChecker()
    resolved: dict[str, tuple[str, str] | dict] = {}   # item_id -> catalogue row, or (reason, message)
    catalogue_rows: list[dict] = []
    rows: list[dict] = []
    ref_to_item: dict[tuple[str, str], str] = {}
    splits: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    seen_sets: set[str] = set()

    def resolve(item_id: str):
        if item_id not in resolved:
            m = meta.get(item_id)
            if not isinstance(m, dict):
                resolved[item_id] = (UNKNOWN_ITEM, f"item {item_id} is not in polyvore_item_metadata.json")
            elif item_id in other_ids:
                resolved[item_id] = (DUPLICATE_ID, f"item {item_id}: product id already used by another source")
            else:
                title = str(m.get("title") or m.get("url_name") or "")
                cat = polyvore_category(m.get("semantic_category", ""), f"{title} {m.get('url_name', '')}")
                image = root / "images" / f"{item_id}.jpg"
                problem = None if cat else (UNKNOWN_LABEL, f"item {item_id}: semantic category "
                                            f"{m.get('semantic_category')!r} / title {title[:40]!r} maps to none")
                problem = problem or checker.problem(image)
                if problem:
                    resolved[item_id] = problem
                else:
                    row = {"product_id": item_id, "category": cat, "price": None, "title": title,
                           "image_path": _stored_path(ws, image), "source": SOURCE_POLYVORE,
                           "is_product_shot": True, "theme": "", "colour": ""}
                    resolved[item_id] = row
                    catalogue_rows.append(row)
        return resolved[item_id]

    for split, path in split_files.items():
        if not path.is_file():
            report.notes.append(f"{path} not found; split {split} skipped")
            continue
        outfits = _load_json(path)
        if not isinstance(outfits, list):
            raise ImportDataError(f"{path}: expected a list of outfits")
        for n, outfit in enumerate(outfits):
            if progress and n % 1000 == 0:
                progress(f"import polyvore {split}", n, len(outfits))
            where = f"{split}.json[{n}]"
            if not isinstance(outfit, dict) or "set_id" not in outfit or not isinstance(outfit.get("items"), list):
                report.rows_read += 1
                report.skip(MALFORMED, f"{where}: an outfit needs 'set_id' and an 'items' list")
                continue
            set_id = str(outfit["set_id"])
            oid = OUTFIT_PREFIX[SOURCE_POLYVORE] + set_id
            if set_id in seen_sets:
                report.rows_read += len(outfit["items"])
                for _ in outfit["items"]:
                    report.skip(DUPLICATE, f"{where}: set_id {set_id} appears twice")
                continue
            seen_sets.add(set_id)
            k = 0
            for j, it in enumerate(outfit["items"]):
                report.rows_read += 1
                if not isinstance(it, dict) or "item_id" not in it:
                    report.skip(MALFORMED, f"{where}.items[{j}]: needs an 'item_id'")
                    continue
                item_id = str(it["item_id"])
                got = resolve(item_id)
                if isinstance(got, tuple):
                    report.skip(got[0], f"{where}: {got[1]}")
                    continue
                rows.append({"outfit_id": oid, "image_path": got["image_path"], "x": 0.0, "y": 0.0, "w": 1.0,
                             "h": 1.0, "label": got["category"], "product_id": item_id})
                ref_to_item[(set_id, str(it.get("index", j + 1)))] = f"{oid}-{k}"
                k += 1
            if k:
                splits[split].append(oid)
    report.imported = len(rows)
    report.outfits = sum(len(v) for v in splits.values())
    report.products = len(catalogue_rows)

    questions: list[dict] = []
    for split in ("train", "valid", "test"):
        for p in (root / variant / f"fill_in_blank_{split}.json", root / f"fill_in_blank_{split}.json"):
            if p.is_file():
                questions += _polyvore_fitb(p, report, ref_to_item)
                break
    report.fitb_imported = len(questions)
    _replace_source(ws, SOURCE_POLYVORE, catalogue_rows, rows, questions, splits)
    return _finish(ws, report)


def _polyvore_fitb(path: Path, report: ImportReport, ref_to_item: dict[tuple[str, str], str]) -> list[dict]:
    try:
        data = _load_json(path)
    except ImportDataError as e:
        report.skip(FITB_MALFORMED, str(e))
        return []
    if not isinstance(data, list):
        report.skip(FITB_MALFORMED, f"{path}: expected a list of questions")
        return []

    def parse(ref) -> tuple[str, str] | None:
        m = re.fullmatch(r"(.+)_(\d+)", str(ref).strip())
        return (m.group(1), m.group(2)) if m else None

    out = []
    for n, q in enumerate(data):
        report.fitb_read += 1
        where = f"{path.name}[{n}]"
        if not isinstance(q, dict) or not isinstance(q.get("question"), list) or not isinstance(
                q.get("answers"), list) or not q["question"] or len(q["answers"]) < 2:
            report.skip(FITB_MALFORMED, f"{where}: needs a 'question' list and an 'answers' list")
            continue
        qrefs, arefs = [parse(r) for r in q["question"]], [parse(r) for r in q["answers"]]
        if any(r is None for r in qrefs + arefs):
            report.skip(FITB_MALFORMED, f"{where}: entries must look like '<set_id>_<index>'")
            continue
        qset = qrefs[0][0]
        correct = [i for i, r in enumerate(arefs) if r[0] == qset]
        if len(correct) != 1:
            report.skip(FITB_NO_ANSWER, f"{where}: {len(correct)} answers come from the question's outfit {qset}")
            continue
        order = correct + [i for i in range(len(arefs)) if i != correct[0]]
        arefs = [arefs[i] for i in order]
        raw_answers = [str(q["answers"][i]) for i in order]
        missing = [f"{s}_{i}" for s, i in qrefs + arefs if (s, i) not in ref_to_item]
        if missing:
            report.skip(FITB_UNMATCHED, f"{where}: {len(missing)} entries not imported, e.g. {missing[0]}")
            continue
        out.append({"question": [ref_to_item[r] for r in qrefs], "answers": [ref_to_item[r] for r in arefs],
                    "correct": 0, "source": SOURCE_POLYVORE,
                    "raw": {"question": [str(r) for r in q["question"]], "answers": raw_answers,
                            "blank_position": q.get("blank_position")}})
    return out


# ------------------------------------------------------------------------------------------ plain folder

_ID_ALIASES = ("id", "product_id", "item_id", "sku")
_CATEGORY_ALIASES = ("category", "label", "type")
_IMAGE_ALIASES = ("image", "image_path", "path", "file", "filename")
_TITLE_ALIASES = ("title", "name", "description")


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
    other_ids = _other_product_ids(ws, SOURCE_FOLDER)
    checker = _ImageChecker()
    images, others = _image_files(folder)
    rows: list[dict] = []
    ids: set[str] = set()

    def add(pid: str, category: str, price: float | None, title: str, image: Path, where: str) -> None:
        if pid in ids or pid in other_ids:
            report.skip(DUPLICATE_ID, f"{where}: id {pid!r} is already used"
                                      + ("" if pid in ids else " by another source"))
            return
        problem = checker.problem(image)
        if problem:
            report.skip(problem[0], f"{where}: {problem[1]}")
            return
        ids.add(pid)
        rows.append({"product_id": pid, "category": category, "price": price, "title": title,
                     "image_path": _stored_path(ws, image), "source": SOURCE_FOLDER, "is_product_shot": None,
                     "theme": "", "colour": ""})

    if csv is None:
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
            add(_safe_id(rel.with_suffix("").as_posix()), category, None, title, p, str(rel))
    else:
        csv = Path(csv)
        if not csv.is_file():
            raise ImportDataError(f"{csv}: CSV file not found")
        by_stem: dict[str, Path] = {}
        for p in images:
            by_stem.setdefault(p.stem, p)
        try:
            with open(csv, newline="", encoding="utf-8-sig", errors="replace") as f:
                reader = csv_module.reader(f)
                header = [h.strip().lower() for h in next(reader, [])]
                table = list(reader)
        except (OSError, csv_module.Error) as e:
            raise ImportDataError(f"{csv}: cannot read as CSV ({e})") from None

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
            add(pid, category, price, title, image, where)
    report.imported = report.products = len(rows)
    _replace_source(ws, SOURCE_FOLDER, rows, None, None, None)
    return _finish(ws, report)
