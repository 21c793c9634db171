"""Admin console: the information catalog. A list of the current items, and per item its
definition, version history and an edit form (display periods per severity, visibility, the
departments allowed to push it, legal basis). Saving calls :func:`xinyong.catalog.service.update_item`,
which adds a version; a refusal (``CatalogError``) is shown in the form with its path and changes
nothing.

catalog/ may not import records/ (data flows one way), so "apply to existing records" is handled
by ``POST /admin/catalog/{code}/recompute`` in :mod:`xinyong.records.views`: when the box is
ticked, a successful save answers ``307`` to that address, and the browser re-posts the same form
(with its CSRF token) there.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from xinyong.auth.deps import page_refusals, require
from xinyong.auth.models import Department
from xinyong.auth.service import Principal
from xinyong.catalog import service
from xinyong.catalog.service import CatalogError, Item
from xinyong.catalog.spec import CATEGORIES, CODE_RE, VISIBILITIES, ItemSpec, Period, to_data
from xinyong.deps import DbSession
from xinyong.web.i18n import label, lang_of
from xinyong.web.templating import render

router = APIRouter(include_in_schema=False)

CatalogAdmin = Annotated[Principal, Depends(require("catalog.manage"))]
ItemCode = Annotated[str, Path(max_length=64)]
Flag = Annotated[str, Query(max_length=20)]

BASE = "/admin/catalog"
MAX_LEGAL_BASIS = 2000
MAX_NOTE = 500
_WHOLE = re.compile(r"^\s*[0-9]{1,6}\s*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # line breaks and tabs are text


async def _form(request: Request) -> FormData:
    return await request.form()


Form = Annotated[FormData, Depends(_form)]



def display_keys(spec: ItemSpec) -> list[str]:
    """The item's periods in reading order: ``default`` first, then each severity."""
    keys = ["default"] if "default" in spec.display else []
    keys.extend(s for s in spec.severities or () if s in spec.display)
    return keys


def periods(spec: ItemSpec) -> list[tuple[str, Period]]:
    return [(k, spec.display[k]) for k in display_keys(spec)]


def _changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """The paths that differ between two versions' data (``display.by_severity.general.max_months``)."""
    if before is None:
        return []
    out: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b), key=str):
                walk(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        elif a != b:
            out.append(path)

    walk(before, after, "")
    return out


def _not_found() -> HTTPException:
    return HTTPException(status_code=404)


def _current(session: Session, code: str) -> Item:
    item = service.get_current(session, code) if CODE_RE.match(code) else None
    if item is None:
        raise _not_found()
    return item


def _departments(session: Session) -> list[Department]:
    from xinyong.auth.service import list_departments

    return list_departments(session, kind="department")


# ---- the list --------------------------------------------------------------------------------

@router.get(BASE, response_class=HTMLResponse)
def catalog_list(request: Request, principal: CatalogAdmin, session: DbSession) -> HTMLResponse:
    lang = lang_of(request)
    items = list(service.current_items(session).values())
    return render(request, "catalog/list.html", {
        "items": items, "periods": periods, "base": BASE, "label": lambda p, c: label(lang, p, c),
    })


# ---- one item: definition, history, edit form ---------------------------------------------------

def _form_of(spec: ItemSpec, version: int) -> dict[str, Any]:
    return {
        "version": str(version),
        "visibility": spec.visibility,
        "departments": list(spec.departments),
        "legal_basis": spec.legal_basis or "",
        "note": "",
        "recompute": False,
        "display": {k: {"publish": p.publish, "min_months": str(p.min_months), "max_months": str(p.max_months)}
                    for k, p in spec.display.items()},
    }


def _error_field(exc: CatalogError, code: str) -> str | None:
    """The form's name for the refused path: ``admin_penalty.display.by_severity.general.min_months``
    becomes ``display.general.min_months``."""
    path = exc.field or ""
    if path.startswith(code + "."):
        path = path[len(code) + 1:]
    return path.replace("display.by_severity.", "display.") or None


MAX_DEFINITION = 200_000  # characters of an item's YAML in the full-definition editor


def definition_text(spec: ItemSpec) -> str:
    """The item's full definition as the editor shows it: the shipped YAML's shape."""
    return yaml.safe_dump(to_data(spec), allow_unicode=True, sort_keys=False, width=100)


def _detail_page(request: Request, session: Session, item: Item, *, form: dict[str, Any] | None = None,
                 error: dict[str, Any] | None = None, notices: list[tuple[str, dict[str, Any]]] | None = None,
                 status_code: int = 200, definition: dict[str, Any] | None = None) -> HTMLResponse:
    lang = lang_of(request)
    versions = service.history(session, item.code)
    history = []
    previous: dict[str, Any] | None = None
    for row in versions:
        history.append({"row": row, "changes": _changes(previous, row.spec)})
        previous = row.spec
    history.reverse()
    depts = _departments(session)
    known = {d.code for d in depts}
    extra = [c for c in item.spec.departments if c != "*" and c not in known]  # in the rule, not (yet) a department
    return render(request, "catalog/detail.html", {
        "item": item, "spec": item.spec, "periods": periods(item.spec), "keys": display_keys(item.spec),
        "history": history, "departments": depts, "extra_departments": extra, "visibilities": VISIBILITIES,
        "categories": CATEGORIES, "form": form or _form_of(item.spec, item.version), "error": error,
        "notices": notices or [], "base": BASE, "label": lambda p, c: label(lang, p, c),
        "definition": definition or {"text": definition_text(item.spec), "version": item.version, "note": "",
                                     "error": None},
    }, status_code=status_code)


def _count(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else None


@router.get(BASE + "/{code}", response_class=HTMLResponse)
def catalog_detail(request: Request, code: ItemCode, principal: CatalogAdmin, session: DbSession,
                   saved: Flag = "", unchanged: Flag = "", recomputed: Flag = "") -> HTMLResponse:
    item = _current(session, code)
    notices: list[tuple[str, dict[str, Any]]] = []
    if _count(saved) is not None:
        notices.append(("catalog.saved", {"version": _count(saved)}))
    if unchanged:
        notices.append(("catalog.unchanged", {}))
    if _count(recomputed) is not None:
        notices.append(("catalog.recomputed", {"count": _count(recomputed)}))
    return _detail_page(request, session, item, notices=notices)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _months(value: str) -> int | str:
    """A whole number of months; anything else goes to the service as it is, to be refused there
    with its path (so the rule lives in one place)."""
    return int(value) if _WHOLE.match(value) else value


def _submitted(form: FormData, item: Item) -> dict[str, Any]:
    """The form as the page shows it back (strings), from the known field names only."""
    depts = [d.strip() for d in form.getlist("departments") if isinstance(d, str) and d.strip()]
    return {
        "version": _text(form, "version"),
        "visibility": _text(form, "visibility"),
        "departments": depts,
        "legal_basis": _text(form, "legal_basis"),
        "note": _text(form, "note"),
        "recompute": bool(_text(form, "recompute")),
        "display": {k: {"publish": bool(_text(form, f"display.{k}.publish")),
                        "min_months": _text(form, f"display.{k}.min_months"),
                        "max_months": _text(form, f"display.{k}.max_months")}
                    for k in display_keys(item.spec)},
    }


def _check_version(item: Item, sent: str) -> None:
    """Refuse a form made from another version of the item than the current one (edited meanwhile)."""
    if sent != str(item.version):
        raise CatalogError("stale_form", f"该事项已被修改（当前为第{item.version}版），请刷新页面后重新编辑",
                           f"the item changed meanwhile (now version {item.version}); reload and edit again",
                           "version")


def _data(item: Item, sent: dict[str, Any]) -> dict[str, Any]:
    """The item's full data with the edited parts replaced. Raises CatalogError for what the service
    does not itself check (stale form, over-long text); unknown departments are refused there."""
    _check_version(item, sent["version"])
    if len(sent["legal_basis"]) > MAX_LEGAL_BASIS:
        raise CatalogError("too_long", f"法律依据不能超过{MAX_LEGAL_BASIS}字",
                           f"legal basis must not exceed {MAX_LEGAL_BASIS} characters", "legal_basis")
    for name in ("legal_basis", "note"):
        if _CONTROL.search(sent[name]):
            raise CatalogError("invalid_characters", "包含不允许的控制字符", "contains control characters", name)
    if len(sent["note"]) > MAX_NOTE:
        raise CatalogError("too_long", f"修改说明不能超过{MAX_NOTE}字", f"note must not exceed {MAX_NOTE} characters",
                           "note")
    data = to_data(item.spec)
    display: dict[str, Any] = {}
    for key, p in sent["display"].items():
        period = {"publish": p["publish"], "min_months": _months(p["min_months"]),
                  "max_months": _months(p["max_months"])}
        if key == "default":
            display["default"] = period
        else:
            display.setdefault("by_severity", {})[key] = period
    if "extension" in data["display"]:  # not on the form: kept as it was
        display["extension"] = data["display"]["extension"]
    data["display"] = display
    data["visibility"] = sent["visibility"]
    data["departments"] = ["*"] if "*" in sent["departments"] else sent["departments"]
    data["legal_basis"] = sent["legal_basis"] or None
    return data


def _error(exc: CatalogError, code: str) -> dict[str, Any]:
    message = exc.zh if exc.zh == exc.en else exc.message  # a spec error carries both languages already
    if exc.field and message.startswith(exc.field + ": "):
        message = message[len(exc.field) + 2:]  # the path is shown on its own line
    return {"message": message, "field": _error_field(exc, code), "path": exc.field, "code": exc.code}


@router.post(BASE + "/{code}", response_model=None)
def catalog_edit(request: Request, code: ItemCode, principal: CatalogAdmin, session: DbSession,
                 form: Form) -> Response:
    item = _current(session, code)
    sent = _submitted(form, item)
    try:
        data = _data(item, sent)
        saved = service.update_item(session, code=code, data=data, actor=principal.actor,
                                    note=sent["note"] or None)
    except CatalogError as exc:
        service.record_update_refusal(session, actor=principal.actor, code=code, refused=exc.code, field=exc.field, via="page")
        item = _current(session, code)
        # A stale form is shown afresh (the current version's values); any other refusal keeps what was typed.
        shown = None if exc.code == "stale_form" else sent
        return _detail_page(request, session, item, form=shown, error=_error(exc, code), status_code=422)
    new_version = saved.version != item.version
    if sent["recompute"]:
        # The same form (and CSRF token) is posted again to the records domain's recompute action.
        suffix = f"?saved={saved.version}" if new_version else ""
        return RedirectResponse(f"{BASE}/{code}/recompute{suffix}", status_code=307)
    return RedirectResponse(f"{BASE}/{code}?" + (f"saved={saved.version}" if new_version else "unchanged=1"),
                            status_code=303)


@router.post(BASE + "/{code}/definition", response_model=None)
def catalog_edit_definition(request: Request, code: ItemCode, principal: CatalogAdmin, session: DbSession,
                            form: Form) -> Response:
    """The whole item as YAML (names, category, fields and allowed values, retention …: what the form
    above does not edit), validated as ``PUT /api/v1/catalog/items/{code}`` validates it."""
    item = _current(session, code)
    text, version, note = (_text(form, "definition"), _text(form, "version"), _text(form, "note"))
    shown = {"text": text, "version": version, "note": note}
    try:
        _check_version(item, version)
        if len(text) > MAX_DEFINITION or _CONTROL.search(text.replace("\t", " ")):
            raise CatalogError("invalid_definition", f"定义过长（上限 {MAX_DEFINITION} 字）或包含控制字符",
                               f"the definition is too long (limit {MAX_DEFINITION}) or has control characters",
                               "definition")
        if len(note) > MAX_NOTE or _CONTROL.search(note):
            raise CatalogError("too_long", f"修改说明不能超过{MAX_NOTE}字且不能含控制字符",
                               f"note must not exceed {MAX_NOTE} characters or contain control characters", "note")
        try:
            data = yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError) as exc:  # RecursionError: nested thousands deep
            mark = getattr(exc, "problem_mark", None)
            where = f"（第 {mark.line + 1} 行）" if mark is not None else ""
            where_en = f" (line {mark.line + 1})" if mark is not None else ""
            raise CatalogError("invalid_yaml", f"YAML 格式错误{where}", f"the YAML does not parse{where_en}",
                               "definition") from None
        if not isinstance(data, dict) or data.get("code", code) != code:
            raise CatalogError("invalid_definition", f"定义应为事项 {code} 的键值映射，代码不能更改",
                               f"the definition must be a mapping for item {code}; the code cannot change",
                               "definition")
        data["code"] = code
        saved = service.update_item(session, code=code, data=data, actor=principal.actor, note=note or None)
    except CatalogError as exc:
        service.record_update_refusal(session, actor=principal.actor, code=code, refused=exc.code, field=exc.field, via="page")
        item = _current(session, code)
        if exc.code == "stale_form":  # shown afresh (the current version); any other refusal keeps what was typed
            shown = {"text": definition_text(item.spec), "version": item.version, "note": note}
        return _detail_page(request, session, item, definition={**shown, "error": _error(exc, code)}, status_code=422)
    changed = saved.version != item.version
    return RedirectResponse(f"{BASE}/{code}?" + (f"saved={saved.version}" if changed else "unchanged=1"),
                            status_code=303)


# a page request whose path, query or form field the schema refuses (FastAPI's 422, answered with the
# error page naming the field) is registered under the page's action, as the API's are
refused_bodies = page_refusals(router, {
    ("GET", BASE + "/{code}"): "catalog.read",
    ("POST", BASE + "/{code}"): "catalog.update",
    ("POST", BASE + "/{code}/definition"): "catalog.update",
})
