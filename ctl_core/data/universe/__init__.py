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
  data/catalogue.csv, data/raw_boxes.csv (columns from ``ctl_core.data.tables``)

Collages carry realistic defects for the cleanup rules (paper sec. 4.3): overlapping boxes, tiny boxes,
duplicate boxes, monochrome outfits and outfits with too few categories (each roughly 5-10% of outfits).
Everything derives from ``numpy.random.Generator`` streams seeded by ``UniverseConfig.seed``: the same seed
gives byte-identical tables and images.

Modules: ``themes`` (colours, themes, clashing pairs), ``products`` (variants, names, basics, prices, catalogue
plan), ``outfits`` (outfit composition and defects), ``drawing`` (the item canvas), ``garments`` and
``accessories`` (the 21 silhouettes), ``patterns`` (fabric patterns), ``render`` (product shots and scene
images), ``collage`` (outfit collages and box defects), ``config`` (``UniverseConfig``) and ``generate``
(``generate_universe``, which writes everything).
"""
from __future__ import annotations

from ctl_core.data.universe.config import UniverseConfig
from ctl_core.data.universe.generate import generate_universe
from ctl_core.data.universe.outfits import DEFECT_KINDS
from ctl_core.data.universe.themes import CLASHING_THEMES, COLOURS, METALS, PRICE_TIERS, THEMES, Theme

__all__ = ["CLASHING_THEMES", "COLOURS", "DEFECT_KINDS", "METALS", "PRICE_TIERS", "THEMES", "Theme",
           "UniverseConfig", "generate_universe"]
