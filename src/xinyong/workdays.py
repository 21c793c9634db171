"""Working days on China's official calendar: statutory holidays and the weekends worked in lieu.

Two sources. ``chinesecalendar`` covers the years up to its last release; the State Council publishes
a year's schedule late in the year before, often after that release. The holiday table an
administrator maintains (``calendar_days``: ``xinyong calendar``, the admin page
``/admin/calendar``) covers such a year once it has its rows, and a row corrects the library on a
day it covers. A year neither covers falls back to Monday–Friday and says so (a log warning, the
admin pages' banner: :func:`uncovered_years`).

The table is read into this process (:func:`use`) when the server starts and every few seconds
after (the audit sealer's round: :func:`sync`, one small query), by every CLI command that opens
the database, and right after an administrator's change on the page."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import chinese_calendar

log = logging.getLogger("xinyong.workdays")
_warned: set[int] = set()


# The library's own tables and its rule (``chinese_calendar.is_workday``: an adjusted working day, or
# Monday–Friday and not a holiday), read directly: its function scans every holiday for the covered
# years on each call (~40 µs), which made the first working-day count of a process take ~0.3 s.
# tests/test_workdays.py holds this to ``chinese_calendar.is_workday`` for every covered day.
_HOLIDAYS = frozenset(chinese_calendar.holidays)
_ADJUSTED = frozenset(chinese_calendar.workdays)
_COVERED = range(min(_HOLIDAYS).year, max(_HOLIDAYS).year + 1)
LIBRARY_YEARS = _COVERED


@dataclass(frozen=True)
class _Calendar:
    """The administrator's table as this process last read it, with the counting index built on it
    (a new table is a new object: readers that took the old one finish with it)."""

    days: dict[date, bool] = field(default_factory=dict)  # day -> is a working day
    years: frozenset[int] = frozenset()  # the years the table covers (those with rows)
    stamp: Any = None  # None until the table was read from a database (``use`` alone: tests, a bare process)
    index: list[int] = field(default_factory=list)  # index[k] = working days in (_INDEX_START, +k days]


_calendar = _Calendar()
_index_lock = threading.Lock()  # held while an index grows; a read of an entry already there needs none


def use(days: Iterable[tuple[date, str]], stamp: Any = None) -> None:
    """Count with this holiday table (``(day, "holiday" | "workday")`` pairs) from now on."""
    global _calendar
    table = {d: kind == "workday" for d, kind in days}
    _calendar = _Calendar(table, frozenset(d.year for d in table), stamp)


def sync(session: Any) -> bool:
    """Read the administrator's table (a few dozen rows a year: read whole, whatever clocks and
    concurrent transactions did to its timestamps) and count with it from now on if it differs from
    the one this process has. Returns whether it did."""
    from sqlalchemy import select

    from xinyong.holidays.models import CalendarDay

    rows = session.execute(select(CalendarDay.day, CalendarDay.kind)).all()
    if _calendar.stamp is not None and {d: kind == "workday" for d, kind in rows} == _calendar.days:
        return False
    use(rows, stamp="read")
    return True


def sync_from(db: Any) -> bool:
    """:func:`sync` in a short read transaction of its own."""
    with db.session(write=False) as s:
        return sync(s)


def _is_working(cal: _Calendar, day: date) -> bool:
    got = cal.days.get(day)
    if got is not None:
        return got
    if day.year in _COVERED:
        return day in _ADJUSTED or (day.weekday() < 5 and day not in _HOLIDAYS)
    if day.year not in cal.years and day.year not in _warned:
        _warned.add(day.year)
        log.warning("holiday calendar does not cover %s; counting Monday-Friday as working days "
                    "until its schedule is entered (xinyong calendar import)", day.year)
    return day.weekday() < 5


def is_working_day(day: date) -> bool:
    return _is_working(_calendar, day)


def calendar_covers(year: int) -> bool:
    """Whether the library or the administrator's table has this year's holiday schedule."""
    return year in _COVERED or year in _calendar.years


def uncovered_years(today: date) -> list[int]:
    """The years deadlines counted today may reach whose schedule neither source has: this year, and
    from October the next (a 20-working-day deadline set in December ends in January)."""
    years = [today.year, today.year + 1] if today.month >= 10 else [today.year]
    return [y for y in years if not calendar_covers(y)]


def add_working_days(start: date, n: int) -> date:
    """The date ``n`` working days after ``start`` (``start`` itself not counted)."""
    cal = _calendar
    day = start
    left = n
    while left > 0:
        day += timedelta(days=1)
        if _is_working(cal, day):
            left -= 1
    return day


_INDEX_START = date(2004, 1, 1)  # chinesecalendar starts in 2004


def _count_to(cal: _Calendar, day: date) -> int:
    """Working days after _INDEX_START up to and including ``day`` (grown lazily, O(1) after)."""
    k = (day - _INDEX_START).days
    if k < 0:
        raise ValueError("dates before 2004 are not indexed")
    index = cal.index
    if k >= len(index):
        with _index_lock:  # request threads and import runners count at once: one grows the index
            start = len(index)
            running = index[-1] if index else 0
            for j in range(start, k + 32):
                if j > 0 and _is_working(cal, _INDEX_START + timedelta(days=j)):
                    running += 1
                index.append(running)
    return index[k]


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 if end <= start)."""
    if end <= start:
        return 0
    cal = _calendar  # one table for both ends, whatever is read meanwhile
    if start < _INDEX_START:
        n, day = 0, start
        while day < min(end, _INDEX_START):
            day += timedelta(days=1)
            n += _is_working(cal, day)
        return n + (_count_to(cal, end) - _count_to(cal, _INDEX_START) if end > _INDEX_START else 0)
    return _count_to(cal, end) - _count_to(cal, start)
