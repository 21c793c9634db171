"""Subjects API. ID numbers travel only in request bodies, never in paths or query strings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from xinyong.audit.service import record, record_refusal
from xinyong.auth.deps import BodyRefusals, RefusedBody, audit_refusal, current_principal, refused_query
from xinyong.auth.permissions import allowed
from xinyong.auth.service import Principal
from xinyong.deps import DbSession, ObjectId, VaultDep
from xinyong.errors import ApiError
from xinyong.privacy import identity
from xinyong.subjects import service
from xinyong.subjects.groups import KEY_GROUPS
from xinyong.subjects.models import Subject
from xinyong.subjects.schemas import (
    LookupIn,
    LookupOut,
    MembershipIn,
    MembershipOut,
    StudentIn,
    StudentOut,
    SubjectOut,
)

router = APIRouter(prefix="/api/v1/subjects", tags=["subjects"])


def _forbidden(request: Request, session: Session, principal: Principal, permission: str) -> ApiError:
    """Register the refusal (committed, like ``require``'s) and build the 403."""
    audit_refusal(session, actor=principal.actor, action="auth.forbidden",
                  details={"path": request.url.path, "permission": permission})
    return ApiError(403, "forbidden", "无权执行此操作 / you are not allowed to do this")


async def _subject_reader(request: Request, session: DbSession,
                          principal: Principal | None = Depends(current_principal)) -> Principal:
    """Staff with ``subjects.read``, or a citizen (for themself only, checked per object)."""
    if principal is None:
        raise ApiError(401, "unauthenticated", "请先登录或提供 API 密钥 / authentication required")
    if not (allowed(principal.role, "subjects.read") or allowed(principal.role, "self.read")):
        raise _forbidden(request, session, principal, "subjects.read")
    return principal


SubjectReader = Annotated[Principal, Depends(_subject_reader)]


async def _subject_writer(request: Request, session: DbSession,
                          principal: Principal | None = Depends(current_principal)) -> Principal:
    if principal is None:
        raise ApiError(401, "unauthenticated", "请先登录或提供 API 密钥 / authentication required")
    if not allowed(principal.role, "subjects.write"):
        raise _forbidden(request, session, principal, "subjects.write")
    return principal


SubjectWriter = Annotated[Principal, Depends(_subject_writer)]


def _readable(session: Session, principal: Principal, subject_id: ObjectId, action: str = "subject.read") -> Subject:
    """The subject if the caller may see it; otherwise a 404 (the same whether it exists or not),
    registered as a denied ``action``."""
    subject = session.get(Subject, subject_id)
    is_self = principal.role == "citizen" and principal.subject_id == subject_id
    if subject is None or (not allowed(principal.role, "subjects.read") and not is_self):
        audit_refusal(session, actor=principal.actor, action=action, object_type="subject", object_id=subject_id,
                      details={"reason": "not_found" if subject is None else "not_own"})
        raise ApiError(404, "not_found", "信用主体不存在 / subject not found")
    return subject


@router.post("/lookup", response_model=LookupOut, summary="Find a subject's id by ID number (in the body)")
def lookup(body: LookupIn, principal: SubjectReader, session: DbSession, vault: VaultDep) -> LookupOut:
    try:
        identity.check(body.id_number)
    except identity.InvalidIdNumber as exc:
        record(session, actor=principal.actor, action="subject.lookup", outcome="failed",
               details={"reason": exc.code})
        session.commit()
        raise ApiError(422, exc.code, exc.message,
                       [{"field": "id_number", "code": exc.code, "message": exc.message}]) from exc
    subject = service.find_by_id_number(session, vault=vault, id_number=body.id_number)
    is_self = subject is not None and principal.role == "citizen" and principal.subject_id == subject.id
    readable = allowed(principal.role, "subjects.read")
    if subject is None or (not readable and not is_self):
        # staff: a number no one pushed yet (or a typo), failed; a citizen asking about a number not
        # their own: the same 404, registered as a refusal (denied)
        record_refusal(session, actor=principal.actor, action="subject.lookup",
                       outcome="failed" if readable else "denied",
                       details={"reason": "not_own" if subject is not None else "not_found"})
        raise ApiError(404, "not_found", "平台中没有该身份证号码的信用主体 / no credit subject with this ID number")
    record(session, actor=principal.actor, action="subject.lookup", object_type="subject", object_id=subject.id)
    return LookupOut(subject_id=subject.id)


@router.get("/{subject_id}", response_model=SubjectOut, summary="A subject, masked")
def get_subject(subject_id: ObjectId, principal: SubjectReader, session: DbSession, vault: VaultDep) -> SubjectOut:
    subject = _readable(session, principal, subject_id)
    v = service.view(subject, vault=vault)
    groups = [MembershipOut.model_validate(m).model_copy(update={"group_name": KEY_GROUPS[m.group_code][0]})
              for m in service.memberships(session, subject_id=subject.id)]
    students = [StudentOut.model_validate(s) for s in service.student_statuses(session, subject_id=subject.id)]
    record(session, actor=principal.actor, action="subject.read", object_type="subject", object_id=subject.id)
    # The mask (120101********123X) hides exactly the birth date's eight digits: with the date beside it
    # the response held the whole number, for every subject a department's key could count its way to.
    # Only the citizen, reading themself, gets it.
    own = principal.role == "citizen" and principal.subject_id == subject.id
    return SubjectOut(id=v.id, id_number_masked=v.id_number_masked, name_masked=v.name_masked,
                      birth_date=v.birth_date if own else None, gender=v.gender, region_code=v.region_code,
                      groups=groups, students=students)


def _refuse(session: Session, principal: Principal, action: str, subject_id: int,
            exc: service.SubjectError) -> ApiError:
    """A membership or an enrolment the rules refuse (an unknown group, dates in the wrong order, a
    minor): registered as ``action``, ``failed``, with its code and field — the request's work rolled
    back, the entry committed — and answered 422."""
    field = exc.field or "body"
    record_refusal(session, actor=principal.actor, action=action, object_type="subject", object_id=subject_id,
                   details={"code": exc.code, "field": field}, outcome="failed")
    return ApiError(422, exc.code, exc.message, [{"field": field, "code": exc.code, "message": exc.message}])


@router.post("/{subject_id}/groups", response_model=MembershipOut, status_code=201,
             summary="Record a key-group membership (重点人群)")
def add_group(subject_id: ObjectId, body: MembershipIn, principal: SubjectWriter, session: DbSession) -> MembershipOut:
    subject = _readable(session, principal, subject_id, "subject.group_add")
    try:
        m = service.add_group_membership(session, subject=subject, group_code=body.group_code,
                                         qualification_no=body.qualification_no, employer=body.employer,
                                         valid_from=body.valid_from, valid_to=body.valid_to,
                                         department_id=principal.department_id, actor=principal.actor)
    except service.SubjectError as exc:
        raise _refuse(session, principal, "subject.group_add", subject.id, exc) from exc
    return MembershipOut.model_validate(m).model_copy(update={"group_name": KEY_GROUPS[m.group_code][0]})


@router.post("/{subject_id}/students", response_model=StudentOut, status_code=201,
             summary="Record an adult student's enrolment (成年学生诚信档案)")
def add_student(subject_id: ObjectId, body: StudentIn, principal: SubjectWriter, session: DbSession,
                vault: VaultDep) -> StudentOut:
    subject = _readable(session, principal, subject_id, "subject.student_add")
    try:
        s = service.add_student_status(session, subject=subject, school=body.school, enrolled_on=body.enrolled_on,
                                       student_no=body.student_no, level=body.level, vault=vault,
                                       department_id=principal.department_id, actor=principal.actor)
    except service.SubjectError as exc:
        raise _refuse(session, principal, "subject.student_add", subject.id, exc) from exc
    return StudentOut.model_validate(s)


def _body_refused(action: str) -> Any:
    """A lookup, membership or enrolment whose body the schema refuses, registered as the route's
    other refusals are (``action``, ``failed``, the code and field, never what was typed: a lookup's
    body holds an ID number)."""

    def register(session: Session, principal: Principal, refused: RefusedBody) -> None:
        subject_id = refused.path_id("subject_id")
        record_refusal(session, actor=principal.actor, action=action,
                       object_type="subject" if subject_id is not None else None, object_id=subject_id,
                       details=refused.sized({"code": refused.code, "field": refused.field}), outcome="failed")

    return register


# a body the schema refuses (not JSON, unreadable, the wrong shape) is registered as the route's refusal
refused_bodies: BodyRefusals = {
    ("POST", "/api/v1/subjects/lookup"): (("subjects.read", "self.read"), _body_refused("subject.lookup")),
    ("POST", "/api/v1/subjects/{subject_id}/groups"): (("subjects.write",), _body_refused("subject.group_add")),
    ("POST", "/api/v1/subjects/{subject_id}/students"): (("subjects.write",), _body_refused("subject.student_add")),
    # and so is a read whose path the schema refuses (``/subjects/abc``)
    ("GET", "/api/v1/subjects/{subject_id}"): (("subjects.read", "self.read"), refused_query("subject.read")),
}
