"""Joint reward and punishment (联合奖惩): scenarios and measures as versioned data, the check
register, feedback, and batch-comparison jobs (名单比对)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, func, literal_column
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import Base, BigId, UTCDateTime, utcnow

MEASURE_KINDS = ("incentive", "punishment")

# The register is indexed by the first 16 hex digits (64 bits) of the subject's blind index, not by
# all 64: an index entry a quarter the size, so a batch comparison's sorted 20,000 register rows
# touch (and write to the log) a quarter of the leaf pages of a register already holding many
# single checks — with 180,000 rows there, SQLite inserted 174,000 rows/s instead of 114,000, and a
# 16-row flush of the check API lands on fewer pages too. Readers compare the prefix (the index)
# and then the whole blind index: see :func:`xinyong.measures.service.register_of_subject`.
SUBJECT_KEY_CHARS = 16


def subject_key(value: Any) -> Any:
    """The register's index expression over a blind-index column. The bounds are literals, not bound
    parameters: SQLite uses an expression index only for a query that spells the same expression."""
    return func.substr(value, literal_column("1"), literal_column(str(SUBJECT_KEY_CHARS)))


class Scenario(Base):
    """Where a business system checks a person: licensing, hiring, awards … (current version)."""

    __tablename__ = "check_scenarios"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name_zh: Mapped[str] = mapped_column(String(128), nullable=False)
    name_en: Mapped[str] = mapped_column(String(128), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class Measure(Base):
    """One incentive or punishment (current version): to whom (lists, grades, clean_3y), in which
    scenarios, by which department, on which legal basis."""

    __tablename__ = "measures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name_zh: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # incentive | punishment
    applies_to: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    scenarios: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    department: Mapped[str] = mapped_column(String(200), nullable=False)
    basis: Mapped[str] = mapped_column(Text, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class MeasureChange(Base):
    """Every version of every scenario and measure (history; the newest id is the set's version,
    which keys the check path's in-process cache)."""

    __tablename__ = "measure_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    object_type: Mapped[str] = mapped_column(String(16), nullable=False)  # scenario | measure
    code: Mapped[str] = mapped_column(String(64), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    changed_by: Mapped[str | None] = mapped_column(String(128))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    __table_args__ = (Index("ix_measure_changes_code", "object_type", "code", "version"),)


class Check(Base):
    """The check register: every check, answered or refused. Never the raw ID number: the subject's
    blind index (and internal id when known). ``answer`` is the canonical JSON that ``receipt`` signs."""

    __tablename__ = "checks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    check_id: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # No foreign key (migration 0008): the department comes from the caller's key and is never
    # deleted, and on PostgreSQL the key's check cost every registered check a query of its own.
    department_id: Mapped[int] = mapped_column(Integer, nullable=False)
    actor_type: Mapped[str] = mapped_column(String(16), nullable=False)  # apikey | user | system
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_label: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(8), nullable=False)  # api | batch | page
    scenario: Mapped[str] = mapped_column(String(64), nullable=False)
    subject_bidx: Mapped[str | None] = mapped_column(String(64))
    subject_id: Mapped[int | None] = mapped_column(BigId)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # answered | refused
    refusal: Mapped[str | None] = mapped_column(String(32))  # invalid ID code, unknown_scenario
    grade: Mapped[str | None] = mapped_column(String(4))
    measures: Mapped[list[str] | None] = mapped_column(JSON)
    answer: Mapped[str | None] = mapped_column(Text)
    receipt: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[int | None] = mapped_column(BigId)
    request_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_checks_dept", "department_id", "id"),
        Index("ix_checks_job", "job_id"),
    )


Index("ix_checks_subject_key", subject_key(Check.__table__.c.subject_bidx))


class CheckFeedback(Base):
    """What a department reported back: whether it applied a measure of a check's answer."""

    __tablename__ = "check_feedback"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    check_id: Mapped[str] = mapped_column(ForeignKey("checks.check_id"), nullable=False)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), nullable=False)
    measure: Mapped[str] = mapped_column(String(64), nullable=False)
    applied: Mapped[bool] = mapped_column(Boolean, nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    actor_label: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    __table_args__ = (
        Index("ix_check_feedback_check", "check_id"),
        Index("ix_check_feedback_dept", "department_id", "measure"),
    )


class CompareJob(Base):
    """A batch comparison (名单比对): a department's CSV of ID numbers checked in one scenario. The
    counts advance in the same transaction as each chunk's register rows."""

    __tablename__ = "compare_jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), nullable=False)
    scenario: Mapped[str] = mapped_column(String(64), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    # the upload's keyed digest (privacy.crypto.Cipher.file_digest; jobs created before 2026-11-27:
    # plain SHA-256), never a plain hash: a file of a few ID numbers could be guessed from one
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    encoding: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    rows_total: Mapped[int | None] = mapped_column(Integer)
    rows_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    matched: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    unknown: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    invalid: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    actor_type: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_id: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(128))
    runner: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_compare_jobs_dept", "department_id", "id"),)


class CompareFile(Base):
    """A job's bytes, sealed by the vault. ``kind`` ``upload`` (raw ID numbers: deleted when the job
    ends) or ``result`` (masked identities, grades, lists, measures: the download)."""

    __tablename__ = "compare_files"

    job_id: Mapped[int] = mapped_column(ForeignKey("compare_jobs.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), nullable=False)
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class RegisterEpoch(Base):
    """Moments in the check register's history that reading it back needs (migration 0011):
    ``refusals_signed`` — from when every refused check is signed (milliseconds since the epoch, as
    a check id's first 12 hex digits count them). A refusal registered before it has no signature
    by design; one registered after it without a signature was altered."""

    __tablename__ = "register_epochs"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    since_ms: Mapped[int] = mapped_column(BigId, nullable=False)
