"""A subject's standing as records show it: who had a bad record in a period.

One definition, read by lists (the "3 years without bad records" status, the red-list rule) and by
scoring (the ``clean_3y`` flag of the subject status). A *bad record* is a record of a ``bad`` or
``serious`` catalog item decided in the period that was not revoked (a revoked decision never
happened; a record whose display ended still happened). Later statuses that undo a record (credit
repair) are added to ``NOT_COUNTING``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import Select, select

from xinyong.records.models import Record

BAD_CATEGORIES = ("bad", "serious")
NOT_COUNTING = ("revoked",)
CLEAN_YEARS = 3


def years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (29 February → 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def bad_record_subjects(since: date, until: date, subject_ids: Iterable[int] | None = None) -> Select[tuple[int]]:
    """SELECT of the distinct subject ids with a bad record decided in (since, until]."""
    stmt = (select(Record.subject_id).distinct()
            .where(Record.category.in_(BAD_CATEGORIES), Record.status.not_in(NOT_COUNTING),
                   Record.decided_at > since, Record.decided_at <= until))
    if subject_ids is not None:
        stmt = stmt.where(Record.subject_id.in_(list(subject_ids)))
    return stmt


def not_clean_subjects(today: date, years: int = CLEAN_YEARS,
                       subject_ids: Iterable[int] | None = None) -> Select[tuple[int]]:
    """Subjects who are *not* "N years without bad records" on ``today``."""
    return bad_record_subjects(years_before(today, years), today, subject_ids)
