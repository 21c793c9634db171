"""Two transactions change records of the same person at the same time (two departments pushing,
two workers): the stored status must count both. On PostgreSQL each transaction computes the status
from what it sees; without a lock the one that commits last writes a status computed without the
other's records, and it stays wrong until the next change. The announcement of a change locks the
subjects' rows first (``subjects.service.lock_subjects``), so the second waits for the first to
commit and then sees its records. On SQLite the writers already take turns from ``BEGIN``."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from tests.scoring.scoring_support import TODAY, penalty, push, setup
from tests.support import SYSTEM, at_once, committed_database, new_id_number

from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault
from xinyong.records.service import ingest
from xinyong.scoring import service


@pytest.mark.parametrize("known", [True, False], ids=["known-person", "new-person"])
def test_two_concurrent_pushes_for_one_person_leave_a_status_counting_both(tmp_path, known: bool) -> None:  # type: ignore[no-untyped-def]
    """A known person: the second push waits for the first's lock on the subject. A person new to
    the platform: the first push creates them, and the second waits on the unique blind index,
    then finds them, and locks them (they are not its own creation) before computing."""
    db, drop = committed_database(tmp_path, "refreshrace")
    try:
        vault = Vault(KeyRing.generate())
        idn = new_id_number()
        with db.session() as s:
            first, second = setup(s), setup(s)
            if known:
                push(s, vault, first, [penalty("minor", "2026-01-05")], id_number=idn)

        def serious_penalty(department, decided: str, source_id: str):  # type: ignore[no-untyped-def]
            def run(s) -> None:  # type: ignore[no-untyped-def]
                out = ingest(s, vault=vault, department=department, actor=SYSTEM, today=TODAY, records=[
                    {**penalty("serious", decided), "id_number": idn, "name": "李四", "source_id": source_id}])
                assert [o.status for o in out] == ["created"], [o.errors for o in out]
            return run

        assert at_once(db, serious_penalty(first, "2026-02-02", "A1"), serious_penalty(second, "2026-03-02", "B1")) == []
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


NEW_BASE = service.default_text().replace("base: 1000", "base: 1020")


@pytest.mark.parametrize("push_first", [True, False], ids=["push-then-ruleset", "ruleset-then-push"])
def test_a_push_and_a_new_ruleset_at_once_leave_the_status_of_both(tmp_path, push_first: bool) -> None:  # type: ignore[no-untyped-def]
    """A ruleset taking effect today rescores everyone while a department pushes: the stored status
    counts the pushed record under the new ruleset, whichever of the two started first."""
    db, drop = committed_database(tmp_path, "rescorerace")
    try:
        vault = Vault(KeyRing.generate())
        idn = new_id_number()
        with db.session() as s:
            dept = setup(s)
            push(s, vault, dept, [penalty("minor", "2026-01-05")], id_number=idn)

        def serious(s) -> None:  # type: ignore[no-untyped-def]
            out = ingest(s, vault=vault, department=dept, actor=SYSTEM, today=TODAY, records=[
                {**penalty("serious", "2026-02-02"), "id_number": idn, "name": "李四", "source_id": "P2"}])
            assert [o.status for o in out] == ["created"], [o.errors for o in out]

        def new_ruleset(s) -> None:  # type: ignore[no-untyped-def]
            service.save_ruleset(s, text_=NEW_BASE, actor=SYSTEM, today=TODAY, effective_from=TODAY)

        first, second = (serious, new_ruleset) if push_first else (new_ruleset, serious)
        assert at_once(db, first, second) == []
        with db.session() as s:
            sid = s.scalar(text("SELECT subject_id FROM records WHERE source_id = 'P2'"))
            stored = service.status_of(s, sid, today=TODAY)
            service.refresh(s, [sid], today=TODAY)
            s.flush()
            s.expire_all()
            recomputed = service.status_of(s, sid, today=TODAY)
            assert stored.ruleset_version == recomputed.ruleset_version == 2
            assert (stored.score, stored.grade) == (recomputed.score, recomputed.grade)
            assert stored.score < 1020
    finally:
        drop()
