"""Judgment history: every create and edit of a judgment, kept (who, when, old value, new value).

``db.store.submit_judgment`` calls ``snapshot`` (the value before) and ``record`` (one ``JudgmentEvent`` row)
inside its own transaction, so an edit and its history row are committed together or not at all. Statistics
keep reading ``judgments`` (the latest value); this module is how to see what it was before.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from db.schema import Annotator, FailureMode, Judgment, JudgmentEvent, Pair, judgment_failure_modes
from db.session import read_session

HISTORY_COLUMNS = ["event_id", "judgment_id", "pair_id", "query_product_id", "candidate_product_id", "annotator",
                   "at", "action", "old_compatible", "old_failure_modes", "old_comment", "new_compatible",
                   "new_failure_modes", "new_comment", "new_seconds_taken"]


@dataclass(frozen=True)
class JudgmentValue:
    """What a judgment says: verdict (None = skipped), failure-mode codes, comment."""
    compatible: bool | None
    failure_modes: tuple[str, ...]
    comment: str


@dataclass(frozen=True)
class JudgmentEventView:
    event_id: int
    judgment_id: int
    pair_id: int
    annotator: str
    at: datetime
    action: str  # "create" | "edit"
    old: JudgmentValue | None
    new: JudgmentValue
    seconds_taken: float | None


def snapshot(s: Session, pair_id: int, annotator_id: int) -> JudgmentValue | None:
    """The annotator's current judgment of the pair (inside the caller's transaction), or None."""
    row = s.execute(select(Judgment.id, Judgment.compatible, Judgment.comment)
                    .where(Judgment.pair_id == pair_id, Judgment.annotator_id == annotator_id)).first()
    if row is None:
        return None
    link = judgment_failure_modes
    codes = s.scalars(select(FailureMode.code).join(link, link.c.failure_mode_id == FailureMode.id)
                      .where(link.c.judgment_id == row.id).order_by(FailureMode.id))
    return JudgmentValue(row.compatible, tuple(codes), row.comment or "")


def record(s: Session, judgment_id: int, pair_id: int, annotator_id: int, old: JudgmentValue | None,
           new: JudgmentValue, seconds_taken: float | None, at: datetime) -> None:
    """Append one history row (inside the caller's transaction)."""
    s.add(JudgmentEvent(
        judgment_id=judgment_id, pair_id=pair_id, annotator_id=annotator_id, at=at,
        action="create" if old is None else "edit",
        old_compatible=None if old is None else old.compatible,
        old_failure_modes=None if old is None else list(old.failure_modes),
        old_comment=None if old is None else old.comment,
        new_compatible=new.compatible, new_failure_modes=list(new.failure_modes), new_comment=new.comment,
        new_seconds_taken=seconds_taken))
    s.flush()


def judgment_history(engine: Engine, study_id: int | None = None, pair_id: int | None = None,
                     annotator_name: str | None = None) -> list[JudgmentEventView]:
    """History rows, oldest first, optionally of one study, one pair and/or one annotator."""
    q = (select(JudgmentEvent, Annotator.name).join(Annotator, Annotator.id == JudgmentEvent.annotator_id)
         .join(Pair, Pair.id == JudgmentEvent.pair_id).order_by(JudgmentEvent.id))
    if study_id is not None:
        q = q.where(Pair.study_id == study_id)
    if pair_id is not None:
        q = q.where(JudgmentEvent.pair_id == pair_id)
    if annotator_name is not None:
        q = q.where(Annotator.name == annotator_name.strip())
    with read_session(engine) as s:
        out = []
        for e, name in s.execute(q).all():
            old = None if e.action == "create" else JudgmentValue(e.old_compatible, tuple(e.old_failure_modes or ()),
                                                                  e.old_comment or "")
            out.append(JudgmentEventView(e.id, e.judgment_id, e.pair_id, name, e.at, e.action, old,
                                         JudgmentValue(e.new_compatible, tuple(e.new_failure_modes or ()),
                                                       e.new_comment or ""), e.new_seconds_taken))
        return out


def history_frame(engine: Engine, study_id: int) -> pd.DataFrame:
    """A study's history as a table (``HISTORY_COLUMNS``; failure modes joined by ';'), oldest first."""
    with read_session(engine) as s:
        pairs = dict((pid, (q, c)) for pid, q, c in s.execute(
            select(Pair.id, Pair.query_product_id, Pair.candidate_product_id).where(Pair.study_id == study_id)))
    rows = []
    for e in judgment_history(engine, study_id=study_id):
        q, c = pairs.get(e.pair_id, ("", ""))
        rows.append({"event_id": e.event_id, "judgment_id": e.judgment_id, "pair_id": e.pair_id,
                     "query_product_id": q, "candidate_product_id": c, "annotator": e.annotator, "at": e.at,
                     "action": e.action,
                     "old_compatible": None if e.old is None else e.old.compatible,
                     "old_failure_modes": "" if e.old is None else ";".join(e.old.failure_modes),
                     "old_comment": "" if e.old is None else e.old.comment,
                     "new_compatible": e.new.compatible, "new_failure_modes": ";".join(e.new.failure_modes),
                     "new_comment": e.new.comment, "new_seconds_taken": e.seconds_taken})
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)
