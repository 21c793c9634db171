"""Working days on China's official calendar (chinesecalendar: statutory holidays and the
adjusted working weekends). Years the library does not cover fall back to Monday–Friday and
say so, until an administrator maintains a holiday table for them."""

from __future__ import annotations

import logging
import threading
from datetime import date, timedelta

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


def is_working_day(day: date) -> bool:
    if day.year in _COVERED:
        return day in _ADJUSTED or (day.weekday() < 5 and day not in _HOLIDAYS)
    if day.year not in _warned:
        _warned.add(day.year)
        log.warning("holiday calendar does not cover %s; counting Monday-Friday as working days", day.year)
    return day.weekday() < 5


def calendar_covers(year: int) -> bool:
    return year in _COVERED


def add_working_days(start: date, n: int) -> date:
    """The date ``n`` working days after ``start`` (``start`` itself not counted)."""
    day = start
    left = n
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day


_INDEX_START = date(2004, 1, 1)  # chinesecalendar starts in 2004
_index: list[int] = []  # _index[k] = working days in (_INDEX_START, _INDEX_START + k days]
_index_lock = threading.Lock()  # held while the index grows; a read of an entry already there needs none


def _count_to(day: date) -> int:
    """Working days after _INDEX_START up to and including ``day`` (grown lazily, O(1) after)."""
    k = (day - _INDEX_START).days
    if k < 0:
        raise ValueError("dates before 2004 are not indexed")
    if k >= len(_index):
        with _index_lock:  # request threads and import runners count at once: one grows the index
            start = len(_index)
            running = _index[-1] if _index else 0
            for j in range(start, k + 32):
                if j > 0 and is_working_day(_INDEX_START + timedelta(days=j)):
                    running += 1
                _index.append(running)
    return _index[k]


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 if end <= start)."""
    if end <= start:
        return 0
    if start < _INDEX_START:
        n, day = 0, start
        while day < min(end, _INDEX_START):
            day += timedelta(days=1)
            n += is_working_day(day)
        return n + (working_days_between(_INDEX_START, end) if end > _INDEX_START else 0)
    return _count_to(end) - _count_to(start)
