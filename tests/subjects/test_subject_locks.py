"""``lock_subjects``: the turn a transaction takes on a subject before deriving state from its data
(see tests/scoring/test_concurrent_refresh.py for the race it closes)."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from tests.support import SYSTEM, at_once, committed_database, new_id_number

from xinyong import events
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault
from xinyong.subjects.service import lock_subjects, register


def test_the_lock_is_taken_before_any_other_handler_on_both_announcements() -> None:
    assert events.registered()[0] == "subject_locks"
    assert events.registered_lists_handlers()[0] == "subject_locks"


def test_a_locked_subject_makes_a_second_lock_wait_but_not_readers_or_foreign_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db, drop = committed_database(tmp_path, "subjectlocks")
    try:
        vault = Vault(KeyRing.generate())
        with db.session() as s:
            ids = [register(s, vault=vault, id_number=new_id_number(), name=f"张{i}", actor=SYSTEM)[0].id
                   for i in range(3)]
        statements: list[str] = []
        with db.session() as first:
            if db.engine.dialect.name != "postgresql":  # SQLite's writers take turns from BEGIN
                event.listen(first.connection(), "before_cursor_execute",
                             lambda *a: statements.append(a[2]))
                lock_subjects(first, [ids[2], ids[0], ids[0]])
                assert statements == []
                return
            lock_subjects(first, [ids[2], ids[0], ids[0]])
            with db.engine.connect() as other:
                other.execute(text("SET lock_timeout = '200ms'"))
                # readers and foreign-key checks (FOR KEY SHARE) go on
                assert other.execute(text("SELECT count(*) FROM subjects WHERE id = :i"), {"i": ids[0]}).scalar() == 1
                other.execute(text("SELECT id FROM subjects WHERE id = :i FOR KEY SHARE"), {"i": ids[0]}).all()
                other.rollback()
                # a subject not in the set is free
                other.execute(text("SET lock_timeout = '200ms'"))
                with Session(bind=other) as s2:
                    lock_subjects(s2, [ids[1]])
                other.rollback()
                other.execute(text("SET lock_timeout = '200ms'"))
                with pytest.raises(OperationalError, match="lock timeout"), Session(bind=other) as s2:
                    lock_subjects(s2, [ids[1], ids[2]])
                other.rollback()
    finally:
        drop()


def test_one_person_registered_twice_at_once_is_one_subject(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two registrations of the same ID number at once (two sign-ups, a form sent twice): the second
    waits for the first, then finds the subject it created (PostgreSQL: its insert meets the unique
    blind index inside a savepoint) instead of failing."""
    from sqlalchemy import func, select

    from xinyong.audit.models import AuditEntry
    from xinyong.subjects.models import Subject

    db, drop = committed_database(tmp_path, "registertwice")
    try:
        vault = Vault(KeyRing.generate())
        number = new_id_number()
        got: list[tuple[int, bool]] = []

        def sign_up(s) -> None:  # type: ignore[no-untyped-def]
            subject, created = register(s, vault=vault, id_number=number, name="王五", actor=SYSTEM)
            got.append((subject.id, created))

        assert at_once(db, sign_up, sign_up) == []
        assert [created for _sid, created in got] == [True, False]
        assert got[0][0] == got[1][0]
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Subject)) == 1
            assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "subject.create")) == 1
    finally:
        drop()
