"""A web session left unused longer than ``session_idle_minutes`` is refused as an expired one (ASVS
3.3.2, level 2: 30 minutes of inactivity); each use, written at most once a minute, starts the wait
again; a session in use stays up to its lifetime."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from tests.support import login

from xinyong.auth.models import WebSession
from xinyong.db import utcnow


def _age(db, **ago: timedelta | None) -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        s.execute(update(WebSession).where(WebSession.ended_at.is_(None))
                  .values(**{k: None if v is None else utcnow() - v for k, v in ago.items()}))


def _seen(db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        return s.scalar(select(WebSession.last_seen_at).where(WebSession.ended_at.is_(None)))


def test_a_session_idle_longer_than_the_limit_is_refused(client, world, db, settings):  # type: ignore[no-untyped-def]
    assert settings.session_idle_minutes == 30
    login(client, "admin")
    assert client.get("/api/v1/session").status_code == 200
    _age(db, created_at=timedelta(minutes=40), authenticated_at=timedelta(minutes=40),
         last_seen_at=timedelta(minutes=31))
    assert client.get("/api/v1/session").status_code == 401
    r = client.get("/admin/users", follow_redirects=False)  # a page: to the sign-in, and back after it
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_a_session_from_before_its_use_was_kept_counts_from_its_password(client, world, db):  # type: ignore[no-untyped-def]
    login(client, "admin")
    _age(db, created_at=timedelta(minutes=45), authenticated_at=timedelta(minutes=31), last_seen_at=None)
    assert client.get("/api/v1/session").status_code == 401


def test_each_use_starts_the_wait_again(client, world, db):  # type: ignore[no-untyped-def]
    login(client, "admin")
    _age(db, created_at=timedelta(hours=2), authenticated_at=timedelta(hours=2), last_seen_at=timedelta(minutes=29))
    assert client.get("/admin/users").status_code == 200  # in use: written now
    assert utcnow() - _seen(db) < timedelta(seconds=30)
    _age(db, last_seen_at=timedelta(seconds=20))
    before = _seen(db)
    assert client.get("/admin/users").status_code == 200
    assert _seen(db) == before  # at most once a minute


def test_only_idleness_counts_not_the_age_of_the_password(client, world, db):  # type: ignore[no-untyped-def]
    """A session signed in an hour ago and in use is not idle (the step-up asks for the password
    before an administrative change, not this)."""
    login(client, "admin")
    _age(db, created_at=timedelta(hours=1), authenticated_at=timedelta(hours=1))
    assert client.get("/api/v1/session").status_code == 200


def test_a_use_written_does_not_hold_the_session_while_the_request_waits(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The session's use is written at the end of the request, just before its commit: written at its
    start, the row stayed locked while the request went on to wait for other rows. An administrator
    disabling the user (the user's row, then their sessions' rows) while the user's request waited for
    the user's row (a wrong password at the step-up counts on it) was a deadlock on PostgreSQL: one of
    the two was aborted (the administrator's change, or the request's 500)."""
    import threading
    from typing import Any

    from fastapi.testclient import TestClient
    from sqlalchemy import event
    from tests.support import PASSWORD, SYSTEM, committed_database, wait_until_blocked

    from xinyong.app import create_app
    from xinyong.auth import service as auth_service
    from xinyong.auth.models import User
    from xinyong.config import Settings
    from xinyong.privacy.keys import KeyRing
    from xinyong.privacy.vault import Vault

    db, drop = committed_database(tmp_path, "idletouch")
    try:
        with db.session() as s:
            uid = auth_service.add_user(s, username="auditor1", password=PASSWORD, role="auditor", actor=SYSTEM).id
        settings = Settings(database_url=db.url, key_file=tmp_path / "keys.json",
                            checkpoint_dir=tmp_path / "checkpoints", audit_seal_interval_seconds=0)
        app = create_app(settings, database=db, vault=Vault(KeyRing.generate()))
        with TestClient(app, base_url="https://testserver") as client:
            csrf = login(client, "auditor1")
            _age(db, last_seen_at=timedelta(minutes=5))  # its use is due to be written
            answers: list[Any] = []

            def step_up() -> None:  # a wrong password: counted on the user's row
                answers.append(client.post("/reauth", data={"password": "wrong", "csrf_token": csrf},
                                           follow_redirects=False))

            thread = threading.Thread(target=step_up)
            pids: set[int] = set()
            if db.engine.dialect.name == "postgresql":
                main = threading.get_ident()

                @event.listens_for(db.engine, "checkout")
                def _seen(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
                    if threading.get_ident() != main:
                        pids.add(dbapi_conn.info.backend_pid)
            with db.session() as s1:  # the administrator disables the user: their row first
                user = s1.get(User, uid)
                user.active = False
                s1.flush()
                thread.start()
                if db.engine.dialect.name == "postgresql":
                    assert wait_until_blocked(db, lambda: pids), "the request never waited for the user's row"
                else:
                    thread.join(0.3)
                auth_service.end_user_sessions(s1, user_id=uid)  # then their sessions'
            thread.join(30)
            assert not thread.is_alive()
        [r] = answers
        assert r.status_code in (401, 303), r.text
        with db.session() as s:
            assert not s.get(User, uid).active
    finally:
        drop()
