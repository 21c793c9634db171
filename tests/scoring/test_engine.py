"""The one engine used three ways agrees with itself: incremental refresh (the handlers), full
rescore and explain; what-if equals what the engine computes once the change is real, and writes
nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, update
from tests.scoring.scoring_support import TODAY, blood, debtor, honour, list_subject, penalty, push, setup, volunteer

from xinyong.records.models import Record
from xinyong.scoring import service
from xinyong.scoring.models import ScoreHistory, ScoringRule, SubjectStatus

DAY0 = date(2023, 6, 1)
_record = st.one_of(
    st.builds(lambda s, d: penalty(s, d), st.sampled_from(["minor", "general", "serious"]), st.integers(0, 1270)),
    st.builds(lambda s, d: penalty(s, d, item="traffic_violation"), st.sampled_from(["minor", "general", "serious"]),
              st.integers(0, 1270)),
    st.builds(lambda lv, d: honour(lv, d), st.sampled_from(["national", "city", "community"]), st.integers(0, 1270)),
    st.builds(lambda h, d: volunteer(h, d), st.integers(0, 2000), st.integers(0, 1270)),
    st.builds(lambda d: blood(d), st.integers(0, 1270)),
    st.builds(lambda d: debtor(d), st.integers(0, 1270)),
)


def _dated(rec: dict) -> dict:  # type: ignore[type-arg]
    return {**rec, "decided_at": (DAY0 + timedelta(days=int(rec["decided_at"]))).isoformat()}


@pytest.fixture
def dept(session):  # type: ignore[no-untyped-def]
    d = setup(session)
    service.ensure_default(session)
    return d


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people=st.lists(st.lists(_record, min_size=0, max_size=7), min_size=1, max_size=4),
       day=st.integers(0, 1500))
def test_refresh_rescore_and_explain_agree(session, vault, dept, people, day) -> None:  # type: ignore[no-untyped-def]
    today = DAY0 + timedelta(days=day)
    sids = []
    for recs in people:
        recs = [_dated(r) for r in recs]
        recs = [r for r in recs if r["decided_at"] <= TODAY.isoformat()] or [blood("2023-06-01")]
        sid, _ = push(session, vault, dept, recs)
        sids.append(sid)
    service.refresh(session, sids, today=today)
    for s in sids:
        session.refresh(session.get(SubjectStatus, s))
    incremental = {s: (session.get(SubjectStatus, s).score, session.get(SubjectStatus, s).grade) for s in sids}
    service.rescore(session, today=today)
    for s in sids:
        row = session.get(SubjectStatus, s)
        session.refresh(row)
        e = service.explain(session, s, today=today)
        assert e.base + sum(c.points for c in e.contributions) == e.score
        assert (row.score, row.grade) == incremental[s] == (e.score, e.grade)


def _counts(session) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {t.__tablename__: session.scalar(select(func.count()).select_from(t))
            for t in (Record, SubjectStatus, ScoreHistory, ScoringRule)}


def test_what_if_equals_the_engine_after_the_change_and_writes_nothing(session, vault, dept) -> None:  # type: ignore[no-untyped-def]
    sid, (p1, p2, _h) = push(session, vault, dept, [penalty("general", "2026-01-05"), penalty("general"),
                                                     honour("district")])
    before = _counts(session)
    current, new = service.what_if(session, sid, [{"remove_record": p1},
                                                 {"add": {"item": "honor", "level": "city", "decided_at": "2026-11-01"}},
                                                 {"add": {"item": "volunteer_service", "hours": 320}}], today=TODAY)
    assert _counts(session) == before
    assert (current.score, current.grade) == (945, "B")
    # p2 is no longer a repeat once p1 is gone: -20; honours +5 +10; volunteering +10
    assert (new.score, new.grade) == (1005, "A")
    assert [c.record_id for c in new.contributions if c.record_id is None] == [None, None]
    assert new.base + sum(c.points for c in new.contributions) == new.score
    # make the removal real: the engine agrees with the what-if's view of the remaining records
    session.execute(update(Record).where(Record.id == p1).values(status="repaired"))
    e = service.explain(session, sid, today=TODAY)
    assert e.score == new.score - 10 - 10 and p2 in [c.record_id for c in e.contributions]


@pytest.mark.parametrize(("change", "code"), [
    ({"remove_record": 999999}, "unknown_record"),
    ({"add": {"item": "nonsense"}}, "unknown_item"),
    ({"add": {"level": "city"}}, "missing"),  # said so, not "no catalog item None"
    ({"add": {"item": "honor", "level": "galactic"}}, "unknown_level"),
    ({"add": {"item": "admin_penalty", "severity": "awful"}}, "unknown_severity"),
    ({"add": {"item": "honor", "level": "city", "decided_at": "2099-01-01"}}, "future_date"),
    ({"drop": 1}, "bad_change"),
])
def test_what_if_refusals(session, vault, dept, change, code) -> None:  # type: ignore[no-untyped-def]
    sid, _ = push(session, vault, dept, [blood()])
    with pytest.raises(service.ScoringError) as info:
        service.what_if(session, sid, [change], today=TODAY)
    assert info.value.code == code and info.value.field.startswith("changes[0]")


def test_rescore_writes_every_subject_and_history_only_on_change(session, vault, dept) -> None:  # type: ignore[no-untyped-def]
    a, _ = push(session, vault, dept, [penalty("serious")])
    b, _ = push(session, vault, dept, [honour("city")])
    h = session.scalar(select(func.count()).select_from(ScoreHistory))
    assert service.rescore(session, today=TODAY) >= 2
    assert session.scalar(select(func.count()).select_from(ScoreHistory)) == h  # nothing changed
    dist = service.distribution(session, today=TODAY)
    assert {g["grade"]: g["count"] for g in dist["grades"]}["B"] >= 1
    assert dist["total"] == session.scalar(select(func.count()).select_from(SubjectStatus))


def test_refresh_writes_history_and_status_only_on_change(session, vault, dept) -> None:  # type: ignore[no-untyped-def]
    """The batch refresh (one statement per chunk beside the stored statuses, bulk writes): a new
    subject gets a status row and, off the base score, a history row; a second refresh writes
    nothing; a change writes one history row with the previous score and updates the row, lists
    and flags included."""
    sid, rids = push(session, vault, dept, [penalty("serious")])
    plain, _ = push(session, vault, dept, [blood()])
    session.execute(delete(ScoreHistory))
    session.execute(delete(SubjectStatus))
    assert service.refresh(session, [sid, plain, sid], today=TODAY) == 2
    rows = {r.subject_id: r for r in session.scalars(select(ScoreHistory))}
    assert set(rows) == {sid, plain} and rows[sid].previous_score is None
    st = session.get(SubjectStatus, sid)
    assert (st.score, st.grade) == (rows[sid].score, rows[sid].grade)
    assert st.score < 1000 and st.lists == [] and not st.red and not st.dishonest and not st.clean_3y
    stamp = st.updated_at

    service.refresh(session, [sid, plain], today=TODAY)
    assert session.scalar(select(func.count()).select_from(ScoreHistory)) == 2
    session.refresh(st)
    assert st.updated_at == stamp  # unchanged rows are not rewritten

    list_subject(session, sid, "dishonest_debtor_test")
    session.execute(update(Record).where(Record.id == rids[0]).values(status="revoked"))
    service.refresh(session, [sid], today=TODAY)
    last = session.scalars(select(ScoreHistory).where(ScoreHistory.subject_id == sid)
                           .order_by(ScoreHistory.id.desc())).first()
    assert last is not None and last.previous_score == rows[sid].score and last.score == 1000
    session.refresh(st)
    # no bad record left, but listed for dishonesty: not clean while listed (tests/lists/test_clean_status.py)
    assert st.score == 1000 and not st.clean_3y and st.dishonest
    assert st.lists == [{"code": "dishonest_debtor_test", "since": "2026-05-01"}]
    assert st.updated_at > stamp


def test_a_list_appears_once_however_many_entries_put_the_subject_on_it(session, vault, dept) -> None:  # type: ignore[no-untyped-def]
    """Two court cases put a person on the debtors' list twice (two entries): the status — what
    checks answer — names that list once, since the earlier listing; refresh, rescore and explain agree."""
    sid, rids = push(session, vault, dept, [blood(), blood()])
    for rid, since in zip(rids, (date(2026, 6, 1), date(2026, 3, 1)), strict=True):  # one entry per court record
        list_subject(session, sid, "debtor_twice", since=since).record_id = rid
        session.flush()
    list_subject(session, sid, "red_once", kind="red", since=date(2026, 4, 1))
    expected = [{"code": "debtor_twice", "since": "2026-03-01"}, {"code": "red_once", "since": "2026-04-01"}]
    service.refresh(session, [sid], today=TODAY)
    st = session.get(SubjectStatus, sid)
    assert st.lists == expected and st.dishonest and st.red
    session.execute(delete(SubjectStatus))
    service.rescore(session, today=TODAY)
    assert session.get(SubjectStatus, sid).lists == expected
    assert [e["code"] for e in service.explain(session, sid, today=TODAY).lists] == ["debtor_twice", "red_once"]


def test_what_if_follows_the_debtor_list_its_catalog_item_feeds(session, vault, dept) -> None:  # type: ignore[no-untyped-def]
    """The dishonest-debtor list follows its catalog item: supposing the debtor record repaired or
    expired ends the listing (and its forced D); supposing a new debtor record lists the person."""
    from tests.support import SYSTEM

    from xinyong.lists.service import load_default as load_lists

    load_lists(session, actor=SYSTEM)
    sid, (rid,) = push(session, vault, dept, [debtor()])
    current, new = service.what_if(session, sid, [{"remove_record": rid}], today=TODAY)
    assert (current.score, current.grade, current.forced_by) == (800, "D", ["dishonest_debtor"])
    assert (new.score, new.grade, new.forced_by, new.lists) == (1000, "A", [], [])
    # the same as the engine once the record is really revoked (the list entry ends with it)
    from xinyong.records import service as records_service

    clean, _ = push(session, vault, dept, [honour("city")])
    _, added = service.what_if(session, clean, [{"add": {"item": "dishonest_debtor", "decided_at": "2026-11-01"}}],
                               today=TODAY)
    assert (added.score, added.points_grade, added.grade, added.forced_by) == (810, "C", "D", ["dishonest_debtor"])
    records_service.revoke(session, rec=session.get(Record, rid), reason="撤销", actor=SYSTEM)
    e = service.explain(session, sid, today=TODAY)
    assert (e.score, e.grade, e.forced_by) == (new.score, new.grade, new.forced_by)
