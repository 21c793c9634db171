"""Helpers shared by tests (a plain module: import it as ``tests.support``, never conftest)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Collection
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from xinyong import migrate
from xinyong.audit.service import Actor
from xinyong.auth.deps import SESSION_COOKIE
from xinyong.db import Database
from xinyong.privacy.identity import make_id_number

PG_URL = os.environ.get("XINYONG_TEST_DATABASE_URL") or None  # set but empty: SQLite, as unset
SYSTEM = Actor.system("tests")
PASSWORD = "correct-horse-battery"

_seq = iter(range(1, 10**7))
_BORN_FROM, _BORN_DAYS = date(1960, 1, 1), 14_000  # adults born 1960-01-01 … 1998-04


def new_id_number(region: str = "120101", born: date | None = None) -> str:
    """A valid ID number, distinct from every other this process made (a process-wide sequence ``n``).
    The birth day runs through ``_BORN_DAYS`` days and the sequence digits move on by one each time
    round, so no two ``n`` below 14,000,000 share both. (Birth year, month and day each taken from
    ``n`` modulo 40, 12 and 28 with the digits from ``n`` modulo 1000 came round again after 21,000
    numbers: a long test worker's later person then had an earlier one's number under another
    name, ``name_mismatch``.) With ``born`` given, only the 1,000 sequence digits vary."""
    n = next(_seq)
    if born is None:
        born = _BORN_FROM + timedelta(days=n % _BORN_DAYS)
        return make_id_number(region, born, (n + n // _BORN_DAYS) % 1000)
    return make_id_number(region, born, n % 1000)


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the real login form; returns the CSRF token for later state changes."""
    page = client.get("/login")
    assert page.status_code == 200
    csrf = client.cookies.get("xy_login_csrf")
    r = client.post("/login", data={"username": username, "password": password, "csrf_token": csrf or ""},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    assert client.cookies.get(SESSION_COOKIE)
    me = client.get("/api/v1/session")
    assert me.status_code == 200, me.text
    return me.json()["csrf_token"]


def committed_database(tmp_path: Path, name: str = "committed") -> tuple[Database, Callable[[], None]]:
    """A database of a test's own with real commits and connections (for threads and races, which
    the rolled-back one-connection ``db`` fixture cannot host): a SQLite file in ``tmp_path``, or a
    new schema on the PostgreSQL test server. Returns it and the function that removes it."""
    _url, db, drop = migrate.scratch_database(PG_URL, sqlite_file=tmp_path / f"{name}.db",
                                              schema=f"xy_{name}_{uuid.uuid4().hex[:8]}")
    return db, drop


def wait_until_blocked(db: Database, pid: Callable[[], int | Collection[int] | None], seconds: float = 10) -> bool:
    """PostgreSQL: True once the server process ``pid()`` names (None until it is known; or one of
    several, such as the connections a request checked out) waits for a lock."""
    import time

    from sqlalchemy import text

    deadline = time.monotonic() + seconds
    with db.engine.connect() as c:
        while time.monotonic() < deadline:
            target = pid()
            pids = sorted(target) if isinstance(target, Collection) else [] if target is None else [target]
            if pids and c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids) "
                                       "AND wait_event_type = 'Lock'"), {"pids": pids}).scalar():
                return True
            c.rollback()
            time.sleep(0.02)
    return False


def at_once(db: Database, first: Callable[[Any], object], second: Callable[[Any], object]) -> list[BaseException]:
    """Two transactions at the same moment: ``first(session)`` runs, and its transaction stays open
    while ``second(session)`` starts in another thread and is seen waiting for it (PostgreSQL: for a
    lock; SQLite: at ``BEGIN``); then the first commits and the second finishes. Returns what the
    second raised (the first's errors propagate)."""
    import threading

    errors: list[BaseException] = []
    done = threading.Event()
    backend: list[int] = []  # PostgreSQL: the second transaction's server process

    def other() -> None:
        try:
            with db.session() as s2:
                if db.engine.dialect.name == "postgresql":
                    from sqlalchemy import text

                    backend.append(s2.execute(text("SELECT pg_backend_pid()")).scalar_one())
                second(s2)
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=other)
    with db.session() as s1:
        first(s1)
        thread.start()
        if db.engine.dialect.name == "postgresql":
            assert wait_until_blocked(db, lambda: backend[0] if backend else None), \
                "the second transaction never waited for the first"
        else:  # SQLite's writers take turns from BEGIN
            assert not done.wait(0.3), "the second transaction did not wait for the first"
    thread.join(30)
    assert not thread.is_alive()
    return errors


def audit_entries(db: Database, *actions: str) -> list[Any]:
    """Committed audit entries with these actions, oldest first."""
    from sqlalchemy import select

    from xinyong.audit.models import AuditEntry

    with db.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action.in_(actions)).order_by(AuditEntry.id)))


def assert_no_id_number_in_audit(db: Database, numbers: list[str]) -> None:
    """None of these ID numbers appears in any audit entry's action, object, actor or details."""
    import json

    from sqlalchemy import select

    from xinyong.audit.models import AuditEntry

    with db.session() as s:
        for e in s.scalars(select(AuditEntry)):
            blob = json.dumps([e.action, e.object_id, e.actor_label, e.details], ensure_ascii=False, default=str)
            for number in numbers:
                assert number not in blob, (e.action, blob)


def deactivated_once_authenticated(monkeypatch: Any, department_id: int) -> None:
    """Every later request sees ``department_id`` deactivated just after its caller was authenticated:
    a deactivation committed between the request's first statement and its own check of the
    department (possible under PostgreSQL's READ COMMITTED). A deactivated department's sessions and
    keys are refused at authentication (``auth.service``), so only such a request reaches the
    routes' ``department_inactive`` refusals. The change is made in the request's own transaction,
    which a refusal rolls back (the department is active again afterwards)."""
    from sqlalchemy import update

    from xinyong.auth import deps
    from xinyong.auth.models import Department

    def deactivating(original: Callable[..., Any]) -> Callable[..., Any]:
        def call(session: Any, **kwargs: Any) -> Any:
            found = original(session, **kwargs)
            session.execute(update(Department).where(Department.id == department_id).values(active=False))
            return found
        return call

    monkeypatch.setattr(deps, "principal_for_session", deactivating(deps.principal_for_session))
    monkeypatch.setattr(deps, "principal_for_api_key", deactivating(deps.principal_for_api_key))


def cli_database(url: str, tmp_path: Path, monkeypatch: Any) -> Database:
    """The CLI's setting for a test: a key file in ``tmp_path`` (the working directory), the database
    at ``url`` with the shipped catalog and the department ``scjgj``, both named by the environment
    as the CLI reads them. The caller disposes of it and calls ``config.reset_settings_cache``."""
    from xinyong.auth import service as auth_service
    from xinyong.catalog.service import load_default
    from xinyong.config import reset_settings_cache
    from xinyong.privacy.keys import KeyRing

    key_file = tmp_path / "keys.json"
    KeyRing.generate().save(key_file)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XINYONG_DATABASE_URL", url)
    monkeypatch.setenv("XINYONG_KEY_FILE", str(key_file))
    reset_settings_cache()
    db = Database(url)
    with db.session() as s:
        load_default(s, actor=SYSTEM)
        auth_service.add_department(s, code="scjgj", name="区市场监管局", actor=SYSTEM)
    return db
