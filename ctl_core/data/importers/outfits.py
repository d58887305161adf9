"""Importer of outfit tables: the Mango fashion-compatibility datathon layout, or a plain products + outfits pair.

Two layouts under one folder ``DIR`` (nothing outside ``DIR`` is read):

* **Mango datathon** — ``DIR/datathon/dataset/product_data.csv`` (``cod_modelo_color``, the family/type columns,
  colour names, ``des_fabric``, ``des_filename`` relative to ``DIR``) and ``.../outfit_data.csv``
  (``cod_outfit``, ``cod_modelo_color``). ``DIR`` may also be the ``datathon`` folder itself.
* **Plain** — ``DIR/products.csv`` (``product_id``; ``category`` *or* a free-text ``type``; ``image`` path relative
  to ``DIR``; optional ``title``, ``price``, ``colour``, ``group_id``) and ``DIR/outfits.csv`` (``outfit_id``,
  ``product_id``, one row per outfit item).

Every mapped product becomes a catalogue row (source "outfits", a product shot) whether or not an outfit uses it;
every outfit item a whole-image raw box (0, 0, 1, 1) with that product id, in outfit ``"of-" + outfit_id``.
Product ids are kept verbatim. Categories come from the type (then the family, then the category column) through
``type_category``; products whose type maps to none of our 21 (fragrance, home, intimate wear...) are skipped and
listed in the report's notes. Colour variants of one model share a ``group_id`` (Mango: the part of
``cod_modelo_color`` before the dash). Mango has no titles: one is made from colour + type ("Off-white trousers").
"""
from __future__ import annotations

import csv as csv_module
import io
import math
import re
from array import array
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ctl_core.config import Workspace
from ctl_core.data.importers.common import (
    BAD_ID,
    DUPLICATE,
    DUPLICATE_ID,
    MALFORMED,
    OUTFIT_PREFIX,
    SOURCE_OUTFITS,
    UNKNOWN_ITEM,
    UNKNOWN_LABEL,
    ImageChecker,
    ImportDataError,
    ImportReport,
    finish,
    id_problem,
    is_file,
    iter_csv_utf8,
    match_category,
    normalise_id,
    other_product_ids,
    read_text_utf8,
    stored_path,
)
from ctl_core.data.tables import RAW_BOX_COLUMNS
from ctl_core.progress import Progress

# Skip reason of this importer (the report's keys; common.py owns the shared ones).
PRODUCT_NOT_IMPORTED = "outfit item: product skipped"
# Most outfit rows one import takes (the file is streamed; memory measured in the README's security section).
MAX_OUTFIT_ROWS = 10_000_000

MANGO_DIR = Path("datathon") / "dataset"

# Free-text product types (Mango's des_product_type / des_product_family and common English words) -> category.
# None: a real type that is not one of our 21 categories (reported, never guessed).
_TYPES: dict[str, str | None] = {
    # footwear
    "ankle boots": "Boots", "boots": "Boots", "booties": "Boots", "wellies": "Boots",
    "sandals": "Shoes", "shoes": "Shoes", "trainers": "Shoes", "sneakers": "Shoes", "clogs": "Shoes",
    "slippers": "Shoes", "footwear": "Shoes", "mules": "Shoes", "espadrilles": "Shoes",
    # bags and small leather goods
    "backpack": "Handbags", "belt bag": "Handbags", "bucket bag": "Handbags", "citybag": "Handbags",
    "clutch and pochettes": "Handbags", "crossbody bag": "Handbags", "handbag": "Handbags", "mini bag": "Handbags",
    "shoulder bag": "Handbags", "totes bag": "Handbags", "bags": "Handbags", "purse": "Handbags",
    "wallet": None, "card holder": None, "case": None, "cosmetic bag": None, "wallets & cases": None,
    "glasses case": None,
    # tops and knitwear
    "blouse": "Shirts & Tops", "shirt": "Shirts & Tops", "t-shirt": "Shirts & Tops", "top": "Shirts & Tops",
    "tops": "Shirts & Tops", "bodysuit": "Shirts & Tops", "poloshirt": "Shirts & Tops",
    "sweater": "Sweaters", "sweater vest": "Sweaters", "cardigan": "Sweaters", "cardigan vest": "Sweaters",
    "sweatshirt": "Sweaters", "hoodie": "Sweaters",
    # bottoms
    "trousers": "Pants", "jeans": "Pants", "leggings": "Pants", "joggers": "Pants",
    "leggings and joggers": "Pants", "skirt": "Skirts", "skort": "Skirts", "shorts": "Shorts", "bermudas": "Shorts",
    # one-pieces
    "dress": "Dresses", "pichi": "Dresses", "jumpsuit": "Jumpsuits", "overall": "Jumpsuits",
    "bikini pantie": "Swimwear", "bikini top": "Swimwear", "swimsuit": "Swimwear", "swimwear": "Swimwear",
    # outerwear
    "blazer": "Coats & Jackets", "coat": "Coats & Jackets", "cape": "Coats & Jackets", "jacket": "Coats & Jackets",
    "jacket (cazadora)": "Coats & Jackets", "kaftan": "Coats & Jackets", "overshirt": "Coats & Jackets",
    "poncho": "Coats & Jackets", "leather jacket": "Coats & Jackets", "outer vest": "Coats & Jackets",
    "parka": "Coats & Jackets", "puffer coat": "Coats & Jackets", "trenchcoat": "Coats & Jackets",
    "vest": "Coats & Jackets", "gilet": "Coats & Jackets",
    # accessories
    "belt": "Belts", "braces": "Belts", "tie": "Ties", "bow tie": "Ties",
    "bracelet": "Jewelry", "earrings": "Jewelry", "necklace": "Jewelry", "ring": "Jewelry", "hairclip": "Jewelry",
    "brooch": "Jewelry", "jewellery": "Jewelry",
    "beanie": "Hats", "cap": "Hats", "hat": "Hats", "turban": "Hats", "hairband": "Hats", "headband": "Hats",
    "foulard": "Scarves & Shawls", "kerchief": "Scarves & Shawls", "scarf": "Scarves & Shawls",
    "gloves": "Gloves", "glasses": "Sunglasses", "sunglasses": "Sunglasses", "watch": "Watches",
    "socks": "Socks & Tights", "sock (pack)": "Socks & Tights", "tights": "Socks & Tights",
    # not ours: intimate and night wear, beauty, home, gadgets
    "bras": None, "knicker": None, "shape": None, "nightgown": None, "dressing gown (bata)": None, "pyjama": None,
    "pyjama cardigan": None, "pyjama shirt": None, "pyjama shorts": None, "pyjama sweatshirt": None,
    "pyjama t-shirt": None, "pyjama top": None, "pyjama trousers": None, "pyjiama sweater": None,
    "bodymist": None, "fragance": None, "fragrance": None, "umbrella": None, "keyring": None, "gadget": None,
    "beach towel": None,
    # another shop's article types (fashion-product-images styles.csv) that the words above miss
    "backpacks": "Handbags", "bangle": "Jewelry", "flip flops": "Shoes", "pendant": "Jewelry",
    "stoles": "Scarves & Shawls", "sweatshirts": "Sweaters",
}
# Whole families that are never ours (Mango's des_product_family), whatever the type says.
_NOT_OURS_FAMILIES = {"intimate", "fragances", "fragrances", "gadgets", "bedding", "deco textiles",
                      "deco accessories", "glassware", "home", "beauty"}

# Mango colour names (des_color_specification_esp) in English, for titles and the colour column.
_COLOURS_ES = {
    "negro": "black", "crudo": "ecru", "offwhite": "off-white", "oro": "gold", "blanco": "white", "beige": "beige",
    "verde": "green", "marron": "brown", "azul": "blue", "khaki": "khaki", "rojo": "red", "plata": "silver",
    "navy": "navy", "camel": "camel", "gris": "grey", "rosa": "pink", "arena": "sand", "naranja": "orange",
    "tejano medio": "mid denim", "piedra": "stone", "tejano negro": "black denim", "celeste": "sky blue",
    "mostaza": "mustard", "fucsia": "fuchsia", "chocolate": "chocolate", "gris medio vigore": "mid grey marl",
    "tejano oscuro": "dark denim", "cuero": "leather brown", "rosa pastel": "pastel pink",
    "gris claro vigore": "light grey marl", "antracita": "charcoal", "tejano claro": "light denim",
    "granate": "maroon", "terracota": "terracotta", "caldero": "brick red", "topo": "taupe", "morado": "purple",
    "amarillo": "yellow", "nude": "nude", "caramelo": "caramel", "botella": "bottle green", "burdeos": "burgundy",
    "amarillo pastel": "pastel yellow", "turquesa": "turquoise", "malva": "mauve", "marino": "navy",
    "vison": "mink", "verde pastel": "pastel green", "gris oscuro vigore": "dark grey marl", "coral": "coral",
    "tabaco": "tobacco", "perla": "pearl grey", "vino": "wine", "agua": "aqua", "azul noche": "midnight blue",
    "lima": "lime", "rosa palo": "blush pink", "oliva": "olive", "peach": "peach", "ocre": "ochre",
    "vainilla": "vanilla", "tejano gris oscuro": "dark grey denim", "marfil": "ivory", "lila": "lilac",
    "dirty": "washed denim", "cognac": "cognac", "fresa": "strawberry", "rosa light": "light pink", "hielo": "ice",
    "chicle": "bubblegum pink", "cobre": "copper", "misterio": "dark brown", "bleach": "bleached denim",
    "petroleo": "petrol blue", "taupe": "taupe", "cereza": "cherry", "coffee": "coffee", "tejano gris": "grey denim",
    "mandarina": "tangerine", "amarillo fluor": "neon yellow", "tejano soft": "soft denim", "menta": "mint",
    "blueblack": "blue-black", "tinta": "ink blue", "naranja pastel": "pastel orange", "salmon": "salmon",
    "dirty oscuro": "dark washed denim", "caza": "hunter green", "electrico": "electric blue",
    "esmeralda": "emerald", "dirty claro": "light washed denim", "canela": "cinnamon", "indigo": "indigo",
    "gunmetal": "gunmetal", "porcelana": "porcelain blue", "musgo": "moss green", "manzana": "apple green",
    "violeta": "violet", "curry": "curry", "billar": "billiard green", "pimenton": "paprika",
    "bermellon": "vermilion", "rosa fluor": "neon pink", "geranio": "geranium", "ceniza": "ash grey",
    "ciruela": "plum", "asfalto": "asphalt grey", "blood": "blood red", "prusia": "prussian blue",
    "tejano gris claro": "light grey denim",
}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", str(text).strip().lower())


def type_category(*labels: str) -> tuple[str | None, bool]:
    """``(category, known)`` for the most specific of ``labels`` (type first, then family, then category).

    ``known`` is True when a label is a type we know is not ours (``category`` None: e.g. pyjamas, fragrance);
    a label nobody knows gives ``(None, False)``. Our category names and their synonyms (``match_category``)
    are accepted too, and as a last resort the label's last word ("Crossbody bag" -> "bag" -> Handbags).
    """
    norm = [_norm(x) for x in labels if _norm(x)]
    if norm and norm[0] in _TYPES:         # a known type wins over its family (Mango files socks under Intimate)
        return _TYPES[norm[0]], True
    if any(n in _NOT_OURS_FAMILIES for n in norm):
        return None, True
    for n in norm:
        if n in _TYPES:
            return _TYPES[n], True
        cat = match_category(n)
        if cat:
            return cat, True
    for n in norm:
        words = re.findall(r"[a-z-]+", n)
        for w in reversed(words):
            if w in _TYPES:
                return _TYPES[w], True
            cat = match_category(w)
            if cat:
                return cat, True
    return None, False


def colour_name(spec: str, group: str = "") -> str:
    """A readable English colour name from a shop's colour label (Mango's Spanish names translated)."""
    n = _norm(spec)
    return _COLOURS_ES.get(n, n) if n else _norm(group)


def make_title(colour: str, product_type: str) -> str:
    """"Off-white trousers" from a colour and a type ("" parts are left out)."""
    text = " ".join(p for p in (colour.strip(), _norm(product_type)) if p)
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class _Layout:
    """Which layout a folder holds and where its files are."""

    name: str
    products: Path
    outfits: Path
    root: Path           # image paths are relative to this folder (Mango: the one holding datathon/)
    folder: Path         # the folder the user named: no image outside it is read


def _layout(folder: Path) -> _Layout:
    """The layout found in ``folder``, or ``ImportDataError`` naming the files it looked for."""
    for root in (folder, folder.parent if folder.name == "datathon" else None):
        if root is not None and (root / MANGO_DIR / "product_data.csv").is_file():
            return _Layout("mango", root / MANGO_DIR / "product_data.csv", root / MANGO_DIR / "outfit_data.csv",
                           root, folder)
    if (folder / "products.csv").is_file():
        return _Layout("plain", folder / "products.csv", folder / "outfits.csv", folder, folder)
    raise ImportDataError(f"{folder}: found neither datathon/dataset/product_data.csv (the Mango datathon layout) "
                          "nor products.csv + outfits.csv (the plain layout)")


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(lower-cased header, [(line number, fields)]) of a UTF-8 CSV, or ``ImportDataError``."""
    if not is_file(path):
        raise ImportDataError(f"{path}: file not found")
    try:
        reader = csv_module.reader(io.StringIO(read_text_utf8(path, "CSV file"), newline=""))
        header = [h.strip().lower() for h in next(reader, [])]
        rows = [(reader.line_num, r) for r in reader if any(v.strip() for v in r)]
    except csv_module.Error as e:
        raise ImportDataError(f"{path}: cannot read as CSV ({e})") from None
    return header, rows


def _columns(path: Path, header: list[str], wanted: dict[str, tuple[str, ...]],
             required: tuple[str, ...]) -> dict[str, int | None]:
    """Index of each wanted column (first alias found), checking the required ones are there."""
    idx = {k: next((header.index(a) for a in aliases if a in header), None) for k, aliases in wanted.items()}
    missing = [k for k in required if idx[k] is None]
    if missing:
        raise ImportDataError(f"{path}: needs the column(s) {', '.join(missing)}; found {', '.join(header)}")
    return idx


_MANGO_PRODUCT_COLUMNS = {
    "id": ("cod_modelo_color",), "type": ("des_product_type",), "family": ("des_product_family",),
    "category": ("des_product_category",), "image": ("des_filename",), "colour": ("des_color_specification_esp",),
    "colour_group": ("des_agrup_color_eng",), "fabric": ("des_fabric",), "title": (), "price": (),
    "group_id": (),
}
_PLAIN_PRODUCT_COLUMNS = {
    "id": ("product_id", "id"), "type": ("type", "product_type"), "family": ("family",),
    "category": ("category", "label"), "image": ("image", "image_path", "path", "file", "filename"),
    "colour": ("colour", "color"), "colour_group": (), "fabric": ("fabric", "material"),
    "title": ("title", "name"), "price": ("price",), "group_id": ("group_id", "group", "model"),
}
_OUTFIT_COLUMNS = {"mango": {"outfit": ("cod_outfit",), "product": ("cod_modelo_color",)},
                   "plain": {"outfit": ("outfit_id", "outfit"), "product": ("product_id", "id")}}


def _products(ws: Workspace, lay: _Layout, report: ImportReport,
              progress: Progress | None) -> tuple[dict[str, dict], set[str]]:
    """(catalogue rows by product id, every product id the file names); bad rows counted in ``report``,
    unmapped types listed in its notes."""
    header, table = _read_csv(lay.products)
    wanted = _MANGO_PRODUCT_COLUMNS if lay.name == "mango" else _PLAIN_PRODUCT_COLUMNS
    col = _columns(lay.products, header, wanted, ("id", "image"))
    if all(col[k] is None for k in ("type", "family", "category")):
        raise ImportDataError(f"{lay.products}: needs a 'category' or a 'type' column; found {', '.join(header)}")
    other_ids = other_product_ids(ws, SOURCE_OUTFITS)
    checker = ImageChecker(roots=[lay.folder])   # an image path leading out of the folder is refused
    unmapped: Counter[str] = Counter()
    out: dict[str, dict] = {}
    named: set[str] = set()

    def get(rec: list[str], key: str) -> str:
        return rec[col[key]].strip() if col[key] is not None else ""

    for n, (line, rec) in enumerate(table):
        if progress and n % 500 == 0:
            progress("import outfits: products", n, len(table))
        report.rows_read += 1
        where = f"{lay.products.name}:{line}"
        if len(rec) != len(header):
            report.skip(MALFORMED, f"{where}: {len(rec)} fields, the header has {len(header)}")
            continue
        pid = normalise_id(get(rec, "id"))
        problem = id_problem(pid)
        if problem:
            report.skip(BAD_ID, f"{where}: {problem}")
            continue
        named.add(pid)
        if pid in out or pid in other_ids:
            report.skip(DUPLICATE_ID, f"{where}: product id {pid!r} is already used"
                                      + ("" if pid in out else " by another source"))
            continue
        ptype, family = get(rec, "type"), get(rec, "family")
        category, _ = type_category(ptype, family, get(rec, "category"))
        if category is None:
            label = ptype or family or get(rec, "category") or "(empty)"
            unmapped[label] += 1
            report.skip(UNKNOWN_LABEL, f"{where}: type {label!r} maps to none of our categories")
            continue
        price = None
        if get(rec, "price"):
            try:
                price = float(get(rec, "price").lstrip("$€£"))
            except ValueError:
                price = float("nan")
            if not math.isfinite(price) or price < 0:
                report.skip(MALFORMED, f"{where}: price {get(rec, 'price')!r} is not a non-negative number")
                continue
        if not get(rec, "image"):
            report.skip(MALFORMED, f"{where}: empty image path")
            continue
        image = lay.root / get(rec, "image")
        if not checker.check(image, report, where):
            continue
        colour = colour_name(get(rec, "colour"), get(rec, "colour_group"))
        group = pid.split("-", 1)[0] if lay.name == "mango" else get(rec, "group_id")
        out[pid] = {"product_id": pid, "category": category, "price": price,
                    "title": get(rec, "title") or make_title(colour, ptype or family or category),
                    "image_path": stored_path(ws, image), "source": SOURCE_OUTFITS, "is_product_shot": True,
                    "theme": "", "colour": colour, "group_id": group, "product_type": ptype or family,
                    "fabric": get(rec, "fabric")}
    if unmapped:
        report.notes.append("types that map to none of our categories (products skipped): "
                            + ", ".join(f"{t} {k}" for t, k in unmapped.most_common()))
    return out, named


def _outfit_rows(lay: _Layout, products: dict[str, dict], named: set[str], report: ImportReport) -> pd.DataFrame:
    """Raw box rows (whole-image items) of every outfit, in file order, as one frame; bad rows counted in ``report``.

    The outfit file is streamed (``iter_csv_utf8``) and each usable row kept as three int32 codes (outfit, product,
    line), so memory grows by about 12 bytes a row plus each distinct outfit id, never by a row's text; duplicates
    (a product twice in one outfit: every occurrence after the first) are found on the codes at the end. A file of
    more than ``MAX_OUTFIT_ROWS`` rows is refused (``ImportDataError``) before it is read further.
    """
    header, table = iter_csv_utf8(lay.outfits)
    col = _columns(lay.outfits, header, _OUTFIT_COLUMNS[lay.name], ("outfit", "product"))
    pids = list(products)
    pcode = {p: i for i, p in enumerate(pids)}
    ocode: dict[str, int] = {}
    ucode: dict[str, int] = {}        # product ids that were not imported: code -1 - k
    outfit_c, product_c, line_c = array("i"), array("i"), array("i")
    for n, (line, rec) in enumerate(table, start=1):
        if n > MAX_OUTFIT_ROWS:
            raise ImportDataError(f"{lay.outfits}: more than {MAX_OUTFIT_ROWS:,} outfit rows, the most one import "
                                  f"takes (its memory is measured in the README); import a table of the outfits you "
                                  f"need (e.g. a sample of them)")
        report.rows_read += 1
        where = f"{lay.outfits.name}:{line}"
        if len(rec) != len(header):
            report.skip(MALFORMED, f"{where}: {len(rec)} fields, the header has {len(header)}")
            continue
        oid, pid = normalise_id(rec[col["outfit"]]), normalise_id(rec[col["product"]])
        problem = id_problem(oid) or id_problem(pid)
        if problem:
            report.skip(BAD_ID, f"{where}: {problem}")
            continue
        pc = pcode.get(pid)
        outfit_c.append(ocode.setdefault(oid, len(ocode)))
        product_c.append(pc if pc is not None else -1 - ucode.setdefault(pid, len(ucode)))
        line_c.append(line)
    o, p = np.frombuffer(outfit_c, dtype=np.intc), np.frombuffer(product_c, dtype=np.intc)
    keys = (o.astype(np.int64) << 32) | (p.astype(np.int64) & 0xFFFFFFFF)
    first = np.zeros(len(keys), dtype=bool)
    first[np.unique(keys, return_index=True)[1]] = True
    oids, unknown = list(ocode), list(ucode)
    for i in np.flatnonzero(~first | (p < 0)):      # in file order, as the rows came
        where, oid = f"{lay.outfits.name}:{line_c[i]}", oids[o[i]]
        pid = pids[p[i]] if p[i] >= 0 else unknown[-1 - p[i]]
        if not first[i]:
            report.skip(DUPLICATE, f"{where}: product {pid} is twice in outfit {oid}")
        elif pid in named:
            report.skip(PRODUCT_NOT_IMPORTED, f"{where}: product {pid} was skipped (see its row in the products "
                                              f"file)")
        else:
            report.skip(UNKNOWN_ITEM, f"{where}: product {pid} is not in the products file")
    kept = first & (p >= 0)
    ko, kp = o[kept], p[kept]
    report.outfits = int(np.unique(ko).size)
    prefix = OUTFIT_PREFIX[SOURCE_OUTFITS]

    def column(values: list[str], codes: np.ndarray) -> pd.Series:
        """One value per row, as references to shared strings (8 bytes a row, the text is not copied)."""
        return pd.Series(np.asarray(values, dtype=object)[codes], dtype=object, copy=False)

    n = len(ko)
    return pd.DataFrame({
        "outfit_id": column([prefix + x for x in oids], ko),
        "image_path": column([products[x]["image_path"] for x in pids], kp),
        "x": np.zeros(n), "y": np.zeros(n), "w": np.ones(n), "h": np.ones(n),
        "label": column([products[x]["category"] for x in pids], kp),
        "product_id": column(pids, kp),
    }, columns=RAW_BOX_COLUMNS)


def import_outfits(ws: Workspace, folder: str | Path, progress: Progress | None = None,
                   replace: bool = False) -> ImportReport:
    """Import an outfit-table folder (Mango datathon layout or products.csv + outfits.csv); see the module doc.

    ``replace``: allow an import that would remove every product of this source (see ``common.finish``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImportDataError(f"{folder}: folder not found")
    lay = _layout(folder)
    report = ImportReport(SOURCE_OUTFITS)
    products, named = _products(ws, lay, report, progress)
    n_product_rows = report.rows_read
    box_rows = _outfit_rows(lay, products, named, report)
    report.products = len(products)
    report.imported = len(products) + len(box_rows)
    report.notes.insert(0, f"layout {lay.name}: {lay.products.name} {n_product_rows} rows -> {len(products)} "
                           f"products; {lay.outfits.name} {report.rows_read - n_product_rows} rows -> "
                           f"{len(box_rows)} outfit items in {report.outfits} outfits")
    groups = Counter(p["group_id"] for p in products.values() if p["group_id"])
    if groups:
        report.notes.append(f"{sum(1 for k in groups.values() if k > 1)} models come in several colours "
                            f"({sum(k for k in groups.values() if k > 1)} products share a group_id)")
    return finish(ws, report, catalogue_rows=list(products.values()), box_rows=box_rows, replace=replace)

