"""Queries for labelling: annotators, failure modes, judgments, the next pair to judge, progress.

Every function takes an engine and runs in its own transaction; writes validate everything first and either
commit completely or write nothing (a refused submit raises ``JudgmentError`` and leaves the database as it was).
Every create and edit of a judgment also appends its history row (``db.history``) in that same transaction.
Only bound parameters reach SQL. Upserts use the dialect's ``insert(...).on_conflict_do_update`` (SQLite and
PostgreSQL share the syntax), chosen by the engine's dialect name.
"""
from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, and_, delete, func, select
from sqlalchemy.orm import Session

from db import history
from db.names import hidden_character
from db.schema import (
    MAX_COMMENT_LEN,
    MAX_NAME_LEN,
    Annotator,
    Assignment,
    FailureMode,
    Judgment,
    Pair,
    Study,
    judgment_failure_modes,
    utcnow,
)
from db.session import read_session, write_session

ASSIGNMENT_LEASE = timedelta(minutes=30)
"""How long a shown but unjudged pair stays reserved for its annotator. After that it no longer counts toward the
pair's overlap, so an annotator who walks away does not hold pairs back from the others; if they come back, they
keep the pair unless others have filled its overlap meanwhile (then they get another)."""


class StoreError(ValueError):
    """A request the database refuses (bad input a user can cause); the message names the problem."""


class AnnotatorError(StoreError):
    """Bad or unknown annotator name."""


class FailureModeError(StoreError):
    """Bad, unknown or inactive failure mode."""


class JudgmentError(StoreError):
    """A judgment that cannot be stored as given; nothing was written."""


@dataclass(frozen=True)
class FailureModeInfo:
    code: str
    label: str
    description: str
    active: bool


@dataclass(frozen=True)
class PairView:
    """What a labeller sees of a pair: no model identity."""
    pair_id: int
    study_id: int
    query_product_id: str
    candidate_product_id: str
    position: int | None = None


@dataclass(frozen=True)
class JudgmentView:
    judgment_id: int
    pair_id: int
    query_product_id: str
    candidate_product_id: str
    compatible: bool | None
    failure_modes: tuple[str, ...]
    comment: str
    seconds_taken: float | None
    updated_at: datetime


@dataclass(frozen=True)
class Progress:
    """``judged``/``total`` for one annotator (0/0 without one) and for the study (needed = pairs × overlap)."""
    judged: int
    total: int
    study_judged: int
    study_total: int

    @property
    def fraction(self) -> float:
        return self.judged / self.total if self.total else 0.0

    @property
    def study_fraction(self) -> float:
        return self.study_judged / self.study_total if self.study_total else 0.0


# ----------------------------------------------------------------------------------------------- helpers

def dialect_insert(engine_or_session: Engine | Session, table: Any):
    """``insert(table)`` of the engine's dialect, which has ``on_conflict_do_update/do_nothing``."""
    bind = engine_or_session.get_bind() if isinstance(engine_or_session, Session) else engine_or_session
    name = bind.dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"upsert is implemented for sqlite and postgresql, not {name!r}")
    return insert(table)


def normalise_name(name: object) -> str:
    """An annotator name trimmed of surrounding whitespace; 1–80 visible characters or ``AnnotatorError`` (control,
    format and invisible characters refused: ``db.names.hidden_character``)."""
    if not isinstance(name, str):
        raise AnnotatorError(f"annotator name must be text, got {type(name).__name__}")
    clean = name.strip()
    if not clean:
        raise AnnotatorError("annotator name is empty; type your name first")
    if len(clean) > MAX_NAME_LEN:
        raise AnnotatorError(f"annotator name is {len(clean)} characters long; at most {MAX_NAME_LEN} allowed")
    hidden = hidden_character(clean)
    if hidden:
        raise AnnotatorError(f"annotator name contains an invisible or control character ({hidden}); "
                             "type the name again without it")
    return clean


def _annotator_id(s: Session, name: str) -> int:
    clean = normalise_name(name)
    aid = s.scalar(select(Annotator.id).where(Annotator.name == clean))
    if aid is None:
        raise AnnotatorError(f"unknown annotator {clean!r}; register the name first")
    return aid


def _study(s: Session, study_id: int, lock: bool = False) -> Study:
    q = select(Study).where(Study.id == study_id)
    if lock:
        q = q.with_for_update()  # PostgreSQL row lock; SQLite already holds the write lock (BEGIN IMMEDIATE)
    study = s.scalar(q)
    if study is None:
        raise StoreError(f"no study with id {study_id}")
    return study


def own_order(study: Study, annotator_name: str, pair_ids: Iterable[int]) -> dict[int, int]:
    """Rank of each pair in the annotator's own order: a shuffle seeded by (study seed, study id, name)."""
    ids = sorted(pair_ids)
    random.Random(f"{study.seed}:{study.id}:{annotator_name}").shuffle(ids)
    return {pid: i for i, pid in enumerate(ids)}


# ----------------------------------------------------------------------------------------------- annotators

def get_or_create_annotator(engine: Engine, name: str) -> int:
    """Id of the annotator called ``name`` (trimmed), created if new. Safe under concurrent calls."""
    clean = normalise_name(name)
    with write_session(engine) as s:
        stmt = dialect_insert(s, Annotator.__table__).values(name=clean, created_at=utcnow())
        s.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
        return s.scalar(select(Annotator.id).where(Annotator.name == clean))


def list_annotators(engine: Engine) -> list[str]:
    with read_session(engine) as s:
        return list(s.scalars(select(Annotator.name).order_by(Annotator.name)))


# ----------------------------------------------------------------------------------------------- failure modes

def list_failure_modes(engine: Engine, active_only: bool = True) -> list[FailureModeInfo]:
    """Failure modes in creation order (the defaults first)."""
    with read_session(engine) as s:
        q = select(FailureMode).order_by(FailureMode.id)
        if active_only:
            q = q.where(FailureMode.active.is_(True))
        return [FailureModeInfo(m.code, m.label, m.description, m.active) for m in s.scalars(q)]


def add_failure_mode(engine: Engine, code: str, label: str, description: str = "") -> FailureModeInfo:
    """Add a failure mode, or re-activate and relabel an existing code."""
    code = (code or "").strip().lower()
    if not code or len(code) > 50 or not all(ch.isalnum() or ch == "_" for ch in code) or not code.isascii():
        raise FailureModeError(f"failure-mode code {code!r} must be 1–50 characters of a-z, 0-9 and _")
    label = (label or "").strip()
    if not label or len(label) > 100:
        raise FailureModeError("failure-mode label must be 1–100 characters")
    with write_session(engine) as s:
        stmt = dialect_insert(s, FailureMode.__table__).values(code=code, label=label, description=description,
                                                               active=True)
        s.execute(stmt.on_conflict_do_update(index_elements=["code"], set_={
            "label": label, "description": description, "active": True}))
    return FailureModeInfo(code, label, description, True)


def deactivate_failure_mode(engine: Engine, code: str) -> None:
    """Hide a failure mode from labellers; past judgments keep it."""
    with write_session(engine) as s:
        mode = s.scalar(select(FailureMode).where(FailureMode.code == code))
        if mode is None:
            raise FailureModeError(f"unknown failure mode {code!r}")
        mode.active = False


# ----------------------------------------------------------------------------------------------- judgments

def _check_judgment_input(compatible: object, failure_modes: Sequence[str] | None, comment: object,
                          seconds_taken: object) -> tuple[list[str], str, float | None]:
    if compatible is not None and not isinstance(compatible, bool):
        raise JudgmentError(f"compatible must be True, False or None (skip), got {compatible!r}")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise JudgmentError(f"comment must be text, got {type(comment).__name__}")
    if len(comment) > MAX_COMMENT_LEN:
        raise JudgmentError(f"comment is {len(comment)} characters long; at most {MAX_COMMENT_LEN} allowed")
    if isinstance(failure_modes, str):
        raise JudgmentError("failure_modes must be a list of codes, not one string")
    codes: list[str] = []
    for c in failure_modes or ():
        if not isinstance(c, str):
            raise JudgmentError(f"failure-mode codes must be text, got {c!r}")
        if c not in codes:
            codes.append(c)
    if compatible is True and codes:
        raise JudgmentError(f"a compatible pair has no failure modes; got {', '.join(codes)}")
    if seconds_taken is not None:
        try:
            seconds = float(seconds_taken)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise JudgmentError(f"seconds_taken must be a number, got {seconds_taken!r}") from None
        if not math.isfinite(seconds) or seconds < 0:
            raise JudgmentError(f"seconds_taken must be a finite number >= 0, got {seconds_taken!r}")
        seconds_taken = seconds
    return codes, comment, seconds_taken  # type: ignore[return-value]


def _ensure_assignment(s: Session, study: Study, pair_id: int, annotator_id: int, annotator_name: str) -> None:
    exists = s.scalar(select(Assignment.id).where(Assignment.pair_id == pair_id,
                                                  Assignment.annotator_id == annotator_id))
    if exists is not None:
        return
    pair_ids = s.scalars(select(Pair.id).where(Pair.study_id == study.id))
    position = own_order(study, annotator_name, pair_ids)[pair_id]
    stmt = dialect_insert(s, Assignment.__table__).values(pair_id=pair_id, annotator_id=annotator_id,
                                                          position=position, created_at=utcnow())
    s.execute(stmt.on_conflict_do_nothing(index_elements=["pair_id", "annotator_id"]))


def submit_judgment(engine: Engine, study_id: int, pair_id: int, annotator_name: str, compatible: bool | None,
                    failure_modes: Sequence[str] | None = (), comment: str | None = "",
                    seconds_taken: float | None = None) -> int:
    """Store (or replace) the annotator's judgment of a pair; returns the judgment id.

    ``compatible`` None = skipped. A repeated submit for the same (pair, annotator) updates the one row and
    replaces its failure modes; the same transaction appends old and new value to ``db.history`` (the pair row is
    locked first, so edits of one pair queue up on PostgreSQL too). Refused with ``JudgmentError`` (nothing
    written): unknown annotator or pair, a pair of another study, a closed study, an unknown or inactive failure
    mode, a comment over 2000 characters, failure modes on a compatible pair. An edit may keep a failure mode that
    was deactivated after the judgment chose it (not add one).
    """
    codes, comment, seconds_taken = _check_judgment_input(compatible, failure_modes, comment, seconds_taken)
    with write_session(engine) as s:
        try:
            annotator_id = _annotator_id(s, annotator_name)
        except AnnotatorError as e:
            raise JudgmentError(str(e)) from None
        name = normalise_name(annotator_name)
        pair = s.scalar(select(Pair).where(Pair.id == pair_id).with_for_update())
        if pair is None:
            raise JudgmentError(f"no pair with id {pair_id}")
        if pair.study_id != study_id:
            raise JudgmentError(f"pair {pair_id} belongs to study {pair.study_id}, not study {study_id}")
        study = s.get(Study, study_id)
        if study is None or study.status != "open":
            raise JudgmentError(f"study {study_id} is not open for judgments")
        old = history.snapshot(s, pair_id, annotator_id)
        kept = set(old.failure_modes) if old is not None else set()  # deactivated since: may stay, not be added
        mode_ids: list[int] = []
        if codes:
            rows = {m.code: m for m in s.scalars(select(FailureMode).where(FailureMode.code.in_(codes)))}
            for c in codes:
                if c not in rows:
                    raise JudgmentError(f"unknown failure mode {c!r}")
                if not rows[c].active and c not in kept:
                    raise JudgmentError(f"failure mode {c!r} is no longer in use")
                mode_ids.append(rows[c].id)

        now = utcnow()
        values = dict(pair_id=pair_id, annotator_id=annotator_id, compatible=compatible, comment=comment,
                      seconds_taken=seconds_taken, created_at=now, updated_at=now)
        stmt = dialect_insert(s, Judgment.__table__).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["pair_id", "annotator_id"],
            set_={"compatible": stmt.excluded.compatible, "comment": stmt.excluded.comment,
                  "seconds_taken": stmt.excluded.seconds_taken, "updated_at": stmt.excluded.updated_at},
        ).returning(Judgment.__table__.c.id)
        judgment_id = s.execute(stmt).scalar_one()
        link: Table = judgment_failure_modes
        s.execute(delete(link).where(link.c.judgment_id == judgment_id))
        if mode_ids:
            s.execute(link.insert(), [{"judgment_id": judgment_id, "failure_mode_id": m} for m in mode_ids])
        _ensure_assignment(s, study, pair_id, annotator_id, name)
        history.record(s, judgment_id, pair_id, annotator_id, old, history.JudgmentValue(compatible, tuple(codes),
                       comment), seconds_taken, now)
        return judgment_id


def _unjudged_assigned(s: Session, study_id: int, annotator_id: int) -> tuple[PairView, datetime] | None:
    j = Judgment.__table__
    row = s.execute(
        select(Pair.id, Pair.query_product_id, Pair.candidate_product_id, Assignment.position, Assignment.created_at)
        .join(Assignment, Assignment.pair_id == Pair.id)
        .outerjoin(j, and_(j.c.pair_id == Pair.id, j.c.annotator_id == annotator_id))
        .where(Pair.study_id == study_id, Assignment.annotator_id == annotator_id, j.c.id.is_(None))
        .order_by(Assignment.position, Pair.id).limit(1)
    ).first()
    return None if row is None else (PairView(row[0], study_id, row[1], row[2], row[3]), row[4])


def _is_stale(created_at: datetime, now: datetime, lease: timedelta) -> bool:
    if created_at.tzinfo is None:  # SQLite returns naive UTC
        now = now.replace(tzinfo=None)
    return created_at < now - lease


def _holders(s: Session, study_id: int, now: datetime, lease: timedelta,
             exclude_annotator: int | None = None) -> dict[int, int]:
    """pair id -> annotators holding it: those who judged it, and those shown it less than ``lease`` ago."""
    j = Judgment.__table__
    q = (select(Assignment.pair_id, func.count())
         .join(Pair, Pair.id == Assignment.pair_id)
         .outerjoin(j, and_(j.c.pair_id == Assignment.pair_id, j.c.annotator_id == Assignment.annotator_id))
         .where(Pair.study_id == study_id, (j.c.id.is_not(None)) | (Assignment.created_at >= now - lease)))
    if exclude_annotator is not None:
        q = q.where(Assignment.annotator_id != exclude_annotator)
    return dict(s.execute(q.group_by(Assignment.pair_id)).all())


def next_pair(engine: Engine, study_id: int, annotator_name: str,
              lease: timedelta = ASSIGNMENT_LEASE) -> PairView | None:
    """The annotator's next unjudged pair, or None when nothing is left (or the study is closed).

    A pair already assigned to the annotator and not judged comes first. Otherwise one new pair is assigned: a
    non-gold pair held by fewer than ``overlap`` annotators, preferring pairs that already have the MOST holders
    (pairs are completed to ``overlap`` judges before new ones are opened, so agreement is measurable from the
    first judgments and a study stopped early holds fully judged pairs), ties broken by the annotator's own seeded
    order. Gold pairs go to every annotator (they measure each annotator's reliability) and are interleaved by the
    same own order. A holder is an annotator who judged the pair or was shown it less than ``lease`` ago
    (``ASSIGNMENT_LEASE``): abandoned assignments are released. An annotator who returns after the lease keeps
    their pair (its lease renewed) unless others have filled its overlap meanwhile; then it is dropped and another
    is assigned.
    """
    now = utcnow()
    with read_session(engine) as s:
        annotator_id = _annotator_id(s, annotator_name)
        study = _study(s, study_id)
        if study.status != "open":
            return None
        found = _unjudged_assigned(s, study_id, annotator_id)
    if found is not None and not _is_stale(found[1], now, lease):
        return found[0]
    name = normalise_name(annotator_name)
    with write_session(engine) as s:
        study = _study(s, study_id, lock=True)
        found = _unjudged_assigned(s, study_id, annotator_id)
        if found is not None:
            view = found[0]
            if not _is_stale(found[1], now, lease):
                return view
            mine = s.scalar(select(Assignment).where(Assignment.pair_id == view.pair_id,
                                                     Assignment.annotator_id == annotator_id))
            is_gold = s.scalar(select(Pair.is_gold).where(Pair.id == view.pair_id))
            others = _holders(s, study_id, now, lease, exclude_annotator=annotator_id).get(view.pair_id, 0)
            if is_gold or others < study.overlap:
                mine.created_at = now  # still needed: the lease starts again
                return view
            s.delete(mine)  # the others filled it while this annotator was away
            s.flush()
        pairs = s.execute(select(Pair.id, Pair.is_gold, Pair.query_product_id, Pair.candidate_product_id)
                          .where(Pair.study_id == study_id)).all()
        counts = _holders(s, study_id, now, lease)
        mine_ids = set(s.scalars(select(Assignment.pair_id).join(Pair, Pair.id == Assignment.pair_id)
                                 .where(Pair.study_id == study_id, Assignment.annotator_id == annotator_id)))
        regular = [p for p in pairs if not p.is_gold and p.id not in mine_ids and counts.get(p.id, 0) < study.overlap]
        gold = [p for p in pairs if p.is_gold and p.id not in mine_ids]
        if regular:
            most = max(counts.get(p.id, 0) for p in regular)
            regular = [p for p in regular if counts.get(p.id, 0) == most]
        tier = regular + gold
        if not tier:
            return None
        order = own_order(study, name, (p.id for p in pairs))
        chosen = min(tier, key=lambda p: order[p.id])
        stmt = dialect_insert(s, Assignment.__table__).values(pair_id=chosen.id, annotator_id=annotator_id,
                                                              position=order[chosen.id], created_at=now)
        s.execute(stmt.on_conflict_do_nothing(index_elements=["pair_id", "annotator_id"]))
        return PairView(chosen.id, study_id, chosen.query_product_id, chosen.candidate_product_id, order[chosen.id])


def get_pair(engine: Engine, pair_id: int) -> PairView:
    with read_session(engine) as s:
        p = s.get(Pair, pair_id)
        if p is None:
            raise StoreError(f"no pair with id {pair_id}")
        return PairView(p.id, p.study_id, p.query_product_id, p.candidate_product_id)


def _judgment_views(s: Session, where: Any, limit: int | None = None) -> list[JudgmentView]:
    q = (select(Judgment, Pair.query_product_id, Pair.candidate_product_id)
         .join(Pair, Pair.id == Judgment.pair_id).where(where)
         .order_by(Judgment.updated_at.desc(), Judgment.id.desc()))
    if limit is not None:
        q = q.limit(limit)
    out = []
    for j, qid, cid in s.execute(q).all():
        out.append(JudgmentView(j.id, j.pair_id, qid, cid, j.compatible, tuple(m.code for m in j.failure_modes),
                                j.comment, j.seconds_taken, j.updated_at))
    return out


def recent_judgments(engine: Engine, study_id: int, annotator_name: str, n: int = 5) -> list[JudgmentView]:
    """The annotator's ``n`` most recently submitted or edited judgments in the study, newest first."""
    with read_session(engine) as s:
        aid = _annotator_id(s, annotator_name)
        return _judgment_views(s, and_(Pair.study_id == study_id, Judgment.annotator_id == aid), limit=max(0, n))


def get_judgment(engine: Engine, pair_id: int, annotator_name: str) -> JudgmentView | None:
    """The annotator's current judgment of a pair (to pre-fill an edit), or None."""
    with read_session(engine) as s:
        aid = _annotator_id(s, annotator_name)
        found = _judgment_views(s, and_(Judgment.pair_id == pair_id, Judgment.annotator_id == aid))
        return found[0] if found else None


def progress(engine: Engine, study_id: int, annotator_name: str | None = None,
             lease: timedelta = ASSIGNMENT_LEASE) -> Progress:
    """Judgments done/needed, gold pairs counted alike in both (an annotator cannot tell them apart, so her count
    includes them, and so does the study's). Study: non-gold pairs × overlap, each pair's judgments counted up to
    overlap, plus every gold pair for each annotator who has started the study (gold goes to everyone).
    Annotator: judgments made (skips included) / those plus every pair still open to them."""
    with read_session(engine) as s:
        study = _study(s, study_id)
        pairs = s.execute(select(Pair.id, Pair.is_gold).where(Pair.study_id == study_id)).all()
        jcount = dict(s.execute(select(Judgment.pair_id, func.count()).join(Pair, Pair.id == Judgment.pair_id)
                                .where(Pair.study_id == study_id).group_by(Judgment.pair_id)).all())
        regular = [p.id for p in pairs if not p.is_gold]
        gold = [p.id for p in pairs if p.is_gold]
        started = s.scalar(select(func.count(func.distinct(Assignment.annotator_id)))
                           .join(Pair, Pair.id == Assignment.pair_id).where(Pair.study_id == study_id)) or 0
        study_total = len(regular) * study.overlap + len(gold) * started
        study_judged = (sum(min(jcount.get(pid, 0), study.overlap) for pid in regular)
                        + sum(jcount.get(pid, 0) for pid in gold))
        if annotator_name is None:
            return Progress(0, 0, study_judged, study_total)
        aid = _annotator_id(s, annotator_name)
        acount = _holders(s, study_id, utcnow(), lease)
        mine = set(s.scalars(select(Assignment.pair_id).join(Pair, Pair.id == Assignment.pair_id)
                             .where(Pair.study_id == study_id, Assignment.annotator_id == aid)))
        judged = s.scalar(select(func.count()).select_from(Judgment).join(Pair, Pair.id == Judgment.pair_id)
                          .where(Pair.study_id == study_id, Judgment.annotator_id == aid)) or 0
        open_to_me = sum(1 for p in pairs if p.id not in mine
                         and (p.is_gold or acount.get(p.id, 0) < study.overlap))
        unjudged_mine = len(mine) - s.scalar(
            select(func.count()).select_from(Judgment).join(Assignment, and_(
                Assignment.pair_id == Judgment.pair_id, Assignment.annotator_id == Judgment.annotator_id))
            .join(Pair, Pair.id == Judgment.pair_id).where(Pair.study_id == study_id, Judgment.annotator_id == aid))
        return Progress(judged, judged + unjudged_mine + open_to_me, study_judged, study_total)
