"""create_app(): the API under ``/api/v1``, the web pages, ``/healthz`` and the OpenAPI docs."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from xinyong import __version__, errors
from xinyong.config import Settings, get_settings
from xinyong.db import Database
from xinyong.middleware import SecurityMiddleware
from xinyong.privacy.vault import Vault, set_vault
from xinyong.ratelimit import RateLimiter, parse_limits

log = logging.getLogger("xinyong")


class AuditSealer:
    """Seals committed audit entries every few seconds in the background (one thread per process;
    concurrent sealers queue on the lock row, so several workers are safe)."""

    def __init__(self, db: Database, interval: float) -> None:
        self.db, self.interval = db, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval > 0:
            self._thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        from xinyong.audit.service import pending_count, seal_pending

        while not self._stop.wait(self.interval):
            try:
                with self.db.session(write=False) as s:  # a cheap look first: no write lock when idle
                    if not pending_count(s, limit=1):
                        continue
                with self.db.session() as s:
                    seal_pending(s, max_batches=20)
            except Exception:  # noqa: BLE001 - the next round retries; never kill the thread
                log.warning("audit sealing round failed; will retry", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def create_app(settings: Settings | None = None, *, database: Database | None = None,
               vault: Vault | None = None) -> FastAPI:
    settings = settings or get_settings()
    database = database or Database(settings.database_url)
    vault = vault or Vault.from_file(settings.key_file)
    set_vault(vault)
    sealer = AuditSealer(database, settings.audit_seal_interval_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sealer.start()
        try:
            yield
        finally:
            sealer.stop()

    app = FastAPI(
        title="xinyong 个人公共信用信息共享服务平台",
        version=__version__,
        description="Personal public credit information platform API. 所有接口均需认证；身份证号码只在请求体中传递。",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = database
    app.state.vault = vault
    app.state.rate_limiter = RateLimiter(parse_limits(settings.rate_limits))

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

    from xinyong.audit.api import router as audit_router
    from xinyong.auth.api import router as auth_router
    from xinyong.subjects.api import router as subjects_router

    hot, domain = _domain_routers()
    for router in (*hot, auth_router, audit_router, subjects_router, *domain):
        app.include_router(router)
    app.include_router(web_views.router)
    app.mount("/static", StaticFiles(directory=str(web_views.STATIC_DIR)), name="static")
    app.add_middleware(SecurityMiddleware, max_body=settings.max_request_bytes)
    return app


def _domain_routers() -> tuple[list, list]:  # type: ignore[type-arg]
    """Routers of the higher domains (catalog, records, …), imported if present: a module's
    ``hot_routers`` (the check API), which the app matches first (routes are tried in order, ~50 of
    them), and the others."""
    import importlib

    routers, hot = [], []
    for module in ("xinyong.catalog.api", "xinyong.records.api", "xinyong.records.views",
                   "xinyong.imports.api", "xinyong.catalog.views", "xinyong.imports.views",
                   "xinyong.measures.api", "xinyong.measures.views",
                   "xinyong.lists.api", "xinyong.lists.views",
                   "xinyong.scoring.api", "xinyong.scoring.views"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        routers.append(mod.router)
        routers.extend(getattr(mod, "extra_routers", ()))
        hot.extend(getattr(mod, "hot_routers", ()))
    return hot, routers
