"""The SQLite WAL checkpointer: commits only append to the log; a thread of the Database copies it
back into the database file (see xinyong.db.WalCheckpointer)."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from xinyong.db import WAL_AUTOCHECKPOINT_PAGES, Database


def _rows_in_file_alone(db_file: Path, tmp: Path) -> int | None:
    """Rows of table t in the database file as it is on disk, without its write-ahead log."""
    alone = tmp / "alone.db"
    shutil.copyfile(db_file, alone)
    conn = sqlite3.connect(alone)
    try:
        return conn.execute("SELECT count(*) FROM t").fetchone()[0]
    except sqlite3.OperationalError:  # the table itself is still only in the log
        return None
    finally:
        conn.close()


def _wait_for(predicate, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_commits_reach_the_database_file_without_the_committer_checkpointing(tmp_path):
    db_file = tmp_path / "x.db"
    db = Database(f"sqlite:///{db_file}")
    try:
        with db.engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == WAL_AUTOCHECKPOINT_PAGES
        with db.engine.begin() as c:
            c.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
            c.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "x" * 200}] * 500)
        # ~30 pages: far below the committers' own threshold, so only the checkpointer copies them
        assert _wait_for(lambda: _rows_in_file_alone(db_file, tmp_path) == 500)
        assert db.checkpointer is not None and db.checkpointer.rounds >= 1
        with db.engine.begin() as c:
            c.execute(text("INSERT INTO t (v) VALUES ('y')"))
        assert _wait_for(lambda: _rows_in_file_alone(db_file, tmp_path) == 501)
    finally:
        db.dispose()


def test_dispose_stops_the_thread_and_a_new_commit_still_works(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'y.db'}")
    with db.engine.begin() as c:
        c.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    cp = db.checkpointer
    assert cp is not None and _wait_for(lambda: cp.rounds >= 1)
    thread = cp._thread
    db.dispose()
    assert thread is not None and not thread.is_alive()
    with db.engine.begin() as c:  # stopped: the nudge starts nothing, the commit is unaffected
        c.execute(text("INSERT INTO t DEFAULT VALUES"))
        assert c.execute(text("SELECT count(*) FROM t")).scalar() == 1
    assert cp._thread is thread
    db.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_no_checkpointer_for_a_database_in_memory(url):
    db = Database(url)
    try:
        assert db.checkpointer is None
    finally:
        db.dispose()
