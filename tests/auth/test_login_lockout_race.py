"""Wrong passwords sent at once for one account each count toward its lockout. On PostgreSQL each
attempt had written the count it read before checking the password, plus one: five at once left
``failed_logins`` at 1 and the account unlocked, so a burst (the login limit lets 30 through per
address at once) tried any number of passwords. The count is now added to in the database.

On SQLite a sign-in's transaction takes the write lock first (``BEGIN IMMEDIATE``), so the attempts
already took turns; the same test holds there (the threads do not meet: each waits briefly, alone)."""

from __future__ import annotations

import contextlib
import threading

import pytest
from sqlalchemy import select
from tests.support import PASSWORD, SYSTEM, committed_database

from xinyong.auth import service as auth_service
from xinyong.auth.models import User


def test_wrong_passwords_sent_at_once_each_count_and_lock_the_account(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    db, drop = committed_database(tmp_path, "lockrace")
    attempts = 5
    try:
        with db.session() as s:
            auth_service.add_user(s, username="target", password=PASSWORD, role="auditor", actor=SYSTEM)
        met = threading.Barrier(attempts, timeout=2)
        real = auth_service.verify_password

        def verify_together(stored: str, password: str) -> bool:
            # every attempt has read the account (unlocked, no failures) before any of them writes
            with contextlib.suppress(threading.BrokenBarrierError):  # SQLite: the attempts take turns
                met.wait()
            return real(stored, password)

        monkeypatch.setattr(auth_service, "verify_password", verify_together)
        errors: list[str] = []

        def attempt() -> None:
            with db.session() as s:
                try:
                    auth_service.authenticate(s, username="target", password="wrong-password-x", lockout_after=attempts)
                except auth_service.AuthError as exc:
                    errors.append(exc.code)

        threads = [threading.Thread(target=attempt) for _ in range(attempts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == ["bad_credentials"] * attempts
        with db.session() as s:
            locked_until = s.scalar(select(User.locked_until).where(User.username == "target"))
        assert locked_until is not None
        monkeypatch.setattr(auth_service, "verify_password", real)
        with db.session() as s, pytest.raises(auth_service.AuthError) as info:
            auth_service.authenticate(s, username="target", password=PASSWORD, lockout_after=attempts)
        assert info.value.code == "locked"  # the right password too, until the lock ends
    finally:
        drop()
