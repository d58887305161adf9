"""Fill-in-the-blank questions you bring (``evaluate --fitb FILE``): hand cases, the interval, the CLI."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ctl_core.cli import main
from ctl_core.data.tables import read_catalogue
from ctl_core.evaluation import FitbFileError, read_fitb_file, score_fitb_products, wilson_interval


def perfect_lookup() -> dict[str, np.ndarray]:
    """Two outfits far apart: a1..a3 near (0, 0), b1..b3 near (10, 0)."""
    pts = {"a1": (0, 0), "a2": (0.1, 0), "a3": (0, 0.1), "b1": (10, 0), "b2": (10.1, 0), "b3": (10, 0.1)}
    return {k: np.asarray(v, dtype=np.float32) for k, v in pts.items()}


def test_perfect_embeddings_score_100_percent():
    qs = [{"question": ["a1", "a2"], "answers": ["a3", "b1", "b2"], "correct": 0},
          {"question": ["b1", "b2"], "answers": ["a1", "b3"], "correct": 1}]
    r = score_fitb_products(qs, perfect_lookup())
    assert r["accuracy"] == 1.0 and r["n_scored"] == 2 and r["n_correct"] == 2
    assert r["n_skipped"] == 0 and r["n_malformed"] == 0
    assert r["ci_low"] == pytest.approx(wilson_interval(2, 2)[0]) and r["ci_high"] == pytest.approx(1.0)


def test_wrong_answer_marked_correct_scores_0():
    qs = [{"question": ["a1", "a2"], "answers": ["a3", "b1"], "correct": 1}]
    assert score_fitb_products(qs, perfect_lookup())["accuracy"] == 0.0


def test_unknown_product_is_skipped_and_counted():
    qs = [{"question": ["a1", "a2"], "answers": ["a3", "b1"], "correct": 0},
          {"question": ["a1", "nope"], "answers": ["a3", "b1"], "correct": 0},      # unknown question product
          {"question": ["a1", "a2"], "answers": ["a3", "gone"], "correct": 0},      # unknown answer
          {"question": [], "answers": ["a3", "b1"]},                                # malformed
          {"question": ["a1"], "answers": ["a3", "b1"], "correct": 5},              # correct out of range
          "not a question"]
    r = score_fitb_products(qs, perfect_lookup())
    assert (r["n_scored"], r["n_skipped"], r["n_malformed"], r["n_questions"]) == (1, 2, 3, 6)
    assert r["accuracy"] == 1.0 and r["unknown_examples"] == ["nope", "gone"]


def test_nothing_scored_gives_nan_and_no_interval():
    r = score_fitb_products([{"question": ["x"], "answers": ["y", "z"], "correct": 0}], perfect_lookup())
    assert math.isnan(r["accuracy"]) and math.isnan(r["ci_low"]) and r["n_skipped"] == 1


def test_wilson_interval_hand_value():
    lo, hi = wilson_interval(8, 10)          # Wilson (1927) score interval, z = 1.96
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)


def test_read_fitb_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(FitbFileError, match="bad.json"):
        read_fitb_file(bad)
    obj = tmp_path / "obj.json"
    obj.write_text('{"question": []}')
    with pytest.raises(FitbFileError, match="list"):
        read_fitb_file(obj)
    with pytest.raises(FitbFileError, match="not found"):
        read_fitb_file(tmp_path / "missing.json")


def test_cli_evaluate_fitb_on_catalogue_embeddings(demo_ws, tmp_path, capsys):
    cat = read_catalogue(demo_ws.catalogue_csv)
    by_cat = cat.groupby("category")["product_id"].apply(list)
    shoes, bags, tops = by_cat["Shoes"], by_cat["Handbags"], by_cat["Shirts & Tops"]
    qs = [{"question": [tops[0], bags[0]], "answers": shoes[:4], "correct": 0},
          {"question": [tops[1], "no-such-product"], "answers": shoes[:4], "correct": 1}]
    path = tmp_path / "fitb.json"
    path.write_text(json.dumps(qs))
    ws = ["--workspace", str(demo_ws.root), "--quiet"]
    assert main([*ws, "evaluate", "--fitb", str(path), "--methods", "triplet-category", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    r = out["methods"]["triplet-category"]
    assert (r["n_scored"], r["n_skipped"]) == (1, 1) and r["accuracy"] in (0.0, 1.0)
    assert r["unknown_examples"] == ["no-such-product"]
    assert main([*ws, "evaluate", "--fitb", str(path), "--methods", "triplet-category"]) == 0
    text = capsys.readouterr().out
    assert "triplet-category" in text and "1 scored, 1 skipped (unknown product)" in text
    assert main([*ws, "evaluate", "--fitb", str(tmp_path / "missing.json")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
