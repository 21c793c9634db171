"""Working days on China's official calendar (chinesecalendar: statutory holidays and the
adjusted working weekends). Years the library does not cover fall back to Monday–Friday and
say so, until an administrator maintains a holiday table for them."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar

log = logging.getLogger("xinyong.workdays")
_warned: set[int] = set()


@lru_cache(maxsize=8192)
def is_working_day(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        if day.year not in _warned:
            _warned.add(day.year)
            log.warning("holiday calendar does not cover %s; counting Monday-Friday as working days", day.year)
        return day.weekday() < 5


def calendar_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def add_working_days(start: date, n: int) -> date:
    """The date ``n`` working days after ``start`` (``start`` itself not counted)."""
    day = start
    left = n
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day


@lru_cache(maxsize=65536)
def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 if end <= start)."""
    if end <= start:
        return 0
    n = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        if is_working_day(day):
            n += 1
    return n
