"""The SQLite WAL checkpointer: a bulk transaction's commit only appends to the log and a thread of
the Database copies it back into the database file; small commits keep SQLite's inline checkpoints
(see xinyong.db.WalCheckpointer)."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.pool import StaticPool

from xinyong.db import BULK_COMMIT_ROWS, WAL_AUTOCHECKPOINT_BULK, WAL_AUTOCHECKPOINT_DEFAULT, Database


def _rows_in_file_alone(db_file: Path, tmp: Path) -> int | None:
    """Rows of table t in the database file as it is on disk, without its write-ahead log."""
    alone = tmp / "alone.db"
    shutil.copyfile(db_file, alone)
    conn = sqlite3.connect(alone)
    try:
        return conn.execute("SELECT count(*) FROM t").fetchone()[0]
    except sqlite3.DatabaseError:  # the table itself is still only in the log (OperationalError), or the
        return None  # copy was taken while the checkpointer wrote pages into the file ("malformed"): look again
    finally:
        conn.close()


def _wait_for(predicate, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _autocheckpoint(c) -> int:  # type: ignore[no-untyped-def]
    return c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()


def test_bulk_commits_reach_the_database_file_through_the_checkpointer(tmp_path):
    db_file = tmp_path / "x.db"
    db = Database(f"sqlite:///{db_file}", poolclass=StaticPool)  # one connection: its settings are visible
    try:
        with db.engine.begin() as c:
            c.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        assert db.checkpointer is not None and db.checkpointer.rounds == 0  # a small commit: no nudge
        with db.engine.connect() as c:
            assert _autocheckpoint(c) == WAL_AUTOCHECKPOINT_DEFAULT
        with db.engine.begin() as c:
            c.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "x" * 200}] * BULK_COMMIT_ROWS)
        with db.engine.connect() as c:  # the bulk commit checkpoints inline only past the safety net
            assert _autocheckpoint(c) == WAL_AUTOCHECKPOINT_BULK
        # ~60 pages: below any inline threshold, so only the checkpointer copies them into the file
        assert _wait_for(lambda: _rows_in_file_alone(db_file, tmp_path) == BULK_COMMIT_ROWS)
        # The thread counts a round once its PRAGMA has returned, a moment after the pages landed.
        assert _wait_for(lambda: db.checkpointer.rounds >= 1)
        with db.engine.begin() as c:
            c.execute(text("INSERT INTO t (v) VALUES ('y')"))
        with db.engine.connect() as c:  # a small commit again: SQLite's own threshold
            assert _autocheckpoint(c) == WAL_AUTOCHECKPOINT_DEFAULT
    finally:
        db.dispose()


def test_small_commits_leave_the_log_to_sqlite(tmp_path):
    db_file = tmp_path / "s.db"
    db = Database(f"sqlite:///{db_file}")
    try:
        with db.engine.begin() as c:
            c.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        for _ in range(5):
            with db.engine.begin() as c:
                c.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "x" * 200}] * 10)
        time.sleep(0.5)
        assert db.checkpointer is not None and db.checkpointer.rounds == 0
        assert _rows_in_file_alone(db_file, tmp_path) is None  # still only in the log (< 1,000 pages)
    finally:
        db.dispose()


def test_dispose_stops_the_thread_and_a_new_commit_still_works(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'y.db'}")
    with db.engine.begin() as c:
        c.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        c.execute(text("INSERT INTO t DEFAULT VALUES"), [{}] * BULK_COMMIT_ROWS)
    cp = db.checkpointer
    assert cp is not None and _wait_for(lambda: cp.rounds >= 1)
    thread = cp._thread
    db.dispose()
    assert thread is not None and not thread.is_alive()
    with db.engine.begin() as c:  # stopped: the nudge starts nothing, the commit is unaffected
        c.execute(text("INSERT INTO t DEFAULT VALUES"))
        assert c.execute(text("SELECT count(*) FROM t")).scalar() == BULK_COMMIT_ROWS + 1
    assert cp._thread is thread
    db.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_no_checkpointer_for_a_database_in_memory(url):
    db = Database(url)
    try:
        assert db.checkpointer is None
    finally:
        db.dispose()
