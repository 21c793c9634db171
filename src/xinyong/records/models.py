from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import Base, BigId, UTCDateTime, utcnow

RECORD_STATUSES = ("active", "expired", "revoked", "archived")


class Record(Base):
    """The current state of a department's record, identified by (department, source_id).

    Content is never overwritten without a new row in ``record_revisions``; the row here is the
    latest revision plus its lifecycle (status and display dates)."""

    __tablename__ = "records"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # No foreign key on the department and the item version (migration 0008): both are never deleted
    # and ingestion takes them from the authenticated key and the catalog, and on PostgreSQL each
    # key checked every inserted record with a query of its own (docs/performance-log.md, third session).
    department_id: Mapped[int] = mapped_column(Integer, nullable=False)
    source_id: Mapped[str] = mapped_column(String(64), nullable=False)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), nullable=False)
    item_code: Mapped[str] = mapped_column(String(64), nullable=False)
    item_id: Mapped[int] = mapped_column(Integer, nullable=False)  # a catalog_items row (no foreign key, see above)
    category: Mapped[str] = mapped_column(String(16), nullable=False)
    severity: Mapped[str | None] = mapped_column(String(16))
    decided_at: Mapped[date] = mapped_column(Date, nullable=False)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    publish: Mapped[bool] = mapped_column(Boolean, nullable=False)
    min_display_until: Mapped[date] = mapped_column(Date, nullable=False)
    display_until: Mapped[date] = mapped_column(Date, nullable=False)
    retain_until: Mapped[date | None] = mapped_column(Date)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    arrival_working_days: Mapped[int | None] = mapped_column(Integer)
    change_kind: Mapped[str] = mapped_column(String(16), nullable=False, default="push")  # of this revision
    changed_by: Mapped[str | None] = mapped_column(String(128))
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # source_id first: the batch lookup is "source_id IN (…) AND department_id = ?"
        UniqueConstraint("source_id", "department_id"),
        Index("ix_records_subject", "subject_id", "status"),
        # A department's records newest first, with or without an item filter (the workspace and
        # API lists). Both grow at their right edge as records arrive; an index ordered by a date
        # (display_until, decided_at) took a random leaf page per record and was a third of
        # SQLite's insert cost. `maintain` (daily) walks the table by id instead.
        Index("ix_records_dept_newest", "department_id", "id"),
        Index("ix_records_dept_item_newest", "department_id", "item_code", "id"),
    )


class RecordRevision(Base):
    """History: a snapshot of every superseded revision of a record (the current one is the
    ``records`` row). Together they are every revision the record ever had."""

    __tablename__ = "record_revisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # push | revoke | recompute | expire | archive
    subject_id: Mapped[int] = mapped_column(BigId, nullable=False)
    item_id: Mapped[int] = mapped_column(Integer, nullable=False)
    severity: Mapped[str | None] = mapped_column(String(16))
    decided_at: Mapped[date] = mapped_column(Date, nullable=False)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    publish: Mapped[bool] = mapped_column(Boolean, nullable=False)
    display_until: Mapped[date] = mapped_column(Date, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)  # when this revision was made
    actor_label: Mapped[str | None] = mapped_column(String(128))
    superseded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    __table_args__ = (UniqueConstraint("record_id", "revision"),)


class Rejection(Base):
    """A refused record (API call or file row), one row each, for data-quality statistics:
    the first error's code and field, and every distinct error code of the record."""

    __tablename__ = "record_rejections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), nullable=False)
    item_code: Mapped[str | None] = mapped_column(String(64))
    source_id: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8), nullable=False)  # api | file
    code: Mapped[str] = mapped_column(String(32), nullable=False)
    field: Mapped[str | None] = mapped_column(String(64))
    codes: Mapped[str] = mapped_column(String(255), nullable=False)  # comma-separated, distinct
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    __table_args__ = (Index("ix_record_rejections_dept", "department_id", "created_at"),)
