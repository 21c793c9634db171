"""Audit log for auditors and the credit office: browse entries and verify the chain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from xinyong.audit import service
from xinyong.audit.filters import Filters, parse_filters, utc_bounds
from xinyong.audit.models import AuditEntry
from xinyong.audit.service import record, record_refusal
from xinyong.auth.deps import BodyRefusals, refused_query, require
from xinyong.auth.service import Principal
from xinyong.deps import DbSession
from xinyong.errors import ApiError
from xinyong.web.i18n import translate

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
AuditRead = Annotated[Principal, Depends(require("audit.read"))]


class EntryOut(BaseModel):
    id: int
    seq: int | None
    occurred_at: datetime
    actor_type: str
    actor_id: str | None
    actor_label: str | None
    department_id: int | None
    action: str
    object_type: str | None
    object_id: str | None
    outcome: str
    request_id: str | None
    details: dict[str, Any]
    entry_hash: str | None


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    head_seq: int
    pending: int
    problem: str | None
    seq: int | None
    entry_id: int | None
    message: str


@router.get("/entries", response_model=list[EntryOut], summary="Audit entries, newest first")
def entries(request: Request, principal: AuditRead, session: DbSession,
            action: str | None = Query(default=None, max_length=64),
            actor: str | None = Query(default=None, max_length=128,
                                      description="a user name, a key's label or an actor id, exactly"),
            outcome: str | None = Query(default=None, max_length=16, description="ok, denied, failed or error"),
            object_type: str | None = Query(default=None, max_length=32),
            object_id: str | None = Query(default=None, max_length=64),
            occurred_from: str | None = Query(default=None, max_length=32,
                                              description="YYYY-MM-DD, in the district's time zone, included"),
            occurred_to: str | None = Query(default=None, max_length=32,
                                            description="YYYY-MM-DD, in the district's time zone, included"),
            before_id: int | None = Query(default=None, ge=1, le=9_223_372_036_854_775_807),
            limit: int = Query(default=100, ge=1, le=500)) -> list[AuditEntry]:
    # the page's filters, read and refused as the page reads and refuses them (audit.filters)
    f = parse_filters(action=action or "", actor=actor or "", outcome=outcome or "", object_type=object_type or "",
                      object_id=object_id or "", occurred_from=occurred_from or "", occurred_to=occurred_to or "",
                      before_id="")
    if f.errors:
        _refuse(session, principal, f)
    start, end = utc_bounds(request.app.state.settings.tz, f)
    rows = service.list_entries(session, action=f.action or None, actor=f.actor or None, outcome=f.outcome or None,
                                object_type=f.object_type or None, object_id=f.object_id or None,
                                occurred_from=start, occurred_before=end, before_id=before_id, limit=limit)
    record(session, actor=principal.actor, action="audit.read",
           details={**f.audit_details(), "before_id": before_id, "limit": limit, "count": len(rows)})
    return rows


def _refuse(session: Session, principal: Principal, f: Filters) -> NoReturn:
    """A filter that cannot be applied: 422 naming each refused filter with its reason (an empty list
    would read as "no such entries"), registered as the API's other refused queries are
    (``audit.read``, ``failed``, the first code and field, how many) with every refused filter's name;
    never a value sent."""
    errors = []
    for name in f.refused:
        key = f.reasons[name]
        message = f"{translate('zh', key)} / {translate('en', key)}"
        errors.append({"field": name, "code": key.rsplit(".", 1)[-1], "message": message})
    record_refusal(session, actor=principal.actor, action="audit.read", outcome="failed",
                   details={"code": errors[0]["code"], "field": errors[0]["field"], "errors": len(errors),
                            "fields": list(f.refused)})
    raise ApiError(422, errors[0]["code"], errors[0]["message"], errors)


@router.post("/verify", response_model=VerifyOut, summary="Walk the chain and report the first problem")
def verify(principal: AuditRead, session: DbSession) -> VerifyOut:
    res = service.verify(session)
    record(session, actor=principal.actor, action="audit.verify",
           details={"ok": res.ok, "checked": res.checked, "problem": res.problem})
    return VerifyOut(ok=res.ok, checked=res.checked, head_seq=res.head_seq, pending=res.pending, problem=res.problem,
                     seq=res.seq, entry_id=res.entry_id, message=res.message)


# a query the schema refuses (``?limit=0``, ``?before_id=x``: FastAPI's 422 before the route runs) is
# registered as a refused read (``audit.read``, ``failed``)
refused_bodies: BodyRefusals = {
    ("GET", "/api/v1/audit/entries"): (("audit.read",), refused_query("audit.read")),
}
