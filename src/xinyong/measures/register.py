"""Group commit for the check register, one writer per server process, driven by its event loop.

A check request appends its register row and awaits it. The first row of a batch schedules a flush
at most ``window`` seconds later (5 ms); every request that reaches the register meanwhile joins the
batch, and the flush comes at once when the batch is as large as the last one was (under a steady
load that is every request in flight; a lone request is flushed at once). The flush writes all rows
of the batch and their audit entries in ONE transaction, commits, and only then releases the
waiting requests: every answer leaves after its row is committed, and 16 concurrent requests cost one
commit instead of 16. While a batch is being written (PostgreSQL's writer thread) the next one
gathers, and it waits — at most the window — until it holds as many rows as the written batch and
the rows that arrived meanwhile: the requests released by the commit come straight back under a
steady load and share the next commit (measured: ~8 rows a commit became ~15, +15–40 % checks/s on
PostgreSQL, and a fifth less CPU on both sides). If a write fails, every request of that batch fails (503) and
nothing of it is kept. Measured with 32 connections on 2 workers (bench/bench_checks.py): a fixed
2 ms window gathered ~8 rows a commit, 5 ms ~16 (the requests in flight per worker), 10 ms no more.

Where the write runs depends on the engine, as measured on 2 cores (bench/bench_checks.py):

- SQLite: on the event loop itself. A commit in WAL mode with ``synchronous=NORMAL`` costs no fsync,
  and a writer thread competes with the busy loop for the GIL (every hand-over can wait a whole
  5 ms switch interval): the thread writer answered ~35 % fewer checks. The loop never waits for
  the write lock, though: when another process (the other worker, the audit sealer) holds it, the
  flush is retried 1 ms later and the loop serves requests meanwhile (up to the usual 10 s, then
  the batch fails).
- PostgreSQL: in one dedicated thread. A commit waits for the WAL fsync and network round trips,
  which on the loop stall every request of the process; in a thread they release the GIL.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from xinyong.db import BUSY_TIMEOUT_MS, WRITE_OPTION, Database
from xinyong.measures.service import register_checks

log = logging.getLogger("xinyong.checks")

_Batch = list[tuple[dict[str, Any], asyncio.Future[None]]]


class GroupWriter:
    def __init__(self, db: Any, max_batch: int = 512, window: float = 0.005, offload: bool | None = None) -> None:
        self.db, self.max_batch, self.window = db, max_batch, window
        if offload is None:
            offload = getattr(getattr(db, "engine", None), "dialect", None) is not None and \
                db.engine.dialect.name != "sqlite"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="check-register") if offload else None
        # On the loop with a real SQLite database: never wait for the write lock there (see _write_unless_locked).
        self._nowait = not offload and isinstance(db, Database) and db.engine.dialect.name == "sqlite"
        self._locked_since = 0.0
        self.retry = 0.001
        self._pending: _Batch = []
        self._busy = False  # a flush is scheduled or a batch is being written
        self._timer: asyncio.TimerHandle | None = None  # the scheduled flush, while it waits
        self._expect = 1  # rows of the last batch: a batch this large flushes without waiting out the window
        self.batches = 0
        self.rows = 0

    async def submit(self, row: dict[str, Any]) -> None:
        """Return once ``row`` is committed (raise if its batch failed)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._pending.append((row, fut))
        if not self._busy:
            self._busy = True
            self._timer = loop.call_later(self.window, self._flush, loop)
        if self._timer is not None and len(self._pending) >= self._expect:
            self._timer.cancel()
            self._timer = None
            loop.call_soon(self._flush, loop)
        await fut

    def _write(self, rows: list[dict[str, Any]]) -> None:
        with self.db.session() as s:
            register_checks(s, rows)

    def _write_unless_locked(self, rows: list[dict[str, Any]]) -> bool:
        """SQLite on the loop: write only if the write lock is free now (busy timeout 0 for this one
        transaction), else return False at once. Waiting for it would stall the whole loop in
        SQLite's busy handler (sleeps of 1, 2, 5, 10, … ms) while another worker or the audit sealer
        commits; the loop serves requests instead and the flush tries again a moment later."""
        with self.db.engine.connect() as conn:
            driver = conn.connection.driver_connection
            driver.execute("PRAGMA busy_timeout=0")
            try:
                with Session(bind=conn.execution_options(**{WRITE_OPTION: True})) as s:
                    register_checks(s, rows)
                    s.commit()
            except OperationalError as exc:
                if "locked" in str(exc.orig).lower() or "busy" in str(exc.orig).lower():
                    return False
                raise
            finally:
                driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return True

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch:]
        self._expect = len(batch)
        rows = [row for row, _fut in batch]
        if self._executor is None:
            error: BaseException | None = None
            try:
                if not self._nowait:
                    self._write(rows)
                elif not self._write_unless_locked(rows):
                    now = time.monotonic()
                    self._locked_since = self._locked_since or now
                    if now - self._locked_since < BUSY_TIMEOUT_MS / 1000:
                        self._pending[:0] = batch  # first in line again
                        loop.call_later(self.retry, self._flush, loop)
                        return
                    raise OperationalError("BEGIN IMMEDIATE", None, TimeoutError("database is locked"))
                self._locked_since = 0.0
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                self._locked_since = 0.0
                error = exc
            self._settle(loop, batch, error)
        else:
            job = loop.run_in_executor(self._executor, self._write, rows)
            job.add_done_callback(lambda done: self._settle(loop, batch, done.exception()))

    def _settle(self, loop: asyncio.AbstractEventLoop, batch: _Batch, error: BaseException | None) -> None:
        if error is None:
            self.batches += 1
            self.rows += len(batch)
        else:
            log.warning("check register batch of %d failed: %s", len(batch), type(error).__name__)
        for _row, fut in batch:
            if not fut.done():
                if error is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(error)
        if self._pending:
            # The requests that arrived while this batch was written, and this batch's, which come
            # back at once under a steady load: the next batch waits for as many (or the window).
            self._expect = len(batch) + len(self._pending)
            self._timer = loop.call_later(self.window, self._flush, loop)
        else:
            self._busy = False


_writers_lock = threading.Lock()


def writer_of(app: Any) -> GroupWriter:
    with _writers_lock:
        writer = getattr(app.state, "check_writer", None)
        if writer is None:
            writer = app.state.check_writer = GroupWriter(app.state.db)
        return writer
