"""Invariants of the batch sampler, the pair/triplet miners and the proxy sampler."""
from __future__ import annotations

import numpy as np
import pytest

from ctl_core.training.samplers import (
    HeterogeneousPairMiner,
    OutfitBatchSampler,
    ProxySampler,
    TripletMiner,
    encode_labels,
)


def _labels(n_outfits: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Outfits of 3-6 items; outfit 0 has a repeated category, outfit 1 is single-category (unusable)."""
    rng = np.random.default_rng(seed)
    outfits, cats = [], []
    for o in range(n_outfits):
        k = int(rng.integers(3, 7))
        if o == 1:
            c = [5] * k
        else:
            c = list(rng.choice(21, size=k, replace=False))
            if o == 0:
                c[1] = c[0]
        outfits += [f"outfit-{o}"] * k
        cats += c
    return np.array(outfits), np.array(cats)


def _batches(**kw):
    outfit_ids, cats = _labels()
    codes, _ = encode_labels(outfit_ids)
    sampler = OutfitBatchSampler(outfit_ids, cats, **kw)
    return codes, cats, sampler


def test_batches_hold_distinct_category_items_of_whole_outfits_once_per_epoch():
    codes, cats, sampler = _batches(batch_size=16, items_per_outfit=4, seed=1)
    unusable = codes[np.asarray(_labels()[0]) == "outfit-1"][0]
    seen = []
    batches = list(sampler)
    assert len(batches) == len(sampler) == 39 // 4
    for b in batches:
        outs = codes[b]
        assert len(np.unique(outs)) == sampler.outfits_per_batch == 4
        for o in np.unique(outs):
            members = b[outs == o]
            assert 2 <= len(members) <= 4
            assert len(np.unique(cats[members])) == len(members), "items of one outfit must have distinct categories"
        seen += list(np.unique(outs))
    assert len(seen) == len(set(seen)), "an outfit appears twice in one epoch"
    assert unusable not in seen, "a single-category outfit cannot give heterogeneous positives"


def test_sampler_is_seeded_and_epochs_differ():
    _, _, s1 = _batches(batch_size=16, seed=3)
    _, _, s2 = _batches(batch_size=16, seed=3)
    e1, e2 = [b.tolist() for b in s1], [b.tolist() for b in s2]
    assert e1 == e2
    assert [b.tolist() for b in s1] != e1, "a second epoch should shuffle again"


def test_category_negatives_are_added_from_outfits_outside_the_batch():
    codes, cats, sampler = _batches(batch_size=16, items_per_outfit=4, category_negatives=True, seed=2)
    for b in sampler:
        # the batch's own outfits come first, outfit by outfit; the outside negatives follow
        firsts = np.flatnonzero(np.r_[True, codes[b][1:] != codes[b][:-1]])
        n_core = firsts[sampler.outfits_per_batch] if len(firsts) > sampler.outfits_per_batch else len(b)
        core, extra = b[:n_core], b[n_core:]
        assert len(np.unique(codes[core])) == sampler.outfits_per_batch
        assert not set(codes[extra]) & set(codes[core])
        assert set(cats[extra]) <= set(cats[core])
        for c in np.unique(cats[core]):
            assert (cats[extra] == c).any(), f"no outside negative for category {c}"


def test_sampler_asserts_say_what_is_wrong():
    outfit_ids, cats = _labels()
    with pytest.raises(AssertionError, match="batch_size must hold at least two outfits"):
        OutfitBatchSampler(outfit_ids, cats, batch_size=6, items_per_outfit=4)
    with pytest.raises(AssertionError, match="one entry per item"):
        OutfitBatchSampler(outfit_ids, cats[:-1], batch_size=16)
    with pytest.raises(AssertionError, match="at least two outfits"):
        OutfitBatchSampler(["a", "a", "b"], [1, 2, 2], batch_size=8, items_per_outfit=2)


def _one_batch(category_negatives: bool = False):
    codes, cats, sampler = _batches(batch_size=32, items_per_outfit=4, category_negatives=category_negatives)
    b = next(iter(sampler))
    local, _ = encode_labels(codes[b])
    return local, cats[b]


@pytest.mark.parametrize("ratio", [16, 1])
def test_heterogeneous_pairs(ratio):
    outfits, cats = _one_batch()
    a1, p, a2, n = (t.numpy() for t in HeterogeneousPairMiner(ratio, seed=0).mine(outfits, cats))
    assert len(a1) > 0
    assert len(a2) == ratio * len(a1), "negative:positive ratio must be exact"
    assert (outfits[a1] == outfits[p]).all(), "positives come from one outfit"
    assert (cats[a1] != cats[p]).all(), "positives cross categories (heterogeneous dyads)"
    assert (a1 < p).all(), "each unordered positive pair once"
    # every heterogeneous dyad of the batch is a positive
    expected = sum(int((cats[outfits == o][:, None] != cats[outfits == o][None, :]).sum()) // 2
                   for o in np.unique(outfits))
    assert len(a1) == expected
    assert (outfits[a2] != outfits[n]).all(), "negatives come from other outfits"
    assert (a2 == np.repeat(a1, ratio)).all()


def test_triplets_random_negatives():
    outfits, cats = _one_batch()
    a, p, n = (t.numpy() for t in TripletMiner("random", seed=0).mine(outfits, cats))
    assert len(a) > 0
    assert (outfits[a] == outfits[p]).all() and (cats[a] != cats[p]).all()
    assert (outfits[n] != outfits[a]).all()
    assert len(np.unique(cats[n])) > 1


def test_triplets_category_negatives_share_the_positive_category():
    outfits, cats = _one_batch(category_negatives=True)
    miner = TripletMiner("category", seed=0)
    a, p, n = (t.numpy() for t in miner.mine(outfits, cats))
    assert miner.last_dropped == 0, "category_negatives batches always hold a same-category negative"
    n_pos = sum(int((cats[outfits == o][:, None] != cats[outfits == o][None, :]).sum()) for o in np.unique(outfits))
    assert len(a) == n_pos
    assert (outfits[a] == outfits[p]).all() and (cats[a] != cats[p]).all()
    assert (cats[n] == cats[p]).all(), "negative must share the positive's category"
    assert (outfits[n] != outfits[a]).all(), "negative must come from another outfit"


def test_triplets_category_drop_positives_without_a_negative():
    outfits = np.array([0, 0, 1, 1])
    cats = np.array([0, 1, 0, 2])
    miner = TripletMiner("category", seed=0)
    a, p, n = (t.numpy() for t in miner.mine(outfits, cats))
    # positives with p of category 1 or 2 have no same-category item in another outfit
    assert miner.last_dropped == 2
    assert (cats[n] == cats[p]).all() and (outfits[n] != outfits[a]).all()


@pytest.mark.parametrize("n_outfits", [100, 5000])
def test_proxy_sampling(n_outfits):
    sampler = ProxySampler(n_outfits, num_proxies=2048, seed=0)
    batch = np.array([3, 3, 7, 42, 99, 0])
    draws = []
    for _ in range(3):
        ids = sampler.sample(batch)
        assert len(ids) == min(2048, n_outfits)
        assert len(np.unique(ids)) == len(ids), "proxies must not repeat"
        assert set(batch) <= set(ids), "the batch's outfits must always be scored"
        assert ids.min() >= 0 and ids.max() < n_outfits
        draws.append(ids)
    if n_outfits > 2048:
        assert not np.array_equal(draws[0], draws[1]), "the other proxies are drawn afresh each step"


def test_proxy_sampler_refuses_batches_larger_than_the_sample():
    with pytest.raises(AssertionError, match="raise num_proxies"):
        ProxySampler(100, num_proxies=4).sample(np.arange(5))
