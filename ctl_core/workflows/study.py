"""A study from a workspace: sample product-shot queries, run each model's real recommender end to end, mix in gold
pairs. The CLI's ``study create`` and the app's Studies page both call this. (Was ``db/runner.py``: ``db`` is storage
only and never imports serving or the synthetic universe; this workflow joins them.)"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
from sqlalchemy.engine import Engine

from ctl_core.config import RERANKED_SUFFIX, Workspace
from ctl_core.data.tables import read_catalogue, read_items
from ctl_core.data.universe import CLASHING_THEMES
from ctl_core.images import PRODUCT_SHOT_THRESHOLD
from ctl_core.serving.catalogue import CatalogueError, load_catalogue_inference
from ctl_core.serving.recommender import Recommender, RerankConfig
from db import studies


def resolve_study(engine: Engine, name_or_id: str | int) -> int:
    """A study id from its id or its name; a clear error when there is none."""
    all_studies = studies.list_studies(engine)
    for s in all_studies:
        if str(s.study_id) == str(name_or_id) or s.name == str(name_or_id):
            return s.study_id
    known = ", ".join(f"{s.study_id}:{s.name}" for s in all_studies) or "none yet"
    raise studies.StudyError(f"no study {name_or_id!r} (studies: {known})")


def study_model(name: str) -> tuple[str, bool]:
    """(served method, re-ranked by the outfit model) of a study model name. A plain method name is the pairwise
    model alone, so a study compares it with its re-ranked variant on the same queries."""
    base = name.removesuffix(RERANKED_SUFFIX)
    return base, base != name


def _study_catalogue(ws: Workspace, models: Sequence[str]) -> pd.DataFrame:
    if any(study_model(m)[1] for m in models) and not ws.outfit_weights_path.exists():
        raise studies.StudyError(f"models {RERANKED_SUFFIX!r} need the outfit model; train it first "
                                 "(python -m ctl_core train --method outfit-transformer)")
    missing = [m for m in models if not ws.manifest_path(study_model(m)[0]).exists()]
    if missing:
        raise studies.StudyError(f"models without indices: {', '.join(missing)} "
                                 "(run `python -m ctl_core index --model NAME`)")
    if not models:
        raise studies.StudyError("a study needs at least one model")
    catalogue = read_catalogue(ws.catalogue_csv)
    try:  # use the measured product-shot score, as the serving pipeline does
        preds = load_catalogue_inference(ws, study_model(models[0])[0])[0][["product_id", "product_shot_score"]]
        catalogue = catalogue.merge(preds, on="product_id", how="left")
    except CatalogueError:
        pass
    return catalogue


def query_mix(ws: Workspace, models: Sequence[str], n: int = 120, seed: int = 0) -> pd.DataFrame:
    """The query products a study with these settings would sample (stratified by category, product shots only),
    counted per category beside the catalogue's own mix: category, queries, share, catalogue_products."""
    catalogue = _study_catalogue(ws, models)
    queries = studies.sample_queries(catalogue, n=n, seed=seed)
    cat = dict(zip(catalogue["product_id"].astype(str), catalogue["category"].astype(str)))
    picked = pd.Series([cat.get(q, "unknown") for q in queries], dtype=object).value_counts()
    whole = catalogue["category"].astype(str).value_counts()
    out = pd.DataFrame({"category": whole.index, "catalogue_products": whole.to_numpy()})
    out["queries"] = [int(picked.get(c, 0)) for c in out["category"]]
    out["share"] = out["queries"] / max(len(queries), 1)
    return out.sort_values(["queries", "catalogue_products"], ascending=False)[
        ["category", "queries", "share", "catalogue_products"]].reset_index(drop=True)


def create_study_from_workspace(ws: Workspace, engine: Engine, name: str, models: Sequence[str], n: int = 120,
                                k: int = 5, overlap: int = 2, n_gold: int = 10, seed: int = 0,
                                progress: Callable[[str, int, int], None] | None = None,
                                say: Callable[[str], None] | None = None) -> int:
    """Sample ``n`` query products of product-shot quality, run each model for its top ``k``, pool and shuffle.

    ``say`` hears why the study got fewer gold pairs than ``n_gold``, when it does (``gold_shortfall``)."""

    catalogue = _study_catalogue(ws, models)
    queries = studies.sample_queries(catalogue, n=n, seed=seed)
    # Gold pairs, like queries, only show product shots (scenes and cropped photos are not judged).
    if "product_shot_score" in catalogue.columns:
        score = pd.to_numeric(catalogue["product_shot_score"], errors="coerce").fillna(0)
        shots = catalogue[score >= PRODUCT_SHOT_THRESHOLD]
    else:
        shots = catalogue[catalogue["is_product_shot"].astype(str).str.lower() != "false"]
    recommenders = {base: Recommender(ws, base) for base in {study_model(m)[0] for m in models}}

    def recommend_fn(method: str, product_id: str, kk: int) -> list[tuple[str, int]]:
        base, reranked = study_model(method)
        rec = recommenders[base].recommend(item_id=product_id, k=kk, rerank=RerankConfig(enabled=reranked))
        return [(r.item_id, rank) for rank, r in enumerate(rec.results[:kk], 1)]

    gold: list = []
    if n_gold > 0 and ws.items_csv.exists():
        gold = studies.make_gold_pairs(read_items(ws.items_csv), shots, CLASHING_THEMES,
                                       n_positive=(n_gold + 1) // 2, n_negative=n_gold // 2, seed=seed)
    sid = studies.create_study(engine, name, queries, list(models), recommend_fn, k=k, overlap=overlap, seed=seed,
                               gold_pairs=gold, progress=progress)
    note = gold_shortfall(n_gold, gold, studies.get_study(engine, sid).num_gold, ws.items_csv.exists(),
                          "theme" in shots.columns and shots["theme"].notna().any())
    if note and say is not None:
        say(note)
    return sid


def gold_shortfall(asked: int, drawn: list[tuple[str, str, bool]], stored: int, has_outfits: bool,
                   has_themes: bool) -> str | None:
    """Why a study holds ``stored`` gold pairs when ``asked`` were asked for (None when it holds them all).

    Gold pairs come from ``db.studies.make_gold_pairs``: half compatible (two product shots of one outfit), half
    not (products of clashing themes, which only the synthetic universe records); a drawn pair that a model also
    recommended is judged as that model's pair instead."""
    if asked <= 0 or stored >= asked:
        return None
    if not has_outfits:
        return f"No gold pairs (asked for {asked}): the workspace has no outfits (items.csv) to draw them from."
    want_pos, want_neg = (asked + 1) // 2, asked // 2
    pos = sum(1 for *_, label in drawn if label)
    neg = len(drawn) - pos
    why = []
    if neg < want_neg:
        why.append(f"{neg} of {want_neg} incompatible pairs: they pair products of clashing themes, and "
                   + ("this catalogue has no theme column (a real shop's import has none), so every gold pair is a "
                      "compatible one" if not has_themes else "only that many such pairs of wearable-together "
                      "product shots exist"))
    if pos < want_pos:
        why.append(f"{pos} of {want_pos} compatible pairs: only that many pairs of product shots from one outfit "
                   "in categories worn together exist")
    if len(drawn) > stored:
        why.append(f"{len(drawn) - stored} drawn gold pairs were also recommended by a model and are judged as "
                   "that model's pairs")
    return f"{stored} gold pairs, not {asked}: " + "; ".join(why) + "."
