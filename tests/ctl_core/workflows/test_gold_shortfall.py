"""Why a study got fewer gold pairs than asked for (issue 19, point 9: "asked for 10, got 5" said nothing)."""
from __future__ import annotations

from ctl_core.workflows.study import gold_shortfall


def test_all_gold_pairs_there_says_nothing():
    drawn = [("a", "b", True)] * 5 + [("c", "d", False)] * 5
    assert gold_shortfall(10, drawn, 10, True, True) is None
    assert gold_shortfall(0, [], 0, True, False) is None


def test_a_catalogue_without_themes_gets_no_incompatible_gold_pairs_and_says_so():
    note = gold_shortfall(10, [("a", "b", True)] * 5, 5, has_outfits=True, has_themes=False)
    assert note.startswith("5 gold pairs, not 10: 0 of 5 incompatible pairs")
    assert "no theme column" in note


def test_few_outfit_mates_and_pairs_taken_by_models_are_named():
    note = gold_shortfall(10, [("a", "b", True)] * 3 + [("c", "d", False)] * 5, 6, True, True)
    assert "3 of 5 compatible pairs" in note and "2 drawn gold pairs were also recommended by a model" in note
    assert "no outfits" in gold_shortfall(4, [], 0, has_outfits=False, has_themes=False)
