"""A department's system sends the same batch twice at once (a client that timed out and retried
while the first request was still being written): both requests succeed, the record exists once,
and the second answers ``unchanged``. Also a changed record sent twice at once: one ``updated``,
the other ``unchanged``, one new revision."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from tests.scoring.scoring_support import TODAY, penalty, setup
from tests.support import SYSTEM, at_once, committed_database, new_id_number

from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault
from xinyong.records.service import ingest


@pytest.mark.parametrize(("known", "change"), [(False, False), (True, False), (True, True)],
                         ids=["new-person", "known-person", "changed-record"])
def test_the_same_batch_sent_twice_at_once_is_stored_once(tmp_path, known: bool, change: bool) -> None:  # type: ignore[no-untyped-def]
    db, drop = committed_database(tmp_path, "samebatch")
    try:
        vault = Vault(KeyRing.generate())
        idn = new_id_number()
        record = {**penalty("general", "2026-02-02"), "id_number": idn, "name": "李四", "source_id": "X1"}
        with db.session() as s:
            dept = setup(s)
            if known:  # the person is known to the platform (the second request finds them at once)
                ingest(s, vault=vault, department=dept, actor=SYSTEM, today=TODAY,
                       records=[{**record, "source_id": "X0"}])
            if change:  # the record exists; both requests bring the same new content
                ingest(s, vault=vault, department=dept, actor=SYSTEM, today=TODAY, records=[record])
                record = {**record, "severity": "serious"}
        statuses: list[str] = []  # in the order the two requests were written

        def push(s) -> None:  # type: ignore[no-untyped-def]
            out = ingest(s, vault=vault, department=dept, actor=SYSTEM, today=TODAY, records=[dict(record)])
            statuses.append(out[0].status)

        assert at_once(db, push, push) == []
        assert statuses == ["updated" if change else "created", "unchanged"]
        with db.session() as s:
            assert s.scalar(text("SELECT count(*) FROM records WHERE source_id = 'X1'")) == 1
            assert s.scalar(text("SELECT revision FROM records WHERE source_id = 'X1'")) == (2 if change else 1)
            assert s.scalar(text("SELECT count(*) FROM record_revisions")) == (1 if change else 0)
    finally:
        drop()


def _one_record(db):  # type: ignore[no-untyped-def]
    """The department set up and one record of it pushed, committed: (department, record id)."""
    with db.session() as s:
        dept = setup(s)
        out = ingest(s, vault=Vault(KeyRing.generate()), department=dept, actor=SYSTEM, today=TODAY, records=[
            {**penalty("general", "2026-02-02"), "id_number": new_id_number(), "name": "李四", "source_id": "R1"}])
        return dept, out[0].record_id


def test_a_record_revoked_twice_at_once_is_revoked_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from xinyong.records.service import RecordError, get_for_department, revoke

    db, drop = committed_database(tmp_path, "revoketwice")
    try:
        dept, rid = _one_record(db)

        def revoke_it(s) -> None:  # type: ignore[no-untyped-def]
            revoke(s, rec=get_for_department(s, record_id=rid, department_id=dept.id), reason="决定已撤销", actor=SYSTEM)

        errors = at_once(db, revoke_it, revoke_it)
        assert len(errors) == 1 and isinstance(errors[0], RecordError) and errors[0].code == "already_revoked"
        with db.session() as s:
            assert s.scalar(text("SELECT revision FROM records WHERE id = :r"), {"r": rid}) == 2
            assert s.scalar(text("SELECT count(*) FROM record_revisions WHERE record_id = :r"), {"r": rid}) == 1
    finally:
        drop()


@pytest.mark.parametrize("push_first", [True, False], ids=["push-then-recompute", "recompute-then-push"])
def test_a_changed_record_and_a_display_recompute_at_once(tmp_path, push_first: bool) -> None:  # type: ignore[no-untyped-def]
    """The credit office applies a shorter display period to an item's records while the department
    changes one of them: the second waits for the first and reads what it wrote (before, on
    PostgreSQL, both numbered the same revision and one failed on the constraint)."""
    from xinyong.catalog.service import get_current, update_item
    from xinyong.catalog.spec import to_data
    from xinyong.records.service import recompute_display

    db, drop = committed_database(tmp_path, "recomputerace")
    try:
        vault = Vault(KeyRing.generate())
        record = {**penalty("general", "2026-03-02"), "id_number": new_id_number(), "name": "李四", "source_id": "D1"}
        with db.session() as s:
            dept = setup(s)
            ingest(s, vault=vault, department=dept, actor=SYSTEM, today=TODAY, records=[record])
            spec = to_data(get_current(s, "admin_penalty").spec)
            spec["display"]["by_severity"]["general"]["max_months"] = 6
            update_item(s, code="admin_penalty", data=spec, actor=SYSTEM, note="shorter")

        def change(s) -> None:  # type: ignore[no-untyped-def]
            out = ingest(s, vault=vault, department=dept, actor=SYSTEM, today=TODAY,
                         records=[{**record, "fields": {**record["fields"], "penalty_type": "警告"}}])
            assert [o.status for o in out] == ["updated"], [o.errors for o in out]

        def recompute(s) -> None:  # type: ignore[no-untyped-def]
            recompute_display(s, item_code="admin_penalty", actor=SYSTEM, today=TODAY)

        first, second = (change, recompute) if push_first else (recompute, change)
        assert at_once(db, first, second) == []
        with db.session() as s:
            revision, fields = s.execute(text("SELECT revision, fields FROM records WHERE source_id = 'D1'")).one()
            kept = s.scalars(text("SELECT revision FROM record_revisions ORDER BY revision")).all()
        # the push already applies the item's current rule: a recompute after it has nothing to change
        assert (revision, kept) == ((2, [1]) if push_first else (3, [1, 2]))
        assert "警告" in str(fields)
    finally:
        drop()


@pytest.mark.parametrize("other", ["revoke", "push"])
def test_the_daily_upkeep_waits_for_a_department_writing_the_same_record(tmp_path, other: str) -> None:  # type: ignore[no-untyped-def]
    """``maintain`` ends a record's display while its department revokes or changes it: the upkeep
    takes the department's turn, reads the record as the other left it and numbers the next
    revision (before, on PostgreSQL, both wrote the same revision and one side failed on the
    unique key, every time under load; or the upkeep overwrote a revocation with "expired")."""
    from datetime import date

    from xinyong.records.service import get_for_department, maintain, revoke

    db, drop = committed_database(tmp_path, f"upkeep{other}")
    try:
        vault = Vault(KeyRing.generate())
        record = {**penalty("general", "2026-02-02"), "id_number": new_id_number(), "name": "李四", "source_id": "U1"}
        with db.session() as s:
            dept = setup(s)
            rid = ingest(s, vault=vault, department=dept, actor=SYSTEM, today=TODAY, records=[record])[0].record_id

        def write(s) -> None:  # type: ignore[no-untyped-def]
            if other == "revoke":
                revoke(s, rec=get_for_department(s, record_id=rid, department_id=dept.id), reason="决定已撤销",
                       actor=SYSTEM)
            else:
                out = ingest(s, vault=vault, department=dept, actor=SYSTEM, today=TODAY,
                             records=[{**record, "fields": {**record["fields"], "penalty_type": "警告"}}])
                assert [o.status for o in out] == ["updated"]

        def upkeep(s) -> None:  # type: ignore[no-untyped-def]
            maintain(s, actor=SYSTEM, today=date(2027, 6, 1))  # the general penalty's display ended 2027-02-02

        assert at_once(db, write, upkeep) == []
        with db.session() as s:
            status, revision, kind = s.execute(text("SELECT status, revision, change_kind FROM records WHERE id = :r"),
                                               {"r": rid}).one()
            kept = s.execute(text("SELECT revision, kind, status FROM record_revisions WHERE record_id = :r "
                                  "ORDER BY revision"), {"r": rid}).all()
        if other == "revoke":  # revoked stays revoked: its display is not "ended" over it
            assert (status, revision, kind) == ("revoked", 2, "revoke") and [tuple(k) for k in kept] == [
                (1, "push", "active")]
        else:
            assert (status, revision, kind) == ("expired", 3, "expire")
            assert [tuple(k) for k in kept] == [(1, "push", "active"), (2, "push", "active")]
    finally:
        drop()


def test_a_push_waiting_behind_a_deactivation_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The credit office deactivates a department while a batch of its records is being pushed: the
    push waits for the department's turn, then sees the deactivation and writes nothing — no record,
    no subject, no rejection, no audit entry of a push (before, a batch checked before the
    deactivation committed was written for the stopped department)."""
    from xinyong.auth.models import Department
    from xinyong.auth.service import deactivate_department
    from xinyong.records.service import DepartmentInactive

    db, drop = committed_database(tmp_path, "pushstopped")
    try:
        vault = Vault(KeyRing.generate())
        with db.session() as s:
            dept = setup(s)
        batch = [{**penalty("general", "2026-02-02"), "id_number": new_id_number(), "name": "李四", "source_id": "R1"},
                 {**penalty("general", "2026-02-02"), "id_number": "bad", "name": "王五", "source_id": "R2"}]

        def deactivate(s) -> None:  # type: ignore[no-untyped-def]
            deactivate_department(s, department=s.get(Department, dept.id), reason="机构撤并", actor=SYSTEM)

        def push_it(s) -> None:  # type: ignore[no-untyped-def]
            ingest(s, vault=vault, department=dept, actor=SYSTEM, today=TODAY, records=batch)

        errors = at_once(db, deactivate, push_it)
        assert len(errors) == 1 and isinstance(errors[0], DepartmentInactive), errors
        assert (errors[0].code, errors[0].status) == ("department_inactive", 403)
        with db.session() as s:
            for table in ("records", "subjects", "record_rejections"):
                assert s.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table  # noqa: S608
            assert s.scalar(text("SELECT count(*) FROM audit_entries WHERE action = 'records.push'")) == 0
    finally:
        drop()


def test_a_revocation_waiting_behind_a_deactivation_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The credit office deactivates a department while one of its officers revokes a record: the
    revocation waits for the department's turn and then sees the deactivation (before, it read the
    department's state before waiting and revoked the record of a department stopped meanwhile)."""
    from xinyong.audit.service import Actor
    from xinyong.auth.models import Department
    from xinyong.auth.service import deactivate_department
    from xinyong.records.service import DepartmentInactive, get_for_department, revoke

    db, drop = committed_database(tmp_path, "revokestopped")
    try:
        dept, rid = _one_record(db)
        officer = Actor(type="user", id="7", label="officer", department_id=dept.id)

        def deactivate(s) -> None:  # type: ignore[no-untyped-def]
            deactivate_department(s, department=s.get(Department, dept.id), reason="机构撤并", actor=SYSTEM)

        def revoke_it(s) -> None:  # type: ignore[no-untyped-def]
            revoke(s, rec=get_for_department(s, record_id=rid, department_id=dept.id), reason="决定已撤销", actor=officer)

        errors = at_once(db, deactivate, revoke_it)
        assert len(errors) == 1 and isinstance(errors[0], DepartmentInactive), errors
        assert (errors[0].code, errors[0].status) == ("department_inactive", 403)
        with db.session() as s:
            assert s.scalar(text("SELECT status FROM records WHERE id = :r"), {"r": rid}) == "active"
            assert s.scalar(text("SELECT count(*) FROM record_revisions WHERE record_id = :r"), {"r": rid}) == 0
    finally:
        drop()
