"""Authentication and permission dependencies. Each route declares its permission once:

    AdminConsole = Annotated[Principal, Depends(require("console.admin"))]

API callers present ``Authorization: Bearer <key>``; browsers a session cookie, and for any
state-changing request also the CSRF token (header ``X-CSRF-Token`` or form field ``csrf_token``).
Refusals: 401 (who are you?) and 403 (not allowed), as JSON for ``/api`` paths, pages otherwise.
Refusals where the caller is known are audited and committed before the error is raised.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from xinyong.audit.service import Actor, record_refusal
from xinyong.auth.models import Department
from xinyong.auth.permissions import STEP_UP_ACTIONS, STEP_UP_MINUTES, allowed
from xinyong.auth.service import (
    Principal,
    key_of_prefix,
    key_state,
    principal_for_api_key,
    principal_for_session,
)
from xinyong.db import utcnow
from xinyong.deps import TOUCH_SESSION, DbSession, _pure_read
from xinyong.privacy.crypto import same_secret

SESSION_COOKIE = "xy_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A page that reloads itself (a running job's page: HTMX polls it every second, or without JavaScript
# a <noscript> refresh every 5 seconds) asks with ``?autorefresh=1``. Such a request is not a use of
# the session: the idle timeout runs on, so a job page left open on a shared desk does not keep the
# session alive for as long as the job runs (or hangs). A caller who drops the marker only counts as
# in use, as any page view does; one who adds it only shortens its own session.
AUTO_REFRESH = "autorefresh"


def reloads_itself(request: Request) -> bool:
    """A GET the page made by itself (``?autorefresh=1``), not the user's."""
    return request.method in SAFE_METHODS and request.query_params.get(AUTO_REFRESH) == "1"


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
    return same_secret(sent, principal.csrf_token)


def _api_key_caller(request: Request, session: Session, auth: str) -> Principal:
    """The API key's principal, or the key refused (registered when the key is a real one)."""
    scheme, _, secret = auth.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise AuthFailure(401, "bad_authorization", "Authorization 头格式应为 Bearer <密钥>",
                          "Authorization header must be 'Bearer <key>'")
    principal, key = principal_for_api_key(session, secret=secret.strip())
    if principal is None:
        if key is not None:
            # same code; the message says whether reactivating the department brings the key back (the
            # department is in the session already: principal_for_api_key joined it)
            dept = session.get(Department, key.department_id)
            suspended = key_state(key.revoked_at, dept is not None and dept.active) == "suspended"
            audit_refusal(session, actor=Actor(type="apikey", id=str(key.id), label=key.prefix,
                                               department_id=key.department_id),
                          action="auth.apikey", object_type="apikey", object_id=key.id,
                          details={"reason": "suspended" if suspended else "revoked", "path": request.url.path})
            if suspended:
                raise AuthFailure(401, "key_revoked", "API 密钥所属部门已停用，密钥暂停使用",
                                  "the API key's department is deactivated: the key is suspended")
            raise AuthFailure(401, "key_revoked", "API 密钥已吊销", "API key has been revoked")
        tried = key_of_prefix(session, secret=secret.strip())
        if tried is not None:  # a real key with a wrong secret: registered, answered as an unknown key
            audit_refusal(session, actor=Actor(type="apikey", id=str(tried.id), label=tried.prefix,
                                               department_id=tried.department_id),
                          action="auth.apikey", object_type="apikey", object_id=tried.id,
                          details={"reason": "wrong_secret", "path": request.url.path})
        raise AuthFailure(401, "key_invalid", "API 密钥无效", "API key is not valid")
    return principal


def key_route(path: str) -> bool:
    """Whether an API key may call ``path``: the API only. The pages are a signed-in user's (a web
    session, its CSRF token, its idle timeout and step-up): a department's system calls the API, as
    the foundation has it (issue 2: "web login with a session cookie and CSRF protection; the API
    takes ``Authorization: Bearer <key>``"). A key on a page (``/workspace/...``, ``/lists/...``) was
    let in by the page's permission alone — the check form outside the check API's rate limit per
    key, pages rendered for a program — and is refused (403 ``api_key_not_for_pages``, audited
    ``auth.forbidden`` with the path)."""
    return path.startswith("/api/")


def _idle_minutes(request: Request) -> int | None:
    settings = getattr(request.app.state, "settings", None)
    return getattr(settings, "session_idle_minutes", None)


async def current_principal(request: Request, session: DbSession) -> Principal | None:
    """Who is calling, or None. Cached on the request."""
    if hasattr(request.state, "principal"):
        return request.state.principal
    principal: Principal | None = None
    auth = request.headers.get("authorization")
    if auth:
        principal = _api_key_caller(request, session, auth)
        if not key_route(request.url.path):
            audit_refusal(session, actor=principal.actor, action="auth.forbidden",
                          details={"path": request.url.path, "reason": "api_key_on_page"})
            raise AuthFailure(403, "api_key_not_for_pages", "API 密钥只能调用 /api/ 接口；页面须登录后使用",
                              "an API key calls the /api/ endpoints only; the pages are for signed-in users")
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            principal = principal_for_session(session, token=token, idle_minutes=_idle_minutes(request))
            if principal is not None and request.method not in SAFE_METHODS and not await _csrf_ok(request, principal):
                audit_refusal(session, actor=principal.actor, action="auth.csrf",
                                  details={"path": request.url.path, "method": request.method})
                raise AuthFailure(403, "csrf", "缺少或错误的 CSRF 令牌，请刷新页面后重试",
                                  "missing or wrong CSRF token; reload the page and retry")
            if principal is not None and not _pure_read(request) and not reloads_itself(request):
                # in use: the idle timeout starts again (a pure read's transaction writes nothing; a
                # page reloading itself is not the user's use), written by ``deps._session`` just
                # before the request's commit
                session.info[TOUCH_SESSION] = principal
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
    _dep.permission = action  # type: ignore[attr-defined]  # (read by page_refusals)
    return _dep


async def optional_principal(principal: Principal | None = Depends(current_principal)) -> Principal | None:
    return principal


# ---- a body refused before the route's dependencies ran --------------------------------------------

def _caller_checks(route_dependant: Any) -> list[Any]:
    """The route's dependencies (never the endpoint itself) that read the caller, in the order FastAPI
    runs them (sub-dependencies first): :func:`current_principal`, and each one that takes it with
    nothing but the request and the request's session besides (``require(...)``, a domain's
    ``_subject_reader`` …)."""
    from xinyong.deps import _session

    found: list[Any] = []

    def walk(dependant: Any) -> None:
        for sub in dependant.dependencies:
            walk(sub)
        calls = [sub.call for sub in dependant.dependencies]
        own_params = (dependant.path_params or dependant.query_params or dependant.header_params
                      or dependant.cookie_params or dependant.body_params)
        if dependant.call is current_principal or (
                current_principal in calls and all(c in (current_principal, _session) for c in calls)
                and not own_params):
            found.append(dependant)

    for sub in route_dependant.dependencies:
        walk(sub)
    return found


async def _form_unreadable_for_csrf(request: Request) -> bool:
    """A session's state change whose CSRF token would be read from the form (no header) while the
    form cannot be read: who is calling cannot be told, so the body's own refusal stands."""
    if request.headers.get("authorization") or request.method in SAFE_METHODS or request.headers.get("x-csrf-token"):
        return False
    if not request.cookies.get(SESSION_COOKIE) or not request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        return False
    try:
        await request.form()
    except Exception:  # noqa: BLE001 - a malformed form: what FastAPI refused the body for
        return True
    return False


async def authenticate_first(request: Request) -> None:
    """A body refused before the route's dependencies ran — not JSON, not UTF-8, a multipart form
    that cannot be read: FastAPI reads the body first — is refused for its caller first, as it would
    be with a good body: the route's own caller checks (``current_principal``, ``require(...)``: the
    same code, the same refusals registered) run now and raise their 401 or 403. A caller they let
    through gets the body's 422, as before (``request.state.principal`` then holds it). Nothing for a
    route that reads no caller, or once the dependencies ran (a body of the wrong shape)."""
    from starlette.concurrency import run_in_threadpool

    from xinyong.deps import _session

    if hasattr(request.state, "principal"):
        return
    dependant = getattr(request.scope.get("route"), "dependant", None)
    checks = _caller_checks(dependant) if dependant is not None else []
    if not checks or await _form_unreadable_for_csrf(request):
        return
    # the request's unit of work, opened as the route's is (on the thread pool: on SQLite a write
    # transaction waits there for the write lock); rolled back — a refusal commits its own entry
    units = _session(request)
    session = await run_in_threadpool(next, units)
    try:
        principal = await current_principal(request, session)
        for check in checks:
            if check.call is current_principal:
                continue
            args: dict[str, Any] = {}
            for sub in check.dependencies:
                args[sub.name] = principal if sub.call is current_principal else session
            if check.request_param_name:
                args[check.request_param_name] = request
            result = check.call(**args)
            if inspect.isawaitable(result):
                await result
    finally:
        await run_in_threadpool(units.close)


# ---- a body refused before the route ran -----------------------------------------------------------

_PLAIN_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z0-9_]{1,64}){0,7}")


@dataclass(frozen=True, slots=True)
class RefusedBody:
    """A request whose body (or path) the schema refused, as the 422 names it: the first error's code
    and field (a field that is no plain name — a key the caller made up — is named ``body``), how
    many errors, the body as read (None when it could not be), the path's parameters."""

    code: str
    field: str
    errors: int
    body: Any
    path_params: dict[str, Any]
    size: int | None = None  # a body refused as too large (413): its size in bytes, as far as known

    def sized(self, details: dict[str, Any]) -> dict[str, Any]:
        """``details`` and, for a body refused as too large, its size (``bytes``)."""
        return details if self.size is None else {**details, "bytes": self.size}

    def path_id(self, name: str) -> int | None:
        """The path's id ``name`` as a number, or None (an id the schema refused: not digits, too long)."""
        raw = self.path_params.get(name)
        return int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) <= 18 else None


def registrable_field(field: str) -> str:
    """A refused field's name as an audit entry may hold it: a plain name, else ``body`` (a key the
    caller made up may be anything, an ID number included)."""
    return field if _PLAIN_FIELD.fullmatch(field) else "body"


# (method, route template) -> (the permissions that may call it, what registers its refused body):
# each domain's ``refused_bodies``, gathered by the app (``app.state.refused_bodies``); and its
# ``too_large_bodies``, the same for bodies over the size limit alone (``app.state.too_large_bodies``:
# routes whose other refused bodies are counted, not registered one by one)
BodyRefusals = dict[tuple[str, str], tuple[tuple[str, ...], Callable[[Session, Principal, RefusedBody], None]]]


def refused_query(action: str) -> Callable[[Session, Principal, RefusedBody], None]:
    """What registers a read (``GET``) whose path or query parameter the schema refuses — ``/records/abc``,
    ``?decided_from=notadate``, a ``limit`` out of range: FastAPI's 422 before the route runs, after
    the caller's checks (they are the route's dependencies, which FastAPI runs first: an unknown or
    refused caller is answered 401 or 403 as ever, and leaves no entry of the route's) — under the
    route's read ``action``, ``failed``, with the first error's code, its field and how many errors.
    Never a value sent, not even the path's (a list code, an id too long: it may be an ID number).
    Declared in a domain's ``refused_bodies`` under ``("GET", template)``."""

    def register(session: Session, principal: Principal, refused: RefusedBody) -> None:
        record_refusal(session, actor=principal.actor, action=action, outcome="failed",
                       details=refused.sized({"code": refused.code, "field": refused.field,
                                              "errors": refused.errors}))

    return register


def refused_page(action: str) -> Callable[[Session, Principal, RefusedBody], None]:
    """What registers a page request whose path, query or form field the schema refuses (FastAPI's
    422 before the page route runs: ``/admin/users?page=0``, ``/workspace/records/abc``, a form field
    over its length): as the API's are (:func:`refused_query`), under the page's ``action``,
    ``failed``, the first error's code and field, how many errors, and ``via: page``; never a value."""

    def register(session: Session, principal: Principal, refused: RefusedBody) -> None:
        record_refusal(session, actor=principal.actor, action=action, outcome="failed",
                       details=refused.sized({"code": refused.code, "field": refused.field,
                                              "errors": refused.errors, "via": "page"}))

    return register


def route_permissions(dependant: Any) -> tuple[str, ...]:
    """The permissions a route's ``require(...)`` dependencies ask for (empty: any signed-in caller)."""
    found: list[str] = []

    def walk(dep: Any) -> None:
        permission = getattr(dep.call, "permission", None)
        if isinstance(permission, str):
            found.append(permission)
        for sub in dep.dependencies:
            walk(sub)

    walk(dependant)
    return tuple(found)


def page_refusals(router: Any, actions: dict[tuple[str, str], Any]) -> BodyRefusals:
    """A page module's ``refused_bodies``: for each of its routes ``(method, path)``, the route's own
    permissions (its ``require(...)``) and what registers its refused request — an action name
    (:func:`refused_page`) or a register function of its own (an API twin's). A key naming no route
    of ``router`` is an error at import (a path renamed and its registration forgotten)."""
    out: BodyRefusals = {}
    for route in router.routes:
        for method in getattr(route, "methods", ()) or ():
            entry = actions.get((method, route.path))
            if entry is not None:
                register = refused_page(entry) if isinstance(entry, str) else entry
                out[(method, route.path)] = (route_permissions(route.dependant), register)
    missing = set(actions) - set(out)
    if missing:
        raise LookupError(f"page_refusals: no such route {sorted(missing)}")
    return out


def _caller_of_refused_body(request: Request, session: Session) -> Principal | None:
    """The caller, as :func:`current_principal` found it when the route's dependencies ran (a body of
    the wrong shape), else found now (a body that is not JSON, or unreadable, is refused before
    them): an API key, or a session whose CSRF token came in its header. None when there is none or
    it is refused (a revoked key's or a wrong secret's refusal registered as ever)."""
    if hasattr(request.state, "principal"):
        return request.state.principal
    auth = request.headers.get("authorization")
    if auth:
        try:
            principal = _api_key_caller(request, session, auth)
        except AuthFailure:
            return None
        return principal if key_route(request.url.path) else None  # a page refuses a key
    token = request.cookies.get(SESSION_COOKIE)
    sent = request.headers.get("x-csrf-token")
    if not token:
        return None
    # a session without its CSRF header is never told apart (not even looked up) but for a browser's
    # page form whose token is in a body not read (an upload over the limit): a same-origin request
    if not sent and (request.url.path.startswith("/api/") or not same_origin(request.headers)):
        return None
    principal = principal_for_session(session, token=token, idle_minutes=_idle_minutes(request))
    if principal is None or (sent and not same_secret(sent, principal.csrf_token)):
        return None
    return principal


def same_origin(headers: Any) -> bool:
    """A browser's request from the platform's own pages: its ``Origin`` is the request's own host (a
    browser sets it on every form POST; a page cannot forge it), or, without one, ``Sec-Fetch-Site:
    same-origin``. With the session cookie (``SameSite=Lax``) it stands for the CSRF token of a form
    whose body is never read — a page upload refused as too large — for registering that refusal only,
    never for a change."""
    from urllib.parse import urlsplit

    origin = headers.get("origin")
    host = headers.get("host")
    if origin:
        try:
            return bool(host) and urlsplit(origin).netloc.lower() == host.lower()
        except ValueError:
            return False
    return headers.get("sec-fetch-site") == "same-origin"


def refused_body_route(request: Request, too_large: bool = False) -> tuple[tuple[str, ...], Callable[[Session, Principal, RefusedBody], None]] | None:
    """The ``refused_bodies`` entry of the request's route, if it has one (a lookup: no database);
    for a body over the size limit (``too_large``) also its ``too_large_bodies`` entry: a route whose
    schema refusals are counted (the check API's) still registers a body over the limit."""
    template = getattr(request.scope.get("route"), "path", None)
    if template is None:
        return None
    state = request.app.state
    found = getattr(state, "refused_bodies", {}).get((request.method, template))
    if found is None and too_large:
        found = getattr(state, "too_large_bodies", {}).get((request.method, template))
    return found  # type: ignore[no-any-return]


def register_refused_body(request: Request, errors: list[dict[str, Any]], body: Any, size: int | None = None) -> None:
    """A department-key (or credit-office) write refused for its body — FastAPI's 422 before the route
    runs: not JSON, unreadable, or of the wrong shape; or over the size limit as it was read (413,
    ``size`` the bytes read by then) — is registered as the route's other refusals
    are (the route's ``refused_bodies`` entry: its action, ``failed``, the code and field, never what
    was typed), in a transaction of its own, committed (the request's was rolled back). Only for a
    caller who may call the route: an unknown caller's malformed request leaves the answer alone.
    Blocking (the database): run in a thread."""
    found = refused_body_route(request, too_large=size is not None)
    if found is not None:
        _register(request, found, dict(request.path_params), errors, body, size)


def declared_refusal_of(scope: dict[str, Any]) -> tuple[Any, dict[str, str]] | None:
    """The ``refused_bodies`` entry of the route a request is for, and the path's parameters, from the
    method and path alone (a request refused before routing: a body over the size limit), or None.
    A lookup: no database; the route templates compiled once per app."""
    from starlette.routing import compile_path

    app = scope.get("app")
    state = getattr(app, "state", None)
    if state is None:
        return None
    compiled = getattr(state, "refused_body_paths", None)
    if compiled is None:
        entries = {**getattr(state, "too_large_bodies", {}), **getattr(state, "refused_bodies", {})}
        compiled = [(method, compile_path(template)[0], entry) for (method, template), entry in entries.items()]
        state.refused_body_paths = compiled
    for method, regex, entry in compiled:
        if method == scope.get("method"):
            match = regex.match(scope.get("path", ""))
            if match is not None:
                return entry, match.groupdict()
    return None


def register_too_large(scope: dict[str, Any], field: str, size: int | None) -> None:
    """A body refused as too large before routing (413, ``middleware.SecurityMiddleware``: never read)
    on a route that registers its refused bodies: registered as its 422s are (the route's action,
    ``failed``, code ``too_large``, the field — ``body``, or ``file`` for an upload — and ``bytes``,
    the size declared or read when the limit was passed), for a caller found from the request's
    headers alone: an API key, or a session whose CSRF token came in its header. An unknown caller
    leaves none. Blocking (the database): run in a thread."""
    found = declared_refusal_of(scope)
    if found is not None:
        entry, params = found
        _register(Request(scope), entry, params, [{"field": field, "code": "too_large"}], None, size)


def _register(request: Request, found: tuple[tuple[str, ...], Callable[[Session, Principal, RefusedBody], None]],
              path_params: dict[str, Any], errors: list[dict[str, Any]], body: Any, size: int | None) -> None:
    permissions, register = found
    first = errors[0] if errors else {"field": "body", "code": "validation_error"}
    field = str(first.get("field") or "body")
    refused = RefusedBody(code=str(first.get("code") or "validation_error")[:64],
                          field=registrable_field(field), errors=len(errors),
                          body=body, path_params=path_params, size=size)
    db = request.app.state.db
    principal = _registrable_caller(request, db)
    # (no permissions: a page any signed-in caller may use, such as /reauth)
    if principal is None or (permissions and not any(allowed(principal.role, p) for p in permissions)):
        return
    with db.session() as session:
        register(session, principal, refused)


def _registrable_caller(request: Request, db: Any) -> Principal | None:
    """:func:`_caller_of_refused_body`, looked up in a read unit of work, rolled back (a refused
    credential's own entry is committed by its refusal, as ever): the write unit — on SQLite the
    write lock — is taken only once there is an entry to write. A flood of bodies over the limit
    with made-up keys, refused before routing, so waits for no writer and holds up none (the push's
    own key lookup is a read too)."""
    if hasattr(request.state, "principal"):
        return request.state.principal
    session = db.sessionmaker()
    try:
        return _caller_of_refused_body(request, session)
    finally:
        session.rollback()
        session.close()
