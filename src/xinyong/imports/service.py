"""Import jobs: create (quick file check, sealed copy of the bytes), read, resume, report, templates.

Services take a ``Session`` and never commit; the caller (a request, a CLI command) owns the unit of
work. The one exception lives next door: :mod:`xinyong.imports.runner` processes a job in chunks and
commits each chunk itself (it is the unit-of-work owner, like a request).

Status of a job: ``pending`` (created or resumed, waiting for a runner), ``running``, ``done``,
``failed`` (a file-level error: nothing more can be done with this file) and ``interrupted`` (the
process stopped or an unexpected error: resume it). A ``running`` job whose heartbeat is older than
:data:`STALE_SECONDS` is reported, and may be resumed, as ``interrupted``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, delete, func, select, union_all, update
from sqlalchemy.orm import Session

from xinyong import bulk
from xinyong.audit.service import Actor, record, record_many
from xinyong.audit.service import record_refusal as audit_refusal
from xinyong.auth.models import Department
from xinyong.catalog.service import get_current
from xinyong.catalog.spec import CODE_RE, ItemSpec
from xinyong.db import utcnow
from xinyong.imports import parsers
from xinyong.imports.models import ImportFile, ImportJob, ImportRowError
from xinyong.imports.parsers import FileError
from xinyong.privacy.masking import mask_id_numbers_in
from xinyong.privacy.vault import Vault
from xinyong.records.service import DepartmentRef

STALE_SECONDS = 60
FILE_TABLE, FILE_COLUMN = "import_files", "content"
MAX_ERRORS_PER_ROW = 20


class ImportsError(Exception):
    """A refusal that is not about the file's content (unknown job, not resumable …)."""

    def __init__(self, status: int, code: str, zh: str, en: str, field: str | None = None) -> None:
        self.status, self.code, self.zh, self.en, self.field = status, code, zh, en, field
        super().__init__(f"{zh} / {en}")

    @property
    def message(self) -> str:
        return f"{self.zh} / {self.en}"

    @property
    def errors(self) -> list[dict[str, str]] | None:
        return [{"field": self.field, "code": self.code, "message": self.message}] if self.field else None


# ---- creating a job -----------------------------------------------------------------------------

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\u2028\u2029<>:\"|?*]")


def sanitise_filename(name: str | None) -> str:
    """The file's own name only: no directories, no control, format or shell-special characters, ≤ 200 chars,
    and an ID number in it masked (``12010119800506101X_李四.csv`` is a name people give files; the
    name is stored, listed and shown)."""
    name = unicodedata.normalize("NFC", name or "")
    # invisible format characters (Unicode Cf) go: a right-to-left override (U+202E) shows
    # ``报告\u202Eslx.exe`` as ``报告exe.xls``, a zero-width space hides inside a number
    name = "".join(ch for ch in name if unicodedata.category(ch) != "Cf")
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip().strip(".")
    return mask_id_numbers_in(name)[:200] or "upload"


def too_large(size: int, limit: int) -> FileError:
    mb = limit / (1024 * 1024)
    return FileError("too_large", f"文件过大（上限 {mb:g} MB），请拆分后分别导入",
                     f"the file is too large (limit {mb:g} MB); split it and import the parts", status=413)


def shown_code(code: str | None) -> str:
    """A user-given code (an item, a scenario, a measure) made safe to echo and to store: no control
    characters, ≤ 64 characters, and no ID number — a caller that swapped two fields must not get
    the number echoed in an error message or stored in a register."""
    return mask_id_numbers_in(_UNSAFE_NAME.sub("?", code or ""))[:64]


def item_for(session: Session, *, item_code: str, department: DepartmentRef) -> Any:
    """The current catalog item, if this department may push it."""
    item = get_current(session, item_code) if item_code and CODE_RE.match(item_code) else None
    if item is None:
        shown = shown_code(item_code)
        raise ImportsError(422, "unknown_item", f"目录中没有事项 {shown}", f"unknown catalog item {shown!r}",
                           "item")
    if not item.spec.allows_department(department.code):
        raise ImportsError(403, "item_not_allowed", f"本部门无权报送事项 {item_code}",
                           f"this department may not push item {item_code}", "item")
    return item


def create_job(session: Session, *, vault: Vault, department: DepartmentRef, item_code: str,
               filename: str | None, data: bytes, actor: Actor, max_bytes: int | None = None) -> ImportJob:
    """Check the file (type, size, encoding, header, at least one row) and register a pending job with
    a sealed copy of the bytes. Raises :class:`FileError` or :class:`ImportsError`; writes nothing then."""
    if max_bytes is not None and len(data) > max_bytes:
        raise too_large(len(data), max_bytes)
    item = item_for(session, item_code=item_code, department=department)
    sniffed, header = parsers.read_header(data, item.spec, filename=filename)
    notes = file_notes(header)
    now = utcnow()
    job = ImportJob(department_id=department.id, item_code=item.code, filename=sanitise_filename(filename),
                    sha256=hashlib.sha256(data).hexdigest(), size=len(data), format=sniffed.format,
                    encoding=sniffed.encoding, status="pending", rows_done=0, created=0, updated=0,
                    unchanged=0, rejected=0, actor_type=actor.type, actor_id=actor.id, created_by=actor.label,
                    attempts=0, created_at=now, heartbeat_at=now, notes=notes or None)
    session.add(job)
    session.flush()
    blob, kid = vault.seal_blob(data, FILE_TABLE, FILE_COLUMN, str(job.id))
    session.add(ImportFile(job_id=job.id, key_id=kid, content=blob))
    record(session, actor=actor, action="imports.create", object_type="import_job", object_id=job.id,
           details={"item": job.item_code, "filename": job.filename, "sha256": job.sha256, "size": job.size,
                    "format": job.format, "encoding": job.encoding,
                    **{code: cols for code in ("ignored_columns", "hidden_columns")
                       if (cols := noted_columns(job, code))}})
    session.flush()
    return job


MAX_IGNORED_SHOWN = 20


def file_notes(header: parsers.Header) -> list[dict[str, Any]]:
    """What the job says of its file besides its rows: the columns accepted and ignored (序号, 备注 …),
    and the item's columns that the workbook hides (imported as any other, but the officer may not
    have seen their values), by their headers as written (an item's or a fixed set's names, at most
    64 characters each)."""
    notes: list[dict[str, Any]] = []
    ignored = [h[:64] for h in header.ignored[:MAX_IGNORED_SHOWN]]
    if ignored:
        zh, en = "、".join(f"“{h}”" for h in ignored), ", ".join(f"'{h}'" for h in ignored)
        notes.append({"code": "ignored_columns", "columns": ignored,
                      "message": f"已忽略的列：{zh}（序号、备注等列的内容不导入，也不保存） / columns ignored: {en} (the "
                                 "content of a row number or remark column is neither imported nor stored)"})
    hidden = hidden_columns_note(header.hidden_read, read=False)
    if hidden is not None:
        notes.append(hidden)
    return notes


def hidden_columns_note(hidden_read: Sequence[tuple[str, str]], *, read: bool = True) -> dict[str, Any] | None:
    """The note ``hidden_columns`` for the item's columns the workbook hides, (header, letters) each;
    None for none. ``read=False``: the upload's quick check, which has seen the header and one row —
    every hidden column of the item, whether it holds a value or not (telling would mean reading the
    whole file in the upload's request, which the job does as it starts) —, so the note says they
    will be imported if they hold values, and that it will keep only those that do
    (:func:`notes_after_reading`): the upload's answer (the API's 202, the job page before the job
    starts) never says columns were imported that import nothing."""
    hidden = [(h[:64], letters) for h, letters in hidden_read[:MAX_IGNORED_SHOWN]]
    if not hidden:
        return None
    zh = "、".join(f"“{h}”（隐藏的{letters}列）" for h, letters in hidden)
    en = ", ".join(f"'{h}' (hidden column {letters})" for h, letters in hidden)
    if not read:
        message = (f"表格隐藏了本事项的列：{zh}。这些列在表格中看不到，其中的内容将照常导入；读完整个文件后，本提示只保留"
                   f"有内容的列：请取消隐藏，核对其内容 / the sheet hides columns of the item: {en}. They cannot be "
                   "seen on the sheet, and any values in them will be imported as any other column's; once the whole "
                   "file is read, this note keeps only the columns that hold a value: unhide them and check the values")
    else:
        message = (f"已导入隐藏的列：{zh}。这些列在表格中看不到，其内容已照常导入：请取消隐藏，核对其内容 / "
                   f"hidden columns imported: {en}. They cannot be seen on the sheet, and their values "
                   "were imported as any other column's: unhide them and check the values")
    return {"code": "hidden_columns", "columns": [h for h, _letters in hidden], "message": message}


def notes_after_reading(notes: Sequence[dict[str, Any]], hidden_with_values: Sequence[tuple[str, str]],
                        ) -> list[dict[str, Any]]:
    """A job's notes once its whole file is read: the upload's check (:func:`file_notes`) saw the header
    and one row, so it noted every hidden column of the item; a hidden column that holds no value in any
    data row imports nothing unseen, and its note would only be noise. The note ``hidden_columns`` keeps
    the columns with a value (``hidden_with_values``), and goes if none has one."""
    kept = hidden_columns_note(hidden_with_values)
    out = [n for n in notes if n.get("code") != "hidden_columns"]
    if kept is not None and any(n.get("code") == "hidden_columns" for n in notes):
        out.append(kept)
    return out


def job_notes(job: ImportJob) -> list[dict[str, Any]]:
    """The job's notes (:func:`file_notes`), none for a job before they were kept."""
    return [n for n in (job.notes or []) if isinstance(n, dict)]


def ignored_columns(job: ImportJob) -> list[str]:
    """The headers of the columns the job's file held that were ignored (序号, 备注 …)."""
    return noted_columns(job, "ignored_columns")


def noted_columns(job: ImportJob, code: str) -> list[str]:
    """The headers of the columns the job's note ``code`` names (``ignored_columns``, ``hidden_columns``)."""
    return [str(c) for n in job_notes(job) if n.get("code") == code for c in n.get("columns") or []]


def record_refusal(session: Session, *, actor: Actor, item_code: str | None, filename: str | None, size: int,
                   error: FileError | ImportsError, via: str | None = None) -> None:
    """Audit a refused upload (the caller rolls its work back first and commits this entry).
    ``via``: ``cli`` for the CLI's (``xinyong import``), whose entries say so."""
    details = {"item": shown_code(item_code), "filename": sanitise_filename(filename), "size": size,
               "code": error.code}
    if via is not None:
        details["via"] = via
    record(session, actor=actor, action="imports.create", object_type="import_job", outcome="denied",
           details=details)


def load_file(session: Session, *, vault: Vault, job_id: int) -> bytes | None:
    stored = bulk.sealed_blob(session, ImportFile.__table__, {"job_id": job_id})
    if stored is None:
        return None
    return vault.reveal_blob(stored[0], FILE_TABLE, FILE_COLUMN, str(job_id), stored[1])


def reseal_files(session: Session, *, vault: Vault) -> int:
    """Key rotation: re-encrypt the kept files of unfinished jobs under the active key."""
    return bulk.reseal_blobs(session, vault=vault, table=ImportFile.__table__, key=("job_id",),
                             sealed_as=lambda k: (FILE_TABLE, FILE_COLUMN, str(k["job_id"])))


def sealed_key_counts(session: Session, active: str) -> dict[str, int]:
    """Key rotation: kept files under each key other than ``active``."""
    return bulk.sealed_key_counts(session, ImportFile.__table__, active)


# ---- keeping uploads no longer than needed ----------------------------------------------------------

UPLOAD_KEEP_DAYS = 30  # an unfinished job's sealed upload (raw ID numbers) is kept this long after its last activity


def expire_uploads(session: Session, *, jobs: Table, files: Table, now: datetime, files_where: Sequence[Any] = (),
                   days: int = UPLOAD_KEEP_DAYS) -> list[int]:
    """Delete the sealed uploads of jobs left unfinished — interrupted, or pending or running with no
    sign of a runner — for ``days`` since their last activity: the bytes hold raw ID numbers, kept
    only so that a job can be resumed. Such a job stays ``interrupted`` with ``file_expired`` (a
    resume answers that its file is gone). Shared by the imports and the batch comparisons
    (``files_where``: which of a job's files). Returns the job ids; the caller audits."""
    last = func.coalesce(jobs.c.heartbeat_at, jobs.c.created_at)
    stale = and_(jobs.c.status.in_(("pending", "running", "interrupted")), last < now - timedelta(days=days))
    ids = sorted(session.scalars(select(jobs.c.id).where(stale, jobs.c.id.in_(select(files.c.job_id)
                                                                              .where(*files_where))))
                 .all())
    if not ids:
        return []
    # guarded by the same condition: a runner that took the job meanwhile keeps it (and its file)
    session.execute(update(jobs).where(jobs.c.id.in_(ids), stale).values(
        status="interrupted", runner=None, error_code="file_expired",
        error_message=f"上传的文件已保存{days}天而任务未继续，已删除：请重新上传 / the uploaded file was kept {days} days "
                      "without the job going on, and was deleted: upload it again"))
    expired = sorted(session.scalars(select(jobs.c.id).where(jobs.c.id.in_(ids), jobs.c.error_code == "file_expired",
                                                            jobs.c.status == "interrupted")).all())
    if expired:
        session.execute(delete(files).where(files.c.job_id.in_(expired), *files_where))
    return expired


def expire_files(session: Session, *, actor: Actor, now: datetime | None = None) -> int:
    """:func:`expire_uploads` for the import jobs (the daily upkeep). Audited (``imports.expire_files``)."""
    ids = expire_uploads(session, jobs=ImportJob.__table__, files=ImportFile.__table__, now=now or utcnow())
    # one entry a job: each job's own trail shows its file deleted
    record_many(session, actor=actor, action="imports.expire_files", object_type="import_job",
                items=[(jid, {"days": UPLOAD_KEEP_DAYS}) for jid in ids])
    return len(ids)


# ---- reading jobs -------------------------------------------------------------------------------

def record_read(session: Session, *, actor: Actor, job_id: int, status: str, rows_done: int,
                rows_total: int | None, errors_shown: int, via: str) -> None:
    """Audit a successful look at a job (``imports.read``): how it stood and how many of its rejected
    rows were shown — counts, never a row's content. ``via``: ``api`` or ``page``."""
    record(session, actor=actor, action="imports.read", object_type="import_job", object_id=job_id,
           details={"status": status, "rows_done": rows_done, "rows_total": rows_total,
                    "errors_shown": errors_shown, "via": via})


def record_list(session: Session, *, actor: Actor, jobs: Sequence[ImportJob], before_id: int | None, limit: int,
                via: str) -> None:
    """Audit a list of jobs read (``imports.list``, as ``records.list``): what was asked and the ids shown."""
    record(session, actor=actor, action="imports.list", object_type="import_job",
           details={"before_id": before_id, "limit": limit, "count": len(jobs), "jobs": [j.id for j in jobs],
                    "via": via})


def effective_status(job: ImportJob, now: datetime | None = None, stale_after: float = STALE_SECONDS) -> str:
    """``running`` or ``pending`` with a heartbeat older than ``stale_after`` seconds → ``interrupted``."""
    if job.status in ("running", "pending"):
        beat = job.heartbeat_at or job.created_at
        if beat is not None and (now or utcnow()) - beat > timedelta(seconds=stale_after):
            return "interrupted"
    return job.status


def get_job(session: Session, *, job_id: int, department_id: int | None,
            any_department: bool = False) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None or (not any_department and job.department_id != department_id):
        raise ImportsError(404, "not_found", "导入任务不存在", "import job not found")
    return job


def list_jobs(session: Session, *, department_id: int | None, any_department: bool = False,
              before_id: int | None = None, limit: int = 50) -> list[ImportJob]:
    stmt = select(ImportJob).order_by(ImportJob.id.desc()).limit(limit)
    if not any_department:
        stmt = stmt.where(ImportJob.department_id == department_id)
    if before_id is not None:
        stmt = stmt.where(ImportJob.id < before_id)
    return list(session.scalars(stmt))


def row_errors(session: Session, *, job_id: int, limit: int | None = None,
               after_id: int = 0) -> list[ImportRowError]:
    stmt = (select(ImportRowError).where(ImportRowError.job_id == job_id, ImportRowError.id > after_id)
            .order_by(ImportRowError.row_number, ImportRowError.id))
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


FIRST_ERRORS = 10  # rejected rows shown with a job (the full report is errors.csv)


def first_row_errors(session: Session, *, job_ids: Sequence[int],
                     limit: int = FIRST_ERRORS) -> dict[int, list[ImportRowError]]:
    """The first ``limit`` errors (by row) of each of these jobs, in ONE query: a ``UNION ALL`` of one
    ``LIMIT`` per job, each read from the (job, row) index, so a page of jobs costs one statement and no
    more rows than it shows, however many rows the jobs rejected (a window over all of their errors
    would read them all)."""
    ids = list(dict.fromkeys(job_ids))
    if not ids:
        return {}
    t = ImportRowError.__table__
    arms = [select(t).where(t.c.job_id == job_id).order_by(t.c.row_number, t.c.id).limit(limit).subquery()
            for job_id in ids]
    stmt = union_all(*(select(arm) for arm in arms)) if len(arms) > 1 else select(arms[0])
    out: dict[int, list[ImportRowError]] = {job_id: [] for job_id in ids}
    for row in session.execute(select(ImportRowError).from_statement(stmt)).scalars():
        out[row.job_id].append(row)
    for errors in out.values():
        errors.sort(key=lambda e: (e.row_number, e.id))
    return out


# ---- resuming -----------------------------------------------------------------------------------

def department_inactive() -> ImportsError:
    """The refusal of a job whose department is missing or deactivated — before it runs, or found by
    a chunk's ingestion while it runs (``records.service.DepartmentInactive``)."""
    return ImportsError(409, "department_inactive",
                        "部门不存在或已停用，暂不能继续导入：任务保持中断、文件保留，部门恢复启用后可以继续",
                        "the department is missing or inactive, so the job cannot run now: it stays "
                        "interrupted with its file, and can be resumed once the department is active again")


def check_runnable(session: Session, *, job: ImportJob) -> tuple[DepartmentRef, Any]:
    """The job's department and current catalog item, if the job may run now. These may change while a
    job waits (a department deactivated, an item withdrawn from it): that is not the file's fault, so
    the refusal (409) leaves the job as it is, with its file, to be resumed once it may run again."""
    dept = session.get(Department, job.department_id)
    if dept is None or not dept.active:
        raise department_inactive()
    item = get_current(session, job.item_code)
    if item is None:
        raise ImportsError(409, "unknown_item",
                           f"目录中已没有事项 {job.item_code}，暂不能继续导入：任务保持中断、文件保留",
                           f"catalog item {job.item_code} is gone, so the job cannot run now: it stays "
                           "interrupted with its file")
    if not item.spec.allows_department(dept.code):
        raise ImportsError(409, "item_not_allowed",
                           f"本部门已无权报送事项 {job.item_code}，暂不能继续导入：任务保持中断、文件保留，"
                           "恢复权限后可以继续",
                           f"this department may no longer push item {job.item_code}, so the job cannot run "
                           "now: it stays interrupted with its file, and can be resumed once it may again")
    return DepartmentRef(id=dept.id, code=dept.code), item


def resume_job(session: Session, *, job: ImportJob, actor: Actor,
               stale_after: float = STALE_SECONDS) -> ImportJob:
    """Make an interrupted job (or a stalled one) pending again; a runner then continues from
    ``rows_done``. Re-processing rows is harmless anyway: records are idempotent by source id."""
    status = effective_status(job, stale_after=stale_after)
    if status == "done":
        raise ImportsError(409, "already_done", "该导入任务已完成", "this import job is already done")
    if status == "failed":
        raise ImportsError(409, "not_resumable", "文件有错误，无法继续导入：请修改文件后重新上传",
                           "the file was refused and cannot be resumed: correct it and upload it again")
    if status == "running":
        raise ImportsError(409, "job_running", "该导入任务正在进行中", "this import job is running")
    if session.get(ImportFile, job.id) is None:
        raise ImportsError(409, "file_missing", "已找不到该任务的文件，请重新上传",
                           "the job's file is gone; upload it again")
    check_runnable(session, job=job)
    previous = job.status
    job.status, job.runner, job.heartbeat_at = "pending", None, utcnow()
    job.error_code = job.error_message = None
    record(session, actor=actor, action="imports.resume", object_type="import_job", object_id=job.id,
           details={"from_status": status, "stored_status": previous, "rows_done": job.rows_done,
                    "rows_total": job.rows_total})
    session.flush()
    return job


def record_resume_refusal(session: Session, *, actor: Actor, job_id: int, error: ImportsError | FileError,
                          via: str | None = None) -> None:
    """Audit a resume the job's state refused (``already_done``, ``job_running``, ``not_resumable``,
    ``file_missing``, or a department or item that may not run now; from ``xinyong import --resume``
    also ``item_mismatch``, ``file_mismatch`` and ``file_unreadable``): ``imports.resume``, ``denied``,
    with its code — the request's work rolled back, the entry committed on its own — from the API,
    the page and the CLI alike (``via``: ``cli`` for the CLI's)."""
    details: dict[str, Any] = {"code": error.code}
    if via is not None:
        details["via"] = via
    audit_refusal(session, actor=actor, action="imports.resume", object_type="import_job", object_id=job_id,
                  details=details)


# ---- the report ---------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
REPORT_HEADER = ("行号 row", "列 column", "字段 field", "错误代码 code", "说明 message")


def csv_cell(value: Any) -> str:
    """A cell for a CSV export that a spreadsheet will not run as a formula."""
    s = "" if value is None else str(value)
    return "'" + s if s.startswith(_FORMULA_START) else s


def csv_bytes(rows: Sequence[Sequence[Any]]) -> bytes:
    """UTF-8 with BOM (so Excel detects the encoding), CRLF, every cell formula-escaped."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerows([csv_cell(c) for c in r] for r in rows)
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def report_csv(session: Session, *, job: ImportJob, actor: Actor) -> bytes:
    """Every rejected row's errors: row, column, field, code, message. Audited."""
    rows: list[Sequence[Any]] = [REPORT_HEADER]
    rows.extend((e.row_number, e.header or "", e.field, e.code, e.message)
                for e in row_errors(session, job_id=job.id))
    record(session, actor=actor, action="imports.report", object_type="import_job", object_id=job.id,
           details={"rows": len(rows) - 1})
    return csv_bytes(rows)


# ---- templates ----------------------------------------------------------------------------------

def template_csv(spec: ItemSpec) -> bytes:
    """The header row only (no example row that could be imported by mistake)."""
    return csv_bytes([parsers.template_headers(spec)])


_TEXT, _DATE = "文本 text", "日期 date"


def _describe(spec: ItemSpec) -> list[tuple[str, str, str, str, str]]:
    env: list[tuple[str, str, str, str, str]] = [
        (parsers.ENVELOPE_ZH["id_number"], "id_number", _TEXT, "是 yes",
         "18位身份证号码；Excel 中请设置为文本格式 / 18-digit ID number; keep the column formatted as text"),
        (parsers.ENVELOPE_ZH["name"], "name", _TEXT, "是 yes",
         "与身份证一致的姓名 / name as on the ID card"),
        (parsers.ENVELOPE_ZH["source_id"], "source_id", _TEXT, "是 yes",
         "本部门系统中的唯一编号；同一编号再次导入即为更新 / "
         "your system's unique id; the same id again updates the record"),
        (parsers.ENVELOPE_ZH["decided_at"], "decided_at", _DATE, "是 yes", "YYYY-MM-DD"),
    ]
    if spec.severities:
        env.append((parsers.ENVELOPE_ZH["severity"], "severity", "枚举 enum", "是 yes",
                    "、".join(f"{parsers.SEVERITY_LABEL[s]}({s})" for s in spec.severities)))
    types = {"string": _TEXT, "text": _TEXT, "integer": "整数 integer", "number": "数字 number",
             "date": _DATE, "boolean": "是/否 yes/no", "enum": "枚举 enum"}
    for f in spec.fields:
        note = f.shown_allowed() if f.allowed else ""
        if f.type == "date":
            note = "YYYY-MM-DD"
        if f.max_length:
            note = (note + "；" if note else "") + f"最多{f.max_length}字 / at most {f.max_length} characters"
        env.append((f.name_zh, f.name, types.get(f.type, f.type), "是 yes" if f.required else "否 no", note))
    return env


def template_xlsx(spec: ItemSpec) -> bytes:
    """Sheet 1 (read by the import): the header row; the text columns (ID number, name, source id, text
    fields) are formatted as text and date columns as dates. Sheet 2 describes every column."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "数据"
    heads = parsers.template_headers(spec)
    ws.append(heads)
    # formatted as the 说明 sheet types them: every text column (身份证号码, 姓名, 来源编号, text fields)
    # as text, so that Excel keeps what is typed there as typed; date columns as dates
    typed = {column: kind for column, _code, kind, _req, _note in _describe(spec)}
    text_cols = {column for column, kind in typed.items() if kind == _TEXT}
    date_cols = {column for column, kind in typed.items() if kind == _DATE}
    for i, h in enumerate(heads, start=1):
        letter = get_column_letter(i)
        ws.cell(row=1, column=i).font = Font(bold=True)
        dim = ws.column_dimensions[letter]
        dim.width = max(12, min(40, 2 * len(h) + 4))
        if h in text_cols:
            dim.number_format = "@"
        elif h in date_cols:
            dim.number_format = "yyyy-mm-dd"
    ws.freeze_panes = "A2"
    _choices(ws, spec, heads)
    notes = wb.create_sheet("说明")
    notes.append(["列 column", "代码 code", "类型 type", "必填 required", "说明 notes"])
    for row in _describe(spec):
        notes.append(list(row))
    notes.append([])
    notes.append(["只导入第一个工作表；表头用中文名或代码均可 / "
                  "only the first sheet is imported; headers may be the Chinese names or the codes"])
    for c in notes[1]:
        c.font = Font(bold=True)
    for sheet in (ws, notes):
        _as_text(sheet)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _as_text(ws: Any) -> None:
    """Every text cell kept as text: openpyxl stores a string starting with ``=`` as a formula, and the
    template's texts are the catalog's (a field's Chinese name, an enum's labels, written by an
    administrator): ``=HYPERLINK(...)`` there was a live formula in every department's template, as
    the CSV template and exports escape one (``csv_cell``). The header stays exactly the text the
    import matches."""
    for row in ws.iter_rows():
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"


def _choices(ws: Any, spec: ItemSpec, heads: list[str]) -> None:
    """A drop-down list on each column of a few values (严重程度 and the enums), of the values as an
    officer reads them (the Chinese labels where the catalog names them). A warning, not a stop, when
    something else is typed: a code (``district``) is as good as its label."""
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    options: dict[str, list[str]] = {}
    if spec.severities:
        options[parsers.ENVELOPE_ZH["severity"]] = [parsers.SEVERITY_LABEL[s] for s in spec.severities]
    for f in spec.fields:
        if f.type == "enum" and f.allowed:
            options[f.name_zh] = f.choices()
    for i, head in enumerate(heads, start=1):
        values = options.get(head)
        listed = ",".join(values or ())
        # Excel takes a list of at most 255 characters, without commas or quotes inside a value
        if not values or len(listed) > 255 or any("," in v or '"' in v for v in values):
            continue
        dv = DataValidation(type="list", formula1=f'"{listed}"', allow_blank=True, showErrorMessage=True,
                            errorStyle="warning", errorTitle="取值 / value",
                            error="请从列表中选择 / choose a value from the list")
        letter = get_column_letter(i)
        dv.add(f"{letter}2:{letter}{parsers.MAX_ROWS + 1}")
        ws.add_data_validation(dv)


@dataclass(frozen=True)
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0


def counts_of(job: ImportJob) -> Counts:
    return Counts(job.created, job.updated, job.unchanged, job.rejected)
