"""Pages for joint reward and punishment.

Department workspace (``checks.run``, officers of a department): a check form whose answer is
rendered in place (the ID number travels in the POST body only and is never echoed, only masked),
batch comparison upload, a job page that HTMX polls every second until the job ends, and the
result download (the API's, which accepts the browser's session). Admin console: the measures and
scenarios with an edit form each (every save a version, audited) and the feedback statistics.

Thin: every step calls :mod:`xinyong.measures.service` / :mod:`xinyong.measures.batch`, the same
functions as the API. Checks from the page are registered in the page request's own transaction.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from xinyong.audit.service import record_not_found
from xinyong.auth.deps import RefusedBody, audit_refusal, page_refusals, refused_page, require
from xinyong.auth.models import Department
from xinyong.auth.permissions import allowed
from xinyong.auth.service import Principal, list_departments
from xinyong.deps import DbSession, VaultDep
from xinyong.imports.parsers import FileError
from xinyong.measures import batch, service
from xinyong.measures.api import batch_too_large, compare_runner_of
from xinyong.ratelimit import limited_message, over_limit
from xinyong.web.i18n import MESSAGES, lang_of, translate
from xinyong.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

Checker = Annotated[Principal, Depends(require("checks.run"))]
Manager = Annotated[Principal, Depends(require("measures.manage"))]
StatsReader = Annotated[Principal, Depends(require("checks.read_all"))]
JobId = Annotated[int, Path(ge=1, le=2**63 - 1)]
CodePath = Annotated[str, Path(pattern="^[a-z][a-z0-9_]{1,63}$")]

CHECKS_PATH = "/workspace/checks"
ADMIN_PATH = "/admin/measures"
STATS_PATH = "/admin/checks/feedback"


async def _form(request: Request) -> FormData:
    return await request.form()


Form = Annotated[FormData, Depends(_form)]

MESSAGES.update({
    "nav.checks": {"zh": "联合奖惩核查", "en": "Checks"},
    "nav.measures": {"zh": "奖惩措施", "en": "Measures"},
    "nav.feedback": {"zh": "反馈统计", "en": "Feedback"},
    "home.checks": {"zh": "核查个人适用的守信激励和失信惩戒措施，批量名单比对", "en": "Check which incentives and "
                    "punishments apply to a person; compare whole lists"},
    "home.measures": {"zh": "维护联合奖惩措施清单和核查场景", "en": "Edit the measures list and the scenarios"},
    "home.feedback": {"zh": "各部门措施反馈率和实施情况", "en": "How often departments report and apply measures"},
    "checks.title": {"zh": "联合奖惩核查", "en": "Joint reward and punishment check"},
    "checks.intro": {"zh": "输入身份证号码和业务场景，查询适用的激励和惩戒措施。每次核查均登记留痕。",
                     "en": "Enter an ID number and a scenario to see the measures that apply. Every check is registered."},
    "checks.id_number": {"zh": "身份证号码", "en": "ID number"},
    "checks.scenario": {"zh": "业务场景", "en": "Scenario"},
    "checks.submit": {"zh": "核查", "en": "Check"},
    "checks.answer": {"zh": "核查结果", "en": "Answer"},
    "checks.grade": {"zh": "信用等级", "en": "Grade"},
    "checks.lists": {"zh": "所在名单", "en": "Lists"},
    "checks.measures": {"zh": "适用措施", "en": "Measures"},
    "checks.none": {"zh": "无", "en": "None"},
    "checks.check_id": {"zh": "核查编号", "en": "Check id"},
    "checks.kind.incentive": {"zh": "激励", "en": "Incentive"},
    "checks.kind.punishment": {"zh": "惩戒", "en": "Punishment"},
    "checks.basis": {"zh": "依据", "en": "Legal basis"},
    "checks.department": {"zh": "实施部门", "en": "Implementing department"},
    "feedback.department": {"zh": "核查部门", "en": "Checking department"},
    "checks.since": {"zh": "列入日期", "en": "Since"},
    "checks.batch": {"zh": "名单比对", "en": "Batch comparison"},
    "checks.batch_intro": {"zh": "上传 CSV 文件（第一列或“身份证号码”列，可选“姓名”列），在所选场景下逐一核查。",
                           "en": "Upload a CSV (first column or an 'id_number' column, optional 'name') to check "
                                 "every row in the chosen scenario."},
    "checks.file": {"zh": "CSV 文件", "en": "CSV file"},
    "checks.upload": {"zh": "上传并比对", "en": "Upload and compare"},
    "checks.jobs": {"zh": "比对任务", "en": "Comparison jobs"},
    "checks.job": {"zh": "比对任务 {id}", "en": "Comparison job {id}"},
    "checks.status": {"zh": "状态", "en": "Status"},
    "checks.refused": {"zh": "未能核查", "en": "Not checked"},
    "checks.job.pending": {"zh": "排队中", "en": "Queued"},
    "checks.job.running": {"zh": "比对中", "en": "Comparing"},
    "checks.job.done": {"zh": "已完成", "en": "Done"},
    "checks.job.failed": {"zh": "失败", "en": "Failed"},
    "checks.job.interrupted": {"zh": "已中断", "en": "Interrupted"},
    "checks.job.interrupted_hint": {"zh": "任务已中断（处理进程停止），可以重新比对；已登记的核查保留。",
                                    "en": "The job stopped (its process ended). Run it again: the checks already "
                                          "registered stay registered."},
    "checks.job.resume": {"zh": "重新比对", "en": "Run it again"},
    "checks.rows": {"zh": "行数", "en": "Rows"},
    "checks.matched": {"zh": "命中", "en": "Matched"},
    "checks.unknown": {"zh": "平台无此人", "en": "Unknown"},
    "checks.invalid": {"zh": "号码无效", "en": "Invalid"},
    "checks.download": {"zh": "下载结果文件", "en": "Download the result"},
    "checks.polling": {"zh": "处理中，页面自动刷新…", "en": "Working; this page refreshes itself…"},
    "measures.title": {"zh": "联合奖惩措施清单", "en": "Measures list"},
    "measures.scenarios": {"zh": "核查场景", "en": "Scenarios"},
    "measures.code": {"zh": "代码", "en": "Code"},
    "measures.name": {"zh": "名称", "en": "Name"},
    "measures.name_zh": {"zh": "中文名称", "en": "Chinese name"},
    "measures.name_en": {"zh": "英文名称", "en": "English name"},
    "measures.kind": {"zh": "种类", "en": "Kind"},
    "measures.applies_to": {"zh": "适用对象", "en": "Applies to"},
    "measures.active": {"zh": "启用", "en": "Active"},
    "measures.version": {"zh": "版本", "en": "Version"},
    "measures.reason": {"zh": "修改原因", "en": "Reason for the change"},
    "measures.save": {"zh": "保存（新版本）", "en": "Save (new version)"},
    "measures.new": {"zh": "新增措施", "en": "New measure"},
    "measures.new_scenario": {"zh": "新增场景", "en": "New scenario"},
    "measures.edit": {"zh": "编辑", "en": "Edit"},
    "measures.history": {"zh": "版本历史", "en": "Versions"},
    "measures.changed_by": {"zh": "修改人", "en": "Changed by"},
    "measures.changed_at": {"zh": "修改时间", "en": "Changed at"},
    "measures.target.grade": {"zh": "信用等级 {grade}", "en": "Grade {grade}"},
    "measures.target.clean_3y": {"zh": "连续3年无失信记录", "en": "3 years without a bad record"},
    "measures.defaults_note": {"zh": "尚未载入：显示的是内置默认清单，第一次保存时载入。",
                               "en": "Not loaded yet: the shipped defaults are shown; the first save loads them."},
    "feedback.title": {"zh": "措施反馈统计", "en": "Feedback statistics"},
    "feedback.answered": {"zh": "答复次数", "en": "Answered"},
    "feedback.feedback": {"zh": "反馈次数", "en": "Feedback"},
    "feedback.applied": {"zh": "已实施", "en": "Applied"},
    "feedback.rate": {"zh": "反馈率", "en": "Feedback rate"},
    "feedback.applied_rate": {"zh": "实施率", "en": "Applied rate"},
    "feedback.batch": {"zh": "其中名单比对", "en": "Of which batch rows"},
    "feedback.single_rate": {"zh": "单次核查反馈率", "en": "Single checks' feedback rate"},
    "feedback.note": {"zh": "名单比对逐行答复，很少逐行反馈；单次核查反馈率不计名单比对的行。",
                      "en": "A batch comparison answers every row and is rarely reported back row by row; "
                            "the single checks' rate leaves batch rows out."},
    "feedback.empty": {"zh": "暂无核查", "en": "No checks yet"},
})


def _not_found() -> HTTPException:
    return HTTPException(status_code=404)


def _department(session: Session, principal: Principal) -> Department | None:
    if principal.department_id is None:
        return None
    dept = session.get(Department, principal.department_id)
    return dept if dept is not None and dept.active else None


def _department_names_en(session: Session) -> dict[str, str]:
    """A measure names its implementing department in Chinese (free text, 区财政局): on an English
    page, the English name of the department of that name, where there is one."""
    return {d.name: d.name_en for d in list_departments(session) if d.name_en}


def _caller(dept: Department, principal: Principal) -> service.Caller:
    return service.Caller(dept.id, dept.code, principal.actor)


def _checks_page(request: Request, session: Session, principal: Principal, *, answer: dict[str, Any] | None = None,
                 error: dict[str, Any] | None = None, batch_error: str | None = None, scenario: str | None = None,
                 status_code: int = 200, with_jobs: bool = True) -> HTMLResponse:
    """``with_jobs=False``: without the list of batch jobs (not read, so not audited): a check refused
    over the rate limit writes nothing of its own (its refusal is counted, written in aggregate)."""
    dept = _department(session, principal)
    rules = service.rules_for(session)
    jobs = None
    if with_jobs:
        jobs = batch.list_jobs(session, department_id=principal.department_id,
                               any_department=allowed(principal.role, "checks.read_all"), limit=20)
        batch.record_list(session, actor=principal.actor, jobs=jobs, via="page")
    return render(request, "measures/checks.html", {
        "department": dept, "scenarios": rules.scenarios, "answer": answer, "error": error, "selected": scenario,
        "batch_error": batch_error, "jobs": jobs, "status_of": batch.effective_status, "checks_path": CHECKS_PATH,
        "dept_en": _department_names_en(session) if answer else {},
    }, status_code=status_code)


def _refused(request: Request, session: Session, principal: Principal, what: str) -> HTMLResponse:
    """A check or upload by someone without an active department (the credit office's admin): 403,
    and the refusal audited as the check API's (``measures.api.caller_of``)."""
    reason = "department_required" if principal.department_id is None else "department_inactive"
    audit_refusal(session, actor=principal.actor, action="auth.forbidden",
                  details={"permission": "checks.run", "reason": reason, "what": what})
    return _checks_page(request, session, principal, status_code=403)


@router.get(CHECKS_PATH, response_class=HTMLResponse)
def checks_page(request: Request, principal: Checker, session: DbSession) -> HTMLResponse:
    return _checks_page(request, session, principal)


@router.post(CHECKS_PATH, response_class=HTMLResponse)
def check_from_page(request: Request, principal: Checker, session: DbSession, vault: VaultDep,
                    form: Form) -> HTMLResponse:
    dept = _department(session, principal)
    if dept is None:
        return _refused(request, session, principal, "check")
    number, scenario = form.get("id_number"), form.get("scenario")
    # The form is a check like the API's: the same per-caller limit (``checks``), so a session
    # cannot look up numbers faster than a key may (the officer is a caller of their own)
    retry = over_limit(request, "checks", principal)
    if retry is not None:
        page = _checks_page(request, session, principal, status_code=429, with_jobs=False,
                            scenario=scenario if isinstance(scenario, str) else None,
                            error={"code": "rate_limited", "errors": [], "message": limited_message(retry)})
        page.headers["Retry-After"] = str(retry)
        return page
    result = service.run_check(session, vault=vault, caller=_caller(dept, principal),
                               id_number=number if isinstance(number, str) else "",
                               scenario=scenario if isinstance(scenario, str) else "", channel="page")
    del number
    service.register_checks(session, [result.row])
    if result.status != 200:
        return _checks_page(request, session, principal, error=result.body, status_code=422,
                            scenario=scenario if isinstance(scenario, str) else None)
    return _checks_page(request, session, principal, answer=result.body, scenario=result.body["scenario"])


@router.post(CHECKS_PATH + "/batch", response_class=HTMLResponse)
def batch_from_page(request: Request, background: BackgroundTasks, principal: Checker, session: DbSession,
                    vault: VaultDep, form: Form) -> Any:
    dept = _department(session, principal)
    if dept is None:
        return _refused(request, session, principal, "batch")
    upload, scenario = form.get("file"), form.get("scenario")
    scenario = scenario if isinstance(scenario, str) else ""
    limit = request.app.state.settings.max_request_bytes
    data = upload.file.read(limit + 1) if isinstance(upload, UploadFile) else b""
    filename = upload.filename if isinstance(upload, UploadFile) else None
    try:
        job = batch.create_job(session, vault=vault, caller=_caller(dept, principal), scenario=scenario,
                               filename=filename, data=data, max_bytes=limit)
    except (FileError, service.MeasuresError) as exc:
        session.rollback()
        batch.record_refusal(session, actor=principal.actor, scenario=scenario, filename=filename, size=len(data),
                             code=exc.code)
        session.commit()
        return _checks_page(request, session, principal, batch_error=exc.message, scenario=scenario,
                            status_code=422)
    background.add_task(compare_runner_of(request.app).start, job.id)
    return RedirectResponse(f"{CHECKS_PATH}/batch/{job.id}", status_code=303)


@router.get(CHECKS_PATH + "/batch/{job_id}", response_class=HTMLResponse)
def batch_page(request: Request, job_id: JobId, principal: Checker, session: DbSession) -> HTMLResponse:
    try:
        job = batch.get_job(session, job_id=job_id, department_id=principal.department_id,
                            any_department=allowed(principal.role, "checks.read_all"))
    except service.MeasuresError:
        _job_refused(session, principal, job_id, "checks.batch_read")
        raise _not_found() from None
    status = batch.effective_status(job)
    running = status in ("pending", "running")
    poll = is_htmx(request)
    if not poll or not running:
        # the page, and the one poll that finds the job ended (its counts, the download), are audited;
        # the polls of a running job — progress only, one a second — are not (docs/architecture.md, "Audit log")
        batch.record_read(session, actor=principal.actor, job=job, via="poll" if poll else "page")
    ctx = {"job": job, "status": status, "running": running, "checks_path": CHECKS_PATH,
           "scenario": service.rules_for(session).scenarios.get(job.scenario),
           "percent": int(job.rows_done * 100 / job.rows_total) if job.rows_total else None,
           "can_resume": status == "interrupted" and job.department_id == principal.department_id
           and job.error_code != "file_expired"}
    return render(request, "measures/_job.html" if poll else "measures/job.html", ctx)


def _job_refused(session: Session, principal: Principal, job_id: int, action: str) -> None:
    """A job the caller may not see is not found, as one that does not exist; the look is registered
    (as the API registers its own)."""
    record_not_found(session, actor=principal.actor, action=action, object_type="compare_job", object_id=job_id)


@router.post(CHECKS_PATH + "/batch/{job_id}/resume", response_model=None)
def batch_resume(request: Request, background: BackgroundTasks, job_id: JobId, principal: Checker,
                 session: DbSession) -> Response:
    """Run an interrupted comparison again (as ``POST /api/v1/checks/batch/{id}/resume``): only the
    department's own job, only when interrupted; otherwise the job's page says why."""
    try:
        job = batch.get_job(session, job_id=job_id, department_id=principal.department_id, any_department=False)
    except service.MeasuresError:
        _job_refused(session, principal, job_id, "checks.batch_resume")
        raise _not_found() from None
    dept = _department(session, principal)
    if dept is None:
        return _refused(request, session, principal, "batch")
    try:
        batch.resume(session, job=job, department_id=dept.id, actor=principal.actor)
    except service.MeasuresError:  # not interrupted (any more): the job's page says how it stands
        return RedirectResponse(f"{CHECKS_PATH}/batch/{job.id}", status_code=303)
    # run as this officer: the rows it answers are their checks (the creator's key may be revoked since)
    background.add_task(compare_runner_of(request.app).start, job.id, principal.actor)
    return RedirectResponse(f"{CHECKS_PATH}/batch/{job.id}", status_code=303)


# ---- admin: measures and scenarios ---------------------------------------------------------------------

def _target_names(session: Session, lang: str) -> dict[str, str]:
    """{target: its name in the page's language}: a list by its name (the shipped defaults' until the
    lists are loaded), a grade and ``clean_3y`` in words. The console named them by code."""
    from xinyong.lists import service as lists

    kinds = {k["code"]: (k["name_zh"], k["name_en"]) for k in lists.read_yaml()}
    kinds.update({k.code: (k.name_zh, k.name_en) for k in lists.all_kinds(session)})
    names = {code: zh if lang == "zh" else en for code, (zh, en) in kinds.items()}
    for grade in service.GRADES:
        names[f"grade:{grade}"] = translate(lang, "measures.target.grade", grade=grade)
    names[service.CLEAN_3Y] = translate(lang, "measures.target.clean_3y")
    return names


def _targets_in_order() -> list[str]:
    """The targets a measure may apply to, as a reader looks for them: the lists (red, then
    dishonesty), the grades from AAA down, then ``clean_3y``."""
    valid = service.valid_targets()
    order = [*service.LIST_CODES, *(f"grade:{g}" for g in service.GRADES), service.CLEAN_3Y]
    return [t for t in order if t in valid] + sorted(valid - set(order))


def _scenario_names(scenarios: list[dict[str, Any]], lang: str) -> dict[str, str]:
    return {s["code"]: s["name_zh"] if lang == "zh" else s["name_en"] for s in scenarios}


@router.get(ADMIN_PATH, response_class=HTMLResponse)
def measures_page(request: Request, principal: Manager, session: DbSession) -> HTMLResponse:
    scenarios, measures = service.definitions(session)
    lang = lang_of(request)
    return render(request, "measures/admin.html", {"scenarios": scenarios, "measures": measures,
                                                   "loaded": bool(service.list_scenarios(session)),
                                                   "base": ADMIN_PATH, "dept_en": _department_names_en(session),
                                                   "target_names": _target_names(session, lang),
                                                   "scenario_names": _scenario_names(scenarios, lang)})


def _edit_page(request: Request, session: Session, *, kind: str, item: dict[str, Any] | None,
               errors: list[dict[str, Any]] | None = None, status_code: int = 200) -> HTMLResponse:
    scenarios, _measures = service.definitions(session)
    hist = service.history(session, object_type=kind, code=item["code"]) if item and item.get("code") else []
    lang = lang_of(request)
    return render(request, "measures/edit.html", {
        "kind": kind, "item": item or {}, "errors": errors or [], "history": hist, "base": ADMIN_PATH,
        "scenario_codes": [s["code"] for s in scenarios], "targets": _targets_in_order(),
        "target_names": _target_names(session, lang), "scenario_names": _scenario_names(scenarios, lang),
    }, status_code=status_code)


def _find(session: Session, kind: str, code: str) -> dict[str, Any] | None:
    scenarios, measures = service.definitions(session)
    return next((x for x in (scenarios if kind == "scenario" else measures) if x["code"] == code), None)


@router.get(ADMIN_PATH + "/{kind}/{code}", response_class=HTMLResponse)
def edit_page(request: Request, kind: str, code: CodePath, principal: Manager, session: DbSession) -> HTMLResponse:
    if kind not in ("measure", "scenario"):
        raise _not_found()
    item = _find(session, kind, code)
    if item is None and code != "new":
        raise _not_found()
    return _edit_page(request, session, kind=kind, item=item)


@router.post(ADMIN_PATH + "/{kind}/{code}", response_class=HTMLResponse)
def save(request: Request, kind: str, code: CodePath, principal: Manager, session: DbSession, form: Form) -> Any:
    if kind not in ("measure", "scenario"):
        raise _not_found()
    data: dict[str, Any] = {k: (form.get(k) or "") for k in ("name_zh", "name_en", "kind", "department", "basis")}
    data["code"] = str(form.get("code") or "").strip() if code == "new" else code
    data["active"] = form.get("active") == "on"
    if kind == "measure":
        data["applies_to"] = [str(v) for v in form.getlist("applies_to")]
        data["scenarios"] = [str(v) for v in form.getlist("scenarios")]
    reason = str(form.get("reason") or "")[:2000] or None
    service.ensure_loaded(session, actor=principal.actor)
    existing = _find(session, kind, data["code"]) if data["code"] else None
    if existing is not None:
        data["version"] = existing["version"]  # an edit: the page stays the edit form of this code
    data["reason"] = reason or ""
    try:
        if code == "new" and existing is not None:  # "new" never overwrites a code that exists
            what = "措施" if kind == "measure" else "场景"
            raise service.MeasuresError(409, "code_exists", f"{what}代码 {data['code']} 已存在，请在其编辑页修改",
                                        f"{kind} {data['code']} exists already: edit it on its own page", "code")
        if kind == "measure":
            service.save_measure(session, data=data, actor=principal.actor, reason=reason)
        else:
            service.save_scenario(session, data={k: data[k] for k in ("code", "name_zh", "name_en", "active")},
                                  actor=principal.actor, reason=reason)
    except service.MeasuresError as exc:  # registered as the API's refusal is
        service.record_save_error(session, actor=principal.actor, kind=kind, code=data["code"], exc=exc, via="page")
        if code == "new":
            data.pop("version", None)  # still the new-code form, with what was typed
        return _edit_page(request, session, kind=kind, item=data, errors=exc.errors or [], status_code=422)
    return RedirectResponse(f"{ADMIN_PATH}/{kind}/{data['code']}", status_code=303)


@router.get(STATS_PATH, response_class=HTMLResponse)
def feedback_page(request: Request, principal: StatsReader, session: DbSession) -> HTMLResponse:
    from xinyong.audit.service import record

    stats = service.feedback_stats(session)
    record(session, actor=principal.actor, action="checks.feedback_stats", details={"page": True})
    return render(request, "measures/feedback.html", {"stats": stats})


# a page request whose path, query or form field the schema refuses (FastAPI's 422, answered with the
# error page naming the field) is registered under the page's action, as the API's are
def _save_refused(session: Session, principal: Principal, refused: RefusedBody) -> None:
    """A measure's or a scenario's save: under the save's action (``measures.measure_save`` /
    ``measures.scenario_save``), as its other refusals are."""
    kind = refused.path_params.get("kind")
    refused_page(f"measures.{kind}_save" if kind in ("measure", "scenario") else "measures.save")(
        session, principal, refused)


refused_bodies = page_refusals(router, {
    ("GET", CHECKS_PATH + "/batch/{job_id}"): "checks.batch_read",
    ("POST", CHECKS_PATH + "/batch/{job_id}/resume"): "checks.batch_resume",
    ("GET", ADMIN_PATH + "/{kind}/{code}"): "measures.read",
    ("POST", ADMIN_PATH + "/{kind}/{code}"): _save_refused,
})

# the batch comparison's upload form over the size limit (413, its form never read) is registered as
# the API's is (``checks.batch_create``, denied, ``too_large``, its size); its other refusals are the
# route's own (a refused file registered as such)
too_large_bodies = page_refusals(router, {("POST", CHECKS_PATH + "/batch"): batch_too_large})

