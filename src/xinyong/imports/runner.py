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
import re
import secrets
import time
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from xinyong import bulk, clock
from xinyong.audit.service import Actor, record
from xinyong.db import utcnow
from xinyong.imports import parsers
from xinyong.imports.models import ImportFile, ImportJob, ImportRowError
from xinyong.imports.parsers import FileError, RowMapper
from xinyong.imports.service import (
    MAX_ERRORS_PER_ROW,
    STALE_SECONDS,
    ImportsError,
    check_runnable,
    department_inactive,
    load_file,
)
from xinyong.privacy.vault import Vault
from xinyong.records.models import Rejection
from xinyong.records.service import (
    DepartmentInactive,
    DepartmentRef,
    FileBatch,
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
                        "error": job.error_code})


def run_job(db: UnitOfWork, vault: Vault, job_id: int, *, chunk_size: int = CHUNK_SIZE,
            today: date | None = None, on_progress: Callable[[Progress], None] | None = None,
            stale_after: float = STALE_SECONDS) -> Progress | None:
    """Process a job to the end (or until an error). Returns the final progress, or None if the job
    could not be claimed (finished, or held by a live runner)."""
    token = claim(db, job_id, stale_after=stale_after)
    if token is None:
        return None
    try:
        return _run(db, vault, job_id, token, chunk_size=chunk_size, today=today, on_progress=on_progress)
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
         on_progress: Callable[[Progress], None] | None) -> Progress:
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
        counts = {"created": job.created, "updated": job.updated, "unchanged": job.unchanged,
                  "rejected": job.rejected}
    if data is None:
        raise FileError("file_missing", "找不到该任务的文件，请重新上传",
                        "the job's file is gone; upload it again")

    last_beat = time.monotonic()

    def tick(_rows: int) -> None:  # a long XLSX read must not look like a dead runner
        nonlocal last_beat
        if time.monotonic() - last_beat > HEARTBEAT_SECONDS:
            with db.session() as s2:
                _touch(s2, job_id, token)
            last_beat = time.monotonic()

    parsed = parsers.parse(data, item.spec, tick=tick)
    del data
    total = len(parsed.rows)
    with db.session() as s:
        _touch(s, job_id, token, rows_total=total)
    mapper = RowMapper(item.code, item.spec, parsed.header)
    items = {item.code: item}
    rows = parsed.rows
    # A file is one batch: repeats of a source id are compared across chunks (records.service.FileBatch);
    # a resumed run knows the ids of the rows already done
    file = FileBatch(before=source_ids(rows[:pos], mapper) if pos else frozenset())
    cut = cut_id_numbers(rows, mapper)
    while pos < total:
        chunk = rows[pos : pos + chunk_size]
        with db.session() as s:
            try:
                delta = _chunk(s, chunk, mapper=mapper, fmt=parsed.format, vault=vault, department=department,
                               actor=actor, items=items, today=today, job_id=job_id, file=file, cut=cut,
                               arrived_on=arrived_on)
            except DepartmentInactive as exc:  # deactivated while the job ran: this chunk written not at all
                raise department_inactive() from exc
            res = s.execute(update(_J).where(_guard(job_id, token), _J.c.rows_done == pos).values(
                rows_done=pos + len(chunk), heartbeat_at=utcnow(),
                **{k: _J.c[k] + v for k, v in delta.items()}))
            if res.rowcount != 1:  # type: ignore[attr-defined]
                raise LostJob(job_id)
        pos += len(chunk)
        for k, v in delta.items():
            counts[k] += v
        if on_progress is not None:
            on_progress(Progress(job_id, "running", total, pos, **counts))
    _finish(db, job_id, token, status="done", drop_file=True)
    return Progress(job_id, "done", total, pos, **counts)


def source_ids(rows: Sequence[parsers.Row], mapper: RowMapper) -> frozenset[str]:
    """The source ids of ``rows`` as the row mapper reads them (a whole number typed in a spreadsheet
    and the same digits as text are one id)."""
    col = next((i for i, (_kind, key, _h) in enumerate(mapper.plan) if key == "source_id"), None)
    if col is None:
        return frozenset()
    out = set()
    for _n, cells in rows:
        if col < len(cells):
            key = parsers.cell_text(cells[col])
            if key:
                out.add(key.strip())
    return frozenset(out)


# A spreadsheet keeps 15 significant digits of a number: an ID number typed into a column of
# numbers comes out of it as its first 15 digits and "000". About 1 real ID number in 1,100 ends in
# 000 (a sequence number ending in 00, check digit 0), and one in 11 of the cut ones still passes
# the check digit — so a cut number cannot be told from one row; from a file, it can.
_CUT_BY_SPREADSHEET = re.compile(r"\s*[0-9]{15}000\s*")
CUT_MIN_ROWS, CUT_MIN_SHARE = 3, 0.02  # far above chance (0.09 %): the column was cut


def cut_id_numbers(rows: Sequence[parsers.Row], mapper: RowMapper) -> set[int]:
    """The rows whose ID number looks cut by a spreadsheet (15 digits and 000) in a file where such
    numbers are too many to be real ones: row numbers, refused as ``id_stored_as_number``."""
    col = next((i for i, (_kind, key, _h) in enumerate(mapper.plan) if key == "id_number"), None)
    if col is None or not rows:
        return set()
    cut = {n: cells[col].strip() for n, cells in rows if col < len(cells) and isinstance(cells[col], str)
           and _CUT_BY_SPREADSHEET.fullmatch(cells[col])}
    # counted by distinct numbers: one person whose real number ends in 000 (one in ~1,100) with several
    # rows in a small file is not "many such numbers" (their rows were all refused)
    numbers = set(cut.values())
    if len(numbers) >= CUT_MIN_ROWS and len(numbers) >= CUT_MIN_SHARE * len(rows):
        return set(cut)
    return set()


def _chunk(session: Session, chunk: list[parsers.Row], *, mapper: RowMapper, fmt: str, vault: Vault,
           department: DepartmentRef, actor: Actor, items: dict[str, Any], today: date | None,
           job_id: int, file: FileBatch | None = None, cut: AbstractSet[int] = frozenset(),
           arrived_on: date | None = None) -> dict[str, int]:
    records: list[dict[str, Any]] = []
    numbers: list[int] = []
    errors: list[dict[str, Any]] = []
    rejected = 0
    convert = mapper.converter(fmt)
    for n, cells in chunk:
        if n in cut:
            rejected += 1
            errors.append({"job_id": job_id, "row_number": n, "header": mapper.column_of.get("id_number"),
                           "field": "id_number", "code": "id_stored_as_number",
                           "message": "身份证号码末三位为000，且本文件中这样的号码过多：疑似表格软件按数字保存而截断了末尾数字，"
                                      "请将该列设置为“文本”格式后重新填写 / the ID number ends in 000, as too many in this "
                                      "file do: a spreadsheet that stored the column as numbers cut their last digits; "
                                      "format the column as text and enter the numbers again"})
            continue
        rec, errs = convert(cells)
        if errs:
            rejected += 1
            errors.extend({"job_id": job_id, "row_number": n, "header": (e.get("column") or None),
                           "field": e["field"], "code": e["code"], "message": e["message"]}
                          for e in errs[:MAX_ERRORS_PER_ROW])
        else:
            records.append(rec)
            numbers.append(n)
    delta = {"created": 0, "updated": 0, "unchanged": 0, "rejected": rejected}
    # the department's turn, whatever the chunk holds: a chunk of rows the file's own checks refused
    # reaches no ingestion, and must not go on (nor log rejections) for a department deactivated meanwhile
    if not lock_department(session, department.id):
        raise DepartmentInactive("push")
    if rejected:  # rows the file's own checks refused count in the data quality like the records' refusals
        _log_file_rejections(session, chunk, errors, mapper=mapper, department=department)
    if records:
        column_of = mapper.column_of
        if file is not None:
            file.rows = numbers
        for o in ingest(session, vault=vault, department=department, records=records, actor=actor,
                        channel="file", today=today, items=items, file=file, arrived_on=arrived_on):
            delta[o.status] += 1
            if o.errors:
                n = numbers[o.index]
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


def _log_file_rejections(session: Session, chunk: list[parsers.Row], errors: list[dict[str, Any]], *,
                         mapper: RowMapper, department: DepartmentRef) -> None:
    """The data quality's rejection log (``record_rejections``, channel ``file``) for the rows the
    file's conversion refused before ingestion (an ID number stored as a number, a value without a
    column …): ingestion logs the rows it refuses itself. One row per refused file row, its first
    error's code and field, all its codes."""
    by_row: dict[int, list[dict[str, Any]]] = {}
    for e in errors:
        by_row.setdefault(e["row_number"], []).append(e)
    source_col = next((i for i, (_kind, key, _h) in enumerate(mapper.plan) if key == "source_id"), None)
    cells_of = dict(chunk)
    now = utcnow()
    rows = []
    for n, errs in by_row.items():
        cells = cells_of.get(n) or ()
        source = cells[source_col] if source_col is not None and source_col < len(cells) else None
        rows.append(rejection_row(department_id=department.id, item_code=mapper.item_code,
                                  source_id=parsers.cell_text(source), channel="file",
                                  errors=errs, now=now))
    bulk.insert_rows(session, _REJ, rows)


def job_progress(session: Session, job_id: int) -> Progress | None:
    job = session.scalar(select(ImportJob).where(ImportJob.id == job_id))
    return None if job is None else _progress(job)
