"""Pages for the lists: the overview with the review queue and the proposal form, one list's
entries, and one entry with the steps its reader may take.

Thin: every change goes through :mod:`xinyong.lists.service`. The credit office (``lists.decide``)
sees every entry and decides; a department officer (``lists.propose``) proposes in its own name
and sees its own department's entries only. A person is found by ID number through the blind index
(a POST body, never a URL); identities are shown masked. Page views are audited like API reads
(``list_entries.list``, ``list_entry.read``), and every form carries the CSRF token.

A citizen (``lists.defend``) has their own page, ``/my/lists``: the entries they were told of (a
proposal not yet notified is not shown), their red-list entries, and the defence form while the
period runs, which goes through the same :func:`xinyong.lists.service.defend` as the API.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong import clock
from xinyong.audit.service import record, record_not_found
from xinyong.auth.deps import page_refusals, require
from xinyong.auth.models import Department
from xinyong.auth.permissions import allowed
from xinyong.auth.service import Principal, list_departments
from xinyong.deps import DbSession, VaultDep
from xinyong.lists import service
from xinyong.lists.api import entry_outs, scoped
from xinyong.lists.models import ENTRY_STATUSES, MANUAL_REMOVAL_KINDS, ListEntry
from xinyong.privacy import identity
from xinyong.privacy.vault import Vault
from xinyong.subjects.service import find_by_id_number
from xinyong.web.i18n import label, lang_of
from xinyong.web.templating import render

router = APIRouter(include_in_schema=False)

Reader = Annotated[Principal, Depends(require("lists.read"))]
Proposer = Annotated[Principal, Depends(require("lists.propose"))]
Decider = Annotated[Principal, Depends(require("lists.decide"))]
Citizen = Annotated[Principal, Depends(require("lists.defend"))]
EntryId = Annotated[int, Path(ge=1, le=2**63 - 1)]
ListCode = Annotated[str, Path(max_length=32)]
Param = Annotated[str, Query(max_length=64)]
Text = Annotated[str, Form(max_length=4000)]
Short = Annotated[str, Form(max_length=64)]

BASE = "/lists"
ENTRY = "/list-entries"
MY_LISTS = "/my/lists"
PAGE_SIZE = 50
QUEUE_SIZE = 100



def _ctx(request: Request) -> dict[str, Any]:
    lang = lang_of(request)
    return {"label": lambda prefix, code: label(lang, prefix, code), "base": BASE, "entry_base": ENTRY}


def _not_found() -> HTTPException:
    return HTTPException(status_code=404)


def _kind_names(session: Session, lang: str) -> dict[str, str]:
    return {k.code: k.name_zh if lang == "zh" else k.name_en for k in service.all_kinds(session)}


def _dept_names(session: Session, entries: list[Any], lang: str) -> dict[str, str]:
    """{department code: its name in the page's language} for the entries shown (tables name the
    deciding department, as a reader expects, not by its code)."""
    codes = {e.department for e in entries if e.department}
    if not codes:
        return {}
    return {d.code: d.name if lang == "zh" or not d.name_en else d.name_en
            for d in session.scalars(select(Department).where(Department.code.in_(codes)))}


def _category_names(kind: Any, lang: str) -> dict[str, str]:
    return {code: c["name_zh"] if lang == "zh" else c.get("name_en") or c["name_zh"]
            for code, c in service.categories_of(kind).items()}


def _proposable(session: Session) -> list[Any]:
    return [k for k in service.all_kinds(session) if k.kind == "dishonesty" and k.source == "decision"]


# ---- the overview: kinds, review queue, proposal form ------------------------------------------------

def _overview(request: Request, session: Session, vault: Vault, principal: Principal, *,
              error: dict[str, Any] | None = None, form: dict[str, str] | None = None,
              status_code: int = 200) -> HTMLResponse:
    lang = lang_of(request)
    is_scoped = scoped(principal)
    counts = service.counts_by_list(session, department_id=principal.department_id, scoped=is_scoped)
    queue = list(session.scalars(
        service.entries_stmt(department_id=principal.department_id, scoped=is_scoped)
        .where(ListEntry.status.in_(("proposed", "notified"))).limit(QUEUE_SIZE)))
    queue.sort(key=lambda e: (e.defence_deadline or date.max, e.id))
    record(session, actor=principal.actor, action="list_entries.list",
           details={"via": "page", "queue": len(queue)})
    can_propose = allowed(principal.role, "lists.propose") and (principal.department_id is not None or not is_scoped)
    shown = entry_outs(session, vault, queue)
    return render(request, "lists/overview.html", {
        **_ctx(request), "kinds": service.all_kinds(session), "counts": counts, "queue": shown,
        "dept_names": _dept_names(session, shown, lang),
        "names": _kind_names(session, lang), "today": clock.today(), "can_decide": allowed(principal.role, "lists.decide"),
        "can_propose": can_propose, "proposable": _proposable(session), "error": error, "form": form or {},
        "departments": list_departments(session, kind="department") if not is_scoped else [],
        "own_department": session.get(Department, principal.department_id) if principal.department_id else None,
    }, status_code=status_code)


@router.get(BASE, response_class=HTMLResponse)
def overview(request: Request, principal: Reader, session: DbSession, vault: VaultDep) -> HTMLResponse:
    return _overview(request, session, vault, principal)


@router.post(BASE + "/propose", response_model=None)
def propose(request: Request, principal: Proposer, session: DbSession, vault: VaultDep,
            list_code: Short = "", category: Short = "", id_number: Short = "", reason: Text = "",
            legal_basis: Text = "", department: Short = "") -> Response:
    """The person is found by ID number (blind index) in the body; the number is never shown back."""
    form = {"list_code": list_code, "category": category, "reason": reason, "legal_basis": legal_basis,
            "department": department}
    try:
        facts = identity.check(id_number)
    except identity.InvalidIdNumber as exc:
        service.record_refused_step(session, actor=principal.actor, action="list_entry.propose", entry_id=None,
                                    code=exc.code, field="id_number", via="page")
        return _overview(request, session, vault, principal, form=form, status_code=422,
                         error={"field": "id_number", "message": exc.message})
    subject = find_by_id_number(session, vault=vault, id_number=facts.number)
    if subject is None:
        service.record_refused_step(session, actor=principal.actor, action="list_entry.propose", entry_id=None,
                                    code="unknown_subject", field="id_number", via="page")
        return _overview(request, session, vault, principal, form=form, status_code=404, error={
            "field": "id_number", "message": "平台中没有该身份证号码的信用主体 / no credit subject with this ID number"})
    if scoped(principal):
        dept_id = principal.department_id
    else:
        dept_id = next((d.id for d in list_departments(session, kind="department") if d.code == department), None)
    try:
        entry = service.propose(session, code=list_code, subject_id=subject.id, reason=reason,
                                category=category or None, legal_basis=legal_basis or None,
                                department_id=dept_id, actor=principal.actor)
    except service.ListError as exc:
        service.record_step_refusal(session, actor=principal.actor, action="list_entry.propose", entry_id=None,
                                    error=exc, via="page")
        return _overview(request, session, vault, principal, form=form, status_code=exc.status,
                         error={"field": exc.field, "message": exc.message})
    return RedirectResponse(f"{ENTRY}/{entry.id}", status_code=303)


# ---- one list's entries -------------------------------------------------------------------------------

@router.get(BASE + "/{code}", response_class=HTMLResponse)
def entries(request: Request, code: ListCode, principal: Reader, session: DbSession, vault: VaultDep,
            status: Param = "", before_id: Param = "") -> HTMLResponse:
    try:
        kind = service.get_kind(session, code)
    except service.ListError as exc:  # no such list: registered as the API registers it
        service.record_step_refusal(session, actor=principal.actor, action="list_entries.list", entry_id=None,
                                    error=exc, via="page")
        raise _not_found() from exc
    status = status if status in ENTRY_STATUSES else ""
    before = int(before_id) if before_id.isascii() and before_id.isdigit() and len(before_id) <= 18 else None
    rows = list(session.scalars(service.entries_stmt(code=code, status=status or None,
                                                     department_id=principal.department_id,
                                                     scoped=scoped(principal), before_id=before)
                                .limit(PAGE_SIZE + 1)))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    record(session, actor=principal.actor, action="list_entries.list",
           details={"list": code, "status": status or None, "count": len(rows), "via": "page"})
    shown = entry_outs(session, vault, rows)
    lang = lang_of(request)
    return render(request, "lists/entries.html", {
        **_ctx(request), "kind": kind, "rows": shown, "status": status,
        "dept_names": _dept_names(session, shown, lang), "category_names": _category_names(kind, lang),
        "statuses": ENTRY_STATUSES, "next_before": rows[-1].id if more and rows else None, "before": before,
    })


# ---- one entry and its steps -----------------------------------------------------------------------------

def _entry(session: Session, principal: Principal, entry_id: int, action: str = "list_entry.read") -> ListEntry:
    """The entry if the caller may see it, else 404 (the same whether it exists or not), registered
    under ``action`` as the API registers its own (``audit.service.record_not_found``)."""
    try:
        return service.get_entry(session, entry_id, department_id=principal.department_id, scoped=scoped(principal))
    except service.ListError as exc:
        record_not_found(session, actor=principal.actor, action=action, object_type="list_entry",
                         object_id=entry_id, details={"via": "page"})
        raise _not_found() from exc


def _entry_page(request: Request, session: Session, vault: Vault, principal: Principal, entry: ListEntry, *,
                error: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    lang = lang_of(request)
    record(session, actor=principal.actor, action="list_entry.read", object_type="list_entry", object_id=entry.id,
           details={"via": "page"})
    kind = service.get_kind(session, entry.list_code)
    cats = service.categories_of(kind)
    category = cats.get(entry.category or "")
    today = clock.today()
    shown = entry_outs(session, vault, [entry])
    return render(request, "lists/entry.html", {
        **_ctx(request), "e": shown[0], "dept_names": _dept_names(session, shown, lang), "kind": kind,
        "kind_name": _kind_names(
            session, lang).get(entry.list_code, entry.list_code),
        "category_name": (category["name_zh"] if lang == "zh" else category["name_en"]) if category else entry.category,
        "today": today, "error": error, "removal_kinds": list(MANUAL_REMOVAL_KINDS),
        "can_notify": entry.status == "proposed" and allowed(principal.role, "lists.propose"),
        "can_defend": entry.status == "notified" and entry.defence is None and allowed(principal.role, "lists.propose")
        and entry.defence_deadline is not None and today <= entry.defence_deadline,
        # a proposal may be rejected before the person is told; listing needs the notice and its period
        "can_decide": entry.status in ("proposed", "notified") and allowed(principal.role, "lists.decide"),
        "may_list": entry.status == "notified" and (entry.defence is not None or (
            entry.defence_deadline is not None and today > entry.defence_deadline)),
        "can_remove": entry.status == "listed" and allowed(principal.role, "lists.decide"),
    }, status_code=status_code)


@router.get(ENTRY + "/{entry_id}", response_class=HTMLResponse)
def entry_detail(request: Request, entry_id: EntryId, principal: Reader, session: DbSession,
                 vault: VaultDep) -> HTMLResponse:
    return _entry_page(request, session, vault, principal, _entry(session, principal, entry_id))


def _step(request: Request, session: Session, vault: Vault, principal: Principal, entry_id: int, action: Any,
          name: str) -> Response:
    entry = _entry(session, principal, entry_id, name)
    try:
        action(entry)
    except service.ListError as exc:
        service.record_step_refusal(session, actor=principal.actor, action=name, entry_id=entry_id, error=exc,
                                    via="page")
        return _entry_page(request, session, vault, principal, _entry(session, principal, entry_id),
                           error={"field": exc.field, "message": exc.message}, status_code=exc.status)
    return RedirectResponse(f"{ENTRY}/{entry_id}", status_code=303)


@router.post(ENTRY + "/{entry_id}/notify", response_model=None)
def notify(request: Request, entry_id: EntryId, principal: Proposer, session: DbSession, vault: VaultDep,
           note: Text = "") -> Response:
    return _step(request, session, vault, principal, entry_id,
                 lambda e: service.notify(session, entry=e, note=note or None, actor=principal.actor),
                 "list_entry.notify")


@router.post(ENTRY + "/{entry_id}/defence", response_model=None)
def defence(request: Request, entry_id: EntryId, principal: Proposer, session: DbSession, vault: VaultDep,
            defence: Text = "") -> Response:
    """An officer records the defence the person stated (the person may also send it through the API)."""
    return _step(request, session, vault, principal, entry_id,
                 lambda e: service.defend(session, entry=e, text=defence, actor=principal.actor),
                 "list_entry.defend")


@router.post(ENTRY + "/{entry_id}/decide", response_model=None)
def decide(request: Request, entry_id: EntryId, principal: Decider, session: DbSession, vault: VaultDep,
           decision: Short = "", reason: Text = "") -> Response:
    def step(e: ListEntry) -> None:
        if decision not in ("list", "reject"):  # the form's two buttons send one or the other
            raise service.ListError("invalid_decision", "决定只能是“列入”或“不予列入”",
                                    "the decision must be 'list' or 'reject'", "decision")
        service.decide(session, entry=e, listed=decision == "list", reason=reason, actor=principal.actor)

    return _step(request, session, vault, principal, entry_id, step, "list_entry.decide")


@router.post(ENTRY + "/{entry_id}/remove", response_model=None)
def remove(request: Request, entry_id: EntryId, principal: Decider, session: DbSession, vault: VaultDep,
           kind: Short = "", reason: Text = "") -> Response:
    return _step(request, session, vault, principal, entry_id,
                 lambda e: service.remove(session, entry=e, kind=kind, reason=reason, actor=principal.actor),
                 "list_entry.remove")


# ---- the citizen's own entries -------------------------------------------------------------------------

Flag = Annotated[str, Query(max_length=20)]


def _my_subject(principal: Principal) -> int:
    if principal.subject_id is None:
        raise _not_found()
    return principal.subject_id


def _my_entry(session: Session, principal: Principal, entry_id: int) -> ListEntry:
    """The citizen's own entry (told of), else 404 (the same whether it exists or not), registered."""
    try:
        entry = service.get_entry(session, entry_id)
        if entry.subject_id != principal.subject_id or not service.told_of(entry):
            raise service.ListError("not_found", "名单条目不存在", "list entry not found", None, 404)
        return entry
    except service.ListError as exc:
        record_not_found(session, actor=principal.actor, action="list_entry.defend", object_type="list_entry",
                         object_id=entry_id, details={"via": "page"})
        raise _not_found() from exc


def _my_rows(session: Session, entries: list[ListEntry], lang: str) -> list[dict[str, Any]]:
    today = clock.today()
    kinds = {k.code: k for k in service.all_kinds(session)}
    dept_ids = {e.department_id for e in entries if e.department_id}
    depts = {d.id: d for d in session.scalars(select(Department).where(Department.id.in_(dept_ids)))} if dept_ids else {}
    rows = []
    for e in entries:
        kind = kinds.get(e.list_code)
        dept = depts.get(e.department_id) if e.department_id else None
        category = service.categories_of(kind).get(e.category or "") if kind else None
        rows.append({
            "e": e, "red": kind is not None and kind.kind == "red",
            "list_name": (kind.name_zh if lang == "zh" else kind.name_en) if kind else e.list_code,
            "category_name": (category["name_zh"] if lang == "zh" else category["name_en"]) if category else e.category,
            "department": ((dept.name if lang == "zh" else dept.name_en or dept.name) if dept else None),
            "can_defend": e.status == "notified" and e.defence is None and e.defence_deadline is not None
            and today <= e.defence_deadline,
        })
    return rows


def _my_page(request: Request, session: Session, principal: Principal, *, error: dict[str, Any] | None = None,
             error_entry: int | None = None, text: str = "", defended: int | None = None,
             status_code: int = 200) -> HTMLResponse:
    sid = _my_subject(principal)
    entries = list(session.scalars(service.entries_stmt(subject_id=sid)
                                   .where(service.told_clause())))
    rows = _my_rows(session, entries, lang_of(request))
    record(session, actor=principal.actor, action="list_entries.list", object_type="subject", object_id=sid,
           details={"via": "page", "mine": True, "count": len(rows)})
    return render(request, "lists/my_lists.html", {
        **_ctx(request), "rows": [r for r in rows if not r["red"]], "red_rows": [r for r in rows if r["red"]],
        "error": error, "error_entry": error_entry, "text": text, "defended": defended,
        "max_defence": service.MAX_REASON, "action": MY_LISTS,
    }, status_code=status_code)


@router.get(MY_LISTS, response_class=HTMLResponse)
def my_lists(request: Request, principal: Citizen, session: DbSession, defended: Flag = "") -> HTMLResponse:
    done = int(defended) if defended.isascii() and defended.isdigit() and len(defended) <= 18 else None
    return _my_page(request, session, principal, defended=done)


@router.post(MY_LISTS + "/{entry_id}/defence", response_model=None)
def my_defence(request: Request, entry_id: EntryId, principal: Citizen, session: DbSession,
               defence: Text = "") -> Response:
    """The person states their defence: the same service step as ``POST /api/v1/list-entries/{id}/defence``."""
    _my_subject(principal)
    entry = _my_entry(session, principal, entry_id)
    try:
        service.defend(session, entry=entry, text=defence, actor=principal.actor)
    except service.ListError as exc:
        service.record_step_refusal(session, actor=principal.actor, action="list_entry.defend", entry_id=entry_id,
                                    error=exc, via="page")
        return _my_page(request, session, principal, error={"field": exc.field, "message": exc.message},
                        error_entry=entry_id, text=defence, status_code=exc.status)
    return RedirectResponse(f"{MY_LISTS}?defended={entry_id}", status_code=303)


# a page request whose path, query or form field the schema refuses (FastAPI's 422, answered with the
# error page naming the field) is registered under the page's action, as the API's are
refused_bodies = page_refusals(router, {
    ("POST", BASE + "/propose"): "list_entry.propose",
    ("GET", BASE + "/{code}"): "list_entries.list",
    ("GET", ENTRY + "/{entry_id}"): "list_entry.read",
    ("POST", ENTRY + "/{entry_id}/notify"): "list_entry.notify",
    ("POST", ENTRY + "/{entry_id}/defence"): "list_entry.defend",
    ("POST", ENTRY + "/{entry_id}/decide"): "list_entry.decide",
    ("POST", ENTRY + "/{entry_id}/remove"): "list_entry.remove",
    ("GET", MY_LISTS): "list_entries.list",
    ("POST", MY_LISTS + "/{entry_id}/defence"): "list_entry.defend",
})
