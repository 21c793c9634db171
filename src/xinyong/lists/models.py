from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import Base, BigId, UTCDateTime, utcnow

# proposed → notified (defence period running) → listed → removed; or proposed/notified → rejected
ENTRY_STATUSES = ("proposed", "notified", "listed", "rejected", "removed")
# statuses in which a subject counts as "already on that list" (a second listing is refused)
OPEN_STATUSES = ("proposed", "notified", "listed")
REMOVAL_KINDS = ("expiry", "repair", "revocation", "decision", "rule")
# the removals a person takes by hand (``rule`` is the rule lists' own, by refresh)
MANUAL_REMOVAL_KINDS = ("expiry", "repair", "revocation", "decision")
_OPEN_DECISION = "status IN ('proposed', 'notified', 'listed') AND record_id IS NULL"
_OPEN_RECORD = "status IN ('proposed', 'notified', 'listed') AND record_id IS NOT NULL"


class ListKind(Base):
    """A list kind, as data (default YAML shipped in the package): red lists, dishonesty lists."""

    __tablename__ = "list_kinds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name_zh: Mapped[str] = mapped_column(String(128), nullable=False)
    name_en: Mapped[str] = mapped_column(String(128), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # red | dishonesty
    public: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # decision | rule | catalog
    params: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class ListEntry(Base):
    """One subject's entry on one list, with its whole lifecycle."""

    __tablename__ = "list_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    list_code: Mapped[str] = mapped_column(String(32), nullable=False)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # decision | rule | catalog
    category: Mapped[str | None] = mapped_column(String(64))  # key-supervision category, kind of dishonesty
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    legal_basis: Mapped[str | None] = mapped_column(Text)
    record_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    proposed_by: Mapped[str | None] = mapped_column(String(128))
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    defence_deadline: Mapped[date | None] = mapped_column(Date)
    # how the notice counted the deadline: from this day (the day the person was told), this many working
    # days — a changed holiday table recounts it the same way (service.extend_open_deadlines)
    defence_from: Mapped[date | None] = mapped_column(Date)
    defence_days: Mapped[int | None] = mapped_column(Integer)
    defence: Mapped[str | None] = mapped_column(Text)
    defence_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    listed_on: Mapped[date | None] = mapped_column(Date)  # "since": the day the listing took effect
    valid_until: Mapped[date | None] = mapped_column(Date)  # planned end (expiry); None = until removed
    decided_by: Mapped[str | None] = mapped_column(String(128))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    removal_kind: Mapped[str | None] = mapped_column(String(16))
    removal_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    notified_by: Mapped[str | None] = mapped_column(String(128))
    defence_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # listed or rejected
    decision_reason: Mapped[str | None] = mapped_column(Text)
    removed_by: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        Index("ix_list_entries_subject", "subject_id", "status"),
        Index("ix_list_entries_list", "list_code", "status"),
        # One open entry per subject and list (a second listing is refused, also under a race);
        # catalog-fed entries are per record (a debtor with two court cases is listed twice).
        Index("uq_list_entries_open", "list_code", "subject_id", unique=True,
              sqlite_where=text(_OPEN_DECISION), postgresql_where=text(_OPEN_DECISION)),
        Index("uq_list_entries_open_record", "list_code", "record_id", unique=True,
              sqlite_where=text(_OPEN_RECORD), postgresql_where=text(_OPEN_RECORD)),
    )


class ListKindVersion(Base):
    """History: every version a list kind ever had (the current one is also the ``list_kinds`` row)."""

    __tablename__ = "list_kind_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)  # the kind as the YAML states it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(128))
    change_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("code", "version"),)
