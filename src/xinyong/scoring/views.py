"""Scoring pages: the credit office edits rulesets (YAML, refusals shown by line, a preview of grade
changes before saving, an effective date) and sees the grade distribution; a citizen sees their own
score, its explanation and a what-if form. Thin: everything goes through :mod:`xinyong.scoring.service`.
Every page view is audited like the API reads."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from xinyong import clock
from xinyong.auth.deps import page_refusals, require
from xinyong.auth.service import Principal
from xinyong.catalog.service import current_items
from xinyong.deps import DbSession
from xinyong.errors import masked_errors
from xinyong.lists.models import ListKind
from xinyong.privacy.masking import mask_id_numbers_in
from xinyong.scoring import service
from xinyong.scoring.ruleset import RulesetError
from xinyong.web.filters import echo
from xinyong.web.i18n import field_label, label, lang_of, translate
from xinyong.web.templating import render

router = APIRouter(include_in_schema=False)

ScoringAdmin = Annotated[Principal, Depends(require("scoring.manage"))]
ScoresReader = Annotated[Principal, Depends(require("scores.read"))]
SelfReader = Annotated[Principal, Depends(require("self.read"))]

BASE = "/admin/scoring"
DISTRIBUTION = "/admin/scoring/distribution"
MY_SCORE = "/my/score"
MAX_YAML = 200_000
# the records a citizen may suppose added on their page (the API's what-if takes any catalog item)
OFFERED = ("honor", "moral_model", "volunteer_service", "blood_donation")


async def _form(request: Request) -> FormData:
    return await request.form()


Form = Annotated[FormData, Depends(_form)]


def _str(form: FormData, name: str, limit: int = 200) -> str:
    v = form.get(name)
    return v[:limit] if isinstance(v, str) else ""


def _ruleset_page(request: Request, session: Session, *, today: date, source: str | None = None,
                  effective_from: str = "", note: str = "", version: int | None = None,
                  errors: list[dict[str, Any]] | None = None, preview: dict[str, Any] | None = None,
                  saved: int | None = None, status_code: int = 200, reader: Principal | None = None,
                  previewing: bool = False) -> HTMLResponse:
    """The rulesets page; ``reader``: a plain look at it (GET), registered as the API's read of the
    version shown is (``scoring.ruleset_read``, ``page: true``) — a save or a preview has its own entry."""
    service.ensure_default(session)
    active = service.active_version(session, today=today)
    rows = service.versions(session)
    shown = service.get_version(session, version) if version else service.get_version(session, active or 0)
    if shown is None and rows:
        shown = rows[0]
    if reader is not None and shown is not None:  # the version the page shows (the newest for an unknown one)
        service.record_ruleset_read(session, actor=reader.actor, version=shown.version, via="page")
    return render(request, "scoring/rulesets.html", {
        "base": BASE, "rows": rows, "active": active, "shown": shown,
        "source": source if source is not None else (shown.source if shown else service.default_text()),
        "effective_from": effective_from or today.isoformat(), "note": note, "errors": errors or [],
        "preview": preview, "saved": saved, "today": today, "previewing": previewing,
    }, status_code=status_code)


@router.get(BASE, response_class=HTMLResponse)
def rulesets_page(request: Request, principal: ScoringAdmin, session: DbSession,
                  version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None) -> HTMLResponse:
    return _ruleset_page(request, session, today=clock.today(), version=version, reader=principal)


@router.post(BASE, response_class=HTMLResponse)
def rulesets_submit(request: Request, principal: ScoringAdmin, session: DbSession, form: Form) -> HTMLResponse:
    """``action=preview`` shows how many people would change grade; ``action=save`` stores a version."""
    today = clock.today()
    source = _str(form, "yaml", MAX_YAML + 1)
    effective_raw = _str(form, "effective_from", 20).strip()
    note = _str(form, "note", 500).strip()
    action = _str(form, "action", 20)
    # shown back as typed (a text box when refused), but never a value of an ID number's shape (web.filters.echo):
    # the date box and the note alike; the YAML itself with any ID number in it masked (a comment's)
    keep = {"source": mask_id_numbers_in(source), "effective_from": echo(effective_raw), "note": echo(note),
            "previewing": action != "save"}
    audited = "scoring.ruleset_create" if action == "save" else "scoring.preview"
    err: dict[str, Any] | None = None
    try:
        effective = date.fromisoformat(effective_raw) if effective_raw else today
    except ValueError:
        err = {"field": "effective_from", "line": None, "code": "wrong_type",
               "message": "生效日期格式应为 YYYY-MM-DD / effective_from must be YYYY-MM-DD"}
    if err is None and len(source) > MAX_YAML:
        err = {"field": "yaml", "line": None, "code": "too_large", "message": "评分规则过大 / ruleset too large"}
    if err is not None:  # refused before the ruleset is read: registered as the rules' refusals are
        service.record_ruleset_refused(session, actor=principal.actor, action=audited, code=err["code"], line=None,
                                       field=err["field"], via="page")
        return _ruleset_page(request, session, today=today, errors=[err], status_code=422, **keep)
    try:
        if action == "save":
            service.ensure_default(session)
            row = service.save_ruleset(session, text_=source, actor=principal.actor, effective_from=effective,
                                       today=today, note=note or None)
            return _ruleset_page(request, session, today=today, version=row.version, saved=row.version)
        out = service.preview(session, text_=source, today=today)
        service.record_preview(session, actor=principal.actor, changed=out["changed"])
        return _ruleset_page(request, session, today=today, preview=out, **{**keep, "previewing": False})
    except RulesetError as exc:
        errors = exc.errors
    except service.ScoringError as exc:
        errors = [{"field": exc.field or "yaml", "line": None, "code": exc.code, "message": exc.message}]
    service.record_ruleset_refused(session, actor=principal.actor, action=audited, code=errors[0]["code"],
                                   line=errors[0].get("line"), via="page")
    # a refusal names the key or value it read (an unknown key…): masked, as the API's error body is
    return _ruleset_page(request, session, today=today, errors=masked_errors(errors), status_code=422, **keep)


@router.get(DISTRIBUTION, response_class=HTMLResponse)
def distribution_page(request: Request, principal: ScoresReader, session: DbSession) -> HTMLResponse:
    lang = lang_of(request)
    d = service.distribution(session, today=clock.today())
    service.record_distribution(session, actor=principal.actor, total=d["total"])
    chart = json.dumps({"categories": [g["grade"] for g in d["grades"]],
                        "series": [{"name": translate(lang, "scoring.people"),
                                    "data": [g["count"] for g in d["grades"]]}]}, ensure_ascii=False)
    return render(request, "scoring/distribution.html", {"d": d, "chart": chart})


def _my_subject(principal: Principal) -> int:
    if principal.subject_id is None:
        raise HTTPException(status_code=404)
    return principal.subject_id


def _extension_boxes(session: Session, lang: str) -> list[dict[str, Any]]:
    """A box for each display extension field (catalog ``display.extension``) of the items the page
    offers, once per field: its name, label, bounds and the items that have it. Driven by the catalog,
    not by item codes; the what-if reads it as a pushed record's field (``service.what_if``)."""
    items = current_items(session)
    boxes: dict[str, dict[str, Any]] = {}
    for code in OFFERED:
        item = items.get(code)
        if item is None or item.spec.display_extension is None:
            continue
        f = item.spec.field_index[item.spec.display_extension[0]]
        box = boxes.setdefault(f.name, {"name": f.name, "field": f"fields.{f.name}", "min": f.min, "max": f.max,
                                        "label": field_label(f, f.name, lang),
                                        "items": []})
        box["items"].append(code)
    return list(boxes.values())


def _my_page(request: Request, session: Session, principal: Principal, *, result: Any = None,
             error: str | None = None, status_code: int = 200, form: dict[str, str] | None = None,
             bad: str | None = None) -> HTMLResponse:
    sid = _my_subject(principal)
    today = clock.today()
    e = service.explain(session, sid, today=today)
    service.record_score_read(session, actor=principal.actor, explanation=e, via="page")
    lang = lang_of(request)
    # the lists forcing a grade, by name in the reader's language (list kinds are data)
    names = {k.code: (k.name_zh if lang == "zh" else k.name_en or k.name_zh)
             for k in session.scalars(select(ListKind).where(ListKind.code.in_(e.forced_by)))} if e.forced_by else {}
    return render(request, "scoring/my_score.html", {
        "e": e, "result": result, "error": error, "bad": bad, "form": form or {},
        "history": service.history(session, sid),
        "forced_names": [names.get(code, code) for code in e.forced_by],
        "today": today, "levels": list(service.LEVEL_LABELS), "action": MY_SCORE + "/what-if",
        "offered": OFFERED, "extensions": _extension_boxes(session, lang),
        "label": lambda prefix, code: label(lang_of(request), prefix, code),
    }, status_code=status_code)


@router.get(MY_SCORE, response_class=HTMLResponse)
def my_score(request: Request, principal: SelfReader, session: DbSession) -> HTMLResponse:
    return _my_page(request, session, principal)


@router.post(MY_SCORE + "/what-if", response_class=HTMLResponse)
def my_what_if(request: Request, principal: SelfReader, session: DbSession, form: Form) -> HTMLResponse:
    sid = _my_subject(principal)
    changes: list[dict[str, Any]] = []
    for v in form.getlist("remove_record"):
        if isinstance(v, str) and v.strip().isdigit() and len(v.strip()) < 19:
            changes.append({"remove_record": int(v.strip())})
    add_item = _str(form, "add_item", 64)
    if add_item:
        add: dict[str, Any] = {"item": add_item}
        for key in ("level", "severity", "decided_at"):
            if _str(form, key, 20):
                add[key] = _str(form, key, 20)
        hours = _str(form, "hours", 12).strip()
        if hours:
            try:
                add["hours"] = float(hours)
            except ValueError:
                add["hours"] = hours
        # the display extension boxes (fields.<name>), as the record's fields: checked by the service
        fields = {k[len("fields."):]: _str(form, k, 12).strip() for k in form
                  if k.startswith("fields.") and _str(form, k, 12).strip()}
        if fields:
            add["fields"] = fields
        changes.append({"add": add})
    # shown back as typed, but never a value of an ID number's shape (web.filters.echo): the date and
    # hours boxes show a refused value on screen
    keep = {k: echo(_str(form, k, 64)) for k in ("add_item", "level", "severity", "decided_at", "hours")}
    keep.update({k: echo(_str(form, k, 12)) for k in form if k.startswith("fields.")})
    if not changes:
        service.record_what_if_refused(session, actor=principal.actor, subject_id=sid, code="missing",
                                       field="changes", via="page")
        return _my_page(request, session, principal, error="请选择至少一项假设变化 / choose at least one change",
                        status_code=422, form=keep)
    try:
        current, new = service.what_if(session, sid, changes, today=clock.today())
    except service.ScoringError as exc:
        service.record_what_if_refused(session, actor=principal.actor, subject_id=sid, code=exc.code,
                                       field=exc.field, via="page")
        # the form's field refused (changes[0].add.decided_at → decided_at; add.item is the add_item box)
        bad = (exc.field or "").rsplit(".", 1)[-1]
        return _my_page(request, session, principal, error=exc.message, status_code=422, form=keep,
                        bad="add_item" if bad == "item" else bad)
    service.record_what_if(session, actor=principal.actor, subject_id=sid, changes=len(changes), result=new,
                           via="page")
    return _my_page(request, session, principal, result=new, form=keep)


# a page request whose path, query or form field the schema refuses (FastAPI's 422, answered with the
# error page naming the field) is registered under the page's action, as the API's are
refused_bodies = page_refusals(router, {
    ("GET", BASE): "scoring.ruleset_read",
})
