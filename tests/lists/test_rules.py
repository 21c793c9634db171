"""Lists computed from records: the dishonest-debtor list fed by real ingestion, the red-list rules,
``refresh`` idempotency, the "3 years without bad records" status."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.lists.lists_support import debtor, penalty, push, volunteer
from tests.support import SYSTEM, new_id_number

from xinyong import events
from xinyong.audit.models import AuditEntry
from xinyong.lists import service
from xinyong.lists.models import ListEntry
from xinyong.records import service as records
from xinyong.records.models import Record
from xinyong.scoring.service import status_of
from xinyong.subjects.models import Subject

pytestmark = pytest.mark.usefixtures("lists_loaded")
TODAY = date(2026, 11, 26)


def _entries(session, code, subject_id=None):  # type: ignore[no-untyped-def]
    stmt = select(ListEntry).where(ListEntry.list_code == code).order_by(ListEntry.id)
    if subject_id is not None:
        stmt = stmt.where(ListEntry.subject_id == subject_id)
    return list(session.scalars(stmt))


def _subject_of(session, record_id):  # type: ignore[no-untyped-def]
    return session.get(Record, record_id).subject_id


@pytest.fixture
def announced():  # type: ignore[no-untyped-def]
    seen: list[events.ListsChanged] = []
    events.on_lists_changed("test_rules_probe")(lambda _s, e: seen.append(e))
    yield seen
    events._lists_handlers[:] = [(n, h) for n, h in events._lists_handlers if n != "test_rules_probe"]


# ---- dishonest judgment debtors, through ingestion ----------------------------------------------------

def test_debtor_record_lists_updates_and_revocation_removes(session, world, vault, announced):  # type: ignore[no-untyped-def]
    idn = new_id_number()
    [out] = push(session, vault, world.dept_a, [debtor(idn, "王五", decided_at="2026-06-01")])
    rec = session.get(Record, out.record_id)
    [entry] = _entries(session, "dishonest_debtor")
    assert (entry.status, entry.source, entry.record_id, entry.subject_id) == ("listed", "catalog", rec.id,
                                                                               rec.subject_id)
    assert (entry.listed_on, entry.valid_until) == (date(2026, 6, 1), rec.display_until) == (date(2026, 6, 1),
                                                                                              date(2028, 6, 1))
    assert entry.notified_at is None and entry.defence_deadline is None  # a court decision: no defence process
    assert announced[-1].reason == "catalog" and announced[-1].entry_ids == {entry.id}
    # The same batch again: nothing changes.
    push(session, vault, world.dept_a, [debtor(idn, "王五", decided_at="2026-06-01")])
    assert len(_entries(session, "dishonest_debtor")) == 1
    # An update (new decision date) updates the entry.
    push(session, vault, world.dept_a, [debtor(idn, "王五", decided_at="2026-07-15")])
    session.refresh(entry)
    assert (entry.status, entry.listed_on, entry.valid_until) == ("listed", date(2026, 7, 15), date(2028, 7, 15))
    # Revocation removes it.
    records.revoke(session, rec=session.get(Record, rec.id), reason="执行完毕，法院删除", actor=SYSTEM)
    session.refresh(entry)
    assert (entry.status, entry.removal_kind) == ("removed", "revocation")
    actions = [a.details["entries"] for a in session.scalars(
        select(AuditEntry).where(AuditEntry.action == "lists.catalog_sync").order_by(AuditEntry.id))]
    assert actions == [[[entry.id, "list", rec.id]], [[entry.id, "update", rec.id]], [[entry.id, "remove", rec.id]]]


def test_debtor_entry_expires_with_the_record(session, world, vault):  # type: ignore[no-untyped-def]
    [out] = push(session, vault, world.dept_a, [debtor(new_id_number(), "赵六", decided_at="2024-12-01")])
    [entry] = _entries(session, "dishonest_debtor")
    assert entry.valid_until == date(2026, 12, 1)
    records.maintain(session, actor=SYSTEM, today=date(2026, 12, 1))
    session.refresh(entry)
    assert session.get(Record, out.record_id).status == "expired"
    assert (entry.status, entry.removal_kind) == ("removed", "expiry")


def test_debtor_batch_is_a_few_queries(session, world, vault, monkeypatch):  # type: ignore[no-untyped-def]
    from sqlalchemy import event

    from xinyong.lists import handlers

    # Only this domain's handler, so that the count is ours (scoring reads list entries too).
    events.registered()
    monkeypatch.setattr(events, "_handlers", [("lists", handlers.records_changed)])
    monkeypatch.setattr(events, "_lists_handlers", [])

    batch = [debtor(new_id_number(), "钱七", source_id=f"D-{i}") for i in range(30)]
    batch += [penalty(new_id_number(), "孙八", source_id=f"P-{i}") for i in range(30)]
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if "list_" in statement:
            statements.append(statement)

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        push(session, vault, world.dept_a, batch)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(_entries(session, "dishonest_debtor")) == 30
    # the list kinds, the open entries of the batch's debtor records, one multi-row insert, and which
    # of the people with a new bad record are on a rule-based list (none: no rule statement follows)
    assert len(statements) == 4, statements


def test_two_court_cases_two_entries(session, world, vault):  # type: ignore[no-untyped-def]
    idn = new_id_number()
    push(session, vault, world.dept_a, [debtor(idn, "周九", source_id="C-1"), debtor(idn, "周九", source_id="C-2")])
    entries = _entries(session, "dishonest_debtor")
    assert len(entries) == 2 and len({e.subject_id for e in entries}) == 1


# ---- red list: excellent volunteers -------------------------------------------------------------------

def test_red_volunteer_rule(session, world, vault, announced):  # type: ignore[no-untyped-def]
    star, short, bad, old_bad = (new_id_number() for _ in range(4))
    push(session, vault, world.dept_a, [
        # cumulative hours: the largest value counts (1,200 then 1,600)
        volunteer(star, "志愿甲", 1200, source_id="V-1", decided_at="2025-01-10"),
        volunteer(star, "志愿甲", 1600, source_id="V-2", decided_at="2026-01-10"),
        volunteer(short, "志愿乙", 1499.5, source_id="V-3"),
        volunteer(bad, "志愿丙", 2000, source_id="V-4"),
        volunteer(old_bad, "志愿丁", 1500, source_id="V-5"),
        penalty(bad, "志愿丙", source_id="P-1", decided_at="2024-03-02"),  # within 3 years of today
        penalty(old_bad, "志愿丁", source_id="P-2", decided_at="2023-11-26"),  # exactly 3 years ago: outside
    ], today=TODAY)
    ids = {idn: session.scalar(select(Subject.id).where(Subject.id_bidx == vault.lookup_key(idn)))
           for idn in (star, short, bad, old_bad)}
    result = service.refresh(session, today=TODAY, actor=SYSTEM)
    assert result["red_volunteer"] == {"added": 2, "removed": 0}
    listed = {e.subject_id for e in _entries(session, "red_volunteer") if e.status == "listed"}
    assert listed == {ids[star], ids[old_bad]}
    assert all(e.source == "rule" and e.listed_on == TODAY for e in _entries(session, "red_volunteer"))
    assert announced[-1].reason == "refresh" and announced[-1].subject_ids == listed
    # Idempotent: a second run changes nothing.
    assert service.refresh(session, today=TODAY, actor=SYSTEM)["red_volunteer"] == {"added": 0, "removed": 0}
    assert session.scalar(select(func.count()).select_from(ListEntry)
                          .where(ListEntry.list_code == "red_volunteer")) == 2
    assert status_of(session, ids[star], today=TODAY).red
    # A new bad record: no longer 3 years clean, removed by rule with the record that says so (not at
    # the next daily refresh: a check meanwhile would answer the red list's incentives)
    push(session, vault, world.dept_a, [penalty(star, "志愿甲", source_id="P-3", decided_at="2026-11-20")], today=TODAY)
    [gone] = _entries(session, "red_volunteer", ids[star])
    assert (gone.status, gone.removal_kind) == ("removed", "rule")
    assert not status_of(session, ids[star], today=TODAY).red
    assert service.refresh(session, today=TODAY, actor=SYSTEM)["red_volunteer"] == {"added": 0, "removed": 0}
    # The penalty revoked: qualifies again, a new entry (the removed one is kept).
    rec = session.scalar(select(Record).where(Record.source_id == "P-3"))
    records.revoke(session, rec=rec, reason="处罚决定被撤销", actor=SYSTEM)
    assert service.refresh(session, today=TODAY, actor=SYSTEM)["red_volunteer"] == {"added": 1, "removed": 0}
    assert [e.status for e in _entries(session, "red_volunteer", ids[star])] == ["removed", "listed"]


def test_red_volunteer_threshold_is_data(session, world, vault):  # type: ignore[no-untyped-def]
    idn = new_id_number()
    push(session, vault, world.dept_a, [volunteer(idn, "志愿戊", 1000)], today=TODAY)
    assert service.refresh(session, today=TODAY, actor=SYSTEM, codes=["red_volunteer"])["red_volunteer"]["added"] == 0
    kind = service.get_kind(session, "red_volunteer")
    data = service.kind_data(kind)
    data["params"]["rule"] = {**data["params"]["rule"], "at_least": 1000}
    service.update_kind(session, code="red_volunteer", data=data, actor=SYSTEM, note="四星以上")
    assert kind.version == 2
    assert [v.version for v in service.versions(session, "red_volunteer")] == [1, 2]
    assert service.refresh(session, today=TODAY, actor=SYSTEM, codes=["red_volunteer"])["red_volunteer"]["added"] == 1


def test_volunteer_on_dishonesty_list_is_not_red(session, world, vault):  # type: ignore[no-untyped-def]
    idn = new_id_number()
    [v, _d] = push(session, vault, world.dept_a, [volunteer(idn, "志愿己", 1800),
                                                   debtor(idn, "志愿己", decided_at="2026-11-01")], today=TODAY)
    # the debtor record is "serious": also a bad record, but the dishonesty listing alone excludes too
    assert service.refresh(session, today=TODAY, actor=SYSTEM)["red_volunteer"]["added"] == 0
    assert _entries(session, "red_volunteer") == []
    assert v.status == "created"


def test_expired_volunteer_record_stops_counting(session, world, vault):  # type: ignore[no-untyped-def]
    idn = new_id_number()
    push(session, vault, world.dept_a, [volunteer(idn, "志愿庚", 1500, decided_at="2024-01-10")], today=TODAY)
    assert service.refresh(session, today=TODAY, actor=SYSTEM)["red_volunteer"]["added"] == 1
    later = date(2027, 1, 10)  # 36 months of display have ended
    records.maintain(session, actor=SYSTEM, today=later)  # the record expires: its listing ends with it
    assert [(e.status, e.removal_kind) for e in _entries(session, "red_volunteer")] == [("removed", "rule")]
    out = service.maintain(session, today=later, actor=SYSTEM)
    assert out["refreshed"]["red_volunteer"] == {"added": 0, "removed": 0}


def test_moral_model_rule(session, world, vault):  # type: ignore[no-untyped-def]
    a, b = new_id_number(), new_id_number()
    push(session, vault, world.dept_a, [
        {"item": "moral_model", "id_number": a, "name": "模范甲", "source_id": "M-1", "decided_at": "2026-02-01",
         "fields": {"title": "和平区道德模范", "level": "district"}},
        {"item": "moral_model", "id_number": b, "name": "模范乙", "source_id": "M-2", "decided_at": "2026-02-01",
         "fields": {"title": "社区好人", "level": "community"}},
    ], today=TODAY)
    assert service.refresh(session, today=TODAY, actor=SYSTEM)["red_moral_model"] == {"added": 1, "removed": 0}


# ---- 3 years without bad records -----------------------------------------------------------------------

def test_clean_3y(session, world, vault):  # type: ignore[no-untyped-def]
    clean, dirty, revoked = new_id_number(), new_id_number(), new_id_number()
    push(session, vault, world.dept_a, [volunteer(clean, "清白", 10, source_id="V-9"),
                                        penalty(dirty, "不良", source_id="P-9", decided_at="2025-01-01"),
                                        penalty(revoked, "撤销", source_id="P-8", decided_at="2025-01-01")],
         today=TODAY)
    records.revoke(session, rec=session.scalar(select(Record).where(Record.source_id == "P-8")), reason="撤销",
                   actor=SYSTEM)
    sid = {idn: session.scalar(select(Subject.id).where(Subject.id_bidx == vault.lookup_key(idn)))
           for idn in (clean, dirty, revoked)}
    ids = set(session.scalars(service.clean_stmt(today=TODAY)))
    assert sid[clean] in ids and sid[revoked] in ids and sid[dirty] not in ids
    assert service.is_clean(session, subject_id=sid[clean], today=TODAY)
    assert not service.is_clean(session, subject_id=sid[dirty], today=TODAY)
    assert service.is_clean(session, subject_id=sid[dirty], today=date(2028, 1, 1))
    assert service.last_bad_records(session, [sid[dirty], sid[clean], sid[revoked]]) == {sid[dirty]: date(2025, 1, 1)}
    scoped = set(session.scalars(service.clean_stmt(today=TODAY, department_id=world.dept_b.id, scoped=True)))
    assert scoped == set()


_person = st.tuples(st.lists(st.integers(0, 3000), min_size=0, max_size=3),
                    st.lists(st.integers(0, 6 * 365), min_size=0, max_size=2))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people=st.lists(_person, min_size=1, max_size=5))
def test_red_volunteer_matches_its_definition(session, world, vault, people):  # type: ignore[no-untyped-def]
    """Whatever the hours and penalties: listed = max hours ≥ 1,500 and no bad record decided in the
    3 years before today; a second refresh changes nothing."""
    from datetime import timedelta

    from xinyong.records.standing import years_before

    nested = session.begin_nested()
    try:
        expected, ids = set(), []
        batch = []
        for n, (hours, ages) in enumerate(people):
            idn = new_id_number()
            ids.append(idn)
            batch += [volunteer(idn, "志愿", h, source_id=f"HV-{n}-{k}", decided_at="2026-06-01")
                      for k, h in enumerate(hours)]
            batch += [penalty(idn, "志愿", source_id=f"HP-{n}-{k}",
                              decided_at=(TODAY - timedelta(days=a)).isoformat()) for k, a in enumerate(ages)]
            if not (hours or ages):
                batch.append(volunteer(idn, "志愿", 0, source_id=f"HV-{n}-x", decided_at="2026-06-01"))
            clean = all(TODAY - timedelta(days=a) <= years_before(TODAY, 3) for a in ages)
            if hours and max(hours) >= 1500 and clean:
                expected.add(n)
        push(session, vault, world.dept_a, batch, today=TODAY)
        sid = {session.scalar(select(Subject.id).where(Subject.id_bidx == vault.lookup_key(idn))): n
               for n, idn in enumerate(ids)}
        first = service.refresh(session, today=TODAY, actor=SYSTEM, codes=["red_volunteer"])["red_volunteer"]
        listed = {sid[e.subject_id] for e in _entries(session, "red_volunteer") if e.status == "listed"}
        assert listed == expected and first == {"added": len(expected), "removed": 0}
        again = service.refresh(session, today=TODAY, actor=SYSTEM, codes=["red_volunteer"])["red_volunteer"]
        assert again == {"added": 0, "removed": 0}
    finally:
        nested.rollback()


def test_a_batch_that_lists_a_debtor_computes_each_status_once(session, world, vault):  # type: ignore[no-untyped-def]
    """The debtor's record lists them inside the records' handling; the list change's status refresh
    is handed over to the records' one (events.defer), not run twice: one status statement a batch,
    and the status holds both the records and the listing."""
    from sqlalchemy import event

    idn, other = new_id_number(), new_id_number()
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if "mine" in statement and "subject_status" in statement:
            statements.append(statement)

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        push(session, vault, world.dept_a, [debtor(idn, "吴十", decided_at="2026-06-01"),
                                            penalty(other, "郑十一", source_id="P-21")], today=TODAY)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1
    sid = session.scalar(select(Subject.id).where(Subject.id_bidx == vault.lookup_key(idn)))
    status = status_of(session, sid, today=TODAY)
    assert status.dishonest and [e["code"] for e in status.lists] == ["dishonest_debtor"]
    assert not status.clean_3y
    # outside a records' handling, a list change refreshes its subjects itself
    [entry] = _entries(session, "dishonest_debtor", sid)
    service.remove(session, entry=entry, kind="decision", reason="已履行", actor=SYSTEM)
    assert not status_of(session, sid, today=TODAY).dishonest


def test_a_dishonesty_listing_ends_a_rule_red_listing_at_once(session, world, vault):  # type: ignore[no-untyped-def]
    """Nobody listed for dishonesty qualifies for a rule-based red list: a listing decided (no record
    needed) ends the red listing in the same transaction, as a disqualifying record does, not at the
    next daily refresh (a check meanwhile answered the red list's incentives beside the punishments)."""
    from xinyong.audit.service import Actor

    admin = Actor(type="user", id="1", label="admin")
    idn = new_id_number()
    [rec] = push(session, vault, world.dept_a, [volunteer(idn, "志愿辛", 1600)], today=TODAY)
    sid = _subject_of(session, rec.record_id)
    assert service.refresh(session, today=TODAY, actor=SYSTEM)["red_volunteer"] == {"added": 1, "removed": 0}
    assert status_of(session, sid).red
    entry = service.propose(session, code="serious_dishonesty", subject_id=sid, reason="销售假药", actor=admin,
                            category="harm_health_life", department_id=world.dept_a.id)
    service.notify(session, entry=entry, actor=admin, today=TODAY)
    service.decide(session, entry=entry, listed=True, reason="申辩期满", actor=admin, today=date(2026, 12, 10))
    [red] = _entries(session, "red_volunteer", sid)
    assert (red.status, red.removal_kind) == ("removed", "rule")
    st = status_of(session, sid)
    assert (st.red, st.dishonest, st.grade) == (False, True, "D")
    assert service.refresh(session, today=date(2026, 12, 10), actor=SYSTEM)["red_volunteer"] == {"added": 0,
                                                                                                 "removed": 0}


def test_a_debtor_listing_ends_a_red_listing_by_decision(session, world, vault, announced):  # type: ignore[no-untyped-def]
    """A dishonest judgment debtor's record lists them (fed by the catalog) and ends, in the push's
    transaction, the red listing the credit office had added: nobody is red and dishonest at once."""
    from tests.lists.lists_support import person

    from xinyong.audit.service import Actor

    idn = new_id_number()
    [out] = push(session, vault, world.dept_a, [volunteer(idn, "王五", 10)])
    subject_id = session.get(Record, out.record_id).subject_id
    red = service.add(session, code="red_recommended", subject_id=subject_id, reason="协会推荐",
                      actor=Actor(type="user", id="1", label="admin"))
    other = service.add(session, code="red_recommended", subject_id=person(session, vault).id, reason="协会推荐",
                        actor=Actor(type="user", id="1", label="admin"))
    push(session, vault, world.dept_a, [debtor(idn, "王五")])
    [entry] = _entries(session, "dishonest_debtor")
    assert entry.status == "listed"
    session.refresh(red)
    session.refresh(other)
    assert (red.status, red.removal_kind) == ("removed", "rule")
    assert other.status == "listed"  # nobody else's
    status = status_of(session, subject_id)
    assert (status.red, status.dishonest) == (False, True)
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "lists.dishonesty_ends_red")
                          ).details["entries"] == [[red.id, "red_recommended", subject_id]]
