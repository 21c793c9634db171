"""``lock_subjects``: the turn a transaction takes on a subject before deriving state from its data
(see tests/scoring/test_concurrent_refresh.py for the race it closes)."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from tests.support import SYSTEM, committed_database, new_id_number

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
