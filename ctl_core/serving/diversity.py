"""Diversity within one category row: maximal marginal relevance (Carbonell & Goldstein, 1998) over how items look.

The paper names "more diversity in results" as future work. A row of six near-identical black sandals is the
nearest six in style space, and a product manager sees one product six times. ``mmr_positions`` picks a row
greedily: each next item minimises ``base + weight * max(0, max cosine to the items already in the row)``, where
``base`` is the candidate's score (Euclidean style distance plus any price term) and the cosine is between
*backbone* features (how the images look; the style vectors of one category are all close to the query by
construction, so they cannot tell look-alikes apart). The first item is always the nearest: a row's top pick,
and so fill-in-the-blank, never changes. Colour variants and near-identical images are removed before this
(``duplicates``), so the term only has to spread what is left. ``BlendConfig.row_diversity`` switches it.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def mmr_positions(base: np.ndarray, feats: np.ndarray | None, n: int, weight: float,
                  duplicates: Callable[[int], np.ndarray] | None = None) -> list[int]:
    """Up to ``n`` positions of a candidate pool (``base`` ascending = better), in row order (see the module docs).

    ``feats``: unit vectors per candidate (None or ``weight`` 0: plain order); ``duplicates(i)``: a boolean mask
    of the candidates that duplicate candidate ``i`` (dropped once ``i`` is picked).
    """
    base = np.asarray(base, dtype=float)
    m = len(base)
    blocked = np.zeros(m, bool)
    closest = np.full(m, -np.inf)  # max cosine to the items picked so far
    kept: list[int] = []
    while len(kept) < n:
        free = np.flatnonzero(~blocked)
        if not len(free):
            break
        score = base[free] + (weight * np.maximum(closest[free], 0.0) if kept and weight and feats is not None else 0)
        i = int(free[int(np.argmin(score))])  # ties: the earlier (pools are sorted by base)
        kept.append(i)
        blocked[i] = True
        if duplicates is not None:
            blocked |= duplicates(i)
        if feats is not None and weight:
            closest = np.maximum(closest, feats @ feats[i])
    return kept
