"""TripletMiner's ``per_positive``: several distinct valid negatives per (anchor, positive) from one batch."""
from __future__ import annotations

from collections import Counter

import numpy as np

from ctl_core.training.samplers import TripletMiner


def _batch():
    return np.repeat(np.arange(6), 3), np.tile([0, 1, 2], 6)  # 6 outfits of 3 categories


def test_category_negatives_per_positive_are_distinct_valid_and_capped():
    outfits, cats = _batch()
    a, p, n = (t.numpy() for t in TripletMiner("category", seed=0, per_positive=3).mine(outfits, cats))
    assert (cats[n] == cats[p]).all() and (outfits[n] != outfits[a]).all() and (cats[a] != cats[p]).all()
    per_pair = Counter(zip(a.tolist(), p.tolist()))
    assert len(per_pair) == 36 and set(per_pair.values()) == {3}
    assert len(set(zip(a.tolist(), p.tolist(), n.tolist()))) == len(a)  # no repeated triplet
    # only 5 other outfits hold the positive's category: asking for 10 gives those 5
    a, p, n = (t.numpy() for t in TripletMiner("category", seed=0, per_positive=10).mine(outfits, cats))
    assert set(Counter(zip(a.tolist(), p.tolist())).values()) == {5}


def test_random_negatives_per_positive_and_the_default_of_one():
    outfits, cats = _batch()
    a, p, n = (t.numpy() for t in TripletMiner("random", seed=0, per_positive=4).mine(outfits, cats))
    assert len(a) == 36 * 4 and (outfits[n] != outfits[a]).all()
    a1, _, _ = (t.numpy() for t in TripletMiner("category", seed=0).mine(outfits, cats))
    assert len(a1) == 36


def test_extra_random_negatives_come_on_top_of_category_ones():
    outfits, cats = _batch()
    a, p, n = (t.numpy() for t in TripletMiner("category", seed=0, per_positive=2, extra_random=3).mine(outfits, cats))
    assert len(a) == 36 * 5 and (outfits[n] != outfits[a]).all()
    assert (cats[n] != cats[p]).any()  # some negatives are of another category
    same = Counter((x, y) for x, y, z in zip(a.tolist(), p.tolist(), (cats[n] == cats[p]).tolist()) if z)
    assert len(same) == 36 and min(same.values()) >= 2  # the two category negatives of every (a, p) are there
