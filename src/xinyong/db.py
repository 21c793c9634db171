"""Engine, session factory, declarative base and the request-scoped unit of work.

Services never commit: the caller (a request, a CLI command) owns the transaction and commits at
its end, or rolls back on error, so a change and its audit entry always land together.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import BigInteger, DateTime, Integer, MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError
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



def utc_of(value: object) -> datetime | None:
    """A :class:`UTCDateTime` column's value as a plain statement (no ORM type) reads it: aware UTC
    (PostgreSQL's driver gives it aware; SQLite's, naive UTC text)."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)

class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


log = logging.getLogger(__name__)

# A transaction that changed at least this many rows leaves the WAL checkpoint to the checkpointer
# thread; a smaller one checkpoints inline past SQLite's default 1,000 pages, as SQLite does.
BULK_COMMIT_ROWS = 1000
WAL_AUTOCHECKPOINT_DEFAULT = 1000
# The page count past which even a bulk commit checkpoints inline (128 MiB): the safety net if the
# checkpointer falls behind or was stopped while only bulk transactions commit.
WAL_AUTOCHECKPOINT_BULK = 32768


class WalCheckpointer:
    """Copies a SQLite database's write-ahead log back into the database file for the bulk writers,
    on a thread and connection of its own.

    SQLite checkpoints inside the ``COMMIT`` that takes the log past 1,000 pages: that commit then
    copies every page of the log into the database file and syncs it. A bulk transaction (an
    ingestion batch writes thousands of pages) paid that on every commit: a third of each batch's
    time (bench/bench_ingest.py). So a commit that changed :data:`BULK_COMMIT_ROWS` rows or more
    raises its connection's threshold to :data:`WAL_AUTOCHECKPOINT_BULK` pages and calls
    :meth:`nudge`; this thread then runs ``PRAGMA wal_checkpoint(PASSIVE)`` (at most once per
    ``interval``), which blocks no reader or writer and runs in SQLite's C code without the GIL, on
    the other core; once more a little later, then it sleeps until the next nudge.

    Small transactions (the check register's group commits, requests) keep SQLite's inline
    checkpoints: for them a background checkpoint every 0.2 s measured a worse p99 for the check
    API (63–75 ms against 48–55 ms, two A/B pairs at ~2,000 checks/s), its larger copies and syncs
    competing with the lookups' reads of a database bigger than the page cache.

    Every process has its own (the server's workers, the CLI); SQLite lets one checkpoint run at a
    time and a passive one that finds another running simply returns."""

    def __init__(self, path: str, interval: float = 0.2) -> None:
        self.path = path
        self.interval = interval
        self.rounds = 0  # checkpoints run (for tests and diagnostics)
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def nudge(self) -> None:
        """A commit appended to the log: checkpoint soon (starts the thread on first use)."""
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._stopping:
                    self._thread = threading.Thread(target=self._run, name="xinyong-wal-checkpoint", daemon=True)
                    self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self._wake.wait()
                # The nudge comes as a commit begins (SQLAlchemy has no event after it): wait a
                # little for it to land, and for more commits to gather behind it.
                while not self._stopping:
                    self._wake.clear()
                    time.sleep(self.interval)
                    self._checkpoint(conn)
                    # One more round a little later, for a commit that took longer than the wait,
                    # then sleep until the next commit.
                    if not self._wake.wait(self.interval * 5):
                        self._checkpoint(conn)
                        break
                if self._stopping:
                    return
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.rounds += 1
        except sqlite3.Error as exc:  # e.g. the file was removed; the writers checkpoint themselves
            log.warning("WAL checkpoint failed: %s", exc)

    def stop(self) -> None:
        """Stop the thread (it finishes a checkpoint it is in); the next commit checkpoints by itself."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout=5)


LOCK_CHUNK = 10_000  # ids per locking statement (one array parameter)


def lock_rows(session: Session, table: str, ids: Iterable[int] | None = None) -> None:
    """Lock these rows of ``table`` (every row without ``ids``) until the transaction ends, in id
    order, so that transactions that change what the rows stand for take turns: PostgreSQL's
    ``FOR NO KEY UPDATE``, which readers and foreign-key checks (``FOR KEY SHARE``) do not wait for,
    and two transactions locking overlapping sets meet on the lowest common id instead of each
    holding what the other waits for. SQLite: nothing to do, its writers take turns from ``BEGIN``.
    ``table`` is one of ours, never input."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return
    if ids is None:
        conn.exec_driver_sql(f'SELECT id FROM "{table}" ORDER BY id FOR NO KEY UPDATE').all()  # noqa: S608
        return
    wanted = sorted({int(i) for i in ids})
    for start in range(0, len(wanted), LOCK_CHUNK):
        chunk = wanted[start : start + LOCK_CHUNK]
        conn.exec_driver_sql(f'SELECT id FROM "{table}" WHERE id = ANY(CAST(%s AS bigint[])) ORDER BY id '  # noqa: S608
                             "FOR NO KEY UPDATE", ("{" + ",".join(map(str, chunk)) + "}",)).all()


def with_search_path(url: str, schema: str) -> str:
    """A PostgreSQL URL whose connections use ``schema`` (``options=-csearch_path=…``): a database of
    its own inside a shared server, as the test suite and the benchmarks use one per run."""
    return url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"


def _sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL, or None for an in-memory database."""
    path = url.split("///", 1)[-1] if "///" in url else ""
    if not path or path == ":memory:" or path.startswith("file::memory:"):
        return None
    return path.split("?", 1)[0]


def _configure_sqlite(engine: Engine, checkpointer: WalCheckpointer | None = None) -> None:
    if checkpointer is not None:
        @event.listens_for(engine, "commit")
        def _on_commit(conn: Any) -> None:
            # Fires just before the driver's COMMIT, whose inline checkpoint this threshold governs.
            raw = conn.connection.driver_connection
            bulk = raw.total_changes - conn.info.get("xy_changes_at_begin", raw.total_changes) >= BULK_COMMIT_ROWS
            want = WAL_AUTOCHECKPOINT_BULK if bulk else WAL_AUTOCHECKPOINT_DEFAULT
            if conn.info.get("xy_autocheckpoint") != want:
                raw.execute(f"PRAGMA wal_autocheckpoint={want}")
                conn.info["xy_autocheckpoint"] = want
            if bulk:
                checkpointer.nudge()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
        # Let SQLAlchemy, not the driver, decide when transactions begin (proper SAVEPOINTs).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # Page cache of up to 64 MiB (default 2 MiB): bulk ingestion's random index inserts otherwise
        # re-read the same index pages from the file again and again (up to twice as slow at 10^5 subjects).
        cur.execute("PRAGMA cache_size=-65536")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:  # pragma: no cover - trivial
        # A deferred transaction that reads and then writes fails at once with "database is
        # locked" if another connection committed in between (WAL cannot upgrade an old read
        # snapshot; busy_timeout does not apply). Writers therefore take the write lock up front.
        if conn.get_execution_options().get(WRITE_OPTION, False):
            begin_immediate(conn)
        else:
            conn.exec_driver_sql("BEGIN")
        if checkpointer is not None:  # rows changed by this transaction = total_changes at commit - this
            conn.info["xy_changes_at_begin"] = conn.connection.driver_connection.total_changes


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode("utf-8")


SUPPORTED_DRIVERS = {"sqlite": ("pysqlite",), "postgresql": ("psycopg",)}


def _check_supported(url: str) -> None:
    """Refuse, as an invalid URL, an engine or driver xinyong does not run on (``mysql://``,
    ``postgresql+psycopg2://`` …): SQLAlchemy would fail later on a missing driver module, which the
    CLI could only report as an unexpected error. ``postgresql://`` means psycopg 3."""
    parsed = make_url(url)  # ArgumentError for what cannot be parsed
    drivers = SUPPORTED_DRIVERS.get(parsed.get_backend_name())
    if drivers is None or ("+" in parsed.drivername and parsed.get_driver_name() not in drivers):
        raise ArgumentError(f"unsupported database driver {parsed.drivername}: "
                            "use sqlite:///… or postgresql+psycopg://…")


def make_engine(url: str, checkpointer: WalCheckpointer | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url``. On SQLite, ``checkpointer`` (for the same file) takes the WAL
    checkpoints off the committing connections of bulk transactions."""
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    _check_supported(url)
    if url.startswith("sqlite"):
        path = _sqlite_path(url)
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("check_same_thread", False)
        connect_args.setdefault("timeout", 10)
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine, checkpointer)
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
BUSY_TIMEOUT_MS = 10_000  # every SQLite connection's busy timeout
LOCK_POLL_SECONDS = 0.001


def begin_immediate(conn: Connection) -> None:
    """``BEGIN IMMEDIATE`` on SQLite, waiting for the write lock by trying again every millisecond
    (up to the connection's busy timeout) instead of in SQLite's busy handler, which sleeps 1, 2, 5,
    10, 15, 20, 25, … ms between tries, so that a writer that found the lock taken woke on average
    ~10 ms after it was released (two departments pushing batches of 1,000 to two workers: 7,370
    records/s with SQLite's handler, 7,935 with polling; bench/bench_ingest.py). A connection whose busy
    timeout is 0 (a caller that must not wait, such as the check register's flush on the event loop)
    tries once. The failure after the timeout is the usual "database is locked" error."""
    raw = conn.connection.driver_connection
    assert raw is not None
    timeout_ms = int(raw.execute("PRAGMA busy_timeout").fetchone()[0])
    if timeout_ms <= 0:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        return
    raw.execute("PRAGMA busy_timeout=0")
    try:
        deadline = None
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:  # type: ignore[attr-defined]  # BUSY and its extended codes
                    raise
            now = time.monotonic()
            if deadline is None:
                deadline = now + timeout_ms / 1000
            elif now >= deadline:
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # the error, as SQLAlchemy reports it
                return
            time.sleep(LOCK_POLL_SECONDS)
    finally:
        raw.execute(f"PRAGMA busy_timeout={timeout_ms}")


class Database:
    """Holds one engine and its session factories; the app and the CLI each make one.

    ``sessionmaker`` is for reads; ``write_sessionmaker`` for units of work that change data (on
    SQLite they begin with ``BEGIN IMMEDIATE``; on PostgreSQL the two are the same)."""

    #: Each session checks out a connection of its own, so threads may hold sessions at once (the
    #: tests' rolled-back database, one connection under every session, says False).
    concurrent_sessions = True

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        path = _sqlite_path(url) if url.startswith("sqlite") else None
        self.checkpointer = WalCheckpointer(path) if path else None
        self.engine = make_engine(url, checkpointer=self.checkpointer, **engine_kwargs)
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
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.recycle_hot_reads()
        self.engine.dispose()
