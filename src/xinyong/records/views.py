"""Department workspace pages for records, and the credit office's data-quality page.

Thin: reads and changes go through :mod:`xinyong.records.service` and
:mod:`xinyong.records.quality`; identities are shown masked only (``120101********123X``,
``张*``). ID numbers never travel in a URL: filters are GET query parameters, and "find by ID
number" is a POST form whose result is rendered in place. Every list view is audited
(``records.list``), every record view too (``record.read``).

Also here, because catalog/ may not import records/: ``POST /admin/catalog/{code}/recompute``,
which applies an item's current display rule to its existing records (the catalog edit form's
"apply to existing records" box forwards to it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Container
from dataclasses import dataclass, replace
from datetime import date
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session

from xinyong import clock
from xinyong.audit.service import record, record_not_found
from xinyong.auth.deps import audit_refusal, page_refusals, require
from xinyong.auth.models import Department
from xinyong.auth.permissions import allowed
from xinyong.auth.service import Principal
from xinyong.catalog.service import Item, current_items, get_current, get_version
from xinyong.catalog.spec import CODE_RE, parse_date
from xinyong.deps import DbSession, VaultDep
from xinyong.privacy import identity
from xinyong.privacy.masking import mask_id_number, mask_id_numbers_in
from xinyong.privacy.vault import Vault
from xinyong.records import service
from xinyong.records.api import inactive_refused, record_out, revoke_refused
from xinyong.records.models import RECORD_STATUSES, Record
from xinyong.records.quality import DepartmentQuality, department_quality
from xinyong.subjects.models import Subject
from xinyong.subjects.service import find_by_id_number
from xinyong.web.filters import RefusableFilters, echo
from xinyong.web.i18n import field_label, label, lang_of, translate
from xinyong.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

Reader = Annotated[Principal, Depends(require("records.read"))]
Pusher = Annotated[Principal, Depends(require("records.push"))]
QualityReader = Annotated[Principal, Depends(require("quality.read"))]
CatalogAdmin = Annotated[Principal, Depends(require("catalog.manage"))]
RecordId = Annotated[int, Path(ge=1, le=2**63 - 1)]
ItemCode = Annotated[str, Path(max_length=64)]
Param = Annotated[str, Query(max_length=64)]

PAGE_SIZE = 50
LIST_PATH = "/workspace/records"
DEPT_CODE = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # never shown back in a form



def item_name(lang: str, item: Item | None, code: str) -> str:
    if item is None:
        return code
    return item.spec.name if lang == "zh" else item.spec.name_en


def _not_found() -> HTTPException:
    return HTTPException(status_code=404)


# ---- filters -------------------------------------------------------------------------------

@dataclass
class Filters(RefusableFilters):
    """The list's filters as the query string carries them (never an ID number); refusals as
    :class:`~xinyong.web.filters.RefusableFilters` keeps them."""

    item: str = ""
    status: str = ""
    decided_from: date | None = None
    decided_to: date | None = None
    department: str = ""  # a department code; only for callers who read every department
    subject: int | None = None  # an internal subject id, set by "find by ID number"
    before_id: int | None = None

    def query(self, **changes: Any) -> str:
        f = replace(self, **changes)
        params = {"item": f.item, "status": f.status,
                  "decided_from": f.decided_from.isoformat() if f.decided_from else "",
                  "decided_to": f.decided_to.isoformat() if f.decided_to else "",
                  "department": f.department, "subject": "" if f.subject is None else str(f.subject),
                  "before_id": str(f.before_id) if f.before_id else ""}
        return urlencode({k: v for k, v in params.items() if v})

    def audit_details(self) -> dict[str, Any]:
        return {"item": self.item or None, "status": self.status or None,
                "decided_from": self.decided_from.isoformat() if self.decided_from else None,
                "decided_to": self.decided_to.isoformat() if self.decided_to else None,
                "department": self.department or None, "subject_id": self.subject, "before_id": self.before_id}


def _whole(value: str) -> int | None:
    """A whole number of at most 18 ASCII digits (``"²".isdigit()`` is true, so not that), else None."""
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


def _positive_int(value: str) -> int | None:
    n = _whole(value)
    return n if n else None


def parse_filters(*, item: str, status: str, decided_from: str, decided_to: str, department: str,
                  subject: str, before_id: str, read_all: bool, items: Container[str] | None = None,
                  departments: Container[str] | None = None) -> Filters:
    """The list's filters from the query string. A value that cannot be applied — a code of the wrong
    shape, an item or department that does not exist (``items``, ``departments``: the codes there are),
    a status that is none, a date that cannot be read, a range whose start is after its end — is a
    refusal (:attr:`Filters.errors`, the value as typed in :attr:`Filters.typed`): the page then lists
    nothing, as the API answers 422. ``department`` is read only for those who read every department
    (anyone else reads their own, whatever it says); ``subject`` and ``before_id`` are the page's own
    links (find, paging): an odd value there is ignored."""
    f = Filters()
    item = item.strip()
    if item:
        if not CODE_RE.match(item):
            f.refuse("item", "records.filter.bad_item", item)
        elif items is not None and item not in items:
            f.refuse("item", "records.filter.unknown_item", item)
        else:
            f.item = item
    status = status.strip()
    if status:
        if status in RECORD_STATUSES:
            f.status = status
        else:
            f.refuse("status", "records.filter.bad_status", status)
    f.read_days("records.filter.bad_date", decided_from=decided_from, decided_to=decided_to)
    if f.decided_from and f.decided_to and f.decided_from > f.decided_to:
        f.refuse("decided_to", "records.filter.bad_range")  # the end, as the API's invalid_range names it
    department = department.strip()
    if read_all and department:
        if not DEPT_CODE.match(department):
            f.refuse("department", "records.filter.bad_department", department)
        elif departments is not None and department not in departments:
            f.refuse("department", "records.filter.unknown_department", department)
        else:
            f.department = department
    f.subject = _whole(subject)
    f.before_id = _positive_int(before_id) if before_id.strip() else None
    return f


# ---- the list ----------------------------------------------------------------------------------

def readable(principal: Principal, stmt: Select[Any]) -> Select[Any]:
    """Row-level scope: a department reads its own records; the credit office and auditors all."""
    if allowed(principal.role, "records.read_all"):
        return stmt
    if principal.department_id is None:
        return stmt.where(false())
    return stmt.where(Record.department_id == principal.department_id)


@dataclass(frozen=True)
class Row:
    id: int
    id_masked: str
    name_masked: str
    item: str
    item_name: str
    severity: str | None
    decided_at: date
    status: str
    publish: bool
    display_until: date
    department: str
    source_id: str


def _rows(session: Session, vault: Vault, principal: Principal, f: Filters, lang: str,
          items: dict[str, Item]) -> tuple[list[Row], int | None]:
    base = (select(Record, Subject, Department.code)
            .join(Subject, Subject.id == Record.subject_id)
            .join(Department, Department.id == Record.department_id)
            .order_by(Record.id.desc()).limit(PAGE_SIZE + 1))
    stmt = service.filter_records(readable(principal, cast("Select[Any]", base)), item=f.item, status=f.status,
                                  decided_from=f.decided_from, decided_to=f.decided_to, before_id=f.before_id,
                                  subject_id=f.subject)
    if f.department:
        stmt = stmt.where(Department.code == f.department)
    found = session.execute(stmt).all()
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    rows = [Row(id=r.id, id_masked=vault.masked_id(s.id_bidx, s.id_cipher, s.key_id),
                name_masked=vault.masked_name(s.id_bidx, s.name_cipher, s.key_id), item=r.item_code,
                item_name=item_name(lang, items.get(r.item_code), r.item_code), severity=r.severity,
                decided_at=r.decided_at, status=r.status, publish=r.publish, display_until=r.display_until,
                department=code, source_id=r.source_id)
            for r, s, code in found]
    return rows, (rows[-1].id if more and rows else None)


def _list_page(request: Request, session: Session, vault: Vault, principal: Principal, f: Filters, *,
               searched: str | None = None, search_error: str | None = None, search_reason: str | None = None,
               search_code: str | None = None, via: str = "page", items: dict[str, Item] | None = None,
               status_code: int = 200) -> HTMLResponse:
    lang = lang_of(request)
    items = current_items(session) if items is None else items
    read_all = allowed(principal.role, "records.read_all")
    if f.errors or search_error:
        # A filter the page cannot apply (or an ID number that is none) shows its warning and no rows:
        # the unfiltered ones under it would read as the filter's answer (the API answers 422, the
        # data-quality page shows no figures). Nothing is read; the refused query is registered, with
        # the filters' names and the reasons' codes, never what was typed.
        rows: list[Row] = []
        next_before = None
        refused = {"errors": [k.rsplit(".", 1)[-1] for k in f.errors], "fields": f.refused} if f.errors \
            else {"errors": [search_code or "invalid_id_number"], "fields": ["id_number"]}
        record(session, actor=principal.actor, action="records.list", outcome="failed",
               details={**f.audit_details(), **refused, "count": 0, "via": via})
    else:
        rows, next_before = _rows(session, vault, principal, f, lang, items)
        record(session, actor=principal.actor, action="records.list",
               details={**f.audit_details(), "count": len(rows), "via": via})
    context = {
        "rows": rows, "filters": f, "next_before": next_before, "items": items, "read_all": read_all,
        "departments": (departments := _departments(session) if read_all else []),
        "dept_names": {d.code: _dept_label(d, lang) for d in departments},
        "statuses": RECORD_STATUSES, "label": lambda prefix, code: label(lang, prefix, code),
        "searched": searched, "search_error": search_error, "search_reason": search_reason, "list_path": LIST_PATH,
        "own_department": session.get(Department, principal.department_id) if principal.department_id else None,
    }
    template = "records/_table.html" if is_htmx(request) and not _history_restore(request) else "records/list.html"
    return render(request, template, context, status_code=status_code)


def _history_restore(request: Request) -> bool:
    return request.headers.get("hx-history-restore-request") == "true"


def _dept_label(dept: Department | None, lang: str) -> str:
    """A department's name in the page's language (tables name it, as a reader expects, not by code)."""
    if dept is None:
        return ""
    return dept.name if lang == "zh" or not dept.name_en else dept.name_en


def _departments(session: Session) -> list[Department]:
    from xinyong.auth.service import list_departments

    return list_departments(session, kind="department")


@router.get(LIST_PATH, response_class=HTMLResponse)
def records_list(request: Request, principal: Reader, session: DbSession, vault: VaultDep,
                 item: Param = "", status: Param = "", decided_from: Param = "", decided_to: Param = "",
                 department: Param = "", subject: Param = "", before_id: Param = "") -> HTMLResponse:
    read_all = allowed(principal.role, "records.read_all")
    items = current_items(session)
    f = parse_filters(item=item, status=status, decided_from=decided_from, decided_to=decided_to,
                      department=department, subject=subject, before_id=before_id, read_all=read_all, items=items,
                      departments={d.code for d in _departments(session)} if read_all else None)
    return _list_page(request, session, vault, principal, f, items=items)


@router.post(f"{LIST_PATH}/find", response_class=HTMLResponse)
def records_find(request: Request, principal: Reader, session: DbSession, vault: VaultDep,
                 id_number: Annotated[str, Form(max_length=32)] = "") -> HTMLResponse:
    """Find by ID number: the number arrives in the body and is used once (blind index); the page
    shows it masked. Whether the person exists elsewhere in the platform is not revealed: the
    result is the caller's own readable records, possibly none."""
    f = Filters()
    try:
        facts = identity.check(id_number)
    except identity.InvalidIdNumber as exc:  # why, as the check form says it (never the number)
        return _list_page(request, session, vault, principal, f, search_error="records.find.invalid",
                          search_reason=exc.message_zh if lang_of(request) == "zh" else exc.message_en,
                          search_code=exc.code, via="find", status_code=422)
    subject = find_by_id_number(session, vault=vault, id_number=facts.number)
    # The subject id stays on the page (the filter form, paging): only a person of the caller's own
    # readable records keeps it; anyone else reads as a number nobody holds (0).
    if subject is not None and session.scalar(
            readable(principal, select(Record.id).where(Record.subject_id == subject.id).limit(1))) is None:
        subject = None
    f.subject = subject.id if subject is not None else 0
    return _list_page(request, session, vault, principal, f, searched=mask_id_number(facts.number), via="find")


# ---- one record -------------------------------------------------------------------------------

def _detail_page(request: Request, session: Session, vault: Vault, principal: Principal, rec: Record, *,
                 error: dict[str, Any] | None = None, form: dict[str, str] | None = None,
                 status_code: int = 200) -> HTMLResponse:
    lang = lang_of(request)
    out = record_out(session, vault, rec, with_revisions=True)
    record(session, actor=principal.actor, action="record.read", object_type="record", object_id=rec.id,
           details={"via": "page"})
    version = get_version(session, rec.item_id)
    index = version.spec.field_index if version is not None else {}
    names = {name: field_label(index.get(name), name, lang)
             for name in {*out.fields, *(k for rev in out.revisions or () for k in rev.fields)}}
    fields = [(names[name], value) for name, value in out.fields.items()]
    can_revoke = (allowed(principal.role, "records.push") and principal.department_id is not None
                  and rec.department_id == principal.department_id and rec.status != "revoked")
    # the revocation's end-of-act box, for an item whose retention counts from it (its label, in the
    # page's language: service.revoke checks it against the item's current rule)
    current = get_current(session, rec.item_code) if can_revoke else None
    ended_by = current.spec.retention_from if current is not None else None
    act_end_label = field_label(current.spec.field_index.get(ended_by), ended_by, lang) if ended_by else None
    return render(request, "records/detail.html", {
        "r": out, "fields": fields, "field_names": names, "act_end_label": act_end_label,
        "act_end_name": service.ACT_ENDED_ON, "today": clock.today(),
        "department_name": _dept_label(session.get(Department, rec.department_id), lang), "item_title": item_name(lang, version, rec.item_code),
        "can_revoke": can_revoke, "error": error, "form": form or {}, "list_path": LIST_PATH,
        "label": lambda prefix, code: label(lang, prefix, code),
    }, status_code=status_code)


@router.get(LIST_PATH + "/{record_id}", response_class=HTMLResponse)
def record_detail(request: Request, record_id: RecordId, principal: Reader, session: DbSession,
                  vault: VaultDep) -> HTMLResponse:
    try:
        rec = service.get_for_department(session, record_id=record_id, department_id=principal.department_id,
                                         any_department=allowed(principal.role, "records.read_all"))
    except service.RecordError as exc:
        _refused(session, principal, record_id, "record.read")
        raise _not_found() from exc
    return _detail_page(request, session, vault, principal, rec)


def _refused(session: Session, principal: Principal, record_id: int, action: str) -> None:
    """A record the caller may not see or change is not found, as one that does not exist; the
    attempt is registered either way (as the records API and the lists register theirs)."""
    record_not_found(session, actor=principal.actor, action=action, object_type="record", object_id=record_id)


@router.post(LIST_PATH + "/{record_id}/revoke", response_model=None)
def record_revoke(request: Request, record_id: RecordId, principal: Pusher, session: DbSession, vault: VaultDep,
                  reason: Annotated[str, Form(max_length=2000)] = "",
                  act_ended_on: Annotated[str, Form(max_length=32)] = "") -> Response:
    """Only the owning department revokes (another department's record is 404, even for admins).
    ``act_ended_on``: the end of the act, as the API's body takes it (empty: not given)."""
    try:
        rec = service.get_for_department(session, record_id=record_id, department_id=principal.department_id)
    except service.RecordError as exc:
        _refused(session, principal, record_id, "record.revoke")
        raise _not_found() from exc
    try:
        service.revoke(session, rec=rec, reason=reason, actor=principal.actor, act_ended_on=act_ended_on.strip() or None)
    except service.RecordError as exc:
        if isinstance(exc, service.DepartmentInactive):  # a deactivated department changes nothing any more
            inactive_refused(session, principal)
        else:
            revoke_refused(session, principal, record_id, exc)
        rec = service.get_for_department(session, record_id=record_id, department_id=principal.department_id)
        error = {"message": exc.message, "field": exc.field or "reason"}
        return _detail_page(request, session, vault, principal, rec, error=error,
                            # the reason shown back as it would be kept: an ID number in it masked
                            form={"reason": mask_id_numbers_in(CONTROL.sub("", reason)),
                                  "act_ended_on": echo(act_ended_on.strip())},
                            status_code=exc.status)
    return RedirectResponse(f"{LIST_PATH}/{rec.id}", status_code=303)


# ---- applying a changed display rule to existing records (from the catalog's edit page) ---------

@router.post("/admin/catalog/{code}/recompute", response_model=None)
def catalog_recompute(request: Request, code: ItemCode, principal: CatalogAdmin, session: DbSession,
                      saved: Param = "") -> Response:
    if not CODE_RE.match(code):
        raise _not_found()
    try:
        changed = service.recompute_display(session, item_code=code, actor=principal.actor)
    except service.RecordError as exc:
        service.recompute_refused(session, principal.actor, code, exc, via="page")
        raise _not_found() from exc
    params = {"recomputed": str(changed)}
    if _positive_int(saved):
        params["saved"] = saved
    return RedirectResponse(f"/admin/catalog/{code}?{urlencode(params)}", status_code=303)


# ---- data quality ---------------------------------------------------------------------------------

def _chart_data(rows: list[DepartmentQuality], names: dict[str, str], lang: str) -> str:
    """What the bar chart draws (read by static/charts.js from a data- attribute: no inline script):
    the departments that pushed or had something rejected."""
    shown = [q for q in rows if q.pushed or q.rejected]
    # rejected records, each once (a client's resends of one bad record are not five bars' worth)
    series = [(key, [getattr(q, key) for q in shown]) for key in ("pushed", "rejected_distinct", "late")]
    return json.dumps({"categories": [names.get(q.code, q.name) for q in shown],
                       "series": [{"name": translate(lang, f"quality.{key}"), "data": data} for key, data in series]},
                      ensure_ascii=False)


QUALITY_PATH = "/admin/quality"
OWN_QUALITY_PATH = "/workspace/quality"


@router.get(QUALITY_PATH, response_class=HTMLResponse)
def quality_page(request: Request, principal: QualityReader, session: DbSession, since: Param = "",
                 until: Param = "") -> HTMLResponse:
    """Every department's data quality: the credit office's page (``quality.read``)."""
    return _quality_page(request, principal, session, since, until, department=None)


@router.get(OWN_QUALITY_PATH, response_model=None)
def own_quality_page(request: Request, principal: Reader, session: DbSession, since: Param = "",
                     until: Param = "") -> Response:
    """A department's own data quality, for its officers — what ``GET /api/v1/quality`` answers them,
    never another department's figures (officers do not hold ``quality.read``). Those who read every
    department and have none of their own (the credit office, auditors) are sent to that page."""
    if principal.department_id is None:
        if allowed(principal.role, "quality.read"):
            return RedirectResponse(QUALITY_PATH, status_code=303)
        audit_refusal(session, actor=principal.actor, action="auth.forbidden",
                      details={"permission": "records.read", "reason": "department_required", "via": "page"})
        raise HTTPException(status_code=403)
    department = session.get(Department, principal.department_id)
    if department is None:  # a session outlives no department (deactivation ends it): nothing to show
        raise _not_found()
    return _quality_page(request, principal, session, since, until, department=department)


def _arrival_rules(session: Session, lang: str) -> str:
    """The deadlines the catalog sets (``arrival_working_days``: licences and penalties, 7 working days,
    as shipped), as the page's introduction states them: what the late counts are counted against, so
    an item's changed or added deadline is what the page says."""
    groups: dict[int, list[str]] = {}
    for item in current_items(session).values():
        if item.spec.arrival_working_days is not None:
            name = item.spec.name_en if lang == "en" else item.spec.name
            groups.setdefault(item.spec.arrival_working_days, []).append(name)
    if not groups:
        return translate(lang, "quality.rule_none")
    sep, join = ("; ", ", ") if lang == "en" else ("；", "、")
    return sep.join(translate(lang, "quality.rule", items=join.join(names), days=days)
                    for days, names in sorted(groups.items()))


def _quality_page(request: Request, principal: Principal, session: Session, since: str, until: str, *,
                  department: Department | None) -> HTMLResponse:
    """The data-quality page over a period of arrival: every department's (``department`` None) or one
    department's. A period it cannot apply shows its warning and no figures (see below)."""
    lang = lang_of(request)
    errors: list[str] = []
    typed: dict[str, str] = {}
    lo = parse_date(since.strip()) if since.strip() else None
    hi = parse_date(until.strip()) if until.strip() else None
    for name, raw, day in (("since", since, lo), ("until", until, hi)):
        if raw.strip() and day is None:
            typed[name] = echo(raw.strip())  # shown back as typed
            if "records.filter.bad_date" not in errors:
                errors.append("records.filter.bad_date")
    if lo and hi and lo > hi:
        errors.append("records.filter.bad_range")
    # A period the page cannot apply (reversed, or a date it cannot read) shows its warning and no
    # figures: the unfiltered ones under it would read as that period's. Nothing is read; the refused
    # query is registered as the API's 422 is (``quality.read``, failed, the reasons' codes and the
    # fields, never what was typed).
    rows = [] if errors else department_quality(session, since=lo, until=hi,
                                                department_id=department.id if department else None)
    if errors:
        fields = sorted(typed) or ["until"]  # a reversed range names its end, as the API's refusal does
        record(session, actor=principal.actor, action="quality.read", outcome="failed",
               details={"errors": [k.rsplit(".", 1)[-1] for k in errors], "fields": fields, "via": "page"})
    else:
        record(session, actor=principal.actor, action="quality.read",
               details={"since": lo.isoformat() if lo else None, "until": hi.isoformat() if hi else None,
                        "via": "page"})
    totals = DepartmentQuality(0, "", "")
    for q in rows:
        totals.pushed += q.pushed
        totals.rejected += q.rejected
        totals.rejected_distinct += q.rejected_distinct  # a record is one department's: the sum counts it once
        for code, n in q.rejected_distinct_by_reason.items():
            totals.rejected_distinct_by_reason[code] = totals.rejected_distinct_by_reason.get(code, 0) + n
        totals.with_deadline += q.with_deadline
        totals.late += q.late
        for code, n in q.rejected_by_reason.items():
            totals.rejected_by_reason[code] = totals.rejected_by_reason.get(code, 0) + n
        totals.batches_refused += q.batches_refused
        for code, n in q.batches_refused_by_reason.items():
            totals.batches_refused_by_reason[code] = totals.batches_refused_by_reason.get(code, 0) + n
    shown = [department] if department is not None else _departments(session)
    names = {d.code: (d.name_en or d.name) if lang == "en" else d.name for d in shown}
    return render(request, "records/quality.html", {
        "rows": rows, "totals": totals, "since": lo, "until": hi, "typed": typed, "errors": errors, "names": names,
        "chart": _chart_data(rows, names, lang), "label": lambda prefix, code: label(lang, prefix, code),
        "own_department": department, "quality_path": OWN_QUALITY_PATH if department is not None else QUALITY_PATH,
        "arrival_rules": _arrival_rules(session, lang),
    })


# a page request whose path, query or form field the schema refuses (FastAPI's 422, answered with the
# error page naming the field) is registered under the page's action, as the API's are
refused_bodies = page_refusals(router, {
    ("GET", LIST_PATH): "records.list",
    ("POST", f"{LIST_PATH}/find"): "records.list",
    ("GET", LIST_PATH + "/{record_id}"): "record.read",
    ("POST", LIST_PATH + "/{record_id}/revoke"): "record.revoke",
    ("POST", "/admin/catalog/{code}/recompute"): "records.recompute_display",
    ("GET", QUALITY_PATH): "quality.read",
    ("GET", OWN_QUALITY_PATH): "quality.read",
})
