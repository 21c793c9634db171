"""create_app(): the API under ``/api/v1``, the web pages, ``/healthz`` and the OpenAPI docs."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import orjson
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from xinyong import __version__, clock, errors, workdays
from xinyong.config import Settings, get_settings
from xinyong.context import client_ip_var, new_request_id, request_id_var
from xinyong.db import Database
from xinyong.middleware import HSTS, Express, SecurityMiddleware, with_security_headers
from xinyong.privacy.masking import contains_id_number
from xinyong.privacy.vault import Vault, set_vault
from xinyong.ratelimit import RateLimiter, parse_limits

log = logging.getLogger("xinyong")


# The OpenAPI page's Swagger UI files come from the ``fastapi-offline`` package (which ships them) and
# are served by the platform itself: the page works on an intranet without internet, and its CSP
# (middleware.DOCS_CSP) names no other host. Mounted before ``/static`` (routes are tried in order).
DOCS_URL = "/api/docs"
OPENAPI_URL = "/api/openapi.json"
DOCS_ASSETS_URL = "/static/swagger-ui"


def _docs_assets_dir() -> str:
    from importlib.resources import files

    return str(files("fastapi_offline") / "static")


EXPRESS_MAX_BODY = 4096  # an express request's body is small; a larger one goes the declared way


class XinyongApp(FastAPI):
    """FastAPI plus *express routes*: a hot path (``POST /api/v1/checks``) answered straight from
    ASGI, before Starlette's and FastAPI's middleware, routing and dependency layers, which cost
    about as much as the check itself (bench/bench_checks.py). An express handler gets the request's
    headers and its (small) body and either answers or returns None; then the request takes the
    declared route through the whole stack, body replayed, and is answered as it always was. So the
    declared route stays the reference (OpenAPI, every refusal, the error shapes) and the express
    handler only ever answers the common case, with the same request id, client address, security
    headers and error shape as the stack would give."""

    express_routes: dict[tuple[str, str], Express]
    # Strict-Transport-Security outside development (``create_app``: as SecurityMiddleware's)
    hsts: list[tuple[bytes, bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            send = self._secured(scope, send)
            if scope.get("query_string") and id_number_in(scope["query_string"]):
                await _refuse_id_in_url(scope, send)
                return
            where = nul_in_url(scope)
            if where is not None:
                await _refuse_nul_in_url(scope, send, where)
                return
            express = self.express_routes.get((scope["method"], scope["path"]))
            if express is not None:
                await self._express(express, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _secured(self, scope: dict[str, Any], send: Any) -> Any:
        """``send`` that gives every response the security headers (and HSTS outside development)
        it lacks: also those answered outside SecurityMiddleware — the URL refusals and express
        answers here, before it, and the 500 that Starlette's outermost middleware renders after an
        exception escaped it. (The middleware's own responses have them all: nothing is added.)"""
        path: str = scope.get("path", "")
        static, docs, hsts = path.startswith("/static/"), path.startswith("/api/docs"), self.hsts

        async def secured(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": with_security_headers(
                    message.get("headers", []), request_id_var.get(), static=static, docs=docs, more=hsts)}
            await send(message)

        return secured

    async def _express(self, express: Express, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value)
        try:
            length = int(headers.get(b"content-length", b"-1"))
        except ValueError:
            length = -1
        if not 0 <= length <= EXPRESS_MAX_BODY:
            await super().__call__(scope, receive, send)
            return
        body, more = b"", True
        while more and len(body) <= length:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)

        rid = new_request_id()
        t1, t2 = request_id_var.set(rid), client_ip_var.set(scope["client"][0] if scope.get("client") else None)
        try:
            try:
                answer = await express(self, headers, body) if len(body) == length else None
            except DBAPIError as exc:  # the declared route tries again and answers 503 the usual way
                log.warning("express %s: %s; the declared route answers request_id=%s", scope["path"],
                            type(exc).__name__, rid)
                answer = None
            except Exception:
                log.exception("unhandled error request_id=%s", rid)
                answer = (500, orjson.dumps(errors.error_body("internal_error", errors.INTERNAL_ERROR)), [])
        finally:
            request_id_var.reset(t1)
            client_ip_var.reset(t2)
        if answer is None:
            replayed = False

            async def replay() -> dict[str, Any]:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await super().__call__(scope, replay, send)
            return
        status, payload, extra = answer
        head = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()), *extra]
        await send({"type": "http.response.start", "status": status, "headers": with_security_headers(head, rid)})
        await send({"type": "http.response.body", "body": payload})


ID_IN_URL = ("身份证号码不得放在网址中（网址会留在代理、浏览器和日志里），请放在请求体中发送 / an ID number must not be sent "
             "in the URL (URLs stay in proxies, browsers and logs): send it in the request body")


def id_number_in(query_string: bytes) -> bool:
    """Whether a query string holds a valid ID number (check digit, birth date, region) — a client
    putting one where every proxy and log keeps it. Other long numbers pass."""
    return len(query_string) >= 18 and contains_id_number(unquote_plus(query_string.decode("latin-1")))


async def _refuse_id_in_url(scope: dict[str, Any], send: Any) -> None:
    """422 in the error shape, before anything reads the request (nor logs its URL: the access log
    masks ID numbers anyway). The number is not repeated."""
    rid = new_request_id()
    token = request_id_var.set(rid)
    try:
        log.warning("refused a request with an ID number in its query string: %s %s request_id=%s",
                    scope.get("method"), scope.get("path"), rid)
        payload = orjson.dumps(errors.error_body("id_number_in_url", ID_IN_URL, [
            {"field": "query", "code": "id_number_in_url", "message": ID_IN_URL}]))
    finally:
        request_id_var.reset(token)
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 422, "headers": with_security_headers(head, rid)})
    await send({"type": "http.response.body", "body": payload})


NUL_IN_URL = "网址中含有不允许的空字符（NUL, %00） / the URL holds a character not allowed (NUL, %00)"


def nul_in_url(scope: dict[str, Any]) -> str | None:
    """Where a request's URL holds a NUL (``%00``), which no code, id or filter value has and which
    PostgreSQL cannot take in any text (a lookup with one was a 500 there): ``path``, the query
    parameter's name, or ``query``; None when it holds none."""
    if "\x00" in scope.get("path", ""):
        return "path"
    query = scope.get("query_string") or b""
    if b"%00" not in query.lower() and b"\x00" not in query:
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in value and "\x00" not in name and _PARAM_NAME.fullmatch(name):
            return name
    return "query"


_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


async def _refuse_nul_in_url(scope: dict[str, Any], send: Any, where: str) -> None:
    """422 ``invalid_characters`` naming ``where``, before routing (as :func:`_refuse_id_in_url`)."""
    rid = new_request_id()
    token = request_id_var.set(rid)
    try:
        payload = orjson.dumps(errors.error_body("invalid_characters", NUL_IN_URL, [
            {"field": where, "code": "invalid_characters", "message": NUL_IN_URL}]))
    finally:
        request_id_var.reset(token)
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 422, "headers": with_security_headers(head, rid)})
    await send({"type": "http.response.body", "body": payload})


FAILURE_LOG_ROUNDS = 300  # ten minutes at the default interval


class AuditSealer:
    """Seals committed audit entries every few seconds in the background (one thread per process;
    concurrent sealers queue on the lock row, so several workers are safe). Each round first writes
    the calls the rate limiter refused since the last (``ratelimit.record_refusals``), and so does
    the stop. Each round also reads the holiday table and, if the key file changed (``xinyong keys
    rotate``), its new active key (``Vault.refresh_keys``)."""

    def __init__(self, db: Database, interval: float, limiter: RateLimiter | None = None,
                 vault: Vault | None = None) -> None:
        self.db, self.interval, self.limiter, self.vault = db, interval, limiter, vault
        self._failures: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record_refusals(self) -> int:
        if self.limiter is None:
            return 0
        from xinyong.ratelimit import record_refusals

        with self.db.session() as s:
            return record_refusals(s, self.limiter)

    def start(self) -> None:
        if self.interval > 0:
            self._thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._step("seal", "audit sealing round", lambda: (self.record_refusals(), self.seal_round()))
            # another worker's (or the CLI's) change to the holiday table, within a round
            self._step("holidays", "reading the holiday table", lambda: workdays.sync_from(self.db))
            if self.vault is not None:  # a rotation's new key, before this process writes more under the old
                self._step("keys", "reading the key file", self.vault.refresh_keys)

    def _step(self, name: str, what: str, work: Callable[[], object]) -> None:
        """One step of a round; the next round retries a failed one. While the database is down every
        round fails: the traceback is logged once, then a line every ``FAILURE_LOG_ROUNDS`` rounds,
        and once when it works again (it was two tracebacks of a hundred lines every two seconds)."""
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - never kill the thread
            failures = self._failures[name] = self._failures.get(name, 0) + 1
            if failures == 1:
                log.warning("%s failed; will retry every %g s (logged again every %d rounds while it fails)",
                            what, self.interval, FAILURE_LOG_ROUNDS, exc_info=True)
            elif failures % FAILURE_LOG_ROUNDS == 0:
                reason = (str(exc).strip().splitlines() or [""])[0][:240]
                log.warning("%s still failing (%d rounds): %s: %s", what, failures, type(exc).__name__, reason)
            return
        if failures := self._failures.pop(name, 0):
            log.warning("%s works again after %d failed rounds", what, failures)

    def seal_round(self, max_batches: int = 20, batch_size: int = 2000) -> int:
        """Plan in a read transaction (no write lock while entries are read and hashed), write the
        plan in a short one; a plan overtaken by another process's sealer is dropped and made again."""
        from xinyong.audit.service import apply_seal, plan_seal

        sealed = 0
        for _ in range(max_batches):
            with self.db.session(write=False) as s:
                plan = plan_seal(s, limit=batch_size)
            if plan is None:
                break
            with self.db.session() as s:
                sealed += apply_seal(s, plan)
            if len(plan.updates) < batch_size:
                break
        return sealed

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.record_refusals()  # the last seconds' refusals; sealed by the next start or seal
        except Exception:  # noqa: BLE001 - stopping: say so, do not fail the shutdown
            log.warning("could not record the rate limiter's refused calls at shutdown", exc_info=True)


def create_app(settings: Settings | None = None, *, database: Database | None = None,
               vault: Vault | None = None) -> FastAPI:
    settings = settings or get_settings()
    clock.configure(settings.timezone)
    database = database or Database(settings.database_url)
    vault = vault or Vault.from_file(settings.key_file)
    set_vault(vault)
    limiter = RateLimiter(parse_limits(settings.rate_limits))
    sealer = AuditSealer(database, settings.audit_seal_interval_seconds, limiter, vault)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            workdays.sync_from(database)  # the administrator's holiday table (then every sealer round)
        except Exception:  # noqa: BLE001 - a database not up yet: the sealer's rounds read it later
            log.warning("could not read the holiday table at start; will retry", exc_info=True)
        sealer.start()
        try:
            yield
        finally:
            sealer.stop()

    app = XinyongApp(
        title="xinyong 个人公共信用信息共享服务平台",
        version=__version__,
        description="Personal public credit information platform API. 所有接口均需认证；身份证号码只在请求体中传递。",
        docs_url=None,  # served below, from the platform's own files (no CDN)
        redoc_url=None,
        openapi_url=OPENAPI_URL,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.hsts = [(b"strict-transport-security", HSTS)] if settings.secure_cookies else []
    app.state.db = database
    app.state.vault = vault
    app.state.rate_limiter = limiter
    app.state.audit_sealer = sealer

    from xinyong.web import views as web_views

    errors.install(app, web_views.render_error_page)

    @app.get("/healthz", tags=["ops"], summary="Liveness and database check")
    def healthz() -> dict[str, str]:
        try:
            with database.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            raise errors.ApiError(503, "database_unavailable", "数据库不可用 / database unavailable",
                                  headers={"Retry-After": "5"}) from exc
        return {"status": "ok", "version": __version__}

    @app.get(DOCS_URL, include_in_schema=False)
    def api_docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{OPENAPI_URL}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}/static/favicon.svg",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    from xinyong.audit.api import refused_bodies as audit_refused_bodies
    from xinyong.audit.api import router as audit_router
    from xinyong.auth.api import refused_bodies as auth_refused_bodies
    from xinyong.auth.api import router as auth_router
    from xinyong.subjects.api import refused_bodies as subjects_refused_bodies
    from xinyong.subjects.api import router as subjects_router

    express, hot, domain, counted, refused_bodies, too_large_bodies = _domain_routers()
    app.express_routes = express
    app.state.counted_refusals = counted
    app.state.refused_bodies = {**auth_refused_bodies, **audit_refused_bodies, **subjects_refused_bodies,
                                **refused_bodies, **web_views.refused_bodies}
    app.state.too_large_bodies = too_large_bodies
    for router in (*hot, auth_router, audit_router, subjects_router, *domain):
        app.include_router(router)
    app.include_router(web_views.router)
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=_docs_assets_dir()), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=str(web_views.STATIC_DIR)), name="static")
    app.add_middleware(SecurityMiddleware, max_body=settings.max_request_bytes, on_too_large=_register_too_large,
                       hsts=settings.secure_cookies)
    return app


async def _register_too_large(scope: dict[str, Any], field: str, size: int | None) -> None:
    """A body over the size limit, refused before routing, on a route that registers its refused
    bodies: registered for a caller its headers name (``auth.deps.register_too_large``, in a thread:
    it waits for the database). Other routes, or a request without a key or a cookie and its CSRF
    header — or, on a page route (a browser's form, whose token is in the body), a same-origin
    request (``auth.deps.same_origin``) —: nothing, not even a thread."""
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import Headers

    from xinyong.auth.deps import declared_refusal_of, register_too_large, same_origin

    # a key, or a session cookie with its CSRF header (without it the caller is never told apart), or
    # for a page (a browser's form: its token is in the body, never read) with a same-origin request
    names = {name for name, _ in scope.get("headers", ())}
    page_form = (b"cookie" in names and not scope.get("path", "").startswith("/api/")
                 and same_origin(Headers(scope=scope)))
    credentials = b"authorization" in names or (b"cookie" in names and b"x-csrf-token" in names) or page_form
    if credentials and declared_refusal_of(scope) is not None:
        try:
            await run_in_threadpool(register_too_large, scope, field, size)
        except Exception:  # noqa: BLE001 - the 413 is answered all the same (nothing was read or written)
            log.error("could not register a body refused as too large: %s %s request_id=%s", scope.get("method"),
                      scope.get("path"), request_id_var.get(), exc_info=True)


def _domain_routers() -> tuple[dict[tuple[str, str], Express], list, list, dict[tuple[str, str], str],  # type: ignore[type-arg]
                               dict[tuple[str, str], Any], dict[tuple[str, str], Any]]:
    """Routers of the higher domains (catalog, records, …), imported if present: a module's
    ``express_routes`` ((method, path) → handler, see :class:`XinyongApp`), its ``hot_routers``
    (the check API), which the app matches first (routes are tried in order, ~50 of them), the
    others, and its ``counted_refusals`` ((method, path) → audit action: requests the schema refuses
    there are counted and recorded like the rate limiter's refusals, see ``ratelimit.count_refusal``),
    and its ``refused_bodies`` ((method, path) → who may call, what registers it: a write route's
    body the schema refuses is registered as that route's refusal, see ``auth.deps.register_refused_body``),
    and its ``too_large_bodies`` (the same, for a body over the size limit alone: the check API's
    routes, whose schema refusals are counted)."""
    import importlib

    express: dict[tuple[str, str], Express] = {}
    counted: dict[tuple[str, str], str] = {}
    refused_bodies: dict[tuple[str, str], Any] = {}
    too_large_bodies: dict[tuple[str, str], Any] = {}
    routers, hot = [], []
    for module in ("xinyong.audit.views", "xinyong.catalog.api", "xinyong.records.api", "xinyong.records.views",
                   "xinyong.imports.api", "xinyong.catalog.views", "xinyong.imports.views",
                   "xinyong.measures.api", "xinyong.measures.views",
                   "xinyong.lists.api", "xinyong.lists.views",
                   "xinyong.scoring.api", "xinyong.scoring.views", "xinyong.holidays.views"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        routers.append(mod.router)
        routers.extend(getattr(mod, "extra_routers", ()))
        hot.extend(getattr(mod, "hot_routers", ()))
        express.update(getattr(mod, "express_routes", {}))
        counted.update(getattr(mod, "counted_refusals", {}))
        refused_bodies.update(getattr(mod, "refused_bodies", {}))
        too_large_bodies.update(getattr(mod, "too_large_bodies", {}))
    return express, hot, routers, counted, refused_bodies, too_large_bodies
