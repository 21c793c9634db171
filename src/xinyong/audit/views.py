"""The audit log's page (``GET /audit``) for those who hold ``audit.read`` (the credit office, auditors).

Thin: entries come from :func:`xinyong.audit.service.list_entries`, as the API's
(``GET /api/v1/audit/entries``) do, and the chain's state from :func:`xinyong.audit.service.chain_status`
(a few indexed reads; a full verification walks the whole chain and is left to ``xinyong audit verify``
and ``POST /api/v1/audit/verify``). Every look is itself registered as the API's is: ``audit.read``
with the filters, the count and ``via: page``; a filter the page cannot apply lists nothing and is
registered ``failed`` with the filters' names and the reasons' codes, never what was typed.

Each entry's action, object type and outcome is shown in words (``web.i18n``: ``audit.action.<code>``
…) with the code beside it; a code without words is shown as the code. The filters stay free text
and suggest the known codes (a ``<datalist>``). The API and the CLI keep the codes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.audit import service
from xinyong.audit.filters import parse_filters, utc_bounds
from xinyong.audit.models import AuditEntry
from xinyong.audit.service import OUTCOMES, record
from xinyong.auth.deps import page_refusals, require
from xinyong.auth.models import Department
from xinyong.auth.service import Principal
from xinyong.deps import DbSession, VaultDep
from xinyong.privacy.masking import mask_id_numbers_in
from xinyong.web.i18n import AUDIT_ACTIONS, AUDIT_OBJECT_TYPES, MESSAGES, lang_of, translate
from xinyong.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

AuditReader = Annotated[Principal, Depends(require("audit.read"))]
Param = Annotated[str, Query(max_length=128)]

PAGE_PATH = "/audit"  # web.nav.AUDIT_PAGE: the navigation links here
PAGE_SIZE = 50
DETAILS_SHOWN = 4000  # characters of an entry's details on the page; the API gives the whole entry


@dataclass(frozen=True)
class Row:
    id: int
    seq: int | None
    occurred_at: datetime
    actor_type: str
    actor_id: str | None
    actor_label: str | None
    department_id: int | None
    action: str
    action_label: str | None  # in the page's language; None for a code without one (an older version's)
    object_type: str | None
    object_type_label: str | None
    object_id: str | None
    outcome: str
    outcome_label: str  # the outcome's words, else its code
    request_id: str | None
    details: str  # as stored, as JSON; cut at DETAILS_SHOWN characters
    details_cut: bool


def _shown(value: str | None) -> str | None:
    """Defence in depth: what the log holds was masked when written; anything of an ID number's shape
    that reached the table otherwise is masked on the page too."""
    return None if value is None else mask_id_numbers_in(value)


def code_label(lang: str, kind: str, code: str | None) -> str | None:
    """The words for an audit entry's code (``kind``: ``action``, ``object_type`` or ``outcome``) in
    ``lang``, from the message catalog (``audit.<kind>.<code>``); None for a code without them, such as
    one an older version wrote: the page then shows the code alone. Words for the page only: the log,
    the API and the CLI keep the codes."""
    key = f"audit.{kind}.{code}"
    return translate(lang, key) if code and key in MESSAGES else None


def code_choices(lang: str) -> dict[str, list[tuple[str, str]]]:
    """The known actions and object types with their words, for the filters' suggestion lists: the
    filters stay free text (any code may be typed, an older version's too)."""
    return {kind: [(code, translate(lang, f"audit.{kind}.{code}")) for code in sorted(codes)]
            for kind, codes in (("action", AUDIT_ACTIONS), ("object_type", AUDIT_OBJECT_TYPES))}


def _row(e: AuditEntry, lang: str) -> Row:
    text = mask_id_numbers_in(json.dumps(e.details, ensure_ascii=False, sort_keys=True, default=str)) \
        if e.details else ""
    action, object_type = _shown(e.action) or "", _shown(e.object_type)
    return Row(id=e.id, seq=e.seq, occurred_at=e.occurred_at, actor_type=e.actor_type,
               actor_id=_shown(e.actor_id), actor_label=_shown(e.actor_label), department_id=e.department_id,
               action=action, action_label=code_label(lang, "action", action),
               object_type=object_type, object_type_label=code_label(lang, "object_type", object_type),
               object_id=_shown(e.object_id), outcome=e.outcome,
               outcome_label=code_label(lang, "outcome", e.outcome) or e.outcome,
               request_id=_shown(e.request_id), details=text[:DETAILS_SHOWN], details_cut=len(text) > DETAILS_SHOWN)


def _dept_names(session: Session, rows: list[Row], lang: str) -> dict[int, str]:
    """{department id: its name in the page's language and its code} of the entries shown: an entry
    names its actor's department, which a reader knows by name, not by its number."""
    ids = {r.department_id for r in rows if r.department_id is not None}
    if not ids:
        return {}
    return {d.id: f"{d.name if lang == 'zh' or not d.name_en else d.name_en} ({d.code})"
            for d in session.scalars(select(Department).where(Department.id.in_(ids)))}


@router.get(PAGE_PATH, response_class=HTMLResponse)
def audit_page(request: Request, principal: AuditReader, session: DbSession, vault: VaultDep,
               action: Param = "", actor: Param = "", outcome: Param = "", object_type: Param = "",
               object_id: Param = "", occurred_from: Param = "", occurred_to: Param = "",
               before_id: Param = "") -> HTMLResponse:
    f = parse_filters(action=action, actor=actor, outcome=outcome, object_type=object_type, object_id=object_id,
                      occurred_from=occurred_from, occurred_to=occurred_to, before_id=before_id)
    lang = lang_of(request)
    rows: list[Row] = []
    next_before: int | None = None
    if f.errors:
        # A filter the page cannot apply lists nothing: the unfiltered entries under its warning would
        # read as the filter's answer. Nothing is read; the refused look is registered.
        record(session, actor=principal.actor, action="audit.read", outcome="failed",
               details={**f.audit_details(), "errors": [k.rsplit(".", 1)[-1] for k in f.errors],
                        "fields": f.refused, "count": 0, "via": "page"})
    else:
        start, end = utc_bounds(request.app.state.settings.tz, f)
        found = service.list_entries(session, action=f.action or None, actor=f.actor or None,
                                     outcome=f.outcome or None, object_type=f.object_type or None,
                                     object_id=f.object_id or None, occurred_from=start, occurred_before=end,
                                     before_id=f.before_id, limit=PAGE_SIZE + 1)
        rows = [_row(e, lang) for e in found[:PAGE_SIZE]]
        next_before = rows[-1].id if len(found) > PAGE_SIZE and rows else None
        record(session, actor=principal.actor, action="audit.read",
               details={**f.audit_details(), "count": len(rows), "via": "page"})
    context = {"rows": rows, "filters": f, "next_before": next_before, "outcomes": OUTCOMES,
               "dept_names": _dept_names(session, rows, lang), "choices": code_choices(lang),
               "page_path": PAGE_PATH, "details_shown": DETAILS_SHOWN,
               "chain": service.chain_status(session, ring=vault.ring)}
    template = "audit/_entries.html" if is_htmx(request) and \
        request.headers.get("hx-history-restore-request") != "true" else "audit/entries.html"
    return render(request, template, context)


# a query the schema refuses (a value over 128 characters: FastAPI's 422, the error page naming the
# field) is registered as a refused read, as the API's are
refused_bodies = page_refusals(router, {("GET", PAGE_PATH): "audit.read"})
