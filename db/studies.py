"""Human-evaluation studies (paper sec. 6.1.3): sample queries, run every model, pool and hide the pairs.

A study runs each model on each query product (``recommend_fn(method, product_id, k)``), pools the
(query, candidate) pairs, merges pairs several models returned (``pair_sources`` keeps every (model, rank), so a
judgment counts for each of them), mixes in gold pairs, and shuffles with the study seed so pair order and pair
ids reveal nothing about which model produced a pair.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, case, func, select
from sqlalchemy.exc import IntegrityError

from ctl_core.data.categories import CATEGORIES, slots_compatible
from ctl_core.images import PRODUCT_SHOT_THRESHOLD
from db.schema import Judgment, Pair, PairSource, Study, StudyQuery, utcnow
from db.session import read_session, write_session
from db.store import StoreError

RecommendFn = Callable[[str, str, int], Sequence[tuple[str, int]]]
STATUSES = ("open", "closed")


class StudyError(StoreError):
    """A study that cannot be created or changed as asked."""


@dataclass(frozen=True)
class StudyInfo:
    study_id: int
    name: str
    created_at: datetime
    k: int
    overlap: int
    seed: int
    models: tuple[str, ...]
    status: str
    num_queries: int
    num_pairs: int
    num_gold: int
    num_judgments: int


def create_study(engine: Engine, name: str, query_product_ids: Sequence[str], models: Sequence[str],
                 recommend_fn: RecommendFn, k: int = 5, overlap: int = 2, seed: int = 0,
                 gold_pairs: Iterable[tuple[str, str, bool]] = (),
                 progress: Callable[[str, int, int], None] | None = None) -> int:
    """Create a study and return its id. All models are run before anything is written (one transaction).

    A candidate equal to its query is dropped; a gold pair that a model also returned is dropped from the gold
    set (it stays a model pair, judged like the others).
    """
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise StudyError("study name must be 1–200 characters")
    queries = list(dict.fromkeys(str(q) for q in query_product_ids))
    models = list(dict.fromkeys(models))
    if not queries:
        raise StudyError("a study needs at least one query product")
    if not models:
        raise StudyError("a study needs at least one model")
    if k < 1 or overlap < 1:
        raise StudyError(f"k and overlap must be >= 1, got k={k}, overlap={overlap}")
    taken = StudyError(f"a study named {name!r} already exists; choose another name")
    with read_session(engine) as s:
        if s.scalar(select(Study.id).where(Study.name == name)) is not None:
            raise taken

    pooled: dict[tuple[str, str], dict[str, int]] = {}
    total = len(queries) * len(models)
    for i, (q, m) in enumerate((q, m) for q in queries for m in models):
        for cand, rank in list(recommend_fn(m, q, k))[:k]:
            cand = str(cand)
            if cand == q:
                continue
            sources = pooled.setdefault((q, cand), {})
            sources[m] = min(int(rank), sources.get(m, int(rank)))
        if progress:
            progress("recommend", i + 1, total)

    gold: dict[tuple[str, str], bool] = {}
    for q, c, label in gold_pairs:
        key = (str(q), str(c))
        if key[0] != key[1] and key not in pooled:
            gold[key] = bool(label)

    entries: list[tuple[tuple[str, str], dict[str, int] | None]] = [(key, src) for key, src in pooled.items()]
    entries += [(key, None) for key in gold]
    random.Random(f"study:{seed}").shuffle(entries)

    try:
        with write_session(engine) as s:
            # Checked again inside the write transaction; the unique name still settles a race on PostgreSQL.
            if s.scalar(select(Study.id).where(Study.name == name)) is not None:
                raise taken
            study = Study(name=name, created_at=utcnow(), k=k, overlap=overlap, seed=seed, models=models,
                          status="open")
            s.add(study)
            s.flush()
            s.add_all(StudyQuery(study_id=study.id, product_id=q, position=i) for i, q in enumerate(queries))
            for (q, c), src in entries:
                pair = Pair(study_id=study.id, query_product_id=q, candidate_product_id=c,
                            is_gold=src is None, gold_label=gold.get((q, c)) if src is None else None)
                pair.sources = [PairSource(model=m, rank=r) for m, r in sorted((src or {}).items())]
                s.add(pair)
            s.flush()
            return study.id
    except IntegrityError:  # another process created a study of this name after our checks
        with read_session(engine) as s:
            if s.scalar(select(Study.id).where(Study.name == name)) is not None:
                raise taken from None
        raise


def list_studies(engine: Engine) -> list[StudyInfo]:
    """Every study, newest first, with counts."""
    with read_session(engine) as s:
        counts = {sid: (n, g) for sid, n, g in s.execute(
            select(Pair.study_id, func.count(), func.sum(case((Pair.is_gold.is_(True), 1), else_=0)))
            .group_by(Pair.study_id)).all()}
        jcounts = dict(s.execute(select(Pair.study_id, func.count()).join(Judgment, Judgment.pair_id == Pair.id)
                                 .group_by(Pair.study_id)).all())
        qcounts = dict(s.execute(select(StudyQuery.study_id, func.count()).group_by(StudyQuery.study_id)).all())
        out = []
        for st in s.scalars(select(Study).order_by(Study.created_at.desc(), Study.id.desc())):
            n, g = counts.get(st.id, (0, 0))
            out.append(StudyInfo(st.id, st.name, st.created_at, st.k, st.overlap, st.seed, tuple(st.models),
                                 st.status, qcounts.get(st.id, 0), int(n or 0), int(g or 0), jcounts.get(st.id, 0)))
        return out


def get_study(engine: Engine, study_id: int) -> StudyInfo:
    for info in list_studies(engine):
        if info.study_id == study_id:
            return info
    raise StudyError(f"no study with id {study_id}")


def set_study_status(engine: Engine, study_id: int, status: str) -> None:
    """Open or close a study (a closed study accepts no judgments)."""
    if status not in STATUSES:
        raise StudyError(f"status must be one of {STATUSES}, got {status!r}")
    with write_session(engine) as s:
        st = s.get(Study, study_id)
        if st is None:
            raise StudyError(f"no study with id {study_id}")
        st.status = status


def study_pairs(engine: Engine, study_id: int) -> pd.DataFrame:
    """One row per (pair, model source): pair_id, query/candidate ids, is_gold, gold_label, model, rank."""
    with read_session(engine) as s:
        rows = s.execute(select(Pair.id, Pair.query_product_id, Pair.candidate_product_id, Pair.is_gold,
                                Pair.gold_label, PairSource.model, PairSource.rank)
                         .outerjoin(PairSource, PairSource.pair_id == Pair.id)
                         .where(Pair.study_id == study_id).order_by(Pair.id, PairSource.model)).all()
    df = pd.DataFrame(rows, columns=["pair_id", "query_product_id", "candidate_product_id", "is_gold",
                                     "gold_label", "model", "rank"])
    df["rank"] = df["rank"].astype("Int64")
    df["is_gold"] = df["is_gold"].astype(bool)
    return df


def _truthy(v: object) -> bool | None:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return None
    if isinstance(v, str):
        t = v.strip().lower()
        if t in ("", "nan", "none"):
            return None
        return t in ("1", "true", "yes", "y", "t")
    return bool(v)


def sample_queries(catalogue_df: pd.DataFrame, n: int = 120, seed: int = 0,
                   min_product_shot_score: float | None = PRODUCT_SHOT_THRESHOLD,
                   category_column: str = "category") -> list[str]:
    """``n`` product ids of product-shot quality, stratified across categories (proportional, each present
    category gets at least one while ``n`` allows). A product counts as a product shot when its
    ``product_shot_score`` column (if present and ``min_product_shot_score`` is set) is at least the threshold,
    else when its ``is_product_shot`` column is true (unknown counts as yes)."""
    df = catalogue_df
    if category_column not in df.columns and "pred_category" in df.columns:
        category_column = "pred_category"
    keep = pd.Series(True, index=df.index)
    if min_product_shot_score is not None and "product_shot_score" in df.columns:
        keep &= pd.to_numeric(df["product_shot_score"], errors="coerce").fillna(0) >= min_product_shot_score
    elif "is_product_shot" in df.columns:
        keep &= df["is_product_shot"].map(lambda v: _truthy(v) is not False)
    df = df[keep].drop_duplicates("product_id")
    if df.empty or n <= 0:
        return []
    groups = {cat: sorted(g["product_id"].astype(str)) for cat, g in df.groupby(category_column, sort=True)}
    total = sum(len(v) for v in groups.values())
    n = min(n, total)
    # Proportional quotas with at least one per category (largest remainder for the rest).
    cats = sorted(groups, key=lambda c: (-len(groups[c]), c))
    quota = {c: 0 for c in cats}
    for c in cats[:n]:
        quota[c] = 1
    left = n - sum(quota.values())
    if left > 0:
        exact = {c: len(groups[c]) / total * n for c in cats}
        for c in cats:
            quota[c] = max(quota[c], min(len(groups[c]), int(exact[c])))
        left = n - sum(quota.values())
        order = sorted(cats, key=lambda c: (-(exact[c] - int(exact[c])), c))
        while left > 0:
            moved = False
            for c in order:
                if left and quota[c] < len(groups[c]):
                    quota[c] += 1
                    left -= 1
                    moved = True
            if not moved:
                break
        while left < 0:  # the at-least-one rule overshot: trim the largest quotas
            c = max(cats, key=lambda c: quota[c])
            quota[c] -= 1
            left += 1
    rng = random.Random(f"queries:{seed}")
    picked: list[str] = []
    for c in sorted(cats):
        picked += rng.sample(groups[c], quota[c])
    rng.shuffle(picked)
    return picked


def make_gold_pairs(items_df: pd.DataFrame, catalogue_df: pd.DataFrame,
                    clashing_themes: Iterable[tuple[str, str]], n_positive: int = 10, n_negative: int = 10,
                    seed: int = 0) -> list[tuple[str, str, bool]]:
    """Gold pairs with known answers: positives are outfit-mates (two catalogue products in one outfit of
    items.csv, in categories that can be worn together); negatives pair products of clashing themes (e.g.
    ``ctl_core.data.universe.CLASHING_THEMES``) in wearable-together categories that never share an outfit."""
    rng = random.Random(f"gold:{seed}")
    cat = dict(zip(catalogue_df["product_id"].astype(str), catalogue_df["category"].astype(str)))

    def wearable(a: str, b: str) -> bool:
        ca, cb = cat.get(a), cat.get(b)
        return ca in CATEGORIES and cb in CATEGORIES and slots_compatible(ca, cb)

    items = items_df[items_df["product_id"].astype(str).str.len() > 0]
    together: set[frozenset[str]] = set()
    positives: list[tuple[str, str]] = []
    for _, g in items.groupby("outfit_id", sort=True):
        pids = sorted(set(g["product_id"].astype(str)))
        for i, a in enumerate(pids):
            for b in pids[i + 1:]:
                together.add(frozenset((a, b)))
                if wearable(a, b):
                    positives.append((a, b))
    positives = sorted(set(positives))
    rng.shuffle(positives)
    out: list[tuple[str, str, bool]] = [(a, b, True) for a, b in positives[:n_positive]]

    negatives: list[tuple[str, str]] = []
    if "theme" in catalogue_df.columns and n_negative > 0:
        by_theme: dict[str, list[str]] = {}
        for pid, theme in zip(catalogue_df["product_id"].astype(str), catalogue_df["theme"].fillna("").astype(str)):
            if theme:
                by_theme.setdefault(theme, []).append(pid)
        clash = sorted({tuple(sorted((a, b))) for a, b in clashing_themes if a != b})
        for ta, tb in clash:
            a_ids, b_ids = sorted(by_theme.get(ta, [])), sorted(by_theme.get(tb, []))
            for _ in range(min(len(a_ids) * len(b_ids), 4 * n_negative)):
                a, b = rng.choice(a_ids), rng.choice(b_ids)
                if wearable(a, b) and frozenset((a, b)) not in together:
                    negatives.append((a, b))
        negatives = sorted(set(negatives))
        rng.shuffle(negatives)
        negatives = [(a, b) if rng.random() < 0.5 else (b, a) for a, b in negatives]  # either side may be the query
        out += [(a, b, False) for a, b in negatives[:n_negative]]
    return out
