"""Helpers shared by tests (a plain module: import it as ``tests.support``, never conftest)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient

from xinyong import migrate
from xinyong.audit.service import Actor
from xinyong.auth.deps import SESSION_COOKIE
from xinyong.db import Database
from xinyong.privacy.identity import make_id_number

PG_URL = os.environ.get("XINYONG_TEST_DATABASE_URL")
SYSTEM = Actor.system("tests")
PASSWORD = "correct-horse-battery"

_seq = iter(range(1, 10**6))


def new_id_number(region: str = "120101", born: date | None = None) -> str:
    """A valid, distinct ID number (a process-wide sequence feeds the sequence digits)."""
    n = next(_seq)
    born = born or date(1960 + n % 40, 1 + n % 12, 1 + n % 28)
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
