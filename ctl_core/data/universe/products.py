"""What products the demo universe sells and how they are planned: shape variants, names, versatile basics,
prices, and the catalogue plan (how many products per category, for which themes, which are scene images).

A ``Product`` is only a plan (category, theme, colours, pattern, variant, price); ``render`` draws it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ctl_core.data.categories import CATEGORIES, CATEGORY_SHARES
from ctl_core.data.universe.config import UniverseConfig
from ctl_core.data.universe.themes import THEMES, Theme

# ------------------------------------------------------------------------------------------ prices
# Price multiplier per tier (index into themes.PRICE_TIERS).
_TIER_MULT = (0.45, 1.0, 1.9, 4.5)
# Median price (mid tier) per category; luxury bags, watches and jewelry cost far more than the tier alone says.
_BASE_PRICE: dict[str, float] = {
    "Shoes": 80, "Handbags": 120, "Shirts & Tops": 35, "Pants": 55, "Coats & Jackets": 150, "Dresses": 90,
    "Jewelry": 60, "Hats": 30, "Skirts": 45, "Sunglasses": 50, "Shorts": 30, "Scarves & Shawls": 35,
    "Watches": 150, "Belts": 35, "Boots": 130, "Sweaters": 70, "Swimwear": 45, "Jumpsuits": 80,
    "Socks & Tights": 12, "Gloves": 30, "Ties": 40,
}
_LUXURY_EXTRA = {"Handbags": 3.0, "Watches": 3.5, "Jewelry": 3.0, "Coats & Jackets": 1.5, "Shoes": 1.4}
# Categories always drawn plain: they show mostly metal or lens, so a pattern would not be seen.
SOLID_ONLY = {"Jewelry", "Watches", "Sunglasses"}

# -------------------------------------------------------------------------------------- vocabulary
# Shape variants per category, from casual to formal; a theme may name its own (beach -> sandals).
VARIANTS: dict[str, tuple[str, ...]] = {
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


@dataclass
class Product:
    """One planned catalogue product: what it is, what it looks like, what it costs, where it is worn."""

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


# ------------------------------------------------------------------------------------------ planning
def _choose_variant(category: str, theme: Theme | None, rng: np.random.Generator) -> str:
    options = VARIANTS[category]
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
                  basic: tuple | None = None) -> Product:
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
        if category in SOLID_ONLY:
            pattern = "solid"
        else:
            pw = np.array(theme.pattern_weights, float)
            pattern = theme.patterns[int(rng.choice(len(pw), p=pw / pw.sum()))]
        if pattern == "leopard" and rng.random() < 0.6:
            colour, second = "camel", "tan"
        variant = _choose_variant(category, theme, rng)
        name, tier, fits = theme.name, theme.price_tier, (theme.name,)
    accent = _accent_for(category, variant, theme, rng)
    return Product(pid=pid, category=category, theme=name, fits=tuple(fits), colour=colour, pattern=pattern,
                    variant=variant, price=_price(category, tier, rng), is_shot=is_shot,
                    popularity=float(np.exp(rng.normal(0, 0.8))), second=second, third=third, accent=accent)


def _category_counts(total: int, minimum: int) -> dict[str, int]:
    raw = {c: total * CATEGORY_SHARES[c] for c in CATEGORIES}
    counts = {c: max(minimum, int(np.floor(v))) for c, v in raw.items()}
    short = total - sum(counts.values())
    for c in sorted(CATEGORIES, key=lambda c: raw[c] - np.floor(raw[c]), reverse=True)[:max(0, short)]:
        counts[c] += 1
    return counts


def plan_catalogue(cfg: UniverseConfig, rng: np.random.Generator) -> tuple[list[Product], list[Product]]:
    n_regular = max(int(round(cfg.products_per_outfit * cfg.size)), cfg.min_per_category * len(CATEGORIES))
    counts = _category_counts(n_regular, cfg.min_per_category)
    theme_names = list(THEMES)
    products: list[Product] = []
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

