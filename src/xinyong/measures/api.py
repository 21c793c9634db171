"""Check API (联合奖惩核查) for departments' business systems, feedback and its statistics, batch
comparison jobs, and the scenarios and measures as data.

``POST /api/v1/checks`` is the hot path: the request's session only reads (the caller's key, then
one joined query for the subject's precomputed status and the rules' versions) and is committed
before the register row goes to the process's group-commit writer; the answer leaves once the row
is committed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Path, Query, Request, Response, UploadFile
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from xinyong.audit.service import Actor, record, record_not_found, record_refusal
from xinyong.auth.deps import BodyRefusals, RefusedBody, audit_refusal, refused_query, require
from xinyong.auth.models import Department
from xinyong.auth.permissions import allowed
from xinyong.auth.service import Principal, take_key_stamp
from xinyong.context import request_id_var
from xinyong.db import Database
from xinyong.deps import BlankIsNone, DbSession, VaultDep
from xinyong.errors import ApiError, error_body
from xinyong.imports.api import ThreadRunner
from xinyong.imports.parsers import FileError
from xinyong.imports.schemas import error_responses
from xinyong.measures import batch, service
from xinyong.measures.register import writer_of
from xinyong.measures.schemas import (
    BatchJobOut,
    ChangeOut,
    ChannelCountsOut,
    CheckIn,
    CheckOut,
    FeedbackIn,
    FeedbackOut,
    FeedbackStatOut,
    MeasureDefOut,
    MeasureIn,
    ScenarioIn,
    ScenarioOut,
    StoredCheckOut,
)
from xinyong.middleware import Answer
from xinyong.ratelimit import caller_of as caller_key
from xinyong.ratelimit import limiter_of, rate_limited

router = APIRouter(prefix="/api/v1/checks", tags=["checks"], responses=error_responses(401, 403, 422))
defs_router = APIRouter(prefix="/api/v1", tags=["measures"], responses=error_responses(401, 403))
extra_routers = (defs_router,)
# The check itself, in a router of its own that the app matches first (before every other router: xinyong.app._domain_routers).
hot_router = APIRouter(prefix="/api/v1/checks", tags=["checks"], responses=error_responses(401, 403, 422))
hot_routers = (hot_router,)

Checker = Annotated[Principal, Depends(require("checks.run"))]
Reader = Annotated[Principal, Depends(require("measures.read"))]
Manager = Annotated[Principal, Depends(require("measures.manage"))]
StatsReader = Annotated[Principal, Depends(require("checks.read_all"))]
CheckId = Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="check_id from the answer")]
JobId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Comparison job id")]
CodePath = Annotated[str, Path(pattern=service.CODE_PATTERN)]


def caller_of(session: Session, principal: Principal, what: str = "checks.run") -> service.Caller:
    """A check is by a department: its system key or one of its officers. Anyone else allowed to
    call (the credit office's admin) is refused, and the refusal audited (``auth.forbidden``, as a
    missing permission is): every call of the check API leaves a trace."""
    if principal.department_id is None:
        audit_refusal(session, actor=principal.actor, action="auth.forbidden",
                      details={"permission": what, "reason": "department_required"})
        raise ApiError(403, "department_required", "只有部门账户或部门业务系统可以核查 / only a department's "
                                                   "account or system key may run checks")
    # Read from this database every time (an identity-map hit when the key's lookup loaded it): a
    # process-wide cache of id -> code answered another database's code for the same id (seen
    # between test databases; a signed answer then named the wrong department).
    dept = session.get(Department, principal.department_id)
    if dept is None or not dept.active:
        audit_refusal(session, actor=principal.actor, action="auth.forbidden",
                      details={"permission": what, "reason": "department_inactive"})
        raise ApiError(403, "department_inactive", "部门不存在或已停用 / department missing or inactive")
    return service.Caller(principal.department_id, dept.code, principal.actor)


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


# ---- the check ----------------------------------------------------------------------------------

REGISTER_UNAVAILABLE = "核查登记暂不可用，请稍后重试 / the check register is unavailable; retry later"


async def _registered(app: Any, result: service.CheckResult) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """Register the check (group commit) and only then give its answer: status, JSON, extra headers."""
    try:
        await writer_of(app).submit(result.row)
    except Exception:  # the register is down: no unregistered answer leaves
        return 503, orjson.dumps(error_body("register_unavailable", REGISTER_UNAVAILABLE)), [(b"retry-after", b"2")]
    body = result.body if result.status == 200 else {**result.body, "request_id": request_id_var.get()}
    return result.status, orjson.dumps(body), []


def _hot_connection(app: Any) -> contextlib.AbstractContextManager[Connection]:
    """The connection of the express check's one statement (``Database.hot_connection``). A stand-in
    database bound to one connection (the tests' per-test transaction) lends its session's."""
    db = app.state.db
    if isinstance(db, Database):
        return contextlib.nullcontext(db.hot_connection())

    @contextlib.contextmanager
    def lent() -> Iterator[Connection]:
        with db.sessionmaker() as session:
            yield session.connection()

    return lent()


def _lookup(app: Any, secret: str, id_number: str, scenario: str) -> service.FastCheck | None:
    """:func:`service.fast_check`, retried once on a fresh connection if the kept one was found dead."""
    for attempt in (1, 2):
        try:
            with _hot_connection(app) as conn:
                return service.fast_check(conn, vault=app.state.vault, secret=secret, id_number=id_number,
                                          scenario=scenario)
        except DBAPIError as exc:  # the kept connection died (e.g. the database restarted): once more, afresh
            if attempt == 2 or not exc.connection_invalidated or not isinstance(app.state.db, Database):
                raise
            app.state.db.recycle_hot_reads()
    return None


async def express_check(app: Any, headers: dict[bytes, bytes], body: bytes) -> Answer | None:
    """``POST /api/v1/checks`` in the usual case — a JSON body by an API key — answered straight from
    ASGI (see ``xinyong.app.XinyongApp``): one statement reads the key, the subject's status and the
    rules' versions. Anything else (no or a refused key, a body the schema refuses, an invalid ID
    number, a cold cache, the key over its rate limit) returns None and takes the declared route
    below, which answers exactly as it always did (and refuses, audits, limits as declared)."""
    auth = headers.get(b"authorization")
    if not auth or not headers.get(b"content-type", b"").startswith(b"application/json"):
        return None
    scheme, _, secret = auth.decode("latin-1").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    # CheckIn's rules (extra fields forbidden, strings within their lengths); else the full path says why.
    if not isinstance(data, dict) or data.keys() != {"id_number", "scenario"}:
        return None
    id_number, scenario = data["id_number"], data["scenario"]
    if not isinstance(id_number, str) or not isinstance(scenario, str) or len(id_number) > 64 or len(scenario) > 200:
        return None
    # On the loop, not in a thread: measured, a thread hop per check halved the rate (the GIL hand-over).
    fast = _lookup(app, secret, id_number, scenario)
    if fast is None or limiter_of(app).take("checks", caller_key(fast.principal, None)) > 0:
        return None
    return await _registered(app, fast.result)


express_routes = {("POST", "/api/v1/checks"): express_check}
# a check the schema refuses is a call too: counted and audited per caller (ratelimit.count_refusal);
# so are reads of a check, feedback and batch uploads the schema refuses (the service audits every
# refusal of its own)
counted_refusals = {("POST", "/api/v1/checks"): "checks.malformed",
                    ("GET", "/api/v1/checks/{check_id}"): "checks.read_malformed",
                    ("POST", "/api/v1/checks/{check_id}/feedback"): "checks.feedback_malformed",
                    ("POST", "/api/v1/checks/batch"): "checks.batch_malformed"}
limit_checks = rate_limited("checks")


async def _limit_checks(request: Request) -> None:
    """The per-key limit as an async dependency: run on the loop, not in a thread, so that the full
    path never awaits while its request holds a pooled connection (see ``run_check``)."""
    limit_checks(request)


async def run_check(body: CheckIn, request: Request, principal: Checker,
                    _limit: Annotated[None, Depends(_limit_checks)], session: DbSession) -> Response:
    # No await from the key's lookup (in ``principal``) to the rollback below: the request holds a
    # pooled connection only for that stretch, so 32 concurrent requests never exhaust the pool.
    vault = request.app.state.vault
    stamp = take_key_stamp(session)  # first: no query may flush it inside this read-only transaction
    caller = caller_of(session, principal)
    result = service.run_check(session, vault=vault, caller=caller, id_number=body.id_number,
                               scenario=body.scenario)
    session.rollback()  # end the read-only transaction before waiting on the register
    if stamp is not None:
        result.row["key_stamp"] = stamp
    status, payload, headers = await _registered(request.app, result)
    return Response(payload, status_code=status, media_type="application/json",
                    headers={k.decode(): v.decode() for k, v in headers})


hot_router.add_api_route("", run_check, methods=["POST"], response_model=CheckOut, responses=error_responses(429, 503),
                     summary="Check a person in a scenario: grade, lists, measures, receipt")


@router.get("/receipt-key", summary="The public key that verifies check receipts (Ed25519, base64 raw)")
def receipt_key(principal: Reader, vault: VaultDep) -> dict[str, str]:
    return {"alg": "Ed25519", "public_key": service.receipt_public_key(vault.ring)}


@router.get("/feedback-stats", response_model=list[FeedbackStatOut],
            summary="Per department and measure: answered, reported back (反馈率), applied")
def feedback_stats(principal: StatsReader, session: DbSession,
                   since: Annotated[date | None, BlankIsNone] = None) -> list[FeedbackStatOut]:
    stats = service.feedback_stats(session, since=since)
    record(session, actor=principal.actor, action="checks.feedback_stats", details={"since": str(since or "")})
    return [FeedbackStatOut(department=s.department_code, department_name=s.department_name,
                            department_name_en=s.department_name_en, measure=s.measure, measure_name=s.measure_name,
                            measure_name_en=s.measure_name_en, answered=s.answered, feedback=s.feedback, applied=s.applied,
                            feedback_rate=s.feedback_rate, applied_rate=s.applied_rate,
                            single_feedback_rate=s.single_feedback_rate,
                            by_channel={k: ChannelCountsOut(answered=c.answered, feedback=c.feedback, applied=c.applied)
                                        for k, c in sorted(s.by_channel.items())}) for s in stats]


# ---- batch comparison ---------------------------------------------------------------------------

class CompareRunner(ThreadRunner):
    """The imports' thread runner, running comparison jobs — as the caller who started them: a
    resume's caller checks the rows it answers (``batch.run_job``'s ``actor``), not the job's creator."""

    thread_prefix = "compare"

    def _run(self, job_id: int, actor: Actor | None = None) -> None:
        try:
            batch.run_job(self.db, self.vault, job_id, actor=actor)
        except Exception:  # noqa: BLE001 - a thread must not die silently
            batch.log.exception("comparison job %s: runner failed", job_id)


def compare_runner_of(app: Any) -> CompareRunner:
    runner = getattr(app.state, "compare_runner", None)
    if runner is None:
        runner = app.state.compare_runner = CompareRunner(app.state.db, app.state.vault)
    return runner


@router.post("/batch", status_code=202, response_model=BatchJobOut, responses=error_responses(413),
             summary="Upload a CSV of ID numbers (optional name column) for a scenario; answered in the background")
def create_batch(request: Request, background: BackgroundTasks, principal: Checker, session: DbSession,
                 vault: VaultDep, file: Annotated[UploadFile, File(description="CSV (UTF-8 or GBK)")],
                 scenario: Annotated[str, Form(min_length=1, max_length=200)]) -> Response:
    caller = caller_of(session, principal, "checks.batch")
    limit = request.app.state.settings.max_request_bytes
    data = file.file.read(limit + 1)
    try:
        job = batch.create_job(session, vault=vault, caller=caller, scenario=scenario, filename=file.filename,
                               data=data, max_bytes=limit)
    except (FileError, service.MeasuresError) as exc:
        session.rollback()
        batch.record_refusal(session, actor=principal.actor, scenario=scenario, filename=file.filename,
                             size=len(data), code=exc.code)
        session.commit()
        if isinstance(exc, FileError):
            raise ApiError(exc.status, exc.code, exc.message, exc.errors) from exc
        raise
    background.add_task(compare_runner_of(request.app).start, job.id)
    return _json(batch.job_json(job), 202)


def _job(session: Session, principal: Principal, job_id: int, action: str) -> Any:
    """The job if the caller may see it, else 404 — the same whether it exists or not — and the
    refused ``action`` registered (as the imports' and the records' are)."""
    try:
        return batch.get_job(session, job_id=job_id, department_id=principal.department_id,
                             any_department=allowed(principal.role, "checks.read_all"))
    except service.MeasuresError:
        record_not_found(session, actor=principal.actor, action=action, object_type="compare_job", object_id=job_id)
        raise


@router.get("/batch/{job_id}", response_model=BatchJobOut, summary="A comparison job's progress")
def get_batch(job_id: JobId, principal: Checker, session: DbSession) -> Response:
    job = _job(session, principal, job_id, "checks.batch_read")
    batch.record_read(session, actor=principal.actor, job=job, via="api")
    return _json(batch.job_json(job))


@router.get("/batch/{job_id}/result.csv", summary="The result file (masked ID numbers, grades, lists, measures)")
def batch_result(job_id: JobId, principal: Checker, session: DbSession, vault: VaultDep) -> Response:
    job = _job(session, principal, job_id, "checks.batch_result")
    data = batch.result_csv(session, vault=vault, job=job, actor=principal.actor)
    if data is None:
        raise ApiError(409, "not_ready", "结果尚未生成 / the result is not ready")
    return Response(data, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="compare-{job.id}.csv"'})


@router.post("/batch/{job_id}/resume", status_code=202, response_model=BatchJobOut,
             summary="Run an interrupted comparison job again (from its first row)")
def resume_batch(request: Request, background: BackgroundTasks, job_id: JobId, principal: Checker,
                 session: DbSession) -> Response:
    """Run again as the caller — a key or officer of the job's department (the rows it answers are its
    checks) —, not as the job's creator, whose key may be revoked since."""
    job = _job(session, principal, job_id, "checks.batch_resume")
    caller = caller_of(session, principal, "checks.batch")
    batch.resume(session, job=job, department_id=caller.department_id, actor=caller.actor)
    background.add_task(compare_runner_of(request.app).start, job.id, caller.actor)
    return _json(batch.job_json(job), 202)


# ---- reading a check back, feedback -----------------------------------------------------------------

@router.get("/{check_id}", response_model=StoredCheckOut,
            summary="The stored answer of a check (same department) and whether its receipt verifies")
def get_check(check_id: CheckId, principal: Reader, session: DbSession, vault: VaultDep) -> Response:
    try:
        check = service.get_check(session, check_id=check_id, department_id=principal.department_id,
                                  any_department=allowed(principal.role, "checks.read_all"))
    except service.MeasuresError as exc:  # another department's (403) or none (404): registered either way
        record_refusal(session, actor=principal.actor, action="checks.read", object_type="check",
                       object_id=check_id, details={"code": exc.code})
        raise
    dept = session.get(Department, check.department_id)
    answer, ok = service.stored_answer(vault.ring, check, dept.code if dept is not None else "",
                                       service.refusals_signed_since(session))
    record(session, actor=principal.actor, action="checks.read", object_type="check", object_id=check_id,
           details={"verified": ok})
    return _json({**answer, "verified": ok})


@router.post("/{check_id}/feedback", status_code=201, response_model=FeedbackOut,
             summary="Report whether a measure of this check's answer was applied")
def feedback(check_id: CheckId, body: FeedbackIn, principal: Checker, session: DbSession,
             vault: VaultDep) -> FeedbackOut:
    # reported by a department, as it checks: none (the admin) or a deactivated one is refused, audited
    caller = caller_of(session, principal, "checks.feedback")
    try:
        fb = service.add_feedback(session, check_id=check_id, caller_department_id=caller.department_id,
                                  measure=body.measure, applied=body.applied, note=body.note,
                                  actor=principal.actor, ring=vault.ring)
    except service.MeasuresError:
        session.commit()  # the refusal's audit entry stays
        raise
    return FeedbackOut(id=fb.id, check_id=fb.check_id, measure=fb.measure, applied=fb.applied, note=fb.note,
                       created_at=fb.created_at)


# ---- scenarios and measures as data ----------------------------------------------------------------

@defs_router.get("/scenarios", response_model=list[ScenarioOut], summary="Scenarios a check may name")
def scenarios(principal: Reader, session: DbSession) -> list[ScenarioOut]:
    return [ScenarioOut(**s) for s in service.definitions(session)[0]]


@defs_router.get("/measures", response_model=list[MeasureDefOut], summary="The measures list (联合奖惩措施清单)")
def measures(principal: Reader, session: DbSession,
             scenario: str | None = Query(default=None, max_length=64),
             kind: Annotated[Literal["incentive", "punishment"] | None, BlankIsNone, Query()] = None,
             ) -> list[MeasureDefOut]:
    return [MeasureDefOut(**m) for m in service.measures_in(session, scenario or None, kind)]


def _unknown(object_type: str, code: str) -> ApiError:
    what = "措施" if object_type == "measure" else "场景"
    return ApiError(404, f"unknown_{object_type}", f"没有{what} {code} / no {object_type} {code}")


def _one(rows: list[dict[str, Any]], object_type: str, code: str) -> dict[str, Any]:
    for row in rows:
        if row["code"] == code:
            return row
    raise _unknown(object_type, code)


@defs_router.get("/measures/{code}", response_model=MeasureDefOut, summary="One measure, as the list shows it")
def measure(code: CodePath, principal: Reader, session: DbSession) -> MeasureDefOut:
    return MeasureDefOut(**_one(service.definitions(session)[1], "measure", code))


@defs_router.get("/scenarios/{code}", response_model=ScenarioOut, summary="One scenario")
def scenario(code: CodePath, principal: Reader, session: DbSession) -> ScenarioOut:
    return ScenarioOut(**_one(service.definitions(session)[0], "scenario", code))


@contextlib.contextmanager
def _save_refusal_registered(session: Session, principal: Principal, kind: str, code: str) -> Iterator[None]:
    """A save the service (or the body's code) refuses is registered as the save's refusal
    (``service.record_save_error``), then answered as before."""
    try:
        yield
    except (service.MeasuresError, ApiError) as exc:
        service.record_save_error(session, actor=principal.actor, kind=kind, code=code, exc=exc)
        raise


def _body_of(code: str, body: Any) -> dict[str, Any]:
    """A save's data from its body: a code in the body must be the path's; a version is ignored."""
    data = body.model_dump()
    sent = data.pop("code")
    data.pop("version")
    if sent is not None and sent != code:
        raise ApiError(422, "code_mismatch", f"请求体中的代码 {sent} 与路径中的 {code} 不一致 / the body's code {sent} "
                                             f"is not the path's {code}",
                       [{"field": "code", "code": "code_mismatch", "message": "与路径不一致 / not the path's code"}])
    return data


@defs_router.put("/measures/{code}", response_model=MeasureDefOut,
                 summary="Create a measure or add a version of it (admin)")
def put_measure(code: CodePath, body: MeasureIn, principal: Manager, session: DbSession) -> MeasureDefOut:
    with _save_refusal_registered(session, principal, "measure", code):
        data = _body_of(code, body)
        service.ensure_loaded(session, actor=principal.actor)
        reason = data.pop("reason")
        row = service.save_measure(session, data={"code": code, **data}, actor=principal.actor, reason=reason)
    return MeasureDefOut(code=row.code, name_zh=row.name_zh, name_en=row.name_en, kind=row.kind,
                         applies_to=row.applies_to, scenarios=row.scenarios, department=row.department,
                         basis=row.basis, active=row.active, version=row.version)


@defs_router.put("/scenarios/{code}", response_model=ScenarioOut, summary="Create a scenario or add a version (admin)")
def put_scenario(code: CodePath, body: ScenarioIn, principal: Manager, session: DbSession) -> ScenarioOut:
    with _save_refusal_registered(session, principal, "scenario", code):
        data = _body_of(code, body)
        service.ensure_loaded(session, actor=principal.actor)
        reason = data.pop("reason")
        row = service.save_scenario(session, data={"code": code, **data}, actor=principal.actor, reason=reason)
    return ScenarioOut(code=row.code, name_zh=row.name_zh, name_en=row.name_en, active=row.active,
                       version=row.version)


def _history(session: Session, object_type: str, code: str) -> list[ChangeOut]:
    changes = service.history(session, object_type=object_type, code=code)
    if not changes:
        raise _unknown(object_type, code)
    return [ChangeOut(version=c.version, data=c.data, reason=c.reason, changed_by=c.changed_by,
                      changed_at=c.changed_at) for c in changes]


@defs_router.get("/measures/{code}/history", response_model=list[ChangeOut], summary="Every version of a measure")
def measure_history(code: CodePath, principal: Reader, session: DbSession) -> list[ChangeOut]:
    return _history(session, "measure", code)


@defs_router.get("/scenarios/{code}/history", response_model=list[ChangeOut], summary="Every version of a scenario")
def scenario_history(code: CodePath, principal: Reader, session: DbSession) -> list[ChangeOut]:
    return _history(session, "scenario", code)


def _save_body_refused(kind: str) -> Any:
    """A measure's or a scenario's save whose body the schema refuses (not JSON, a field missing,
    unknown or too long) registered under the save's action (``measures.measure_save`` /
    ``measures.scenario_save``), ``failed``: the code of the path, the error's code and field and how
    many errors, never a value typed."""

    def register(session: Session, principal: Principal, refused: RefusedBody) -> None:
        service.record_save_refused(session, actor=principal.actor, kind=kind, code=refused.path_params.get("code"),
                                    refusal=refused.code, field=refused.field, errors=refused.errors,
                                    size=refused.size)

    return register


def batch_too_large(session: Session, principal: Principal, refused: RefusedBody) -> None:
    """A batch upload over the size limit (413: its form never read, so neither its scenario nor its
    file's name is known) registered as a refused file is (``checks.batch_create``, denied, code
    ``too_large``) with its size in bytes as far as known."""
    record(session, actor=principal.actor, action="checks.batch_create", object_type="compare_job", outcome="denied",
           details={"scenario": None, "filename": None, "size": refused.size, "code": refused.code,
                    "field": refused.field})


def _counted_too_large(action: str, path: str) -> Any:
    """A check or a feedback body over the size limit (413, never read): registered for its caller
    under the action its schema refusals are counted in (``checks.malformed``,
    ``checks.feedback_malformed``), one call, code ``too_large``, its ``bytes`` as far as known and
    the route's template (never the path as sent)."""

    def register(session: Session, principal: Principal, refused: RefusedBody) -> None:
        record(session, actor=principal.actor, action=action, outcome="denied",
               details=refused.sized({"calls": 1, "path": path, "code": refused.code, "field": refused.field}))

    return register


# a body over the size limit on the check API's routes, whose schema refusals are counted (above):
# registered one by one all the same, for a caller its headers name (docs/integration.md § 1, 413)
too_large_bodies: BodyRefusals = {
    ("POST", "/api/v1/checks"): (("checks.run",), _counted_too_large("checks.malformed", "/api/v1/checks")),
    ("POST", "/api/v1/checks/{check_id}/feedback"): (
        ("checks.run",), _counted_too_large("checks.feedback_malformed", "/api/v1/checks/{check_id}/feedback")),
    ("POST", "/api/v1/checks/batch"): (("checks.run",), batch_too_large),
}

# a body the schema refuses (not JSON, unreadable, the wrong shape) is registered as the route's refusal
refused_bodies: BodyRefusals = {
    ("PUT", "/api/v1/measures/{code}"): (("measures.manage",), _save_body_refused("measure")),
    ("PUT", "/api/v1/scenarios/{code}"): (("measures.manage",), _save_body_refused("scenario")),
    # and so is a read whose path or query the schema refuses (``/checks/batch/abc``, ``?since=x``);
    # ``GET /api/v1/checks/{check_id}`` keeps its counted refusals (``checks.read_malformed``)
    ("GET", "/api/v1/checks/feedback-stats"): (("checks.read_all",), refused_query("checks.feedback_stats")),
    ("GET", "/api/v1/checks/batch/{job_id}"): (("checks.run",), refused_query("checks.batch_read")),
    ("GET", "/api/v1/checks/batch/{job_id}/result.csv"): (("checks.run",), refused_query("checks.batch_result")),
}
