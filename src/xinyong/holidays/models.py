"""One row a day the State Council's holiday schedule names: a holiday (放假) or a weekend day that is
worked (调休上班). A year with rows is covered by them; see ``xinyong.workdays``."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import Base, UTCDateTime, utcnow

DAY_KINDS = ("holiday", "workday")


class CalendarDay(Base):
    __tablename__ = "calendar_days"
    __table_args__ = (CheckConstraint("kind IN ('holiday', 'workday')", name="ck_calendar_days_kind"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)  # holiday | workday
    name: Mapped[str] = mapped_column(String(64), nullable=False, default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(128), nullable=False)
