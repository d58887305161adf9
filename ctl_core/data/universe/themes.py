"""Colours and style themes of the demo universe: named colours, metals, price tiers, the twelve themes and
the theme pairs that clash.

A theme decides what its items look like (palette, patterns, cut via ``formality``), what they cost
(``price_tier``) and which categories it wears (``category_weight``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ctl_core.data.categories import CATEGORY_SHARES

RGB = tuple[int, int, int]

# ----------------------------------------------------------------------------------------------- colours
COLOURS: dict[str, RGB] = {
    "white": (248, 248, 246), "cream": (238, 228, 204), "black": (28, 28, 32), "charcoal": (62, 64, 70),
    "grey": (150, 152, 158), "navy": (26, 40, 88), "sky blue": (130, 188, 232), "light blue": (172, 202, 236),
    "red": (204, 32, 46), "burgundy": (118, 22, 48), "pink": (242, 150, 182), "blush": (240, 196, 194),
    "rose": (212, 88, 122), "lavender": (178, 158, 222), "mint": (160, 224, 196), "kelly green": (28, 150, 72),
    "forest green": (28, 82, 50), "olive": (112, 116, 48), "emerald": (8, 132, 92), "turquoise": (36, 190, 192),
    "coral": (250, 118, 92), "yellow": (250, 212, 48), "mustard": (214, 164, 34), "orange": (246, 118, 20),
    "terracotta": (196, 96, 60), "rust": (168, 68, 34), "camel": (196, 150, 96), "beige": (222, 206, 178),
    "tan": (188, 148, 104), "brown": (108, 68, 40), "neon green": (120, 240, 40), "neon pink": (255, 58, 168),
    "electric blue": (30, 82, 240), "gold": (214, 176, 58), "silver": (190, 192, 202), "denim": (58, 94, 150),
}
METALS: dict[str, RGB] = {"gold": (218, 178, 62), "silver": (196, 198, 208)}

PRICE_TIERS: tuple[str, ...] = ("budget", "mid", "premium", "luxury")


def colour_rgb(name: str) -> np.ndarray:
    """The RGB of a named colour as a float32 array."""
    return np.array(COLOURS[name], dtype=np.float32)


# ------------------------------------------------------------------------------------------------ themes
@dataclass(frozen=True)
class Theme:
    """A style: what its items look like (palette, patterns, cut) and cost, and which categories it wears."""

    name: str
    palette: tuple[str, ...]                       # colour names (keys of COLOURS), most typical first
    patterns: tuple[str, ...]                      # pattern names drawn inside the silhouette
    pattern_weights: tuple[float, ...]
    formality: float                               # 0 = very casual .. 1 = evening / business formal
    season: str                                    # summer | winter | spring | autumn | all | evening
    price_tier: int                                # index into PRICE_TIERS
    metal: str = "gold"                            # jewellery / hardware metal
    category_boost: tuple[tuple[str, float], ...] = field(default=())  # multiplies CATEGORY_SHARES

    def category_weight(self, category: str) -> float:
        """How often this theme wears ``category`` (0 = never)."""
        return CATEGORY_SHARES[category] * dict(self.category_boost).get(category, 1.0)


def _theme(name: str, palette: str, patterns: dict[str, float], formality: float, season: str, tier: int,
           metal: str, boost: dict[str, float]) -> Theme:
    pal = tuple(p.strip() for p in palette.split(","))
    assert all(c in COLOURS for c in pal), f"unknown colour in palette of {name}: {pal}"
    return Theme(name, pal, tuple(patterns), tuple(patterns.values()), formality, season, tier, metal,
                 tuple(boost.items()))


THEMES: dict[str, Theme] = {t.name: t for t in (
    _theme("nautical", "navy, white, red, sky blue, cream", {"stripes": .55, "solid": .3, "dots": .15}, .45,
           "summer", 2, "gold", {"Shirts & Tops": 1.5, "Shorts": 2, "Skirts": 1.3, "Hats": 1.5, "Swimwear": 2,
                                 "Sunglasses": 1.5, "Boots": .3, "Gloves": 0, "Ties": .3, "Coats & Jackets": .6}),
    _theme("boho", "terracotta, mustard, olive, cream, rust, turquoise",
           {"florals": .35, "aztec": .3, "solid": .35}, .2, "summer", 1, "gold",
           {"Dresses": 2, "Skirts": 2, "Jewelry": 2, "Scarves & Shawls": 1.5, "Hats": 1.5, "Boots": 1.2,
            "Ties": 0, "Gloves": 0, "Watches": .5, "Jumpsuits": 1.5}),
    _theme("minimalist", "white, black, grey, beige, camel, charcoal", {"solid": .85, "pinstripes": .15}, .6,
           "all", 3, "silver", {"Coats & Jackets": 1.5, "Pants": 1.3, "Watches": 1.5, "Handbags": 1.3,
                                "Jewelry": .6, "Hats": .5, "Swimwear": .3}),
    _theme("streetwear", "black, neon green, orange, grey, white, red",
           {"camo": .3, "colourblock": .3, "solid": .4}, .05, "all", 1, "silver",
           {"Shoes": 1.5, "Hats": 2, "Pants": 1.3, "Coats & Jackets": 1.3, "Sunglasses": 1.2, "Ties": 0,
            "Skirts": .3, "Dresses": .2, "Gloves": .2, "Swimwear": .1, "Jewelry": .6}),
    _theme("preppy", "navy, white, kelly green, burgundy, pink, yellow",
           {"plaid": .3, "stripes": .2, "checks": .2, "argyle": .15, "solid": .15}, .6, "spring", 2, "gold",
           {"Sweaters": 2, "Skirts": 1.5, "Ties": 1.5, "Belts": 1.5, "Shorts": 1.2, "Swimwear": .3}),
    _theme("edgy", "black, charcoal, burgundy, silver, red", {"leopard": .3, "zebra": .2, "solid": .5}, .3,
           "autumn", 2, "silver", {"Boots": 3, "Coats & Jackets": 1.5, "Jewelry": 1.5, "Sunglasses": 1.5,
                                   "Belts": 1.5, "Swimwear": .2, "Ties": .5, "Gloves": .8}),
    _theme("romantic", "blush, lavender, cream, rose, white, mint", {"florals": .45, "dots": .25, "solid": .3},
           .5, "spring", 2, "gold", {"Dresses": 2.5, "Skirts": 1.8, "Jewelry": 1.5, "Handbags": 1.2, "Ties": 0,
                                     "Boots": .5, "Gloves": .3}),
    _theme("business", "navy, charcoal, grey, white, black, light blue",
           {"solid": .6, "pinstripes": .25, "checks": .15}, .95, "all", 3, "silver",
           {"Ties": 5, "Watches": 2.5, "Coats & Jackets": 1.8, "Pants": 1.8, "Shirts & Tops": 1.5,
            "Handbags": 1.3, "Swimwear": 0, "Shorts": 0, "Sunglasses": .3, "Hats": .3, "Jumpsuits": .5}),
    _theme("beach", "turquoise, coral, yellow, white, sky blue",
           {"tropical": .35, "stripes": .2, "dots": .15, "solid": .3}, .05, "summer", 0, "gold",
           {"Swimwear": 8, "Shorts": 3, "Sunglasses": 3, "Hats": 2.5, "Dresses": 1.2, "Coats & Jackets": 0,
            "Boots": 0, "Sweaters": 0, "Gloves": 0, "Ties": 0, "Socks & Tights": 0, "Scarves & Shawls": .3,
            "Watches": .5, "Pants": .3, "Jumpsuits": .7, "Belts": .5}),
    _theme("winter", "burgundy, forest green, cream, grey, camel, red",
           {"fairisle": .35, "plaid": .2, "knit": .2, "solid": .25}, .4, "winter", 2, "silver",
           {"Coats & Jackets": 3, "Boots": 3, "Sweaters": 4, "Scarves & Shawls": 4, "Gloves": 6, "Hats": 2,
            "Socks & Tights": 2, "Swimwear": 0, "Shorts": 0, "Sunglasses": .2, "Skirts": .5, "Dresses": .4,
            "Shoes": .4}),
    _theme("athleisure", "black, white, neon pink, electric blue, grey",
           {"colourblock": .35, "stripes": .15, "solid": .5}, .05, "all", 1, "silver",
           {"Shoes": 2, "Pants": 1.5, "Shirts & Tops": 1.5, "Watches": 1.5, "Socks & Tights": 2, "Hats": 1.3,
            "Ties": 0, "Dresses": .2, "Skirts": .3, "Jewelry": .3, "Gloves": .3, "Belts": .2,
            "Scarves & Shawls": .2}),
    _theme("glam", "gold, black, silver, red, emerald", {"sequins": .45, "solid": .4, "leopard": .15}, 1.0,
           "evening", 3, "gold", {"Dresses": 3, "Jewelry": 3, "Handbags": 1.5, "Shoes": 1.5, "Watches": 1.5,
                                  "Jumpsuits": 1.5, "Ties": .8, "Sunglasses": .5, "Shorts": .1, "Swimwear": .3,
                                  "Socks & Tights": .8, "Gloves": .8, "Hats": .3, "Boots": .7}),
)}

# Pairs of themes that clearly do not go together (for "clearly incompatible" gold pairs in human evaluation).
CLASHING_THEMES: tuple[tuple[str, str], ...] = (
    ("beach", "winter"), ("beach", "business"), ("athleisure", "glam"), ("business", "streetwear"),
    ("edgy", "romantic"), ("boho", "minimalist"), ("beach", "glam"), ("nautical", "winter"),
    ("athleisure", "business"), ("romantic", "streetwear"),
)
assert all(a in THEMES and b in THEMES for a, b in CLASHING_THEMES)
