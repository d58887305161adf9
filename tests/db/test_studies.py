"""Studies: pooling and de-duplication across models, gold mixing, seeded shuffle, query sampling, gold pairs."""
from __future__ import annotations

import pandas as pd
import pytest

from ctl_core.data.categories import slots_compatible
from db.session import init_db, make_engine
from db.studies import StudyError, create_study, get_study, list_studies, make_gold_pairs, sample_queries, study_pairs
from tests.db.conftest import fake_recommend, row_counts


def test_pairs_pooled_deduplicated_with_sources(engine):
    def rec(method, q, k):
        out = fake_recommend(method, q, k)
        return out + [(q, 99)] if method == "a" else out  # a candidate equal to its query is dropped

    sid = create_study(engine, "s", ["q1", "q2"], ["a", "b"], rec, k=3,
                       gold_pairs=[("g1", "g2", True), ("g3", "g4", False), ("q1", "q1-c1", False)])
    df = study_pairs(engine, sid)
    model_rows = df[~df["is_gold"]]
    # a: c0,c1,c2 ; b: c1,c2,c3 -> 4 distinct candidates per query, c1 and c2 shared by both models
    assert model_rows["pair_id"].nunique() == 8
    src = {(r.query_product_id, r.candidate_product_id, r.model): r.rank for r in model_rows.itertuples()}
    assert src[("q1", "q1-c1", "a")] == 1 and src[("q1", "q1-c1", "b")] == 0
    assert src[("q2", "q2-c3", "b")] == 2 and ("q2", "q2-c3", "a") not in src
    assert len(src) == 12  # every (model, rank) kept
    assert not (df["query_product_id"] == df["candidate_product_id"]).any()
    gold = df[df["is_gold"]]
    assert sorted(zip(gold["query_product_id"], gold["gold_label"])) == [("g1", True), ("g3", False)]
    assert gold["model"].isna().all()  # gold pairs belong to no model; the colliding gold pair was dropped
    info = get_study(engine, sid)
    assert (info.num_pairs, info.num_gold, info.num_queries, info.models) == (10, 2, 2, ("a", "b"))
    assert [s.name for s in list_studies(engine)] == ["s"]


def _pair_order(tmp_path, tag, seed):
    eng = make_engine(f"sqlite:///{tmp_path / f'{tag}.sqlite'}")
    init_db(eng)
    sid = create_study(eng, "s", [f"q{i}" for i in range(5)], ["a", "b", "c"], fake_recommend, k=4, seed=seed,
                       gold_pairs=[("g1", "g2", True)])
    df = study_pairs(eng, sid).drop_duplicates("pair_id").sort_values("pair_id")
    eng.dispose()
    return list(zip(df["query_product_id"], df["candidate_product_id"]))


def test_shuffle_is_seeded_and_hides_models(tmp_path):
    a, b, c = _pair_order(tmp_path, "a", 0), _pair_order(tmp_path, "b", 0), _pair_order(tmp_path, "c", 1)
    assert a == b and a != c and sorted(a) == sorted(c)
    assert a != sorted(a)
    queries = [q for q, _ in a]
    assert queries != sorted(queries)  # not grouped by query (nor by model)
    assert ("g1", "g2") in a


def test_study_refusals_write_nothing(engine):
    create_study(engine, "taken", ["q1"], ["a"], fake_recommend, k=2)
    before = row_counts(engine)
    for kw in [dict(name="taken"), dict(name=" "), dict(query_product_ids=[]), dict(models=[]), dict(k=0),
               dict(overlap=0)]:
        args = dict(name="new", query_product_ids=["q1"], models=["a"], recommend_fn=fake_recommend, k=2)
        args.update(kw)
        with pytest.raises(StudyError):
            create_study(engine, **args)
    def broken(method, q, k):
        if q == "q2":
            raise RuntimeError("index missing")
        return fake_recommend(method, q, k)
    with pytest.raises(RuntimeError):
        create_study(engine, "new", ["q1", "q2"], ["a"], broken, k=2)
    assert row_counts(engine) == before


def _catalogue():
    rows = []
    for cat, n in [("Shoes", 60), ("Handbags", 30), ("Hats", 10)]:
        for i in range(n):
            rows.append({"product_id": f"{cat}-{i}", "category": cat, "is_product_shot": i % 10 != 9})
    rows.append({"product_id": "scene1", "category": "Shoes", "is_product_shot": False})
    return pd.DataFrame(rows)


def test_sample_queries_stratified_product_shots():
    cat = _catalogue()
    picked = sample_queries(cat, n=10, seed=0)
    assert len(picked) == len(set(picked)) == 10
    by = cat.set_index("product_id").loc[picked]
    assert by["is_product_shot"].all()
    assert by["category"].value_counts().to_dict() == {"Shoes": 6, "Handbags": 3, "Hats": 1}
    assert sample_queries(cat, n=10, seed=0) == picked
    assert sample_queries(cat, n=10, seed=1) != picked
    # every category present even when its share rounds to zero
    small = sample_queries(cat, n=3, seed=0)
    assert set(cat.set_index("product_id").loc[small, "category"]) == {"Shoes", "Handbags", "Hats"}
    # a product-shot score column, when present, decides instead
    scored = cat.assign(product_shot_score=[0.9 if pid.endswith("1") else 0.1 for pid in cat["product_id"]])
    assert all(p.endswith("1") for p in sample_queries(scored, n=5, min_product_shot_score=0.5))
    assert len(sample_queries(cat, n=1000)) == 90


def test_make_gold_pairs():
    catalogue = pd.DataFrame([
        {"product_id": "top1", "category": "Shirts & Tops", "theme": "punk"},
        {"product_id": "pant1", "category": "Pants", "theme": "punk"},
        {"product_id": "skirt1", "category": "Skirts", "theme": "punk"},
        {"product_id": "shoe1", "category": "Shoes", "theme": "punk"},
        {"product_id": "top2", "category": "Shirts & Tops", "theme": "preppy"},
        {"product_id": "shoe2", "category": "Shoes", "theme": "preppy"},
        {"product_id": "bag2", "category": "Handbags", "theme": "preppy"},
        {"product_id": "bag3", "category": "Handbags", "theme": "boho"},
    ])
    items = pd.DataFrame({"outfit_id": ["o1"] * 4 + ["o2"] * 3,
                          "product_id": ["top1", "pant1", "skirt1", "shoe1", "top2", "shoe2", ""]})
    gold = make_gold_pairs(items, catalogue, [("punk", "preppy")], n_positive=50, n_negative=50, seed=0)
    pos = {frozenset((a, b)) for a, b, lab in gold if lab}
    neg = [(a, b) for a, b, lab in gold if not lab]
    cat = dict(zip(catalogue["product_id"], catalogue["category"]))
    theme = dict(zip(catalogue["product_id"], catalogue["theme"]))
    # outfit-mates in wearable-together categories (pants and skirt share a slot: not a positive)
    assert pos == {frozenset(p) for p in [("top1", "pant1"), ("top1", "skirt1"), ("top1", "shoe1"),
                                          ("pant1", "shoe1"), ("skirt1", "shoe1"), ("top2", "shoe2")]}
    assert neg and all({theme[a], theme[b]} == {"punk", "preppy"} for a, b in neg)
    assert all(slots_compatible(cat[a], cat[b]) for a, b in neg)
    assert not any(frozenset(p) in pos for p in neg)
    assert make_gold_pairs(items, catalogue, [("punk", "preppy")], 3, 3, seed=0) == \
        make_gold_pairs(items, catalogue, [("punk", "preppy")], 3, 3, seed=0)
    assert len(make_gold_pairs(items, catalogue, [("punk", "preppy")], 2, 1)) == 3
