"""The working-day calendar reads chinesecalendar's tables directly; it must agree with the library's
own ``is_workday`` on every day the library covers, and fall back to Monday–Friday outside."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar

from xinyong import workdays


def test_agrees_with_chinesecalendar_on_every_covered_day() -> None:
    first, last = min(chinese_calendar.holidays), max(chinese_calendar.holidays)
    day = date(first.year, 1, 1)
    disagree = []
    while day <= date(last.year, 12, 31):
        if workdays.is_working_day(day) != chinese_calendar.is_workday(day):
            disagree.append(day)
        day += timedelta(days=1)
    assert disagree == []
    assert workdays.calendar_covers(first.year) and workdays.calendar_covers(last.year)


def test_national_day_and_an_adjusted_saturday() -> None:
    assert not workdays.is_working_day(date(2025, 10, 1))  # 国庆节
    assert workdays.is_working_day(date(2025, 9, 28))  # a Sunday worked in lieu (调休)
    assert workdays.add_working_days(date(2025, 9, 30), 1) == date(2025, 10, 9)


def test_uncovered_years_count_monday_to_friday() -> None:
    year = max(chinese_calendar.holidays).year + 3
    assert not workdays.calendar_covers(year)
    assert workdays.is_working_day(date(year, 1, 5)) == (date(year, 1, 5).weekday() < 5)
    assert workdays.working_days_between(date(year, 3, 1), date(year, 3, 31)) == \
        sum(1 for d in range(1, 32) if date(year, 3, d).weekday() < 5 and d > 1)


def test_the_index_is_built_once_by_concurrent_first_callers(monkeypatch) -> None:
    """The first counts of a process come from request threads and import runners at once: the lazily
    grown index must not get one thread's days appended among another's (it did, and every later
    count of the process was wrong, e.g. a record's arrival delay and so the data-quality page)."""
    import sys
    import threading

    monkeypatch.setattr(workdays, "_calendar", workdays._Calendar())
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        days = [date(2026, 11, 27), date(2025, 6, 1), date(2024, 3, 3), date(2026, 1, 5)] * 2
        barrier = threading.Barrier(len(days))

        def count(day: date) -> None:
            barrier.wait()
            workdays.working_days_between(date(2020, 1, 1), day)

        threads = [threading.Thread(target=count, args=(d,)) for d in days]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(previous)
    index = list(workdays._calendar.index)
    assert all(b - a in (0, 1) for a, b in zip(index, index[1:], strict=False))
    assert len(index) == (date(2026, 11, 27) - date(2004, 1, 1)).days + 32
    expected = sum(chinese_calendar.is_workday(date(2026, 11, 16) + timedelta(days=i)) for i in range(1, 12))
    assert workdays.working_days_between(date(2026, 11, 16), date(2026, 11, 27)) == expected
