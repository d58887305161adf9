"""Offline evaluation: metric triples, the sec. 6.1 protocol (corpora, FITB), determinism, and the Table-4 writer."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from ctl_core import evaluation as ev
from ctl_core.config import Workspace
from ctl_core.data.categories import CATEGORIES, CATEGORY_INDEX
from ctl_core.data.tables import ITEM_COLUMNS, write_table
from ctl_core.evaluation import (
    EvalConfig,
    build_protocol,
    category_accuracy,
    evaluate_embeddings,
    fitb_accuracy,
    fitb_external,
    format_table,
    read_run_metrics,
    read_table4,
    recall_at_k,
    table4,
)

CATS = list(CATEGORIES[:8])


def make_items(n_outfits: int = 60, size: int = 5, seed: int = 0, train_outfits: int = 0,
               odd_sizes: tuple[int, ...] = ()) -> pd.DataFrame:
    """Synthetic items.csv rows: test outfits of ``size`` distinct categories (+ optional odd-sized and train ones)."""
    rng = np.random.default_rng(seed)
    rows = []
    specs = [(f"o{i:03d}", size, "test") for i in range(n_outfits)]
    specs += [(f"x{i:03d}", s, "test") for i, s in enumerate(odd_sizes)]
    specs += [(f"t{i:03d}", size, "train") for i in range(train_outfits)]
    for oid, n, split in specs:
        for j, cat in enumerate(rng.choice(CATS, size=n, replace=False)):
            rows.append({"item_id": f"{oid}-{j}", "outfit_id": oid, "category": str(cat),
                         "image_path": f"img/{oid}.jpg", "box_x": "", "box_y": "", "box_w": "", "box_h": "",
                         "product_id": "", "price": float("nan"), "split": split})
    return pd.DataFrame(rows, columns=ITEM_COLUMNS)


def themed_embeddings(items: pd.DataFrame, noise: float, seed: int = 1, dim: int = 32) -> np.ndarray:
    """Each outfit gets a theme vector; its items are the theme plus Gaussian noise, L2-normalised."""
    rng = np.random.default_rng(seed)
    themes = {o: rng.standard_normal(dim) for o in items["outfit_id"].unique()}
    x = np.stack([themes[o] for o in items["outfit_id"]]) + noise * rng.standard_normal((len(items), dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ------------------------------------------------------------------------------------------ metric triples

def test_recall_perfect_ranking_is_one():
    d = np.array([[0.1, 0.2, 0.9, 0.8], [0.5, 0.1, 0.7, 0.9]])
    pos = np.array([[True, True, False, False], [False, True, False, False]])
    assert recall_at_k(d, pos, 1) == 1.0
    assert recall_at_k(d, pos, 2) == 1.0


def test_recall_no_hit_is_zero():
    d = np.array([[0.9, 0.1, 0.2, 0.3]])
    pos = np.array([[True, False, False, False]])
    assert recall_at_k(d, pos, 3) == 0.0


def test_recall_hand_computed():
    # q0: positives at distances 0.3 (rank 4) and 0.05 (rank 1); q1: one positive at rank 2.
    d = np.array([[0.3, 0.1, 0.2, 0.05, 0.9], [0.4, 0.1, 0.2, 0.8, 0.9]])
    pos = np.array([[True, False, False, True, False], [False, False, True, False, False]])
    assert recall_at_k(d, pos, 1) == pytest.approx((1 / 1 + 0 / 1) / 2)
    assert recall_at_k(d, pos, 2) == pytest.approx((1 / 2 + 1 / 1) / 2)
    assert recall_at_k(d, pos, 3) == pytest.approx((1 / 2 + 1 / 1) / 2)
    assert recall_at_k(d, pos, 4) == pytest.approx((2 / 2 + 1 / 1) / 2)


def test_fitb_perfect_is_one():
    s = np.array([[0.1, 2.0, 3.0, 4.0], [5.0, 5.0, 0.2, 6.0]])
    assert fitb_accuracy(s, np.array([0, 2])) == 1.0


def test_fitb_no_hit_is_zero():
    s = np.array([[0.1, 2.0, 3.0, 4.0], [5.0, 5.0, 0.2, 6.0]])
    assert fitb_accuracy(s, np.array([3, 0])) == 0.0


def test_fitb_hand_computed():
    s = np.array([[1.0, 2.0, 3.0, 4.0], [3.0, 1.0, 2.0, 4.0], [2.0, 3.0, 1.0, 4.0]])
    assert fitb_accuracy(s, np.array([0, 1, 0])) == pytest.approx(2 / 3)


def test_category_accuracy_perfect_is_one():
    logits = np.eye(4)[[0, 3, 2]]
    assert category_accuracy(logits, np.array([0, 3, 2])) == 1.0


def test_category_accuracy_no_hit_is_zero():
    assert category_accuracy(np.array([1, 2, 3]), np.array([0, 0, 0])) == 0.0


def test_category_accuracy_hand_computed():
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert category_accuracy(logits, np.array([1, 1, 1, 0])) == pytest.approx(3 / 4)


# ------------------------------------------------------------------------------------------ protocol

def test_protocol_is_deterministic_and_seed_dependent():
    items = make_items()
    emb = themed_embeddings(items, noise=1.0)
    a = evaluate_embeddings(emb, items, EvalConfig(seed=3))
    b = evaluate_embeddings(emb, items, EvalConfig(seed=3))
    c = evaluate_embeddings(emb, items, EvalConfig(seed=4))
    keys = ["R@1", "R@5", "R@10", "R@1_cat", "R@5_cat", "R@10_cat", "FITB"]
    assert [a[k] for k in keys] == [b[k] for k in keys]
    p1, p2 = build_protocol(items, EvalConfig(seed=3)), build_protocol(items, EvalConfig(seed=3))
    assert np.array_equal(p1.all_categories.corpus, p2.all_categories.corpus)
    assert np.array_equal(p1.fitb.candidates, p2.fitb.candidates)
    assert not np.array_equal(p1.all_categories.corpus, build_protocol(items, EvalConfig(seed=4)).all_categories.corpus)
    assert [a[k] for k in keys] != [c[k] for k in keys]


def test_all_category_corpus_composition():
    items = make_items(n_outfits=60)   # 300 test items: enough for N=200
    p = build_protocol(items, EvalConfig())
    corp = p.all_categories
    outfit = items["outfit_id"].to_numpy()
    assert corp.corpus.shape == (300, 200) and (corp.corpus >= 0).all()
    assert len(corp.queries) == 300
    for q, row, pos in zip(corp.queries, corp.corpus, corp.positive):
        assert q not in row
        assert len(set(row)) == 200
        mates = set(np.flatnonzero(outfit == outfit[q])) - {q}
        assert set(row[pos]) == mates and pos.sum() == 4
        assert (outfit[row[~pos]] != outfit[q]).all()   # negatives from other outfits only
    # positives are not parked at the front of the corpus (ties never favour them)
    assert corp.positive[:, :4].mean() < 0.5


def test_negatives_never_show_the_same_product():
    items = make_items(n_outfits=60)
    # the same catalogue product appears in o000 and o001
    items.loc[items["item_id"] == "o000-0", "product_id"] = "P1"
    items.loc[items["item_id"] == "o001-0", "product_id"] = "P1"
    p = build_protocol(items, EvalConfig())
    dup = int(np.flatnonzero(items["item_id"] == "o001-0")[0])
    o000 = set(np.flatnonzero(items["outfit_id"] == "o000"))
    for q, row in zip(p.all_categories.queries, p.all_categories.corpus):
        if q in o000:
            assert dup not in row


def test_per_category_mode_restricts_to_one_category():
    items = make_items(n_outfits=60)
    cfg = EvalConfig()
    p = build_protocol(items, cfg)
    cat = items["category"].to_numpy()
    outfit = items["outfit_id"].to_numpy()
    assert set(p.per_category) <= set(CATS) and len(p.per_category) >= 5
    for c, corp in p.per_category.items():
        valid = corp.corpus >= 0
        assert (cat[corp.corpus[valid]] == c).all()
        n_c = int((cat == c).sum())
        for q, row, pos in zip(corp.queries, corp.corpus, corp.positive):
            mates = set(np.flatnonzero((outfit == outfit[q]) & (cat == c))) - {q}
            assert mates and set(row[pos]) == mates
            assert (outfit[row[(row >= 0) & ~pos]] != outfit[q]).all()
            # corpus = every category-c item outside the query's outfit (fewer than N exist here) + positives
            others = int(((cat == c) & (outfit != outfit[q])).sum())
            assert (row >= 0).sum() == min(cfg.corpus_size, len(mates) + others) <= n_c
        # queries are exactly the items whose outfit holds another item of category c
        expected = {i for i in range(len(items))
                    if ((outfit == outfit[i]) & (cat == c) & (np.arange(len(items)) != i)).any()}
        assert set(corp.queries) == expected


def test_fitb_candidates_share_the_true_items_category():
    items = make_items(n_outfits=40)
    p = build_protocol(items, EvalConfig(min_outfits=10))
    cat = items["category"].to_numpy()
    outfit = items["outfit_id"].to_numpy()
    f = p.fitb
    assert f.candidates.shape == (40, 4)
    assert set(f.correct) <= {0, 1, 2, 3} and len(set(f.correct)) > 1   # true item's slot is random
    for qs, cands, k in zip(f.questions, f.candidates, f.correct):
        true = cands[k]
        qs = qs[qs >= 0]
        assert len(qs) == 4 and true not in qs
        assert (outfit[qs] == outfit[true]).all()
        assert (cat[cands] == cat[true]).all()
        others = np.delete(cands, k)
        assert (outfit[others] != outfit[true]).all() and len(set(others)) == 3


def test_fallback_to_larger_outfits_is_noted():
    items = make_items(n_outfits=3, odd_sizes=(6, 6, 7, 7, 6, 6, 7, 6, 6, 6, 6, 7))
    out = evaluate_embeddings(themed_embeddings(items, 0.5), items, EvalConfig(min_outfits=10, min_category_items=5))
    assert "used 15 outfits of >= 5 items" in out["protocol_note"]
    assert out["n_queries"] == 15 * 5
    exact = evaluate_embeddings(themed_embeddings(items, 0.5), items, EvalConfig(min_outfits=3, min_category_items=5))
    assert exact["protocol_note"] == "" and exact["n_queries"] == 3 * 5


def test_only_test_split_rows_are_used():
    items = make_items(n_outfits=40, train_outfits=30)
    emb = themed_embeddings(items, 1.0)
    a = evaluate_embeddings(emb, items, EvalConfig(min_outfits=10))
    test = items["split"] == "test"
    b = evaluate_embeddings(emb[test.to_numpy()], items[test].reset_index(drop=True), EvalConfig(min_outfits=10))
    assert a["n_queries"] == 200 and a["R@10"] == b["R@10"] and a["FITB"] == b["FITB"]


def test_style_embeddings_clearly_beat_random():
    items = make_items(n_outfits=60)
    cfg = EvalConfig()
    # noisy enough not to be perfect (measured: R@10 0.57, R@10_cat 0.90, FITB 0.98; random 0.07, 0.30, 0.37)
    good = evaluate_embeddings(themed_embeddings(items, noise=1.5), items, cfg)
    rng = np.random.default_rng(9)
    rand = rng.standard_normal((len(items), 32))
    bad = evaluate_embeddings(rand / np.linalg.norm(rand, axis=1, keepdims=True), items, cfg)
    assert good["R@10"] < 0.9 and bad["R@10"] < 0.15
    assert good["R@10"] - bad["R@10"] > 0.3
    assert good["R@10_cat"] - bad["R@10_cat"] > 0.3
    assert good["FITB"] > 0.8 and bad["FITB"] < 0.45
    assert good["n_fitb"] == 60 and good["n_queries"] == 300


def test_fitb_external_skips_and_counts_unmatched():
    lookup = {"a": np.array([0.0, 0.0]), "b": np.array([0.0, 1.0]), "t": np.array([0.1, 0.3]),
              "w1": np.array([5.0, 5.0]), "w2": np.array([-4.0, 3.0])}
    qs = [{"question": ["a", "b"], "answers": ["t", "w1", "w2"], "correct": 0},
          {"question": ["a", "zz"], "answers": ["w1", "t", "w2"], "correct": 0},   # wrong: t is closer
          {"question": ["a"], "answers": ["t", "missing"], "correct": 0},          # skipped: answer unmatched
          {"question": ["nope"], "answers": ["t", "w1"], "correct": 0}]            # skipped: no question item
    out = fitb_external(qs, lookup)
    assert out["n_fitb_external"] == 2 and out["n_fitb_external_skipped"] == 2
    assert out["n_unmatched_items"] == 3
    assert out["FITB_external"] == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------ Table 4

def test_evaluate_all_writes_table_and_merges_metrics(tmp_path, monkeypatch):
    ws = Workspace.at(tmp_path).ensure()
    items = make_items(n_outfits=40, train_outfits=5)
    write_table(items, ws.items_csv, ITEM_COLUMNS)
    for m in ("triplet-category", "classification"):
        ws.model_dir(m).mkdir(parents=True)
        (ws.model_dir(m) / "heads.pt").write_bytes(b"x")
    (ws.model_dir("classification") / "metrics.json").write_text(json.dumps({"train_loss": 0.5}))
    ws.fitb_json.write_text(json.dumps([{"question": ["o000-0", "o000-1"], "answers": ["o000-2", "o005-2"],
                                         "correct": 0}, {"question": ["nope"], "answers": ["a", "b"], "correct": 0}]))

    def fake_model(ws_, method, its, progress=None):
        emb = themed_embeddings(its, noise=0.2 if method == "triplet-category" else 3.0, dim=16)
        logits = np.eye(len(CATEGORIES))[[CATEGORY_INDEX[c] for c in its["category"]]]
        if method == "classification":
            logits = np.roll(logits, 1, axis=1)   # every prediction wrong
        return emb, logits

    seen = {}

    def fake_backbone(ws_, name, its, progress=None):
        seen["backbone"] = name
        return np.random.default_rng(5).standard_normal((len(its), 64)) * 7

    monkeypatch.setattr(table4, "_model_outputs", fake_model)
    monkeypatch.setattr(table4, "_backbone_features", fake_backbone)
    calls = []
    df = ev.evaluate_all(ws, config=EvalConfig(min_outfits=10), progress=lambda s, d, t: calls.append((s, d, t)))

    assert list(df["method"]) == ["random", "visual", "classification", "triplet-category"]
    assert list(df.columns) == ev.table_columns(external=True)          # each metric group beside its n
    assert (df["n_R@K"] > 0).all() and (df["n_FITB"] > 0).all() and (df["n_FITB_external"] >= 1).all()
    assert seen["backbone"] == "efficientnet-lite0"
    by = df.set_index("method")
    assert math.isnan(by.loc["random", "category_acc"]) and math.isnan(by.loc["visual", "category_acc"])
    assert by.loc["triplet-category", "category_acc"] == 1.0 and by.loc["classification", "category_acc"] == 0.0
    assert by.loc["triplet-category", "R@10"] > by.loc["random", "R@10"] + 0.3
    assert by.loc["triplet-category", "FITB_external"] == 1.0
    assert calls[-1] == ("evaluate", 4, 4)

    saved = pd.read_csv(ws.eval_dir / "table.csv")
    assert list(saved["method"]) == list(df["method"])
    table = json.loads((ws.eval_dir / "table.json").read_text())
    assert len(table["rows"]) == 4 and table["config"]["corpus_size"] == 200
    merged = json.loads((ws.model_dir("classification") / "metrics.json").read_text())
    assert merged["train_loss"] == 0.5 and merged["category_acc"] == 0.0
    assert merged["R@10"] == pytest.approx(by.loc["classification", "R@10"])
    assert merged["eval"]["n_fitb_external_skipped"] == 1
    pd.testing.assert_frame_equal(read_table4(ws), saved)
    assert read_run_metrics(ws, "classification") == merged

    md = format_table(df)
    assert md.splitlines()[0].startswith("| method | R@1 |")
    assert ("| paper: triplet-category | 20.3 | 51.4 | 68.8 | n/r | n/r | n/r |  | 78.5 | n/r |  | n/r |  | 98.15 |  | "
            "n/r |" in md)
    assert df["FITB_pop"].between(0, 1).all()
    assert 0.0 <= df["compat_AUC"].min() and df["compat_AUC"].max() <= 1.0 and (df["n_compat"] > 0).all()
    n_test = int(df["n_category_acc"].dropna().iloc[0])
    assert f"| {n_test} |" in md and "n_R@K" in md.splitlines()[0]
    assert "| classification |" in md and "| 0.00 |" in md
    assert "rows for classification, siamese-16to1, siamese-1to1, triplet-random are in the paper" in md


def test_evaluate_all_refuses_an_untrained_method(tmp_path):
    ws = Workspace.at(tmp_path).ensure()
    write_table(make_items(n_outfits=10), ws.items_csv, ITEM_COLUMNS)
    with pytest.raises(ev.EvaluationError, match="siamese-1to1"):
        ev.evaluate_all(ws, methods=["siamese-1to1"])


def test_readers_answer_none_without_files(tmp_path):
    ws = Workspace.at(tmp_path).ensure()
    assert read_table4(ws) is None and read_run_metrics(ws, "triplet-category") is None
    ws.model_dir("triplet-category").mkdir(parents=True)
    ws.metrics_path("triplet-category").write_text("{not json")
    assert read_run_metrics(ws, "triplet-category") is None
    ws.metrics_path("triplet-category").write_text("[1, 2]")
    assert read_run_metrics(ws, "triplet-category") is None
