"""Human-evaluation schema (paper sec. 6.1.3, 6.5): studies, pairs, assignments, judgments, failure modes.

Integrity lives in the schema, not only in code: one judgment per (pair, annotator) (a repeated submit is an
upsert), one pair per (study, query, candidate), one assignment per (pair, annotator), foreign keys everywhere,
length checks on names and comments. Portable SQL only (SQLite and PostgreSQL).
"""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

MAX_NAME_LEN = 80
MAX_COMMENT_LEN = 2000

# The editable failure-mode list starts with these (code, label, description).
DEFAULT_FAILURE_MODES: tuple[tuple[str, str, str], ...] = (
    ("colour_clash", "Colour clash", "The colours fight each other (e.g. orange trainers with a fuchsia dress)."),
    ("print_clash", "Print/pattern clash", "Two busy prints compete (e.g. leopard-print bag with a plaid skirt)."),
    ("season_mismatch", "Season mismatch", "Made for different seasons (e.g. wool coat with a swimsuit)."),
    ("formality_mismatch", "Formality/occasion mismatch",
     "Different occasions (e.g. sequinned evening gown with running shoes)."),
    ("style_mismatch", "Style mismatch", "Different aesthetics (e.g. punk studded boots with a preppy cardigan)."),
    ("wrong_category", "Wrong category",
     "The candidate cannot complete the look (same slot as the query, e.g. a skirt for a pair of trousers)."),
    ("too_similar", "Too similar to the query", "A near-duplicate of the query rather than a complement."),
    ("price_mismatch", "Price mismatch", "Wildly different price tiers (e.g. a couture bag with a budget tee)."),
    ("bad_image", "Bad or non-product image",
     "The image is broken, a scene or a model shot, or shows several products; the pair cannot be judged."),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


judgment_failure_modes = Table(
    "judgment_failure_modes", Base.metadata,
    Column("judgment_id", ForeignKey("judgments.id", ondelete="CASCADE"), primary_key=True),
    Column("failure_mode_id", ForeignKey("failure_modes.id"), primary_key=True),
)


class Annotator(Base):
    __tablename__ = "annotators"
    __table_args__ = (CheckConstraint(f"length(name) BETWEEN 1 AND {MAX_NAME_LEN}", name="ck_annotator_name_len"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_LEN), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Study(Base):
    __tablename__ = "studies"
    __table_args__ = (CheckConstraint("k >= 1", name="ck_study_k"),
                      CheckConstraint("overlap >= 1", name="ck_study_overlap"))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    k: Mapped[int] = mapped_column(Integer)
    overlap: Mapped[int] = mapped_column(Integer, default=2)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    models: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="open")

    queries: Mapped[list["StudyQuery"]] = relationship(back_populates="study", order_by="StudyQuery.position")


class StudyQuery(Base):
    __tablename__ = "study_queries"
    __table_args__ = (UniqueConstraint("study_id", "product_id", name="uq_study_query"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)

    study: Mapped[Study] = relationship(back_populates="queries")


class Pair(Base):
    """One (query, candidate) pair of a study; pair ids follow the seeded shuffle, so they reveal no model."""

    __tablename__ = "pairs"
    __table_args__ = (UniqueConstraint("study_id", "query_product_id", "candidate_product_id", name="uq_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    query_product_id: Mapped[str] = mapped_column(String(200))
    candidate_product_id: Mapped[str] = mapped_column(String(200))
    is_gold: Mapped[bool] = mapped_column(Boolean, default=False)
    gold_label: Mapped[bool | None] = mapped_column(Boolean, nullable=True)

    sources: Mapped[list["PairSource"]] = relationship(back_populates="pair")


class PairSource(Base):
    """Which model produced a pair and at which rank; several models can share one pair."""

    __tablename__ = "pair_sources"

    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(100), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)

    pair: Mapped[Pair] = relationship(back_populates="sources")


class Assignment(Base):
    """A pair handed to an annotator; ``position`` is the pair's place in that annotator's own seeded order."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("pair_id", "annotator_id", name="uq_assignment"),
                      Index("ix_assignment_annotator", "annotator_id", "position"))

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"), index=True)
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FailureMode(Base):
    __tablename__ = "failure_modes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Judgment(Base):
    """One annotator's verdict on one pair. ``compatible`` NULL means skipped."""

    __tablename__ = "judgments"
    __table_args__ = (UniqueConstraint("pair_id", "annotator_id", name="uq_judgment"),
                      CheckConstraint(f"length(comment) <= {MAX_COMMENT_LEN}", name="ck_judgment_comment_len"),
                      CheckConstraint("seconds_taken IS NULL OR seconds_taken >= 0", name="ck_judgment_seconds"),
                      Index("ix_judgment_annotator", "annotator_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id", ondelete="CASCADE"))
    compatible: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    comment: Mapped[str] = mapped_column(String(MAX_COMMENT_LEN), default="")
    seconds_taken: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    failure_modes: Mapped[list[FailureMode]] = relationship(secondary=judgment_failure_modes)


class OfflineMetric(Base):
    """One cell of the Table-4 comparison (method, metric) -> value."""

    __tablename__ = "offline_metrics"
    __table_args__ = (UniqueConstraint("method", "metric", name="uq_offline_metric"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    method: Mapped[str] = mapped_column(String(100))
    metric: Mapped[str] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# ----------------------------------------------------------------------------------------------- accounts (issue 12)
# Sign-in for the app (db/accounts.py holds the logic). An account's annotator row is bound on its first sign-in, so
# a judgment belongs to the signed-in account. Passwords are stored only as argon2id hashes; invitation tokens only
# as SHA-256 digests (they are random 256-bit secrets, so a fast digest is enough to make a stolen table useless).

ROLES: tuple[str, ...] = ("stylist", "researcher", "admin")  # each role can do everything the ones before it can
MAX_ROLE_LEN = 20


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (CheckConstraint(f"length(name) BETWEEN 1 AND {MAX_NAME_LEN}", name="ck_account_name_len"),
                      CheckConstraint("role IN (" + ", ".join(f"'{r}'" for r in ROLES) + ")", name="ck_account_role"),
                      CheckConstraint("failed_attempts >= 0", name="ck_account_failed_attempts"))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_LEN), unique=True)  # NFKC-normalised, as shown
    name_key: Mapped[str] = mapped_column(String(4 * MAX_NAME_LEN), unique=True)  # casefolded: "Ana" == "ana"
    role: Mapped[str] = mapped_column(String(MAX_ROLE_LEN))
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)  # None until an invite is used
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    annotator_id: Mapped[int | None] = mapped_column(ForeignKey("annotators.id"), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Invitation(Base):
    """A one-time link to set an account's password; only the token's SHA-256 is stored."""

    __tablename__ = "account_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SignInAttempt(Base):
    """Every sign-in attempt, successful or not (``outcome``: ok, bad_password, unknown, locked, disabled, ...)."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (Index("ix_sign_in_attempt_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    name: Mapped[str] = mapped_column(String(200))  # as typed (truncated), so attempts on unknown names show too
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), nullable=True)
    outcome: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20), default="app")


# --------------------------------------------------------------------------------------- judgment history (issue 12)
# Nothing lost: every create and edit of a judgment appends one row here, in the same transaction as the upsert of
# ``judgments`` (db.store.submit_judgment), so the history and the current value never disagree. ``judgments``
# keeps the latest value (what every statistic reads); this table keeps who changed what, when, from what.


class JudgmentEvent(Base):
    """One create or edit of a judgment: who (annotator), when, and the value before and after.

    ``old_*`` are NULL/empty for a create. Failure modes are stored as JSON lists of codes, so the history stays
    readable even if a failure mode is later renamed or deactivated.
    """

    __tablename__ = "judgment_events"
    __table_args__ = (CheckConstraint("action IN ('create', 'edit')", name="ck_judgment_event_action"),
                      Index("ix_judgment_event_judgment", "judgment_id", "id"),
                      Index("ix_judgment_event_pair", "pair_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    judgment_id: Mapped[int] = mapped_column(ForeignKey("judgments.id", ondelete="CASCADE"))
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    action: Mapped[str] = mapped_column(String(10))
    old_compatible: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    old_failure_modes: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    old_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    new_compatible: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    new_failure_modes: Mapped[list[str]] = mapped_column(JSON)
    new_comment: Mapped[str] = mapped_column(Text, default="")
    new_seconds_taken: Mapped[float | None] = mapped_column(Float, nullable=True)


# ------------------------------------------------------------------------------------------- adjudication (issue 21)
# A pair on which annotators disagree (or a gold pair answered wrongly) is settled by an adjudicator. Her verdict is
# stored here, beside the judgments, never over them; every adjudication of a pair is a new row (the latest one
# counts), so the table is also its history. Created by ``init_db`` on old databases (a new table, nothing altered).


class Adjudication(Base):
    """One adjudicator's verdict on one pair (``compatible`` NULL: the pair cannot be judged)."""

    __tablename__ = "adjudications"
    __table_args__ = (CheckConstraint(f"length(comment) <= {MAX_COMMENT_LEN}", name="ck_adjudication_comment_len"),
                      Index("ix_adjudication_pair", "pair_id", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    adjudicator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id", ondelete="CASCADE"))
    compatible: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    failure_modes: Mapped[list[str]] = mapped_column(JSON, default=list)
    comment: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(String(20))  # "disagreement" | "gold"
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
