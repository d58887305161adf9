"""Adjudication: pairs on which annotators disagree, and gold pairs answered wrongly, wait in a review queue; an
adjudicator settles each with a verdict stored beside the judgments (``db.schema.Adjudication``), never over them.

Every adjudication is a new row, so a pair's rows are its history and the latest one counts. A pair is *in the
queue* when (a) at least two annotators gave it different verdicts (skips ignored), or (b) it is a gold pair and a
verdict differs from its known answer; it is *resolved* once it has an adjudication. Judgments edited after an
adjudication do not reopen it (the queue shows both, with times).

``verdict_frame`` gives the verdicts a result is computed on: ``all`` (every judgment), ``majority`` (one verdict per
pair, the majority of its judgments; ties left out), or ``adjudicated`` (the adjudicated verdict where there is one,
else the majority; unresolved ties left out).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, select

from db.schema import MAX_COMMENT_LEN, Adjudication, Annotator, FailureMode, Pair, Study, utcnow
from db.session import read_session, write_session
from db.stats import judgment_frame
from db.store import StoreError, normalise_name

BASES = ("all", "majority", "adjudicated")
BASIS_TEXT = {"all": "every judgment (each annotator's verdict one observation)",
              "majority": "one verdict per pair: the majority of its annotators (ties left out)",
              "adjudicated": "one verdict per pair: the adjudicator's where a disagreement was settled, else the "
                             "majority (unsettled ties left out)"}


class AdjudicationError(StoreError):
    """An adjudication that cannot be stored as given; nothing was written."""


@dataclass(frozen=True)
class Verdict:
    annotator: str
    compatible: bool | None
    failure_modes: tuple[str, ...]
    comment: str
    seconds_taken: float | None
    updated_at: datetime


@dataclass(frozen=True)
class AdjudicationView:
    adjudication_id: int
    adjudicator: str
    compatible: bool | None
    failure_modes: tuple[str, ...]
    comment: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class ReviewItem:
    """One pair of the queue: both (all) verdicts, why it is there, and its adjudications (oldest first)."""
    pair_id: int
    study_id: int
    query_product_id: str
    candidate_product_id: str
    reason: str  # "disagreement" | "gold"
    gold_label: bool | None
    verdicts: tuple[Verdict, ...]
    adjudications: tuple[AdjudicationView, ...]

    @property
    def resolved(self) -> bool:
        return bool(self.adjudications)

    @property
    def current(self) -> AdjudicationView | None:
        return self.adjudications[-1] if self.adjudications else None


def _adjudications(engine: Engine, study_id: int) -> pd.DataFrame:
    with read_session(engine) as s:
        rows = s.execute(select(Adjudication.id, Adjudication.pair_id, Annotator.name, Adjudication.compatible,
                                Adjudication.failure_modes, Adjudication.comment, Adjudication.reason, Adjudication.at)
                         .join(Pair, Pair.id == Adjudication.pair_id)
                         .join(Annotator, Annotator.id == Adjudication.adjudicator_id)
                         .where(Pair.study_id == study_id).order_by(Adjudication.id)).all()
    return pd.DataFrame(rows, columns=["adjudication_id", "pair_id", "adjudicator", "compatible", "failure_modes",
                                       "comment", "reason", "at"])


def adjudication_frame(engine: Engine, study_id: int) -> pd.DataFrame:
    """Every adjudication of the study, oldest first (failure modes joined by ';'): the history."""
    df = _adjudications(engine, study_id)
    df["failure_modes"] = [";".join(m or ()) for m in df["failure_modes"]]
    return df


def _reasons(j: pd.DataFrame) -> dict[int, str]:
    judged = j[j["compatible"].notna()]
    out: dict[int, str] = {}
    for pid, g in judged.groupby("pair_id"):
        vals = {bool(v) for v in g["compatible"]}
        gold = g["gold_label"].iloc[0]
        if bool(g["is_gold"].iloc[0]) and gold is not None and not pd.isna(gold) and any(
                v != bool(gold) for v in vals):
            out[int(pid)] = "gold"
        elif len(vals) > 1:
            out[int(pid)] = "disagreement"
    return out


def review_queue(engine: Engine, study_id: int, include_resolved: bool = False) -> list[ReviewItem]:
    """The pairs that need an adjudicator (unresolved first, in pair order); resolved ones too when asked."""
    j = judgment_frame(engine, study_id)
    reasons = _reasons(j)
    adj = _adjudications(engine, study_id)
    by_pair: dict[int, list[AdjudicationView]] = {}
    for r in adj.itertuples(index=False):
        by_pair.setdefault(int(r.pair_id), []).append(AdjudicationView(
            int(r.adjudication_id), r.adjudicator, None if pd.isna(r.compatible) else bool(r.compatible),
            tuple(r.failure_modes or ()), r.comment or "", r.reason, r.at))
    items = []
    for pid in sorted(set(reasons) | set(by_pair)):
        g = j[j["pair_id"] == pid]
        if g.empty:
            continue
        first = g.iloc[0]
        verdicts = tuple(Verdict(r.annotator, None if r.compatible is None or pd.isna(r.compatible)
                                 else bool(r.compatible), tuple(r.failure_modes), r.comment or "",
                                 None if pd.isna(r.seconds_taken) else float(r.seconds_taken), r.updated_at)
                         for r in g.sort_values("annotator").itertuples(index=False))
        gold = first["gold_label"]
        item = ReviewItem(pid, study_id, first["query_product_id"], first["candidate_product_id"],
                          reasons.get(pid, "disagreement"), None if gold is None or pd.isna(gold) else bool(gold),
                          verdicts, tuple(by_pair.get(pid, ())))
        if include_resolved or not item.resolved:
            items.append(item)
    items.sort(key=lambda it: (it.resolved, it.pair_id))
    return items


def queue_counts(engine: Engine, study_id: int) -> dict[str, int]:
    """{"open": n, "resolved": n, "disagreement": n, "gold": n} over every pair that entered the queue."""
    items = review_queue(engine, study_id, include_resolved=True)
    return {"open": sum(not i.resolved for i in items), "resolved": sum(i.resolved for i in items),
            "disagreement": sum(i.reason == "disagreement" for i in items),
            "gold": sum(i.reason == "gold" for i in items)}


def adjudicate(engine: Engine, pair_id: int, adjudicator: str, compatible: bool | None,
               failure_modes: Sequence[str] = (), comment: str = "") -> int:
    """Store an adjudicated verdict for a pair (a new row; earlier ones and every judgment stay); returns its id.

    Refused (nothing written): unknown pair or adjudicator, a pair not in the queue, unknown failure modes,
    failure modes on a compatible verdict, a comment over 2000 characters."""
    if compatible is not None and not isinstance(compatible, bool):
        raise AdjudicationError(f"compatible must be True, False or None (cannot be judged), got {compatible!r}")
    if isinstance(failure_modes, str):
        raise AdjudicationError("failure_modes must be a list of codes, not one string")
    codes = list(dict.fromkeys(failure_modes or ()))
    if compatible is True and codes:
        raise AdjudicationError(f"a compatible pair has no failure modes; got {', '.join(codes)}")
    comment = comment or ""
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT_LEN:
        raise AdjudicationError(f"comment must be text of at most {MAX_COMMENT_LEN} characters")
    name = normalise_name(adjudicator)
    with read_session(engine) as s:
        pair = s.get(Pair, pair_id)
        if pair is None:
            raise AdjudicationError(f"no pair with id {pair_id}")
        study_id = pair.study_id
        if s.get(Study, study_id) is None:
            raise AdjudicationError(f"no study with id {study_id}")
    reasons = _reasons(judgment_frame(engine, study_id))
    if pair_id not in reasons:
        raise AdjudicationError(f"pair {pair_id} is not in the review queue (its annotators agree)")
    with write_session(engine) as s:
        aid = s.scalar(select(Annotator.id).where(Annotator.name == name))
        if aid is None:
            raise AdjudicationError(f"unknown adjudicator {name!r}")
        known = set(s.scalars(select(FailureMode.code).where(FailureMode.code.in_(codes)))) if codes else set()
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise AdjudicationError(f"unknown failure mode {unknown[0]!r}")
        row = Adjudication(pair_id=pair_id, adjudicator_id=aid, compatible=compatible, failure_modes=codes,
                           comment=comment, reason=reasons[pair_id], at=utcnow())
        s.add(row)
        s.flush()
        return row.id


# ----------------------------------------------------------------------------------------------- verdict bases

def verdict_frame(engine: Engine, study_id: int, basis: str = "all") -> tuple[pd.DataFrame, dict[str, int]]:
    """The judgment frame results are computed on (``db.stats.judgment_frame`` columns), and counts:
    {"pairs": pairs with a verdict, "ties": pairs left out as unresolved ties, "adjudicated": adjudicated pairs
    used}. For ``majority``/``adjudicated`` each pair has one row, annotator "(majority)" or "(adjudicated)"."""
    if basis not in BASES:
        raise StoreError(f"basis must be one of {', '.join(BASES)}, got {basis!r}")
    j = judgment_frame(engine, study_id)
    if basis == "all":
        return j, {"pairs": int(j["pair_id"].nunique()), "ties": 0, "adjudicated": 0}
    judged = j[j["compatible"].notna()].copy()
    judged["yes"] = judged["compatible"].astype(bool).astype(int)
    g = judged.groupby("pair_id")
    first = g.first()
    yes, n = g["yes"].sum(), g["yes"].size()
    verdict = pd.Series([True if 2 * a > b else False if 2 * a < b else None for a, b in zip(yes, n)],
                        index=yes.index, dtype=object)
    source = pd.Series("(majority)", index=yes.index)
    used_adj = 0
    if basis == "adjudicated":
        adj = _adjudications(engine, study_id)
        latest = adj.groupby("pair_id").last() if len(adj) else adj
        for pid, row in latest.iterrows():
            if pid in verdict.index:
                verdict[pid] = None if pd.isna(row["compatible"]) else bool(row["compatible"])
                source[pid] = "(adjudicated)"
                used_adj += 1
    ties = int(sum(v is None for v, s in zip(verdict, source) if s == "(majority)"))
    out = first.reset_index()[["pair_id", "query_product_id", "candidate_product_id", "is_gold", "gold_label"]]
    out["annotator"] = source.reindex(out["pair_id"]).to_numpy()
    out["compatible"] = verdict.reindex(out["pair_id"]).to_numpy()
    out = out[out["compatible"].notna()].copy()
    out["compatible"] = out["compatible"].astype("object")
    out["judgment_id"] = -out["pair_id"]
    for c in ("comment",):
        out[c] = ""
    out["failure_modes"] = [()] * len(out)
    out["seconds_taken"] = float("nan")
    out["created_at"] = out["updated_at"] = pd.NaT
    return out[list(j.columns)].reset_index(drop=True), {"pairs": len(out), "ties": ties, "adjudicated": used_adj}
