"""Importer of Polyvore Outfits (Vasileva et al. 2018): its items, outfits, splits and FITB questions.

Each item becomes a catalogue product (a product shot); each outfit item a whole-image raw box in outfit
``"pv-" + set_id``. Polyvore's semantic categories (plus title keywords) are mapped by ``polyvore_category``.
"""
from __future__ import annotations

import re
from pathlib import Path

from ctl_core.config import Workspace
from ctl_core.data.importers.common import (
    BAD_ID,
    DUPLICATE,
    DUPLICATE_ID,
    FITB_MALFORMED,
    FITB_NO_ANSWER,
    FITB_UNMATCHED,
    MALFORMED,
    OUTFIT_PREFIX,
    SOURCE_POLYVORE,
    UNKNOWN_ITEM,
    UNKNOWN_LABEL,
    ImageChecker,
    ImportDataError,
    ImportReport,
    finish,
    fitb_shape_ok,
    id_problem,
    load_fitb_list,
    load_json,
    match_category,
    normalise_id,
    other_product_ids,
    stored_path,
)
from ctl_core.progress import Progress

SPLITS = ("train", "valid", "test")


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


def _read_source(root: str | Path, variant: str) -> tuple[Path, dict, dict[str, Path]]:
    """(root, item metadata, split name -> outfit file), or ``ImportDataError`` when the folder is not usable."""
    if variant not in ("nondisjoint", "disjoint"):
        raise ImportDataError(f"variant must be 'nondisjoint' or 'disjoint', got {variant!r}")
    root = Path(root)
    meta_path = root / "polyvore_item_metadata.json"
    if not meta_path.is_file():
        raise ImportDataError(f"{root}: no polyvore_item_metadata.json here; is this a Polyvore Outfits folder?")
    meta = load_json(meta_path, "Polyvore item metadata")
    if not isinstance(meta, dict):
        raise ImportDataError(f"{meta_path}: expected an object of item_id -> metadata")
    split_files = {s: root / variant / f"{s}.json" for s in SPLITS}
    if not any(p.is_file() for p in split_files.values()):
        raise ImportDataError(f"{root / variant}: none of train.json, valid.json, test.json found")
    return root, meta, split_files


class _Items:
    """Polyvore items resolved once each: a catalogue row, or ``(reason, message)`` why the item is skipped."""

    def __init__(self, ws: Workspace, root: Path, meta: dict) -> None:
        self.ws, self.root, self.meta = ws, root, meta
        self.other_ids = other_product_ids(ws, SOURCE_POLYVORE)
        self.checker = ImageChecker(roots=[root / "images"])
        self.resolved: dict[str, tuple[str, str] | dict] = {}
        self.catalogue_rows: list[dict] = []

    def get(self, item_id: str) -> tuple[str, str] | dict:
        if item_id not in self.resolved:
            self.resolved[item_id] = self._resolve(item_id)
        return self.resolved[item_id]

    def _resolve(self, item_id: str) -> tuple[str, str] | dict:
        problem = id_problem(item_id)
        if problem:
            return (BAD_ID, f"item {item_id[:60]!r}: {problem}")
        m = self.meta.get(item_id)
        if not isinstance(m, dict):
            return (UNKNOWN_ITEM, f"item {item_id} is not in polyvore_item_metadata.json")
        if item_id in self.other_ids:
            return (DUPLICATE_ID, f"item {item_id}: product id already used by another source")
        title = str(m.get("title") or m.get("url_name") or "")
        cat = polyvore_category(m.get("semantic_category", ""), f"{title} {m.get('url_name', '')}")
        image = self.root / "images" / f"{item_id}.jpg"
        problem = None if cat else (UNKNOWN_LABEL, f"item {item_id}: semantic category "
                                    f"{m.get('semantic_category')!r} / title {title[:40]!r} maps to none")
        problem = problem or self.checker.problem(image)
        if problem:
            return problem
        row = {"product_id": item_id, "category": cat, "price": None, "title": title,
               "image_path": stored_path(self.ws, image), "source": SOURCE_POLYVORE,
               "is_product_shot": True, "theme": "", "colour": ""}
        self.catalogue_rows.append(row)
        return row


def import_polyvore(ws: Workspace, root: str | Path, variant: str = "nondisjoint",
                    progress: Progress | None = None, replace: bool = False) -> ImportReport:
    """Import a Polyvore Outfits folder (Vasileva et al. 2018).

    Reads ``polyvore_item_metadata.json``, ``{variant}/{train,valid,test}.json`` (outfits: ``set_id`` and
    ``items: [{item_id, index}]``), ``{variant}/fill_in_blank_{split}.json`` (or beside the metadata) and
    ``images/<item_id>.jpg``. Each item becomes a catalogue product (``product_id = item_id``, source
    "polyvore", a product shot); each outfit item becomes a whole-image raw box (0, 0, 1, 1) with that
    product_id, in outfit ``"pv-" + set_id``. The source split goes to ``data/polyvore_splits.json``.

    FITB questions (``question``: ["<set_id>_<index>", ...], ``answers``: [...]) are mapped to our item ids
    (``items.csv``'s item_id; its product_id is the Polyvore item_id). The correct answer is the one from the
    question's outfit; it is moved first (``correct = 0``), the raw strings are kept under ``"raw"``.

    Item ids are NFC-normalised; one that looks like a path (``../../secret/x``) is skipped as "bad id", and an
    image that resolves outside ``images/`` (a symlink pointing out) as "image outside the imported folder".
    ``replace``: allow an import that removes every product of the previous Polyvore import (``--replace``).
    """
    root, meta, split_files = _read_source(root, variant)
    report = ImportReport(SOURCE_POLYVORE)
    items = _Items(ws, root, meta)
    rows: list[dict] = []
    ref_to_item: dict[tuple[str, str], str] = {}
    splits: dict[str, list[str]] = {s: [] for s in SPLITS}
    seen_sets: set[str] = set()

    for split, path in split_files.items():
        if not path.is_file():
            report.notes.append(f"{path} not found; split {split} skipped")
            continue
        outfits = load_json(path, f"Polyvore {split} outfits")
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
                item_id = normalise_id(it["item_id"])
                got = items.get(item_id)
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
    report.products = len(items.catalogue_rows)

    questions: list[dict] = []
    for split in SPLITS:
        for p in (root / variant / f"fill_in_blank_{split}.json", root / f"fill_in_blank_{split}.json"):
            if p.is_file():
                questions += _polyvore_fitb(p, report, ref_to_item)
                break
    report.fitb_imported = len(questions)
    return finish(ws, report, catalogue_rows=items.catalogue_rows, box_rows=rows, fitb=questions, splits=splits,
                  replace=replace)


def _parse_ref(ref) -> tuple[str, str] | None:
    """``"<set_id>_<index>"`` as ``(set_id, index)``, else None."""
    m = re.fullmatch(r"(.+)_(\d+)", str(ref).strip())
    return (m.group(1), m.group(2)) if m else None


def _polyvore_fitb(path: Path, report: ImportReport, ref_to_item: dict[tuple[str, str], str]) -> list[dict]:
    data = load_fitb_list(path, report)
    if data is None:
        return []
    out = []
    for n, q in enumerate(data):
        report.fitb_read += 1
        where = f"{path.name}[{n}]"
        if not fitb_shape_ok(q):
            report.skip(FITB_MALFORMED, f"{where}: needs a 'question' list and an 'answers' list")
            continue
        qrefs, arefs = [_parse_ref(r) for r in q["question"]], [_parse_ref(r) for r in q["answers"]]
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
