"""Each scoring rule, through the real ingestion path and the one engine."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import update
from tests.scoring.scoring_support import (
    TODAY,
    blood,
    debtor,
    honour,
    list_subject,
    penalty,
    push,
    setup,
    volunteer,
)
from tests.support import SYSTEM

from xinyong import events
from xinyong.records import service as records_service
from xinyong.records.models import Record
from xinyong.scoring import service
from xinyong.scoring.models import ScoreHistory, SubjectStatus


@pytest.fixture
def dept(session):  # type: ignore[no-untyped-def]
    return setup(session)


def points(session, sid: int, today: date = TODAY) -> list[int]:  # type: ignore[no-untyped-def]
    return [c.points for c in service.explain(session, sid, today=today).contributions]


def test_new_record_regrades_in_the_same_transaction(session, vault, dept) -> None:  # type: ignore[no-untyped-def]
    sid, _ = push(session, vault, dept, [penalty("serious")])
    row = session.get(SubjectStatus, sid)
    assert (row.score, row.grade, row.ruleset_version) == (900, "B", 1)
    assert row.clean_3y is False and row.lists == [] and row.red is False
    hist = session.query(ScoreHistory).filter_by(subject_id=sid).one()
    assert (hist.previous_score, hist.score, hist.grade, hist.reason) == (None, 900, "B", "records.push")


def test_validity_window_start_and_end(session, vault, dept) -> None:  # type: ignore[no-untyped-def]
    # honour: window 36 months, display 60 months -> the window ends first
    sid, _ = push(session, vault, dept, [honour("national", decided="2023-01-10")], today=date(2023, 1, 10))
    assert points(session, sid, date(2023, 1, 10)) == [30]  # counts from its decision day
    assert points(session, sid, date(2026, 1, 9)) == [30]  # last day
    assert points(session, sid, date(2026, 1, 10)) == []  # window over
    e = service.explain(session, sid, today=date(2024, 1, 1))
    assert e.contributions[0].counts_until == date(2026, 1, 9)


def test_window_end_on_a_month_end(session, vault, dept) -> None:  # type: ignore[no-untyped-def]
    sid, _ = push(session, vault, dept, [honour("city", decided="2024-02-29")], today=date(2024, 3, 1))
    until = service.explain(session, sid, today=date(2024, 3, 1)).contributions[0].counts_until
    assert until == date(2027, 2, 27)
    assert points(session, sid, until) == [10]
    assert points(session, sid, date(2027, 2, 28)) == []


def test_repeat_inside_the_window_doubles(session, vault, dept) -> None:  # type: ignore[no-untyped-def]
    sid, _ = push(session, vault, dept, [penalty("general", "2026-01-05"), penalty("minor", "2026-09-01"),
                                         penalty("general", "2026-06-02"), penalty("general", "2026-06-02",
                                                                                   item="traffic_violation")])
    e = service.explain(session, sid, today=TODAY)
    by_item = [(c.item, c.points) for c in e.contributions]
    assert by_item == [("admin_penalty", -20), ("admin_penalty", -40), ("traffic_violation", -10),
                       ("admin_penalty", -10)]
    assert "重复，加倍" in e.contributions[1].reason and "doubled" in e.contributions[1].reason
    assert "加倍" not in e.contributions[2].reason
    assert e.score == 1000 - 80


def test_doubling_ends_when_the_first_leaves_the_window(session, vault, dept) -> None:  # type: ignore[no-untyped-def]
    sid, _ = push(session, vault, dept, [penalty("general", "2026-01-05"), penalty("general", "2026-06-02")])
    assert points(session, sid, date(2027, 1, 4)) == [-20, -40]
    assert points(session, sid, date(2027, 1, 5)) == [-20]


def test_honours_add_by_level(session, vault, dept) -> None:  # type: ignore[no-untyped-def]
    levels = {"national": 30, "provincial": 20, "city": 10, "district": 5, "street": 3, "community": 1}
    sid, _ = push(session, vault, dept, [honour(lv) for lv in levels])
    assert points(session, sid) == list(levels.values())
    assert session.get(SubjectStatus, sid).score == 1069
    assert session.get(SubjectStatus, sid).grade == "AAA"
    sid2, _ = push(session, vault, dept, [honour("national", item="moral_model"), blood()])
    assert points(session, sid2) == [50, 10]


@pytest.mark.parametrize(("hours", "expected"), [
    ([99], []), ([100], [5]), ([299, 300], [0, 10]), ([650, 120], [15, 0]), ([999.5], [15]), ([1000], [20]),
    ([1500, 20, 1499], [30, 0]),
])
def test_volunteering_tiers_on_the_maximum_hours(session, vault, dept, hours, expected) -> None:  # type: ignore[no-untyped-def]
    sid, _ = push(session, vault, dept, [volunteer(h) for h in hours])
    e = service.explain(session, sid, today=TODAY)
    assert [c.points for c in e.contributions] == expected
    assert e.score == 1000 + max(expected, default=0)


def test_list_forces_grade_d_whatever_the_points(session, vault, dept) -> None:  # type: ignore[no-untyped-def]
    sid, _ = push(session, vault, dept, [honour("national"), honour("provincial")])
    assert session.get(SubjectStatus, sid).grade == "AAA"
    entry = list_subject(session, sid, "serious_dishonesty")
    events.lists_changed(session, [sid], [entry.id], reason="listed")
    row = session.get(SubjectStatus, sid)
    session.refresh(row)
    assert (row.score, row.grade, row.dishonest) == (1050, "D", True)
    assert row.lists == [{"code": "serious_dishonesty", "since": "2026-05-01"}]
    e = service.explain(session, sid, today=TODAY)
    assert (e.grade, e.points_grade, e.forced_by) == ("D", "AAA", ["serious_dishonesty"])
    entry.status = "removed"
    session.flush()
    events.lists_changed(session, [sid], [entry.id], reason="removed")
    session.refresh(row)
    assert (row.grade, row.dishonest, row.lists) == ("AAA", False, [])


def test_red_list_and_unforced_list(session, vault, dept) -> None:  # type: ignore[no-untyped-def]
    sid, _ = push(session, vault, dept, [blood()])
    list_subject(session, sid, "red_volunteer", kind="red")
    list_subject(session, sid, "key_supervision")
    service.refresh(session, [sid], today=TODAY)
    row = session.get(SubjectStatus, sid)
    session.refresh(row)
    assert (row.grade, row.red, row.dishonest) == ("A", True, True)
    assert sorted(x["code"] for x in row.lists) == ["key_supervision", "red_volunteer"]


def test_revoked_record_stops_counting(session, vault, dept) -> None:  # type: ignore[no-untyped-def]
    sid, (rid,) = push(session, vault, dept, [penalty("serious")])
    rec = session.get(Record, rid)
    records_service.revoke(session, rec=rec, reason="决定已撤销", actor=SYSTEM)
    row = session.get(SubjectStatus, sid)
    session.refresh(row)
    assert (row.score, row.grade, row.clean_3y) == (1000, "A", True)
    assert service.explain(session, sid, today=TODAY).contributions == []


def test_expired_display_stops_counting(session, vault, dept) -> None:  # type: ignore[no-untyped-def]
    # a minor penalty is displayed 3 months: decided 2026-05-01, display ends 2026-08-01
    sid, (rid,) = push(session, vault, dept, [penalty("minor", "2026-05-01")], today=date(2026, 6, 1))
    assert points(session, sid, date(2026, 6, 1)) == [-5]
    assert points(session, sid, date(2026, 7, 31)) == [-5]
    assert points(session, sid, date(2026, 8, 1)) == []  # display_until passed, even before maintain
    records_service.maintain(session, actor=SYSTEM, today=date(2026, 8, 1))
    assert session.get(Record, rid).status == "expired"
    assert points(session, sid, date(2026, 7, 31)) == []  # status not active


def test_repaired_record_stops_counting(session, vault, dept) -> None:  # type: ignore[no-untyped-def]
    sid, (rid, _) = push(session, vault, dept, [penalty("general"), debtor()])
    assert points(session, sid) == [-20, -200]
    session.execute(update(Record).where(Record.id == rid).values(status="repaired"))
    service.refresh(session, [sid], today=TODAY)
    assert points(session, sid) == [-200]
    assert session.get(SubjectStatus, sid).score == 800


def test_explanation_adds_up_and_matches_the_status(session, vault, dept) -> None:  # type: ignore[no-untyped-def]
    sid, _ = push(session, vault, dept, [penalty("general"), penalty("serious"), honour("city"), volunteer(350),
                                         blood(), penalty("minor", item="traffic_violation")])
    e = service.explain(session, sid, today=TODAY)
    assert e.base + sum(c.points for c in e.contributions) == e.score
    row = session.get(SubjectStatus, sid)
    assert (row.score, row.grade, row.ruleset_version) == (e.score, e.grade, e.ruleset_version)
    assert all(" / " in c.reason for c in e.contributions)


def test_default_status_without_a_row(session) -> None:  # type: ignore[no-untyped-def]
    d = service.default_status(session, today=TODAY)
    assert (d.score, d.grade, d.ruleset_version) == (1000, "A", 1)
    setup(session)
    service.ensure_default(session)
    d = service.default_status(session)
    assert (d.score, d.grade, d.ruleset_version) == (1000, "A", 1)


def test_maintain_refreshes_windows_that_ended(session, vault, dept) -> None:  # type: ignore[no-untyped-def]
    sid, _ = push(session, vault, dept, [honour("national", decided="2023-12-01")])
    assert service.maintain(session, today=TODAY)["action"] == "rescore"  # first run
    assert service.maintain(session, today=TODAY)["action"] == "none"  # idempotent
    assert session.get(SubjectStatus, sid).score == 1030
    out = service.maintain(session, today=date(2026, 12, 1))
    assert out == {"action": "refresh", "ruleset_version": 1, "subjects": 1}
    row = session.get(SubjectStatus, sid)
    session.refresh(row)
    assert (row.score, row.grade) == (1000, "A")
    assert session.query(ScoreHistory).filter_by(subject_id=sid, reason="window").count() == 1
