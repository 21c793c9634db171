"""Authentication and permission dependencies. Each route declares its permission once:

    AdminConsole = Annotated[Principal, Depends(require("console.admin"))]

API callers present ``Authorization: Bearer <key>``; browsers a session cookie, and for any
state-changing request also the CSRF token (header ``X-CSRF-Token`` or form field ``csrf_token``).
Refusals: 401 (who are you?) and 403 (not allowed), as JSON for ``/api`` paths, pages otherwise.
Refusals where the caller is known are audited and committed before the error is raised.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from xinyong.audit.service import Actor, record_refusal
from xinyong.auth.permissions import STEP_UP_ACTIONS, STEP_UP_MINUTES, allowed
from xinyong.auth.service import Principal, key_of_prefix, principal_for_api_key, principal_for_session
from xinyong.db import utcnow
from xinyong.deps import DbSession

SESSION_COOKIE = "xy_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuthFailure(HTTPException):
    def __init__(self, status: int, code: str, zh: str, en: str) -> None:
        super().__init__(status_code=status, detail={"code": code, "message": f"{zh} / {en}"})
        self.code = code


audit_refusal = record_refusal  # register a refusal durably (audit.service.record_refusal)


async def _csrf_ok(request: Request, principal: Principal) -> bool:
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    return bool(sent and principal.csrf_token and hmac.compare_digest(sent, principal.csrf_token))


async def current_principal(request: Request, session: DbSession) -> Principal | None:
    """Who is calling, or None. Cached on the request."""
    if hasattr(request.state, "principal"):
        return request.state.principal
    principal: Principal | None = None
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, secret = auth.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise AuthFailure(401, "bad_authorization", "Authorization 头格式应为 Bearer <密钥>",
                              "Authorization header must be 'Bearer <key>'")
        principal, key = principal_for_api_key(session, secret=secret.strip())
        if principal is None:
            if key is not None:
                audit_refusal(session, actor=Actor(type="apikey", id=str(key.id), label=key.prefix,
                                                       department_id=key.department_id),
                                  action="auth.apikey", object_type="apikey", object_id=key.id,
                                  details={"reason": "revoked", "path": request.url.path})
                raise AuthFailure(401, "key_revoked", "API 密钥已吊销", "API key has been revoked")
            tried = key_of_prefix(session, secret=secret.strip())
            if tried is not None:  # a real key with a wrong secret: registered, answered as an unknown key
                audit_refusal(session, actor=Actor(type="apikey", id=str(tried.id), label=tried.prefix,
                                                   department_id=tried.department_id),
                              action="auth.apikey", object_type="apikey", object_id=tried.id,
                              details={"reason": "wrong_secret", "path": request.url.path})
            raise AuthFailure(401, "key_invalid", "API 密钥无效", "API key is not valid")
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            principal = principal_for_session(session, token=token)
            if principal is not None and request.method not in SAFE_METHODS and not await _csrf_ok(request, principal):
                audit_refusal(session, actor=principal.actor, action="auth.csrf",
                                  details={"path": request.url.path, "method": request.method})
                raise AuthFailure(403, "csrf", "缺少或错误的 CSRF 令牌，请刷新页面后重试",
                                  "missing or wrong CSRF token; reload the page and retry")
    request.state.principal = principal
    return principal


def _fresh(principal: Principal) -> bool:
    """A session whose user proved their password in the last ``STEP_UP_MINUTES`` (an API key, a
    department's system, has no password to enter: its changes are not administrative ones)."""
    if principal.kind != "user":
        return True
    at = principal.authenticated_at
    return at is not None and utcnow() - at <= timedelta(minutes=STEP_UP_MINUTES)


def check_step_up(request: Request, session: Session, principal: Principal, action: str) -> None:
    """Refuse a state change needing one of ``STEP_UP_ACTIONS`` unless the session is fresh (403
    ``step_up_required``, audited). ``require`` calls it; so does a route declared with a narrower
    permission that uses an administrative one inside (``allowed(...)``), e.g. /api/v1/apikeys."""
    if action in STEP_UP_ACTIONS and request.method not in SAFE_METHODS and not _fresh(principal):
        audit_refusal(session, actor=principal.actor, action="auth.step_up_required",
                      details={"path": request.url.path, "permission": action})
        raise AuthFailure(403, "step_up_required",
                          f"管理操作须在{STEP_UP_MINUTES}分钟内输入过密码：请在 /reauth 重新输入密码后再试",
                          f"an administrative change needs your password entered in the last {STEP_UP_MINUTES} "
                          "minutes: enter it again at /reauth, then retry")


def require(action: str) -> Callable[..., Any]:
    """Dependency factory: the caller must be authenticated and allowed ``action``."""

    async def _dep(request: Request, session: DbSession,
                   principal: Principal | None = Depends(current_principal)) -> Principal:
        if principal is None:
            raise AuthFailure(401, "unauthenticated", "请先登录或提供 API 密钥", "authentication required")
        if not allowed(principal.role, action):
            audit_refusal(session, actor=principal.actor, action="auth.forbidden",
                              details={"path": request.url.path, "permission": action})
            raise AuthFailure(403, "forbidden", "无权执行此操作", "you are not allowed to do this")
        check_step_up(request, session, principal, action)
        return principal

    _dep.__name__ = f"require_{action.replace('.', '_')}"
    return _dep


async def optional_principal(principal: Principal | None = Depends(current_principal)) -> Principal | None:
    return principal
