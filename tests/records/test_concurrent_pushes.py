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


def test_a_record_revoked_twice_at_once_is_revoked_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from xinyong.records.service import RecordError, get_for_department, revoke

    db, drop = committed_database(tmp_path, "revoketwice")
    try:
        vault = Vault(KeyRing.generate())
        with db.session() as s:
            dept = setup(s)
            out = ingest(s, vault=vault, department=dept, actor=SYSTEM, today=TODAY, records=[
                {**penalty("general", "2026-02-02"), "id_number": new_id_number(), "name": "李四", "source_id": "R1"}])
            rid = out[0].record_id

        def revoke_it(s) -> None:  # type: ignore[no-untyped-def]
            revoke(s, rec=get_for_department(s, record_id=rid, department_id=dept.id), reason="决定已撤销", actor=SYSTEM)

        errors = at_once(db, revoke_it, revoke_it)
        assert len(errors) == 1 and isinstance(errors[0], RecordError) and errors[0].code == "already_revoked"
        with db.session() as s:
            assert s.scalar(text("SELECT revision FROM records WHERE id = :r"), {"r": rid}) == 2
            assert s.scalar(text("SELECT count(*) FROM record_revisions WHERE record_id = :r"), {"r": rid}) == 1
    finally:
        drop()
