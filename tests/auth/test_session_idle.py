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


def test_a_job_page_reloading_itself_does_not_keep_the_session_alive(client, world, db, vault):  # type: ignore[no-untyped-def]
    """A running job's page reloads itself (HTMX polls every second; without JavaScript a <noscript>
    refresh every 5 s), marked ``?autorefresh=1``. Those reloads are not a use of the session: a job
    page left open on a shared desk kept the session alive for as long as the job ran (or hung). The
    user's own view of the page still counts; once idle too long, the next reload goes to sign-in."""
    from tests.records_web.records_web_support import HTMX
    from tests.support import SYSTEM, new_id_number

    from xinyong.audit.service import Actor
    from xinyong.catalog.service import load_default
    from xinyong.imports import service as imports_service
    from xinyong.measures import batch
    from xinyong.measures.service import Caller
    from xinyong.records.service import DepartmentRef

    login(client, "officer_a")
    actor = Actor(type="user", id=str(world.users["officer"].id), label="officer_a", department_id=world.dept_a.id)
    header = "身份证号码,姓名,来源编号,决定日期,严重程度,处罚决定书文号,违法行为类型,处罚类别,罚款金额（元）\n"
    with db.session() as s:
        load_default(s, actor=SYSTEM)
        import_id = imports_service.create_job(
            s, vault=vault, department=DepartmentRef(world.dept_a.id, "scjgj"), item_code="admin_penalty",
            filename="r.csv", data=(header + f"{new_id_number()},王小明,R1,2026-03-02,一般,和市监罚〔2026〕1号,未按规定公示,罚款,100\n").encode(),
            actor=actor).id
        batch_id = batch.create_job(s, vault=vault, caller=Caller(world.dept_a.id, "scjgj", actor), scenario="awards",
                                    filename="b.csv", data=f"身份证号码\n{new_id_number()}\n".encode()).id
    for page in (f"/workspace/imports/{import_id}", f"/workspace/checks/batch/{batch_id}"):
        html = client.get(page).text  # the running job's page asks its reloads with the marker
        assert f'<meta http-equiv="refresh" content="5; url={page}?autorefresh=1">' in html
        assert f'hx-get="{page}?autorefresh=1" hx-trigger="every 1s"' in html
        _age(db, last_seen_at=timedelta(minutes=5))
        before = _seen(db)
        assert client.get(f"{page}?autorefresh=1").status_code == 200  # the <noscript> reload
        assert client.get(f"{page}?autorefresh=1", headers=HTMX).status_code == 200  # the HTMX poll
        assert _seen(db) == before  # neither is a use
        assert client.get(page).status_code == 200  # the user opening the page is one
        assert utcnow() - _seen(db) < timedelta(seconds=30)
        _age(db, last_seen_at=timedelta(minutes=31))
        r = client.get(f"{page}?autorefresh=1", follow_redirects=False)  # left open: to the sign-in
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        login(client, "officer_a")
