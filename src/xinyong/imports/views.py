"""Department workspace pages for bulk files: upload a CSV/XLSX for one catalog item, follow the
job's progress (HTMX polls every second), read its report, resume it; the list of the
department's import jobs.

Thin: every step goes through :mod:`xinyong.imports.service` and the same background runner as
``POST /api/v1/imports``. A department sees only its own jobs (404 otherwise); the credit office's
administrators see every job. Auditors have no import pages (no ``imports.use``): they follow the
departments' deliveries on the data-quality page and in the records. The report's CSV and the
templates are the API's downloads (they accept the browser's session).

These pages live in imports/ rather than records/views.py because imports/ sits above records/
(it calls ``records.service.ingest``): records/ importing imports/ would close a circle.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    File,
    Form,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    UploadFile,
)
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.audit.service import record_not_found
from xinyong.auth.deps import audit_refusal, page_refusals, require
from xinyong.auth.models import Department
from xinyong.auth.permissions import allowed
from xinyong.auth.service import Principal
from xinyong.catalog.service import Item, current_items, get_current
from xinyong.catalog.spec import CODE_RE
from xinyong.deps import DbSession, VaultDep
from xinyong.imports import service
from xinyong.imports.api import runner_of
from xinyong.imports.models import ImportJob
from xinyong.imports.parsers import FileError
from xinyong.records.service import DepartmentRef
from xinyong.web.i18n import label, lang_of
from xinyong.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

Importer = Annotated[Principal, Depends(require("imports.use"))]
JobId = Annotated[int, Path(ge=1, le=2**63 - 1)]

UPLOAD_PATH = "/workspace/upload"
JOBS_PATH = "/workspace/imports"
PAGE_SIZE = 50
SHOWN_ERRORS = 100
RUNNING = ("pending", "running")



def _not_found() -> HTTPException:
    return HTTPException(status_code=404)


def _own_department(session: Session, principal: Principal) -> Department | None:
    if principal.department_id is None:
        return None
    dept = session.get(Department, principal.department_id)
    return dept if dept is not None and dept.active else None


def _pushable(session: Session, dept: Department | None) -> list[Item]:
    if dept is None:
        return []
    return [i for i in current_items(session).values() if i.spec.allows_department(dept.code)]


def _read_all(principal: Principal) -> bool:
    return allowed(principal.role, "records.read_all")


# ---- upload -------------------------------------------------------------------------------------

def _upload_page(request: Request, session: Session, principal: Principal, *, error: dict[str, Any] | None = None,
                 item: str = "", status_code: int = 200) -> HTMLResponse:
    dept = _own_department(session, principal)
    lang = lang_of(request)
    return render(request, "imports/upload.html", {
        "department": dept, "items": _pushable(session, dept), "selected": item, "error": error,
        "max_mb": request.app.state.settings.max_request_bytes / (1024 * 1024), "jobs_path": JOBS_PATH,
        "upload_path": UPLOAD_PATH, "label": lambda p, c: label(lang, p, c),
    }, status_code=status_code)


@router.get(UPLOAD_PATH, response_class=HTMLResponse)
def upload_form(request: Request, principal: Importer, session: DbSession,
                item: Annotated[str, Query(max_length=64)] = "") -> HTMLResponse:
    return _upload_page(request, session, principal, item=item)


@router.post(UPLOAD_PATH, response_model=None)
def upload(request: Request, background: BackgroundTasks, principal: Importer, session: DbSession, vault: VaultDep,
           file: Annotated[UploadFile | None, File()] = None,
           item: Annotated[str, Form(max_length=64)] = "") -> Response:
    dept = _own_department(session, principal)
    if dept is None:  # the credit office's admin, or a deactivated department: refused, and audited as the API does
        reason = "department_required" if principal.department_id is None else "department_inactive"
        audit_refusal(session, actor=principal.actor, action="auth.forbidden",
                      details={"permission": "imports.use", "reason": reason})
        return _upload_page(request, session, principal, item=item, status_code=403)
    if file is None or not file.filename:
        missing = {"key": "upload.no_file", "field": "file"}
        return _upload_page(request, session, principal, error=missing, item=item, status_code=422)
    limit = request.app.state.settings.max_request_bytes
    data = file.file.read(limit + 1)
    item = item.strip() if CODE_RE.match(item.strip()) else ""  # anything else is an unknown item
    try:
        job = service.create_job(session, vault=vault, department=DepartmentRef(id=dept.id, code=dept.code),
                                 item_code=item, filename=file.filename, data=data, actor=principal.actor,
                                 max_bytes=limit)
    except (FileError, service.ImportsError) as exc:
        session.rollback()  # nothing of the refused upload is kept but the audit entry
        service.record_refusal(session, actor=principal.actor, item_code=item, filename=file.filename,
                               size=len(data), error=exc)
        session.commit()
        field = getattr(exc, "field", None) or "file"
        error: dict[str, Any] = {"message": exc.message, "field": field, "code": exc.code,
                                 "details": exc.errors or []}
        return _upload_page(request, session, principal, error=error, item=item, status_code=exc.status)
    background.add_task(runner_of(request.app).start, job.id)  # after the commit: the thread sees the job
    return RedirectResponse(f"{JOBS_PATH}/{job.id}", status_code=303)


# ---- one job: progress, then the report ----------------------------------------------------------

def _job(session: Session, principal: Principal, job_id: int, action: str, *, own: bool = False) -> ImportJob:
    """The job if the caller may see it (``own``: and change it), else not found — the same whether it
    exists or not — and the refused ``action`` registered."""
    try:
        return service.get_job(session, job_id=job_id, department_id=principal.department_id,
                               any_department=not own and _read_all(principal))
    except service.ImportsError as exc:
        record_not_found(session, actor=principal.actor, action=action, object_type="import_job", object_id=job_id)
        raise _not_found() from exc


def _job_context(request: Request, session: Session, principal: Principal, job: ImportJob) -> dict[str, Any]:
    lang = lang_of(request)
    status = service.effective_status(job)
    finished = status not in RUNNING
    errors = service.row_errors(session, job_id=job.id, limit=SHOWN_ERRORS) if finished and job.rejected else []
    dept = session.get(Department, job.department_id)
    percent = None
    if job.rows_total:
        percent = min(100, round(100 * job.rows_done / job.rows_total))
    return {
        "job": job, "status": status, "running": not finished, "errors": errors, "shown_errors": SHOWN_ERRORS,
        "percent": percent, "department": dept, "jobs_path": JOBS_PATH, "upload_path": UPLOAD_PATH,
        "notes": service.job_notes(job),
        "can_resume": (status == "interrupted" and job.department_id == principal.department_id
                       and job.error_code != "file_expired"),  # an expired upload is gone
        "report_url": f"/api/v1/imports/{job.id}/errors.csv", "label": lambda p, c: label(lang, p, c),
        "item": get_current(session, job.item_code),
    }


@router.get(JOBS_PATH + "/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: JobId, principal: Importer, session: DbSession) -> HTMLResponse:
    job = _job(session, principal, job_id, "imports.read")
    context = _job_context(request, session, principal, job)
    poll = is_htmx(request) and request.headers.get("hx-history-restore-request") != "true"
    if not poll or not context["running"]:
        # The page, and the one poll that finds the job ended (it shows the outcome and the rejected
        # rows, and ends the polling), are audited; the polls of a running job, which show its
        # progress only, are not: one entry a second per open page would flood the log
        # (docs/architecture.md, "Audit log").
        service.record_read(session, actor=principal.actor, job_id=job.id, status=context["status"],
                            rows_done=job.rows_done, rows_total=job.rows_total,
                            errors_shown=len(context["errors"]), via="poll" if poll else "page")
    return render(request, "imports/_job.html" if poll else "imports/job.html", context)


@router.post(JOBS_PATH + "/{job_id}/resume", response_model=None)
def job_resume(request: Request, background: BackgroundTasks, job_id: JobId, principal: Importer,
               session: DbSession) -> Response:
    job = _job(session, principal, job_id, "imports.resume", own=True)
    try:
        service.resume_job(session, job=job, actor=principal.actor)
    except service.ImportsError as exc:
        service.record_resume_refusal(session, actor=principal.actor, job_id=job_id, error=exc)
        job = _job(session, principal, job_id, "imports.resume", own=True)
        context = _job_context(request, session, principal, job)
        context["error"] = {"message": exc.message, "field": None}
        return render(request, "imports/job.html", context, status_code=exc.status)
    background.add_task(runner_of(request.app).start, job.id)
    return RedirectResponse(f"{JOBS_PATH}/{job.id}", status_code=303)


# ---- the department's jobs -------------------------------------------------------------------------

@router.get(JOBS_PATH, response_class=HTMLResponse)
def jobs_page(request: Request, principal: Importer, session: DbSession,
              before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None) -> HTMLResponse:
    lang = lang_of(request)
    read_all = _read_all(principal)
    jobs = service.list_jobs(session, department_id=principal.department_id, any_department=read_all,
                             before_id=before_id, limit=PAGE_SIZE + 1)
    more = len(jobs) > PAGE_SIZE
    jobs = jobs[:PAGE_SIZE]
    service.record_list(session, actor=principal.actor, jobs=jobs, before_id=before_id, limit=PAGE_SIZE, via="page")
    departments: dict[int, Department] = {}  # named in the page's language, the code beside
    if read_all and jobs:
        ids = {j.department_id for j in jobs}
        departments = {d.id: d for d in session.scalars(select(Department).where(Department.id.in_(ids)))}
    items = current_items(session)
    return render(request, "imports/jobs.html", {
        "jobs": [(j, service.effective_status(j)) for j in jobs], "read_all": read_all, "departments": departments,
        "items": items, "before_id": before_id, "next_before": jobs[-1].id if more and jobs else None,
        "jobs_path": JOBS_PATH, "upload_path": UPLOAD_PATH, "department": _own_department(session, principal),
        "label": lambda p, c: label(lang, p, c),
    })


# a page request whose path, query or form field the schema refuses (FastAPI's 422, answered with the
# error page naming the field) is registered under the page's action, as the API's are
refused_bodies = page_refusals(router, {
    ("GET", UPLOAD_PATH): "imports.upload_form",
    ("POST", UPLOAD_PATH): "imports.create",
    ("GET", JOBS_PATH + "/{job_id}"): "imports.read",
    ("POST", JOBS_PATH + "/{job_id}/resume"): "imports.resume",
    ("GET", JOBS_PATH): "imports.list",
})
