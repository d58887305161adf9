"""Create a study from a workspace: sample product-shot queries, run each model's real recommender end to end,
mix in gold pairs. The CLI's ``study create`` and the app's Studies page both call this."""
from __future__ import annotations

from typing import Callable, Sequence

import pandas as pd
from sqlalchemy.engine import Engine

from ctl_core.config import Workspace
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
    from ctl_core.recommender import Recommender
    from ctl_core.schema import read_catalogue, read_items

    missing = [m for m in models if not (ws.index_dir(m) / "manifest.json").exists()]
    if missing:
        raise studies.StudyError(f"models without indices: {', '.join(missing)} "
                                 "(run `python -m ctl_core index --model NAME`)")
    catalogue = read_catalogue(ws.catalogue_csv)
    preds_csv = ws.catalogue_dir(models[0]) / "predictions.csv"
    if preds_csv.exists():  # use the measured product-shot score, as the serving pipeline does
        preds = pd.read_csv(preds_csv, dtype={"product_id": str})[["product_id", "product_shot_score"]]
        catalogue = catalogue.merge(preds, on="product_id", how="left")
    queries = studies.sample_queries(catalogue, n=n, seed=seed)
    # Gold pairs, like queries, only show product shots (scenes and cropped photos are not judged).
    if "product_shot_score" in catalogue.columns:
        shots = catalogue[pd.to_numeric(catalogue["product_shot_score"], errors="coerce").fillna(0) >= 0.5]
    else:
        shots = catalogue[catalogue["is_product_shot"].astype(str).str.lower() != "false"]
    recommenders = {m: Recommender(ws, m) for m in models}

    def recommend_fn(method: str, product_id: str, kk: int) -> list[tuple[str, int]]:
        rec = recommenders[method].recommend(item_id=product_id, k=kk)
        return [(r.item_id, rank) for rank, r in enumerate(rec.results[:kk], 1)]

    gold: list = []
    if n_gold > 0 and ws.items_csv.exists():
        try:
            from ctl_core.universe import CLASHING_THEMES
        except ImportError:
            CLASHING_THEMES = ()
        gold = studies.make_gold_pairs(read_items(ws.items_csv), shots, CLASHING_THEMES,
                                       n_positive=(n_gold + 1) // 2, n_negative=n_gold // 2, seed=seed)
    return studies.create_study(engine, name, queries, list(models), recommend_fn, k=k, overlap=overlap, seed=seed,
                                gold_pairs=gold, progress=progress)
