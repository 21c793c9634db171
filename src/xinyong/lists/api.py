"""Lists API: kinds with counts, entries (masked), the listing steps, the clean_3y status.

Departments (officers, department keys) see and act on their own department's entries only; the
credit office and auditors see every entry. A citizen reads and answers (defence) their own entries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong import clock
from xinyong.audit.service import record, record_not_found
from xinyong.auth.deps import (
    BodyRefusals,
    RefusedBody,
    audit_refusal,
    check_step_up,
    current_principal,
    refused_query,
    require,
)
from xinyong.auth.models import Department
from xinyong.auth.permissions import allowed
from xinyong.auth.service import Principal
from xinyong.deps import BlankIsNone, DbSession, ObjectId, VaultDep
from xinyong.errors import ApiError
from xinyong.lists import service
from xinyong.lists.models import ENTRY_STATUSES, ListEntry, ListKind
from xinyong.lists.schemas import (
    CategoryOut,
    CleanListOut,
    CleanOut,
    DecideIn,
    DefenceIn,
    EntryIn,
    EntryListOut,
    EntryOut,
    ListKindOut,
    NotifyIn,
    RemoveIn,
)
from xinyong.privacy.vault import Vault
from xinyong.subjects.models import Subject

router = APIRouter(prefix="/api/v1", tags=["lists"])
Reader = Annotated[Principal, Depends(require("lists.read"))]
Proposer = Annotated[Principal, Depends(require("lists.propose"))]
Decider = Annotated[Principal, Depends(require("lists.decide"))]
ListCode = Annotated[str, Path(max_length=32)]
STATUS_PATTERN = "^(" + "|".join(ENTRY_STATUSES) + ")$"


def scoped(principal: Principal) -> bool:
    """Departments are restricted to their own department's entries; the credit office (who decides
    listings) and auditors (who read every record) are not."""
    return not (allowed(principal.role, "lists.decide") or allowed(principal.role, "records.read_all"))


def _forbidden(request: Request, session: Session, principal: Principal, permission: str) -> ApiError:
    audit_refusal(session, actor=principal.actor, action="auth.forbidden",
                  details={"path": request.url.path, "permission": permission})
    return ApiError(403, "forbidden", "无权执行此操作 / you are not allowed to do this")


async def _entry_reader(request: Request, session: DbSession,
                        principal: Principal | None = Depends(current_principal)) -> Principal:
    """Staff with ``lists.read``, or a citizen (``lists.defend``: their own entries, checked per entry)."""
    if principal is None:
        raise ApiError(401, "unauthenticated", "请先登录或提供 API 密钥 / authentication required")
    if not (allowed(principal.role, "lists.read") or allowed(principal.role, "lists.defend")):
        raise _forbidden(request, session, principal, "lists.read")
    return principal


async def _defender(request: Request, session: DbSession,
                    principal: Principal | None = Depends(current_principal)) -> Principal:
    """The citizen for themself (``lists.defend``), or staff recording a defence (``lists.propose``)."""
    if principal is None:
        raise ApiError(401, "unauthenticated", "请先登录或提供 API 密钥 / authentication required")
    if not (allowed(principal.role, "lists.defend") or allowed(principal.role, "lists.propose")):
        raise _forbidden(request, session, principal, "lists.defend")
    return principal


EntryReader = Annotated[Principal, Depends(_entry_reader)]
Defender = Annotated[Principal, Depends(_defender)]


def _entry(session: Session, principal: Principal, entry_id: int, action: str) -> ListEntry:
    """The entry if the caller may see it, else 404 (the same whether it exists or not), registered."""
    try:
        if principal.role == "citizen" or not (allowed(principal.role, "lists.read")
                                               or allowed(principal.role, "lists.propose")):
            entry = service.get_entry(session, entry_id)
            # their own entries, those they were told of (as /my/lists shows them)
            if principal.subject_id is None or entry.subject_id != principal.subject_id or not service.told_of(entry):
                raise service.ListError("not_found", "名单条目不存在", "list entry not found", "entry_id", 404)
            return entry
        return service.get_entry(session, entry_id, department_id=principal.department_id, scoped=scoped(principal))
    except service.ListError:
        record_not_found(session, actor=principal.actor, action=action, object_type="list_entry", object_id=entry_id)
        raise


@contextmanager
def _refusal_registered(session: Session, principal: Principal, action: str, entry_id: int | None = None,
                        ) -> Iterator[None]:
    """A step the lists refuse is registered (``service.record_step_refusal``), then answered."""
    try:
        yield
    except service.ListError as exc:
        service.record_step_refusal(session, actor=principal.actor, action=action, entry_id=entry_id, error=exc)
        raise
    except ApiError as exc:  # the proposal's department (_department_for): another's (403) or none such (422)
        service.record_refused_step(session, actor=principal.actor, action=action, entry_id=entry_id, code=exc.code,
                                    field=(exc.errors or [{}])[0].get("field"),
                                    outcome="denied" if exc.status == 403 else "failed")
        raise


def entry_outs(session: Session, vault: Vault, entries: list[ListEntry]) -> list[EntryOut]:
    """Masked entries: one query for their subjects, one for departments, one for the kinds."""
    if not entries:
        return []
    subjects = {s.id: s for s in session.scalars(select(Subject).where(Subject.id.in_({e.subject_id for e in entries})))}
    dept_ids = {e.department_id for e in entries if e.department_id}
    depts = {i: c for i, c in session.execute(select(Department.id, Department.code)
                                              .where(Department.id.in_(dept_ids)))} if dept_ids else {}
    public = {c: p for c, p in session.execute(select(ListKind.code, ListKind.public))}
    out = []
    for e in entries:
        s = subjects[e.subject_id]
        out.append(EntryOut(
            id=e.id, list_code=e.list_code, subject_id=e.subject_id,
            id_number_masked=vault.masked_id(s.id_bidx, s.id_cipher, s.key_id),
            name_masked=vault.masked_name(s.id_bidx, s.name_cipher, s.key_id), status=e.status, source=e.source,
            category=e.category, reason=e.reason, department=depts.get(e.department_id) if e.department_id else None,
            legal_basis=e.legal_basis, record_id=e.record_id, proposed_at=e.proposed_at, proposed_by=e.proposed_by,
            notified_at=e.notified_at, defence_deadline=e.defence_deadline, defence=e.defence,
            defence_at=e.defence_at, listed_on=e.listed_on, valid_until=e.valid_until, decided_at=e.decided_at,
            decided_by=e.decided_by, decision_reason=e.decision_reason, removed_at=e.removed_at,
            removal_kind=e.removal_kind, removal_reason=e.removal_reason,
            published=bool(public.get(e.list_code)) and e.status == "listed"))
    return out


def kind_out(kind: ListKind, counts: dict[str, int]) -> ListKindOut:
    p = kind.params
    return ListKindOut(code=kind.code, name_zh=kind.name_zh, name_en=kind.name_en, kind=kind.kind, source=kind.source,
                       public=kind.public, version=kind.version, defence_working_days=p.get("defence_working_days"),
                       duration_months=p.get("duration_months"), legal_basis=p.get("legal_basis"),
                       categories=[CategoryOut(**c) for c in p.get("categories") or ()], counts=counts)


CLEAN_KIND = ("3年无不良记录", "3 years without bad records")


@router.get("/lists", response_model=list[ListKindOut], summary="List kinds with their entries by status")
def list_kinds(principal: Reader, session: DbSession) -> list[ListKindOut]:
    counts = service.counts_by_list(session, department_id=principal.department_id, scoped=scoped(principal))
    out = [kind_out(k, counts.get(k.code, {})) for k in service.all_kinds(session)]
    out.append(ListKindOut(code=service.CLEAN_3Y, name_zh=CLEAN_KIND[0], name_en=CLEAN_KIND[1], kind="status",
                           source="computed", public=False, version=1, defence_working_days=None,
                           duration_months=None, legal_basis=None, categories=[], counts={}))
    record(session, actor=principal.actor, action="lists.kinds", details={"count": len(out)})
    return out


@router.get("/lists/{code}/entries", response_model=EntryListOut | CleanListOut,
            summary="A list's entries, newest first (masked); clean_3y: subjects 3 years without bad records")
def list_entries(code: ListCode, principal: Reader, session: DbSession, vault: VaultDep,
                 status: Annotated[Annotated[str, Field(pattern=STATUS_PATTERN)] | None, BlankIsNone] = None,
                 before_id: int | None = Query(default=None, ge=1, le=9_223_372_036_854_775_807),
                 limit: int = Query(default=50, ge=1, le=200)) -> Any:
    if code == service.CLEAN_3Y:
        return _clean_list(session, vault, principal, before_id, limit)
    with _refusal_registered(session, principal, "list_entries.list"):  # no such list (404)
        service.get_kind(session, code)
    stmt = service.entries_stmt(code=code, status=status, department_id=principal.department_id,
                                scoped=scoped(principal), before_id=before_id).limit(limit + 1)
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    record(session, actor=principal.actor, action="list_entries.list",
           details={"list": code, "status": status, "count": len(rows), "before_id": before_id})
    return EntryListOut(items=entry_outs(session, vault, rows), next_before_id=rows[-1].id if more and rows else None)


def _clean_list(session: Session, vault: Vault, principal: Principal, before_id: int | None,
                limit: int) -> CleanListOut:
    today = clock.today()
    stmt = service.clean_stmt(today=today, department_id=principal.department_id, scoped=scoped(principal),
                              before_id=before_id).limit(limit + 1)
    ids = list(session.scalars(stmt))
    more = len(ids) > limit
    ids = ids[:limit]
    subjects = {s.id: s for s in session.scalars(select(Subject).where(Subject.id.in_(ids)))} if ids else {}
    last = service.last_bad_records(session, ids)
    record(session, actor=principal.actor, action="list_entries.list",
           details={"list": service.CLEAN_3Y, "count": len(ids), "before_id": before_id, "on": today.isoformat()})
    items = [CleanOut(subject_id=sid, id_number_masked=vault.masked_id(s.id_bidx, s.id_cipher, s.key_id),
                      name_masked=vault.masked_name(s.id_bidx, s.name_cipher, s.key_id),
                      last_bad_record_on=last.get(sid))
             for sid in ids if (s := subjects[sid])]
    return CleanListOut(on=today, items=items, next_before_id=ids[-1] if more and ids else None)


def _department_for(session: Session, principal: Principal, code: str | None) -> int | None:
    """A department proposes for itself (naming another is refused); the credit office names one."""
    if scoped(principal):
        if code is not None and code != _own_code(session, principal):
            raise ApiError(403, "department_not_allowed",
                           "部门只能以本部门名义申请列入 / a department proposes only in its own name",
                           [{"field": "department", "code": "department_not_allowed",
                             "message": "部门只能以本部门名义申请列入 / a department proposes only in its own name"}])
        return principal.department_id
    if code is None:
        return principal.department_id
    # no code holds a NUL (and PostgreSQL cannot compare one): an unknown department
    dept_id = None if "\x00" in code else session.scalar(select(Department.id).where(Department.code == code))
    if dept_id is None:
        msg = f"部门 {code} 不存在 / department {code} does not exist"
        raise ApiError(422, "unknown_department", msg, [{"field": "department", "code": "unknown_department",
                                                         "message": msg}])
    return dept_id


def _own_code(session: Session, principal: Principal) -> str | None:
    return session.scalar(select(Department.code).where(Department.id == principal.department_id))


@router.post("/lists/{code}/entries", response_model=EntryOut, status_code=201,
             summary="Propose a dishonesty listing, or add to a red list by decision (credit office)")
def create_entry(code: ListCode, body: EntryIn, principal: Proposer, session: DbSession, vault: VaultDep,
                 request: Request) -> EntryOut:
    with _refusal_registered(session, principal, "list_entry.propose"):  # no such list (404): kind unknown
        kind = service.get_kind(session, code)
    if kind.kind == "red":
        if not allowed(principal.role, "lists.decide"):
            audit_refusal(session, actor=principal.actor, action="auth.forbidden",
                          details={"path": request.url.path, "permission": "lists.decide"})
            raise ApiError(403, "red_list_by_credit_office",
                           "红名单只能由信用办列入；部门只能申请列入失信类名单 / only the credit office adds to a red "
                           "list; departments propose dishonesty listings")
        # the credit office's decision, as deciding a proposed listing is: the route is declared with
        # lists.propose, so the step-up that ``require("lists.decide")`` would ask for is asked here
        check_step_up(request, session, principal, "lists.decide")
        with _refusal_registered(session, principal, "list_entry.add"):
            entry = service.add(session, code=code, subject_id=body.subject_id, reason=body.reason,
                                category=body.category, legal_basis=body.legal_basis,
                                department_id=_department_for(session, principal, body.department),
                                valid_until=body.valid_until, actor=principal.actor)
    else:
        with _refusal_registered(session, principal, "list_entry.propose"):
            if body.valid_until is not None:
                raise service.ListError("not_allowed", "有效期在列入决定时确定", "valid_until is set by the decision",
                                        "valid_until")
            entry = service.propose(session, code=code, subject_id=body.subject_id, reason=body.reason,
                                    category=body.category, legal_basis=body.legal_basis,
                                    department_id=_department_for(session, principal, body.department),
                                    actor=principal.actor)
    return entry_outs(session, vault, [entry])[0]


@router.get("/list-entries/{entry_id}", response_model=EntryOut, summary="One entry with its whole lifecycle")
def get_entry(entry_id: ObjectId, principal: EntryReader, session: DbSession, vault: VaultDep) -> EntryOut:
    entry = _entry(session, principal, entry_id, "list_entry.read")
    record(session, actor=principal.actor, action="list_entry.read", object_type="list_entry", object_id=entry.id)
    return entry_outs(session, vault, [entry])[0]


@router.post("/list-entries/{entry_id}/notify", response_model=EntryOut,
             summary="The person was told: the defence period (working days) starts")
def notify(entry_id: ObjectId, body: NotifyIn, principal: Proposer, session: DbSession, vault: VaultDep) -> EntryOut:
    entry = _entry(session, principal, entry_id, "list_entry.notify")
    with _refusal_registered(session, principal, "list_entry.notify", entry.id):
        service.notify(session, entry=entry, note=body.note, actor=principal.actor)
    return entry_outs(session, vault, [entry])[0]


@router.post("/list-entries/{entry_id}/defence", response_model=EntryOut,
             summary="State a defence before the deadline (the person, or an officer recording it)")
def defence(entry_id: ObjectId, body: DefenceIn, principal: Defender, session: DbSession, vault: VaultDep) -> EntryOut:
    entry = _entry(session, principal, entry_id, "list_entry.defend")
    with _refusal_registered(session, principal, "list_entry.defend", entry.id):
        service.defend(session, entry=entry, text=body.defence, actor=principal.actor)
    return entry_outs(session, vault, [entry])[0]


@router.post("/list-entries/{entry_id}/decide", response_model=EntryOut,
             summary="List (after the defence period or a defence) or reject (credit office)")
def decide(entry_id: ObjectId, body: DecideIn, principal: Decider, session: DbSession, vault: VaultDep) -> EntryOut:
    entry = _entry(session, principal, entry_id, "list_entry.decide")
    with _refusal_registered(session, principal, "list_entry.decide", entry.id):
        service.decide(session, entry=entry, listed=body.decision == "list", reason=body.reason,
                       valid_until=body.valid_until, actor=principal.actor)
    return entry_outs(session, vault, [entry])[0]


@router.post("/list-entries/{entry_id}/remove", response_model=EntryOut,
             summary="Remove a listed entry: expiry, repair, revocation or decision (credit office)")
def remove(entry_id: ObjectId, body: RemoveIn, principal: Decider, session: DbSession, vault: VaultDep) -> EntryOut:
    entry = _entry(session, principal, entry_id, "list_entry.remove")
    with _refusal_registered(session, principal, "list_entry.remove", entry.id):
        service.remove(session, entry=entry, kind=body.kind, reason=body.reason, actor=principal.actor)
    return entry_outs(session, vault, [entry])[0]


def _step_body_refused(action: str) -> Any:
    """A proposal or a step whose body (or entry id) the schema refuses, registered as the lists
    register their refused steps (``service.record_refused_step``: ``failed``, code and field); a
    proposal's list kind is not known yet, so it is ``list_entry.propose`` (as a list not found)."""

    def register(session: Session, principal: Principal, refused: RefusedBody) -> None:
        entry_id = refused.path_id("entry_id")
        service.record_refused_step(session, actor=principal.actor, action=action, entry_id=entry_id,
                                    code=refused.code, field=refused.field, body_bytes=refused.size)

    return register


refused_bodies: BodyRefusals = {
    ("POST", "/api/v1/lists/{code}/entries"): (("lists.propose",), _step_body_refused("list_entry.propose")),
    ("POST", "/api/v1/list-entries/{entry_id}/notify"): (("lists.propose",), _step_body_refused("list_entry.notify")),
    ("POST", "/api/v1/list-entries/{entry_id}/defence"): (("lists.defend", "lists.propose"),
                                                          _step_body_refused("list_entry.defend")),
    ("POST", "/api/v1/list-entries/{entry_id}/decide"): (("lists.decide",), _step_body_refused("list_entry.decide")),
    ("POST", "/api/v1/list-entries/{entry_id}/remove"): (("lists.decide",), _step_body_refused("list_entry.remove")),
    # and so is a read whose path or query the schema refuses (``?status=x``, ``/list-entries/abc``)
    ("GET", "/api/v1/lists/{code}/entries"): (("lists.read",), refused_query("list_entries.list")),
    ("GET", "/api/v1/list-entries/{entry_id}"): (("lists.read", "lists.defend"), refused_query("list_entry.read")),
}
