"""A department's system sends the same batch twice at once (a client that timed out and retried
while the first request was still being written): both requests succeed, the record exists once,
and the second answers ``unchanged``. Also a changed record sent twice at once: one ``updated``,
the other ``unchanged``, one new revision."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text
from tests.scoring.scoring_support import TODAY, penalty, setup
from tests.support import SYSTEM, committed_database, new_id_number

from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault
from xinyong.records.service import ingest


def _wait_until_blocked(db, seconds: float = 10) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    with db.engine.connect() as c:
        while time.monotonic() < deadline:
            if c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                              "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")).scalar():
                return True
            c.rollback()
            time.sleep(0.02)
    return False


@pytest.mark.parametrize(("known", "change"), [(False, False), (True, False), (True, True)],
                         ids=["new-person", "known-person", "changed-record"])
def test_the_same_batch_sent_twice_at_once_is_stored_once(tmp_path, known: bool, change: bool) -> None:  # type: ignore[no-untyped-def]
    db, drop = committed_database(tmp_path, "samebatch")
    try:
        pg = db.engine.dialect.name == "postgresql"
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
        results: list[str] = []
        errors: list[BaseException] = []
        done = threading.Event()

        def second() -> None:
            try:
                with db.session() as s2:
                    out = ingest(s2, vault=vault, department=dept, actor=SYSTEM, today=TODAY, records=[dict(record)])
                    results.append(out[0].status)
            except BaseException as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)
            finally:
                done.set()

        other = threading.Thread(target=second)
        with db.session() as s1:
            out = ingest(s1, vault=vault, department=dept, actor=SYSTEM, today=TODAY, records=[dict(record)])
            first = out[0].status
            other.start()
            if pg:
                assert _wait_until_blocked(db), "the second request never waited for the first"
            else:
                assert not done.wait(0.3)
        other.join(30)
        assert errors == []
        assert first == ("updated" if change else "created")
        assert results == ["unchanged"]
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
        pg = db.engine.dialect.name == "postgresql"
        vault = Vault(KeyRing.generate())
        with db.session() as s:
            dept = setup(s)
            out = ingest(s, vault=vault, department=dept, actor=SYSTEM, today=TODAY, records=[
                {**penalty("general", "2026-02-02"), "id_number": new_id_number(), "name": "李四", "source_id": "R1"}])
            rid = out[0].record_id
        errors: list[BaseException] = []
        done = threading.Event()

        def second() -> None:
            try:
                with db.session() as s2:
                    revoke(s2, rec=get_for_department(s2, record_id=rid, department_id=dept.id), reason="重复撤销",
                           actor=SYSTEM)
            except BaseException as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)
            finally:
                done.set()

        other = threading.Thread(target=second)
        with db.session() as s1:
            revoke(s1, rec=get_for_department(s1, record_id=rid, department_id=dept.id), reason="决定已撤销",
                   actor=SYSTEM)
            other.start()
            if pg:
                assert _wait_until_blocked(db), "the second revocation never waited for the first"
            else:
                assert not done.wait(0.3)
        other.join(30)
        assert len(errors) == 1 and isinstance(errors[0], RecordError) and errors[0].code == "already_revoked"
        with db.session() as s:
            assert s.scalar(text("SELECT revision FROM records WHERE id = :r"), {"r": rid}) == 2
            assert s.scalar(text("SELECT count(*) FROM record_revisions WHERE record_id = :r"), {"r": rid}) == 1
    finally:
        drop()
