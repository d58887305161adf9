"""A deterministic synthetic fashion universe: product shots, scene images, outfits and collage boxes.

Stands in for Pinterest's data so every later stage (cleanup, features, training, serving, human evaluation)
can run end to end on a laptop. Style is made *visible* so a CNN backbone can learn it: each theme sets a
palette, a set of patterns (drawn inside the item's silhouette), shape variants (formality changes the cut)
and a price tier. Themes share colours (navy is nautical, preppy and business) and some products are
versatile basics (blue jeans, white tee, black boots) that appear in outfits of several themes, so no single
cue predicts compatibility.

Outputs (see ``ctl_core.config.Workspace``):
  universe/products/<product_id>.png   product shots (light background, centred item)
  universe/scenes/<product_id>.jpg     catalogue products whose image is NOT a product shot
  universe/collages/<outfit_id>.jpg    polyvore-style outfit collages
  universe/outfits.csv                 ground truth per outfit: theme, injected defect, product ids
  data/catalogue.csv, data/raw_boxes.csv (columns from ``ctl_core.schema``)

Collages carry realistic defects for the cleanup rules (paper sec. 4.3): overlapping boxes, tiny boxes,
duplicate boxes, monochrome outfits and outfits with too few categories (each roughly 5-10% of outfits).
Everything derives from ``numpy.random.Generator`` streams seeded by ``UniverseConfig.seed``: the same seed
gives byte-identical tables and images.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations
from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from ctl_core.categories import CATEGORIES, CATEGORY_SHARES, slots_compatible
from ctl_core.config import Workspace
from ctl_core.schema import CATALOGUE_COLUMNS, RAW_BOX_COLUMNS, read_table, write_table

from ctl_core.progress import Progress  # noqa: E402
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
_TIER_MULT = (0.45, 1.0, 1.9, 4.5)
# Median price (mid tier) per category; luxury bags, watches and jewelry cost far more than the tier alone says.
_BASE_PRICE: dict[str, float] = {
    "Shoes": 80, "Handbags": 120, "Shirts & Tops": 35, "Pants": 55, "Coats & Jackets": 150, "Dresses": 90,
    "Jewelry": 60, "Hats": 30, "Skirts": 45, "Sunglasses": 50, "Shorts": 30, "Scarves & Shawls": 35,
    "Watches": 150, "Belts": 35, "Boots": 130, "Sweaters": 70, "Swimwear": 45, "Jumpsuits": 80,
    "Socks & Tights": 12, "Gloves": 30, "Ties": 40,
}
_LUXURY_EXTRA = {"Handbags": 3.0, "Watches": 3.5, "Jewelry": 3.0, "Coats & Jackets": 1.5, "Shoes": 1.4}
_SOLID_ONLY = {"Jewelry", "Watches", "Sunglasses"}


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

# Shape variants per category, from casual to formal; a theme may name its own (beach -> sandals).
_VARIANTS: dict[str, tuple[str, ...]] = {
    "Shoes": ("sneaker", "sandal", "loafer", "oxford", "pump"),
    "Handbags": ("backpack", "tote", "crossbody", "top_handle", "clutch"),
    "Shirts & Tops": ("hoodie", "tank", "tee", "blouse", "shirt"),
    "Pants": ("joggers", "jeans", "wide", "slim", "straight"),
    "Coats & Jackets": ("bomber", "puffer", "parka", "trench", "blazer", "coat"),
    "Dresses": ("sundress", "aline", "slip", "sheath", "maxi"),
    "Jewelry": ("bracelet", "earrings", "necklace", "ring"),
    "Hats": ("cap", "beanie", "sunhat", "boater", "fedora"),
    "Skirts": ("mini", "aline", "pleated", "maxi", "pencil"),
    "Sunglasses": ("round", "wayfarer", "aviator", "cateye"),
    "Shorts": ("board", "denim", "tailored"),
    "Scarves & Shawls": ("infinity", "long", "shawl"),
    "Watches": ("sport", "round", "square"),
    "Belts": ("casual", "classic", "wide"),
    "Boots": ("combat", "snow", "chelsea", "knee"),
    "Sweaters": ("crew", "cardigan", "vneck", "turtleneck"),
    "Swimwear": ("trunks", "bikini", "onepiece"),
    "Jumpsuits": ("overalls", "wide", "tailored"),
    "Socks & Tights": ("socks", "knee", "tights"),
    "Gloves": ("mittens", "gloves"),
    "Ties": ("skinny", "necktie", "bowtie"),
}
_THEME_VARIANTS: dict[str, dict[str, tuple[str, ...]]] = {
    "Shoes": {"beach": ("sandal",), "streetwear": ("sneaker",), "athleisure": ("sneaker",), "glam": ("pump",),
              "business": ("oxford", "pump"), "romantic": ("pump", "sandal"), "boho": ("sandal",),
              "minimalist": ("loafer", "sneaker"), "preppy": ("loafer", "oxford")},
    "Handbags": {"beach": ("tote",), "glam": ("clutch",), "business": ("top_handle", "tote"),
                 "streetwear": ("backpack", "crossbody"), "athleisure": ("backpack",), "boho": ("crossbody", "tote")},
    "Shirts & Tops": {"beach": ("tank",), "business": ("shirt",), "streetwear": ("hoodie", "tee"),
                      "athleisure": ("tank", "hoodie"), "romantic": ("blouse",), "preppy": ("shirt",),
                      "glam": ("blouse",), "nautical": ("tee", "shirt")},
    "Pants": {"athleisure": ("joggers",), "streetwear": ("joggers", "jeans"), "boho": ("wide",),
              "business": ("straight",), "edgy": ("slim",), "glam": ("wide", "slim")},
    "Coats & Jackets": {"winter": ("puffer", "parka", "coat"), "business": ("blazer", "coat"),
                        "streetwear": ("bomber", "puffer"), "preppy": ("blazer", "trench"),
                        "nautical": ("trench", "blazer"), "edgy": ("bomber",), "athleisure": ("bomber", "puffer"),
                        "minimalist": ("coat", "trench")},
    "Dresses": {"beach": ("sundress",), "boho": ("maxi", "sundress"), "business": ("sheath",),
                "glam": ("maxi", "slip"), "romantic": ("aline", "maxi"), "preppy": ("aline",)},
    "Jewelry": {"glam": ("necklace", "earrings"), "boho": ("bracelet", "necklace", "earrings")},
    "Hats": {"winter": ("beanie",), "beach": ("sunhat",), "streetwear": ("cap",), "athleisure": ("cap",),
             "nautical": ("boater", "cap"), "preppy": ("boater", "cap"), "boho": ("sunhat", "fedora"),
             "business": ("fedora",), "edgy": ("fedora",), "romantic": ("sunhat",)},
    "Skirts": {"business": ("pencil",), "boho": ("maxi",), "preppy": ("pleated",), "edgy": ("mini", "pencil"),
               "romantic": ("aline", "pleated"), "glam": ("pencil", "maxi")},
    "Sunglasses": {"glam": ("cateye",), "edgy": ("aviator",), "boho": ("round",)},
    "Shorts": {"beach": ("board",), "business": ("tailored",), "preppy": ("tailored",)},
    "Scarves & Shawls": {"boho": ("shawl",), "romantic": ("shawl", "long"), "winter": ("long", "infinity")},
    "Watches": {"athleisure": ("sport",), "streetwear": ("sport",), "business": ("round", "square"),
                "minimalist": ("round",), "glam": ("square",)},
    "Belts": {"glam": ("wide",), "boho": ("wide",), "business": ("classic",)},
    "Boots": {"winter": ("snow",), "edgy": ("combat",), "streetwear": ("combat",), "glam": ("knee",),
              "romantic": ("knee",), "boho": ("knee", "chelsea"), "business": ("chelsea",)},
    "Sweaters": {"winter": ("crew", "turtleneck"), "preppy": ("vneck", "cardigan"), "romantic": ("cardigan",),
                 "minimalist": ("turtleneck", "crew"), "business": ("vneck", "turtleneck")},
    "Swimwear": {"glam": ("onepiece",), "nautical": ("onepiece", "bikini")},
    "Jumpsuits": {"boho": ("wide",), "business": ("tailored",), "streetwear": ("overalls",)},
    "Socks & Tights": {"business": ("tights",), "glam": ("tights",), "romantic": ("tights",),
                       "athleisure": ("socks",), "streetwear": ("socks",), "winter": ("knee", "socks")},
    "Gloves": {"winter": ("mittens", "gloves"), "business": ("gloves",), "glam": ("gloves",)},
    "Ties": {"glam": ("bowtie",), "business": ("necktie",), "edgy": ("skinny",), "preppy": ("necktie", "bowtie")},
}
_NOUNS: dict[str, str] = {
    "sneaker": "sneakers", "sandal": "sandals", "loafer": "loafers", "oxford": "oxford shoes", "pump": "pumps",
    "backpack": "backpack", "tote": "tote bag", "crossbody": "crossbody bag", "top_handle": "top-handle bag",
    "clutch": "clutch", "hoodie": "hoodie", "tank": "tank top", "tee": "t-shirt", "blouse": "blouse",
    "shirt": "shirt", "joggers": "joggers", "jeans": "jeans", "wide": "wide-leg trousers", "slim": "slim trousers",
    "straight": "trousers", "bomber": "bomber jacket", "puffer": "puffer jacket", "parka": "parka",
    "trench": "trench coat", "blazer": "blazer", "coat": "wool coat", "sundress": "sundress",
    "aline": "a-line dress", "slip": "slip dress", "sheath": "sheath dress", "maxi": "maxi dress",
    "bracelet": "bracelet", "earrings": "earrings", "necklace": "necklace", "ring": "ring", "cap": "cap",
    "beanie": "beanie", "sunhat": "sun hat", "boater": "boater hat", "fedora": "fedora", "mini": "mini skirt",
    "pleated": "pleated skirt", "pencil": "pencil skirt", "round": "round sunglasses",
    "wayfarer": "sunglasses", "aviator": "aviator sunglasses", "cateye": "cat-eye sunglasses",
    "board": "board shorts", "denim": "denim shorts", "tailored": "tailored shorts", "infinity": "infinity scarf",
    "long": "scarf", "shawl": "shawl", "sport": "sports watch", "square": "square watch", "casual": "belt",
    "classic": "leather belt", "combat": "combat boots", "snow": "snow boots", "chelsea": "chelsea boots",
    "knee": "knee-high boots", "crew": "crew-neck sweater", "cardigan": "cardigan", "vneck": "v-neck sweater",
    "turtleneck": "turtleneck", "trunks": "swim trunks", "bikini": "bikini", "onepiece": "swimsuit",
    "overalls": "overalls", "socks": "socks", "tights": "tights", "mittens": "mittens", "gloves": "gloves",
    "skinny": "skinny tie", "necktie": "tie", "bowtie": "bow tie",
}
_NOUN_OVERRIDES = {("Skirts", "aline"): "a-line skirt", ("Skirts", "maxi"): "maxi skirt",
                   ("Watches", "round"): "watch", ("Jumpsuits", "wide"): "jumpsuit",
                   ("Jumpsuits", "tailored"): "tailored jumpsuit", ("Socks & Tights", "knee"): "knee socks"}
_PATTERN_ADJ = {
    "solid": "", "stripes": "striped", "pinstripes": "pinstriped", "dots": "polka-dot", "florals": "floral",
    "plaid": "plaid", "checks": "gingham", "leopard": "leopard-print", "zebra": "zebra-print", "camo": "camo",
    "colourblock": "colour-block", "fairisle": "fair isle", "knit": "cable-knit", "sequins": "sequinned",
    "tropical": "tropical-print", "argyle": "argyle", "aztec": "aztec-print", "denim": "",
}

# Versatile basics: (category, colour, pattern, variant, themes it is worn with).
_BASICS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("Pants", "denim", "denim", "jeans", ("streetwear", "boho", "preppy", "edgy", "minimalist", "nautical", "winter")),
    ("Shirts & Tops", "white", "solid", "tee", ("streetwear", "minimalist", "nautical", "beach", "edgy", "boho",
                                               "athleisure")),
    ("Shirts & Tops", "black", "solid", "tee", ("streetwear", "minimalist", "edgy", "athleisure")),
    ("Shirts & Tops", "white", "solid", "shirt", ("business", "preppy", "minimalist", "nautical")),
    ("Boots", "black", "solid", "chelsea", ("edgy", "minimalist", "winter", "business", "streetwear")),
    ("Boots", "black", "solid", "combat", ("edgy", "streetwear", "winter")),
    ("Shoes", "white", "solid", "sneaker", ("streetwear", "athleisure", "minimalist", "nautical", "preppy", "beach")),
    ("Shoes", "black", "solid", "loafer", ("business", "preppy", "minimalist", "edgy")),
    ("Handbags", "black", "solid", "tote", ("business", "minimalist", "edgy", "streetwear", "winter")),
    ("Belts", "black", "solid", "classic", ("business", "minimalist", "edgy", "preppy", "streetwear")),
    ("Belts", "tan", "solid", "classic", ("boho", "preppy", "nautical", "minimalist")),
    ("Coats & Jackets", "camel", "solid", "trench", ("minimalist", "business", "preppy", "romantic")),
    ("Coats & Jackets", "denim", "denim", "bomber", ("streetwear", "boho", "edgy", "athleisure")),
    ("Sweaters", "grey", "solid", "crew", ("minimalist", "winter", "preppy", "business", "streetwear")),
    ("Sunglasses", "black", "solid", "wayfarer", ("streetwear", "edgy", "minimalist", "beach", "nautical", "glam")),
    ("Watches", "black", "solid", "round", ("minimalist", "business", "edgy", "streetwear")),
    ("Skirts", "black", "solid", "pencil", ("business", "minimalist", "edgy", "glam")),
    ("Socks & Tights", "black", "solid", "tights", ("business", "edgy", "glam", "winter", "romantic")),
    ("Shorts", "denim", "denim", "denim", ("beach", "boho", "streetwear", "nautical")),
    ("Pants", "black", "solid", "slim", ("edgy", "business", "minimalist", "glam")),
    ("Scarves & Shawls", "grey", "solid", "long", ("winter", "minimalist", "business")),
    ("Hats", "black", "solid", "cap", ("streetwear", "athleisure")),
    ("Jewelry", "silver", "solid", "ring", ("minimalist", "business", "edgy", "glam")),
    ("Dresses", "black", "solid", "sheath", ("business", "glam", "minimalist", "edgy")),
    ("Gloves", "black", "solid", "gloves", ("business", "winter", "edgy", "glam")),
    ("Ties", "navy", "solid", "necktie", ("business", "preppy")),
)

DEFECT_KINDS: tuple[str, ...] = ("overlap", "tiny", "duplicate", "monochrome", "few_categories")
_DEFECT_P = (0.08, 0.08, 0.08, 0.06, 0.06)
_SIZE_P = {3: .14, 4: .22, 5: .25, 6: .19, 7: .12, 8: .08}


@dataclass(frozen=True)
class UniverseConfig:
    """Size (number of outfits), seed and image sizes of the demo universe."""

    size: int = 3000
    seed: int = 0
    product_px: int = 160
    collage_px: int = 400
    scene_share: float = 0.06
    products_per_outfit: float = 0.8      # catalogue size ~ this x size
    min_per_category: int = 3
    basic_share: float = 0.15
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"universe size must be at least 1 outfit, got {self.size}")
        if self.product_px < 48 or self.collage_px < 160:
            raise ValueError(f"product_px must be >= 48 and collage_px >= 160, got {self.product_px} and "
                             f"{self.collage_px}")
        if not 0.0 <= self.scene_share < 1.0:
            raise ValueError(f"scene_share must be in [0, 1), got {self.scene_share}")


@dataclass
class _Product:
    pid: str
    category: str
    theme: str                       # theme name or "basic"
    fits: tuple[str, ...]            # themes whose outfits may use it
    colour: str
    pattern: str
    variant: str
    price: float
    is_shot: bool
    popularity: float
    second: str = "white"            # pattern colours
    third: str = "black"
    accent: str = "dark"

    @property
    def title(self) -> str:
        adj = _PATTERN_ADJ[self.pattern]
        noun = _NOUN_OVERRIDES.get((self.category, self.variant), _NOUNS[self.variant])
        colour = "" if noun.startswith(self.colour) else self.colour
        words = [w for w in (colour, adj, noun) if w]
        text = " ".join(words)
        return text[0].upper() + text[1:]


# ------------------------------------------------------------------------------------------- drawing
class _Canvas:
    """Layers of one item drawn in unit coordinates (x right, y down, the item fills [0,1]^2)."""

    def __init__(self, size: int, box: tuple[float, float, float, float], rng: np.random.Generator,
                 wobble: float) -> None:
        self.size = size
        self.box = box
        self.rng = rng
        self.wobble = wobble
        self.layers = {k: Image.new("L", (size, size), 0) for k in ("body", "acc", "metal", "det")}
        self.draws = {k: ImageDraw.Draw(v) for k, v in self.layers.items()}

    def _xy(self, u: float, v: float) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return x0 + u * (x1 - x0), y0 + v * (y1 - y0)

    def _scale(self) -> float:
        x0, y0, x1, y1 = self.box
        return 0.5 * ((x1 - x0) + (y1 - y0))

    def poly(self, pts, layer: str = "body", value: int = 255) -> None:
        w = self.wobble
        jit = self.rng.uniform(-w, w, size=(len(pts), 2)) if w else np.zeros((len(pts), 2))
        self.draws[layer].polygon([self._xy(u + a, v + b) for (u, v), (a, b) in zip(pts, jit)], fill=value)

    def mirror_poly(self, pts, layer: str = "body") -> None:
        """Draw ``pts`` and its mirror image about x = 0.5."""
        self.poly(pts, layer)
        self.poly([(1 - u, v) for u, v in pts], layer)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, layer: str = "body", value: int = 255) -> None:
        x0, y0 = self._xy(cx - rx, cy - ry)
        x1, y1 = self._xy(cx + rx, cy + ry)
        self.draws[layer].ellipse([x0, y0, x1, y1], fill=value)

    def rect(self, u0: float, v0: float, u1: float, v1: float, layer: str = "body", radius: float = 0.0,
             value: int = 255) -> None:
        x0, y0 = self._xy(u0, v0)
        x1, y1 = self._xy(u1, v1)
        r = radius * self._scale()
        if r > 0:
            self.draws[layer].rounded_rectangle([x0, y0, x1, y1], radius=r, fill=value)
        else:
            self.draws[layer].rectangle([x0, y0, x1, y1], fill=value)

    def line(self, pts, width: float = 0.012, layer: str = "det", value: int = 255) -> None:
        wpx = max(1, int(round(width * self._scale())))
        xy = [self._xy(u, v) for u, v in pts]
        self.draws[layer].line(xy, fill=value, width=wpx, joint="curve")
        if len(xy) > 1 and wpx > 3:   # round caps
            r = wpx / 2
            for x, y in (xy[0], xy[-1]):
                self.draws[layer].ellipse([x - r, y - r, x + r, y + r], fill=value)

    def cut(self, fn: str, *args, **kw) -> None:
        """Erase a shape from the body (neck holes, gaps)."""
        getattr(self, fn)(*args, layer="body", value=0, **kw)

    def dots(self, pts, r: float = 0.014, layer: str = "det") -> None:
        for u, v in pts:
            self.ellipse(u, v, r, r, layer)


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 24) -> list:
    """Points on an ellipse arc, angles in degrees (0 = right, 90 = down)."""
    t = np.radians(np.linspace(a0, a1, n))
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in t]


def _shoes(c: _Canvas, v: str, j) -> None:
    if v == "sneaker":
        c.poly([(.05, .80), (.05, .50), (.12, .40 + j(.03)), (.30, .41), (.45, .52), (.70, .58), (.88, .62),
                (.97, .72), (.97, .80)])
        c.rect(.03, .76, .99, .88, "acc", radius=.04)
        for k in range(4):
            x = .32 + k * .055
            c.line([(x, .44 + k * .025), (x + .05, .52 + k * .025)], .014)
        c.line([(.22, .70), (.48, .64), (.74, .70)], .02)
        c.line([(.05, .81), (.97, .81)], .008)
    elif v == "pump":
        c.poly([(.06, .36), (.13, .36), (.22, .48), (.45, .58), (.72, .63), (.90, .66), (.97, .72), (.92, .77),
                (.58, .76), (.32, .70), (.16, .62), (.08, .58)])
        c.poly([(.07, .55), (.18, .60), (.16, .94), (.11, .94)], "acc")
        c.line([(.17, .62), (.40, .72), (.92, .76)], .012)
    elif v == "sandal":
        c.poly([(.04, .80), (.90, .73), (.98, .76), (.96, .82), (.05, .88)], "acc")
        c.poly([(.52, .78), (.56, .52), (.70, .50), (.84, .58), (.88, .74)])
        c.line(_arc(.17, .74, .09, .24, 180, 360), .04, "body")
        c.line([(.08, .52), (.36, .56)], .04, "body")
        c.rect(.27, .50, .33, .58, "metal")
        c.line([(.60, .56), (.80, .62)], .01)
    else:   # loafer, oxford
        c.poly([(.05, .80), (.06, .55), (.14, .48), (.34, .50), (.55, .55), (.80, .60), (.95, .68), (.97, .80)])
        c.rect(.04, .78, .98, .84, "acc", radius=.02)
        c.rect(.05, .80, .22, .90, "acc")
        c.line(_arc(.80, .72, .13, .14, 200, 300), .012)
        if v == "oxford":
            for k in range(3):
                c.line([(.36 + k * .05, .52), (.42 + k * .05, .60)], .014)
        else:
            c.rect(.36, .53, .54, .58, "metal", radius=.01)


def _handbags(c: _Canvas, v: str, j) -> None:
    if v == "tote":
        c.poly([(.14, .38), (.86, .38), (.95, .94), (.05, .94)])
        for x in (.36, .64):
            c.line(_arc(x, .40, .12, .30 + j(.04), 180, 360), .035, "acc")
        c.line([(.14, .46), (.86, .46)], .01)
    elif v == "top_handle":
        c.rect(.10, .38, .90, .90, radius=.06)
        c.line(_arc(.5, .40, .22, .26, 180, 360), .05, "acc")
        c.poly([(.10, .40), (.90, .40), (.90, .60), (.50, .68), (.10, .60)], "acc")
        c.rect(.45, .60, .55, .70, "metal", radius=.01)
    elif v == "clutch":
        c.rect(.05, .40, .95, .76, radius=.05)
        c.line(_arc(.5, .40, .36, .34, 180, 360), .012, "metal")
        c.line([(.05, .42), (.5, .62), (.95, .42)], .014)
        c.ellipse(.5, .62, .05, .05, "metal")
    elif v == "crossbody":
        c.rect(.24, .52, .76, .92, radius=.06)
        c.line(_arc(.5, .54, .26, .50, 180, 360), .02, "acc")
        c.poly([(.24, .54), (.76, .54), (.76, .72), (.24, .72)], "acc")
        c.rect(.46, .68, .54, .76, "metal")
    else:  # backpack
        c.rect(.18, .14, .82, .96, radius=.16)
        c.line(_arc(.5, .16, .10, .10, 180, 360), .03, "acc")
        c.rect(.28, .56, .72, .88, "acc", radius=.06)
        c.line([(.20, .36), (.80, .36)], .014)
        c.rect(.47, .56, .53, .62, "metal")


_TOP_TEE = [(.36, .10), (.28, .13), (.08, .30), (.17, .42), (.29, .35), (.29, .95), (.71, .95), (.71, .35),
            (.83, .42), (.92, .30), (.72, .13), (.64, .10)]
_TOP_LONG = [(.38, .08), (.27, .12), (.16, .30), (.07, .80), (.16, .82), (.27, .40), (.28, .95), (.72, .95),
             (.73, .40), (.84, .82), (.93, .80), (.84, .30), (.73, .12), (.62, .08)]


def _shirts(c: _Canvas, v: str, j) -> None:
    if v == "tee":
        c.poly(_TOP_TEE)
        c.cut("ellipse", .5, .09, .12, .06)
        c.line(_arc(.5, .09, .12, .07, 0, 180), .016)
    elif v == "tank":
        c.poly([(.33, .05), (.40, .05), (.43, .22), (.57, .22), (.60, .05), (.67, .05), (.70, .36), (.72, .95),
                (.28, .95), (.30, .36)])
        c.line([(.40, .05), (.43, .22), (.57, .22), (.60, .05)], .012)
    elif v == "hoodie":
        c.poly(_TOP_LONG)
        c.ellipse(.5, .11, .16, .11)
        c.ellipse(.5, .13, .09, .06, "acc")
        c.rect(.065, .76, .165, .82, "acc")
        c.rect(.835, .76, .935, .82, "acc")
        c.rect(.28, .88, .72, .95, "acc")
        c.poly([(.34, .62), (.66, .62), (.70, .84), (.30, .84)], "acc")
        c.line([(.46, .19), (.45, .40)], .012)
        c.line([(.54, .19), (.55, .40)], .012)
    elif v == "blouse":
        c.poly(_TOP_LONG)
        c.ellipse(.23, .22, .12, .12)
        c.ellipse(.77, .22, .12, .12)
        c.cut("poly", [(.40, .06), (.60, .06), (.5, .26)])
        c.line([(.40, .07), (.5, .26), (.60, .07)], .014)
        for y in (.78, .82):
            c.line([(.07, y), (.16, y + .02)], .012)
            c.line([(.93, y), (.84, y + .02)], .012)
    else:  # shirt
        c.poly(_TOP_LONG)
        c.poly([(.38, .06), (.50, .18), (.43, .24), (.35, .11)], "acc")
        c.poly([(.62, .06), (.50, .18), (.57, .24), (.65, .11)], "acc")
        c.line([(.5, .18), (.5, .95)], .012)
        c.dots([(.53, .30 + k * .14) for k in range(5)], .014)
        c.rect(.07, .74, .16, .80, "acc")
        c.rect(.84, .74, .93, .80, "acc")
        c.line([(.33, .30), (.43, .30)], .01)


def _legs(c: _Canvas, top: float, hip: float, crotch: float, hem: float, outer: float, inner: float,
          waist: float = .25) -> None:
    c.poly([(waist, top), (1 - waist, top), (1 - waist + .03, hip), (1 - outer, hem), (1 - inner, hem),
            (.5, crotch), (inner, hem), (outer, hem), (waist - .03, hip)])


def _pants(c: _Canvas, v: str, j) -> None:
    shapes = {"straight": (.20, .46), "jeans": (.20, .45), "wide": (.08, .47), "slim": (.28, .45),
              "joggers": (.26, .45)}
    outer, inner = shapes[v]
    _legs(c, .03, .30, .36 + j(.02), .97, outer + j(.02), inner)
    c.line([(.25, .10), (.75, .10)], .012)
    if v == "jeans":
        c.line(_arc(.25, .10, .12, .10, 0, 90), .012)
        c.line(_arc(.75, .10, .12, .10, 90, 180), .012)
        c.line([(.52, .10), (.52, .28)], .012)
        c.dots([(.30, .06), (.5, .06), (.70, .06)], .012, "metal")
    elif v == "joggers":
        c.rect(.25, .03, .75, .10, "acc")
        c.rect(outer + .01, .90, inner - .01, .97, "acc")
        c.rect(1 - inner + .01, .90, 1 - outer - .01, .97, "acc")
        c.line([(.48, .10), (.46, .22)], .01)
        c.line([(.52, .10), (.54, .22)], .01)
    else:
        mid = (outer + inner) / 2
        c.line([(mid, .32), (mid, .95)], .008)
        c.line([(1 - mid, .32), (1 - mid, .95)], .008)
        c.dots([(.5, .065)], .015, "metal")


def _coats(c: _Canvas, v: str, j) -> None:
    hem = {"coat": .97, "trench": .97, "parka": .92, "puffer": .80, "blazer": .78, "bomber": .72}[v]
    c.poly([(.38, .05), (.22, .10), (.12, .30), (.05, .88), (.17, .90), (.25, .46), (.24, hem), (.76, hem),
            (.75, .46), (.83, .90), (.95, .88), (.88, .30), (.78, .10), (.62, .05)])
    if v in ("coat", "trench", "blazer"):
        c.poly([(.40, .05), (.60, .05), (.5, .42)], "acc")
        c.poly([(.38, .05), (.5, .42), (.40, .46), (.33, .20)], "body")
        c.poly([(.62, .05), (.5, .42), (.60, .46), (.67, .20)], "body")
        c.line([(.38, .05), (.5, .42), (.40, .46), (.33, .20), (.38, .05)], .012)
        c.line([(.62, .05), (.5, .42), (.60, .46), (.67, .20), (.62, .05)], .012)
        c.line([(.5, .42), (.5, hem)], .01)
        n_btn = 2 if v == "blazer" else 3
        c.dots([(.44, .50 + k * .10) for k in range(n_btn)], .018, "acc")
        if v != "blazer":
            c.dots([(.56, .50 + k * .10) for k in range(n_btn)], .018, "acc")
        if v == "trench":
            c.rect(.24, .56, .76, .62, "acc")
            c.rect(.46, .55, .54, .63, "metal")
        if v == "blazer":
            c.line([(.30, .62), (.42, .62)], .012)
            c.line([(.58, .62), (.70, .62)], .012)
        c.line([(.07, .80), (.17, .82)], .012)
        c.line([(.93, .80), (.83, .82)], .012)
    elif v == "puffer" or v == "parka":
        if v == "parka":
            c.ellipse(.5, .09, .17, .11)
            c.ellipse(.5, .10, .11, .07, "acc")
            c.rect(.24, .50, .76, .53, "acc")
        for k in range(1, 7):
            y = .08 + k * (hem - .08) / 7
            c.line([(.25, y), (.75, y)], .012)
            c.line([(.14 - .012 * k, y + .04), (.21, y + .02)], .01)
            c.line([(.86 + .012 * k, y + .04), (.79, y + .02)], .01)
        c.line([(.5, .14), (.5, hem)], .016, "metal")
    else:  # bomber
        c.ellipse(.5, .07, .13, .05, "acc")
        c.rect(.24, hem - .07, .76, hem, "acc")
        c.rect(.05, .82, .17, .90, "acc")
        c.rect(.83, .82, .95, .90, "acc")
        c.line([(.5, .10), (.5, hem - .07)], .016, "metal")
        c.line([(.30, .40), (.36, .56)], .012)
        c.line([(.70, .40), (.64, .56)], .012)


def _dresses(c: _Canvas, v: str, j) -> None:
    if v == "sundress":
        c.line([(.38, .03), (.39, .22)], .018, "body")
        c.line([(.62, .03), (.61, .22)], .018, "body")
        c.poly([(.34, .20), (.66, .20), (.63, .40), (.88 + j(.03), .88), (.12 + j(.03), .88), (.37, .40)])
        c.line([(.37, .40), (.63, .40)], .014)
    elif v == "maxi":
        c.poly([(.36, .04), (.43, .04), (.5, .14), (.57, .04), (.64, .04), (.66, .22), (.62, .36), (.86, .98),
                (.14, .98), (.38, .36), (.34, .22)])
        c.rect(.37, .33, .63, .37, "acc")
        c.line([(.45, .45), (.34, .96)], .008)
        c.line([(.55, .45), (.66, .96)], .008)
    elif v == "sheath":
        c.poly([(.36, .04), (.64, .04), (.78, .12), (.72, .20), (.66, .20), (.62, .40), (.68, .70), (.64, .90),
                (.36, .90), (.32, .70), (.38, .40), (.34, .20), (.28, .20), (.22, .12)])
        c.cut("ellipse", .5, .04, .09, .05)
        c.line([(.38, .40), (.62, .40)], .012)
    elif v == "slip":
        c.line([(.40, .02), (.38, .18)], .01, "metal")
        c.line([(.60, .02), (.62, .18)], .01, "metal")
        c.poly([(.35, .18), (.5, .26), (.65, .18), (.64, .42), (.72, .90), (.28, .90), (.36, .42)])
    else:  # aline
        c.poly([(.36, .05), (.44, .05), (.5, .14), (.56, .05), (.64, .05), (.74, .12), (.68, .22), (.63, .40),
                (.86, .86), (.14, .86), (.37, .40), (.32, .22), (.26, .12)])
        c.line([(.37, .40), (.63, .40)], .016)
        c.line([(.5, .44), (.5, .84)], .006)


def _jewelry(c: _Canvas, v: str, j) -> None:
    if v == "necklace":
        c.line(_arc(.5, .08, .34, .62, 0, 180, 40), .02, "metal")
        c.ellipse(.5, .78, .10, .12, "metal")
        c.ellipse(.5, .78, .07, .09)
        c.dots([(.5 + .34 * np.cos(a), .08 + .62 * np.sin(a)) for a in np.radians([40, 65, 115, 140])], .025,
               "body")
    elif v == "ring":
        c.ellipse(.5, .62, .32, .32, "metal")
        c.ellipse(.5, .62, .24, .24, "metal", value=0)
        c.poly([(.36, .34), (.64, .34), (.58, .24), (.42, .24)], "metal")
        c.ellipse(.5, .22, .14, .13)
        c.line([(.44, .16), (.5, .22), (.56, .16)], .008, "det")
    elif v == "earrings":
        for x in (.3, .7):
            c.line(_arc(x, .18, .06, .08, 180, 360), .02, "metal")
            c.line([(x + .06, .18), (x, .34)], .02, "metal")
            c.ellipse(x, .36, .05, .05, "metal")
            c.poly([(x, .40), (x + .12, .66), (x, .90), (x - .12, .66)])
    else:  # bracelet
        c.ellipse(.5, .5, .42, .30, "metal")
        c.ellipse(.5, .5, .34, .22, "metal", value=0)
        for a in np.radians(np.arange(0, 360, 30)):
            c.ellipse(.5 + .38 * np.cos(a), .5 + .26 * np.sin(a), .06, .06)


def _hats(c: _Canvas, v: str, j) -> None:
    if v == "fedora":
        c.ellipse(.5, .68, .46, .11 + j(.02))
        c.poly([(.26, .70), (.29, .32), (.40, .24), (.5, .30), (.60, .24), (.71, .32), (.74, .70)])
        c.rect(.265, .56, .735, .64, "acc")
    elif v == "sunhat":
        c.ellipse(.5, .64, .49, .17 + j(.02))
        c.ellipse(.5, .52, .22, .22)
        c.rect(.28, .54, .72, .61, "acc")
        c.line(_arc(.5, .64, .40, .12, 20, 160), .008)
    elif v == "cap":
        c.poly([(.62, .58), (.97, .62), (.95, .72), (.60, .68)])
        c.draws["body"].pieslice([*c._xy(.12, .26), *c._xy(.76, .96)], 180, 360, fill=255)
        c.line([(.44, .26), (.44, .61)], .01)
        c.line(_arc(.44, .61, .18, .34, 200, 260), .01)
        c.ellipse(.44, .27, .03, .02, "acc")
        c.rect(.12, .58, .62, .63, "acc")
    elif v == "beanie":
        c.ellipse(.5, .58, .32, .40)
        c.rect(.18, .62, .82, .90, "acc", radius=.04)
        for k in range(9):
            x = .22 + k * .07
            c.line([(x, .64), (x, .88)], .008)
        c.ellipse(.5, .16, .10, .09, "acc")
    else:  # boater
        c.ellipse(.5, .66, .46, .09)
        c.rect(.28, .36, .72, .66)
        c.ellipse(.5, .36, .22, .04)
        c.rect(.28, .52, .72, .60, "acc")


def _skirts(c: _Canvas, v: str, j) -> None:
    if v == "pencil":
        c.poly([(.30, .06), (.70, .06), (.73, .40), (.69, .94), (.31, .94), (.27, .40)])
        c.line([(.5, .70), (.5, .94)], .012)
    elif v == "maxi":
        pts = [(.33, .06), (.67, .06)] + [(.90 - k * .08, .96 + .02 * np.sin(k * 2)) for k in range(11)]
        c.poly(pts)
    elif v == "mini":
        c.poly([(.24, .18), (.76, .18), (.88, .70), (.12, .70)])
        c.line([(.24, .24), (.76, .24)], .012)
    else:  # aline, pleated
        c.poly([(.30, .08), (.70, .08), (.88 + j(.02), .86), (.12 + j(.02), .86)])
        if v == "pleated":
            for k in range(1, 8):
                t = k / 8
                c.line([(.30 + .40 * t, .16), (.12 + .76 * t, .85)], .008)
    if v != "mini":
        c.rect(.30, .06, .70, .13, "acc")


def _sunglasses(c: _Canvas, v: str, j) -> None:
    if v == "aviator":
        for x in (.28, .72):
            c.poly([(x - .19, .36), (x + .17, .36), (x + .14, .58), (x, .68), (x - .16, .58)], "metal")
            c.poly([(x - .16, .39), (x + .14, .39), (x + .11, .56), (x, .64), (x - .13, .56)], "acc")
        c.line([(.45, .38), (.55, .38)], .02, "metal")
        c.line([(.44, .44), (.56, .44)], .012, "metal")
        c.line([(.09, .37), (.01, .33)], .02, "metal")
        c.line([(.91, .37), (.99, .33)], .02, "metal")
        return
    for x in (.28, .72):
        if v == "round":
            c.ellipse(x, .50, .19, .19)
            c.ellipse(x, .50, .15, .15, "acc")
        elif v == "cateye":
            s = 1 if x < .5 else -1
            c.poly([(x - .20 * s, .30), (x, .38), (x + .18 * s, .38), (x + .15 * s, .60), (x, .66),
                    (x - .16 * s, .58)])
            c.poly([(x - .14 * s, .38), (x + .14 * s, .42), (x + .11 * s, .57), (x, .61), (x - .12 * s, .54)], "acc")
        else:  # wayfarer
            c.rect(x - .20, .34, x + .19, .64, radius=.07)
            c.rect(x - .16, .39, x + .15, .60, "acc", radius=.05)
    c.line([(.44, .44), (.56, .44)], .04, "body")
    c.line([(.09, .40), (.01, .36)], .03, "body")
    c.line([(.91, .40), (.99, .36)], .03, "body")


def _shorts(c: _Canvas, v: str, j) -> None:
    hem = {"board": .78, "denim": .58, "tailored": .66}[v]
    _legs(c, .10, .30, .42, hem, .12 + j(.02), .47, .22)
    c.line([(.22, .17), (.78, .17)], .012)
    if v == "denim":
        c.rect(.11, hem - .07, .475, hem, "acc")
        c.rect(.525, hem - .07, .89, hem, "acc")
        c.line(_arc(.22, .17, .10, .09, 0, 90), .012)
        c.line(_arc(.78, .17, .10, .09, 90, 180), .012)
    elif v == "board":
        c.line([(.46, .17), (.44, .32)], .012, "acc")
        c.line([(.54, .17), (.56, .32)], .012, "acc")
        c.line([(.15, .45), (.12, hem - .02)], .02, "acc")
        c.line([(.85, .45), (.88, hem - .02)], .02, "acc")
    else:
        c.line([(.30, .20), (.29, hem)], .008)
        c.line([(.70, .20), (.71, hem)], .008)
        c.dots([(.5, .135)], .015, "metal")


def _scarves(c: _Canvas, v: str, j) -> None:
    if v == "shawl":
        c.poly([(.03, .14), (.97, .14), (.5, .86)])
        for k in range(16):
            t = k / 15
            x0, y0 = .03 + .47 * t, .14 + .72 * t
            c.line([(x0, y0), (x0 - .03, y0 + .08)], .008, "body")
            c.line([(1 - x0, y0), (1 - x0 + .03, y0 + .08)], .008, "body")
        c.line([(.05, .18), (.95, .18)], .01)
    elif v == "infinity":
        c.ellipse(.5, .5, .42, .34)
        c.ellipse(.5, .52, .22, .14, value=0)
        for k in range(5):
            c.line(_arc(.5, .5, .32 + k * .02, .26 + k * .015, 200 + k * 10, 340 - k * 10), .008)
    else:  # long: a wavy band laid flat, fringed at both ends
        t = np.linspace(0, 1, 24)
        xs = .5 + .16 * np.sin(2 * np.pi * .8 * t + .6 + j(.3))
        ys = .10 + .76 * t
        half = .16
        c.poly([(x - half, y) for x, y in zip(xs, ys)] + [(x + half, y) for x, y in zip(xs[::-1], ys[::-1])])
        for end, dy in ((0, -1), (-1, 1)):
            for k in range(7):
                x = xs[end] - half + .02 + k * (2 * half - .04) / 6
                c.line([(x, ys[end]), (x, ys[end] + dy * .08)], .008, "body")
            c.line([(xs[end] - half, ys[end] - dy * .04), (xs[end] + half, ys[end] - dy * .04)], .01, "acc")
        for k in (6, 12, 18):
            c.line([(xs[k] - half * .7, ys[k] - .02), (xs[k] + half * .7, ys[k] + .02)], .006)


def _watches(c: _Canvas, v: str, j) -> None:
    strap = "body" if v == "sport" else "acc"
    c.rect(.38, .02, .62, .98, strap, radius=.05)
    c.dots([(.5, .82 + k * .05) for k in range(3)], .012, "det")
    if v == "square":
        c.rect(.24, .26, .76, .74, "metal", radius=.06)
        c.rect(.29, .31, .71, .69, "det", radius=.04)
        c.rect(.305, .325, .695, .675, "det", radius=.04, value=0)
        face = "det"
    else:
        c.ellipse(.5, .5, .27, .27, "body" if v == "sport" else "metal")
        c.ellipse(.5, .5, .21, .21, "det")
        c.ellipse(.5, .5, .195, .195, "det", value=0)
        face = "det"
    c.rect(.76, .46, .80, .54, "metal")
    c.line([(.5, .5), (.5, .36)], .022, face)
    c.line([(.5, .5), (.61, .55)], .018, face)
    for a in np.radians(np.arange(0, 360, 90)):
        c.line([(.5 + .15 * np.cos(a), .5 + .15 * np.sin(a)), (.5 + .18 * np.cos(a), .5 + .18 * np.sin(a))],
               .015, face)


def _belts(c: _Canvas, v: str, j) -> None:
    h = {"casual": .16, "classic": .12, "wide": .24}[v]
    y0, y1 = .5 - h / 2, .5 + h / 2
    c.rect(.02, y0, .70, y1, radius=.02)
    c.rect(.80, y0 + .01, .98, y1 - .01)
    c.line([(.02, y0 + .02), (.70, y0 + .02)], .006)
    c.line([(.02, y1 - .02), (.70, y1 - .02)], .006)
    if v == "wide":
        c.ellipse(.76, .5, .10, h / 2 + .08, "metal")
        c.ellipse(.76, .5, .06, h / 2 + .02, "metal", value=0)
    else:
        c.rect(.68, y0 - .06, .82, y1 + .06, "metal", radius=.02)
        c.rect(.71, y0 - .03, .79, y1 + .03, "metal", value=0)
        c.line([(.71, .5), (.82, .5)], .016, "metal")
    c.dots([(.86 + k * .035, .5) for k in range(3)], .012, "det")


def _boots(c: _Canvas, v: str, j) -> None:
    top = {"knee": .02, "chelsea": .34, "combat": .22, "snow": .26}[v]
    if v == "knee":
        c.poly([(.24, top), (.54, top), (.52, .62), (.80, .72), (.94, .80), (.95, .88), (.26, .88), (.24, .50)])
        c.rect(.24, .86, .36, .98, "acc")
        c.rect(.36, .86, .95, .90, "acc")
        c.line([(.50, .06), (.49, .60)], .01, "metal")
    else:
        c.poly([(.18, top), (.50, top), (.52, .60), (.80, .68), (.95, .76), (.96, .86), (.18, .86)])
        sole = .96 if v in ("combat", "snow") else .92
        c.rect(.16, .84, .98, sole, "acc", radius=.02)
        if v == "chelsea":
            c.poly([(.40, top + .02), (.50, top + .02), (.48, .56), (.44, .56)], "acc")
            c.line([(.30, top - .02), (.30, top + .04)], .03, "acc")
        elif v == "combat":
            for k in range(6):
                y = top + .05 + k * .065
                c.line([(.42, y), (.54, y + .04)], .014)
                c.line([(.54, y), (.42, y + .04)], .014)
            c.line([(.16, .93), (.98, .93)], .01)
        else:  # snow
            c.rect(.12, top - .06, .56, top + .12, "acc", radius=.06)
            c.line([(.20, .66), (.90, .74)], .01)


def _sweaters(c: _Canvas, v: str, j) -> None:
    c.poly([(.38, .10), (.24, .13), (.12, .35), (.06, .80), (.17, .82), (.25, .45), (.25, .90), (.75, .90),
            (.75, .45), (.83, .82), (.94, .80), (.88, .35), (.76, .13), (.62, .10)])
    for x0, x1 in ((.055, .175), (.825, .945)):
        c.rect(x0, .74, x1, .84, "acc")
        for k in range(5):
            x = x0 + (k + .5) * (x1 - x0) / 5
            c.line([(x, .75), (x, .83)], .007)
    c.rect(.25, .83, .75, .93, "acc")
    for k in range(14):
        x = .27 + k * .035
        c.line([(x, .84), (x, .92)], .007)
    if v == "turtleneck":
        c.rect(.38, .00, .62, .14, "acc", radius=.02)
        for k in range(6):
            c.line([(.40 + k * .04, .01), (.40 + k * .04, .13)], .007)
    elif v == "vneck":
        c.cut("poly", [(.38, .09), (.62, .09), (.5, .32)])
        c.line([(.38, .10), (.5, .33), (.62, .10)], .02, "acc")
    elif v == "cardigan":
        c.cut("poly", [(.39, .09), (.61, .09), (.5, .40)])
        c.line([(.39, .10), (.5, .40), (.5, .84)], .016)
        c.dots([(.53, .48 + k * .09) for k in range(4)], .016, "acc")
    else:
        c.cut("ellipse", .5, .10, .12, .05)
        c.line(_arc(.5, .10, .12, .06, 0, 180), .025, "acc")


def _swimwear(c: _Canvas, v: str, j) -> None:
    if v == "bikini":
        c.poly([(.20, .36), (.46, .36), (.34, .10)])
        c.poly([(.54, .36), (.80, .36), (.66, .10)])
        c.line([(.46, .34), (.54, .34)], .014, "acc")
        c.line([(.34, .10), (.40, .02)], .01, "acc")
        c.line([(.66, .10), (.60, .02)], .01, "acc")
        c.line([(.20, .34), (.06, .40)], .01, "acc")
        c.line([(.80, .34), (.94, .40)], .01, "acc")
        c.poly([(.22, .56), (.78, .56), (.60, .84), (.5, .88), (.40, .84)])
        c.line([(.22, .57), (.10, .54)], .012, "acc")
        c.line([(.78, .57), (.90, .54)], .012, "acc")
    elif v == "trunks":
        _legs(c, .22, .40, .56, .78, .14, .47, .20)
        c.rect(.20, .22, .80, .30, "acc")
        c.line([(.47, .30), (.45, .44)], .012, "acc")
        c.line([(.53, .30), (.55, .44)], .012, "acc")
    else:
        c.poly([(.36, .04), (.41, .04), (.44, .24), (.56, .24), (.59, .04), (.64, .04), (.69, .34), (.64, .60),
                (.74, .82), (.58, .86), (.5, .80), (.42, .86), (.26, .82), (.36, .60), (.31, .34)])
        c.line([(.44, .24), (.5, .30), (.56, .24)], .012)


def _jumpsuits(c: _Canvas, v: str, j) -> None:
    inner, outer = (.43, .08) if v == "wide" else (.44, .22)
    if v == "overalls":
        c.rect(.34, .14, .66, .40)
        c.line([(.36, .15), (.30, .01)], .03, "body")
        c.line([(.64, .15), (.70, .01)], .03, "body")
        c.rect(.42, .20, .58, .32, "acc")
        c.dots([(.36, .17), (.64, .17)], .02, "metal")
        _legs(c, .38, .52, .60, .98, outer, inner)
        return
    if v == "tailored":
        c.poly([(.38, .04), (.24, .08), (.12, .30), (.18, .34), (.28, .20), (.30, .42), (.70, .42), (.72, .20),
                (.82, .34), (.88, .30), (.76, .08), (.62, .04)])
        c.cut("poly", [(.42, .03), (.58, .03), (.5, .18)])
    else:
        c.poly([(.36, .02), (.42, .02), (.45, .14), (.55, .14), (.58, .02), (.64, .02), (.68, .22), (.66, .42),
                (.34, .42), (.32, .22)])
    _legs(c, .40, .52, .60, .98, outer, inner, .30)
    c.rect(.30, .38, .70, .44, "acc")


def _socks(c: _Canvas, v: str, j) -> None:
    if v == "tights":
        c.poly([(.28, .02), (.72, .02), (.74, .20), (.62, .88), (.74, .95), (.72, .98), (.54, .97), (.52, .30),
                (.48, .30), (.46, .97), (.28, .98), (.26, .95), (.38, .88), (.26, .20)])
        c.rect(.28, .02, .72, .08, "acc")
        return
    top = .04 if v == "knee" else .30
    for dx in (0.0, .40):
        c.poly([(.10 + dx, top), (.34 + dx, top), (.34 + dx, .66), (.50 + dx, .76), (.54 + dx, .86),
                (.48 + dx, .94), (.18 + dx, .94), (.10 + dx, .84)])
        c.rect(.10 + dx, top, .34 + dx, top + .10, "acc")
        c.ellipse(.47 + dx, .86, .07, .07, "acc")
        c.ellipse(.14 + dx, .86, .06, .07, "acc")
        for k in range(5):
            c.line([(.13 + dx + k * .045, top + .01), (.13 + dx + k * .045, top + .09)], .007)


def _gloves(c: _Canvas, v: str, j) -> None:
    for dx in (0.0, .47):
        if v == "mittens":
            c.rect(.08 + dx, .18, .42 + dx, .66, radius=.15)
            c.poly([(.08 + dx, .44), (.02 + dx, .30), (.08 + dx, .24), (.16 + dx, .40)])
            c.ellipse(.06 + dx, .30, .05, .09)
        else:
            c.rect(.12 + dx, .34, .42 + dx, .68, radius=.05)
            for k, h in enumerate((.16, .08, .10, .18)):
                x = .13 + dx + k * .073
                c.rect(x, h, x + .062, .40, radius=.03)
            c.poly([(.12 + dx, .56), (.02 + dx, .38), (.07 + dx, .34), (.16 + dx, .46)])
        c.rect(.10 + dx, .66, .44 + dx, .86, "acc", radius=.02)


def _ties(c: _Canvas, v: str, j) -> None:
    if v == "bowtie":
        c.poly([(.06, .26), (.44, .44), (.44, .56), (.06, .74), (.10, .50)])
        c.poly([(.94, .26), (.56, .44), (.56, .56), (.94, .74), (.90, .50)])
        c.rect(.40, .38, .60, .62, "body", radius=.04)
        c.line([(.42, .40), (.42, .60)], .01)
        c.line([(.58, .40), (.58, .60)], .01)
        return
    w = .09 if v == "skinny" else .14
    c.poly([(.41, .03), (.59, .03), (.56, .15), (.44, .15)])
    c.poly([(.44, .15), (.56, .15), (.5 + w, .84), (.5, .97), (.5 - w, .84)])
    c.line([(.44, .15), (.56, .15)], .012)
    c.line([(.46, .17), (.5 + w - .04, .60)], .006)


_DRAWERS: dict[str, Callable] = {
    "Shoes": _shoes, "Handbags": _handbags, "Shirts & Tops": _shirts, "Pants": _pants,
    "Coats & Jackets": _coats, "Dresses": _dresses, "Jewelry": _jewelry, "Hats": _hats, "Skirts": _skirts,
    "Sunglasses": _sunglasses, "Shorts": _shorts, "Scarves & Shawls": _scarves, "Watches": _watches,
    "Belts": _belts, "Boots": _boots, "Sweaters": _sweaters, "Swimwear": _swimwear, "Jumpsuits": _jumpsuits,
    "Socks & Tights": _socks, "Gloves": _gloves, "Ties": _ties,
}
assert set(_DRAWERS) == set(CATEGORIES) == set(_VARIANTS)
# Aspect (width, height) of the unit box per category: wide items are drawn flatter.
_ASPECT = {"Belts": (1.0, .9), "Sunglasses": (1.0, .9), "Shoes": (1.0, .95), "Ties": (.8, 1.0),
           "Watches": (.8, 1.0)}


# ------------------------------------------------------------------------------------------- patterns
@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return yy, xx


def _c(name: str) -> np.ndarray:
    return np.array(COLOURS[name], dtype=np.float32)


def _pattern(name: str, size: int, main: str, second: str, third: str, rng: np.random.Generator) -> np.ndarray:
    """An RGB float array (size, size, 3) of ``name`` in the given colours; element scale ~10% of ``size``."""
    yy, xx = _grid(size)
    a, b, t = _c(main), _c(second), _c(third)
    out = np.empty((size, size, 3), np.float32)
    out[:] = a
    p = size * rng.uniform(0.085, 0.12)
    phase = rng.uniform(0, p)

    def put(mask: np.ndarray, colour: np.ndarray, alpha: float = 1.0) -> None:
        out[mask] = out[mask] * (1 - alpha) + colour * alpha

    if name == "stripes":
        coord = yy if rng.random() < 0.75 else (xx + yy) / 1.4
        put(((coord + phase) % p) < p * 0.45, b)
    elif name == "pinstripes":
        q = p * 0.55
        put(((xx + phase) % q) < max(1.5, size / 160), b, 0.8)
    elif name == "dots":
        q = p * 0.9
        row = np.floor((yy + phase) / q)
        dx = ((xx + phase + (row % 2) * q / 2) % q) - q / 2
        dy = ((yy + phase) % q) - q / 2
        put(dx * dx + dy * dy < (q * 0.24) ** 2, b)
    elif name == "checks":
        q = p * 0.7
        h = ((yy + phase) // q) % 2 == 0
        v = ((xx + phase) // q) % 2 == 0
        put(h ^ v, b, 0.45)
        put(h & v, b, 1.0)
    elif name == "plaid":
        q = p * 1.6
        h = ((yy + phase) % q) < q * 0.35
        v = ((xx + phase) % q) < q * 0.35
        put(h, b, 0.55)
        put(v, b, 0.55)
        put((((yy + phase) % q) - q * 0.62).__abs__() < max(1.0, size / 200), t, 0.9)
        put((((xx + phase) % q) - q * 0.62).__abs__() < max(1.0, size / 200), t, 0.9)
    elif name == "argyle":
        q = p * 1.4
        u = np.abs(((xx + phase) % q) - q / 2) / q
        w = np.abs(((yy + phase) % (q * 1.4)) - q * 0.7) / (q * 1.4)
        put(u + w < 0.5, b)
        d1 = np.abs(((xx + yy * 0.714 + phase) % q) - q / 2) < max(1.0, size / 220)
        put(d1, t, 0.8)
    elif name == "zebra":
        b = _c("black") if main != "black" else _c("white")
        wave = yy + size * 0.06 * np.sin(xx / size * 9 + phase) + size * 0.03 * np.sin(xx / size * 23)
        put(np.sin(wave / p * 2 * np.pi) > 0.25, b)
    elif name == "camo":
        for colour, thr in ((b, 0.55), (t, 0.62)):
            low = rng.random((7, 7)).astype(np.float32)
            field_ = np.asarray(Image.fromarray((low * 255).astype(np.uint8)).resize((size, size),
                                                                                      Image.BICUBIC))
            put(field_ > thr * 255, colour)
    elif name == "colourblock":
        cut = size * rng.uniform(0.35, 0.6)
        if rng.random() < 0.5:
            put(yy > cut, b)
            put(np.abs(yy - cut) < size * 0.04, t)
        else:
            put(xx + 0.4 * yy > cut * 1.2, b)
    elif name in ("fairisle", "aztec"):
        band = p * 2.2
        local = (yy + phase) % band
        zig = np.abs(((xx % p) / p) - 0.5) * p * 0.8
        put(np.abs(local - band * 0.3 - zig) < p * 0.16, b)
        put(np.abs(local - band * 0.7 + zig - p * 0.4) < p * 0.12, t if name == "aztec" else b)
        if name == "fairisle":
            dy = ((yy + phase) % band) - band * 0.5
            dx = (xx % (p * 0.6)) - p * 0.3
            put(dx * dx + dy * dy < (p * 0.1) ** 2, t)
    elif name == "knit":
        q = p * 0.7
        u = (xx + phase) % q
        shade = 0.82 + 0.18 * np.abs(np.sin((yy + np.where(u < q / 2, 0, q / 4)) / q * 2 * np.pi))
        out *= shade[..., None]
        put(np.abs(u - q / 2) < max(1.0, size / 200), a * 0.6)
    elif name == "sequins":
        q = max(4.0, p * 0.35)
        ci, cj = (yy // q).astype(np.int32), (xx // q).astype(np.int32)
        n = int(size // q) + 2
        bright = rng.uniform(0.55, 1.5, size=(n, n)).astype(np.float32)
        dx = (xx % q) - q / 2
        dy = (yy % q) - q / 2
        disk = dx * dx + dy * dy < (q * 0.42) ** 2
        factor = np.where(disk, bright[ci, cj], 0.7)
        out = np.clip(out * factor[..., None], 0, 255)
    elif name in ("florals", "tropical", "leopard"):
        img = Image.fromarray(out.astype(np.uint8))
        d = ImageDraw.Draw(img)
        q = p * (1.7 if name == "florals" else 2.4 if name == "tropical" else 1.2)
        n = int(size / q) + 2
        for gi in range(n):
            for gj in range(n):
                cx = (gj + 0.5 * (gi % 2)) * q + rng.uniform(-q, q) * 0.25
                cy = gi * q + rng.uniform(-q, q) * 0.25
                if name == "florals":
                    r = q * rng.uniform(0.16, 0.22)
                    col = tuple(int(x) for x in (b if (gi + gj) % 3 else t))
                    for k in range(5):
                        ang = 2 * np.pi * k / 5 + gi
                        px, py = cx + np.cos(ang) * r, cy + np.sin(ang) * r
                        d.ellipse([px - r * .8, py - r * .8, px + r * .8, py + r * .8], fill=col)
                    d.ellipse([cx - r * .5, cy - r * .5, cx + r * .5, cy + r * .5], fill=COLOURS["yellow"]
                              if main != "yellow" else COLOURS["white"])
                elif name == "tropical":
                    ang = rng.uniform(0, np.pi)
                    L, W = q * 0.55, q * 0.2
                    ca, sa = np.cos(ang), np.sin(ang)
                    leaf = [(cx + ca * L * s - sa * W * np.sin(np.pi * (s + 1) / 2) * side,
                             cy + sa * L * s + ca * W * np.sin(np.pi * (s + 1) / 2) * side)
                            for side in (1, -1) for s in (np.linspace(-1, 1, 8) if side == 1 else
                                                          np.linspace(1, -1, 8))]
                    col = (34, 139, 70) if (gi + gj) % 2 else tuple(int(x) for x in b)
                    d.polygon(leaf, fill=col)
                    d.line([(cx - ca * L, cy - sa * L), (cx + ca * L, cy + sa * L)], fill=tuple(int(x) for x in a),
                           width=max(1, size // 160))
                else:  # leopard rosettes
                    rx, ry = q * rng.uniform(0.22, 0.32), q * rng.uniform(0.16, 0.26)
                    d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=(40, 28, 20))
                    d.ellipse([cx - rx * .6, cy - ry * .6, cx + rx * .6, cy + ry * .6],
                              fill=tuple(int(x) for x in b))
        out = np.asarray(img, dtype=np.float32).copy()
    elif name == "denim":
        twill = ((xx + yy) % max(3.0, size / 80)) < max(1.5, size / 160)
        out *= np.where(twill, 1.1, 0.94)[..., None]
        noise = rng.normal(0, 6, size=(size // 4, size // 4)).astype(np.float32)
        out += np.kron(noise, np.ones((4, 4), np.float32))[:size, :size, None]
    return np.clip(out, 0, 255)


# ----------------------------------------------------------------------------------------- rendering
def _lum(rgb) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def _detail_colour(main: str) -> np.ndarray:
    a = _c(main)
    return np.clip(a + 90, 0, 255) if _lum(a) < 60 else a * 0.45


def _accent_colour(p: _Product) -> np.ndarray:
    a = _c(p.colour)
    if p.accent == "dark":
        return _c("charcoal") if _lum(a) < 50 or p.colour in ("charcoal", "black") else _c("black")
    if p.accent == "shade":
        return a * 0.72 if _lum(a) > 60 else np.clip(a + 45, 0, 255)
    if p.accent == "white":
        return _c("white") if _lum(a) < 200 else _c("grey")
    if p.accent == "tan":
        return _c("tan")
    if p.accent == "lens":
        return np.array((46, 52, 66), np.float32)
    return _c(p.second)


@lru_cache(maxsize=4)
def _light(size: int) -> Image.Image:
    """Soft light from the top left, as an RGB multiplier image (255 = unchanged)."""
    yy, xx = _grid(size)
    shade = 255 * (1.0 - 0.10 * (0.6 * yy + 0.4 * xx) / size)
    return Image.fromarray(shade.astype(np.uint8), "L").convert("RGB")


def _draw_item(p: _Product, px: int, rng: np.random.Generator, metal: str) -> Image.Image:
    """The item alone as an RGBA image of ``px`` x ``px`` (transparent outside the silhouette)."""
    size = 2 * px                                         # supersampled, reduced at the end
    ax, ay = _ASPECT.get(p.category, (1.0, 1.0))
    scale = rng.uniform(0.70, 0.82)
    hw = 0.5 * size * scale * ax * rng.uniform(0.92, 1.0)
    hh = 0.5 * size * scale * ay * rng.uniform(0.92, 1.0)
    cx = size / 2 + rng.uniform(-0.02, 0.02) * size
    cy = size / 2 + rng.uniform(-0.02, 0.02) * size
    canvas = _Canvas(size, (cx - hw, cy - hh, cx + hw, cy + hh), rng, wobble=0.006)
    _DRAWERS[p.category](canvas, p.variant, lambda s: float(rng.uniform(-s, s)))

    body, acc, met, det = (canvas.layers[k] for k in ("body", "acc", "metal", "det"))
    alpha = ImageChops.lighter(ImageChops.lighter(body, acc), ImageChops.lighter(met, det))
    eroded = alpha
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        eroded = ImageChops.darker(eroded, ImageChops.offset(alpha, dx, dy))
    edge = ImageChops.subtract(alpha, eroded).point(lambda v: v * 3 // 4)
    pattern = "solid" if p.category in _SOLID_ONLY else p.pattern
    img = Image.fromarray(_pattern(pattern, size, p.colour, p.second, p.third, rng).astype(np.uint8), "RGB")
    dcol = tuple(int(v) for v in _detail_colour(p.colour))
    img.paste(tuple(int(v) for v in _accent_colour(p)), mask=acc)
    img.paste(METALS[metal], mask=met)
    img.paste(dcol, mask=det)
    img.paste(dcol, mask=edge)
    img = ImageChops.multiply(img, _light(size))
    img.putalpha(alpha)
    angle = float(rng.uniform(-4, 4))
    return img.reduce(2).rotate(angle, resample=Image.BICUBIC, center=(cx / 2, cy / 2))


def _product_shot(item: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Centre ``item`` on a near-white, slightly varied background with a soft floor shadow."""
    px = item.width
    base = rng.uniform(244, 253)   # every channel stays above 240: cleanup reads near-white as background
    tint = rng.uniform(-2, 2, size=3)
    yy, _ = _grid(px)
    grad = (yy / px - 0.5)[..., None] * rng.uniform(-3, 3)
    bg = np.clip(base + tint + grad, 0, 255).astype(np.uint8)
    img = Image.fromarray(bg, "RGB")
    bbox = item.getchannel("A").getbbox()
    if bbox is not None:
        shadow = Image.new("L", (px, px), 0)
        x0, _, x1, y1 = bbox
        ImageDraw.Draw(shadow).ellipse([x0 + 4, y1 - 5, x1 - 4, min(px - 12, y1 + 3)], fill=40)
        shadow = shadow.filter(ImageFilter.BoxBlur(3))
        img.paste((int(base) - 30,) * 3, mask=shadow)
    img.paste(item, mask=item.getchannel("A"))
    return img


def _scene_background(px: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A textured or scene background (mid/dark tones, not uniform): gradient, noise, wood, wallpaper, sky."""
    yy, xx = _grid(px)
    kind = ("gradient", "noise", "wood", "wallpaper", "sky")[int(rng.integers(5))]
    if kind == "gradient":
        c0, c1 = rng.uniform(20, 150, 3), rng.uniform(60, 200, 3)
        t = ((yy + xx * rng.uniform(0, 1)) / (px * 2))[..., None]
        bg = c0 * (1 - t) + c1 * t
    elif kind == "noise":
        low = rng.uniform(40, 170, size=(8, 8, 3))
        bg = np.kron(low, np.ones((px // 8 + 1, px // 8 + 1, 1)))[:px, :px] + rng.normal(0, 18, (px, px, 3))
    elif kind == "wood":
        brown = np.array([130, 85, 50]) * rng.uniform(0.7, 1.2)
        grain = 0.8 + 0.2 * np.sin(yy / px * 60 + 3 * np.sin(xx / px * 5))
        plank = ((yy // (px / 4)) % 2) * 0.12 + 0.9
        bg = brown * (grain * plank)[..., None]
        bg[(yy % (px / 4)) < 2] *= 0.5
    elif kind == "wallpaper":
        c0, c1 = rng.uniform(40, 150, 3), rng.uniform(60, 180, 3)
        q = px / rng.uniform(6, 12)
        bg = np.where((((xx + rng.uniform(0, q)) % q) < q / 2)[..., None], c0, c1)
    else:
        horizon = px * rng.uniform(0.55, 0.75)
        t = (yy / horizon)[..., None]
        sky = np.array([70, 120, 200]) * (1 - t) + np.array([150, 185, 225]) * t
        ground = np.array([70, 110, 50]) * rng.uniform(0.7, 1.3) + rng.normal(0, 14, (px, px, 3))
        bg = np.where((yy > horizon)[..., None], ground, sky)
    return np.clip(bg, 0, 255).astype(np.uint8), kind


def _scene_image(item: Image.Image, rng: np.random.Generator) -> Image.Image:
    """``item`` over a scene background, sometimes tightly cropped (not a product shot)."""
    px = item.width
    bg_arr, _ = _scene_background(px, rng)
    img = Image.fromarray(bg_arr, "RGB")
    img.paste(item, mask=item.getchannel("A"))
    bbox = item.getchannel("A").getbbox()
    if bbox is not None and rng.random() < 0.5:   # tight crop: the item touches or leaves the frame
        x0, y0, x1, y1 = bbox
        side = max(x1 - x0, y1 - y0) * rng.uniform(0.7, 0.9)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        img = img.crop((int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2)))
        img = img.resize((px, px), Image.BILINEAR)
    return img


# ------------------------------------------------------------------------------------------ planning
def _choose_variant(category: str, theme: Theme | None, rng: np.random.Generator) -> str:
    options = _VARIANTS[category]
    if theme is not None:
        own = _THEME_VARIANTS.get(category, {}).get(theme.name)
        if own and rng.random() < 0.85:
            return own[int(rng.integers(len(own)))]
        idx = int(np.clip(round(theme.formality * (len(options) - 1) + rng.normal(0, 0.7)), 0, len(options) - 1))
        return options[idx]
    return options[int(rng.integers(len(options)))]


def _price(category: str, tier: int, rng: np.random.Generator) -> float:
    median = _BASE_PRICE[category] * _TIER_MULT[tier] * (_LUXURY_EXTRA.get(category, 1.0) if tier == 3 else 1.0)
    value = median * float(np.exp(rng.normal(0.0, 0.35)))
    return round(max(2.0, round(value)) - 0.01, 2)


def _accent_for(category: str, variant: str, theme: Theme | None, rng: np.random.Generator) -> str:
    if category in ("Sunglasses",):
        return "lens"
    if category in ("Sweaters", "Socks & Tights", "Gloves") or variant in ("hoodie", "bomber", "joggers", "denim",
                                                                          "beanie", "parka"):
        return "shade"
    if category in ("Shoes", "Boots"):
        return "white" if variant == "sneaker" else "tan" if variant == "sandal" else "dark"
    if category == "Handbags":
        return ("tan", "dark", "shade")[int(rng.integers(3))]
    if category == "Watches":
        return "tan" if theme is not None and theme.name in ("boho", "preppy", "nautical") else "dark"
    if variant in ("shirt",):
        return "white" if rng.random() < 0.5 else "shade"
    return "contrast" if rng.random() < 0.5 else "shade"


def _make_product(pid: str, category: str, theme: Theme | None, rng: np.random.Generator, is_shot: bool,
                  basic: tuple | None = None) -> _Product:
    if basic is not None:
        _, colour, pattern, variant, fits = basic
        name, tier = "basic", 1
        second, third = "white", "black"
    else:
        assert theme is not None
        pal = theme.palette
        w = np.linspace(1.6, 0.8, len(pal))
        colour = pal[int(rng.choice(len(pal), p=w / w.sum()))]
        others = [c for c in pal if c != colour]
        second, third = (others[int(i)] for i in rng.choice(len(others), 2, replace=False))
        if category in _SOLID_ONLY:
            pattern = "solid"
        else:
            pw = np.array(theme.pattern_weights, float)
            pattern = theme.patterns[int(rng.choice(len(pw), p=pw / pw.sum()))]
        if pattern == "leopard" and rng.random() < 0.6:
            colour, second = "camel", "tan"
        variant = _choose_variant(category, theme, rng)
        name, tier, fits = theme.name, theme.price_tier, (theme.name,)
    accent = _accent_for(category, variant, theme, rng)
    return _Product(pid=pid, category=category, theme=name, fits=tuple(fits), colour=colour, pattern=pattern,
                    variant=variant, price=_price(category, tier, rng), is_shot=is_shot,
                    popularity=float(np.exp(rng.normal(0, 0.8))), second=second, third=third, accent=accent)


def _category_counts(total: int, minimum: int) -> dict[str, int]:
    raw = {c: total * CATEGORY_SHARES[c] for c in CATEGORIES}
    counts = {c: max(minimum, int(np.floor(v))) for c, v in raw.items()}
    short = total - sum(counts.values())
    for c in sorted(CATEGORIES, key=lambda c: raw[c] - np.floor(raw[c]), reverse=True)[:max(0, short)]:
        counts[c] += 1
    return counts


def _plan_catalogue(cfg: UniverseConfig, rng: np.random.Generator) -> tuple[list[_Product], list[_Product]]:
    n_regular = max(int(round(cfg.products_per_outfit * cfg.size)), cfg.min_per_category * len(CATEGORIES))
    counts = _category_counts(n_regular, cfg.min_per_category)
    theme_names = list(THEMES)
    products: list[_Product] = []
    specs: list[tuple[str, Theme | None, tuple | None]] = []
    for cat in CATEGORIES:
        basics = [b for b in _BASICS if b[0] == cat]
        # A few copies of each basic (jitter makes them differ slightly); they are reused across many outfits.
        n_basic = min(counts[cat] - 1, max(1, int(round(cfg.basic_share * counts[cat]))), 4 * len(basics)) \
            if basics else 0
        for k in range(n_basic):
            specs.append((cat, None, basics[k % len(basics)]))
        w = np.array([THEMES[t].category_weight(cat) for t in theme_names])
        w = w / w.sum()
        n_theme = counts[cat] - n_basic
        # Every theme that wears the category gets products before the random draw (small universes too).
        wearers = [t for t, x in zip(theme_names, w) if x > 0]
        order = [wearers[int(i)] for i in rng.permutation(len(wearers))]
        chosen = order[:n_theme] + [theme_names[int(i)] for i in rng.choice(len(w), max(0, n_theme - len(order)),
                                                                            p=w)]
        specs.extend((cat, THEMES[t], None) for t in chosen)
    for i, (cat, theme, basic) in enumerate(specs):
        products.append(_make_product(f"p{i:05d}", cat, theme, rng, True, basic))
    n_scenes = int(round(cfg.scene_share * len(products)))
    shares = np.array([CATEGORY_SHARES[c] for c in CATEGORIES])
    scenes = []
    for k in range(n_scenes):
        cat = CATEGORIES[int(rng.choice(len(CATEGORIES), p=shares))]
        w = np.array([THEMES[t].category_weight(cat) for t in theme_names])
        theme = THEMES[theme_names[int(rng.choice(len(w), p=w / w.sum()))]]
        scenes.append(_make_product(f"p{len(products) + k:05d}", cat, theme, rng, False))
    return products, scenes


@dataclass
class _Outfit:
    oid: str
    theme: str
    defect: str
    products: list[_Product]


def _pick(cands: list[_Product], rng: np.random.Generator) -> _Product:
    w = np.array([p.popularity for p in cands])
    return cands[int(rng.choice(len(cands), p=w / w.sum()))]


_GARMENTS = ("Shirts & Tops", "Pants", "Skirts", "Shorts", "Dresses", "Jumpsuits", "Swimwear")


def _compose(theme: Theme, n: int, by_theme: dict, basics: dict, by_category: dict,
             rng: np.random.Generator) -> list[_Product]:
    """Up to ``n`` products of distinct, slot-compatible categories for ``theme`` (mostly its own, some basics).

    When the theme's own products and basics cannot fill three categories (only in tiny universes), the
    outfit borrows products of other themes.
    """
    chosen: list[_Product] = []
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


def _lab(name: str) -> np.ndarray:
    """CIE Lab (D65) of a named colour."""
    c = np.array(COLOURS[name], float) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ c
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _colourful(items: list[_Product], min_delta_e: float = 30.0) -> bool:
    """True when two items differ clearly in colour (so image-based monochrome cleanup keeps the outfit)."""
    labs = [_lab(p.colour) for p in items]
    return any(np.linalg.norm(a - b) > min_delta_e for a, b in combinations(labs, 2))


def _monochrome(colour_pool: dict, rng: np.random.Generator, n: int) -> list[_Product]:
    """Up to ``n`` plain products of one colour in compatible categories (a defect outfit), or [] if impossible."""
    # Plain garments only: a watch, a jewel or sunglasses show mostly metal or lens, not their named colour.
    colour_pool = {c: [p for p in ps if p.pattern in ("solid", "denim") and p.category not in _SOLID_ONLY]
                   for c, ps in colour_pool.items()}
    colours = sorted(c for c, ps in colour_pool.items() if len({p.category for p in ps}) >= 3)
    order = [colours[int(i)] for i in rng.permutation(len(colours))]
    if "black" in order and rng.random() < 0.5:
        order.remove("black")
        order.insert(0, "black")
    for colour in order:
        cands = colour_pool[colour]
        chosen: list[_Product] = []
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


def _plan_outfits(cfg: UniverseConfig, products: list[_Product], rng: np.random.Generator) -> list[_Outfit]:
    by_theme: dict[tuple[str, str], list[_Product]] = {}
    basics: dict[tuple[str, str], list[_Product]] = {}
    by_category: dict[str, list[_Product]] = {}
    colour_pool: dict[str, list[_Product]] = {}
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
        items: list[_Product] = []
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
        outfits.append(_Outfit(f"o{k:05d}", theme.name, defect, items))
    return outfits


# ------------------------------------------------------------------------------------------- collages
def _iou(a: tuple, b: tuple) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter) if inter > 0 else 0.0


def _layout(n: int, px: int, rng: np.random.Generator) -> list[tuple[int, int, int, int]]:
    """``n`` square boxes (x, y, w, h) in pixels on a grid with jitter; neighbours overlap with IoU < 0.1."""
    cols, rows = (2, 2) if n <= 4 else (3, 2) if n <= 6 else (3, 3)
    if n in (5, 6) and rng.random() < 0.5:
        cols, rows = 2, 3
    cw, ch = px / cols, px / rows
    cells = rng.permutation(cols * rows)[:n]
    boxes = []
    for cell in cells:
        r, c = divmod(int(cell), cols)
        s = int(min(cw, ch) * rng.uniform(0.80, 0.98))
        x = c * cw + rng.uniform(0, max(0.0, cw - s))
        y = r * ch + rng.uniform(0, max(0.0, ch - s))
        boxes.append((int(np.clip(x, 0, px - s)), int(np.clip(y, 0, px - s)), s, s))
    return boxes


def _collage(outfit: _Outfit, images: dict[str, Image.Image], px: int,
             rng: np.random.Generator) -> tuple[Image.Image, list[tuple[tuple[int, int, int, int], _Product]]]:
    items = list(outfit.products)
    boxes = _layout(len(items), px, rng)
    placed = list(zip(boxes, items))
    if outfit.defect == "overlap" and len(placed) >= 2:
        (bx, by, bs, _), _ = placed[0]
        (_, _, s2, _), p2 = placed[1]
        for _ in range(20):
            dx, dy = (rng.uniform(-0.45, 0.45, 2) * bs).astype(int)
            x, y = int(np.clip(bx + dx, 0, px - s2)), int(np.clip(by + dy, 0, px - s2))
            if _iou((bx, by, bs, bs), (x, y, s2, s2)) > 0.15:
                break
        placed[1] = ((x, y, s2, s2), p2)
    elif outfit.defect == "duplicate" and placed:
        (bx, by, bs, _), p = placed[int(rng.integers(len(placed)))]
        s = int(bs * rng.uniform(0.9, 1.05))
        x = int(np.clip(bx + rng.integers(-12, 13), 0, px - s))
        y = int(np.clip(by + rng.integers(-12, 13), 0, px - s))
        placed.append(((x, y, s, s), p))
    elif outfit.defect == "tiny" and placed:
        p = placed[int(rng.integers(len(placed)))][1]
        s = int(px * rng.uniform(0.12, 0.19))
        placed.append(((int(rng.integers(0, px - s)), int(rng.integers(0, px - s)), s, s), p))
    img = Image.new("RGB", (px, px), (255, 255, 255))
    for (x, y, s, _), p in placed:
        img.paste(images[p.pid].resize((s, s), Image.BILINEAR), (x, y))
    return img, placed


# -------------------------------------------------------------------------------------------- public
def generate_universe(ws: Workspace, config: UniverseConfig = UniverseConfig(),
                      progress: Progress | None = None) -> dict:
    """Build the demo universe into ``ws`` (replacing an earlier one) and return counts.

    Returns ``{"products", "product_shots", "scenes", "outfits", "boxes", "defects": {kind: outfits}}``.
    Rows of other sources in catalogue.csv / raw_boxes.csv are kept.
    """
    ws.ensure()
    cfg = config
    rng = np.random.default_rng(cfg.seed)
    products, scenes = _plan_catalogue(cfg, rng)
    outfits = _plan_outfits(cfg, products, rng)

    out_dirs = {k: ws.universe_dir / k for k in ("products", "scenes", "collages")}
    for d in out_dirs.values():
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)

    everything = products + scenes
    total = len(everything)
    step = max(1, total // 100)
    images: dict[str, Image.Image] = {}
    rows = []
    for i, p in enumerate(everything):
        prng = np.random.default_rng([cfg.seed, 1, i])
        theme = THEMES.get(p.theme)
        metal = theme.metal if theme is not None else ("silver" if prng.random() < 0.5 else "gold")
        item = _draw_item(p, cfg.product_px, prng, metal)
        if p.is_shot:
            img = _product_shot(item, prng)
            path = out_dirs["products"] / f"{p.pid}.png"
            img.save(path, format="PNG", compress_level=1)
            images[p.pid] = img
        else:
            img = _scene_image(item, prng)
            path = out_dirs["scenes"] / f"{p.pid}.jpg"
            img.save(path, format="JPEG", quality=cfg.jpeg_quality)
        rows.append({"product_id": p.pid, "category": p.category, "price": p.price, "title": p.title,
                     "image_path": ws.rel(path), "source": "demo", "is_product_shot": p.is_shot,
                     "theme": p.theme, "colour": p.colour})
        if progress is not None and (i % step == 0 or i == total - 1):
            progress("products", i + 1, total)

    box_rows, outfit_rows = [], []
    defects = {k: 0 for k in DEFECT_KINDS}
    n_out = len(outfits)
    step = max(1, n_out // 100)
    for k, o in enumerate(outfits):
        crng = np.random.default_rng([cfg.seed, 2, k])
        img, placed = _collage(o, images, cfg.collage_px, crng)
        path = out_dirs["collages"] / f"{o.oid}.jpg"
        img.save(path, format="JPEG", quality=cfg.jpeg_quality)
        rel = ws.rel(path)
        s = float(cfg.collage_px)
        for (x, y, w, h), p in placed:
            box_rows.append({"outfit_id": o.oid, "image_path": rel, "x": round(x / s, 5), "y": round(y / s, 5),
                             "w": round(w / s, 5), "h": round(h / s, 5), "label": p.category,
                             "product_id": p.pid})
        if o.defect in defects:
            defects[o.defect] += 1
        outfit_rows.append({"outfit_id": o.oid, "theme": o.theme, "defect": o.defect, "n_items": len(o.products),
                            "product_ids": ";".join(p.pid for p in o.products)})
        if progress is not None and (k % step == 0 or k == n_out - 1):
            progress("collages", k + 1, n_out)

    catalogue = pd.DataFrame(rows, columns=CATALOGUE_COLUMNS)
    boxes = pd.DataFrame(box_rows, columns=RAW_BOX_COLUMNS)
    universe_prefix = ws.rel(ws.universe_dir) + "/"
    if ws.catalogue_csv.exists():
        old = read_table(ws.catalogue_csv, CATALOGUE_COLUMNS)
        catalogue = pd.concat([catalogue, old[old["source"] != "demo"]], ignore_index=True)
    if ws.raw_boxes_csv.exists():
        old = read_table(ws.raw_boxes_csv, RAW_BOX_COLUMNS)
        boxes = pd.concat([boxes, old[~old["image_path"].str.startswith(universe_prefix)]], ignore_index=True)
    write_table(catalogue, ws.catalogue_csv, CATALOGUE_COLUMNS)
    write_table(boxes, ws.raw_boxes_csv, RAW_BOX_COLUMNS)
    write_table(pd.DataFrame(outfit_rows), ws.universe_dir / "outfits.csv",
                ["outfit_id", "theme", "defect", "n_items", "product_ids"])
    return {"products": total, "product_shots": len(products), "scenes": len(scenes), "outfits": n_out,
            "boxes": len(box_rows), "defects": defects}
