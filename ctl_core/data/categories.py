"""The 21 CTL categories, their serving shares, and the complementary-category table (one place)."""
from __future__ import annotations

import re
from collections.abc import Sequence

# The paper's 13 largest categories first, then eight of ours.
CATEGORIES: tuple[str, ...] = (
    "Shoes", "Handbags", "Shirts & Tops", "Pants", "Coats & Jackets", "Dresses", "Jewelry", "Hats",
    "Skirts", "Sunglasses", "Shorts", "Scarves & Shawls", "Watches",
    "Belts", "Boots", "Sweaters", "Swimwear", "Jumpsuits", "Socks & Tights", "Gloves", "Ties",
)
NUM_CATEGORIES = len(CATEGORIES)
CATEGORY_INDEX: dict[str, int] = {c: i for i, c in enumerate(CATEGORIES)}

# Approximate catalogue shares (Shoes and Handbags largest, as in the paper's Pinterest catalogue).
CATEGORY_SHARES: dict[str, float] = {
    "Shoes": 0.16, "Handbags": 0.13, "Shirts & Tops": 0.10, "Pants": 0.07, "Coats & Jackets": 0.07,
    "Dresses": 0.06, "Jewelry": 0.06, "Hats": 0.04, "Skirts": 0.04, "Sunglasses": 0.04, "Shorts": 0.03,
    "Scarves & Shawls": 0.03, "Watches": 0.03, "Belts": 0.02, "Boots": 0.03, "Sweaters": 0.03,
    "Swimwear": 0.015, "Jumpsuits": 0.015, "Socks & Tights": 0.01, "Gloves": 0.01, "Ties": 0.01,
}

# Slots: categories in one slot substitute for each other, so an outfit holds at most one of a slot
# and a query is never completed with its own slot.
SLOTS: dict[str, str] = {
    "Shirts & Tops": "top", "Sweaters": "layer", "Pants": "bottom", "Skirts": "bottom", "Shorts": "bottom",
    "Dresses": "onepiece", "Jumpsuits": "onepiece", "Swimwear": "onepiece", "Coats & Jackets": "outer",
    "Shoes": "footwear", "Boots": "footwear", "Handbags": "bag", "Jewelry": "jewelry", "Hats": "hat",
    "Sunglasses": "eyewear", "Scarves & Shawls": "scarf", "Watches": "watch", "Belts": "belt",
    "Socks & Tights": "legwear", "Gloves": "gloves", "Ties": "tie",
}
# A one-piece replaces top and bottom: these slot pairs never appear together.
EXCLUSIVE_SLOTS: frozenset[frozenset[str]] = frozenset({
    frozenset({"onepiece", "top"}), frozenset({"onepiece", "bottom"}),
})
# Order in which complementary categories are served (core garments first, then shoes, bags, accessories).
SERVING_PRIORITY: tuple[str, ...] = (
    "Shirts & Tops", "Pants", "Skirts", "Dresses", "Shoes", "Handbags", "Coats & Jackets", "Jewelry",
    "Shorts", "Sweaters", "Jumpsuits", "Boots", "Sunglasses", "Hats", "Watches", "Belts",
    "Scarves & Shawls", "Socks & Tights", "Gloves", "Ties", "Swimwear",
)


def slots_compatible(a: str, b: str) -> bool:
    """True when categories ``a`` and ``b`` can be worn together (different, non-exclusive slots)."""
    sa, sb = SLOTS[a], SLOTS[b]
    return sa != sb and frozenset({sa, sb}) not in EXCLUSIVE_SLOTS


def complementary_categories(category: str) -> list[str]:
    """Categories that complete an outfit around ``category``, in serving order; never ``category`` itself."""
    if category not in CATEGORY_INDEX:
        raise ValueError(f"unknown category {category!r}; expected one of {', '.join(CATEGORIES)}")
    return [c for c in SERVING_PRIORITY if c != category and slots_compatible(category, c)]


def outfit_complements(categories: Sequence[str]) -> list[str]:
    """Categories that complete a partial outfit of ``categories``: those complementary to every one of them (so no
    slot the outfit already fills, and nothing exclusive with it), in serving order."""
    if not categories:
        raise ValueError("an outfit needs at least one category")
    out = complementary_categories(categories[0])
    for c in categories[1:]:
        keep = set(complementary_categories(c))
        out = [x for x in out if x in keep]
    return out


def slug(category: str) -> str:
    """File-name-safe form of a category ("Shirts & Tops" -> "shirts-tops")."""
    return re.sub(r"[^a-z0-9]+", "-", category.lower()).strip("-")


assert set(CATEGORY_SHARES) == set(CATEGORIES) == set(SLOTS) == set(SERVING_PRIORITY)
assert abs(sum(CATEGORY_SHARES.values()) - 1.0) < 1e-6
