"""Test harness: a real database built by the migrations; each test inside a transaction that is
rolled back at its end (requests' commits become SAVEPOINT releases).

SQLite by default; PostgreSQL when ``XINYONG_TEST_DATABASE_URL`` is set, on a schema of its own
that is dropped afterwards. Tests that need real commits (the database file, the CLI) use
``fresh_db_url`` instead: a new migrated SQLite file.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker
from tests.support import PASSWORD, PG_URL, SYSTEM, login, new_id_number  # noqa: E402,F401  (re-exported)

from xinyong import migrate
from xinyong.app import create_app
from xinyong.auth import service as auth_service
from xinyong.config import Settings
from xinyong.db import make_engine
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault


def pytest_report_header(config: pytest.Config) -> str:
    return f"xinyong database: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite'}"


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> None:
    """argon2 with production parameters costs ~0.1-0.5 s a hash here; tests hash dozens."""
    from argon2 import PasswordHasher

    auth_service.use_password_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if PG_URL:
        schema = f"xy_test_{uuid.uuid4().hex[:10]}"
        admin = make_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        eng = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
        with eng.begin() as conn:
            migrate.upgrade(connection=conn)
        yield eng
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    else:
        path = tmp_path_factory.mktemp("db") / "test.db"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        eng = make_engine(url)
        yield eng
        eng.dispose()


class TestDatabase:
    """Quacks like :class:`xinyong.db.Database`, bound to the test's connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.engine = connection.engine
        self.url = str(connection.engine.url)
        self.sessionmaker = sessionmaker(bind=connection, join_transaction_mode="create_savepoint",
                                         expire_on_commit=False)
        self.write_sessionmaker = self.sessionmaker

    @contextmanager
    def session(self, write: bool = True) -> Iterator[Session]:
        s = self.sessionmaker()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        pass


@pytest.fixture
def db(engine: Engine) -> Iterator[TestDatabase]:
    connection = engine.connect()
    outer = connection.begin()
    try:
        yield TestDatabase(connection)
    finally:
        if outer.is_active:
            outer.rollback()
        connection.close()


@pytest.fixture
def session(db: TestDatabase) -> Iterator[Session]:
    s = db.sessionmaker()
    yield s
    s.close()


@pytest.fixture(scope="session")
def keyring() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture(scope="session")
def vault(keyring: KeyRing) -> Vault:
    return Vault(keyring)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url="sqlite:///unused.db", key_file=tmp_path / "keys.json",
                    checkpoint_dir=tmp_path / "checkpoints", audit_seal_interval_seconds=0)


@pytest.fixture
def app(db: TestDatabase, vault: Vault, settings: Settings):  # type: ignore[no-untyped-def]
    return create_app(settings, database=db, vault=vault)  # type: ignore[arg-type]


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="https://testserver") as c:
        yield c


# ---- data helpers ---------------------------------------------------------------------

@dataclass
class World:
    """A small district: two departments, a key each, users of every role, two citizens."""

    session: Session
    vault: Vault
    dept_a: Any
    dept_b: Any
    key_a: str
    key_b: str
    key_b_row: Any
    users: dict[str, Any]
    citizen_id_number: str
    citizen_subject: Any
    other_id_number: str
    other_subject: Any

    def bearer(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def world(db: TestDatabase, vault: Vault) -> World:
    from xinyong.subjects.service import register

    with db.session() as s:
        dept_a = auth_service.add_department(s, code="scjgj", name="区市场监管局", actor=SYSTEM)
        dept_b = auth_service.add_department(s, code="gaj", name="公安和平分局", actor=SYSTEM)
        key_a, _ = auth_service.create_api_key(s, department=dept_a, name="业务系统A", actor=SYSTEM)
        key_b, key_b_row = auth_service.create_api_key(s, department=dept_b, name="业务系统B", actor=SYSTEM)
        cid, oid = new_id_number(born=date(1985, 3, 9)), new_id_number(born=date(1990, 7, 1))
        citizen, _ = register(s, vault=vault, id_number=cid, name="张三丰", actor=SYSTEM)
        other, _ = register(s, vault=vault, id_number=oid, name="欧阳娜娜", actor=SYSTEM)
        inst = auth_service.add_department(s, code="bank1", name="某银行", kind="institution", actor=SYSTEM)
        users = {
            "admin": auth_service.add_user(s, username="admin", password=PASSWORD, role="admin", actor=SYSTEM),
            "officer": auth_service.add_user(s, username="officer_a", password=PASSWORD, role="officer",
                                             department_id=dept_a.id, actor=SYSTEM),
            "officer_b": auth_service.add_user(s, username="officer_b", password=PASSWORD, role="officer",
                                               department_id=dept_b.id, actor=SYSTEM),
            "institution": auth_service.add_user(s, username="bank", password=PASSWORD, role="institution",
                                                 department_id=inst.id, actor=SYSTEM),
            "citizen": auth_service.add_user(s, username="zhangsan", password=PASSWORD, role="citizen",
                                             subject_id=citizen.id, actor=SYSTEM),
            "auditor": auth_service.add_user(s, username="auditor", password=PASSWORD, role="auditor", actor=SYSTEM),
        }
    return World(session=db.sessionmaker(), vault=vault, dept_a=dept_a, dept_b=dept_b, key_a=key_a, key_b=key_b,
                 key_b_row=key_b_row, users=users, citizen_id_number=cid, citizen_subject=citizen,
                 other_id_number=oid, other_subject=other)


@pytest.fixture(scope="session", name="login")
def login_fixture() -> Any:
    """``login(client, username)`` through the real form; returns the session's CSRF token."""
    return login


@pytest.fixture
def fresh_db_url(tmp_path: Path) -> str:
    """A new, migrated SQLite database with real commits (for file-level and CLI tests)."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrate.upgrade(url)
    return url
