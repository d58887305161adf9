"""Outfit composition: which products each outfit wears (distinct, slot-compatible categories, mostly of its
theme plus some basics) and which defect it carries (a fixed quota per kind; a monochrome outfit is planned
from one colour, a few-categories outfit has two items; the box defects are made in ``collage``).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from ctl_core.data.categories import CATEGORIES, slots_compatible
from ctl_core.data.universe.config import UniverseConfig
from ctl_core.data.universe.products import SOLID_ONLY, Product
from ctl_core.data.universe.themes import COLOURS, THEMES, Theme
from ctl_core.images import srgb_to_lab

DEFECT_KINDS: tuple[str, ...] = ("overlap", "tiny", "duplicate", "monochrome", "few_categories")
_DEFECT_P = (0.08, 0.08, 0.08, 0.06, 0.06)                 # share of outfits per kind, in DEFECT_KINDS order
_SIZE_P = {3: .14, 4: .22, 5: .25, 6: .19, 7: .12, 8: .08}  # items per outfit -> weight


@dataclass
class Outfit:
    """One planned outfit: its theme, the defect it carries ("none" for a clean one) and its products."""

    oid: str
    theme: str
    defect: str
    products: list[Product]


def _pick(cands: list[Product], rng: np.random.Generator) -> Product:
    w = np.array([p.popularity for p in cands])
    return cands[int(rng.choice(len(cands), p=w / w.sum()))]


_GARMENTS = ("Shirts & Tops", "Pants", "Skirts", "Shorts", "Dresses", "Jumpsuits", "Swimwear")


def _compose(theme: Theme, n: int, by_theme: dict, basics: dict, by_category: dict,
             rng: np.random.Generator) -> list[Product]:
    """Up to ``n`` products of distinct, slot-compatible categories for ``theme`` (mostly its own, some basics).

    When the theme's own products and basics cannot fill three categories (only in tiny universes), the
    outfit borrows products of other themes.
    """
    chosen: list[Product] = []
    cats: list[str] = []
    own_cats = [c for c in CATEGORIES if by_theme.get((theme.name, c)) or basics.get((theme.name, c))]
    borrow = False
    while len(chosen) < n:
        available = list(by_category) if borrow else own_cats
        fits = [c for c in available if c not in cats and all(slots_compatible(c, o) for o in cats)]
        pool = [c for c in fits if c in _GARMENTS] if not cats else fits
        pool = pool or fits
        w = np.array([theme.category_weight(c) for c in pool]) + (1e-3 if borrow else 0.0)
        if not pool or w.sum() <= 0:
            if borrow or len(chosen) >= min(n, 3):
                break
            borrow = True
            continue
        have = set(cats)
        for i, c in enumerate(pool):
            if c in ("Shoes", "Boots") and not have & {"Shoes", "Boots"}:
                w[i] *= 4
            if c in ("Pants", "Skirts", "Shorts") and have & {"Shirts & Tops", "Sweaters"}:
                w[i] *= 6
            if c == "Shirts & Tops" and have & {"Pants", "Skirts", "Shorts"}:
                w[i] *= 6
        cat = pool[int(rng.choice(len(pool), p=w / w.sum()))]
        own, bas = by_theme.get((theme.name, cat), []), basics.get((theme.name, cat), [])
        if not own and not bas:
            own = by_category[cat]
        use_basic = bool(bas) and (not own or rng.random() < 0.22)
        chosen.append(_pick(bas if use_basic else own, rng))
        cats.append(cat)
    return chosen


def _colourful(items: list[Product], min_delta_e: float = 30.0) -> bool:
    """True when two items differ clearly in colour (so image-based monochrome cleanup keeps the outfit)."""
    labs = srgb_to_lab(np.array([COLOURS[p.colour] for p in items], np.uint8).reshape(-1, 3))
    return any(np.linalg.norm(a - b) > min_delta_e for a, b in combinations(labs, 2))


def _monochrome(colour_pool: dict, rng: np.random.Generator, n: int) -> list[Product]:
    """Up to ``n`` plain products of one colour in compatible categories (a defect outfit), or [] if impossible."""
    # Plain garments only: a watch, a jewel or sunglasses show mostly metal or lens, not their named colour.
    colour_pool = {c: [p for p in ps if p.pattern in ("solid", "denim") and p.category not in SOLID_ONLY]
                   for c, ps in colour_pool.items()}
    colours = sorted(c for c, ps in colour_pool.items() if len({p.category for p in ps}) >= 3)
    order = [colours[int(i)] for i in rng.permutation(len(colours))]
    if "black" in order and rng.random() < 0.5:
        order.remove("black")
        order.insert(0, "black")
    for colour in order:
        cands = colour_pool[colour]
        chosen: list[Product] = []
        for i in rng.permutation(len(cands)):
            p = cands[int(i)]
            if all(p.category != q.category and slots_compatible(p.category, q.category) for q in chosen):
                chosen.append(p)
            if len(chosen) == n:
                break
        if len(chosen) >= 3:
            return chosen
    return []


def _defect_plan(size: int, rng: np.random.Generator) -> list[str]:
    """Which defect each outfit carries: a fixed quota per kind (at least one each from 10 outfits up)."""
    kinds = ["none"] * size
    if size < 10:
        return kinds
    order = rng.permutation(size)
    pos = 0
    for kind, share in zip(DEFECT_KINDS, _DEFECT_P):
        n = max(1, int(round(share * size)))
        for idx in order[pos:pos + n]:
            kinds[int(idx)] = kind
        pos += n
    return kinds


def plan_outfits(cfg: UniverseConfig, products: list[Product], rng: np.random.Generator) -> list[Outfit]:
    by_theme: dict[tuple[str, str], list[Product]] = {}
    basics: dict[tuple[str, str], list[Product]] = {}
    by_category: dict[str, list[Product]] = {}
    colour_pool: dict[str, list[Product]] = {}
    for p in products:
        target = basics if p.theme == "basic" else by_theme
        for t in p.fits:
            target.setdefault((t, p.category), []).append(p)
        by_category.setdefault(p.category, []).append(p)
        colour_pool.setdefault(p.colour, []).append(p)
    theme_names = list(THEMES)
    sizes, size_p = list(_SIZE_P), np.array(list(_SIZE_P.values()))
    defects = _defect_plan(cfg.size, rng)
    outfits = []
    for k in range(cfg.size):
        theme = THEMES[theme_names[int(rng.integers(len(theme_names)))]]
        defect = defects[k]
        n = int(sizes[int(rng.choice(len(sizes), p=size_p / size_p.sum()))])
        items: list[Product] = []
        if defect == "monochrome":
            items = _monochrome(colour_pool, rng, max(n, 3))
            if not items:
                defect = "none"
        if defect == "few_categories":
            items = _compose(theme, 2, by_theme, basics, by_category, rng)
        elif not items:
            for _ in range(8):   # a clean outfit is never all one colour
                items = _compose(theme, n, by_theme, basics, by_category, rng)
                if _colourful(items) and len(items) >= 3:
                    break
        outfits.append(Outfit(f"o{k:05d}", theme.name, defect, items))
    return outfits

