"""SQLite's write lock: writers wait for it by trying again every millisecond (``db.begin_immediate``),
and a records push checks its batch before it takes the lock (records/api.py)."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool
from tests.records.records_support import penalty
from tests.support import SYSTEM, new_id_number

from xinyong.app import create_app
from xinyong.auth.models import ApiKey
from xinyong.auth.service import add_department, create_api_key
from xinyong.catalog.service import load_default
from xinyong.config import Settings
from xinyong.db import Database
from xinyong.records import service as records_service
from xinyong.records.models import Record


def _holder(path: str) -> sqlite3.Connection:
    """Another connection that holds the write lock until it commits."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    return other


@pytest.fixture
def file_db(tmp_path):  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'lock.db'}", poolclass=StaticPool)  # one connection: its settings show
    with db.engine.begin() as c:
        c.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    yield db, str(tmp_path / "lock.db")
    db.dispose()


def test_a_writer_takes_the_lock_within_milliseconds_of_its_release(file_db) -> None:  # type: ignore[no-untyped-def]
    db, path = file_db
    other = _holder(path)
    released: list[float] = []

    def release() -> None:
        time.sleep(0.24)  # SQLite's own busy handler would sleep on until ~0.33 s here (1, 2, 5, 10, … ms)
        released.append(time.monotonic())
        other.commit()

    threading.Thread(target=release).start()
    with db.session() as s:
        s.execute(text("INSERT INTO t DEFAULT VALUES"))
        got = time.monotonic()
    other.close()
    assert released and got >= released[0]
    assert got - released[0] < 0.04, f"took the lock {1000 * (got - released[0]):.0f} ms after its release"
    with db.engine.connect() as c:  # the connection's busy timeout is back as it was
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        assert c.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1


@pytest.mark.parametrize(("timeout_ms", "waits"), [(0, 0.0), (300, 0.3)])
def test_a_writer_gives_up_with_the_usual_error_after_its_busy_timeout(file_db, timeout_ms, waits) -> None:  # type: ignore[no-untyped-def]
    """Busy timeout 0 (a caller that must not wait): one try. Otherwise tries until the timeout."""
    db, path = file_db
    other = _holder(path)
    try:
        with db.engine.connect() as c:
            c.exec_driver_sql(f"PRAGMA busy_timeout={timeout_ms}")
        t = time.monotonic()
        with pytest.raises(OperationalError, match="locked"), db.session() as s:
            s.execute(text("INSERT INTO t DEFAULT VALUES"))
        assert waits <= time.monotonic() - t < waits + 2
        with db.engine.connect() as c:  # the connection's own timeout, as it was
            assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == timeout_ms
            assert c.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    finally:
        other.close()


def test_a_records_push_checks_its_batch_without_holding_the_write_lock(fresh_db_url, vault, tmp_path,
                                                                        monkeypatch) -> None:  # type: ignore[no-untyped-def]
    database = Database(fresh_db_url)
    with database.session() as s:
        load_default(s, actor=SYSTEM)
        dept = add_department(s, code="scjgj", name="区市场监管局", actor=SYSTEM)
        key, row = create_api_key(s, department=dept, name="push", actor=SYSTEM)
        key_id = row.id
    path = fresh_db_url.removeprefix("sqlite:///")
    lock_free: list[bool] = []
    checked = records_service.check_batch

    def watched(*args, **kwargs):  # type: ignore[no-untyped-def]
        probe = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
            lock_free.append(True)
        except sqlite3.OperationalError:
            lock_free.append(False)
        finally:
            probe.close()
        return checked(*args, **kwargs)

    monkeypatch.setattr(records_service, "check_batch", watched)
    settings = Settings(database_url="sqlite:///unused.db", key_file=tmp_path / "keys.json",
                        checkpoint_dir=tmp_path / "cp", audit_seal_interval_seconds=0)
    app = create_app(settings, database=database, vault=vault)
    with TestClient(app, base_url="https://testserver") as c:
        r = c.post("/api/v1/records", json={"records": [penalty(new_id_number(), "王五")]},
                   headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["status"] == "created"
    assert lock_free == [True]
    with database.session() as s:
        assert s.scalar(select(Record.id).where(Record.source_id == "P-1")) == r.json()["results"][0]["record_id"]
        assert s.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key_id)) is not None  # the key's stamp
    database.dispose()


def test_waiting_for_the_write_lock_never_blocks_the_event_loop(fresh_db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A page request that must wait for SQLite's write lock waits on the thread pool, not on the
    event loop: before, its async dependencies (the signed-in user, looked up in the request's write
    session) waited there, so nothing else was answered meanwhile — not even the request holding the
    lock, which then could not finish before the 10 s timeout (two officers at once: 503s)."""
    import socket

    import httpx
    import uvicorn
    from tests.support import PASSWORD

    from xinyong.auth.deps import SESSION_COOKIE
    from xinyong.auth.service import add_user, start_session
    from xinyong.privacy.keys import KeyRing
    from xinyong.privacy.vault import Vault

    db = Database(fresh_db_url)
    with db.session() as s:
        user = add_user(s, username="admin", password=PASSWORD, role="admin", actor=SYSTEM)
        token, _ws = start_session(s, user=user, hours=1)
    settings = Settings(database_url=fresh_db_url, key_file=tmp_path / "keys.json", checkpoint_dir=tmp_path / "cp",
                        audit_seal_interval_seconds=0)
    app = create_app(settings, database=db, vault=Vault(KeyRing.generate()))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        other = _holder(fresh_db_url.removeprefix("sqlite:///"))
        page: list[int] = []
        waiting = threading.Thread(target=lambda: page.append(
            httpx.get(f"{base}/", cookies={SESSION_COOKIE: token}, timeout=15).status_code))
        waiting.start()
        time.sleep(0.3)  # the page request is waiting for the lock by now
        t0 = time.monotonic()
        health = httpx.get(f"{base}/healthz", timeout=15)
        answered_in = time.monotonic() - t0
        time.sleep(0.2)
        other.commit()
        other.close()
        waiting.join(15)
        assert health.status_code == 200
        # blocked, the loop answers only once the page request gives up on the lock (~10 s); 3 s leaves
        # room for a loaded machine (0.25 s failed under a parallel run)
        assert answered_in < 3, f"the event loop was blocked for {answered_in:.2f} s"
        assert page == [200]
    finally:
        server.should_exit = True
        thread.join(10)
        db.dispose()


def test_a_refused_body_is_registered_after_the_request_let_go_of_the_lock(fresh_db_url, vault, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The refusal of a body the schema refuses is written by the error handler in a transaction of
    its own: on SQLite after the request's own (a write session holds the write lock from its start)
    was rolled back — were it still open, the entry would wait for it until the busy timeout."""
    from xinyong.audit.models import AuditEntry

    database = Database(fresh_db_url)
    with database.session() as s:
        load_default(s, actor=SYSTEM)
        dept = add_department(s, code="scjgj", name="区市场监管局", actor=SYSTEM)
        key, _row = create_api_key(s, department=dept, name="push", actor=SYSTEM)
    settings = Settings(database_url="sqlite:///unused.db", key_file=tmp_path / "keys.json",
                        checkpoint_dir=tmp_path / "cp", audit_seal_interval_seconds=0)
    app = create_app(settings, database=database, vault=vault)
    h = {"Authorization": f"Bearer {key}"}
    t0 = time.monotonic()
    with TestClient(app, base_url="https://testserver") as c:
        assert c.post("/api/v1/imports", data={"item": "admin_penalty"}, headers=h).status_code == 422  # a write session
        assert c.post("/api/v1/records", json={"records": {}}, headers=h).status_code == 422
        assert c.post("/api/v1/records", content=b"{", headers={**h, "content-type": "application/json"}).status_code == 422
    assert time.monotonic() - t0 < 5
    with database.session() as s:
        got = s.execute(select(AuditEntry.action, AuditEntry.outcome).where(AuditEntry.outcome == "failed")
                        .order_by(AuditEntry.id)).all()
    assert [tuple(g) for g in got] == [("imports.create", "failed"), ("records.push", "failed"),
                                       ("records.push", "failed")]
    database.dispose()
