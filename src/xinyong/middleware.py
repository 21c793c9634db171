"""Pure-ASGI middleware (cheap on the hot path): request id, client address, body-size limit,
security headers and ``Cache-Control: no-store`` on everything that is not a static file."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException

from xinyong.context import client_ip_var, new_request_id, request_id_var

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# The OpenAPI page (Swagger UI, its files served by the platform: app.DOCS_ASSETS_URL) starts with an
# inline bootstrap script and Swagger UI sets inline styles; it carries no personal data. No other
# host: the page works offline and loads nothing from outside.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)


# An express route (``xinyong.app.XinyongApp``): (app, request headers, body) → its answer (status,
# JSON body, extra headers), or None to hand the request to the app's declared route.
Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]
Express = Callable[[Any, dict[bytes, bytes], bytes], Awaitable[Answer | None]]


# Told of a body refused as too large before the app saw it (the request's scope, ``body`` or
# ``file``, the size declared or read, if known), before the 413 is sent: it may register the
# refusal (``xinyong.app``: ``auth.deps.register_too_large``). It must not read the body.
TooLargeHook = Callable[[dict[str, Any], str, int | None], Awaitable[None]]


class SecurityMiddleware:
    def __init__(self, app: Any, max_body: int, on_too_large: TooLargeHook | None = None, *,
                 hsts: bool = False) -> None:
        self.app = app
        self.max_body = max_body
        self.on_too_large = on_too_large
        # outside development the site is reached over HTTPS only (XINYONG_ENVIRONMENT, as the cookies'
        # Secure flag): browsers are told to keep to it (a first visit typed as http:// is not sent
        # in the clear again, nor its cookie)
        self.hsts = [(b"strict-transport-security", HSTS)] if hsts else []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
        t1 = request_id_var.set(rid)
        client = scope.get("client")
        t2 = client_ip_var.set(client[0] if client else None)
        path: str = scope.get("path", "")
        static = path.startswith("/static/")
        docs = path.startswith("/api/docs")  # (ReDoc is not served: /api/redoc is a 404)

        declared = None
        multipart = page = json_body = False
        for k, v in scope.get("headers", ()):
            if k == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    declared = -1
            elif k == b"content-type":
                multipart = v.startswith(b"multipart/form-data")
                json_body = _is_json_type(v)
            elif k == b"accept":
                page = b"text/html" in v
        page = page and not path.startswith("/api/")
        # The limit is a file's: an upload's form adds its boundaries and other fields, which must not
        # refuse a file just under it; the upload's handler refuses a larger file itself (``file``).
        limit = self.max_body + MULTIPART_MARGIN if multipart else self.max_body
        field = "file" if multipart else "body"
        if declared is not None and (declared < 0 or declared > limit):
            if self.on_too_large is not None:
                await self.on_too_large(scope, field, declared if declared >= 0 else None)
            await _too_large(send, rid, field, page, self.hsts)
            request_id_var.reset(t1)
            client_ip_var.reset(t2)
            return

        received = 0
        head = b"" if json_body else None  # a JSON body's first bytes, until its encoding is known

        async def limited_receive() -> dict[str, Any]:
            nonlocal received, head
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    raise _BodyTooLarge(received)
                if head is not None:
                    head += chunk[:4]
                    if len(head) >= 4 or not message.get("more_body", False):
                        if head and json.detect_encoding(head[:4]) not in ("utf-8", "utf-8-sig"):
                            raise _NotUtf8Json()
                        head = None
            return message

        started = False

        async def send_with_headers(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": with_security_headers(message.get("headers", []), rid,
                                                                       static=static, docs=docs, more=self.hsts)}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _BodyTooLarge as exc:
            if started:
                raise
            if self.on_too_large is not None:  # (the app's handler, which registers it, did not answer it)
                await self.on_too_large(scope, field, exc.received)
            await _too_large(send, rid, field, page, self.hsts)
        # Not in a ``finally``: when an exception escapes, the request id must stay set for the
        # outermost error handler (Starlette's ServerErrorMiddleware, outside this middleware), which
        # renders the 500 after we return and quotes the id. The context ends with the request's task.
        request_id_var.reset(t1)
        client_ip_var.reset(t2)


HSTS = b"max-age=31536000"  # a year; no includeSubDomains: other hosts of the domain are not ours to bind


def with_security_headers(headers: Any, rid: str | None, *, static: bool = False, docs: bool = False,
                          more: Any = ()) -> list[Any]:
    """A response's headers plus the request id (when there is one), the security headers and
    ``more`` (HSTS outside development), each that it does not set itself."""
    headers = list(headers)
    names = {h[0].lower() for h in headers}
    extra = [
        *([(b"x-request-id", rid.encode())] if rid else []),
        *more,
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
    ]
    if not static:
        extra.append((b"cache-control", b"no-store"))
        extra.append((b"pragma", b"no-cache"))
    ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
    if ctype.startswith(b"text/html"):
        extra.append((b"content-security-policy", (DOCS_CSP if docs else CSP).encode()))
    headers.extend(h for h in extra if h[0] not in names)
    return headers


def _is_json_type(value: bytes) -> bool:
    """``application/json`` or ``application/…+json`` (as FastAPI reads a body as JSON)."""
    mime = value.split(b";", 1)[0].strip().lower()
    return mime == b"application/json" or (mime.startswith(b"application/") and mime.endswith(b"+json"))


class _NotUtf8Json(HTTPException):
    """Raised from ``receive`` when a JSON body's first bytes are UTF-16 or UTF-32 (a BOM, or the NUL
    bytes of its first ASCII characters: RFC 8259 § 8.1, as ``json.detect_encoding`` tells them):
    JSON between systems is UTF-8 (RFC 8259), and Python's JSON reader would otherwise decode them.
    An HTTPException whose detail is Starlette's own for a body it cannot parse, so that FastAPI's body
    parsing re-raises it and the app answers it as any unreadable body (``errors._unreadable_body``:
    422, ``body``, ``body_unreadable``, registered as the route's malformed bodies are)."""

    def __init__(self) -> None:
        super().__init__(400, "There was an error parsing the body: JSON must be UTF-8 (RFC 8259), "
                              "not UTF-16 or UTF-32")


class _BodyTooLarge(HTTPException):
    """Raised from ``receive`` once the body passes the limit. An HTTPException, so that FastAPI's
    body parsing re-raises it (anything else it turns into a 400) and the app's handler answers 413."""

    def __init__(self, received: int | None = None) -> None:
        super().__init__(413, {"code": "too_large", "message": TOO_LARGE})
        self.received = received  # the bytes read when the limit was passed


TOO_LARGE = "请求内容过大 / request body too large"
TOO_LARGE_FILE = "文件过大，请拆分后分别上传 / the file is too large; split it and upload the parts"
MULTIPART_MARGIN = 64 * 1024  # an upload form's own bytes beyond its file


async def _too_large(send: Any, rid: str, field: str = "body", page: bool = False, more: Any = ()) -> None:
    import html
    import json

    message = TOO_LARGE_FILE if field == "file" else TOO_LARGE
    if page:  # a browser's form post: a page that says so, not JSON
        ctype = b"text/html; charset=utf-8"
        body = ("<!doctype html><html lang=\"zh\"><meta charset=\"utf-8\"><title>413</title>"
                f"<p>{html.escape(message)}</p><p><a href=\"/\">返回首页 / home</a></p>"
                f"<p><small>{html.escape(rid)}</small></p></html>").encode()
    else:
        ctype = b"application/json"
        body = json.dumps({"code": "too_large", "message": message, "request_id": rid,
                           "errors": [{"field": field, "code": "too_large", "message": message}]},
                          ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": with_security_headers([(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
                                                 rid, more=more)})
    await send({"type": "http.response.body", "body": body})
