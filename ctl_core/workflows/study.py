"""A study from a workspace: sample product-shot queries, run each model's real recommender end to end, mix in gold
pairs. The CLI's ``study create`` and the app's Studies page both call this. (Was ``db/runner.py``: ``db`` is storage
only and never imports serving or the synthetic universe; this workflow joins them.)"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
from sqlalchemy.engine import Engine

from ctl_core.config import Workspace
from ctl_core.data.tables import read_catalogue, read_items
from ctl_core.data.universe import CLASHING_THEMES
from ctl_core.images import PRODUCT_SHOT_THRESHOLD
from ctl_core.serving.catalogue import CatalogueError, load_catalogue_inference
from ctl_core.serving.recommender import Recommender
from db import studies


def resolve_study(engine: Engine, name_or_id: str | int) -> int:
    """A study id from its id or its name; a clear error when there is none."""
    all_studies = studies.list_studies(engine)
    for s in all_studies:
        if str(s.study_id) == str(name_or_id) or s.name == str(name_or_id):
            return s.study_id
    known = ", ".join(f"{s.study_id}:{s.name}" for s in all_studies) or "none yet"
    raise studies.StudyError(f"no study {name_or_id!r} (studies: {known})")


def create_study_from_workspace(ws: Workspace, engine: Engine, name: str, models: Sequence[str], n: int = 120,
                                k: int = 5, overlap: int = 2, n_gold: int = 10, seed: int = 0,
                                progress: Callable[[str, int, int], None] | None = None) -> int:
    """Sample ``n`` query products of product-shot quality, run each model for its top ``k``, pool and shuffle."""

    missing = [m for m in models if not ws.manifest_path(m).exists()]
    if missing:
        raise studies.StudyError(f"models without indices: {', '.join(missing)} "
                                 "(run `python -m ctl_core index --model NAME`)")
    catalogue = read_catalogue(ws.catalogue_csv)
    try:  # use the measured product-shot score, as the serving pipeline does
        preds = load_catalogue_inference(ws, models[0])[0][["product_id", "product_shot_score"]]
        catalogue = catalogue.merge(preds, on="product_id", how="left")
    except CatalogueError:
        pass
    queries = studies.sample_queries(catalogue, n=n, seed=seed)
    # Gold pairs, like queries, only show product shots (scenes and cropped photos are not judged).
    if "product_shot_score" in catalogue.columns:
        score = pd.to_numeric(catalogue["product_shot_score"], errors="coerce").fillna(0)
        shots = catalogue[score >= PRODUCT_SHOT_THRESHOLD]
    else:
        shots = catalogue[catalogue["is_product_shot"].astype(str).str.lower() != "false"]
    recommenders = {m: Recommender(ws, m) for m in models}

    def recommend_fn(method: str, product_id: str, kk: int) -> list[tuple[str, int]]:
        rec = recommenders[method].recommend(item_id=product_id, k=kk)
        return [(r.item_id, rank) for rank, r in enumerate(rec.results[:kk], 1)]

    gold: list = []
    if n_gold > 0 and ws.items_csv.exists():
        gold = studies.make_gold_pairs(read_items(ws.items_csv), shots, CLASHING_THEMES,
                                       n_positive=(n_gold + 1) // 2, n_negative=n_gold // 2, seed=seed)
    return studies.create_study(engine, name, queries, list(models), recommend_fn, k=k, overlap=overlap, seed=seed,
                                gold_pairs=gold, progress=progress)
