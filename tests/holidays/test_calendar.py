"""The holiday table an administrator maintains: a year the library does not cover is counted on
it once entered (deadlines and arrival delays), a row corrects the library, every change is
audited; the schedule text, the CLI and the admin page."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from xinyong import workdays
from xinyong.audit.models import AuditEntry
from xinyong.audit.service import Actor
from xinyong.holidays import service
from xinyong.holidays.service import HolidayError

NEXT = max(workdays.LIBRARY_YEARS) + 1  # the first year chinesecalendar does not cover
ADMIN = Actor.system("test")


def _first_weekend(year: int, month: int) -> date:
    return next(date(year, month, d) for d in range(1, 8) if date(year, month, d).weekday() >= 5)


WORKDAY = _first_weekend(NEXT, 3)  # a weekend day worked in lieu, whatever year NEXT is
WEEKDAY = next(date(NEXT, 1, d) for d in range(4, 11) if date(NEXT, 1, d).weekday() < 5)
SCHEDULE = f"""# {NEXT} (a made-up schedule: the State Council's is entered the same way)
{NEXT}-01-01 holiday 元旦
{NEXT}-02-06..{NEXT}-02-12 holiday 春节
{WORKDAY.isoformat()}, workday, 春节调休
{NEXT}-10-01 至 {NEXT}-10-07 放假 国庆节
"""


@pytest.fixture(autouse=True)
def _process_calendar():  # type: ignore[no-untyped-def]
    """The table is process-wide state: each test starts and ends with none."""
    workdays.use([])
    yield
    workdays.use([])


def test_a_schedule_is_read_with_runs_chinese_kinds_and_commas() -> None:
    days = service.parse_schedule(SCHEDULE)
    assert [(d.day.isoformat(), d.kind) for d in days][:2] == [(f"{NEXT}-01-01", "holiday"), (f"{NEXT}-02-06", "holiday")]
    assert sum(d.kind == "holiday" for d in days) == 1 + 7 + 7
    assert [d.day for d in days if d.kind == "workday"] == [WORKDAY]
    assert {d.name for d in days} == {"元旦", "春节", "春节调休", "国庆节"}


@pytest.mark.parametrize(("text", "code", "line"), [
    (f"{WEEKDAY.isoformat()} workday", "not_a_weekend", 1),
    (f"\n{NEXT}-13-01 holiday", "wrong_type", 2),
    (f"{NEXT}-01-01 rest", "not_allowed", 1),
    (f"{NEXT}-01-09..{NEXT}-01-02 holiday", "out_of_range", 1),
    (f"{NEXT}-01-01..{NEXT}-03-01 holiday", "out_of_range", 1),
    (f"{NEXT}-01-01 holiday\n{NEXT}-01-01 holiday", "duplicate", 2),
    ("# nothing but a comment\n", "missing", None),
    (f"{NEXT}-01-01 holiday a\x00b", "invalid_characters", 1),
    ("2003-01-01 holiday", "wrong_type", 1),
])
def test_a_bad_line_is_refused_naming_its_line(text: str, code: str, line: int | None) -> None:
    with pytest.raises(HolidayError) as got:
        service.parse_schedule(text)
    errors = got.value.api_errors()
    assert errors[0]["code"] == code and errors[0]["field"] == (f"line {line}" if line else "schedule")
    assert " / " in errors[0]["message"]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789-. ,~至#\nholidaywrk放假上班休X\t"), max_size=200))
def test_any_text_is_days_or_a_refusal_naming_lines(text: str) -> None:
    try:
        days = service.parse_schedule(text)
    except HolidayError as exc:
        assert exc.api_errors() and all(e["field"].startswith(("line ", "schedule")) for e in exc.api_errors())
        return
    assert days and len({d.day for d in days}) == len(days)
    assert all(d.kind == "holiday" or d.day.weekday() >= 5 for d in days)


def test_an_entered_year_is_counted_on_its_schedule(session) -> None:  # type: ignore[no-untyped-def]
    assert NEXT in workdays.uncovered_years(date(NEXT - 1, 11, 27)) and not workdays.calendar_covers(NEXT)
    plain = workdays.working_days_between(date(NEXT - 1, 12, 31), date(NEXT, 1, 8))
    service.import_schedule(session, days=service.parse_schedule(SCHEDULE), actor=ADMIN, note="通知")
    session.flush()
    assert workdays.sync(session)
    assert workdays.calendar_covers(NEXT) and workdays.uncovered_years(date(NEXT - 1, 11, 27)) == []
    assert not workdays.is_working_day(date(NEXT, 1, 1))
    jan1_weekday = date(NEXT, 1, 1).weekday() < 5
    assert workdays.working_days_between(date(NEXT - 1, 12, 31), date(NEXT, 1, 8)) == plain - jan1_weekday
    # a deadline set before New Year's Day steps over it (the lists' defence period, objections …)
    assert workdays.add_working_days(date(NEXT, 9, 30), 1) == next(
        date(NEXT, 10, d) for d in range(8, 20) if date(NEXT, 10, d).weekday() < 5)
    assert not workdays.sync(session)  # unchanged: nothing read again


def test_importing_a_year_again_replaces_it_whole_and_is_audited(session) -> None:  # type: ignore[no-untyped-def]
    service.import_schedule(session, days=service.parse_schedule(SCHEDULE), actor=ADMIN, note="first")
    out = service.import_schedule(session, days=service.parse_schedule(f"{NEXT}-05-01..{NEXT}-05-05 holiday 劳动节"),
                                  actor=ADMIN, note="second")
    assert out["replaced"] == 16 and out["years"] == [NEXT]
    assert [d.day for d in service.days_of(session, NEXT)] == [date(NEXT, 5, d) for d in range(1, 6)]
    entries = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "calendar.import")
                                   .order_by(AuditEntry.id)))
    assert [(e.details["note"], e.details["holidays"], e.object_id) for e in entries] == [
        ("first", 15, str(NEXT)), ("second", 5, str(NEXT))]


def test_a_row_corrects_the_library_and_a_new_year_is_not_begun_by_one_day(session) -> None:  # type: ignore[no-untyped-def]
    covered = max(workdays.LIBRARY_YEARS)
    saturday = _first_weekend(covered, 6)
    assert not workdays.is_working_day(saturday)
    service.set_day(session, day=saturday, kind="workday", name="补班", actor=ADMIN)
    session.flush()
    workdays.sync(session)
    assert workdays.is_working_day(saturday)
    with pytest.raises(HolidayError) as got:
        service.set_day(session, day=date(NEXT, 5, 1), kind="holiday", name="", actor=ADMIN)
    assert got.value.code == "year_not_covered" and got.value.field == "day"
    with pytest.raises(HolidayError) as got:
        service.set_day(session, day=date(covered, 6, 1) if date(covered, 6, 1).weekday() < 5 else date(covered, 6, 3),
                        kind="workday", name="", actor=ADMIN)
    assert got.value.code == "not_a_weekend"
    assert service.unset_day(session, day=saturday, actor=ADMIN) and not service.unset_day(session, day=saturday,
                                                                                          actor=ADMIN)
    session.flush()
    workdays.sync(session)
    assert not workdays.is_working_day(saturday)
    actions = [e.action for e in session.scalars(select(AuditEntry).where(AuditEntry.action.like("calendar.%"))
                                                 .order_by(AuditEntry.id))]
    assert actions == ["calendar.set", "calendar.unset"]


def test_the_admin_page_warns_lists_and_imports(client, world, login, db) -> None:  # type: ignore[no-untyped-def]
    from xinyong import clock

    csrf = login(client, "admin")
    today = clock.today()
    page = client.get("/admin/calendar", params={"year": NEXT})
    assert page.status_code == 200 and 'id="calendar-years"' in page.text
    uncovered = workdays.uncovered_years(today)
    assert ('id="calendar-warning"' in page.text) == bool(uncovered)
    assert page.text.count("按周一至周五计算）") == len(uncovered)  # each year still to enter, in the table
    assert ('id="calendar-warning"' in client.get("/").text) == bool(uncovered)  # on the admin's home page too
    refused = client.post("/admin/calendar", data={"csrf_token": csrf, "schedule": f"{WEEKDAY.isoformat()} workday x"})
    assert refused.status_code == 422 and "line 1" in refused.text and not workdays.calendar_covers(NEXT)
    saved = client.post("/admin/calendar", data={"csrf_token": csrf, "schedule": SCHEDULE, "note": "通知"},
                        follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == f"/admin/calendar?year={NEXT}&saved={NEXT}"
    assert workdays.calendar_covers(NEXT)  # this process counts with it at once
    page = client.get(saved.headers["location"]).text
    assert "元旦" in page and WORKDAY.isoformat() in page
    with db.session() as s:
        assert [(e.actor_label, e.outcome) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action == "calendar.import").order_by(AuditEntry.id))] == [
            ("admin", "failed"), ("admin", "ok")]  # the refused schedule registered too
    assert client.post("/admin/calendar", data={"schedule": SCHEDULE}).status_code == 403  # no CSRF token
    client.cookies.clear()
    login(client, "officer_a")
    assert client.get("/admin/calendar").status_code == 403


def test_a_new_year_holiday_begun_in_december_is_added_to_that_year_not_replacing_it(session) -> None:  # type: ignore[no-untyped-def]
    """The notice of a year may begin its New Year's holiday in the December before (the 2017, 2019 and
    2023 notices did: 2022-12-31..2023-01-02, 2018-12-29 worked): importing it as published must not
    replace the year before, entered whole earlier, by those few days."""
    service.import_schedule(session, days=service.parse_schedule(SCHEDULE), actor=ADMIN, note=f"{NEXT}")
    saturday = max(date(NEXT, 12, d) for d in range(20, 32) if date(NEXT, 12, d).weekday() == 5)
    following = f"""{NEXT}-12-31..{NEXT + 1}-01-02 holiday 元旦
{saturday.isoformat()} workday 元旦调休上班
{NEXT + 1}-02-01..{NEXT + 1}-02-07 holiday 春节
"""
    out = service.import_schedule(session, days=service.parse_schedule(following), actor=ADMIN, note=f"{NEXT + 1}")
    assert out["years"] == [NEXT + 1] and out["replaced"] == 0
    entered = {d.day: d.kind for d in service.days_of(session, NEXT)}
    assert len(entered) == 16 + 2 and entered[date(NEXT, 2, 6)] == "holiday"  # the year before is kept whole
    assert entered[date(NEXT, 12, 31)] == "holiday" and entered[saturday] == "workday"  # and gets these days
    session.flush()
    workdays.sync(session)
    assert not workdays.is_working_day(date(NEXT, 2, 8)) and workdays.is_working_day(saturday)
    assert not workdays.is_working_day(date(NEXT, 12, 31))
    # a year not entered yet is not begun by its last days: the whole year first
    with pytest.raises(HolidayError) as got:
        service.import_schedule(session, days=service.parse_schedule(
            f"{NEXT + 2}-12-31 holiday\n{NEXT + 3}-01-01 holiday"), actor=ADMIN)
    assert got.value.code == "year_not_covered" and str(NEXT + 2) in got.value.en
    assert service.days_of(session, NEXT + 3) == []


def test_an_open_defence_period_is_extended_by_an_entered_holiday_never_brought_forward(session, world, vault):  # type: ignore[no-untyped-def]
    """A person notified before the year's schedule was entered was given a deadline that counted a
    holiday as a working day: entering the schedule extends it (audited); a later change that would
    shorten it leaves it."""
    from datetime import time, timedelta

    from tests.lists.lists_support import person
    from tests.support import SYSTEM

    from xinyong import clock
    from xinyong.catalog.service import load_default as load_catalog
    from xinyong.lists import service as lists

    load_catalog(session, actor=SYSTEM)
    lists.load_default(session, actor=SYSTEM)
    subject = person(session, vault)
    notified_on = WEEKDAY - timedelta(days=1)
    entry = lists.propose(session, code="serious_dishonesty", subject_id=subject.id, reason="销售假药致人伤亡",
                          category="harm_health_life", department_id=world.dept_a.id, actor=ADMIN)
    lists.notify(session, entry=entry, actor=ADMIN, today=notified_on)
    entry.notified_at = clock.utc_instant(notified_on, time(10))
    given = entry.defence_deadline
    assert given == workdays.add_working_days(notified_on, 5) and given > WEEKDAY  # WEEKDAY counted as working

    service.import_schedule(session, days=service.parse_schedule(f"{WEEKDAY.isoformat()} holiday 假"), actor=ADMIN)
    session.flush()
    workdays.sync(session)
    assert lists.extend_open_deadlines(session, actor=ADMIN, today=notified_on) == 1
    assert entry.defence_deadline == workdays.add_working_days(given, 1)
    [logged] = session.scalars(select(AuditEntry).where(AuditEntry.action == "list_entry.deadline_extended"))
    assert logged.details["before"] == given.isoformat()
    assert logged.details["defence_deadline"] == entry.defence_deadline.isoformat()
    assert lists.extend_open_deadlines(session, actor=ADMIN, today=notified_on) == 0  # once

    extended = entry.defence_deadline
    service.import_schedule(session, days=service.parse_schedule(f"{NEXT}-12-25 holiday 另一天"), actor=ADMIN)
    session.flush()
    workdays.sync(session)
    assert lists.extend_open_deadlines(session, actor=ADMIN, today=notified_on) == 0
    assert entry.defence_deadline == extended  # never brought forward: the person was told it


def _notified(session, world, vault, day):  # type: ignore[no-untyped-def]
    from tests.lists.lists_support import person
    from tests.support import SYSTEM

    from xinyong.catalog.service import load_default as load_catalog
    from xinyong.lists import service as lists

    load_catalog(session, actor=SYSTEM)
    lists.load_default(session, actor=SYSTEM)
    entry = lists.propose(session, code="serious_dishonesty", subject_id=person(session, vault).id,
                          reason="销售假药致人伤亡", category="harm_health_life", department_id=world.dept_a.id,
                          actor=ADMIN)
    return lists.notify(session, entry=entry, actor=ADMIN, today=day)


def test_a_period_is_recounted_as_its_notice_counted_it_not_as_the_list_now_says(session, world, vault):  # type: ignore[no-untyped-def]
    """The number of working days a person was given is the notice's: a list's later
    ``defence_working_days`` (5 → 10) is not a calendar change and extends no period served before."""
    from datetime import time, timedelta

    from xinyong import clock
    from xinyong.lists import service as lists

    monday = clock.today() - timedelta(days=clock.today().weekday() + 14)
    entry = _notified(session, world, vault, monday)
    entry.notified_at = clock.utc_instant(monday, time(10))
    given = entry.defence_deadline
    data = lists.kind_data(lists.get_kind(session, "serious_dishonesty"))
    lists.update_kind(session, code="serious_dishonesty", data={**data, "params": {
        **data["params"], "defence_working_days": 10}}, actor=ADMIN)
    assert lists.extend_open_deadlines(session, actor=ADMIN, today=monday) == 0
    assert entry.defence_deadline == given


def test_a_period_is_recounted_from_the_day_its_notice_counted_it_from(session, world, vault):  # type: ignore[no-untyped-def]
    """``notify`` takes the day the person was told (``today``), which need not be the day the step
    was recorded (``notified_at``): the period is counted again from the notice's day, and a
    calendar that changed nothing moves nothing."""
    from datetime import timedelta

    from xinyong import clock
    from xinyong.lists import service as lists

    monday = clock.today() - timedelta(days=clock.today().weekday() + 14)
    entry = _notified(session, world, vault, monday)
    given = entry.defence_deadline
    assert clock.day_of(entry.notified_at) > given  # recorded later than the period it began
    assert lists.extend_open_deadlines(session, actor=ADMIN, today=monday) == 0
    assert entry.defence_deadline == given


def test_a_period_ended_by_the_old_count_is_open_again_and_a_defended_one_is_left(session, world, vault):  # type: ignore[no-untyped-def]
    """Entered late, the schedule still extends an undecided entry whose deadline passed by the old
    count but not by the new one; an entry whose person already stated a defence is left alone."""
    from datetime import time, timedelta

    from tests.lists.lists_support import person
    from tests.support import SYSTEM

    from xinyong import clock
    from xinyong.catalog.service import load_default as load_catalog
    from xinyong.lists import service as lists

    load_catalog(session, actor=SYSTEM)
    lists.load_default(session, actor=SYSTEM)
    notified_on = WEEKDAY - timedelta(days=1)
    entries = []
    for name in ("甲某", "乙某"):
        entry = lists.propose(session, code="serious_dishonesty", subject_id=person(session, vault, name=name).id,
                              reason="理由", category="harm_health_life", department_id=world.dept_a.id, actor=ADMIN)
        lists.notify(session, entry=entry, actor=ADMIN, today=notified_on)
        entry.notified_at = clock.utc_instant(notified_on, time(10))
        entries.append(entry)
    late, defended = entries
    lists.defend(session, entry=defended, text="我有异议", actor=ADMIN, today=notified_on)
    old_late, old_defended = late.defence_deadline, defended.defence_deadline
    service.import_schedule(session, days=service.parse_schedule(f"{WEEKDAY.isoformat()} holiday 假"), actor=ADMIN)
    session.flush()
    workdays.sync(session)
    # the day after the old deadline: by the old count the period has ended, by the new one it runs on
    assert lists.extend_open_deadlines(session, actor=ADMIN, today=old_late + timedelta(days=1)) == 1
    assert late.defence_deadline == workdays.add_working_days(old_late, 1)
    assert defended.defence_deadline == old_defended
