from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import Base, BigId, UTCDateTime, utcnow


class SubjectStatus(Base):
    """The precomputed per-subject status that fast paths read (the check API, reports): score,
    grade, the lists the subject is on and flags. Written only by ``scoring.service`` in the same
    transaction as the records or list entries that change it. A subject with no row has the
    default: the active ruleset's base score and its grade, on no list."""

    __tablename__ = "subject_status"

    subject_id: Mapped[int] = mapped_column(BigId, ForeignKey("subjects.id"), primary_key=True, autoincrement=False)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    grade: Mapped[str] = mapped_column(String(4), nullable=False)
    ruleset_version: Mapped[int] = mapped_column(Integer, nullable=False)
    # [{"code": "serious_dishonesty", "since": "2026-05-01"}, …] — entries in status "listed"
    lists: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    red: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # on any red list
    dishonest: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # on any dishonesty list
    clean_3y: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)  # 3 years without bad records
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
