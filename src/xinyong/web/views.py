"""The web shell: sign-in and sign-out, the session endpoint, the language switch, each role's
home page and the error page. The admin console's pages live in :mod:`xinyong.auth.views` and are
included here, so ``app.py`` mounts one router for all pages.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel

from xinyong.audit.service import Actor, record
from xinyong.auth import service as auth_service
from xinyong.auth import views as auth_views
from xinyong.auth.deps import SESSION_COOKIE, optional_principal, page_refusals
from xinyong.auth.service import AuthError, Principal
from xinyong.context import request_id_var
from xinyong.db import utcnow
from xinyong.deps import DbSession, VaultDep
from xinyong.errors import STATUS_TEXT, ApiError, masked_errors
from xinyong.privacy.masking import mask_id_numbers_in
from xinyong.ratelimit import caller_of, limiter_of
from xinyong.web.filters import echo  # what was typed, shown back: never of an ID number's shape
from xinyong.web.home import home_for
from xinyong.web.i18n import LANG_COOKIE, LANGS, MESSAGES, lang_of
from xinyong.web.security import delete_cookie, safe_next, same_secret, set_cookie
from xinyong.web.templating import render

log = logging.getLogger("xinyong")

STATIC_DIR = Path(__file__).parent / "static"
LOGIN_CSRF_COOKIE = "xy_login_csrf"
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_\-]{32,128}$")
LANG_MAX_AGE = 365 * 24 * 3600
LOGIN_EXPIRED = "登录表单已过期，请刷新页面后重试 / the sign-in form has expired; reload the page and retry"

router = APIRouter()
pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["auth"])

MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]


# ---- the error page ------------------------------------------------------------------------

def render_error_page(request: Request, status: int, errors: list[dict[str, Any]] | None = None,
                      message: str | None = None) -> HTMLResponse:
    """A friendly bilingual page with the request id; never a stack trace. The message and every
    error's field and message are masked again as the JSON error body's are (``errors.error_body``):
    a route or a service that echoed something typed without masking it shows no ID number here."""
    if message is not None and message == " / ".join(STATUS_TEXT.get(status, ())):
        message = None  # the title already says it
    if message is not None:
        message = mask_id_numbers_in(str(message))
    errors = masked_errors(errors)
    title_key = f"error.{status}" if f"error.{status}" in MESSAGES else "error.other"
    hint_key = f"error.hint.{status}" if f"error.hint.{status}" in MESSAGES else None
    context = {"status": status, "errors": errors or [], "message": message, "title_key": title_key,
               "hint_key": hint_key, "other_lang": "en" if lang_of(request) == "zh" else "zh"}
    try:
        return render(request, "error.html", context, status_code=status)
    except Exception:  # noqa: BLE001 - the error page itself must never fail
        log.exception("error page failed to render request_id=%s", request_id_var.get())
        rid = request_id_var.get() or ""
        return HTMLResponse(f"<!doctype html><title>{status}</title><h1>{status}</h1>"
                            f"<p>请求编号 / request id: {rid}</p>", status_code=status)


# ---- sign-in and sign-out --------------------------------------------------------------------

def _login_csrf(request: Request) -> str:
    """The browser's login CSRF token: kept if well-formed (several tabs may be open), else new."""
    current = request.cookies.get(LOGIN_CSRF_COOKIE)
    return current if current and _TOKEN_SHAPE.match(current) else secrets.token_urlsafe(32)


def _login_page(request: Request, token: str, *, next_url: str, username: str = "",
                error: str | None = None, status_code: int = 200) -> HTMLResponse:
    response = render(request, "login.html", {"login_csrf": token, "next_url": next_url,
                                              "username": username, "error": error}, status_code=status_code)
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token)
    return response


@pages.get("/login", response_class=HTMLResponse)
def login_form(request: Request, principal: MaybePrincipal,
               next_url: Annotated[str, Query(alias="next", max_length=2000)] = "/") -> HTMLResponse:
    return _login_page(request, _login_csrf(request), next_url=safe_next(next_url))


@pages.post("/login", response_model=None)
def login_submit(
    request: Request,
    session: DbSession,
    username: Annotated[str, Form(max_length=256)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=256)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=2000)] = "/",
) -> Response:
    cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not same_secret(csrf_token, cookie_token):
        anonymous = Actor(type="anonymous", label=auth_service.typed_user_name(username))
        record(session, actor=anonymous, action="auth.csrf", outcome="denied", details={"path": "/login"})
        session.commit()
        return render_error_page(request, 403, message=LOGIN_EXPIRED)
    settings = request.app.state.settings
    # Per client address (the limit "login"): the per-account lockout does not stop one address
    # trying a password or two on many accounts (password spraying), nor names that do not exist.
    host = request.client.host if request.client else None
    limiter, caller = limiter_of(request.app), caller_of(None, host)
    wait = limiter.take("login", caller)
    if wait > 0:
        limiter.refused("login", caller, Actor(type="anonymous", label=auth_service.typed_user_name(username)),
                        host, "/login")  # registered in batches by the audit sealer, not a write per try
        retry = max(1, math.ceil(wait))
        response = _login_page(request, str(cookie_token), next_url=safe_next(next_url), username=echo(username.strip()),
                               error="login.throttled", status_code=429)
        response.headers["Retry-After"] = str(retry)
        return response
    try:
        user = auth_service.authenticate(session, username=username, password=password,
                                         lockout_after=settings.login_max_failures,
                                         lockout_minutes=settings.login_lockout_minutes)
    except AuthError as exc:
        session.commit()  # the failure, its count and its audit entry must stay
        key = {"disabled": "login.disabled", "department_inactive": "login.department_inactive",
               "department_kind": "login.department_kind"}.get(
            exc.code, "login.failed")
        return _login_page(request, str(cookie_token), next_url=safe_next(next_url),
                           username=echo(username.strip()), error=key, status_code=401)
    token, _ = auth_service.start_session(session, user=user, hours=settings.session_hours,
                                          old_token=request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(safe_next(next_url), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, token, max_age=settings.session_hours * 3600)
    delete_cookie(request, response, LOGIN_CSRF_COOKIE)
    return response


# ---- step-up: the password again before an administrative change (auth.deps.require) -------------

MESSAGES.update({
    "reauth.title": {"zh": "确认身份", "en": "Confirm it is you"},
    "reauth.intro": {"zh": "管理操作（用户、部门、密钥、目录、规则、措施、节假日）须在{minutes}分钟内输入过密码。"
                     "请再次输入密码，然后重新提交。",
                     "en": "An administrative change (users, departments, keys, the catalog, rules, measures, "
                     "holidays) needs your password entered in the last {minutes} minutes. Enter it again, then "
                     "submit once more."},
    "reauth.submit": {"zh": "确认", "en": "Confirm"},
    "reauth.failed": {"zh": "密码错误", "en": "Wrong password"},
    "reauth.locked": {"zh": "密码错误次数过多，账户已暂时锁定，请稍后再试", "en": "Too many wrong passwords: the "
                      "account is locked for a while; try again later"},
})


def _reauth_page(request: Request, *, next_url: str, error: str | None = None, status_code: int = 200) -> HTMLResponse:
    from xinyong.auth.permissions import STEP_UP_MINUTES

    return render(request, "reauth.html", {"next_url": next_url, "error": error, "minutes": STEP_UP_MINUTES},
                  status_code=status_code)


@pages.get("/reauth", response_class=HTMLResponse)
def reauth_form(request: Request, principal: MaybePrincipal,
                next_url: Annotated[str, Query(alias="next", max_length=2000)] = "/") -> Response:
    if principal is None or principal.kind != "user":
        return RedirectResponse("/login", status_code=303)
    return _reauth_page(request, next_url=safe_next(next_url))


@pages.post("/reauth", response_model=None)
def reauth_submit(request: Request, session: DbSession, principal: MaybePrincipal,
                  password: Annotated[str, Form(max_length=1024)] = "",
                  next_url: Annotated[str, Form(alias="next", max_length=2000)] = "/") -> Response:
    """The session's user enters their password again (the CSRF token is checked by
    ``current_principal``); failures are counted, throttled and audited as a login's are. Success
    rotates the session as a login does: a new cookie (and CSRF token) for the rest of the old
    session's lifetime; the old cookie no longer works."""
    if principal is None or principal.kind != "user":
        return RedirectResponse("/login", status_code=303)
    settings = request.app.state.settings
    try:
        token, ws = auth_service.reauthenticate(session, principal=principal, password=password,
                                                lockout_after=settings.login_max_failures,
                                                lockout_minutes=settings.login_lockout_minutes)
    except AuthError as exc:
        session.commit()  # the failure, its count and its audit entry must stay
        if exc.code == "session_ended":  # ended meanwhile (another tab signed out): sign in again
            return RedirectResponse("/login?" + urlencode({"next": safe_next(next_url)}, safe="/"),
                                    status_code=303)
        return _reauth_page(request, next_url=safe_next(next_url),
                            error="reauth.locked" if exc.code == "locked" else "reauth.failed", status_code=401)
    response = RedirectResponse(safe_next(next_url), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, token,
               max_age=max(0, int((ws.expires_at - utcnow()).total_seconds())))
    return response


@pages.post("/logout", response_model=None)
def logout(request: Request, session: DbSession, principal: MaybePrincipal) -> Response:
    """Ends the session (the CSRF token is checked by ``current_principal``) and forgets the cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if principal is not None and principal.kind == "user" and token:
        auth_service.end_session(session, token=token)
        record(session, actor=principal.actor, action="auth.logout", object_type="user",
               object_id=principal.id, details={"session": principal.session_id})
    response = RedirectResponse("/login", status_code=303)
    delete_cookie(request, response, SESSION_COOKIE)
    return response


# ---- the session, for scripts and tests --------------------------------------------------------

class SessionOut(BaseModel):
    username: str
    role: str
    department_id: int | None
    csrf_token: str


@api.get("/session", response_model=SessionOut, summary="The signed-in browser session and its CSRF token")
def session_info(principal: MaybePrincipal) -> SessionOut:
    if principal is None or principal.kind != "user" or principal.csrf_token is None:
        raise ApiError(401, "unauthenticated", "请先登录 / please sign in")
    return SessionOut(username=principal.label, role=principal.role, department_id=principal.department_id,
                      csrf_token=principal.csrf_token)


# ---- language and home -------------------------------------------------------------------------

@pages.get("/lang")
def switch_language(request: Request, to: Annotated[str, Query(max_length=8)] = "zh",
                    next_url: Annotated[str, Query(alias="next", max_length=2000)] = "/") -> RedirectResponse:
    response = RedirectResponse(safe_next(next_url), status_code=303)
    if to in LANGS:
        set_cookie(request, response, LANG_COOKIE, to, max_age=LANG_MAX_AGE)
    return response


@pages.get("/", response_model=None)
def home(request: Request, session: DbSession, vault: VaultDep, principal: MaybePrincipal) -> Response:
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    template, context = home_for(session, vault, principal)
    return render(request, template, context)


router.include_router(pages)
router.include_router(api)
router.include_router(auth_views.router)

# a page request the schema refuses (see auth.deps.page_refusals): the re-authentication's, for the
# session's user (the login's caller is unknown, and the language switch reads nothing and changes
# nothing of anyone's), and the admin pages'
refused_bodies = {**page_refusals(pages, {("GET", "/reauth"): "auth.step_up", ("POST", "/reauth"): "auth.step_up"}),
                  **auth_views.refused_bodies}
