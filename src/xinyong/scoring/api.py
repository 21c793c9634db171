"""Scoring API: a subject's score with its explanation, what-if, rulesets (read, submit, preview) and
the grade distribution. Staff with ``scores.read`` read any subject; a citizen (``self.read``) only
themself. Every call is audited."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.orm import Session

from xinyong import clock
from xinyong.auth.deps import (
    BodyRefusals,
    RefusedBody,
    audit_refusal,
    current_principal,
    refused_query,
    registrable_field,
    require,
)
from xinyong.auth.permissions import allowed
from xinyong.auth.service import Principal
from xinyong.deps import DbSession, ObjectId, SmallId
from xinyong.errors import ApiError, validation_errors
from xinyong.scoring import service
from xinyong.scoring.ruleset import RulesetError
from xinyong.scoring.schemas import (
    ContributionOut,
    DistributionOut,
    GradeCount,
    PreviewOut,
    RuleOut,
    RulesetIn,
    RulesetOut,
    ScoreOut,
    WhatIfContributionOut,
    WhatIfIn,
    WhatIfOut,
)
from xinyong.subjects.models import Subject

router = APIRouter(prefix="/api/v1", tags=["scoring"])
ScoresRead = Annotated[Principal, Depends(require("scores.read"))]
ScoringManage = Annotated[Principal, Depends(require("scoring.manage"))]
MAX_RULESET_BYTES = 200_000


async def _score_reader(request: Request, session: DbSession,
                        principal: Principal | None = Depends(current_principal)) -> Principal:
    """Staff with ``scores.read``, or a citizen (``self.read``: for themself only, checked per subject)."""
    if principal is None:
        raise ApiError(401, "unauthenticated", "请先登录或提供 API 密钥 / authentication required")
    if not (allowed(principal.role, "scores.read") or allowed(principal.role, "self.read")):
        audit_refusal(session, actor=principal.actor, action="auth.forbidden",
                      details={"path": request.url.path, "permission": "scores.read"})
        raise ApiError(403, "forbidden", "无权执行此操作 / you are not allowed to do this")
    return principal


ScoreReader = Annotated[Principal, Depends(_score_reader)]


def readable_subject(session: Session, principal: Principal, subject_id: int, action: str) -> Subject:
    """The subject if the caller may see its score; otherwise a 404 (the same whether it exists or
    not), registered as a denied ``action``."""
    subject = session.get(Subject, subject_id)
    is_self = principal.role == "citizen" and principal.subject_id == subject_id
    if subject is None or (not allowed(principal.role, "scores.read") and not is_self):
        service.record_subject_refused(session, actor=principal.actor, action=action, subject_id=subject_id,
                                       reason="not_found" if subject is None else "not_own")
        raise ApiError(404, "not_found", "信用主体不存在 / subject not found")
    return subject


def _contribs(e: service.Explanation) -> list[ContributionOut]:
    return [ContributionOut(record_id=c.record_id, item=c.item, variant=c.variant, decided_at=c.decided_at,
                            points=c.points, reason=c.reason, counts_until=c.counts_until) for c in e.contributions]


def score_out(e: service.Explanation) -> ScoreOut:
    return ScoreOut(subject_id=e.subject_id, score=e.score, grade=e.grade, ruleset_version=e.ruleset_version,
                    base=e.base, points_grade=e.points_grade, forced_by=e.forced_by, lists=e.lists,
                    contributions=_contribs(e))


@router.get("/subjects/{subject_id}/score", response_model=ScoreOut,
            summary="A subject's score, grade and every contribution (explained)")
def get_score(subject_id: ObjectId, principal: ScoreReader, session: DbSession) -> ScoreOut:
    readable_subject(session, principal, subject_id, "score.read")
    e = service.explain(session, subject_id, today=clock.today())
    service.record_score_read(session, actor=principal.actor, explanation=e)
    return score_out(e)


def _refuse(exc: service.ScoringError | RulesetError) -> ApiError:
    errors = exc.errors if isinstance(exc, RulesetError) else [
        {"field": exc.field or "body", "code": exc.code, "message": exc.message}]
    return ApiError(422, exc.code, exc.message, errors)


@router.post("/subjects/{subject_id}/score/what-if", response_model=WhatIfOut,
             summary="The score and grade a hypothetical change would give (nothing is written)")
def what_if(subject_id: ObjectId, body: WhatIfIn, principal: ScoreReader, session: DbSession) -> WhatIfOut:
    readable_subject(session, principal, subject_id, "score.what_if")
    try:
        current, new = service.what_if(session, subject_id, body.changes, today=clock.today())
    except service.ScoringError as exc:
        service.record_what_if_refused(session, actor=principal.actor, subject_id=subject_id, code=exc.code,
                                       field=exc.field)
        raise _refuse(exc) from exc
    service.record_what_if(session, actor=principal.actor, subject_id=subject_id, changes=len(body.changes), result=new)
    return WhatIfOut(subject_id=subject_id, current_score=current.score, current_grade=current.grade, score=new.score,
                     grade=new.grade, ruleset_version=new.ruleset_version, forced_by=new.forced_by,
                     contributions=[WhatIfContributionOut(**c.model_dump(), display_until=d.display_until)
                                    for c, d in zip(_contribs(new), new.contributions, strict=True)])


def ruleset_out(session: Session, row: Any, *, full: bool = False, today: date | None = None) -> RulesetOut:
    active = service.active_version(session, today=today or clock.today())
    out = RulesetOut(version=row.version, effective_from=row.effective_from, active=row.version == active,
                     base=row.base, created_at=row.created_at, created_by=row.created_by, note=row.note)
    if full:
        out.spec, out.source = row.spec, row.source
        out.rules = [RuleOut.model_validate(r) for r in service.rules_of(session, row.version)]
    return out


@router.get("/scoring/rulesets", response_model=list[RulesetOut], summary="Ruleset versions, newest first")
def list_rulesets(principal: ScoresRead, session: DbSession) -> list[RulesetOut]:
    service.ensure_default(session)
    out = [ruleset_out(session, r) for r in service.versions(session)]
    service.record_rulesets_listed(session, actor=principal.actor, count=len(out))
    return out


@router.get("/scoring/rulesets/{version}", response_model=RulesetOut, summary="One ruleset version with its rules")
def get_ruleset(version: SmallId, principal: ScoresRead, session: DbSession) -> RulesetOut:
    service.ensure_default(session)
    row = service.get_version(session, version)
    service.record_ruleset_read(session, actor=principal.actor, version=version, found=row is not None)
    if row is None:
        raise ApiError(404, "not_found", f"没有评分规则版本 {version} / no ruleset version {version}")
    return ruleset_out(session, row, full=True)


_BODY_DOC: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": RulesetIn.model_json_schema()},
    "application/yaml": {"schema": {"type": "string"}},
    "text/plain": {"schema": {"type": "string"}}}}}


async def _ruleset_body(request: Request, effective_from: date | None) -> RulesetIn:
    raw = await request.body()
    if len(raw) > MAX_RULESET_BYTES:
        raise ApiError(413, "too_large", "评分规则过大 / ruleset too large")
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        message = ("请求体应为 {\"yaml\" 或 \"ruleset\", \"effective_from\"} / "
                   "body must be {\"yaml\" or \"ruleset\", \"effective_from\"}")
        too_deep = [{"field": "body", "code": "too_deep", "message": "JSON 嵌套层级过深 / JSON nested too deeply"}]
        try:
            body = RulesetIn.model_validate(json.loads(raw or b"null"))
        except RecursionError:  # arrays thousands deep: the JSON reader recursed past Python's limit
            raise ApiError(422, "validation_error", message, too_deep) from None
        except ValidationError as exc:  # each wrong field named, as FastAPI's own 422s are
            raise ApiError(422, "validation_error", message,
                           validation_errors(RequestValidationError(exc.errors()))) from exc
        except ValueError as exc:
            raise ApiError(422, "validation_error", message,
                           [{"field": "body", "code": "json_invalid",
                             "message": f"JSON 格式错误 / invalid JSON ({str(exc)[:200]})"}]) from exc
        if (body.yaml is None) == (body.ruleset is None):
            raise ApiError(422, "validation_error", "请提供 yaml 或 ruleset 之一 / give exactly one of yaml, ruleset",
                           [{"field": "yaml", "code": "missing", "message": "yaml | ruleset"}])
        if body.ruleset is not None:
            try:
                body.yaml = yaml.safe_dump(body.ruleset, allow_unicode=True, sort_keys=False)
            except RecursionError:  # hundreds deep: the YAML writer recurses too
                raise ApiError(422, "validation_error", message, [{**too_deep[0], "field": "ruleset"}]) from None
        if effective_from is not None and body.effective_from is None:
            body.effective_from = effective_from
        return body
    try:
        text_ = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(422, "encoding", "YAML 应为 UTF-8 编码 / YAML must be UTF-8",
                       [{"field": "body", "code": "encoding", "message": "UTF-8"}]) from exc
    return RulesetIn(yaml=text_, effective_from=effective_from)


async def _registered_body(request: Request, session: Session, principal: Principal, action: str,
                           effective_from: date | None) -> RulesetIn:
    try:
        return await _ruleset_body(request, effective_from)
    except ApiError as exc:
        first = (exc.errors or [{}])[0]
        service.record_ruleset_body_refused(
            session, actor=principal.actor, action=action, code=str(first.get("code") or exc.code)[:64],
            field=registrable_field(str(first.get("field") or "body")), errors=len(exc.errors or ()) or 1,
            size=len(await request.body()) if exc.status == 413 else None)
        raise


def _query_refused(action: str) -> Any:
    """The same for a query the schema refuses (an ``effective_from`` that is no date): FastAPI's 422."""

    def register(session: Session, principal: Principal, refused: RefusedBody) -> None:
        service.record_ruleset_body_refused(session, actor=principal.actor, action=action, code=refused.code,
                                            field=refused.field, errors=refused.errors, size=refused.size)

    return register


def _what_if_refused(session: Session, principal: Principal, refused: RefusedBody) -> None:
    """A what-if whose body the schema refuses (no ``changes``, over 50, not a list) registered as one
    the rules refuse (``score.what_if``, ``failed``, the subject asked for, the code and field)."""
    service.record_what_if_refused(session, actor=principal.actor, subject_id=refused.path_id("subject_id"),
                                   code=refused.code, field=refused.field, size=refused.size)


EffectiveFrom = Annotated[date | None, Query(description="For a YAML body: the day it takes effect")]


@router.post("/scoring/rulesets", response_model=RulesetOut, status_code=201, openapi_extra=_BODY_DOC,
             summary="Submit a ruleset (YAML or JSON): a new version, effective from a date")
async def post_ruleset(request: Request, principal: ScoringManage, session: DbSession,
                       effective_from: EffectiveFrom = None) -> RulesetOut:
    body = await _registered_body(request, session, principal, "scoring.ruleset_create", effective_from)
    today = clock.today()
    try:
        service.ensure_default(session)
        row = service.save_ruleset(session, text_=body.yaml or "", actor=principal.actor,
                                   effective_from=body.effective_from, today=today, note=body.note)
    except (service.ScoringError, RulesetError) as exc:
        service.record_ruleset_refused(session, actor=principal.actor, action="scoring.ruleset_create",
                                       code=exc.code, line=getattr(exc, "line", None))
        raise _refuse(exc) from exc
    return ruleset_out(session, row, full=True, today=today)


@router.post("/scoring/rulesets/preview", response_model=PreviewOut, openapi_extra=_BODY_DOC,
             summary="How many people would change grade under this ruleset (nothing is written)")
async def preview(request: Request, principal: ScoringManage, session: DbSession,
                  effective_from: EffectiveFrom = None) -> PreviewOut:
    body = await _registered_body(request, session, principal, "scoring.preview", effective_from)
    try:
        out = service.preview(session, text_=body.yaml or "", today=clock.today())
    except (service.ScoringError, RulesetError) as exc:
        service.record_ruleset_refused(session, actor=principal.actor, action="scoring.preview", code=exc.code,
                                       line=getattr(exc, "line", None))
        raise _refuse(exc) from exc
    service.record_preview(session, actor=principal.actor, changed=out["changed"])
    return PreviewOut(**out)


@router.get("/scoring/distribution", response_model=DistributionOut, summary="People per grade")
def get_distribution(principal: ScoresRead, session: DbSession) -> DistributionOut:
    d = service.distribution(session, today=clock.today())
    service.record_distribution(session, actor=principal.actor, total=d["total"])
    return DistributionOut(ruleset_version=d["ruleset_version"], total=d["total"],
                           grades=[GradeCount(**g) for g in d["grades"]])


# a body (or query) the schema refuses before the route runs is registered as the route's refusal
refused_bodies: BodyRefusals = {
    ("POST", "/api/v1/scoring/rulesets"): (("scoring.manage",), _query_refused("scoring.ruleset_create")),
    ("POST", "/api/v1/scoring/rulesets/preview"): (("scoring.manage",), _query_refused("scoring.preview")),
    ("POST", "/api/v1/subjects/{subject_id}/score/what-if"): (("scores.read", "self.read"), _what_if_refused),
    # and so is a read whose path the schema refuses (``/subjects/abc/score``, ``/scoring/rulesets/0``)
    ("GET", "/api/v1/subjects/{subject_id}/score"): (("scores.read", "self.read"), refused_query("score.read")),
    ("GET", "/api/v1/scoring/rulesets/{version}"): (("scores.read",), refused_query("scoring.ruleset_read")),
}
