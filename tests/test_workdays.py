"""The working-day calendar reads chinesecalendar's tables directly; it must agree with the library's
own ``is_workday`` on every day the library covers, and fall back to Monday–Friday outside."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _counted(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end``, one day at a time."""
    n, day = 0, start
    while day < end:
        day += timedelta(days=1)
        n += workdays.is_working_day(day)
    return n


@settings(max_examples=120, deadline=None)
@given(start=st.dates(min_value=date(1949, 10, 1), max_value=date(2030, 12, 31)), span=st.integers(-40, 400))
def test_working_days_between_counts_each_working_day_after_start_up_to_end(start: date, span: int) -> None:
    """The count behind every arrival delay: the decision day itself is not counted, the arrival day
    is; nothing when the end is not after the start. Decisions reach back to 1949, before the
    calendar's index (2004) begins, and the span may straddle that start."""
    end = start + timedelta(days=span)
    assert workdays.working_days_between(start, end) == (_counted(start, end) if end > start else 0)


@pytest.mark.parametrize(("start", "end"), [(date(2003, 12, 31), date(2004, 1, 2)), (date(2003, 12, 1), date(2004, 1, 1)),
                                            (date(2003, 12, 1), date(2003, 12, 31)), (date(2004, 1, 1), date(2004, 1, 5))])
def test_working_days_between_around_the_index_start(start: date, end: date) -> None:
    assert workdays.working_days_between(start, end) == _counted(start, end)


def test_national_day_delay_of_a_record() -> None:
    """Decided Wednesday 2026-09-30, arriving Friday 2026-10-09: Oct 1-7 are the National Day holiday,
    so only Oct 8 and Oct 9 count (as the records' arrival delay counts them)."""
    assert workdays.working_days_between(date(2026, 9, 30), date(2026, 10, 9)) == 2
    assert workdays.working_days_between(date(2026, 9, 30), date(2026, 10, 7)) == 0
    assert workdays.working_days_between(date(2026, 10, 9), date(2026, 9, 30)) == 0


@settings(max_examples=80, deadline=None)
@given(start=st.dates(min_value=date(2004, 1, 1), max_value=date(2030, 6, 30)), n=st.integers(0, 40))
def test_add_working_days_lands_on_the_nth_working_day(start: date, n: int) -> None:
    """A deadline n working days after ``start``: itself a working day (for n >= 1), with exactly n
    working days after ``start`` up to it, and not one day earlier."""
    got = workdays.add_working_days(start, n)
    if n == 0:
        assert got == start
        return
    assert workdays.is_working_day(got)
    assert _counted(start, got) == n
    assert _counted(start, got - timedelta(days=1)) == n - 1


def test_uncovered_years_are_this_year_and_from_october_the_next(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(workdays, "_calendar", workdays._Calendar())  # no administrator's table
    year = max(chinese_calendar.holidays).year + 3  # neither the library nor any table covers it
    assert workdays.uncovered_years(date(year, 9, 30)) == [year]
    assert workdays.uncovered_years(date(year, 10, 1)) == [year, year + 1]
    assert workdays.uncovered_years(date(year, 1, 1)) == [year]
    last = max(chinese_calendar.holidays).year
    assert workdays.uncovered_years(date(last, 9, 30)) == []
    assert workdays.uncovered_years(date(last, 10, 1)) == [last + 1]


def test_an_uncovered_year_is_warned_about_once_and_a_year_in_the_table_not_at_all(monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    """A year neither the library nor the administrator's table covers is counted Monday–Friday "with a
    clear warning until it exists" (domain brief): one log warning naming the year, not one per day
    counted; a year the library covers, or the table, is counted without one."""
    import logging

    year = max(chinese_calendar.holidays).year + 5
    monkeypatch.setattr(workdays, "_warned", set())
    monkeypatch.setattr(workdays, "_calendar", workdays._Calendar())
    with caplog.at_level(logging.WARNING, logger="xinyong.workdays"):
        workdays.working_days_between(date(year, 3, 1), date(year, 3, 31))
        workdays.is_working_day(date(year, 6, 1))
        workdays.is_working_day(date(2025, 6, 1))
    warned = [r.getMessage() for r in caplog.records if r.name == "xinyong.workdays"]
    # (building the count's index reads the uncovered years before it too: each is named once)
    assert len([m for m in warned if str(year) in m]) == 1
    assert len(warned) == len(set(warned)) == year - max(chinese_calendar.holidays).year

    caplog.clear()
    workdays.use([(date(year + 1, 1, 1), "holiday")])
    with caplog.at_level(logging.WARNING, logger="xinyong.workdays"):
        assert not workdays.is_working_day(date(year + 1, 1, 1))
        workdays.is_working_day(date(year + 1, 1, 2))  # not a row: Monday–Friday, but the year is entered
    assert [r for r in caplog.records if r.name == "xinyong.workdays"] == []


def test_a_count_reaching_exactly_the_end_of_the_index_grows_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The index is grown lazily, a few days past the day asked for: the next count that asks for the
    first day past its end (and every later one) must grow it, not fail or read a wrong entry."""
    monkeypatch.setattr(workdays, "_calendar", workdays._Calendar())
    first = date(2026, 1, 5)
    workdays.working_days_between(date(2026, 1, 1), first)
    size = len(workdays._calendar.index)
    edge = date(2004, 1, 1) + timedelta(days=size)  # the first day the index does not hold yet
    assert edge > first
    for end in (edge, edge + timedelta(days=1)):
        assert workdays.working_days_between(first, end) == _counted(first, end)
