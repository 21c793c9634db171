"""Departments, users, passwords, API keys, web sessions and login throttling.

Plain functions on a ``Session`` (keyword-only); no commits; every change audited.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyong.audit.service import Actor, record, record_refusal
from xinyong.auth.models import ROLES, ApiKey, Department, User, WebSession
from xinyong.db import lock_rows, utc_of, utcnow
from xinyong.domain_errors import BilingualError
from xinyong.privacy import identity
from xinyong.privacy.masking import contains_id_number, mask_id_number, mask_id_numbers_in
from xinyong.subjects.models import Subject

_hasher = PasswordHasher()  # argon2id with the library's current defaults
_DUMMY_HASH = _hasher.hash("xinyong-timing-equaliser")


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Replace the argon2 parameters (tests use cheap ones; hashes carry their own parameters)."""
    global _hasher, _DUMMY_HASH
    _hasher = hasher
    _DUMMY_HASH = hasher.hash("xinyong-timing-equaliser")
_CODE = re.compile(r"^[A-Za-z0-9_\-]{2,32}$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.\-@]{3,64}$")
API_KEY_PREFIX = "xy"


class AuthError(BilingualError):
    """A refusal with a stable code and a bilingual message."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a logged-in user or a department system's API key."""

    kind: str  # user | apikey
    id: int
    role: str
    label: str
    department_id: int | None = None
    subject_id: int | None = None
    session_id: int | None = None
    csrf_token: str | None = None
    authenticated_at: datetime | None = None  # a session's last proof of the password (login, step-up)
    seen_at: datetime | None = None  # a session's last use as last written (auth.deps.current_principal)

    @property
    def actor(self) -> Actor:
        return Actor(type=self.kind, id=str(self.id), label=self.label, department_id=self.department_id)


# ---- passwords -------------------------------------------------------------------------

def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str) -> None:
    """At least 10 characters, and no ID number (NIST SP 800-63B 5.1.1.2, context-specific words): every
    department that holds a citizen's records holds their number, the password a citizen is most
    tempted to choose. (Not refused: a password holding the user name. It refused long passwords of
    their own, and provisioning scripts' passwords that the rules of issue 2 took.)"""
    if len(password) < 10:
        raise AuthError("weak_password", "密码至少10个字符", "password must have at least 10 characters",
                        "password")
    if contains_id_number(password):
        raise AuthError("weak_password", "密码不能包含身份证号码", "the password must not hold an ID number", "password")


def random_password(nbytes: int = 18) -> str:
    """A fresh random password that :func:`check_password_strength` takes (``nbytes`` at least 8: 11
    characters or more)."""
    while True:
        password = secrets.token_urlsafe(max(nbytes, 8))
        try:
            check_password_strength(password)
        except AuthError:
            continue
        return password


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def record_failed_input(session: Session, *, actor: Actor, action: str, code: str, field: str | None,
                        **details: Any) -> None:
    """Register a change refused for its input (a duplicate department code, an invalid ID number…):
    nothing of it is kept, one ``failed`` entry is, committed (``audit.service.record_refusal``).
    ``details`` are what was asked for, never a password or an ID number."""
    record_refusal(session, actor=actor, action=action, outcome="failed",
                   details={"reason": code, "field": field, **details})


# ---- departments -----------------------------------------------------------------------

NAME_MAX = 128  # departments.name, name_en
# refused in names, never shown back: C0 and C1 controls, Unicode's line and paragraph separators (a
# line break as surely as "\n", in a page, a report or an export line), lone surrogates
NAME_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def add_department(session: Session, *, code: str, name: str, name_en: str | None = None,
                   kind: str = "department", actor: Actor) -> Department:
    code = code.strip()
    if not _CODE.match(code):
        raise AuthError("invalid_code", "部门代码只能包含字母、数字、-、_，长度2至32",
                        "department code must be 2-32 letters, digits, '-' or '_'", "code")
    if contains_id_number(code):  # in URLs (/api/v1/departments/{code}/…, ?department=), on every page
        raise AuthError("invalid_code", "部门代码不能是身份证号码（代码出现在网址和每个页面上）",
                        "department code must not be an ID number (it appears in URLs and on every page)", "code")
    if not name.strip():
        raise AuthError("invalid_name", "部门名称不能为空", "department name is required", "name")
    for fld, value, zh, en in (("name", name, "部门名称", "department name"),
                               ("name_en", name_en or "", "部门英文名称", "department's English name")):
        # shown on every page, report and export that names the department, and in the audit log
        if NAME_CONTROL_CHARS.search(value):
            raise AuthError("invalid_name", f"{zh}包含不允许的字符（控制字符、换行或无效的 Unicode）",
                            f"{en} contains characters not allowed (control characters, line breaks "
                            "or invalid Unicode)", fld)
        if len(value.strip()) > NAME_MAX:
            raise AuthError("invalid_name", f"{zh}不能超过{NAME_MAX}个字符",
                            f"{en} must not exceed {NAME_MAX} characters", fld)
        if contains_id_number(value):
            raise AuthError("invalid_name", f"{zh}不能包含身份证号码", f"{en} must not contain an ID number", fld)
    if kind not in ("department", "institution"):
        raise AuthError("invalid_kind", "类型应为 department 或 institution",
                        "kind must be department or institution", "kind")
    if session.scalar(select(Department.id).where(Department.code == code)) is not None:
        raise AuthError("duplicate_department", f"部门代码 {code} 已存在", f"department code {code} already exists",
                        "code")
    dept = Department(code=code, name=name.strip(), name_en=(name_en or "").strip() or None, kind=kind)
    session.add(dept)
    session.flush()
    record(session, actor=actor, action="department.create", object_type="department", object_id=dept.id,
           details={"code": code, "name": dept.name, "kind": kind})
    return dept


def get_department(session: Session, code: str) -> Department:
    # no code holds a NUL (and PostgreSQL cannot compare one): an unknown department
    dept = None if "\x00" in code else session.scalar(select(Department).where(Department.code == code))
    if dept is None:
        raise AuthError("unknown_department", f"部门 {code} 不存在", f"department {code} does not exist", "dept")
    return dept


def list_departments(session: Session, *, kind: str | None = None) -> list[Department]:
    """Departments and institutions by code; ``kind`` ("department" | "institution") filters."""
    stmt = select(Department).order_by(Department.code)
    if kind is not None:
        stmt = stmt.where(Department.kind == kind)
    return list(session.scalars(stmt))


REASON_MAX = 500
_REASON_CTRL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # tabs and line breaks are text


def _deactivation_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise AuthError("reason_required", "请填写停用原因", "a reason is required", "reason")
    if len(reason) > REASON_MAX:
        raise AuthError("reason_too_long", f"停用原因不能超过{REASON_MAX}字",
                        f"the reason must not exceed {REASON_MAX} characters", "reason")
    if _REASON_CTRL.search(reason):
        raise AuthError("invalid_characters", "停用原因包含不允许的控制字符", "the reason contains control characters",
                        "reason")
    return mask_id_numbers_in(reason)  # kept in the audit log and shown there: never an ID number in the clear


def _lock_department(session: Session, department: Department) -> None:
    """Take the department's turn (PostgreSQL: its row locked ``FOR NO KEY UPDATE`` until commit, the
    lock ``records.service.lock_department`` takes for a push or a revocation) and read it again as
    the last committed change left it: two administrators at once, or a push being written, take turns."""
    session.flush()
    lock_rows(session, "departments", [department.id])
    session.refresh(department)


def deactivate_department(session: Session, *, department: Department, reason: str, actor: Actor) -> dict[str, int]:
    """Stop a department (or an institution) acting (机构撤并): its users are logged out at once and
    cannot log in (``authenticate``, ``principal_for_session``), its API keys are refused while it is
    inactive (they are *not* revoked: reactivating the department makes them work again), and its
    records can no longer be pushed or revoked. Its records stay, as they are.

    Refused (``AuthError``) when the reason is missing or too long, when the department is already
    inactive (``already_inactive``: a refusal, not a no-op, so that a second reason is not lost), and
    when it would lock administrators out: an active administrator belongs to it
    (``admin_in_department``) or the acting user does (``own_department``).

    Returns the counts that the audit entry ``department.deactivate`` also holds."""
    reason = _deactivation_reason(reason)
    _lock_department(session, department)
    if not department.active:
        raise AuthError("already_inactive", f"部门 {department.code} 已是停用状态",
                        f"department {department.code} is already inactive")
    if actor.department_id is not None and actor.department_id == department.id:
        raise AuthError("own_department", "不能停用自己所属的部门", "you cannot deactivate your own department")
    admins = list(session.scalars(select(User.username).where(
        User.department_id == department.id, User.role == "admin", User.active.is_(True)).order_by(User.username)))
    if admins:
        raise AuthError("admin_in_department",
                        f"该部门有启用的管理员账户（{', '.join(admins)}），停用部门会使其无法登录：请先停用这些账户或将其移出部门",
                        f"active administrators belong to this department ({', '.join(admins)}) and would be locked "
                        "out: disable them or move them out of the department first")
    user_ids = list(session.scalars(select(User.id).where(User.department_id == department.id)))
    # the sessions it signs out: live ones (an expired session left unended is ended too, not counted)
    sessions_ended = session.scalar(select(func.count(WebSession.id)).where(
        WebSession.user_id.in_(user_ids), WebSession.ended_at.is_(None), WebSession.expires_at > utcnow())) or 0
    for uid in user_ids:
        end_user_sessions(session, user_id=uid)
    keys = session.scalar(select(func.count(ApiKey.id)).where(ApiKey.department_id == department.id,
                                                               ApiKey.revoked_at.is_(None))) or 0
    department.active = False
    counts = {"users": len(user_ids), "sessions_ended": sessions_ended, "keys_suspended": keys}
    record(session, actor=actor, action="department.deactivate", object_type="department", object_id=department.id,
           details={"code": department.code, "kind": department.kind, "reason": reason, **counts})
    session.flush()
    return counts


def reactivate_department(session: Session, *, department: Department, actor: Actor) -> dict[str, int]:
    """Let a deactivated department act again: its users may log in (their own accounts as they were:
    a disabled user stays disabled) and its unrevoked API keys work again. Refused when it is active
    (``already_active``). Returns the counts that the audit entry ``department.reactivate`` holds."""
    _lock_department(session, department)
    if department.active:
        raise AuthError("already_active", f"部门 {department.code} 已是启用状态",
                        f"department {department.code} is already active")
    users = session.scalar(select(func.count(User.id)).where(User.department_id == department.id,
                                                              User.active.is_(True))) or 0
    keys = session.scalar(select(func.count(ApiKey.id)).where(ApiKey.department_id == department.id,
                                                               ApiKey.revoked_at.is_(None))) or 0
    department.active = True
    counts = {"users": users, "keys_restored": keys}
    record(session, actor=actor, action="department.reactivate", object_type="department", object_id=department.id,
           details={"code": department.code, "kind": department.kind, **counts})
    session.flush()
    return counts


# ---- users -----------------------------------------------------------------------------

@dataclass(frozen=True)
class CitizenBinding:
    """What a citizen account is bound to: its ID number's blind index and the number masked, and the
    credit subject of that number if the platform holds one (else linked once it does)."""

    id_bidx: str
    id_masked: str
    subject_id: int | None


def citizen_binding(session: Session, vault: Any, id_number: str) -> CitizenBinding:
    """Bind to ``id_number`` (checked: :class:`identity.InvalidIdNumber` if invalid); the number itself is
    used here and dropped."""
    if not id_number.strip():
        raise AuthError("id_number_required", "公民账户必须绑定身份证号码",
                        "a citizen account must be bound to an ID number", "id_number")
    facts = identity.check(id_number)
    bidx = vault.lookup_key(facts.number)
    return CitizenBinding(id_bidx=bidx, id_masked=mask_id_number(facts.number), subject_id=_subject_of(session, bidx))


def _subject_of(session: Session, id_bidx: str) -> int | None:
    return session.scalar(select(Subject.id).where(Subject.id_bidx == id_bidx))


def add_user(session: Session, *, username: str, password: str, role: str, actor: Actor,
             department_id: int | None = None, subject_id: int | None = None,
             display_name: str | None = None, citizen: CitizenBinding | None = None) -> User:
    """``citizen``: a citizen account's binding (:func:`citizen_binding`); ``subject_id`` binds to a
    subject already in hand (the demo's people) instead."""
    username = username.strip()
    if not _USERNAME.match(username):
        raise AuthError("invalid_username", "用户名为3至64个字母、数字或 . _ - @",
                        "username must be 3-64 letters, digits or . _ - @", "username")
    # the user's actor label: shown on pages, written into revisions, list entries and the audit log
    if contains_id_number(username):
        raise AuthError("invalid_username", "用户名不能包含身份证号码（用户名显示在页面上并写入修订记录和审计日志）",
                        "username must not contain an ID number (it is shown on pages and written into "
                        "revisions and the audit log)", "username")
    if display_name:  # shown on the users page, checked as a department's name is
        if NAME_CONTROL_CHARS.search(display_name):
            raise AuthError("invalid_name", "显示名称包含不允许的字符（控制字符、换行或无效的 Unicode）",
                            "display name contains characters not allowed (control characters, line breaks "
                            "or invalid Unicode)", "display_name")
        if len(display_name.strip()) > NAME_MAX:
            raise AuthError("invalid_name", f"显示名称不能超过{NAME_MAX}个字符",
                            f"display name must not exceed {NAME_MAX} characters", "display_name")
        if contains_id_number(display_name):
            raise AuthError("invalid_name", "显示名称不能包含身份证号码", "display name must not contain an ID number",
                            "display_name")
    if role not in ROLES:
        raise AuthError("invalid_role", f"角色必须是 {', '.join(ROLES)} 之一",
                        f"role must be one of {', '.join(ROLES)}", "role")
    if role == "officer" and department_id is None:
        raise AuthError("department_required", "部门工作人员必须指定部门", "an officer needs a department", "dept")
    if role == "institution" and department_id is None:
        raise AuthError("department_required", "机构用户必须指定所属机构", "an institution user needs its institution",
                        "dept")
    if role == "citizen" and subject_id is None and citizen is None:
        raise AuthError("id_number_required", "公民账户必须绑定身份证号码",
                        "a citizen account must be bound to an ID number", "id_number")
    if role != "citizen":
        subject_id, citizen = None, None
    # an auditor reads the whole audit log and a citizen only their own record: neither acts for a
    # department, so a department given them would mean nothing (and show as if it did) — refused
    if role in ("auditor", "citizen") and department_id is not None:
        zh, en = {"auditor": ("审计员", "an auditor"), "citizen": ("公民", "a citizen")}[role]
        raise AuthError("department_not_allowed", f"{zh}账户不属于任何部门，不能指定部门",
                        f"{en} account belongs to no department: give none", "dept")
    if department_id is not None:
        dept = session.get(Department, department_id)
        if dept is None:
            raise AuthError("unknown_department", "部门不存在", "no such department", "dept")
        if not dept.active:  # its users could not sign in (an administrator there would be locked out)
            raise AuthError("department_inactive", f"部门 {dept.code} 已停用，不能在其下新增账户",
                            f"department {dept.code} is inactive: no account can be added to it", "dept")
        # an officer acts as a department (pushes records, runs checks: the workspace); an institution's
        # user queries only with a person's authorization: neither may sit in the other kind
        if role == "officer" and dept.kind != "department":
            raise AuthError("department_kind", f"部门工作人员须属于部门，{dept.code} 是机构",
                            f"an officer must belong to a department; {dept.code} is an institution", "dept")
        if role == "institution" and dept.kind != "institution":
            raise AuthError("department_kind", f"机构用户须属于机构，{dept.code} 是部门",
                            f"an institution user must belong to an institution; {dept.code} is a department",
                            "dept")
    check_password_strength(password)
    id_bidx = id_masked = None
    if citizen is not None:
        subject_id, id_bidx, id_masked = citizen.subject_id, citizen.id_bidx, citizen.id_masked
    elif subject_id is not None:
        id_bidx = session.scalar(select(Subject.id_bidx).where(Subject.id == subject_id))
    _refuse_taken(session, username, subject_id, id_bidx)
    user = User(username=username, password_hash=hash_password(password), role=role,
                department_id=department_id, subject_id=subject_id, display_name=display_name,
                id_bidx=id_bidx, id_masked=id_masked)
    try:
        with session.begin_nested():  # a savepoint: the name or the number taken meanwhile elsewhere
            session.add(user)
            session.flush()
    except IntegrityError:
        # PostgreSQL: another request added that user name or bound that number first and has committed
        # (the insert waited for it on the unique index): refused as if it had been found above
        _refuse_taken(session, username, subject_id, id_bidx)
        raise
    record(session, actor=actor, action="user.create", object_type="user", object_id=user.id,
           details={"username": username, "role": role, "department_id": department_id})
    return user


def _refuse_taken(session: Session, username: str, subject_id: int | None, id_bidx: str | None) -> None:
    """Refuse a user name another account has, or an ID number (a person) another account is bound to."""
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AuthError("duplicate_username", f"用户名 {username} 已存在", f"username {username} already exists",
                        "username")
    if (subject_id is not None and session.scalar(select(User.id).where(User.subject_id == subject_id))) or (
            id_bidx is not None and session.scalar(select(User.id).where(User.id_bidx == id_bidx))):
        raise AuthError("duplicate_citizen", "该身份证号码已绑定其他账户",
                        "this ID number is already bound to another account", "id_number")


def set_user_active(session: Session, *, user: User, active: bool, actor: Actor) -> None:
    user.active = active
    if not active:
        end_user_sessions(session, user_id=user.id)
    record(session, actor=actor, action="user.enable" if active else "user.disable", object_type="user",
           object_id=user.id, details={"username": user.username})


def set_password(session: Session, *, user: User, password: str, actor: Actor) -> None:
    """A new password set for the account (by an operator): its sessions end, and a lock from failed
    logins is lifted (it guarded the old password)."""
    check_password_strength(password)
    user.password_hash = hash_password(password)
    unlocked = user.locked_until is not None and user.locked_until > utcnow()
    user.failed_logins = 0
    user.locked_until = None
    end_user_sessions(session, user_id=user.id)
    record(session, actor=actor, action="user.password", object_type="user", object_id=user.id,
           details={"username": user.username, "unlocked": unlocked})


# ---- login -----------------------------------------------------------------------------

# 17 digits or more in a row (ASCII or full-width), an ID number's shape once ``mask_id_numbers_in``
# has masked the valid ones and the 18-character runs: a number mistyped by a digit or two says as much.
_LONG_DIGITS = re.compile("[0-9\uff10-\uff19]{17,}[0-9Xx\uff10-\uff19\uff38\uff58]?")


def typed_user_name(typed: str) -> str | None:
    """A user name as someone typed it (a refused sign-in, a refused account command), as the audit
    log keeps it (``actor_label``, 64 characters): any ID number in it masked
    (``privacy.masking.mask_id_numbers_in``), any other run of 17 digits or more masked whole
    (``mask_id_number``) — and only then cut to 64 characters. Cut first, a number typed after 50
    characters kept its first 14 digits, its region and birth date, where the mask hides them, and a
    mistyped number (17 or 19 digits) was kept as typed. None for a blank name."""
    text = _LONG_DIGITS.sub(lambda m: mask_id_number(m.group(0)), mask_id_numbers_in(typed.strip()))
    return text[:64] or None


def authenticate(session: Session, *, username: str, password: str, lockout_after: int = 5,
                 lockout_minutes: int = 15, now: datetime | None = None) -> User:
    """Check a username and password. Failures are counted, throttled and audited.

    The caller must commit even when this raises, so the failure is registered.
    """
    now = now or utcnow()
    # no user name holds a NUL (and PostgreSQL cannot compare one): no such user, the same answer
    user = None if "\x00" in username else session.scalar(select(User).where(User.username == username.strip()))
    anonymous = Actor(type="anonymous", label=typed_user_name(username))
    if user is None:
        verify_password(_DUMMY_HASH, password)  # same work whether or not the user exists
        record(session, actor=anonymous, action="auth.login", outcome="denied", details={"reason": "unknown_user"})
        raise AuthError("bad_credentials", "用户名或密码错误", "wrong username or password")
    who = Actor(type="user", id=str(user.id), label=user.username, department_id=user.department_id)
    if user.locked_until is not None and user.locked_until > now:
        verify_password(_DUMMY_HASH, password)  # same work as any other attempt: don't reveal the lock by timing
        record(session, actor=who, action="auth.login", object_type="user", object_id=user.id, outcome="denied",
               details={"reason": "locked"})
        raise AuthError("locked", "登录失败次数过多，请稍后再试", "too many failed logins; try again later")
    if not verify_password(user.password_hash, password):
        # Counted in the database, not from the row read before the password was checked: wrong
        # passwords sent at once (a burst from one address, or from many) each count. On PostgreSQL
        # each had written the count it read plus one — all but one lost — and the account never locked.
        failed = session.execute(update(User).where(User.id == user.id)
                                 .values(failed_logins=User.failed_logins + 1).returning(User.failed_logins)
                                 .execution_options(synchronize_session=False)).scalar_one()
        reason = "bad_password"
        if failed >= lockout_after:
            session.execute(update(User).where(User.id == user.id)
                            .values(locked_until=now + timedelta(minutes=lockout_minutes), failed_logins=0)
                            .execution_options(synchronize_session=False))
            reason = "bad_password_locked"
        session.expire(user, ["failed_logins", "locked_until"])
        record(session, actor=who, action="auth.login", object_type="user", object_id=user.id, outcome="denied",
               details={"reason": reason})
        raise AuthError("bad_credentials", "用户名或密码错误", "wrong username or password")
    if not user.active:
        record(session, actor=who, action="auth.login", object_type="user", object_id=user.id, outcome="denied",
               details={"reason": "disabled"})
        raise AuthError("disabled", "账户已停用", "account is disabled")
    if not _department_active(session, user.department_id):
        record(session, actor=who, action="auth.login", object_type="user", object_id=user.id, outcome="denied",
               details={"reason": "department_inactive"})
        raise AuthError("department_inactive", "部门已停用", "department is inactive")
    if _wrong_kind(user.role, session.scalar(select(Department.kind).where(Department.id == user.department_id))
                   if user.department_id is not None else None):
        record(session, actor=who, action="auth.login", object_type="user", object_id=user.id, outcome="denied",
               details={"reason": "department_kind"})
        raise AuthError("department_kind", "账户角色与所属部门类型不符，请联系管理员",
                        "the account's role does not fit its department's kind: ask an administrator")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if user.subject_id is None and user.id_bidx is not None:  # the person registered since: linked now
        user.subject_id = _subject_of(session, user.id_bidx)
        if user.subject_id is not None:  # a change of the account: registered as every other
            record(session, actor=who, action="user.link_subject", object_type="user", object_id=user.id,
                   details={"subject_id": user.subject_id, "via": "sign-in"})
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def _wrong_kind(role: str, kind: str | None) -> bool:
    """An officer outside a department or an institution's user outside an institution: ``add_user``
    refuses both; an account made so before it did must not act as the other kind (an officer of a
    bank had the department workspace: pushes, checks)."""
    return (role == "officer" and kind is not None and kind != "department") or (
        role == "institution" and kind is not None and kind != "institution")


def _department_active(session: Session, department_id: int | None) -> bool:
    """A user without a department (administrators, auditors, citizens) has none to be stopped; a
    department's or an institution's user acts only while it is active (``deactivate_department``)."""
    if department_id is None:
        return True
    return bool(session.scalar(select(Department.active).where(Department.id == department_id)))


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, *, user: User, hours: int, old_token: str | None = None) -> tuple[str, WebSession]:
    """Rotate: end any session the browser had, issue a fresh token and CSRF token."""
    if old_token:
        end_session(session, token=old_token)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    ws = WebSession(token_hash=_sha(token), user_id=user.id, csrf_token=secrets.token_urlsafe(24),
                    expires_at=now + timedelta(hours=hours), authenticated_at=now, last_seen_at=now)
    session.add(ws)
    session.flush()
    record(session, actor=Actor(type="user", id=str(user.id), label=user.username, department_id=user.department_id),
           action="auth.login", object_type="user", object_id=user.id, details={"session": ws.id})
    return token, ws


def end_session(session: Session, *, token: str) -> WebSession | None:
    ws = session.scalar(select(WebSession).where(WebSession.token_hash == _sha(token)))
    if ws is not None and ws.ended_at is None:
        ws.ended_at = utcnow()
    return ws


def end_user_sessions(session: Session, *, user_id: int) -> int:
    live = session.scalars(select(WebSession).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None)))
    n = 0
    for ws in live:
        ws.ended_at = utcnow()
        n += 1
    return n


SEEN_EVERY = timedelta(minutes=1)  # a session's last use is written at most this often


def principal_for_session(session: Session, *, token: str, now: datetime | None = None,
                          idle_minutes: int | None = None) -> Principal | None:
    """The session's user, or None: no such session, ended, expired, idle longer than
    ``idle_minutes`` (since its last use, else its last proof of the password, else its start), or
    its user or department no longer allowed in."""
    now = now or utcnow()
    row = session.execute(
        select(WebSession, User, Department.active, Department.kind).join(User, User.id == WebSession.user_id)
        .outerjoin(Department, Department.id == User.department_id)
        .where(WebSession.token_hash == _sha(token))
    ).first()
    if row is None:
        return None
    ws, user, dept_active, dept_kind = row
    if ws.ended_at is not None or ws.expires_at <= now or not user.active:
        return None
    seen = ws.last_seen_at or ws.authenticated_at or ws.created_at
    if idle_minutes is not None and seen is not None and now - seen > timedelta(minutes=idle_minutes):
        return None  # left open, unused: as an expired session (the browser signs in again)
    if user.department_id is not None and not dept_active:  # its department was deactivated meanwhile
        return None
    if _wrong_kind(user.role, dept_kind):
        return None
    subject_id = user.subject_id
    if subject_id is None and user.id_bidx is not None:  # registered since the sign-in (linked at the next)
        subject_id = _subject_of(session, user.id_bidx)
    return Principal(kind="user", id=user.id, role=user.role, label=user.username, department_id=user.department_id,
                     subject_id=subject_id, session_id=ws.id, csrf_token=ws.csrf_token,
                     authenticated_at=ws.authenticated_at or ws.created_at, seen_at=seen)


def touch_session(session: Session, principal: Principal, now: datetime | None = None) -> None:
    """Write that the principal's session is in use now, at most once every ``SEEN_EVERY``, in the
    request's (write) transaction, just before its commit (``deps._session``: the row is not held
    while the request waits for others)."""
    now = now or utcnow()
    if principal.session_id is None or (principal.seen_at is not None and now - principal.seen_at < SEEN_EVERY):
        return
    # never wait for a row another request of the same session holds (PostgreSQL: SKIP LOCKED; that
    # request writes the use itself, or ends the session). SQLite's write transaction is taken before
    # the request runs.
    free = (select(WebSession.id).where(WebSession.id == principal.session_id)
            .with_for_update(skip_locked=True).scalar_subquery())
    session.execute(update(WebSession).where(WebSession.id == free).values(last_seen_at=now))


def reauthenticate(session: Session, *, principal: Principal, password: str, lockout_after: int = 5,
                   lockout_minutes: int = 15) -> tuple[str, WebSession]:
    """The step-up: the session's user enters their password again (counted, throttled and audited as
    a login is). Then the session is rotated (ASVS 3.2.1 / 3.7.1), so that a token taken before the
    step-up never carries its freshness: the browser's session is ended and a new one started for
    the same user, with a new token and CSRF token, ``authenticated_at`` now and the old session's
    expiry (a step-up does not lengthen a session). Returns the new token (for the cookie) and row.
    Raises ``AuthError``; a refusal leaves the session as it was."""
    user = session.get(User, principal.id)
    if user is None or principal.session_id is None:
        raise AuthError("bad_credentials", "用户名或密码错误", "wrong username or password")
    try:
        authenticate(session, username=user.username, password=password, lockout_after=lockout_after,
                     lockout_minutes=lockout_minutes)
    except AuthError as exc:  # counted as a failed login is (auth.login denied); said to be a step-up too
        record(session, actor=principal.actor, action="auth.step_up", object_type="user", object_id=user.id,
               outcome="denied", details={"session": principal.session_id, "reason": exc.code})
        raise
    now = utcnow()
    # ended only if still live: a session ended meanwhile (logout, a new password, the account
    # disabled; on PostgreSQL this waits for that transaction) is not brought back by its step-up
    expires_at = session.scalar(
        update(WebSession).where(WebSession.id == principal.session_id, WebSession.ended_at.is_(None),
                                 WebSession.expires_at > now)
        .values(ended_at=now).returning(WebSession.expires_at))
    if expires_at is None:
        record(session, actor=principal.actor, action="auth.step_up", object_type="user", object_id=user.id,
               outcome="denied", details={"session": principal.session_id, "reason": "session_ended"})
        raise AuthError("session_ended", "会话已结束，请重新登录", "the session has ended; sign in again")
    token = secrets.token_urlsafe(32)
    ws = WebSession(token_hash=_sha(token), user_id=user.id, csrf_token=secrets.token_urlsafe(24),
                    expires_at=expires_at, authenticated_at=now, last_seen_at=now)
    session.add(ws)
    session.flush()
    record(session, actor=principal.actor, action="auth.step_up", object_type="user", object_id=user.id,
           details={"session": ws.id, "old_session": principal.session_id})
    return token, ws


# ---- API keys --------------------------------------------------------------------------

def create_api_key(session: Session, *, department: Department, name: str, actor: Actor) -> tuple[str, ApiKey]:
    """Returns the secret (shown once) and the stored row (only a hash of the secret)."""
    name = name.strip()
    if not name or len(name) > 128:
        raise AuthError("invalid_name", "密钥名称为1至128个字符", "key name must have 1-128 characters", "name")
    # the name is the key's actor label: written into every revision and audit entry the key makes,
    # shown on the key pages, in `apikey list` and the log — checked as a department's name is
    if NAME_CONTROL_CHARS.search(name):
        raise AuthError("invalid_name", "密钥名称包含不允许的字符（控制字符、换行或无效的 Unicode）",
                        "key name contains characters not allowed (control characters, line breaks or "
                        "invalid Unicode)", "name")
    if contains_id_number(name):
        raise AuthError("invalid_name", "密钥名称不能包含身份证号码（名称会写入每条修订记录和审计日志）",
                        "key name must not contain an ID number (it is written into every revision and "
                        "audit entry)", "name")
    if not department.active:
        raise AuthError("department_inactive", "部门已停用", "department is inactive", "dept")
    if department.kind != "department":  # a key acts as the department's business system
        raise AuthError("institution_key", "机构不能持有业务系统密钥：机构查询须经本人授权",
                        "an institution cannot hold a business-system key: institutions query with the "
                        "citizen's authorization", "dept")
    prefix = secrets.token_hex(6)
    secret = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(department_id=department.id, name=name, prefix=prefix, key_hash=_sha(secret),
                 created_by=actor.label)
    session.add(key)
    session.flush()
    record(session, actor=actor, action="apikey.create", object_type="apikey", object_id=key.id,
           details={"department": department.code, "name": name, "prefix": prefix})
    return secret, key


def revoke_api_key(session: Session, *, key: ApiKey, actor: Actor) -> None:
    """Revoke ``key`` (effective on its next request). Refused (``already_revoked``: the API's 409) when it is
    revoked already — read under the key's row lock, so that of two revocations at once the second
    waits for the first and sees it, instead of both answering 200 and both writing ``apikey.revoke``:
    PostgreSQL's ``FOR NO KEY UPDATE`` (``key.revoked_at`` read again as committed); SQLite takes no
    row lock, its writing units of work (the API's and the pages' requests, the CLI's session) hold
    the database's write lock from ``BEGIN IMMEDIATE``, before the key is read at all."""
    session.refresh(key, with_for_update={"key_share": True})
    if key.revoked_at is not None:
        raise AuthError("already_revoked", "密钥已吊销", "key is already revoked")
    key.revoked_at = utcnow()
    record(session, actor=actor, action="apikey.revoke", object_type="apikey", object_id=key.id,
           details={"prefix": key.prefix})


def acting_department_refusal(dept: Department | None) -> str | None:
    """Why a department named by its code (a CLI's ``--dept``) may not act as one — push records, run
    checks: ``unknown_department``, ``department_inactive``, or ``department_required`` for an
    institution (as the API: institutions report nothing and check nothing); None when it may."""
    if dept is None:
        return "unknown_department"
    if not dept.active:
        return "department_inactive"
    return "department_required" if dept.kind != "department" else None


def record_state_refused(session: Session, *, actor: Actor, action: str, code: str, department: str,
                         department_id: int | None = None, field: str | None = None, via: str | None = None) -> None:
    """A department's deactivation or reactivation refused (``department.deactivate`` /
    ``department.reactivate``), registered durably as the change it asked for: ``failed`` for its input
    (the reason: missing, too long, control characters), ``denied`` for the department's state (already inactive or active,
    an administrator or the actor in it), ``not_found`` for a code nobody holds. The reason typed is
    not kept: only its code."""
    outcome = "failed" if field == "reason" else "denied"
    details: dict[str, Any] = {"reason": "not_found" if code == "unknown_department" else code,
                               "department": department[:32]}
    if field is not None:
        details["field"] = field
    if via is not None:
        details["via"] = via
    record_refusal(session, actor=actor, action=action, object_type="department", object_id=department_id,
                   details=details, outcome=outcome)


def record_revoke_refused(session: Session, *, actor: Actor, key: ApiKey, code: str,
                          via: str | None = None) -> None:
    """A revocation of a key the caller may see, refused (``already_revoked``), registered durably as
    ``apikey.revoke``, ``denied``, with its code (``audit.service.record_refusal``), as a revocation of
    a key it may not see is (``reason: not_found``): the API's 409 and the pages' alike."""
    details: dict[str, Any] = {"reason": code, "prefix": key.prefix}
    if via is not None:
        details["via"] = via
    record_refusal(session, actor=actor, action="apikey.revoke", object_type="apikey", object_id=key.id,
                   details=details)


def parse_api_key(secret: str) -> str | None:
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or len(parts[1]) != 12:
        return None
    return parts[1]


_LAST_USED_EVERY = timedelta(seconds=60)


def _key_verdict(key_hash: str, secret: str, revoked_at: object, dept_active: bool) -> str | None:
    """None if the key may be used, else why not: ``invalid`` (wrong secret) or ``revoked`` (revoked,
    or its department is inactive). The one rule both key lookups apply."""
    if not hmac.compare_digest(key_hash, _sha(secret)):
        return "invalid"
    if revoked_at is not None or not dept_active:
        return "revoked"
    return None


def key_state(revoked_at: object, dept_active: bool) -> str:
    """``revoked``, ``suspended`` (not revoked, but its department is deactivated, 机构撤并: refused
    until it is reactivated, then usable again) or ``active``: what ``apikey list`` shows and what a
    refused key is told."""
    return "revoked" if revoked_at is not None else "active" if dept_active else "suspended"


def _last_used_due(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - last_used_at >= _LAST_USED_EVERY


# The columns an actor's label is written to (records' ``changed_by``, revisions' and audit entries'
# ``actor_label``, an import job's ``created_by`` …) hold 128 characters.
ACTOR_LABEL_MAX = 128


def _key_principal(key_id: int, key_name: str, dept_id: int, dept_code: str) -> Principal:
    """A key acts as ``<department code>:<key name>``. A name may have 128 characters, so the label may be
    longer than the columns it is written to (every push and upload of such a key was a 500 on
    PostgreSQL, value too long): it is then cut to 127 and an ellipsis. The key's id names it exactly."""
    label = f"{dept_code}:{key_name}"
    if len(label) > ACTOR_LABEL_MAX:
        label = label[:ACTOR_LABEL_MAX - 1] + "…"
    return Principal(kind="apikey", id=key_id, role="system", label=label, department_id=dept_id)


def principal_for_api_key(session: Session, *, secret: str) -> tuple[Principal | None, ApiKey | None]:
    """Returns (principal, key). The key is returned even when refused (revoked) so it can be audited."""
    prefix = parse_api_key(secret)
    if prefix is None:
        return None, None
    row = session.execute(
        select(ApiKey, Department).join(Department, Department.id == ApiKey.department_id)
        .where(ApiKey.prefix == prefix)
    ).first()
    if row is None:
        return None, None
    key, dept = row
    # a key of an institution (none can be created; defence in depth) is refused like a revoked one
    verdict = _key_verdict(key.key_hash, secret, key.revoked_at, dept.active and dept.kind == "department")
    if verdict == "invalid":
        return None, None
    if verdict == "revoked":
        return None, key
    now = utcnow()
    if _last_used_due(key.last_used_at, now):
        key.last_used_at = now  # written with the request's transaction, at most once a minute
    return _key_principal(key.id, key.name, dept.id, dept.code), key


def key_of_prefix(session: Session, *, secret: str) -> ApiKey | None:
    """The key whose prefix ``secret`` carries, whatever its secret: a key :func:`principal_for_api_key`
    refused as invalid is then a real key tried with a wrong secret (someone guessing, or an old secret
    after a key was replaced), which is registered like a failed login."""
    prefix = parse_api_key(secret)
    return None if prefix is None else session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))


def take_key_stamp(session: Session) -> tuple[int, datetime] | None:
    """The API key's last-use stamp that authentication left pending in the request's session (at
    most once a minute), removed from it so that the request's transaction stays read-only; the
    caller writes it later in a transaction of its own (:func:`write_key_stamp`, or the check
    register's writer with the check's row)."""
    for obj in list(session.dirty):
        if isinstance(obj, ApiKey) and obj.last_used_at is not None:
            stamp = (obj.id, obj.last_used_at)
            session.expire(obj, ["last_used_at"])
            return stamp
    return None


def write_key_stamp(session: Session, stamp: tuple[int, datetime] | None) -> None:
    """Apply a stamp :func:`take_key_stamp` took, in ``session``'s (write) transaction."""
    if stamp is not None:
        session.execute(update(ApiKey).where(ApiKey.id == stamp[0]).values(last_used_at=stamp[1]))


# The hot path's key lookup (the check API): plain SQL that a caller joins into its own single
# statement, ``{ph}`` being the driver's placeholder for the key's prefix; no ORM objects.
FAST_KEY_COLUMNS = "k.id, k.key_hash, k.revoked_at, k.last_used_at, k.name, kd.id, kd.code, kd.active"
FAST_KEY_JOIN = ("LEFT JOIN api_keys k ON k.prefix = {ph} "
                 "LEFT JOIN departments kd ON kd.id = k.department_id AND kd.kind = 'department'")


def fast_api_key_principal(values: Sequence[Any], *, secret: str,
                           now: datetime | None = None) -> tuple[Principal | None, datetime | None]:
    """The principal for an API key from the ``FAST_KEY_COLUMNS`` of one row, and the last-use stamp
    to write (at most once a minute, as :func:`principal_for_api_key`), or ``(None, None)`` whenever
    :func:`principal_for_api_key` would refuse: the caller then takes that full path, which answers
    and audits the refusal. Same rule (``_key_verdict``), read fresh on every request: a revoked key
    is refused on its very next request."""
    key_id, key_hash, revoked_at, last_used_at, name, dept_id, dept_code, dept_active = values
    if key_id is None or dept_id is None or _key_verdict(key_hash, secret, revoked_at, bool(dept_active)) is not None:
        return None, None
    now = now or utcnow()
    stamp = now if _last_used_due(utc_of(last_used_at), now) else None
    return _key_principal(key_id, name, dept_id, dept_code), stamp
