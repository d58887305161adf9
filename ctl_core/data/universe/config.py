"""``UniverseConfig``: the size, seed and image sizes of the demo universe (checked on construction)."""
from __future__ import annotations

from dataclasses import dataclass


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
