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
    shown_before = cli.count("records", "status = 'active'")
    ended_before = cli.count("records", "status IN ('expired', 'archived')")
    statuses_before = cli.sql("SELECT subject_id, score, grade FROM subject_status ORDER BY subject_id")
    far = "2031-06-01"  # past every general and most serious display periods
    first = cli.ok("maintain", "--today", far).stdout
    assert "display ended" in first and "scoring:" in first and "lists:" in first
    ended = cli.count("records", "status IN ('expired', 'archived')") - ended_before
    assert ended > 0 and cli.count("records", "status = 'active'") == shown_before - ended
    statuses_after = cli.sql("SELECT subject_id, score, grade FROM subject_status ORDER BY subject_id")
    assert statuses_after != statuses_before  # expired deductions and honours stopped counting
    entries = cli.count("audit_entries")
    second = cli.ok("maintain", "--today", far).stdout
    assert "display ended: 0" in second and "archived: 0" in second
    assert cli.sql("SELECT subject_id, score, grade FROM subject_status ORDER BY subject_id") == statuses_after
    assert cli.count("audit_entries") - entries <= 3  # at most one run entry per step


def test_maintain_with_a_bad_date_fails_cleanly(initialised: CliEnv) -> None:
    out = initialised.fails("maintain", "--today", "2026-13-01").output
    assert "YYYY-MM-DD" in out
