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
