"""Importer of the released Complete-the-Look dataset: its TSV box rows, collage images and FITB questions.

One signature = one collage = one outfit ``"ctl-" + signature``; every valid row becomes a raw box (no catalogue
products). A TSV file whose name says "test" or "train" gives its outfits that split (``data/ctl_splits.json``).
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from ctl_core.config import Workspace
from ctl_core.data.importers.common import (
    DUPLICATE,
    FITB_MALFORMED,
    FITB_UNMATCHED,
    MALFORMED,
    MAX_ID_LEN,
    MISSING_IMAGE,
    OUTFIT_PREFIX,
    OUTSIDE,
    SOURCE_CTL,
    UNKNOWN_LABEL,
    ImageChecker,
    ImportDataError,
    ImportReport,
    finish,
    fitb_shape_ok,
    is_file,
    load_fitb_list,
    match_category,
    read_text_utf8,
    stored_path,
)
from ctl_core.progress import Progress

BOX_TOLERANCE = 0.01   # normalised boxes may overshoot [0, 1] by this much (then they are clipped)

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
            if is_file(p):
                return p
    return None


def _box_key(sig: str, x: float, y: float, w: float, h: float) -> tuple:
    return (sig, round(x, 4), round(y, 4), round(w, 4), round(h, 4))


def _parse_box(parts: list[str], where: str, report: ImportReport) -> tuple[float, float, float, float, str] | None:
    """``(x, y, w, h, category)`` of a row's box and label, or None after counting why the row is skipped."""
    try:
        x, y, w, h = (float(v) for v in parts[1:5])
    except ValueError:
        report.skip(MALFORMED, f"{where}: box values {parts[1:5]} are not numbers")
        return None
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        report.skip(MALFORMED, f"{where}: box values {parts[1:5]} are not finite")
        return None
    label = parts[5].strip()
    category = match_category(label)
    if category is None:
        report.skip(UNKNOWN_LABEL, f"{where}: label {label!r} is not one of our categories")
        return None
    t = BOX_TOLERANCE
    if w <= 0 or h <= 0 or x < -t or y < -t or x + w > 1 + t or y + h > 1 + t:
        report.skip(OUTSIDE, f"{where}: box ({x:g}, {y:g}, {w:g}, {h:g}) is outside the unit square")
        return None
    return x, y, w, h, category


class _Boxes:
    """The imported raw-box rows, with the indexes that FITB entries are matched against.

    Item ids follow ``dataset``'s rule: ``f"{outfit_id}-{k}"``, ``k`` the box's position among its outfit's rows.
    """

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.per_outfit: dict[str, int] = {}
        self.by_box: dict[tuple, str] = {}
        self.by_label: dict[tuple[str, str], list[str]] = {}
        self.by_position: dict[tuple[str, int], str] = {}

    def add(self, row: dict, sig: str, pos: int, key: tuple) -> None:
        oid = row["outfit_id"]
        k = self.per_outfit.get(oid, 0)
        self.per_outfit[oid] = k + 1
        item_id = f"{oid}-{k}"
        self.by_box.setdefault(key, item_id)
        self.by_label.setdefault((sig, row["label"]), []).append(item_id)
        self.by_position[(sig, pos)] = item_id
        self.rows.append(row)

    def entry(self, entry) -> tuple[str | None, str]:
        """(our item id or None, a compact raw string) for one FITB entry of the CTL release."""
        if isinstance(entry, str):
            m = re.fullmatch(r"(.+)[_-](\d+)", entry.strip())
            return (self.by_position.get((m.group(1), int(m.group(2)))) if m else None), entry
        if not isinstance(entry, dict):
            return None, repr(entry)[:80]
        sig = str(entry.get("signature", entry.get("image_signature", ""))).strip()
        label = str(entry.get("label", ""))
        raw = f"{sig}:{entry.get('x')},{entry.get('y')},{entry.get('w')},{entry.get('h')}:{label}"
        try:
            key = _box_key(sig, *(float(entry[c]) for c in ("x", "y", "w", "h")))
            if key in self.by_box:
                return self.by_box[key], raw
        except (KeyError, TypeError, ValueError):
            pass
        cat = match_category(label)
        cands = self.by_label.get((sig, cat), []) if cat else []
        return (cands[0] if len(cands) == 1 else None), raw


def import_ctl_tsv(ws: Workspace, tsv: str | Path | Sequence[str | Path], images: str | Path,
                   fitb: str | Path | None = None, progress: Progress | None = None,
                   replace: bool = False) -> ImportReport:
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

    TSV files must be UTF-8 (others are refused, naming the encoding); a collage that resolves outside ``images``
    (a symlink pointing out) is skipped as "image outside the imported folder". ``replace``: allow an import that
    removes every box of the previous CTL import (``--replace``).
    """
    images = Path(images)
    if not images.is_dir():
        raise ImportDataError(f"{images}: image folder not found")
    paths = [Path(tsv)] if isinstance(tsv, (str, Path)) else [Path(p) for p in tsv]
    for p in paths:
        if not p.is_file():
            raise ImportDataError(f"{p}: TSV file not found")
    report = ImportReport(SOURCE_CTL)
    checker = ImageChecker(roots=[images])
    collage_of: dict[str, Path | None] = {}
    seen: set[tuple] = set()
    boxes = _Boxes()
    positions: dict[str, int] = {}
    splits: dict[str, list[str]] = {"train": [], "test": []}

    for path in paths:
        name = path.name.lower()
        file_split = "test" if "test" in name else "train" if "train" in name else None
        file_outfits: set[str] = set()
        lines = read_text_utf8(path, "TSV file").splitlines()
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
            sig = parts[0].strip()
            if not _SIG_RE.fullmatch(sig) or len(sig) > MAX_ID_LEN:
                report.skip(MALFORMED, f"{where}: bad image signature {sig[:40]!r}")
                continue
            pos = positions.get(sig, 0)    # the row's position among its signature's rows, skipped ones too
            positions[sig] = pos + 1
            box = _parse_box(parts, where, report)
            if box is None:
                continue
            x, y, w, h, category = box
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
            if not checker.check(collage, report, where):
                continue
            seen.add(key + (category,))
            x0, y0 = max(0.0, x), max(0.0, y)
            oid = OUTFIT_PREFIX[SOURCE_CTL] + sig
            boxes.add({"outfit_id": oid, "image_path": stored_path(ws, collage), "x": x0, "y": y0,
                       "w": min(1.0, x + w) - x0, "h": min(1.0, y + h) - y0, "label": category, "product_id": ""},
                      sig, pos, key)
            if file_split and oid not in file_outfits:
                file_outfits.add(oid)
                splits[file_split].append(oid)
    report.imported = len(boxes.rows)
    report.outfits = len(boxes.per_outfit)

    questions = _ctl_fitb(Path(fitb), report, boxes) if fitb is not None else []
    return finish(ws, report, box_rows=boxes.rows, fitb=questions, splits=splits, replace=replace)


def _ctl_fitb(path: Path, report: ImportReport, boxes: _Boxes) -> list[dict]:
    data = load_fitb_list(path, report)
    if data is None:
        return []
    out = []
    for n, q in enumerate(data):
        report.fitb_read += 1
        if not fitb_shape_ok(q):
            report.skip(FITB_MALFORMED, f"question {n}: needs a 'question' list and an 'answers' list")
            continue
        qs = [boxes.entry(e) for e in q["question"]]
        ans = [boxes.entry(e) for e in q["answers"]]
        missing = [raw for item, raw in qs + ans if item is None]
        if missing:
            report.skip(FITB_UNMATCHED, f"question {n}: {len(missing)} entries not among the imported boxes, "
                                        f"e.g. {missing[0]}")
            continue
        out.append({"question": [i for i, _ in qs], "answers": [i for i, _ in ans], "correct": 0,
                    "source": SOURCE_CTL, "raw": {"question": [r for _, r in qs], "answers": [r for _, r in ans]}})
    report.fitb_imported = len(out)
    return out
