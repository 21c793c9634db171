"""One error shape for the API: ``{"code", "message", "errors": [{"field","code","message"}], "request_id"}``.

Pages get a friendly error page instead. Unexpected errors never show a stack trace, only a
correlation id that matches the server log.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from xinyong.catalog.spec import no_such_day
from xinyong.context import request_id_var
from xinyong.domain_errors import BilingualError
from xinyong.middleware import TOO_LARGE_FILE
from xinyong.privacy.masking import mask_id_numbers_in, page_without_id_numbers

log = logging.getLogger("xinyong")

STATUS_TEXT = {
    400: ("请求有误", "bad request"),
    401: ("需要登录", "authentication required"),
    403: ("无权访问", "forbidden"),
    404: ("未找到", "not found"),
    405: ("不支持的请求方法", "method not allowed"),
    409: ("冲突", "conflict"),
    413: ("请求内容过大", "request body too large"),
    422: ("数据校验失败", "validation failed"),
    429: ("请求过于频繁", "too many requests"),
    503: ("服务暂不可用，请稍后重试", "service temporarily unavailable; retry shortly"),
}


INTERNAL_ERROR = "服务器内部错误，请联系管理员并提供请求编号 / internal error; quote the request id to the administrator"


class ApiError(Exception):
    """Raise from an endpoint to answer with the standard error shape."""

    def __init__(self, status: int, code: str, message: str, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.errors, self.headers = status, code, message, errors, headers


def wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path == "/healthz" or "application/json" in request.headers.get("accept", "")


def masked_errors(errors: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """An error list's text values (field, message …) with any ID number masked
    (``privacy.masking.mask_id_numbers_in``): the JSON body and the HTML error page alike."""
    return [{k: mask_id_numbers_in(v) if type(v) is str else v for k, v in e.items()} for e in errors or ()]


def error_body(code: str, message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The one shape of every error: ``errors`` always present (empty when no field is concerned).
    Routes mask what they echo; here whatever one forgot is masked again (defence in depth, as the
    log formatter and the audit details): no ID number leaves in an error body in the clear (nor on
    the HTML error page: ``web.views.render_error_page`` masks with the same helpers)."""
    return {"code": code, "message": mask_id_numbers_in(message), "errors": masked_errors(errors),
            "request_id": request_id_var.get()}


def _loc_to_field(loc: tuple[Any, ...]) -> str:
    """The field an error names: a key the caller sent (an unknown one is named too), with any ID
    number in it masked, as a record's own unknown keys are."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return mask_id_numbers_in(".".join(parts)) or "body"


_PYDANTIC_ZH = {
    "missing": "必填字段缺失",
    "extra_forbidden": "不允许的字段",
    "string_type": "应为字符串",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "json_invalid": "JSON 格式错误",
    "list_type": "应为数组",
    "dict_type": "应为对象",
    "model_attributes_type": "应为对象",
    "too_short": "数量或长度过少",
    "too_long": "数量或长度过多",
    "string_too_short": "长度过短",
    "string_too_long": "长度过长",
    "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
    "date_parsing": "日期格式应为 YYYY-MM-DD",
    "literal_error": "取值不在允许范围内",
    "bool_parsing": "应为布尔值",
    "bool_type": "应为布尔值",
    "value_error": "取值无效",
}


# value errors of the framework's own validators, English only: (start of the message, Chinese, English)
_FRAMEWORK_VALUE_ERRORS = (
    ("Expected UploadFile", "应为上传的文件：请以文件方式发送（如 curl -F file=@文件路径）",
     "expected an uploaded file: send it as a file (e.g. curl -F file=@path)"),
)


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        typ = str(err.get("type", "invalid"))
        msg = str(err.get("msg", "invalid"))
        if typ == "value_error" and msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
            zh = ""  # the application's own validators say it in both languages
            for start, zh_known, en_known in _FRAMEWORK_VALUE_ERRORS:
                if msg.startswith(start):
                    zh, msg = zh_known, en_known
        else:
            zh = _PYDANTIC_ZH.get(typ, "取值无效")
        field = _loc_to_field(tuple(err.get("loc", ())))
        if typ in ("date_from_datetime_parsing", "date_parsing"):  # 2026-02-30: the format is right, the day is not
            missing_day = no_such_day(field, err.get("input"))
            if missing_day is not None:
                zh, msg = missing_day["message"].split(" / ", 1)
        if typ == "json_invalid":  # its location is a character position, not a field
            loc = err.get("loc", ())
            at = loc[-1] if loc and isinstance(loc[-1], int) else None
            field = "body"
            if at is not None:
                zh, msg = f"{zh}（第 {at} 个字符处）", f"{msg} (at character {at})"
        out.append({"field": field, "code": typ, "message": f"{zh} / {msg}" if zh else msg})
    return out


_NOT_AN_OBJECT = ("model_attributes_type", "dict_type", "missing")
_JSON_HINT = ("（请求须带 Content-Type: application/json 头，请求体为 JSON 对象）",
              " (send the header Content-Type: application/json with a JSON object as the body)")


def _hint_content_type(request: Request, errors: list[dict[str, Any]]) -> None:
    """A JSON body sent without ``Content-Type: application/json`` (curl's -d sends a form type) is
    not read as JSON: FastAPI then says "Input should be a valid dictionary" of the body, which does
    not point at the header. Say so on that error."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json" or ctype.endswith("+json") or request.method not in ("POST", "PUT", "PATCH"):
        return
    for e in errors:
        if e["field"] == "body" and e["code"] in _NOT_AN_OBJECT:
            zh, _, en = e["message"].partition(" / ")
            e["message"] = f"{zh}{_JSON_HINT[0]} / {en}{_JSON_HINT[1]}" if en else e["message"] + _JSON_HINT[1]


# What FastAPI and Starlette answer 400 with when a body cannot be read at all — JSON that is not
# UTF-8, a multipart form without its boundary — answered here as any other malformed body: 422,
# the error shape, the field named.
_UNREADABLE_BODY = ("There was an error parsing the body", "multipart", "Multipart")


def _unreadable_body(exc: StarletteHTTPException) -> list[dict[str, Any]] | None:
    detail = exc.detail
    if exc.status_code != 400 or not isinstance(detail, str) or not any(m in detail for m in _UNREADABLE_BODY):
        return None
    return [{"field": "body", "code": "body_unreadable",
             "message": f"请求体无法解析：须为 UTF-8 编码的 JSON 或完整的 multipart 表单 / the body cannot be read: "
                        f"it must be UTF-8 JSON or a well-formed multipart form ({detail.rstrip('.')})"}]


def _referring_page(request: Request) -> str:
    """The page a refused form was sent from (this site's, by its Referer), to come back to, less
    anything of an ID number's shape (``privacy.masking.page_without_id_numbers``); else the home page."""
    from urllib.parse import urlsplit

    ref = urlsplit(request.headers.get("hx-current-url") or request.headers.get("referer", ""))
    if ref.netloc != request.url.netloc or not ref.path.startswith("/"):
        return "/"
    return page_without_id_numbers(ref.path, ref.query)


_SQLITE_UNAVAILABLE = ("database is locked", "unable to open", "disk i/o error", "database or disk is full",
                       "readonly database")


def _is_unavailable(exc: Exception) -> bool:
    """Connection-level trouble (retry later) as opposed to a bug (a missing table, bad SQL)."""
    orig = getattr(exc, "orig", None)
    module = type(orig).__module__ if orig is not None else ""
    if module.startswith("sqlite3"):
        text = str(orig).lower()
        return any(marker in text for marker in _SQLITE_UNAVAILABLE)
    return True


async def _register_refused_body(request: Request, errors: list[dict[str, Any]], body: Any,
                                 size: int | None = None) -> None:
    """A write route that registers a body it refuses (a domain's ``refused_bodies``: the records
    push, a catalog edit, an import …) gets its audit entry, written in a thread (it waits for the
    database; on SQLite for the write lock, which the event loop must not)."""
    from starlette.concurrency import run_in_threadpool

    from xinyong.auth.deps import refused_body_route, register_refused_body  # (auth imports this module)

    if refused_body_route(request, too_large=size is not None) is not None:
        await run_in_threadpool(register_refused_body, request, errors, body, size)


def install(app: Any, render_error_page: Any) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return JSONResponse(error_body(exc.code, exc.message, exc.errors), status_code=exc.status, headers=exc.headers)

    async def _caller_refused(request: Request) -> Response | None:
        """A body refused before the route's dependencies ran (FastAPI reads it first): the caller is
        refused first, with the 401 or 403 a good body would have got (``auth.deps.authenticate_first``);
        None for a caller let through, whose body's refusal is answered as ever."""
        from xinyong.auth.deps import authenticate_first  # (auth imports this module)

        try:
            await authenticate_first(request)
        except ApiError as exc:
            return await _api_error(request, exc)
        except StarletteHTTPException as exc:
            return await _http(request, exc)
        except (OperationalError, PoolTimeout) as exc:  # the database, as the dependencies would meet it: 503
            return await _db_down(request, exc)
        return None

    @app.exception_handler(BilingualError)
    async def _domain_refusal(request: Request, exc: BilingualError) -> Response:
        if not wants_json(request):
            return render_error_page(request, exc.status, exc.api_errors(), exc.message)
        return JSONResponse(error_body(exc.code, exc.message, exc.api_errors()), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        from xinyong.ratelimit import count_refusal  # (ratelimit imports this module)

        refused = await _caller_refused(request)
        if refused is not None:
            return refused
        count_refusal(request)
        errors = validation_errors(exc)
        await _register_refused_body(request, errors, exc.body)
        _hint_content_type(request, errors)
        if not wants_json(request):
            return render_error_page(request, 422, errors)
        zh, en = STATUS_TEXT[422]
        return JSONResponse(error_body("validation_error", f"{zh} / {en}", errors), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        unreadable = _unreadable_body(exc)
        if unreadable is not None:
            from xinyong.ratelimit import count_refusal

            refused = await _caller_refused(request)
            if refused is not None:
                return refused
            count_refusal(request)
            await _register_refused_body(request, unreadable, None)
            if not wants_json(request):
                return render_error_page(request, 422, unreadable)
            zh, en = STATUS_TEXT[422]
            return JSONResponse(error_body("validation_error", f"{zh} / {en}", unreadable), status_code=422)
        headers = getattr(exc, "headers", None)
        if isinstance(exc.detail, dict):
            code, message = exc.detail.get("code", "error"), exc.detail.get("message", "")
        else:
            zh, en = STATUS_TEXT.get(exc.status_code, ("错误", "error"))
            code = {401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                    413: "too_large"}.get(exc.status_code, "error")
            message = f"{zh} / {en}" if exc.detail in (None, "", "Not Found", "Method Not Allowed") else str(exc.detail)
        errors = None
        if exc.status_code == 413:  # an upload's limit is its file's
            upload = request.headers.get("content-type", "").startswith("multipart/form-data")
            if upload:  # as the middleware answers one refused for its declared length
                message = TOO_LARGE_FILE
            errors = [{"field": "file" if upload else "body", "code": code, "message": message}]
            received = getattr(exc, "received", None)
            # a body streamed past the limit (middleware._BodyTooLarge: no Content-Length, or a false one),
            # as it was read — a page's upload form as the API's body: registered as one refused before
            # routing for its declared length is (middleware's ``on_too_large``)
            if received is not None:
                try:
                    await _register_refused_body(request, [{"field": errors[0]["field"], "code": code}], None,
                                                 received)
                except Exception:  # noqa: BLE001 - the 413 is answered all the same, as the middleware's is
                    log.error("could not register a body refused as too large: %s %s request_id=%s", request.method,
                              request.url.path, request_id_var.get(), exc_info=True)
        if not wants_json(request):
            if code == "step_up_required":  # the password again, then back to the page the form was on
                from fastapi.responses import RedirectResponse

                target = "/reauth?" + urlencode({"next": _referring_page(request)}, safe="/")
                if request.headers.get("hx-request") == "true":  # HTMX: the whole page goes there, not a fragment
                    return Response(status_code=200, headers={"HX-Redirect": target})
                return RedirectResponse(target, status_code=303)
            if exc.status_code == 401:
                from fastapi.responses import RedirectResponse

                # back to this page after logging in: its path encoded whole, and never one holding an
                # ID number's shape (a client put it there) carried on into a query string
                back = page_without_id_numbers(request.url.path)
                return RedirectResponse("/login?" + urlencode({"next": back}, safe="/"), status_code=303)
            return render_error_page(request, exc.status_code, None, message)
        return JSONResponse(error_body(code, message, errors), status_code=exc.status_code, headers=headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _db_down(request: Request, exc: Exception) -> Response:
        if not _is_unavailable(exc):
            return await _unexpected(request, exc)
        log.error("database unavailable: %s request_id=%s", type(exc).__name__, request_id_var.get())
        zh, en = STATUS_TEXT[503]
        if not wants_json(request):
            return render_error_page(request, 503, None, f"{zh} / {en}")
        return JSONResponse(error_body("database_unavailable", f"{zh} / {en}"), status_code=503,
                            headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Starlette answers this one from its outermost middleware, outside SecurityMiddleware, so
        # the response gets its headers here.
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return _hardened(await _db_down(request, exc))
        log.exception("unhandled error request_id=%s", request_id_var.get())
        if not wants_json(request):
            return _hardened(render_error_page(request, 500, None, INTERNAL_ERROR))
        return _hardened(JSONResponse(error_body("internal_error", INTERNAL_ERROR), status_code=500))


def _hardened(response: Response) -> Response:
    from xinyong.middleware import CSP

    rid = request_id_var.get()
    extra = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
             "Referrer-Policy": "same-origin"}
    if rid:
        extra["X-Request-ID"] = rid
    if response.headers.get("content-type", "").startswith("text/html"):
        extra["Content-Security-Policy"] = CSP
    for name, value in extra.items():
        if name not in response.headers:
            response.headers[name] = value
    return response
