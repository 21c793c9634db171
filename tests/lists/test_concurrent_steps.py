"""Two officers act on the same list entry at once (or a form is sent twice): one step is taken, the
other is refused by the entry's state, and the audit trail holds one decision. Two proposals for the
same person and list at once: one entry, the other refused as already open."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from tests.support import SYSTEM, at_once, committed_database, new_id_number

from xinyong.audit.models import AuditEntry
from xinyong.audit.service import Actor
from xinyong.auth import service as auth_service
from xinyong.catalog.service import load_default as load_catalog
from xinyong.lists import service
from xinyong.lists.models import ListEntry
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault
from xinyong.subjects.service import register

OFFICER = Actor(type="user", id="7", label="officer_a")
ADMIN = Actor(type="user", id="1", label="admin")
ADMIN_B = Actor(type="user", id="2", label="admin_b")


def _setup(db, vault):  # type: ignore[no-untyped-def]
    with db.session() as s:
        load_catalog(s, actor=SYSTEM)
        service.load_default(s, actor=SYSTEM)
        dept = auth_service.add_department(s, code="scjgj", name="区市场监管局", actor=SYSTEM)
        subject, _ = register(s, vault=vault, id_number=new_id_number(), name="李四", actor=SYSTEM)
        return dept.id, subject.id


def _propose(s, dept_id: int, subject_id: int) -> ListEntry:  # type: ignore[no-untyped-def]
    return service.propose(s, code="serious_dishonesty", subject_id=subject_id, reason="销售假药致人伤亡",
                           category="harm_health_life", department_id=dept_id, actor=OFFICER)


@pytest.mark.parametrize("listed_second", [True, False], ids=["list-then-list", "list-then-reject"])
def test_two_decisions_at_once_make_one(tmp_path, listed_second: bool) -> None:  # type: ignore[no-untyped-def]
    db, drop = committed_database(tmp_path, "listdecide")
    try:
        vault = Vault(KeyRing.generate())
        dept_id, subject_id = _setup(db, vault)
        with db.session() as s:
            entry_id = _propose(s, dept_id, subject_id).id
            service.notify(s, entry=s.get(ListEntry, entry_id), actor=OFFICER, today=date(2026, 9, 1))
        day = date(2026, 10, 1)  # the defence period has ended
        errors = at_once(
            db,
            lambda s: service.decide(s, entry=s.get(ListEntry, entry_id), listed=True, reason="列入", actor=ADMIN,
                                     today=day),
            lambda s: service.decide(s, entry=s.get(ListEntry, entry_id), listed=listed_second, reason="第二次决定",
                                     actor=ADMIN_B, today=day))
        assert len(errors) == 1 and isinstance(errors[0], service.ListError) and errors[0].code == "already_decided"
        with db.session() as s:
            entry = s.get(ListEntry, entry_id)
            assert (entry.status, entry.decided_by) == ("listed", "admin")
            decisions = s.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action == "list_entry.decide", AuditEntry.object_id == str(entry_id)))
            assert decisions == 1
    finally:
        drop()


def test_two_proposals_for_one_person_at_once_open_one_entry(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db, drop = committed_database(tmp_path, "listpropose")
    try:
        vault = Vault(KeyRing.generate())
        dept_id, subject_id = _setup(db, vault)
        errors = at_once(db, lambda s: _propose(s, dept_id, subject_id), lambda s: _propose(s, dept_id, subject_id))
        assert len(errors) == 1 and isinstance(errors[0], service.ListError) and errors[0].code == "already_on_list"
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(ListEntry).where(ListEntry.subject_id == subject_id)) == 1
    finally:
        drop()


def test_a_decision_and_a_calendar_extension_at_once_leave_the_decided_entry_alone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The credit office rejects an entry while a calendar change extends the open defence periods:
    the extension takes the entry's turn and finds it decided — no deadline moved on a decided entry,
    no ``deadline_extended`` in its trail."""
    from datetime import time, timedelta

    from xinyong import clock, workdays

    db, drop = committed_database(tmp_path, "listextend")
    try:
        vault = Vault(KeyRing.generate())
        dept_id, subject_id = _setup(db, vault)
        monday = date(2026, 3, 9)
        with db.session() as s:
            entry = _propose(s, dept_id, subject_id)
            service.notify(s, entry=entry, actor=OFFICER, today=monday)
            entry.notified_at = clock.utc_instant(monday, time(10))
            entry_id, given = entry.id, entry.defence_deadline
        workdays.use([(monday + timedelta(days=2), "holiday")])  # the calendar now has a holiday in it
        errors = at_once(
            db,
            lambda s: service.decide(s, entry=s.get(ListEntry, entry_id), listed=False, reason="不予列入",
                                     actor=ADMIN, today=monday + timedelta(days=1)),
            lambda s: service.extend_open_deadlines(s, actor=ADMIN, today=monday + timedelta(days=1)))
        assert errors == []
        with db.session() as s:
            entry = s.get(ListEntry, entry_id)
            assert (entry.status, entry.defence_deadline) == ("rejected", given)
            assert not s.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action == "list_entry.deadline_extended"))
    finally:
        workdays.use([])
        drop()
