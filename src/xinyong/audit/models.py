from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import Base, BigId, UTCDateTime, utcnow


class AuditEntry(Base):
    """One event. Written in the same transaction as the change it records; sealed later.

    ``seq``/``prev_hash``/``entry_hash`` are set by the sealer, in one order, after commit, so the
    hot path inserts a row and never waits on a chain-wide lock.
    """

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    actor_type: Mapped[str] = mapped_column(String(16), nullable=False)  # user|apikey|system|anonymous
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_label: Mapped[str | None] = mapped_column(String(128))
    department_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), default="ok", nullable=False)  # ok|denied|failed|error
    request_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    seq: Mapped[int | None] = mapped_column(BigId, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    entry_hash: Mapped[str | None] = mapped_column(String(64))
    sealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_audit_entries_unsealed", "id", sqlite_where=seq.is_(None), postgresql_where=seq.is_(None)),
        Index("ix_audit_entries_object", "object_type", "object_id"),
        # the audit log's filters (page and API: audit.service.list_entries), newest first; migration 0020
        Index("ix_audit_entries_occurred_at", "occurred_at"),
        Index("ix_audit_entries_actor_label", "actor_label", "id"),
        Index("ix_audit_entries_actor_id", "actor_id", "id"),
        Index("ix_audit_entries_action", "action", "id"),
    )


class AuditCheckpoint(Base):
    """A signed statement of the chain's head at a sequence number (also written to a file)."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigId, nullable=False)
    head_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    signature: Mapped[str] = mapped_column(Text, nullable=False)
    public_key: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditSealLock(Base):
    """One row; the sealer updates it first so that sealers queue instead of racing."""

    __tablename__ = "audit_seal_lock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sealed_runs: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
