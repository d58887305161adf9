"""The drawing surface of one item: ``Canvas`` keeps four greyscale layers (body, accessory colour, metal,
detail lines) drawn in unit coordinates with a little hand-drawn wobble; ``arc`` gives points on an ellipse.

The silhouette drawers in ``garments`` and ``accessories`` draw on it; ``render`` colours the layers.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


class Canvas:
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


def arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 24) -> list:
    """Points on an ellipse arc, angles in degrees (0 = right, 90 = down)."""
    t = np.radians(np.linspace(a0, a1, n))
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in t]
