"""Batch samplers and miners for the five training methods of Table 4 (paper sec. 5.1, 6.2).

PML style: a sampler picks which items go into a batch, a miner picks pairs/triplets among the batch's items,
and a loss (ctl_core.training.losses) consumes them. Everything is built from two label arrays: item -> outfit and
item -> category. Indices returned by miners are positions inside the batch.

- ``OutfitBatchSampler``: each batch holds ``items_per_outfit`` items of distinct categories from each of
  ``batch_size // items_per_outfit`` outfits (so every batch has heterogeneous positives). With
  ``category_negatives=True`` it also appends, for every category in the batch, one item of that category from
  an outfit *not* in the batch, so a same-category negative always exists (triplet-category).
- ``HeterogeneousPairMiner``: positives = pairs of items of different categories from one outfit; negatives =
  (anchor, random item of another outfit), exactly ``neg_per_pos`` per positive (16:1 or 1:1).
- ``TripletMiner``: (anchor, positive of another category from the same outfit, negative) with the negative a
  random item of another outfit (``"random"``) or a random item of the positive's category from another outfit
  (``"category"``).
- ``ProxySampler``: the proxies (= outfits) a proxy-softmax step scores against: the batch's outfits plus random
  others, ``min(num_proxies, num_outfits)`` in all, no duplicates.

Negatives are drawn from the batch's own items (in-batch negatives): each item is embedded once per step, so a
16:1 ratio costs no more backbone/head compute than 1:1. Batches are random outfit samples, so an in-batch
random negative is a random item of a random other outfit.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch


def encode_labels(values: Sequence | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map arbitrary labels (str/int) to codes 0..K-1; returns (codes int64, unique values in code order)."""
    uniques, codes = np.unique(np.asarray(values), return_inverse=True)
    return codes.astype(np.int64).reshape(-1), uniques


class OutfitBatchSampler:
    """Yields batches (np.ndarray of item indices) built outfit by outfit; one epoch visits every usable outfit once.

    An outfit is usable when it has items of at least two distinct categories. Iterating again starts a new
    epoch with a new order (the generator state carries over), so a seeded sampler gives a seeded run.
    """

    def __init__(self, outfit_ids: Sequence | np.ndarray, categories: Sequence | np.ndarray, batch_size: int,
                 items_per_outfit: int = 4, category_negatives: bool = False, seed: int = 0):
        outfits, _ = encode_labels(outfit_ids)
        cats = np.asarray(categories, dtype=np.int64).reshape(-1)
        assert len(outfits) == len(cats), (
            f"outfit_ids and categories must have one entry per item, got {len(outfits)} and {len(cats)}")
        assert items_per_outfit >= 2, f"items_per_outfit must be at least 2 (a positive pair), got {items_per_outfit}"
        assert batch_size >= 2 * items_per_outfit, (
            f"batch_size must hold at least two outfits of items_per_outfit items, got {batch_size} and "
            f"{items_per_outfit}")
        self.outfits, self.categories = outfits, cats
        self.items_per_outfit = items_per_outfit
        self.category_negatives = category_negatives
        self.rng = np.random.default_rng(seed)
        order = np.argsort(outfits, kind="stable")
        bounds = np.flatnonzero(np.diff(outfits[order])) + 1
        groups = np.split(order, bounds)
        self.members = [g for g in groups if len(np.unique(cats[g])) >= 2]
        assert len(self.members) >= 2, (
            f"need at least two outfits with items of two different categories, got {len(self.members)}")
        self.outfits_per_batch = min(batch_size // items_per_outfit, len(self.members))
        if category_negatives:
            self.by_category = {int(c): np.flatnonzero(cats == c) for c in np.unique(cats)}

    def __len__(self) -> int:
        return len(self.members) // self.outfits_per_batch  # drop_last: every batch has outfits_per_batch outfits

    def _pick(self, members: np.ndarray) -> np.ndarray:
        """Up to items_per_outfit items of distinct categories, one random item per category."""
        members = members[self.rng.permutation(len(members))]
        _, first = np.unique(self.categories[members], return_index=True)
        distinct = members[first]
        distinct = distinct[self.rng.permutation(len(distinct))]
        return distinct[: self.items_per_outfit]

    def _category_negatives(self, batch: np.ndarray) -> np.ndarray:
        """One item per batch category, from an outfit not in the batch (skipped when none exists)."""
        in_batch = set(self.outfits[batch].tolist())
        extra = []
        for c in np.unique(self.categories[batch]):
            pool = self.by_category[int(c)]
            for _ in range(20):  # rejection sampling: batch outfits are a small share of the pool
                j = int(pool[self.rng.integers(len(pool))])
                if self.outfits[j] not in in_batch:
                    extra.append(j)
                    break
            else:
                outside = pool[~np.isin(self.outfits[pool], list(in_batch))]
                if len(outside):
                    extra.append(int(outside[self.rng.integers(len(outside))]))
        return np.asarray(extra, dtype=np.int64)

    def __iter__(self) -> Iterator[np.ndarray]:
        order = self.rng.permutation(len(self.members))
        k = self.outfits_per_batch
        for b in range(len(self)):
            chosen = order[b * k:(b + 1) * k]
            batch = np.concatenate([self._pick(self.members[i]) for i in chosen])
            if self.category_negatives:
                batch = np.concatenate([batch, self._category_negatives(batch)])
            yield batch


def _as_long(*arrays: np.ndarray) -> tuple[torch.Tensor, ...]:
    return tuple(torch.as_tensor(np.asarray(a, dtype=np.int64)) for a in arrays)


def _positive_pairs(outfits: np.ndarray, categories: np.ndarray, ordered: bool) -> tuple[np.ndarray, np.ndarray]:
    """Batch positions (i, j) of heterogeneous dyads: same outfit, different categories (i < j unless ordered)."""
    same = (outfits[:, None] == outfits[None, :]) & (categories[:, None] != categories[None, :])
    if not ordered:
        same &= np.triu(np.ones_like(same), k=1)
    a, p = np.nonzero(same)
    return a, p


def _random_other_outfit(anchors: np.ndarray, outfits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each anchor position, a uniformly random batch position of another outfit."""
    assert len(np.unique(outfits)) >= 2, "a batch needs items of at least two outfits to draw negatives"
    neg = rng.integers(len(outfits), size=len(anchors))
    bad = outfits[neg] == outfits[anchors]
    while bad.any():  # rejection: the anchor's own outfit is a small share of the batch
        neg[bad] = rng.integers(len(outfits), size=int(bad.sum()))
        bad = outfits[neg] == outfits[anchors]
    return neg


class HeterogeneousPairMiner:
    """Contrastive pairs (a1, p, a2, n): heterogeneous positive dyads and exactly ``neg_per_pos`` negatives each."""

    def __init__(self, neg_per_pos: int, seed: int = 0):
        assert neg_per_pos >= 1, f"neg_per_pos must be at least 1, got {neg_per_pos}"
        self.neg_per_pos = neg_per_pos
        self.rng = np.random.default_rng(seed)

    def mine(self, outfits: np.ndarray, categories: np.ndarray) -> tuple[torch.Tensor, ...]:
        outfits, categories = np.asarray(outfits), np.asarray(categories)
        a1, p = _positive_pairs(outfits, categories, ordered=False)
        a2 = np.repeat(a1, self.neg_per_pos)
        n = _random_other_outfit(a2, outfits, self.rng)
        assert len(a2) == self.neg_per_pos * len(a1), (
            f"expected {self.neg_per_pos} negatives per positive, got {len(a2)} for {len(a1)}")
        return _as_long(a1, p, a2, n)


class TripletMiner:
    """Triplets (a, p, n): p of another category in a's outfit; n random ("random") or of p's category ("category").

    With ``negatives="category"`` a positive whose category has no item of another outfit in the batch is
    dropped (``OutfitBatchSampler(category_negatives=True)`` makes that not happen); ``last_dropped`` counts them.
    ``per_positive`` negatives (distinct, fewer where the batch has fewer valid ones) are drawn for each (a, p):
    more triplets from the same embedded batch. ``extra_random`` adds that many random negatives (any item of
    another outfit) per (a, p) on top of category negatives.
    """

    def __init__(self, negatives: str = "random", seed: int = 0, per_positive: int = 1, extra_random: int = 0):
        assert negatives in ("random", "category"), f"negatives must be 'random' or 'category', got {negatives!r}"
        assert per_positive >= 1 and extra_random >= 0, (
            f"need per_positive >= 1 and extra_random >= 0, got {per_positive} and {extra_random}")
        self.negatives = negatives
        self.per_positive = per_positive
        self.extra_random = extra_random if negatives == "category" else 0
        self.rng = np.random.default_rng(seed)
        self.last_dropped = 0

    def _draw(self, valid: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(row, column) of up to ``k`` uniformly random distinct valid columns per row of ``valid``."""
        scores = np.where(valid, self.rng.random(valid.shape), -1.0)
        k = min(k, valid.shape[1])
        cols = scores.argmax(axis=1)[:, None] if k == 1 else np.argpartition(-scores, k - 1, axis=1)[:, :k]
        ok = np.take_along_axis(scores, cols, axis=1) >= 0
        rows = np.repeat(np.arange(len(valid)), k).reshape(len(valid), k)
        return rows[ok], cols[ok]

    def mine(self, outfits: np.ndarray, categories: np.ndarray) -> tuple[torch.Tensor, ...]:
        outfits, categories = np.asarray(outfits), np.asarray(categories)
        a, p = _positive_pairs(outfits, categories, ordered=True)
        if self.negatives == "random" and self.per_positive == 1:
            n = _random_other_outfit(a, outfits, self.rng)
            self.last_dropped = 0
            return _as_long(a, p, n)
        other = outfits[None, :] != outfits[a][:, None]
        valid = other & (categories[None, :] == categories[p][:, None]) if self.negatives == "category" else other
        self.last_dropped = int((~valid.any(axis=1)).sum())
        rows, n = self._draw(valid, self.per_positive)
        if self.extra_random:
            r2, n2 = self._draw(other, self.extra_random)
            rows, n = np.concatenate([rows, r2]), np.concatenate([n, n2])
        return _as_long(a[rows], p[rows], n)


class ProxySampler:
    """Which proxies (outfit codes) a proxy-softmax step scores: the batch's outfits + random others, no duplicates."""

    def __init__(self, num_outfits: int, num_proxies: int = 2048, seed: int = 0):
        assert num_outfits >= 1 and num_proxies >= 1, (
            f"num_outfits and num_proxies must be positive, got {num_outfits} and {num_proxies}")
        self.num_outfits = num_outfits
        self.count = min(num_proxies, num_outfits)
        self.rng = np.random.default_rng(seed)

    def sample(self, batch_outfits: np.ndarray) -> np.ndarray:
        """Sorted outfit codes: every code in ``batch_outfits`` plus random others, ``count`` in all."""
        batch = np.unique(np.asarray(batch_outfits, dtype=np.int64))
        assert len(batch) <= self.count, (
            f"a batch holds {len(batch)} outfits but only {self.count} proxies are sampled; "
            "raise num_proxies or lower the batch size")
        assert batch.min() >= 0 and batch.max() < self.num_outfits, "batch outfit codes out of range"
        k = self.count - len(batch)
        # A uniform (k + |batch|)-subset minus the batch members, cut to k, is a uniform k-subset of the rest;
        # this costs O(count), not O(num_outfits).
        cand = self.rng.choice(self.num_outfits, size=self.count, replace=False)
        others = cand[~np.isin(cand, batch)][:k]
        out = np.sort(np.concatenate([batch, others]))
        assert len(out) == self.count and len(np.unique(out)) == self.count, "proxy sample has duplicates"
        return out
