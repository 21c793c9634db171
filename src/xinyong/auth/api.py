"""Thin routes over auth.service. Permissions are declared once per route group."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.audit.service import record_not_found, record_refusal
from xinyong.auth import service
from xinyong.auth.deps import BodyRefusals, RefusedBody, check_step_up, require
from xinyong.auth.models import ApiKey, Department, User
from xinyong.auth.permissions import allowed
from xinyong.auth.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    DeactivateIn,
    DepartmentIn,
    DepartmentOut,
    Me,
    UserIn,
    UserOut,
)
from xinyong.auth.service import AuthError, Principal
from xinyong.deps import DbSession, ObjectId, VaultDep
from xinyong.errors import ApiError
from xinyong.privacy.masking import mask_id_numbers_in

router = APIRouter(prefix="/api/v1", tags=["auth"])

Authenticated = Annotated[Principal, Depends(require("catalog.read"))]
ManageDepartments = Annotated[Principal, Depends(require("departments.manage"))]
ManageUsers = Annotated[Principal, Depends(require("users.manage"))]
ManageOwnKeys = Annotated[Principal, Depends(require("apikeys.manage_own"))]


# The service names a few fields as the web forms do; the API reports the request body's names.
_API_FIELD = {"dept": "department"}


def _refuse(exc: AuthError, status: int = 422) -> ApiError:
    field = _API_FIELD.get(exc.field or "", exc.field) or "body"
    return ApiError(status, exc.code, exc.message, [{"field": field, "code": exc.code, "message": exc.message}])


@router.get("/me", response_model=Me, summary="Who am I")
def me(principal: Authenticated, session: DbSession) -> Me:
    code = None
    if principal.department_id is not None:
        code = session.scalar(select(Department.code).where(Department.id == principal.department_id))
    return Me(kind=principal.kind, id=principal.id, role=principal.role, label=principal.label,
              department_id=principal.department_id, department_code=code)


@router.get("/departments", response_model=list[DepartmentOut], summary="List departments")
def list_departments(principal: Authenticated, session: DbSession) -> list[Department]:
    return service.list_departments(session)


@router.post("/departments", response_model=DepartmentOut, status_code=201, summary="Add a department (admin)")
def add_department(body: DepartmentIn, principal: ManageDepartments, session: DbSession) -> Department:
    try:
        return service.add_department(session, code=body.code, name=body.name, name_en=body.name_en,
                                      kind=body.kind, actor=principal.actor)
    except AuthError as exc:
        service.record_failed_input(session, actor=principal.actor, action="department.create", code=exc.code,
                                    field=exc.field, department=body.code, kind=body.kind)
        raise _refuse(exc, 409 if exc.code == "duplicate_department" else 422) from exc


DepartmentCode = Annotated[str, Path(min_length=2, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$",
                                    description="Department code")]
# why a department's state change is refused: which status answers it (else 422: a missing or long reason)
_STATE_STATUS = {"unknown_department": 404, "already_inactive": 409, "already_active": 409,
                 "admin_in_department": 409, "own_department": 409}


@router.post("/departments/{code}/deactivate", response_model=DepartmentOut,
             summary="Deactivate a department (admin): its users are logged out, its keys refused until reactivated")
def deactivate_department(code: DepartmentCode, body: DeactivateIn, principal: ManageDepartments,
                          session: DbSession) -> Department:
    dept = None
    try:
        dept = service.get_department(session, code)
        service.deactivate_department(session, department=dept, reason=body.reason, actor=principal.actor)
    except AuthError as exc:
        _state_refused(session, principal, "department.deactivate", exc, code, dept)
        raise _refuse(exc, _STATE_STATUS.get(exc.code, 422)) from exc
    return dept


@router.post("/departments/{code}/activate", response_model=DepartmentOut,
             summary="Reactivate a department (admin): its users may log in and its unrevoked keys work again")
def activate_department(code: DepartmentCode, principal: ManageDepartments, session: DbSession) -> Department:
    dept = None
    try:
        dept = service.get_department(session, code)
        service.reactivate_department(session, department=dept, actor=principal.actor)
    except AuthError as exc:
        _state_refused(session, principal, "department.reactivate", exc, code, dept)
        raise _refuse(exc, _STATE_STATUS.get(exc.code, 422)) from exc
    return dept


def _state_refused(session: Session, principal: Principal, action: str, exc: AuthError, code: str,
                   dept: Department | None) -> None:
    """A refused state change, registered as the change asked for (``auth.service.record_state_refused``)."""
    service.record_state_refused(session, actor=principal.actor, action=action, code=exc.code, department=code,
                                 department_id=dept.id if dept is not None else None,
                                 field="reason" if exc.field == "reason" else None)


def _readable_keys(principal: Principal):  # type: ignore[no-untyped-def]
    stmt = select(ApiKey).order_by(ApiKey.id)
    if not allowed(principal.role, "apikeys.manage"):
        stmt = stmt.where(ApiKey.department_id == principal.department_id)
    return stmt


@router.get("/apikeys", response_model=list[ApiKeyOut], summary="API keys (admin: all; officer: own department)")
def list_keys(principal: ManageOwnKeys, session: DbSession) -> list[ApiKey]:
    return list(session.scalars(_readable_keys(principal)))


@router.post("/apikeys", response_model=ApiKeyCreated, status_code=201, summary="Create an API key (shown once)")
def create_key(body: ApiKeyIn, request: Request, principal: ManageOwnKeys, session: DbSession) -> ApiKeyCreated:
    if allowed(principal.role, "apikeys.manage") and body.department:
        check_step_up(request, session, principal, "apikeys.manage")  # any department's: as /admin/apikeys
        try:
            dept = service.get_department(session, body.department)
        except AuthError as exc:
            service.record_failed_input(session, actor=principal.actor, action="apikey.create", code=exc.code,
                                        field="department", department=mask_id_numbers_in(body.department)[:32])
            raise _refuse(exc) from exc
    else:
        if body.department and principal.department_id is not None:
            own = session.get(Department, principal.department_id)
            if own is None or own.code != body.department:
                record_refusal(session, actor=principal.actor, action="apikey.create",
                               details={"reason": "other_department", "department": mask_id_numbers_in(body.department)[:32]})
                raise ApiError(403, "forbidden", "只能为本部门创建密钥 / you can create keys only for your department")
        dept = session.get(Department, principal.department_id) if principal.department_id else None
        if dept is None:
            service.record_failed_input(session, actor=principal.actor, action="apikey.create",
                                        code="department_required", field="department")
            raise ApiError(422, "department_required", "请指定部门 / department is required",
                           [{"field": "department", "code": "required", "message": "请指定部门 / department is required"}])
    try:
        secret, key = service.create_api_key(session, department=dept, name=body.name, actor=principal.actor)
    except AuthError as exc:
        service.record_failed_input(session, actor=principal.actor, action="apikey.create", code=exc.code,
                                    field=exc.field, department=dept.code)
        raise _refuse(exc) from exc
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), key=secret)


@router.post("/apikeys/{key_id}/revoke", response_model=ApiKeyOut, summary="Revoke an API key")
def revoke_key(key_id: ObjectId, request: Request, principal: ManageOwnKeys, session: DbSession) -> ApiKey:
    if allowed(principal.role, "apikeys.manage"):  # every department's keys: as /admin/apikeys
        check_step_up(request, session, principal, "apikeys.manage")
    key = session.scalar(_readable_keys(principal).where(ApiKey.id == key_id))
    if key is None:  # another department's key, or none: registered, answered alike
        record_not_found(session, actor=principal.actor, action="apikey.revoke", object_type="apikey",
                         object_id=key_id)
        raise ApiError(404, "not_found", "密钥不存在 / key not found")
    try:
        service.revoke_api_key(session, key=key, actor=principal.actor)
    except AuthError as exc:  # already revoked: registered (denied), as the 404 above is
        service.record_revoke_refused(session, actor=principal.actor, key=key, code=exc.code)
        raise _refuse(exc, 409) from exc
    return key


@router.get("/users", response_model=list[UserOut], summary="Users (admin)")
def list_users(principal: ManageUsers, session: DbSession) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


@router.post("/users", response_model=UserOut, status_code=201, summary="Add a user (admin)")
def add_user(body: UserIn, principal: ManageUsers, session: DbSession, vault: VaultDep) -> User:
    from xinyong.privacy.identity import InvalidIdNumber

    dept_id = None
    try:
        if body.department:
            dept_id = service.get_department(session, body.department).id
        citizen = None
        if body.role == "citizen":
            citizen = service.citizen_binding(session, vault, body.id_number or "")
        return service.add_user(session, username=body.username, password=body.password, role=body.role,
                                department_id=dept_id, citizen=citizen, display_name=body.display_name,
                                actor=principal.actor)
    except InvalidIdNumber as exc:
        service.record_failed_input(session, actor=principal.actor, action="user.create", code=exc.code,
                                    field="id_number", username=service.typed_user_name(body.username), role=body.role)
        raise ApiError(422, exc.code, exc.message,
                       [{"field": "id_number", "code": exc.code, "message": exc.message}]) from exc
    except AuthError as exc:
        service.record_failed_input(session, actor=principal.actor, action="user.create", code=exc.code,
                                    field=exc.field, username=service.typed_user_name(body.username), role=body.role)
        raise _refuse(exc, 409 if exc.code.startswith("duplicate") else 422) from exc


_DEPARTMENT_CODE = re.compile(r"[A-Za-z0-9_\-]{2,32}")


def _body_refused(action: str) -> Callable[[Session, Principal, RefusedBody], None]:
    """A department, user or key change whose body the schema refuses (not JSON, unreadable, a field
    missing, unknown or of the wrong type) registered as the same change refused by the service is
    (``action``, ``failed``, ``auth.service.record_failed_input``): the code and the field and how
    many errors, and the department of the path (a deactivation's), never a value typed — a
    password, an ID number, a name."""

    def register(session: Session, principal: Principal, refused: RefusedBody) -> None:
        details: dict[str, Any] = refused.sized({"errors": refused.errors})
        code = refused.path_params.get("code")
        if isinstance(code, str) and _DEPARTMENT_CODE.fullmatch(code):
            details["department"] = mask_id_numbers_in(code)
        service.record_failed_input(session, actor=principal.actor, action=action, code=refused.code,
                                    field=refused.field, **details)

    return register


# a body the schema refuses (not JSON, unreadable, the wrong shape) is registered as the route's refusal
refused_bodies: BodyRefusals = {
    ("POST", "/api/v1/departments"): (("departments.manage",), _body_refused("department.create")),
    ("POST", "/api/v1/departments/{code}/deactivate"): (("departments.manage",),
                                                        _body_refused("department.deactivate")),
    ("POST", "/api/v1/apikeys"): (("apikeys.manage_own",), _body_refused("apikey.create")),
    ("POST", "/api/v1/users"): (("users.manage",), _body_refused("user.create")),
}
