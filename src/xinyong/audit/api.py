"""Audit log for auditors and the credit office: browse entries and verify the chain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from xinyong.audit import service
from xinyong.audit.models import AuditEntry
from xinyong.audit.service import record
from xinyong.auth.deps import BodyRefusals, refused_query, require
from xinyong.auth.service import Principal
from xinyong.deps import DbSession

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
def entries(principal: AuditRead, session: DbSession,
            action: str | None = Query(default=None, max_length=64),
            object_type: str | None = Query(default=None, max_length=32),
            object_id: str | None = Query(default=None, max_length=64),
            before_id: int | None = Query(default=None, ge=1, le=9_223_372_036_854_775_807),
            limit: int = Query(default=100, ge=1, le=500)) -> list[AuditEntry]:
    rows = service.list_entries(session, action=action, object_type=object_type, object_id=object_id,
                                before_id=before_id, limit=limit)
    record(session, actor=principal.actor, action="audit.read",
           details={"filter": {"action": action, "object_type": object_type, "object_id": object_id}, "count": len(rows)})
    return rows


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
