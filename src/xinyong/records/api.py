"""Records API: push (1-1,000 records), read with revisions, revoke, list own, recompute display."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.audit.service import record, record_not_found, record_refusal
from xinyong.auth.deps import BodyRefusals, RefusedBody, audit_refusal, refused_query, require
from xinyong.auth.models import Department
from xinyong.auth.permissions import allowed
from xinyong.auth.service import Principal, take_key_stamp, write_key_stamp
from xinyong.catalog.service import current_items, get_version
from xinyong.deps import BlankIsNone, DbSession, ObjectId, VaultDep
from xinyong.errors import ApiError
from xinyong.privacy.masking import mask_id_numbers_in_values
from xinyong.privacy.vault import Vault
from xinyong.records import service
from xinyong.records.models import Record
from xinyong.records.schemas import (
    PushIn,
    PushOut,
    QualityOut,
    RecomputeIn,
    RecomputeOut,
    RecordListOut,
    RecordOut,
    RevisionOut,
    RevokeIn,
)
from xinyong.subjects.models import Subject

router = APIRouter(prefix="/api/v1/records", tags=["records"])
quality_router = APIRouter(prefix="/api/v1/quality", tags=["records"])
Pusher = Annotated[Principal, Depends(require("records.push"))]
Reader = Annotated[Principal, Depends(require("records.read"))]
CatalogAdmin = Annotated[Principal, Depends(require("catalog.manage"))]


def department_of(session: Session, principal: Principal, what: str = "records.push") -> service.DepartmentRef:
    """The caller's active department: records and files are sent by a department (its key or one of
    its officers). Anyone else allowed to call (the credit office's admin) is refused, and the
    refusal audited (``auth.forbidden``, as a missing permission is)."""
    if principal.department_id is None:
        audit_refusal(session, actor=principal.actor, action="auth.forbidden",
                      details={"permission": what, "reason": "department_required"})
        raise ApiError(403, "department_required", "只有部门账户或部门密钥可以报送记录 / only a department's account or key may push records")
    dept = session.get(Department, principal.department_id)
    if dept is None or not dept.active:
        inactive_refused(session, principal, what)
        raise ApiError(403, "department_inactive", "部门不存在或已停用 / department missing or inactive")
    return service.DepartmentRef(id=dept.id, code=dept.code)


@router.post("", response_model=PushOut, summary="Push 1 to 1,000 records (idempotent by source_id)")
def push(body: PushIn, request: Request, principal: Pusher, session: DbSession, vault: VaultDep) -> PushOut:
    n = len(body.records)
    if n == 0 or n > service.MAX_BATCH:
        msg = f"每批1至{service.MAX_BATCH}条记录，本批{n}条 / a batch holds 1 to {service.MAX_BATCH} records; got {n}"
        code = "batch_too_large" if n else "batch_empty"
        service.record_batch_refusal(session, principal.actor, principal.department_id, code, "records", size=n)
        raise ApiError(422, code, msg, [{"field": "records", "code": code, "message": msg}])
    # The request's transaction only reads (xinyong.deps: _READ_THEN_WRITE): the key (its last-use
    # stamp is taken out and written below), the department, the catalog. The batch is checked with
    # no transaction open, then written in one transaction of its own: on SQLite the write lock is
    # held for the writing alone, so that two workers check one batch while they write another.
    stamp = take_key_stamp(session)
    dept = department_of(session, principal)
    items = current_items(session)
    session.commit()  # ends the read transaction (nothing is pending: the stamp was taken out)
    checked = service.check_batch(body.records, items=items, department=dept, vault=vault)
    try:
        with request.app.state.db.session() as writing:
            write_key_stamp(writing, stamp)
            outcomes = service.ingest(writing, vault=vault, department=dept, records=body.records,
                                      actor=principal.actor, checked=checked)
    except service.DepartmentInactive as exc:  # deactivated while the batch was checked: nothing written
        inactive_refused(session, principal)
        raise ApiError(exc.status, exc.code, exc.message) from exc
    # Serialised directly (the shape is PushOut's): validating 1,000 results again costs more than the JSON.
    payload = {"results": [{"index": o.index, "status": o.status, "record_id": o.record_id, "errors": o.errors}
                           for o in outcomes]}
    return Response(orjson.dumps(payload), media_type="application/json")  # type: ignore[return-value]


def _push_body_refused(session: Session, principal: Principal, refused: RefusedBody) -> None:
    records = refused.body.get("records") if isinstance(refused.body, dict) else None
    service.record_batch_refusal(session, principal.actor, principal.department_id, refused.code, refused.field,
                                 errors=refused.errors, size=len(records) if isinstance(records, list) else None,
                                 body_bytes=refused.size)


def record_out(session: Session, vault: Vault, rec: Record, *, with_revisions: bool) -> RecordOut:
    subj = session.get(Subject, rec.subject_id)
    assert subj is not None
    dept_code = session.scalar(select(Department.code).where(Department.id == rec.department_id)) or ""
    item = get_version(session, rec.item_id)
    revs: list[RevisionOut] = []
    if with_revisions:
        versions: dict[int, int] = {}
        for r in service.revisions_of(session, rec.id):
            if r.item_id not in versions:
                iv = get_version(session, r.item_id)
                versions[r.item_id] = iv.version if iv else 0
            revs.append(RevisionOut.model_validate(r).model_copy(update={"item_version": versions[r.item_id],
                                                                        "fields": mask_id_numbers_in_values(r.fields)}))
        revs.append(RevisionOut(revision=rec.revision, kind=rec.change_kind, item_version=item.version if item else 0,
                                severity=rec.severity, decided_at=rec.decided_at,
                                fields=mask_id_numbers_in_values(rec.fields), status=rec.status,
                                publish=rec.publish, display_until=rec.display_until, reason=rec.status_reason, created_at=rec.updated_at, actor_label=rec.changed_by))
    return RecordOut(
        id=rec.id, item=rec.item_code, item_version=item.version if item else 0, department=dept_code,
        source_id=rec.source_id, subject_id=rec.subject_id,
        id_number_masked=vault.masked_id(subj.id_bidx, subj.id_cipher, subj.key_id),
        name_masked=vault.masked_name(subj.id_bidx, subj.name_cipher, subj.key_id),
        category=rec.category, severity=rec.severity, decided_at=rec.decided_at,
        fields=mask_id_numbers_in_values(rec.fields),
        revision=rec.revision, status=rec.status, status_reason=rec.status_reason, publish=rec.publish,
        min_display_until=rec.min_display_until, display_until=rec.display_until, retain_until=rec.retain_until,
        received_at=rec.received_at, updated_at=rec.updated_at, revisions=revs,
    )


def _get(session: Session, principal: Principal, record_id: ObjectId, action: str) -> Record:
    """The record if the caller may see it, else 404 — the same whether it exists or not — and the
    refused ``action`` registered (as the lists API registers its 404s)."""
    try:
        return service.get_for_department(session, record_id=record_id, department_id=principal.department_id,
                                          any_department=allowed(principal.role, "records.read_all"))
    except service.RecordError as exc:
        _refused(session, principal, record_id, action)
        raise ApiError(exc.status, exc.code, exc.message) from exc


def _refused(session: Session, principal: Principal, record_id: int, action: str) -> None:
    record_not_found(session, actor=principal.actor, action=action, object_type="record", object_id=record_id)


def revoke_refused(session: Session, principal: Principal, record_id: int, exc: service.RecordError) -> None:
    """A revocation the rules refused — a record already revoked or archived (``denied``), a reason
    missing, too long or with control characters (``failed``) — registered under ``record.revoke``
    with its code and field (never the reason typed), as the lists register their refused steps
    (the API's and the workspace page's refusals alike)."""
    record_refusal(session, actor=principal.actor, action="record.revoke", object_type="record",
                   object_id=record_id, details={"code": exc.code, "field": exc.field},
                   outcome="denied" if exc.status == 409 else "failed")


def inactive_refused(session: Session, principal: Principal, what: str = "records.push") -> None:
    """A deactivated department's change refused: registered as ``department_of`` registers it (the
    API's and the workspace page's refusals alike)."""
    audit_refusal(session, actor=principal.actor, action="auth.forbidden",
                  details={"permission": what, "reason": "department_inactive"})


def _check_range(session: Session, principal: Principal, action: str, lo_name: str, lo: date | None,
                 hi_name: str, hi: date | None) -> None:
    """A range whose start is after its end (swapped parameters) is refused, naming its end: an empty
    answer would read as "nothing there". Registered as a query the schema refuses is
    (``auth.deps.refused_query``: ``action``, ``failed``, the code and the field)."""
    if lo is not None and hi is not None and lo > hi:
        record_refusal(session, actor=principal.actor, action=action, outcome="failed",
                       details={"code": "invalid_range", "field": hi_name, "errors": 1})
        message = (f"日期范围颠倒：{hi_name}（{hi.isoformat()}）早于 {lo_name}（{lo.isoformat()}） / "
                   f"the range is reversed: {hi_name} ({hi.isoformat()}) is before {lo_name} ({lo.isoformat()})")
        raise ApiError(422, "invalid_range", message, [{"field": hi_name, "code": "invalid_range", "message": message}])


@router.get("", response_model=RecordListOut, summary="My department's records, newest first")
def list_records(principal: Reader, session: DbSession, vault: VaultDep,
                 item: Annotated[Annotated[str, Field(max_length=64)] | None, BlankIsNone] = None,
                 status: Annotated[Annotated[str, Field(pattern="^(active|expired|revoked|archived)$")] | None,
                                   BlankIsNone] = None,
                 decided_from: Annotated[date | None, BlankIsNone] = None, decided_to: Annotated[date | None, BlankIsNone] = None,
                 before_id: Annotated[Annotated[int, Field(ge=1, le=9_223_372_036_854_775_807)] | None,
                                      BlankIsNone] = None,
                 limit: Annotated[Annotated[int, Field(ge=1, le=200)] | None, BlankIsNone] = None) -> RecordListOut:
    _check_range(session, principal, "records.list", "decided_from", decided_from, "decided_to", decided_to)
    if item is not None and item not in current_items(session):  # as the records page refuses it: an empty
        # answer would read as "none of that item"; the value is not echoed (it could be anything typed)
        record_refusal(session, actor=principal.actor, action="records.list", outcome="failed",
                       details={"code": "unknown_item", "field": "item", "errors": 1})
        message = "目录中没有这个信息事项 / no such catalog item"
        raise ApiError(422, "unknown_item", message, [{"field": "item", "code": "unknown_item", "message": message}])
    limit = limit or 50
    stmt = select(Record).order_by(Record.id.desc()).limit(limit + 1)
    if not allowed(principal.role, "records.read_all"):
        stmt = stmt.where(Record.department_id == principal.department_id)
    stmt = service.filter_records(stmt, item=item, status=status, decided_from=decided_from,
                                  decided_to=decided_to, before_id=before_id)
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    # what was asked, as the records page registers it
    record(session, actor=principal.actor, action="records.list",
           details={"item": item, "status": status, "decided_from": decided_from.isoformat() if decided_from else None,
                    "decided_to": decided_to.isoformat() if decided_to else None, "before_id": before_id,
                    "limit": limit, "count": len(rows), "via": "api"})
    return RecordListOut(items=[record_out(session, vault, r, with_revisions=False) for r in rows],
                         next_before_id=rows[-1].id if more and rows else None)


@router.get("/{record_id}", response_model=RecordOut, summary="A record with its revisions and display dates")
def get_record(record_id: ObjectId, principal: Reader, session: DbSession, vault: VaultDep) -> RecordOut:
    rec = _get(session, principal, record_id, "record.read")
    record(session, actor=principal.actor, action="record.read", object_type="record", object_id=rec.id)
    return record_out(session, vault, rec, with_revisions=True)


@router.post("/{record_id}/revoke", response_model=RecordOut, summary="Revoke a record (kept, no longer shown)")
def revoke(record_id: ObjectId, body: RevokeIn, principal: Pusher, session: DbSession, vault: VaultDep) -> RecordOut:
    rec = _get(session, principal, record_id, "record.revoke")
    if rec.department_id != principal.department_id:  # read by a credit-office reader, changed by its department only
        _refused(session, principal, record_id, "record.revoke")
        raise ApiError(404, "not_found", "记录不存在 / record not found")
    try:
        service.revoke(session, rec=rec, reason=body.reason, actor=principal.actor, act_ended_on=body.act_ended_on)
    except service.DepartmentInactive as exc:  # a deactivated department changes nothing any more
        inactive_refused(session, principal)
        raise ApiError(exc.status, exc.code, exc.message) from exc
    except service.RecordError as exc:
        revoke_refused(session, principal, record_id, exc)
        # a refused reason or end of the act names its field; a record already revoked or archived (409) none
        errors = [{"field": exc.field, "code": exc.code, "message": exc.message}] if exc.field else []
        raise ApiError(exc.status, exc.code, exc.message, errors) from exc
    return record_out(session, vault, rec, with_revisions=True)


@router.post("/recompute-display", response_model=RecomputeOut,
             summary="Apply an item's current display rule to its existing records (credit office)")
def recompute(body: RecomputeIn, principal: CatalogAdmin, session: DbSession) -> RecomputeOut:
    try:
        n = service.recompute_display(session, item_code=body.item, actor=principal.actor)
    except service.RecordError as exc:
        service.recompute_refused(session, principal.actor, body.item, exc)
        raise ApiError(exc.status, exc.code, exc.message) from exc
    return RecomputeOut(item=body.item, changed=n)


def _revoke_body_refused(session: Session, principal: Principal, refused: RefusedBody) -> None:
    """A revocation whose body the schema refuses (no reason, an empty one, over 1,000 characters)
    registered as one the rules refuse (:func:`revoke_refused`): ``record.revoke``, ``failed``."""
    record_id = refused.path_id("record_id")
    record_refusal(session, actor=principal.actor, action="record.revoke", object_type="record", object_id=record_id,
                   details=refused.sized({"code": refused.code, "field": refused.field}), outcome="failed")


def _recompute_body_refused(session: Session, principal: Principal, refused: RefusedBody) -> None:
    service.recompute_refused(session, principal.actor, None, None, code=refused.code, field=refused.field,
                              body_bytes=refused.size)


QualityReader = Annotated[Principal, Depends(require("records.read"))]


@quality_router.get("", response_model=list[QualityOut],
                    summary="Data quality per department: pushed, rejected by reason, arrival delay")
def quality(principal: QualityReader, session: DbSession, since: date | None = None,
            until: date | None = None) -> list[QualityOut]:
    from xinyong.records.quality import department_quality

    _check_range(session, principal, "quality.read", "since", since, "until", until)
    scope = None if allowed(principal.role, "quality.read") else principal.department_id
    if scope is None and not allowed(principal.role, "quality.read"):
        raise ApiError(403, "forbidden", "无权查看 / not allowed")
    rows = department_quality(session, since=since, until=until, department_id=scope)
    record(session, actor=principal.actor, action="quality.read",
           details={"since": since.isoformat() if since else None, "until": until.isoformat() if until else None})
    return [QualityOut(**q.as_dict()) for q in rows]


extra_routers = (quality_router,)
# a body the schema refuses (not JSON, unreadable, the wrong shape) is registered as the route's refusal
refused_bodies: BodyRefusals = {
    ("POST", "/api/v1/records"): (("records.push",), _push_body_refused),
    ("POST", "/api/v1/records/{record_id}/revoke"): (("records.push",), _revoke_body_refused),
    ("POST", "/api/v1/records/recompute-display"): (("catalog.manage",), _recompute_body_refused),
    # and so is a read whose path or query the schema refuses (``/records/abc``, ``?decided_from=x``)
    ("GET", "/api/v1/records"): (("records.read",), refused_query("records.list")),
    ("GET", "/api/v1/records/{record_id}"): (("records.read",), refused_query("record.read")),
    ("GET", "/api/v1/quality"): (("records.read",), refused_query("quality.read")),
}
