"""Engine, session factory, declarative base and the request-scoped unit of work.

Services never commit: the caller (a request, a CLI command) owns the transaction and commits at
its end, or rolls back on error, so a change and its audit entry always land together.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import BigInteger, DateTime, Integer, MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, INTEGER (the rowid alias, so it autoincrements) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both engines (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
        # Let SQLAlchemy, not the driver, decide when transactions begin (proper SAVEPOINTs).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=10000")
        # Page cache of up to 64 MiB (default 2 MiB): bulk ingestion's random index inserts otherwise
        # re-read the same index pages from the file again and again (up to twice as slow at 10^5 subjects).
        cur.execute("PRAGMA cache_size=-65536")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:  # pragma: no cover - trivial
        # A deferred transaction that reads and then writes fails at once with "database is
        # locked" if another connection committed in between (WAL cannot upgrade an old read
        # snapshot; busy_timeout does not apply). Writers therefore take the write lock up front.
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode("utf-8")


def make_engine(url: str, **kwargs: Any) -> Engine:
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("check_same_thread", False)
        connect_args.setdefault("timeout", 10)
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("connect_timeout", 5)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_timeout", 5)
    return create_engine(url, connect_args=connect_args, **kwargs)


WRITE_OPTION = "xinyong_write"


class Database:
    """Holds one engine and its session factories; the app and the CLI each make one.

    ``sessionmaker`` is for reads; ``write_sessionmaker`` for units of work that change data (on
    SQLite they begin with ``BEGIN IMMEDIATE``; on PostgreSQL the two are the same)."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self.write_sessionmaker = sessionmaker(self.engine.execution_options(**{WRITE_OPTION: True}),
                                               expire_on_commit=False, autoflush=True)
        self._hot = threading.local()
        self._hot_lock = threading.Lock()
        self._hot_conns: list[Connection] = []

    @contextlib.contextmanager
    def session(self, write: bool = True) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on any error."""
        session = (self.write_sessionmaker if write else self.sessionmaker)()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @functools.cached_property
    def hot_read_engine(self) -> Engine:
        """For the lone SELECT of a hot path (the check API). On PostgreSQL a small pool of its own in
        autocommit (no BEGIN/ROLLBACK round trips) and without the ping on every checkout: one round
        trip a request instead of three (measured: +45 % checks/s on 2 cores). Its user must handle
        a connection found dead (``connection_invalidated``, e.g. after the database restarted) by
        :meth:`recycle_hot_reads` and one retry. On SQLite (in-process, nothing to ping) the engine."""
        if self.engine.dialect.name == "sqlite":
            return self.engine
        return make_engine(self.url, pool_pre_ping=False, pool_size=2, max_overflow=4, isolation_level="AUTOCOMMIT")

    def hot_connection(self) -> Connection:
        """This thread's own connection of :attr:`hot_read_engine`, kept open between requests, for a
        hot path that runs one statement at a time on the driver with nothing awaited in between (the
        check API on the event loop). Checking a connection out of the pool and back in cost about a
        tenth of a check (bench/bench_checks.py); keeping one per thread costs nothing. It never begins
        a transaction: each statement sees the latest commit (SQLite in autocommit, PostgreSQL's
        hot-read engine in AUTOCOMMIT). An invalidated one (found dead) is replaced on the next call."""
        conn: Connection | None = getattr(self._hot, "conn", None)
        if conn is None or conn.invalidated or conn.closed:
            conn = self._hot.conn = self.hot_read_engine.connect()
            with self._hot_lock:
                self._hot_conns.append(conn)
        return conn

    def recycle_hot_reads(self) -> None:
        """Close the hot path's connections (they died with the one that failed)."""
        with self._hot_lock:
            held, self._hot_conns = self._hot_conns, []
        for conn in held:
            with contextlib.suppress(Exception):  # closing a dead connection may fail; it is gone either way
                conn.close()
        if "hot_read_engine" in self.__dict__ and self.hot_read_engine is not self.engine:
            self.hot_read_engine.dispose()

    def dispose(self) -> None:
        self.recycle_hot_reads()
        self.engine.dispose()
