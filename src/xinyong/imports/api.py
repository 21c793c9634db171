"""Bulk-file imports API: upload (202, processed in a background thread), progress, report, resume,
templates. Department-scoped: a department sees only its own jobs (404 otherwise)."""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from xinyong.audit.service import record_not_found, record_refusal
from xinyong.auth.deps import BodyRefusals, RefusedBody, refused_query, require
from xinyong.auth.models import Department
from xinyong.auth.permissions import allowed
from xinyong.auth.service import Principal
from xinyong.catalog.service import get_current
from xinyong.catalog.spec import CODE_RE, ItemSpec
from xinyong.deps import DbSession, VaultDep
from xinyong.errors import ApiError
from xinyong.imports import service
from xinyong.imports.models import ImportJob, ImportRowError
from xinyong.imports.parsers import FileError
from xinyong.imports.runner import run_job
from xinyong.imports.schemas import (
    CountsOut,
    FileErrorOut,
    JobListOut,
    JobOut,
    NoteOut,
    RowErrorOut,
    error_responses,
)
from xinyong.records.api import department_of
from xinyong.records.service import DepartmentRef

log = logging.getLogger("xinyong.imports")
router = APIRouter(prefix="/api/v1/imports", tags=["imports"], responses=error_responses(401, 403, 422))
Importer = Annotated[Principal, Depends(require("imports.use"))]
JobId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Import job id")]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# ---- the background runner -----------------------------------------------------------------------

class ThreadRunner:
    """Runs jobs in daemon threads of this process, each with its own units of work. If the process
    dies, the job's heartbeat goes stale and it shows as ``interrupted``, ready to be resumed."""

    thread_prefix = "import"  # a job's thread is "<prefix>-<job id>" in thread dumps and py-spy

    def __init__(self, db: Any, vault: Any) -> None:
        self.db, self.vault = db, vault
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self, job_id: int, *args: Any) -> None:
        """Run ``self._run(job_id, *args)`` in a thread of its own."""
        ctx = contextvars.copy_context()  # keeps the request id for the audit entries
        t = threading.Thread(target=ctx.run, args=(self._run, job_id, *args), name=f"{self.thread_prefix}-{job_id}",
                             daemon=True)
        with self._lock:
            self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()

    def _run(self, job_id: int) -> None:
        try:
            run_job(self.db, self.vault, job_id)
        except Exception:  # noqa: BLE001 - a thread must not die silently
            log.exception("import job %s: runner failed", job_id)

    def wait(self, timeout: float | None = 120) -> None:
        """Join the running jobs' threads (tests; orderly shutdown)."""
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout)


_runner_lock = threading.Lock()


def runner_of(app: Any) -> ThreadRunner:
    with _runner_lock:
        runner = getattr(app.state, "import_runner", None)
        if runner is None:
            runner = app.state.import_runner = ThreadRunner(app.state.db, app.state.vault)
        return runner


# ---- output --------------------------------------------------------------------------------------

def job_out(session: Session, job: ImportJob, *, with_errors: bool = True,
            first: Sequence[ImportRowError] | None = None) -> JobOut:
    """``first``: the job's first errors when the caller read them already (a list's one query)."""
    if first is None:
        first = service.row_errors(session, job_id=job.id, limit=service.FIRST_ERRORS) if with_errors else []
    error = FileErrorOut(code=job.error_code, message=job.error_message or "") if job.error_code else None
    status = service.effective_status(job)
    if status == "interrupted" and error is None:
        error = FileErrorOut(code="stalled", message="任务已中断（进程停止），可以继续导入 / the job stopped "
                                                     "(its process ended); resume it")
    counts = CountsOut(created=job.created, updated=job.updated, unchanged=job.unchanged,
                       rejected=job.rejected)
    return JobOut(
        id=job.id, item=job.item_code, filename=job.filename, sha256=job.sha256, size=job.size,
        format=job.format, encoding=job.encoding, status=status, rows_total=job.rows_total,
        rows_done=job.rows_done, counts=counts, error=error,
        first_errors=[RowErrorOut(row=e.row_number, column=e.header, field=e.field, code=e.code,
                                  message=e.message) for e in first],
        ignored_columns=service.ignored_columns(job),
        notes=[NoteOut(code=str(n.get("code") or ""), message=str(n.get("message") or ""),
                       columns=[str(c) for c in n.get("columns") or []]) for n in service.job_notes(job)],
        created_by=job.created_by, created_at=job.created_at, started_at=job.started_at,
        finished_at=job.finished_at, heartbeat_at=job.heartbeat_at,
        report_url=f"/api/v1/imports/{job.id}/errors.csv", resume_url=f"/api/v1/imports/{job.id}/resume",
    )


def _api_error(exc: FileError | service.ImportsError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, exc.errors)


def _job(session: Session, principal: Principal, job_id: int, action: str, *, own: bool = False) -> ImportJob:
    """The job if the caller may see it (``own``: and change it), else not found — the same whether it
    exists or not — and the refused ``action`` registered."""
    try:
        return service.get_job(session, job_id=job_id, department_id=principal.department_id,
                               any_department=not own and allowed(principal.role, "records.read_all"))
    except service.ImportsError as exc:
        record_not_found(session, actor=principal.actor, action=action, object_type="import_job", object_id=job_id)
        raise _api_error(exc) from exc


# ---- routes --------------------------------------------------------------------------------------

@router.post("", status_code=202, response_model=JobOut, responses=error_responses(413),
             summary="Upload a CSV or XLSX file of one catalog item; processed in the background")
def create(request: Request, background: BackgroundTasks, principal: Importer, session: DbSession,
           vault: VaultDep,
           file: Annotated[UploadFile, File(description="CSV (UTF-8 or GBK) or XLSX; one catalog item")],
           item: Annotated[str, Form(min_length=1, max_length=64, description="Catalog item code")],
           ) -> JobOut:
    dept = department_of(session, principal, "imports.use")
    limit = request.app.state.settings.max_request_bytes
    data = file.file.read(limit + 1)
    try:
        job = service.create_job(session, vault=vault, department=dept, item_code=item,
                                 filename=file.filename, data=data, actor=principal.actor, max_bytes=limit)
    except (FileError, service.ImportsError) as exc:
        session.rollback()  # nothing of the refused upload is kept but the audit entry
        service.record_refusal(session, actor=principal.actor, item_code=item, filename=file.filename,
                               size=len(data), error=exc)
        session.commit()
        raise _api_error(exc) from exc
    background.add_task(runner_of(request.app).start, job.id)  # after the commit: the thread sees the job
    return job_out(session, job, with_errors=False)


@router.get("", response_model=JobListOut, summary="My department's import jobs, newest first")
def list_jobs(principal: Importer, session: DbSession,
              before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
              limit: Annotated[int, Query(ge=1, le=200)] = 50) -> JobListOut:
    jobs = service.list_jobs(session, department_id=principal.department_id,
                             any_department=allowed(principal.role, "records.read_all"),
                             before_id=before_id, limit=limit + 1)
    more = len(jobs) > limit
    jobs = jobs[:limit]
    first = service.first_row_errors(session, job_ids=[j.id for j in jobs if j.rejected])
    service.record_list(session, actor=principal.actor, jobs=jobs, before_id=before_id, limit=limit, via="api")
    return JobListOut(items=[job_out(session, j, first=first.get(j.id, [])) for j in jobs],
                      next_before_id=jobs[-1].id if more and jobs else None)


def _template_spec(session: Session, principal: Principal, item: str, fmt: str) -> ItemSpec:
    """The item's spec for its template. A department's caller (its key, its officers) is refused an
    item the department may not push, as the upload of the filled-in file would be (403
    ``item_not_allowed``: ``service.item_for``), and the refusal registered (``imports.template``,
    ``denied``); the credit office, which pushes nothing and owns the catalog, gets any item's."""
    found = get_current(session, item) if CODE_RE.match(item) else None
    if found is None:
        shown = service.shown_code(item)
        raise ApiError(404, "unknown_item", f"目录中没有事项 {shown} / unknown catalog item {shown!r}")
    if principal.department_id is not None:
        dept = session.get(Department, principal.department_id)
        try:
            service.item_for(session, item_code=item,
                             department=DepartmentRef(id=principal.department_id, code=dept.code if dept else ""))
        except service.ImportsError as exc:
            record_refusal(session, actor=principal.actor, action="imports.template", object_type="catalog_item",
                           object_id=found.spec.code, details={"item": found.spec.code, "format": fmt,
                                                               "code": exc.code})
            raise _api_error(exc) from exc
    return found.spec


@router.get("/templates/{item}.csv", summary="CSV template of a catalog item (header row, UTF-8 with BOM)",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}, **error_responses(403, 404)})
def template_csv(item: str, principal: Importer, session: DbSession) -> Response:
    spec = _template_spec(session, principal, item, "csv")
    return Response(service.template_csv(spec), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{spec.code}-template.csv"'})


@router.get("/templates/{item}.xlsx", summary="XLSX template of a catalog item (header row, column notes)",
            response_class=Response, responses={200: {"content": {XLSX_TYPE: {}}}, **error_responses(403, 404)})
def template_xlsx(item: str, principal: Importer, session: DbSession) -> Response:
    spec = _template_spec(session, principal, item, "xlsx")
    return Response(service.template_xlsx(spec), media_type=XLSX_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{spec.code}-template.xlsx"'})


@router.get("/{job_id}", response_model=JobOut, responses=error_responses(404), summary="A job: status, progress, counts, file error")
def get_job(job_id: JobId, principal: Importer, session: DbSession) -> JobOut:
    out = job_out(session, _job(session, principal, job_id, "imports.read"))
    service.record_read(session, actor=principal.actor, job_id=job_id, status=out.status,
                        rows_done=out.rows_done, rows_total=out.rows_total, errors_shown=len(out.first_errors),
                        via="api")
    return out


@router.get("/{job_id}/errors.csv",
            summary="The report: every rejected row (row, column, field, code, message)",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}, **error_responses(404)})
def errors_csv(job_id: JobId, principal: Importer, session: DbSession) -> Response:
    job = _job(session, principal, job_id, "imports.report")
    body = service.report_csv(session, job=job, actor=principal.actor)
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="import-{job.id}-errors.csv"'})


@router.post("/{job_id}/resume", status_code=202, response_model=JobOut, responses=error_responses(404, 409),
             summary="Continue an interrupted job from the rows already done")
def resume(request: Request, background: BackgroundTasks, job_id: JobId, principal: Importer,
           session: DbSession) -> JobOut:
    department_of(session, principal, "imports.use")
    job = _job(session, principal, job_id, "imports.resume", own=True)
    try:
        service.resume_job(session, job=job, actor=principal.actor)
    except service.ImportsError as exc:
        service.record_resume_refusal(session, actor=principal.actor, job_id=job_id, error=exc)
        raise _api_error(exc) from exc
    background.add_task(runner_of(request.app).start, job.id)
    return job_out(session, job)


def _upload_body_refused(session: Session, principal: Principal, refused: RefusedBody) -> None:
    """An upload refused before its file was read — no file or no item sent, a form that cannot be
    read — registered as a refused upload is (``imports.create``), ``failed``, its code and field."""
    record_refusal(session, actor=principal.actor, action="imports.create", object_type="import_job",
                   details=refused.sized({"code": refused.code, "field": refused.field}), outcome="failed")


refused_bodies: BodyRefusals = {
    ("POST", "/api/v1/imports"): (("imports.use",), _upload_body_refused),
    # and so is a read whose path or query the schema refuses (``/imports/abc``, ``?limit=0``), as the
    # other domains' reads are (``auth.deps.refused_query``)
    ("GET", "/api/v1/imports"): (("imports.use",), refused_query("imports.list")),
    ("GET", "/api/v1/imports/{job_id}"): (("imports.use",), refused_query("imports.read")),
    ("GET", "/api/v1/imports/{job_id}/errors.csv"): (("imports.use",), refused_query("imports.report")),
}
