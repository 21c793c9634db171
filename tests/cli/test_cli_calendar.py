"""`xinyong calendar`: the holiday table from the command line (see tests/holidays)."""

from __future__ import annotations

from datetime import date

import pytest
from tests.holidays.test_calendar import NEXT, SCHEDULE

from xinyong import workdays


@pytest.fixture(autouse=True)
def _process_calendar():  # type: ignore[no-untyped-def]
    """The CLI runs in this process: the table it reads is process-wide state."""
    workdays.use([])
    yield
    workdays.use([])


def test_the_cli_imports_shows_and_refuses(initialised, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from xinyong import clock

    # the warning names this year and, from October, the next: a day the year after the library's is
    # next, whatever day the suite runs on and whichever years chinesecalendar has by then
    monkeypatch.setattr(clock, "today", lambda: date(NEXT - 1, 11, 27))
    cli = initialised
    shown = cli.ok("calendar", "show", "--year", str(NEXT))
    assert f"{NEXT}" in shown.output and "Monday-Friday" in shown.output  # not entered: said so
    f = tmp_path / "schedule.txt"
    f.write_text(SCHEDULE, encoding="utf-8")
    out = cli.ok("calendar", "import", str(f), "--note", "国办发明电〔示例〕").stdout
    assert f"{NEXT}: 放假 / holidays 15" in out
    assert cli.count("calendar_days") == 16 and cli.count("audit_entries", "action = 'calendar.import'") == 1
    shown = cli.ok("calendar", "show", "--year", str(NEXT)).stdout
    assert f"{NEXT}-01-01\tholiday" in shown and "元旦" in shown
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{NEXT}-01-01 holiday\n{NEXT}-99-01 holiday\n", encoding="utf-8")
    refused = cli.fails("calendar", "import", str(bad)).output
    assert "line 2" in refused and cli.count("calendar_days") == 16  # nothing half-written
    assert "year_not_covered" not in refused
    assert "import the whole year first" in cli.fails("calendar", "set", f"{NEXT + 1}-05-01", "holiday").output
    cli.ok("calendar", "set", f"{NEXT}-05-01", "holiday", "--name", "劳动节")
    assert cli.count("calendar_days") == 17


def test_a_schedule_saved_as_gbk_is_read(initialised, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Notepad's "ANSI" and Excel's CSV on Chinese Windows are GBK, as the record files the imports
    accept: the schedule (元旦, 春节, 放假 …) is read the same."""
    f = tmp_path / "schedule.csv"
    f.write_bytes(SCHEDULE.encode("gbk"))
    out = initialised.ok("calendar", "import", str(f)).stdout
    assert f"{NEXT}: 放假 / holidays 15" in out
    assert "元旦" in initialised.ok("calendar", "show", "--year", str(NEXT)).stdout
    f.write_bytes(b"\xff\xfe" + SCHEDULE.encode("utf-16-le"))
    assert "UTF-8" in initialised.fails("calendar", "import", str(f)).output


def test_unsetting_a_weekend_day_worked_extends_the_open_defence_periods(initialised, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`calendar unset` of a Saturday entered as worked makes it a rest day again: a defence period
    that counted it is extended, as after `set` and `import`."""
    from datetime import time, timedelta

    from tests.lists.lists_support import person
    from tests.support import SYSTEM

    from xinyong import clock
    from xinyong.auth import service as auth_service
    from xinyong.catalog.service import load_default as load_catalog
    from xinyong.db import Database
    from xinyong.lists import service as lists
    from xinyong.lists.models import ListEntry

    covered = max(workdays.LIBRARY_YEARS)
    monday = next(date(covered, 3, d) for d in range(9, 16) if date(covered, 3, d).weekday() == 0)
    saturday = monday + timedelta(days=5)
    initialised.ok("calendar", "set", saturday.isoformat(), "workday", "--name", "补班")
    db = Database(initialised.url)
    with db.session() as s:
        load_catalog(s, actor=SYSTEM)
        lists.load_default(s, actor=SYSTEM)
        dept = auth_service.add_department(s, code="scjgj", name="区市场监管局", actor=SYSTEM)
        entry = lists.propose(s, code="serious_dishonesty", subject_id=person(s, initialised.vault()).id,
                              reason="销售假药致人伤亡", category="harm_health_life",
                              department_id=dept.id, actor=SYSTEM)
        lists.notify(s, entry=entry, actor=SYSTEM, today=monday)
        entry.notified_at = clock.utc_instant(monday, time(10))
        assert entry.defence_deadline == saturday  # Tuesday … Friday, and the Saturday worked
        entry_id = entry.id
    db.engine.dispose()
    monkeypatch.setattr(clock, "today", lambda: monday)
    out = initialised.ok("calendar", "unset", saturday.isoformat()).stdout
    assert "defence deadlines extended: 1" in out
    db = Database(initialised.url)
    with db.session() as s:
        assert s.get(ListEntry, entry_id).defence_deadline == monday + timedelta(days=7)
    db.engine.dispose()


def test_a_refused_schedule_is_audited_as_the_page_audits_it(initialised, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`xinyong calendar import` of a file it refuses leaves what /admin/calendar leaves: one
    `calendar.import` entry, outcome `failed`, naming the first problem's code and line and how many
    there are (tests/holidays: the page's). A file that is not text is refused and registered too."""
    import json

    bad = tmp_path / "bad.txt"
    bad.write_text(f"{NEXT}-01-01 holiday\n{NEXT}-99-01 holiday\n{NEXT}-01-02 someday\n", encoding="utf-8")
    assert "line 2" in initialised.fails("calendar", "import", str(bad)).output
    binary = tmp_path / "schedule.bin"
    binary.write_bytes(b"\xff\xfe" + SCHEDULE.encode("utf-16-le"))
    assert "UTF-8" in initialised.fails("calendar", "import", str(binary)).output
    rows = initialised.sql("SELECT actor_type, actor_label, object_type, outcome, details FROM audit_entries "
                           "WHERE action = 'calendar.import' ORDER BY id")
    assert [(t, label.startswith("cli:"), o, out, json.loads(d)) for t, label, o, out, d in rows] == [
        ("system", True, "calendar", "failed", {"code": "wrong_type", "field": "line 2", "problems": 2}),
        ("system", True, "calendar", "failed", {"code": "wrong_encoding", "field": "schedule", "problems": 1}),
    ], rows
    assert initialised.count("calendar_days") == 0
