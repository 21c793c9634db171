"""Two transactions change records of the same person at the same time (two departments pushing,
two workers): the stored status must count both. On PostgreSQL each transaction computes the status
from what it sees; without a lock the one that commits last writes a status computed without the
other's records, and it stays wrong until the next change. The announcement of a change locks the
subjects' rows first (``subjects.service.lock_subjects``), so the second waits for the first to
commit and then sees its records. On SQLite the writers already take turns from ``BEGIN``."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text
from tests.scoring.scoring_support import TODAY, penalty, push, setup
from tests.support import SYSTEM, committed_database, new_id_number

from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault
from xinyong.records.service import ingest
from xinyong.scoring import service


def _wait_until_blocked(db, seconds: float = 10) -> bool:  # type: ignore[no-untyped-def]
    """PostgreSQL: True once another backend of this database waits for a lock (the second push)."""
    deadline = time.monotonic() + seconds
    with db.engine.connect() as c:
        while time.monotonic() < deadline:
            waiting = c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")).scalar()
            if waiting:
                return True
            c.rollback()
            time.sleep(0.02)
    return False


@pytest.mark.parametrize("known", [True, False], ids=["known-person", "new-person"])
def test_two_concurrent_pushes_for_one_person_leave_a_status_counting_both(tmp_path, known: bool) -> None:  # type: ignore[no-untyped-def]
    """A known person: the second push waits for the first's lock on the subject. A person new to
    the platform: the first push creates them, and the second waits on the unique blind index,
    then finds them, and locks them (they are not its own creation) before computing."""
    db, drop = committed_database(tmp_path, "refreshrace")
    try:
        pg = db.engine.dialect.name == "postgresql"
        vault = Vault(KeyRing.generate())
        idn = new_id_number()
        with db.session() as s:
            first, second = setup(s), setup(s)
            if known:
                push(s, vault, first, [penalty("minor", "2026-01-05")], id_number=idn)
        errors: list[BaseException] = []
        second_done = threading.Event()

        def second_push() -> None:
            try:
                with db.session() as s2:
                    out = ingest(s2, vault=vault, department=second, actor=SYSTEM, today=TODAY, records=[
                        {**penalty("serious", "2026-03-02"), "id_number": idn, "name": "李四", "source_id": "B1"}])
                    assert [o.status for o in out] == ["created"], [o.errors for o in out]
            except BaseException as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)
            finally:
                second_done.set()

        other = threading.Thread(target=second_push)
        with db.session() as s1:
            out = ingest(s1, vault=vault, department=first, actor=SYSTEM, today=TODAY, records=[
                {**penalty("serious", "2026-02-02"), "id_number": idn, "name": "李四", "source_id": "A1"}])
            assert [o.status for o in out] == ["created"]
            other.start()
            if pg:  # the second push is under way and waits for this one's locks before this commits
                assert _wait_until_blocked(db), "the second push never waited for the first"
            else:  # SQLite: it waits for the write lock, at BEGIN
                assert not second_done.wait(0.3)
        other.join(30)
        assert errors == []
        with db.session() as s:
            sid = s.scalar(text("SELECT subject_id FROM records WHERE source_id = 'A1'"))
            stored = service.status_of(s, sid, today=TODAY)
            assert service.refresh(s, [sid], today=TODAY) == 1
            s.flush()
            s.expire_all()
            recomputed = service.status_of(s, sid, today=TODAY)
            # both serious penalties (and the minor one) counted: a fresh computation changes nothing
            assert (stored.score, stored.grade) == (recomputed.score, recomputed.grade)
            assert s.scalar(text("SELECT count(*) FROM records WHERE subject_id = :s"), {"s": sid}) == 2 + known
            base = service.default_status(s, today=TODAY).score
            assert stored.score < base
    finally:
        drop()
