"""`xinyong init` loads every rule shipped as data; `xinyong maintain` runs records, lists and
scoring upkeep in order and is safe to run twice."""

from __future__ import annotations

from tests.cli.conftest import CliEnv


def test_init_loads_list_kinds_measures_scenarios_and_the_ruleset(initialised: CliEnv) -> None:
    cli = initialised
    assert cli.count("list_kinds") >= 6
    assert cli.count("check_scenarios") >= 7 and cli.count("measures") >= 10
    assert cli.count("scoring_rulesets", "version > 0") == 1
    again = cli.ok("init").stdout
    assert "list kinds: 0 added" in again and "scoring ruleset: 0 added" in again
    assert cli.count("scoring_rulesets", "version > 0") == 1


def test_maintain_twice_ends_display_regrades_and_changes_nothing_the_second_time(cli: CliEnv) -> None:
    cli.ok("demo", "--no-serve", "--people", "40")
    shown_before = {r[0] for r in cli.sql("SELECT id FROM records WHERE status = 'active'")}
    statuses_before = cli.sql("SELECT subject_id, score, grade FROM subject_status ORDER BY subject_id")
    far = "2031-06-01"  # past every general and most serious display periods
    first = cli.ok("maintain", "--today", far, "--allow-future").stdout  # years ahead: a rehearsal
    assert "display ended" in first and "scoring:" in first and "lists:" in first
    assert "red_volunteer\t列入 / added: " in first and "red_moral_model\t" in first  # the red lists' refresh
    # (revoked records past their retention are archived too: not counted here, they were not shown)
    shown_after = {r[0] for r in cli.sql("SELECT id FROM records WHERE status = 'active'")}
    ended = shown_before - shown_after
    assert ended and shown_after < shown_before
    statuses = {i: st for i, st in cli.sql("SELECT id, status FROM records")}
    assert {statuses[i] for i in ended} <= {"expired", "archived"}
    statuses_after = cli.sql("SELECT subject_id, score, grade FROM subject_status ORDER BY subject_id")
    assert statuses_after != statuses_before  # expired deductions and honours stopped counting
    entries = cli.count("audit_entries")
    second = cli.ok("maintain", "--today", far, "--allow-future").stdout
    assert "display ended: 0" in second and "archived: 0" in second
    assert cli.sql("SELECT subject_id, score, grade FROM subject_status ORDER BY subject_id") == statuses_after
    # at most one run entry per step, and the rehearsal's own (maintain.future_day)
    assert cli.count("audit_entries") - entries <= 4


def test_maintain_with_a_bad_date_fails_cleanly(initialised: CliEnv) -> None:
    out = initialised.fails("maintain", "--today", "2026-13-01").output
    assert "YYYY-MM-DD" in out


def test_maintain_as_of_a_day_leaves_every_status_as_a_recomputation_on_that_day(cli: CliEnv) -> None:
    """``maintain --today D``: every step counts D — also the scoring refresh that its records and
    lists steps announce, which counted the machine's day: run on successive days ahead (catching
    up, or trying a day out), a record ended on D regraded its subject as of today, with bad records
    of the last three years *before today* (clean_3y false), and the scoring step, which refreshes
    only the subjects whose windows ended since its last run, left that. Afterwards each stored
    status (score, grade, lists, flags) must be what a full recomputation on D gives."""
    from datetime import timedelta

    from sqlalchemy import select

    from xinyong import clock
    from xinyong.db import Database
    from xinyong.scoring import service as scoring
    from xinyong.scoring.models import SubjectStatus

    cli.ok("demo", "--no-serve", "--people", "150")
    today = clock.today()
    first, day = today + timedelta(days=3 * 365), today + timedelta(days=4 * 365)
    cli.ok("maintain", "--today", first.isoformat(), "--allow-future")
    cli.ok("maintain", "--today", day.isoformat(), "--allow-future")
    cols = (SubjectStatus.subject_id, SubjectStatus.score, SubjectStatus.grade, SubjectStatus.lists,
            SubjectStatus.red, SubjectStatus.dishonest, SubjectStatus.clean_3y)
    db = Database(cli.url)
    try:
        with db.session() as s:
            stored = {r[0]: tuple(r) for r in s.execute(select(*cols))}
            scoring.rescore(s, today=day)
            again = {r[0]: tuple(r) for r in s.execute(select(*cols))}
            s.rollback()
    finally:
        db.dispose()
    assert len(again) > 100
    differ = {sid: (stored.get(sid), row) for sid, row in again.items() if stored.get(sid) != row}
    assert not differ, f"{len(differ)} statuses differ from a recomputation on {day}: {list(differ.values())[:3]}"


def test_a_bad_today_is_echoed_without_an_id_number(initialised) -> None:  # type: ignore[no-untyped-def]
    """`--today` given an ID number (pasted into the wrong place) is refused, the value echoed masked:
    the CLI never prints a raw ID number (the shared ``cli_support.fail`` masks what it echoes)."""
    out = initialised.fails("maintain", "--today", "11010519491231002X").output
    assert "11010519491231002X" not in out and "110105********002X" in out and "YYYY-MM-DD" in out


def test_recompute_display_of_an_unknown_item_fails_and_is_registered(initialised) -> None:  # type: ignore[no-untyped-def]
    """``xinyong records recompute-display`` of an item the catalog does not have is refused cleanly and
    registered as the API's and the catalog page's refusals are (``records.recompute_display``,
    ``failed``, the code, ``via: cli``), never with an ID number typed in its place."""
    import json

    initialised.fails("records", "recompute-display", "no_such_item")
    initialised.fails("records", "recompute-display", "11010519491231002X")
    rows = initialised.sql("SELECT actor_type, outcome, details FROM audit_entries "
                           "WHERE action = 'records.recompute_display' ORDER BY id")
    assert [(a, o) for a, o, _d in rows] == [("system", "failed"), ("system", "failed")], rows
    first, second = (json.loads(d) for _a, _o, d in rows)
    assert first["item"] == "no_such_item" and first["via"] == "cli" and first["code"]
    assert "11010519491231002X" not in json.dumps(second, ensure_ascii=False)
    assert initialised.ok("records", "recompute-display", "admin_penalty").exit_code == 0


def test_a_day_that_has_not_come_is_refused_and_registered(cli: CliEnv) -> None:
    """``maintain --today D`` with D after the district's today would end display periods and archive
    records as of a day not come — published records taken down early, archived for good. It is
    refused before any step runs, Chinese then English, registered as the CLI's other refusals are
    (``failed``, ``via: cli``); ``--allow-future`` is the deliberate rehearsal (on a copy), on the
    record too; today and past days run as ever."""
    import json
    from datetime import timedelta

    from xinyong import clock

    cli.ok("demo", "--no-serve", "--people", "40")
    statuses = cli.sql("SELECT id, status, display_until FROM records ORDER BY id")
    subject_status = cli.sql("SELECT subject_id, score, grade FROM subject_status ORDER BY subject_id")
    entries = cli.count("audit_entries")
    today = clock.today()
    for ahead in ("2031-06-01", (today + timedelta(days=1)).isoformat()):
        out = cli.fails("maintain", "--today", ahead).output
        assert "晚于本区今天" in out and "is after the district's today" in out and "--allow-future" in out
        assert out.index("晚于本区今天") < out.index("is after the district's today")
    assert cli.sql("SELECT id, status, display_until FROM records ORDER BY id") == statuses  # nothing ran
    assert cli.sql("SELECT subject_id, score, grade FROM subject_status ORDER BY subject_id") == subject_status
    rows = cli.sql("SELECT actor_type, actor_label, action, outcome, details FROM audit_entries WHERE id > ? "
                   "ORDER BY id", (entries,))
    assert [(a, act, o) for a, _l, act, o, _d in rows] == [("system", "maintain.run", "failed")] * 2
    assert all(label.startswith("cli:") for _a, label, _act, _o, _d in rows)
    details = json.loads(rows[1][4])
    assert details == {"code": "future_day", "field": "--today", "today": (today + timedelta(days=1)).isoformat(),
                       "district_today": today.isoformat(), "via": "cli"}
    # today, and a past day (catching up), run
    assert "display ended" in cli.ok("maintain", "--today", today.isoformat()).stdout
    assert "display ended" in cli.ok("maintain", "--today", (today - timedelta(days=3)).isoformat()).stdout
    assert cli.count("audit_entries", "action = 'maintain.future_day'") == 0
    # the rehearsal: deliberate, warned, registered with the day it ran as of
    r = cli.ok("maintain", "--today", "2031-06-01", "--allow-future")
    assert "irreversible" in r.output
    [(d,)] = cli.sql("SELECT details FROM audit_entries WHERE action = 'maintain.future_day'")
    assert json.loads(d) == {"today": "2031-06-01", "district_today": today.isoformat(), "command": "maintain.run",
                             "via": "cli"}
    assert cli.sql("SELECT id, status, display_until FROM records ORDER BY id") != statuses


def test_run_daily_refuses_a_future_day_itself() -> None:
    """The rule is the upkeep's own (``maintenance.check_day``), not only the command's."""
    from datetime import timedelta

    import pytest

    from xinyong import clock
    from xinyong.maintenance import FutureDay, check_day, run_daily

    with pytest.raises(FutureDay) as exc:
        run_daily(None, today=clock.today() + timedelta(days=1))  # type: ignore[arg-type]  # refused before any use
    assert exc.value.field == "today" and exc.value.code == "future_day"
    check_day(clock.today())
    check_day(clock.today() + timedelta(days=400), allow_future=True)
