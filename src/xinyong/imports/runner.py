"""The job runner: reads a job's file and ingests it chunk by chunk. It owns its transactions.

Each chunk is ONE transaction: :func:`xinyong.records.service.ingest` (``channel="file"``) writes the
chunk's records, subjects, revisions, rejections and audit entry; the runner adds the chunk's row
errors and advances ``rows_done`` and the counts, then commits. A crash or a ``kill -9`` therefore
leaves whole chunks or nothing, and ``rows_done`` always says exactly how far the committed work
goes. Resuming continues from ``rows_done`` (and re-processing a row would be harmless anyway:
records are idempotent by (department, source id)).

A job is held by one runner at a time: claiming sets a random ``runner`` token, and every chunk's
update is guarded by ``runner = token AND rows_done = <where this chunk starts>``. If a job was
taken over (the holder looked dead and was resumed), the old holder's next chunk rolls back and it
stops.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from xinyong import bulk, clock
from xinyong.audit.service import Actor, record
from xinyong.catalog.service import Item
from xinyong.db import utcnow
from xinyong.imports import prepare
from xinyong.imports.models import ImportFile, ImportJob, ImportRowError
from xinyong.imports.parsers import FileError
from xinyong.imports.prepare import helper_wanted
from xinyong.imports.service import (
    MAX_ERRORS_PER_ROW,
    STALE_SECONDS,
    ImportsError,
    check_runnable,
    department_inactive,
    job_notes,
    load_file,
    noted_columns,
    notes_after_reading,
)
from xinyong.privacy.vault import Vault
from xinyong.records.models import Rejection
from xinyong.records.service import (
    DepartmentInactive,
    DepartmentRef,
    FileBatch,
    checked_from_packed,
    ingest,
    lock_department,
    rejection_row,
)

log = logging.getLogger("xinyong.imports")

CHUNK_SIZE = 5000  # rows per transaction: commits and after-change handlers cost per chunk (5,000 vs 2,000: ~20% faster)
HEARTBEAT_SECONDS = 10.0
_J = ImportJob.__table__
_E = ImportRowError.__table__
_REJ = Rejection.__table__


class UnitOfWork(Protocol):
    def session(self) -> Any: ...  # a context manager yielding a Session, committing at its end


class LostJob(RuntimeError):
    """Another runner holds the job now (or it was reset): stop without writing."""


@dataclass
class Progress:
    job_id: int
    status: str
    rows_total: int | None
    rows_done: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    error_code: str | None = None
    error_message: str | None = None


def _progress(job: ImportJob) -> Progress:
    return Progress(job.id, job.status, job.rows_total, job.rows_done, job.created, job.updated,
                    job.unchanged, job.rejected, job.error_code, job.error_message)


def _guard(job_id: int, token: str) -> Any:
    return and_(_J.c.id == job_id, _J.c.runner == token, _J.c.status == "running")


def _touch(session: Session, job_id: int, token: str, **values: Any) -> None:
    res = session.execute(update(_J).where(_guard(job_id, token)).values(heartbeat_at=utcnow(), **values))
    if res.rowcount != 1:  # type: ignore[attr-defined]
        raise LostJob(job_id)


def _actor(job: ImportJob) -> Actor:
    return Actor(type=job.actor_type, id=job.actor_id, label=job.created_by, department_id=job.department_id)


def claim(db: UnitOfWork, job_id: int, *, stale_after: float = STALE_SECONDS) -> str | None:
    """Take the job if it is pending, interrupted, or running with a stale heartbeat. Returns the token."""
    token = secrets.token_hex(8)
    now = utcnow()
    with db.session() as s:
        res = s.execute(
            update(_J).where(_J.c.id == job_id, or_(
                _J.c.status.in_(("pending", "interrupted")),
                and_(_J.c.status == "running", _J.c.heartbeat_at < now - timedelta(seconds=stale_after)),
            )).values(status="running", runner=token, heartbeat_at=now, attempts=_J.c.attempts + 1,
                      error_code=None, error_message=None))
        if res.rowcount != 1:  # type: ignore[attr-defined]
            return None
        s.execute(update(_J).where(_J.c.id == job_id, _J.c.started_at.is_(None)).values(started_at=now))
    return token


def _finish(db: UnitOfWork, job_id: int, token: str, *, status: str, error: tuple[str, str] | None = None,
            drop_file: bool) -> None:
    with db.session() as s:
        values: dict[str, Any] = {"status": status, "runner": None}
        if status in ("done", "failed"):
            values["finished_at"] = utcnow()
        if error is not None:
            values["error_code"], values["error_message"] = error
        _touch(s, job_id, token, **values)
        if drop_file:  # the bytes hold raw ID numbers: keep them no longer than a resume may need them
            s.execute(delete(ImportFile).where(ImportFile.job_id == job_id))
        job = s.get(ImportJob, job_id)
        assert job is not None
        s.refresh(job)
        action = {"done": "imports.finish", "failed": "imports.fail"}.get(status, "imports.interrupt")
        record(s, actor=_actor(job), action=action, object_type="import_job", object_id=job_id,
               outcome="ok" if status == "done" else "error",
               details={"rows_total": job.rows_total, "rows_done": job.rows_done, "created": job.created,
                        "updated": job.updated, "unchanged": job.unchanged, "rejected": job.rejected,
                        "error": job.error_code,
                        # the hidden columns the job notes once its file was read (imports.create: at upload)
                        **({"hidden_columns": cols} if (cols := noted_columns(job, "hidden_columns")) else {})})


def run_job(db: UnitOfWork, vault: Vault, job_id: int, *, chunk_size: int = CHUNK_SIZE,
            today: date | None = None, on_progress: Callable[[Progress], None] | None = None,
            stale_after: float = STALE_SECONDS, helper: bool | None = None) -> Progress | None:
    """Process a job to the end (or until an error). Returns the final progress, or None if the job
    could not be claimed (finished, or held by a live runner). ``helper``: prepare the file in a
    helper process (``imports.prepare``; None: when :func:`prepare.helper_wanted` says so)."""
    token = claim(db, job_id, stale_after=stale_after)
    if token is None:
        return None
    try:
        return _run(db, vault, job_id, token, chunk_size=chunk_size, today=today, on_progress=on_progress,
                    helper=helper)
    except LostJob:
        log.warning("import job %s was taken over by another runner; this one stops", job_id)
        return None
    except ImportsError as exc:  # its department or item changed while it waited: not the file's fault
        try:
            _finish(db, job_id, token, status="interrupted", error=(exc.code, exc.message[:2000]), drop_file=False)
        except LostJob:
            return None
    except FileError as exc:
        try:
            _finish(db, job_id, token, status="failed", error=(exc.code, exc.message[:2000]), drop_file=True)
        except LostJob:
            return None
    except Exception as exc:  # noqa: BLE001 - recorded on the job, which can be resumed
        log.exception("import job %s stopped by an unexpected error", job_id)
        try:
            _finish(db, job_id, token, status="interrupted", drop_file=False, error=(
                "processing_error", f"处理时出错（{type(exc).__name__}），可以继续导入 / "
                                    f"processing stopped ({type(exc).__name__}); the job can be resumed"))
        except Exception:  # noqa: BLE001 - the database may be down: the heartbeat will go stale
            log.exception("import job %s: could not record the interruption", job_id)
    with db.session() as s:
        job = s.get(ImportJob, job_id)
        return _progress(job) if job is not None else None


def _run(db: UnitOfWork, vault: Vault, job_id: int, token: str, *, chunk_size: int, today: date | None,
         on_progress: Callable[[Progress], None] | None, helper: bool | None) -> Progress:
    with db.session() as s:
        job = s.get(ImportJob, job_id)
        assert job is not None
        department, item = check_runnable(s, job=job)  # ImportsError: the job stays interrupted
        data = load_file(s, vault=vault, job_id=job_id)
        actor = _actor(job)
        # the department delivered its rows when it uploaded the file: their delay is counted to
        # that day, however long the job waited or was interrupted
        arrived_on = clock.day_of(job.created_at)
        pos = job.rows_done
        # on a resumed run, the rows already done that were refused (the report's rows): they stand
        # for nothing when a later row repeats their source id, as in a straight run
        refused = frozenset(s.scalars(select(ImportRowError.row_number).where(
            ImportRowError.job_id == job_id).distinct())) if pos else frozenset()
        notes = job_notes(job)
        counts = {"created": job.created, "updated": job.updated, "unchanged": job.unchanged,
                  "rejected": job.rejected}
    if data is None:
        raise FileError("file_missing", "找不到该任务的文件，请重新上传",
                        "the job's file is gone; upload it again")
    items = {item.code: item}
    with _Preparation(db, job_id, token, data, item, department,
                      helper=helper_wanted(data) if helper is None else helper) as prep:
        del data
        info = prep.open(pos, chunk_size, today=today, sent_on=arrived_on, refused=refused)
        total = info.total
        # the whole file read: a hidden column of the item that holds no value is no longer noted
        read_notes = notes_after_reading(notes, info.hidden_with_values)
        with db.session() as s:
            _touch(s, job_id, token, rows_total=total, **({"notes": read_notes or None} if read_notes != notes else {}))
        # A file is one batch: repeats of a source id are compared across chunks (records.service.FileBatch);
        # a resumed run knows the ids of the rows already done
        file = FileBatch(before=info.before)
        while pos < total:
            plan = prep.next()
            assert plan.start == pos
            with db.session() as s:
                try:
                    delta = _chunk(s, plan, column_of=info.column_of, item_code=item.code, vault=vault,
                                   department=department, actor=actor, items=items, job_id=job_id, file=file)
                except DepartmentInactive as exc:  # deactivated while the job ran: this chunk written not at all
                    raise department_inactive() from exc
                res = s.execute(update(_J).where(_guard(job_id, token), _J.c.rows_done == pos).values(
                    rows_done=pos + plan.size, heartbeat_at=utcnow(),
                    **{k: _J.c[k] + v for k, v in delta.items()}))
                if res.rowcount != 1:  # type: ignore[attr-defined]
                    raise LostJob(job_id)
            pos += plan.size
            for k, v in delta.items():
                counts[k] += v
            if on_progress is not None:
                on_progress(Progress(job_id, "running", total, pos, **counts))
    _finish(db, job_id, token, status="done", drop_file=True)
    return Progress(job_id, "done", total, pos, **counts)


class _Preparation:
    """The file side of a run (``imports.prepare``). The runner reads the file itself (its row count,
    the ids already done on a resumed run, the first chunk); with ``helper``, a helper process reads
    it too, meanwhile, and prepares the following chunks, a couple ahead of the one being written.
    If the helper fails, the runner prepares the rest itself, from the chunk the helper did not give:
    it is a speed-up, never the only way. While waiting for the helper (or reading a long XLSX), the
    job's heartbeat is kept, so that the runner does not look dead."""

    AHEAD = 2  # chunks asked of the helper beyond the one being written
    # How long an answer of the helper is waited for: PATIENCE_FACTOR times what the runner took to read
    # the file (the helper's first answer is its own reading of it and a chunk, a later one a chunk),
    # and at least PATIENCE seconds (a loaded machine). A helper that takes longer is stopped or stuck:
    # the runner prepares the chunk itself.
    PATIENCE, PATIENCE_FACTOR = float(STALE_SECONDS), 10.0

    def __init__(self, db: UnitOfWork, job_id: int, token: str, data: bytes, item: Item,
                 department: DepartmentRef, *, helper: bool) -> None:
        self.db, self.job_id, self.token = db, job_id, token
        self._data: bytes | None = data
        self.item, self.department = item, department
        self.local: prepare.FilePreparer | None = None
        self.helper: prepare.HelperPreparer | None = None
        self.asked: deque[int] = deque()  # starts of the chunks asked of the helper, in order
        self._beat = time.monotonic()
        if helper:
            try:
                self.helper = prepare.HelperPreparer(data, item, department, wait=self._tick,
                                                     every=HEARTBEAT_SECONDS / 2)
            except Exception as exc:  # noqa: BLE001 - no helper: the work is done here
                self._drop_helper("start", exc)

    def __enter__(self) -> _Preparation:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._data = None
        self._drop_helper()

    def _drop_helper(self, failed: str | None = None, exc: BaseException | None = None) -> None:
        if failed is not None:
            log.warning("import job %s: the helper process failed (%s: %s); the runner carries on alone",
                        self.job_id, failed, exc)
        self.asked.clear()
        if self.helper is not None:
            helper, self.helper = self.helper, None
            helper.close()

    def _tick(self, _rows: int = 0) -> None:
        if time.monotonic() - self._beat > HEARTBEAT_SECONDS:
            with self.db.session() as s:
                _touch(s, self.job_id, self.token)
            self._beat = time.monotonic()

    def open(self, pos: int, chunk_size: int, *, today: date | None, sent_on: date,
             refused: AbstractSet[int] = frozenset()) -> prepare.FileInfo:
        """Read the file here (FileError: refused) and plan the chunks from row ``pos``."""
        assert self._data is not None
        began = time.monotonic()
        self.local = prepare.FilePreparer(self._data, self.item, self.department, tick=self._tick)
        self._data = None
        if self.helper is not None:
            self.helper.patience = max(self.PATIENCE, self.PATIENCE_FACTOR * (time.monotonic() - began))
        info = self.local.info(pos, refused)
        self._next, self._total, self._size, self._today, self._sent_on = pos, info.total, chunk_size, today, sent_on
        self._ask_from = pos + chunk_size  # the first chunk is prepared here, while the helper reads the file
        return info

    def _ask(self) -> None:
        while self.helper is not None and len(self.asked) < self.AHEAD and self._ask_from < self._total:
            try:
                self.helper.ask(self._ask_from, self._size, self._day(), self._sent_on)
            except prepare.HelperGone as exc:
                self._drop_helper("ask", exc)
                return
            self.asked.append(self._ask_from)
            self._ask_from += self._size

    def _day(self) -> date:
        return self._today or clock.today()

    def next(self) -> prepare.ChunkPlan:
        """The next chunk's plan (the helper is asked for the ones after it meanwhile)."""
        assert self.local is not None, "open() first"
        start = self._next
        self._next += self._size
        if self.helper is not None and self.asked and self.asked[0] == start:
            self.asked.popleft()
            try:
                plan = self.helper.answer()
                if plan.start != start or plan.size != min(self._size, self._total - start):
                    raise prepare.HelperGone(f"the helper answered rows {plan.start}+{plan.size} for {start}")
                self._ask()
                return plan
            except prepare.HelperGone as exc:  # the helper is a speed-up: this chunk again, here
                self._drop_helper("chunk", exc)
        else:
            self._ask()  # the first chunk: the helper is asked for the next ones before it is prepared here
        return self.local.chunk(start, self._size, self._day(), self._sent_on)


def _chunk(session: Session, plan: prepare.ChunkPlan, *, column_of: dict[str, str], item_code: str, vault: Vault,
           department: DepartmentRef, actor: Actor, items: dict[str, Item], job_id: int,
           file: FileBatch | None = None) -> dict[str, int]:
    """The database side of one chunk, in the caller's transaction: the rows the file's checks refused
    (report and data quality), then the chunk's records through ingestion."""
    errors = [{"job_id": job_id, **e} for e in plan.row_errors]
    delta = {"created": 0, "updated": 0, "unchanged": 0, "rejected": plan.rejected}
    # the department's turn, whatever the chunk holds: a chunk of rows the file's own checks refused
    # reaches no ingestion, and must not go on (nor log rejections) for a department deactivated meanwhile
    if not lock_department(session, department.id):
        raise DepartmentInactive("push")
    if plan.refused_rows:  # rows the file's own checks refused count in the data quality like the records' refusals
        now = utcnow()
        bulk.insert_rows(session, _REJ, [
            rejection_row(department_id=department.id, item_code=item_code, source_id=source, channel="file",
                          errors=errs, now=now) for source, errs in plan.refused_rows])
    if plan.refs:
        records = [{"item": i, "source_id": s} for i, s in plan.refs]  # what ingestion logs of a refused record
        checked = checked_from_packed(records, department=department, today=plan.today, sent_on=plan.sent_on,
                                      refused=plan.refused, packed=plan.packed, items=items, vault=vault)
        if file is not None:
            file.rows = plan.numbers
        for o in ingest(session, vault=vault, department=department, records=records, actor=actor,
                        channel="file", items=items, file=file, checked=checked):
            delta[o.status] += 1
            if o.errors:
                n = plan.numbers[o.index]
                for e in o.errors[:MAX_ERRORS_PER_ROW]:
                    fld = str(e.get("field") or "row")
                    errors.append({"job_id": job_id, "row_number": n, "header": column_of.get(fld),
                                   "field": fld[:64], "code": str(e.get("code") or "invalid")[:32],
                                   "message": str(e.get("message") or "")})
    if errors:
        for e in errors:
            if e["header"] is not None:
                e["header"] = e["header"][:128]
        bulk.insert_rows(session, _E, errors)
    return delta


def job_progress(session: Session, job_id: int) -> Progress | None:
    job = session.scalar(select(ImportJob).where(ImportJob.id == job_id))
    return None if job is None else _progress(job)
