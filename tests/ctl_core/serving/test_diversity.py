"""Diversity within a category row (MMR over how items look)."""
from __future__ import annotations

import numpy as np
import pytest

from ctl_core.serving.diversity import mmr_positions
from ctl_core.serving.recommender import BlendConfig, Recommender
from tests.ctl_core.serving.serving_fixtures import served_workspace

METHOD = "triplet-category"


def _unit(rows):
    a = np.asarray(rows, dtype=float)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_mmr_moves_a_lookalike_down_and_keeps_the_first():
    base = np.array([0.50, 0.51, 0.52, 0.60])
    feats = _unit([[1, 0], [1, 0.01], [0, 1], [1, 0.02]])  # 1 and 3 look like 0
    assert mmr_positions(base, feats, 4, 0.0) == [0, 1, 2, 3]
    assert mmr_positions(base, None, 4, 0.5) == [0, 1, 2, 3]
    assert mmr_positions(base, feats, 4, 0.1) == [0, 2, 1, 3]  # the different one moves up
    assert mmr_positions(base, feats, 2, 0.1) == [0, 2]
    assert mmr_positions(base, feats, 4, 0.1, duplicates=lambda i: np.arange(4) == 1 if i == 0 else
                         np.zeros(4, bool)) == [0, 2, 3]  # a duplicate of a pick is dropped
    assert mmr_positions(np.zeros(0), np.zeros((0, 2)), 3, 0.1) == []


def test_a_little_row_diversity_is_on_by_default():
    assert 0 < BlendConfig().row_diversity <= 0.2
    with pytest.raises(ValueError):
        BlendConfig(row_diversity=-0.1)


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    ws, adapter, _ = served_workspace(tmp_path_factory.mktemp("ws"), METHOD, per_category=6)
    return Recommender(ws, METHOD, adapter=adapter)


def test_rows_keep_their_first_item_and_their_category(rec):
    plain = rec.recommend(item_id="p02-0", k=5, blend=BlendConfig(row_diversity=0.0, dedupe=False))
    diverse = rec.recommend(item_id="p02-0", k=5, blend=BlendConfig(row_diversity=5.0, dedupe=False))
    assert plain.per_category.keys() == diverse.per_category.keys()
    for cat, row in diverse.per_category.items():
        assert row[0].item_id == plain.per_category[cat][0].item_id
        assert all(r.category == cat for r in row) and len({r.item_id for r in row}) == len(row)
    assert any([r.item_id for r in row] != [r.item_id for r in plain.per_category[c]]
               for c, row in diverse.per_category.items())  # a strong weight reorders some row
