from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text
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


class ScoringRuleset(Base):
    """One version of the scoring ruleset (rules as data). The active ruleset on a day is the latest
    version whose ``effective_from`` is on or before it. ``source`` keeps the YAML as submitted;
    ``spec`` the parsed, validated form (base, grade bands, lists forcing a grade, item rules)."""

    __tablename__ = "scoring_rulesets"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    effective_from: Mapped[date] = mapped_column(Date, nullable=False)
    base: Mapped[int] = mapped_column(Integer, nullable=False)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)


class ScoringRule(Base):
    """The ruleset flattened for the SQL engine: one row per (item, variant[, hours tier]).
    ``variant`` is the record's severity, or its ``fields.level``, or '' (the item has neither).
    Hours tiers match ``min_hours <= hours < max_hours``; other rules have 0 and a huge bound."""

    __tablename__ = "scoring_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ruleset_version: Mapped[int] = mapped_column(Integer, nullable=False)
    item_code: Mapped[str] = mapped_column(String(64), nullable=False)
    variant: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    min_hours: Mapped[float] = mapped_column(Float, nullable=False, default=0)
    max_hours: Mapped[float] = mapped_column(Float, nullable=False)
    points: Mapped[int] = mapped_column(Integer, nullable=False)
    window_months: Mapped[int] = mapped_column(Integer, nullable=False)
    mode: Mapped[str] = mapped_column(String(8), nullable=False, default="each")  # each | max
    doubles: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    __table_args__ = (Index("ix_scoring_rules_match", "ruleset_version", "item_code", "variant", "min_hours"),)


class ScoreHistory(Base):
    """A row whenever a subject's stored score or grade changes (with why and under which ruleset)."""

    __tablename__ = "score_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_id: Mapped[int] = mapped_column(BigId, nullable=False)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    grade: Mapped[str] = mapped_column(String(4), nullable=False)
    previous_score: Mapped[int | None] = mapped_column(Integer)
    previous_grade: Mapped[str | None] = mapped_column(String(4))
    ruleset_version: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    on_day: Mapped[date] = mapped_column(Date, nullable=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    __table_args__ = (Index("ix_score_history_subject", "subject_id", "id"),)


class ScoringRun(Base):
    """Each full recomputation and each daily maintenance run: ``maintain`` reads the last one to
    know which ruleset the stored scores use and from which day windows must be re-checked."""

    __tablename__ = "scoring_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # rescore | maintain
    on_day: Mapped[date] = mapped_column(Date, nullable=False)
    ruleset_version: Mapped[int] = mapped_column(Integer, nullable=False)
    subjects: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    seconds: Mapped[float] = mapped_column(Float, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
