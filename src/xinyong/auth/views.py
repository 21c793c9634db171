"""Admin console pages: departments, users, API keys; and the officer's own department's keys.

Thin: every change goes through :mod:`xinyong.auth.service`; refusals (``AuthError``) are shown
in the form and change nothing. Each route declares its permission once. Every form carries the
session's CSRF token (checked by ``current_principal``); HTMX requests get just the table row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Select, false, func, select
from sqlalchemy.orm import Session

from xinyong.audit.service import record_not_found
from xinyong.auth import service
from xinyong.auth.deps import page_refusals, require
from xinyong.auth.models import ROLES, ApiKey, Department, User
from xinyong.auth.service import AuthError, Principal
from xinyong.deps import DbSession, ObjectId, SmallId, VaultDep
from xinyong.privacy import identity
from xinyong.privacy.masking import mask_id_numbers_in
from xinyong.privacy.vault import Vault
from xinyong.web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)

ManageDepartments = Annotated[Principal, Depends(require("departments.manage"))]
ManageUsers = Annotated[Principal, Depends(require("users.manage"))]
ManageKeys = Annotated[Principal, Depends(require("apikeys.manage"))]
ManageOwnKeys = Annotated[Principal, Depends(require("apikeys.manage_own"))]

KINDS = ("department", "institution")
USERS_PER_PAGE = 100
Text = Annotated[str, Form(max_length=128)]
SELF_DISABLE = "不能停用自己的账户 / you cannot disable your own account"


def _refusal(exc: AuthError | identity.InvalidIdNumber, field: str | None = None) -> dict[str, Any]:
    return {"message": exc.message, "field": field or getattr(exc, "field", None)}


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _not_found() -> HTTPException:
    return HTTPException(status_code=404)


# ---- departments ---------------------------------------------------------------------------

def _departments_page(request: Request, session: Session, *, error: dict[str, Any] | None = None,
                      form: dict[str, str] | None = None, row_error: dict[str, Any] | None = None,
                      status_code: int = 200) -> HTMLResponse:
    """The list with each row's state forms, and the add form; ``error`` is the add form's refusal,
    ``row_error`` a row's (its department's ``id``, the message, the reason typed)."""
    return render(request, "admin/departments.html",
                  {"departments": service.list_departments(session), "kinds": KINDS,
                   "form": form or {"kind": "department"}, "error": error, "row_error": row_error,
                   "reason_max": service.REASON_MAX}, status_code=status_code)


@router.get("/admin/departments", response_class=HTMLResponse)
def departments(request: Request, principal: ManageDepartments, session: DbSession) -> HTMLResponse:
    return _departments_page(request, session)


@router.post("/admin/departments", response_model=None)
def add_department(request: Request, principal: ManageDepartments, session: DbSession,
                   code: Annotated[str, Form(max_length=32)] = "", name: Text = "", name_en: Text = "",
                   kind: Annotated[str, Form(max_length=16)] = "department") -> Response:
    try:
        service.add_department(session, code=code, name=name, name_en=name_en or None, kind=kind,
                               actor=principal.actor)
    except AuthError as exc:
        service.record_failed_input(session, actor=principal.actor, action="department.create", code=exc.code,
                                    field=exc.field, department=code[:32], kind=kind, via="page")
        # what was typed, less what may not be shown back (control characters dropped, an ID number masked)
        form = {k: mask_id_numbers_in(service.NAME_CONTROL_CHARS.sub("", v))
                for k, v in {"code": code, "name": name, "name_en": name_en, "kind": kind}.items()}
        return _departments_page(request, session, error=_refusal(exc), form=form, status_code=422)
    return _see_other("/admin/departments")


def _change_state(request: Request, session: Session, principal: Principal, department_id: int, *,
                  active: bool, reason: str = "") -> Response:
    """Deactivate or reactivate a department; a refusal is shown in its row (422) and changes nothing."""
    dept = session.get(Department, department_id)
    if dept is None:
        raise _not_found()
    try:
        if active:
            service.reactivate_department(session, department=dept, actor=principal.actor)
        else:
            service.deactivate_department(session, department=dept, reason=reason, actor=principal.actor)
    except AuthError as exc:  # registered as the API's refusal is (the reason typed is not kept)
        service.record_state_refused(session, actor=principal.actor,
                                     action="department.reactivate" if active else "department.deactivate",
                                     code=exc.code, department=dept.code, department_id=dept.id,
                                     field="reason" if exc.field == "reason" else None, via="page")
        row_error = {"id": department_id, **_refusal(exc), "reason": reason}
        return _departments_page(request, session, row_error=row_error, status_code=422)
    return _see_other("/admin/departments")


@router.post("/admin/departments/{department_id}/deactivate", response_model=None)
def deactivate_department(request: Request, department_id: SmallId, principal: ManageDepartments,
                          session: DbSession, reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    return _change_state(request, session, principal, department_id, active=False, reason=reason)


@router.post("/admin/departments/{department_id}/activate", response_model=None)
def activate_department(request: Request, department_id: SmallId, principal: ManageDepartments,
                        session: DbSession) -> Response:
    return _change_state(request, session, principal, department_id, active=True)


# ---- users -------------------------------------------------------------------------------------

def _user_rows(session: Session, *, page: int) -> list[tuple[User, Department | None]]:
    stmt = (select(User, Department).outerjoin(Department, Department.id == User.department_id)
            .order_by(User.id).offset((page - 1) * USERS_PER_PAGE).limit(USERS_PER_PAGE))
    return [(u, d) for u, d in session.execute(stmt)]


def _users_page(request: Request, session: Session, *, page: int = 1, error: dict[str, Any] | None = None,
                form: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
    total = session.scalar(select(func.count(User.id))) or 0
    return render(request, "admin/users.html", {
        "rows": _user_rows(session, page=page), "page": page, "has_next": page * USERS_PER_PAGE < total,
        "total": total, "roles": ROLES, "departments": service.list_departments(session),
        "form": form or {"role": "officer"}, "error": error,
    }, status_code=status_code)


@router.get("/admin/users", response_class=HTMLResponse)
def users(request: Request, principal: ManageUsers, session: DbSession,
          page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> HTMLResponse:
    return _users_page(request, session, page=page)


def _create_user(session: Session, vault: Vault, principal: Principal, *, username: str, password: str,
                 role: str, department: str, display_name: str, id_number: str) -> User:
    dept_id = service.get_department(session, department).id if department else None
    citizen = service.citizen_binding(session, vault, id_number) if role == "citizen" else None
    return service.add_user(session, username=username, password=password, role=role, department_id=dept_id,
                            citizen=citizen, display_name=display_name.strip() or None, actor=principal.actor)


@router.post("/admin/users", response_model=None)
def add_user(request: Request, principal: ManageUsers, session: DbSession, vault: VaultDep,
             username: Annotated[str, Form(max_length=64)] = "",
             password: Annotated[str, Form(max_length=256)] = "",
             role: Annotated[str, Form(max_length=16)] = "",
             department: Annotated[str, Form(max_length=32)] = "",
             display_name: Text = "",
             id_number: Annotated[str, Form(max_length=32)] = "") -> Response:
    try:
        _create_user(session, vault, principal, username=username, password=password, role=role,
                     department=department, display_name=display_name, id_number=id_number)
    except (AuthError, identity.InvalidIdNumber) as exc:
        field = "id_number" if isinstance(exc, identity.InvalidIdNumber) else None
        service.record_failed_input(session, actor=principal.actor, action="user.create", code=exc.code,
                                    field=field or getattr(exc, "field", None),
                                    username=service.typed_user_name(username), role=role,
                                    via="page")
        # The password and the ID number are never sent back to the browser (nor one typed elsewhere).
        form = {"username": service.typed_user_name(username) or "", "role": role, "department": department,
                "display_name": mask_id_numbers_in(service.NAME_CONTROL_CHARS.sub("", display_name))}
        return _users_page(request, session, error=_refusal(exc, field), form=form, status_code=422)
    return _see_other("/admin/users")


def _set_active(request: Request, session: Session, principal: Principal, user_id: ObjectId,
                active: bool) -> Response:
    user = session.get(User, user_id)
    if user is None:
        raise _not_found()
    if user.id == principal.id and principal.kind == "user" and not active:
        raise HTTPException(409, detail={"code": "self_disable", "message": SELF_DISABLE})
    service.set_user_active(session, user=user, active=active, actor=principal.actor)
    if is_htmx(request):
        dept = session.get(Department, user.department_id) if user.department_id is not None else None
        return render(request, "admin/_user_row.html", {"user": user, "dept": dept})
    return _see_other("/admin/users")


@router.post("/admin/users/{user_id}/disable", response_model=None)
def disable_user(request: Request, user_id: ObjectId, principal: ManageUsers, session: DbSession) -> Response:
    return _set_active(request, session, principal, user_id, False)


@router.post("/admin/users/{user_id}/enable", response_model=None)
def enable_user(request: Request, user_id: ObjectId, principal: ManageUsers, session: DbSession) -> Response:
    return _set_active(request, session, principal, user_id, True)


# ---- API keys: the admin's (all departments) and the officer's (own department) ----------------

@dataclass(frozen=True, slots=True)
class KeyScope:
    """Which keys a page shows and may change, and where its forms post."""

    base: str
    title: str
    department_id: int | None
    all_departments: bool = False

    def restrict(self, stmt: Select[Any]) -> Select[Any]:
        if self.all_departments:
            return stmt
        if self.department_id is None:
            return stmt.where(false())
        return stmt.where(ApiKey.department_id == self.department_id)


def _admin_scope(principal: Principal) -> KeyScope:
    return KeyScope(base="/admin/apikeys", title="key.title", department_id=None, all_departments=True)


def _own_scope(principal: Principal) -> KeyScope:
    return KeyScope(base="/workspace/apikeys", title="key.workspace_title",
                    department_id=principal.department_id)


def _key_rows(session: Session, scope: KeyScope) -> list[tuple[ApiKey, Department]]:
    stmt = select(ApiKey, Department).join(Department, Department.id == ApiKey.department_id)
    return [(k, d) for k, d in session.execute(scope.restrict(stmt).order_by(ApiKey.id.desc()))]


def _keys_page(request: Request, session: Session, scope: KeyScope, *, error: dict[str, Any] | None = None,
               form: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
    own = session.get(Department, scope.department_id) if scope.department_id is not None else None
    # institutions hold no system key (service.create_api_key refuses them)
    choices = ([d for d in service.list_departments(session) if d.active and d.kind == "department"]
               if scope.all_departments else [])
    return render(request, "admin/apikeys.html", {
        "scope": scope, "rows": _key_rows(session, scope), "own_department": own, "departments": choices,
        "form": form or {}, "error": error,
    }, status_code=status_code)


def _key_department(session: Session, scope: KeyScope, code: str) -> Department:
    if scope.all_departments:
        return service.get_department(session, code.strip())
    dept = session.get(Department, scope.department_id) if scope.department_id is not None else None
    if dept is None:
        raise AuthError("department_required", "您的账户未关联部门", "your account has no department", "dept")
    return dept


def _create_key(request: Request, session: Session, principal: Principal, scope: KeyScope,
                *, name: str, department: str) -> HTMLResponse:
    try:
        dept = _key_department(session, scope, department)
        secret, key = service.create_api_key(session, department=dept, name=name, actor=principal.actor)
    except AuthError as exc:
        # registered as a refused change (rolls back what the request did); the name is shown back
        # without what was refused in it (an ID number masked, control characters dropped)
        service.record_failed_input(session, actor=principal.actor, action="apikey.create", code=exc.code,
                                    field=exc.field, department=department.strip()[:32] or None)
        shown = mask_id_numbers_in(service.NAME_CONTROL_CHARS.sub("", name))
        return _keys_page(request, session, scope, error=_refusal(exc),
                          form={"name": shown, "department": department}, status_code=422)
    # Shown once: the page is not cached (Cache-Control: no-store) and the secret is not stored.
    return render(request, "admin/apikey_created.html", {"scope": scope, "key": key, "dept": dept,
                                                          "secret": secret})


def _revoke_key(request: Request, session: Session, principal: Principal, scope: KeyScope,
                key_id: ObjectId) -> Response:
    key = session.scalar(scope.restrict(select(ApiKey)).where(ApiKey.id == key_id))
    if key is None:  # another department's key, or none: registered, answered alike
        record_not_found(session, actor=principal.actor, action="apikey.revoke", object_type="apikey",
                         object_id=key_id, details={"via": "page"})
        raise _not_found()
    try:
        service.revoke_api_key(session, key=key, actor=principal.actor)
    except AuthError as exc:  # revoked already (a second click, a stale page, another admin's revocation
        # committed while this one waited for the key's row): nothing to do, answered as done, registered
        service.record_revoke_refused(session, actor=principal.actor, key=key, code=exc.code, via="page")
    if is_htmx(request):
        dept = session.get(Department, key.department_id)
        return render(request, "admin/_apikey_row.html", {"scope": scope, "key": key, "dept": dept})
    return _see_other(scope.base)


@router.get("/admin/apikeys", response_class=HTMLResponse)
def admin_keys(request: Request, principal: ManageKeys, session: DbSession) -> HTMLResponse:
    return _keys_page(request, session, _admin_scope(principal))


@router.post("/admin/apikeys", response_class=HTMLResponse)
def admin_create_key(request: Request, principal: ManageKeys, session: DbSession, name: Text = "",
                     department: Annotated[str, Form(max_length=32)] = "") -> HTMLResponse:
    return _create_key(request, session, principal, _admin_scope(principal), name=name, department=department)


@router.post("/admin/apikeys/{key_id}/revoke", response_model=None)
def admin_revoke_key(request: Request, key_id: ObjectId, principal: ManageKeys, session: DbSession) -> Response:
    return _revoke_key(request, session, principal, _admin_scope(principal), key_id)


@router.get("/workspace/apikeys", response_class=HTMLResponse)
def own_keys(request: Request, principal: ManageOwnKeys, session: DbSession) -> HTMLResponse:
    return _keys_page(request, session, _own_scope(principal))


@router.post("/workspace/apikeys", response_class=HTMLResponse)
def own_create_key(request: Request, principal: ManageOwnKeys, session: DbSession,
                   name: Text = "") -> HTMLResponse:
    return _create_key(request, session, principal, _own_scope(principal), name=name, department="")


@router.post("/workspace/apikeys/{key_id}/revoke", response_model=None)
def own_revoke_key(request: Request, key_id: ObjectId, principal: ManageOwnKeys, session: DbSession) -> Response:
    return _revoke_key(request, session, principal, _own_scope(principal), key_id)


# a page request whose path, query or form field the schema refuses (FastAPI's 422, answered with the
# error page naming the field) is registered under the page's action, as the API's are
refused_bodies = page_refusals(router, {
    ("POST", "/admin/departments"): "department.create",
    ("POST", "/admin/departments/{department_id}/deactivate"): "department.deactivate",
    ("POST", "/admin/departments/{department_id}/activate"): "department.reactivate",
    ("GET", "/admin/users"): "users.list",
    ("POST", "/admin/users"): "user.create",
    ("POST", "/admin/users/{user_id}/disable"): "user.disable",
    ("POST", "/admin/users/{user_id}/enable"): "user.enable",
    ("POST", "/admin/apikeys"): "apikey.create",
    ("POST", "/admin/apikeys/{key_id}/revoke"): "apikey.revoke",
    ("POST", "/workspace/apikeys"): "apikey.create",
    ("POST", "/workspace/apikeys/{key_id}/revoke"): "apikey.revoke",
})
