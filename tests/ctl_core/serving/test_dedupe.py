"""Blending drops colour variants (same group_id) and near-identical images by default; the toggle shows them."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ctl_core.cli import main
from ctl_core.data.tables import CATALOGUE_COLUMNS, read_catalogue, write_table
from ctl_core.serving.adapter import ModelAdapter
from ctl_core.serving.catalogue import infer_catalogue
from ctl_core.serving.index import CategoryIndices, build_indices
from ctl_core.serving.recommender import BlendConfig, Recommender, serve

from .serving_fixtures import served_workspace

METHOD = "triplet-category"


def _unit(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _indices():
    """Shoes: s0 and s1 colour variants of one model, s2 the same image as s0; s3 different. Bags: b0, b1."""
    shoes = _unit([[1, 0.10, 0, 0], [1, 0.12, 0.3, 0], [1, 0.105, 0, 0], [1, 0.6, 0, 0.5]])
    bags = _unit([[1, 0.2, 0, 0], [1, 0.21, 0, 0.01]])  # near-identical to each other, not to the shoes
    groups = {"s0": "M1", "s1": "M1", "s2": "", "s3": "", "b0": "", "b1": ""}
    idx = CategoryIndices.build({"Shoes": shoes, "Handbags": bags},
                                {"Shoes": np.array(["s0", "s1", "s2", "s3"]), "Handbags": np.array(["b0", "b1"])})
    return idx, (lambda i: {"group_id": groups[i], "price": None})


@pytest.mark.parametrize("strategy", ["round_robin", "distance"])
def test_variants_and_near_identical_images_collapsed_by_default(strategy):
    idx, info = _indices()
    q = _unit([1, 0, 0, 0])
    per, res, _ = serve(idx, q, ["Shoes", "Handbags"], 6, BlendConfig(strategy=strategy), item_info=info)
    assert sorted(r.item_id for r in res) == ["b0", "s0", "s3"]       # s1 (variant), s2 and b1 (same image) gone
    assert [r.item_id for r in per["Shoes"]] == ["s0", "s3"] and [r.item_id for r in per["Handbags"]] == ["b0"]
    per, res, _ = serve(idx, q, ["Shoes", "Handbags"], 6, BlendConfig(strategy=strategy, dedupe=False),
                        item_info=info)
    assert sorted(r.item_id for r in res) == ["b0", "b1", "s0", "s1", "s2", "s3"]
    assert len(per["Shoes"]) == 4


def test_near_identical_is_judged_within_a_category_only():
    same = _unit([[1, 0.1, 0, 0]])
    idx = CategoryIndices.build({"Shoes": same, "Handbags": same.copy()},
                                {"Shoes": np.array(["s"]), "Handbags": np.array(["b"])})
    _, res, _ = serve(idx, _unit([1, 0, 0, 0]), ["Shoes", "Handbags"], 2, BlendConfig())
    assert sorted(r.item_id for r in res) == ["b", "s"]             # compatible, not duplicates
    with pytest.raises(ValueError):
        BlendConfig(duplicate_cosine=1.5)


def _colour_variants(ws, adapter) -> None:
    """p03-0..p03-3 become four colours of one model (``group_id``); the catalogue is indexed again after the edit
    (indices are tied to the catalogue they were built from)."""
    cat = read_catalogue(ws.catalogue_csv)
    cat["group_id"] = cat["product_id"].str.rsplit("-", n=1).str[0]
    write_table(cat, ws.catalogue_csv, CATALOGUE_COLUMNS)
    infer_catalogue(ws, METHOD, adapter=adapter)
    build_indices(ws, METHOD)


def test_recommender_hides_colour_variants_unless_asked(tmp_path):
    ws, adapter, _ = served_workspace(tmp_path / "ws", METHOD, per_category=4, n_scenes=0)
    _colour_variants(ws, adapter)
    rec = Recommender(ws, METHOD, adapter=adapter)
    shown = rec.recommend(item_id="p02-0", k=12, blend=BlendConfig(strategy="distance"))
    groups = [r.item_id.rsplit("-", 1)[0] for r in shown.results]
    assert len(groups) == len(set(groups))                           # one product per model by default
    assert all(len(v) == 1 for v in shown.per_category.values())
    every = rec.recommend(item_id="p02-0", k=12, blend=BlendConfig(strategy="distance", dedupe=False))
    groups = [r.item_id.rsplit("-", 1)[0] for r in every.results]
    assert len(groups) == 12 and len(set(groups)) < len(groups)     # the toggle shows the variants
    assert all(len(v) == 4 for v in every.per_category.values())


def test_recommend_cli_shows_duplicates_only_with_the_flag(tmp_path, monkeypatch, capsys):
    """``recommend --show-duplicates`` end to end: the lists it prints hold colour variants; without it, none."""
    ws, adapter, _ = served_workspace(tmp_path / "ws", METHOD, per_category=4, n_scenes=0)
    _colour_variants(ws, adapter)
    monkeypatch.setattr(ModelAdapter, "load", classmethod(lambda cls, ws_, method, device="auto": adapter))

    def groups(*flags: str) -> list[str]:
        assert main(["--workspace", str(ws.root), "--quiet", "recommend", "--model", METHOD, "--item", "p02-0",
                     "--k", "12", "--max-categories", "3", "--json", *flags]) == 0
        out = json.loads(capsys.readouterr().out)
        return [r["item_id"].rsplit("-", 1)[0] for r in out["results"]]

    hidden, shown = groups(), groups("--show-duplicates")
    assert hidden and len(hidden) == len(set(hidden))                 # one colour per model by default
    assert len(shown) == 12 and len(set(shown)) < len(shown)          # the flag shows the variants


def test_catalogue_without_group_ids_still_serves(tmp_path):
    ws, adapter, _ = served_workspace(tmp_path / "ws", METHOD, per_category=2, n_scenes=0)
    old = pd.read_csv(ws.catalogue_csv, dtype=str).drop(columns=["group_id"], errors="ignore")
    old.to_csv(ws.catalogue_csv, index=False)                        # a catalogue written before group_id existed
    infer_catalogue(ws, METHOD, adapter=adapter)                     # indices are tied to their catalogue
    build_indices(ws, METHOD)
    out = Recommender(ws, METHOD, adapter=adapter).recommend(item_id="p02-0", k=4)
    assert 1 <= len(out.results) <= 4
