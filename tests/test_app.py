"""The application shell: health, security headers, size limit, error shapes, database outage, logs."""

from __future__ import annotations

import json
import logging
import re
import time

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from xinyong.app import create_app
from xinyong.config import Settings
from xinyong.db import Database
from xinyong.logging_setup import SafeFilter, SafeFormatter, sanitize
from xinyong.middleware import CSP

RID = re.compile(r"^[0-9a-f]{32}$")
ID_NUMBER = "11010519491231002X"
GENERIC_500 = "internal error; quote the request id"


def _settings(tmp_path, **kw) -> Settings:
    return Settings(database_url="sqlite:///unused.db", key_file=tmp_path / "keys.json",
                    checkpoint_dir=tmp_path / "cp", audit_seal_interval_seconds=0, **kw)


def assert_api_headers(r) -> None:
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    assert RID.match(r.headers["x-request-id"])


# ---- health and headers ----------------------------------------------------------------------

def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["version"]
    assert_api_headers(r)


def test_security_headers_on_api_responses(client, world):
    ok = client.get("/api/v1/me", headers=world.bearer(world.key_a))
    refused = client.get("/api/v1/me")
    missing = client.get("/api/v1/no-such-thing", headers=world.bearer(world.key_a))
    for r in (ok, refused, missing):
        assert_api_headers(r)
        assert r.headers["referrer-policy"] == "same-origin"
    assert (ok.status_code, refused.status_code, missing.status_code) == (200, 401, 404)
    assert missing.json()["code"] == "not_found" and missing.json()["request_id"] == missing.headers["x-request-id"]
    assert len({r.headers["x-request-id"] for r in (ok, refused, missing)}) == 3


def test_pages_get_a_csp(client):
    r = client.get("/api/docs")
    assert r.status_code == 200 and "frame-ancestors 'none'" in r.headers["content-security-policy"]
    r = client.get("/login")
    if r.headers.get("content-type", "").startswith("text/html"):
        assert r.headers["content-security-policy"] == CSP
        assert r.headers["x-frame-options"] == "DENY"


def test_api_docs_load_only_the_platforms_own_files(client):
    """/api/docs works on an intranet without internet: Swagger UI's files are served by the platform
    (fastapi-offline's), the page names no other host, and its CSP allows none."""
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "://" not in page.text and "//cdn" not in page.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {"/static/swagger-ui/swagger-ui-bundle.js", "/static/swagger-ui/swagger-ui.css",
            "/static/favicon.svg"} <= set(assets)
    assert "url: '/api/openapi.json'" in page.text
    types = {".js": "javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for url in assets:
        assert url.startswith("/") and not url.startswith("//")
        r = client.get(url)
        assert r.status_code == 200 and len(r.content) > 0, url
        assert types[url[url.rindex("."):]] in r.headers["content-type"], (url, r.headers["content-type"])
    assert b"SwaggerUIBundle" in client.get("/static/swagger-ui/swagger-ui-bundle.js").content
    csp = page.headers["content-security-policy"]
    assert "https:" not in csp and "http:" not in csp and "://" not in csp and "*" not in csp
    for directive in csp.split(";"):
        sources = directive.split()[1:]
        assert set(sources) <= {"'self'", "'none'", "'unsafe-inline'", "data:"}, directive
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert client.get("/api/redoc").status_code == 404  # not served


def test_id_numbers_never_travel_in_paths_or_query_strings(client):
    """The OpenAPI contract: no path or query parameter carries an ID number."""
    spec = client.get("/api/openapi.json").json()
    for path, ops in spec["paths"].items():
        assert "id_number" not in path
        for op in ops.values():
            for p in op.get("parameters", []):
                assert "id_number" not in p["name"] and "idcard" not in p["name"].lower(), (path, p)


def test_the_login_redirect_never_carries_an_id_number_and_keeps_the_path_whole(client):  # type: ignore[no-untyped-def]
    """A page asked for without a session sends the browser to the login page with the page to come
    back to: an ID number in that path (a client put one there) is not carried on into the query
    string, and a path holding ``&`` comes back whole (encoded)."""
    r = client.get(f"/workspace/records/{ID_NUMBER}", follow_redirects=False)
    assert r.status_code == 303 and ID_NUMBER not in r.headers["location"], r.headers["location"]
    assert r.headers["location"] == "/login?next=/"
    r = client.get("/workspace/records/a&b=c", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/workspace/records/a%26b%3Dc"


def test_an_id_number_sent_in_a_query_string_is_refused(client, world, db, caplog):  # type: ignore[no-untyped-def]
    """A client that puts an ID number in the URL (where every proxy, browser history and log keeps
    it) is refused before anything reads the request, and told to send it in the body; the number is
    not repeated in the answer or the log. Other long numbers pass."""
    from urllib.parse import quote

    from tests.support import new_id_number

    from xinyong.measures.models import Check

    number = new_id_number()
    caplog.set_level(logging.INFO)
    for url in (f"/api/v1/checks?id_number={number}", f"/api/v1/checks?q=x%20{quote(number)}&scenario=awards",
                f"/api/v1/catalog/items?who={number.lower()}",
                f"/api/v1/catalog/items?who={quote(''.join(chr(ord(c) + 0xFEE0) for c in number))}"):  # full-width
        r = client.post(url, json={"id_number": number, "scenario": "awards"}, headers=world.bearer(world.key_a)) \
            if "checks" in url else client.get(url, headers=world.bearer(world.key_a))
        assert r.status_code == 422, (url, r.text)
        assert r.json()["code"] == "id_number_in_url" and r.json()["errors"][0]["field"] == "query"
        assert number not in r.text and r.headers["x-request-id"] == r.json()["request_id"]
        assert r.headers["x-content-type-options"] == "nosniff"
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("xinyong")]  # (httpx logs the client's URL)
    assert not any(number in m for m in ours) and any("ID number in its query string" in m for m in ours)
    with db.session() as s:
        assert s.query(Check).count() == 0  # refused before the check ran
    # an 18-digit number that is no ID number (a wrong check digit) is any other parameter
    other = number[:-1] + ("0" if number[-1] != "0" else "1")
    assert client.get(f"/api/v1/catalog/items?who={other}", headers=world.bearer(world.key_a)).status_code == 200


# ---- request validation ----------------------------------------------------------------------

def test_malformed_json_is_a_422_with_fields(client, world):
    r = client.post("/api/v1/subjects/lookup", content=b"{not json", headers={
        "content-type": "application/json", **world.bearer(world.key_a)})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation_error" and body["errors"][0]["code"] == "json_invalid"
    assert_api_headers(r)


# ---- body size -------------------------------------------------------------------------------

@pytest.fixture
def small_app(db, vault, tmp_path):
    return create_app(_settings(tmp_path, max_request_bytes=200), database=db, vault=vault)


def test_declared_body_over_the_limit_is_413(small_app, world):
    with TestClient(small_app, base_url="https://testserver") as c:
        r = c.post("/api/v1/subjects/lookup", content=b"x" * 201,
                   headers={"content-type": "application/json", **world.bearer(world.key_a)})
        assert r.status_code == 413
        assert r.json()["code"] == "too_large" and r.json()["request_id"] == r.headers["x-request-id"]
        assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("body", "too_large")]  # the error shape
        assert r.headers["x-content-type-options"] == "nosniff"
        r = c.post("/api/v1/subjects/lookup", content=b"x", headers={
            "content-type": "application/json", "content-length": "-1", **world.bearer(world.key_a)})
        assert r.status_code in (400, 413)


def test_streamed_body_over_the_limit_is_413(small_app, world):
    def chunks():
        for _ in range(10):
            yield b"x" * 50

    with TestClient(small_app, base_url="https://testserver") as c:
        r = c.post("/api/v1/subjects/lookup", content=chunks(),
                   headers={"content-type": "application/json", **world.bearer(world.key_a)})
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "too_large"
    assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("body", "too_large")]
    assert_api_headers(r)


def _too_large_entries(db, action: str = "records.push") -> list:  # type: ignore[no-untyped-def]
    from tests.support import audit_entries

    return [e for e in audit_entries(db, action) if e.outcome == "failed"]


def test_a_push_over_the_limit_is_registered_for_its_key(small_app, world, db):  # type: ignore[no-untyped-def]
    """A body over the limit is refused before routing and never read; the key in its header names the
    caller: one ``records.push`` entry, failed, code ``too_large``, the size — the answer unchanged."""
    json_h = {"content-type": "application/json"}

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"x" * 50

    with TestClient(small_app, base_url="https://testserver") as c:
        declared = c.post("/api/v1/records", content=b"x" * 201, headers={**json_h, **world.bearer(world.key_a)})
        streamed = c.post("/api/v1/records", content=chunks(), headers={**json_h, **world.bearer(world.key_a)})
        for r in (declared, streamed):
            assert r.status_code == 413, r.text
            assert (r.json()["code"], [(e["field"], e["code"]) for e in r.json()["errors"]]) == (
                "too_large", [("body", "too_large")])
            assert_api_headers(r)
    first, second = _too_large_entries(db)
    assert first.details == {"channel": "api", "code": "too_large", "field": "body", "errors": 1, "bytes": 201}
    assert second.details["code"] == "too_large" and second.details["bytes"] > 200  # as read when the limit passed
    for e in (first, second):
        assert (e.object_type, e.object_id, e.department_id, e.actor_type) == (
            "department", str(world.dept_a.id), world.dept_a.id, "apikey")


def test_a_body_over_the_limit_of_no_known_caller_leaves_no_entry(small_app, world, db):  # type: ignore[no-untyped-def]
    """No key, an unknown key, a session without its CSRF header, a caller not allowed the route, a
    route that registers no refused body: the same 413, no entry of the route's (nor of the records'
    for a check, whose own 413 is registered as a check's: tests/measures/test_too_large_refusals.py)."""
    json_h = {"content-type": "application/json"}
    big = b"x" * 201
    with TestClient(small_app, base_url="https://testserver") as c:
        answers = [c.post("/api/v1/records", content=big, headers=json_h),
                   c.post("/api/v1/records", content=big, headers={**json_h, "Authorization": "Bearer xy_nope_nope"}),
                   c.post("/api/v1/departments", content=big, headers={**json_h, **world.bearer(world.key_a)}),
                   c.post("/api/v1/checks", content=big, headers={**json_h, **world.bearer(world.key_a)})]
        from tests.support import login

        login(c, "officer_a")
        answers.append(c.post("/api/v1/records", content=big, headers=json_h))  # no X-CSRF-Token: not told apart
    assert [r.status_code for r in answers] == [413] * 5
    assert all(r.json()["code"] == "too_large" for r in answers)
    assert _too_large_entries(db) == [] and _too_large_entries(db, "department.create") == []


def test_a_body_over_the_limit_from_a_session_without_its_csrf_header_asks_the_database_nothing(  # type: ignore[no-untyped-def]
        small_app, world, db):
    """A session whose CSRF token is not in a header is never told apart (its body over the limit is
    not registered), so its cookie is not even looked up — declared too large or streamed past the
    limit: an unauthenticated flood of such 413s with a made-up session cookie costs no query (on
    SQLite, no write lock)."""
    from tests.support import login

    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    json_h = {"content-type": "application/json"}
    with TestClient(small_app, base_url="https://testserver") as c:
        login(c, "officer_a")
        event.listen(db.connection, "before_cursor_execute", count)
        try:
            answers = [c.post("/api/v1/records", content=b"x" * 201, headers=json_h)]  # its own session
            c.cookies.set("xy_session", "made-up")
            answers.append(c.post("/api/v1/records", content=b"x" * 201, headers=json_h))
            answers.append(c.post("/api/v1/records", content=iter([b"x" * 150] * 2), headers=json_h))  # streamed
        finally:
            event.remove(db.connection, "before_cursor_execute", count)
    assert [r.status_code for r in answers] == [413, 413, 413]
    assert statements == []
    assert _too_large_entries(db) == []


def test_a_body_over_the_limit_with_a_made_up_key_waits_for_no_writer(vault, tmp_path, fresh_db_url):  # type: ignore[no-untyped-def]
    """The caller of a body over the limit is looked up in a read unit of work: a made-up key (of the
    right shape: it is looked up) takes no write lock, so while a writer holds it (a department's
    batch) the 413 is answered at once — a push's own key lookup is a read too — instead of after
    the busy timeout (SQLite; on PostgreSQL reads never wait for writers)."""
    import sqlite3

    database = Database(fresh_db_url)
    app = create_app(_settings(tmp_path, max_request_bytes=200), database=database, vault=vault)
    writer = sqlite3.connect(fresh_db_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        with TestClient(app, base_url="https://testserver") as c:
            writer.execute("BEGIN IMMEDIATE")  # the write lock, held
            t = time.monotonic()
            r = c.post("/api/v1/records", content=b"x" * 201, headers={
                "content-type": "application/json", "Authorization": "Bearer xy_0123456789ab_made-up"})
            waited = time.monotonic() - t
            writer.execute("ROLLBACK")
    finally:
        writer.close()
        database.dispose()
    assert r.status_code == 413 and r.json()["code"] == "too_large"
    assert waited < 3, waited


def test_other_declared_routes_register_a_body_over_the_limit(small_app, world, db):  # type: ignore[no-untyped-def]
    """The route's own action: an upload's file, an admin's department (a session, its CSRF header)."""
    from tests.support import login

    with TestClient(small_app, base_url="https://testserver") as c:
        r = c.post("/api/v1/imports", files={"file": ("a.csv", b"x" * (200 + 70 * 1024))}, data={"item": "x"},
                   headers=world.bearer(world.key_a))
        assert r.status_code == 413 and [e["field"] for e in r.json()["errors"]] == ["file"]
        csrf = login(c, "admin")
        r = c.post("/api/v1/departments", content=b"x" * 300,
                   headers={"content-type": "application/json", "X-CSRF-Token": csrf})
        assert r.status_code == 413
    [upload] = _too_large_entries(db, "imports.create")
    assert (upload.details["code"], upload.details["field"], upload.details["bytes"] > 200 + 64 * 1024) == (
        "too_large", "file", True)
    [dept] = _too_large_entries(db, "department.create")
    assert dept.details == {"reason": "too_large", "field": "body", "errors": 1, "bytes": 300}
    assert dept.actor_id == str(world.users["admin"].id)


def test_body_at_the_limit_is_accepted(small_app, world):
    body = json.dumps({"id_number": world.other_id_number}).encode()
    body += b" " * (200 - len(body))
    with TestClient(small_app, base_url="https://testserver") as c:
        r = c.post("/api/v1/subjects/lookup", content=body,
                   headers={"content-type": "application/json", **world.bearer(world.key_a)})
    assert r.status_code == 200, r.text


# ---- unexpected errors -----------------------------------------------------------------------

def test_unexpected_exception_is_a_generic_500_with_a_request_id(app, world, caplog):
    def boom() -> None:
        raise RuntimeError(f"secret internals of {ID_NUMBER}")

    app.add_api_route("/api/v1/test-boom", boom)
    with caplog.at_level(logging.ERROR, logger="xinyong"), \
            TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        r = c.get("/api/v1/test-boom")
    assert r.status_code == 500
    body = r.json()
    assert body["code"] == "internal_error" and GENERIC_500 in body["message"]
    assert RID.match(body["request_id"]) and body["request_id"] == r.headers["x-request-id"]
    for leak in ("Traceback", "RuntimeError", "secret internals", ID_NUMBER, "test_app.py"):
        assert leak not in r.text
    assert_api_headers(r)
    logged = [rec for rec in caplog.records if rec.exc_info]
    assert logged and body["request_id"] in logged[-1].getMessage()
    text = SafeFormatter("%(message)s").format(logged[-1])
    assert "secret internals" in text and ID_NUMBER not in text


def test_no_error_body_carries_an_id_number_in_the_clear(app, world):  # type: ignore[no-untyped-def]
    """Routes mask what they echo; the error body masks again whatever one forgot (defence in depth,
    as the log formatter and the audit details do): the message and every error's field and message."""
    from xinyong.errors import ApiError

    def echo() -> None:
        raise ApiError(422, "invalid", f"没有 {ID_NUMBER} / no {ID_NUMBER}",
                       [{"field": f"fields.{ID_NUMBER}", "code": "unknown_field", "message": f"{ID_NUMBER}?"}])

    app.add_api_route("/api/v1/test-echo", echo)
    with TestClient(app, base_url="https://testserver") as c:
        r = c.get("/api/v1/test-echo")
    assert r.status_code == 422
    masked = ID_NUMBER[:6] + "********" + ID_NUMBER[-4:]
    assert ID_NUMBER not in r.text and r.json()["message"] == f"没有 {masked} / no {masked}"
    assert r.json()["errors"] == [{"field": f"fields.{masked}", "code": "unknown_field", "message": f"{masked}?"}]


def test_no_html_error_page_shows_an_id_number_in_the_clear(app, world):  # type: ignore[no-untyped-def]
    """As the JSON body (above), the HTML error page masks again what a page route or a service
    echoed of the user's input without masking it: the message and every error's field and message,
    whichever handler draws the page (a domain refusal, an HTTPException's detail)."""
    from fastapi import HTTPException

    from xinyong.domain_errors import BilingualError

    async def refuse(request: Request) -> None:  # a page whose service echoes a typed value as it is
        typed = str((await request.form()).get("code", ""))
        how = request.query_params.get("how")
        if how == "domain":
            raise BilingualError("unknown_code", f"没有代码 {typed}", f"no code {typed}", f"fields.{typed}")
        if how == "detail":
            raise HTTPException(409, detail={"code": "conflict", "message": f"代码 {typed} 已存在 / {typed} exists"})
        raise HTTPException(400, detail=f"代码 {typed} 有误 / bad code {typed}")

    app.add_api_route("/test-refuse-page", refuse, methods=["POST"])
    masked = ID_NUMBER[:6] + "********" + ID_NUMBER[-4:]
    with TestClient(app, base_url="https://testserver") as c:
        for how, status in (("domain", 422), ("detail", 409), ("text", 400)):
            r = c.post(f"/test-refuse-page?how={how}", data={"code": ID_NUMBER}, headers={"accept": "text/html"})
            assert r.status_code == status and r.headers["content-type"].startswith("text/html"), (how, r.text[:300])
            assert 'class="error-page"' in r.text, how
            assert ID_NUMBER not in r.text and ID_NUMBER[6:14] not in r.text, how
            assert masked in r.text, how
        r = c.post("/test-refuse-page?how=domain", data={"code": ID_NUMBER}, headers={"accept": "text/html"})
        assert f"<code>fields.{masked}</code>" in r.text and f"没有代码 {masked} / no code {masked}" in r.text


def test_unexpected_exception_on_a_page_is_a_page_without_a_trace(app):
    def boom() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/test-boom-page", boom)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        r = c.get("/test-boom-page", headers={"accept": "text/html"})
    assert r.status_code == 500
    assert "secret internals" not in r.text and "Traceback" not in r.text
    assert r.headers["cache-control"] == "no-store" and RID.match(r.headers["x-request-id"])


# ---- database outage ---------------------------------------------------------------------------

def test_database_unreachable_fails_fast_with_503(vault, tmp_path, world):
    app = create_app(_settings(tmp_path), database=Database("postgresql+psycopg://nobody@127.0.0.1:1/x"),
                     vault=vault)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        for path, headers in (("/api/v1/me", world.bearer(world.key_a)), ("/healthz", {}),
                              ("/api/v1/departments", world.bearer(world.key_a))):
            t = time.monotonic()
            r = c.get(path, headers=headers)
            assert time.monotonic() - t < 3, path
            assert r.status_code == 503, (path, r.text)
            assert r.json()["code"] == "database_unavailable"
            assert r.headers["retry-after"]
            assert "psycopg" not in r.text and "127.0.0.1" not in r.text and "nobody" not in r.text


@pytest.mark.parametrize("down", ["unreachable", "sqlite_cannot_open"])
def test_a_refused_body_that_cannot_be_registered_is_503_not_500(vault, tmp_path, world, fresh_db_url, down):
    """A write route registers a body the schema refuses (auth.deps.register_refused_body); with the
    database out of reach that entry cannot be written, and the answer is the outage's, not a 500."""
    import sqlite3

    if down == "unreachable":
        database = Database("postgresql+psycopg://nobody@127.0.0.1:1/x")
    else:
        database = Database(fresh_db_url)

        @event.listens_for(database.engine, "do_connect")
        def _refuse(*_args):  # noqa: ANN202
            raise sqlite3.OperationalError("unable to open database file")

    app = create_app(_settings(tmp_path), database=database, vault=vault)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        for body in (b"not json", b'{"records": "several"}'):
            r = c.post("/api/v1/records", content=body,
                       headers={**world.bearer(world.key_a), "content-type": "application/json"})
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "database_unavailable" and r.headers["retry-after"]
    database.dispose()


def test_a_body_over_the_limit_that_cannot_be_registered_is_still_the_413(vault, tmp_path, world):  # type: ignore[no-untyped-def]
    """Nothing was read or written: with the database out of reach the 413 is answered all the same
    (the failed registration logged), never a 500."""
    database = Database("postgresql+psycopg://nobody@127.0.0.1:1/x")
    app = create_app(_settings(tmp_path, max_request_bytes=200), database=database, vault=vault)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        r = c.post("/api/v1/records", content=b"x" * 201,
                   headers={**world.bearer(world.key_a), "content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "too_large"
    database.dispose()


def test_a_streamed_body_over_the_limit_that_cannot_be_registered_is_still_the_413(vault, tmp_path, world):  # type: ignore[no-untyped-def]
    """The same for a body sent without a Content-Length, refused by the app's handler once the bytes
    read pass the limit: its registration failing is logged, the answer is the 413, not a 500."""
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"x" * 50

    database = Database("postgresql+psycopg://nobody@127.0.0.1:1/x")
    app = create_app(_settings(tmp_path, max_request_bytes=200), database=database, vault=vault)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        r = c.post("/api/v1/records", content=chunks(),
                   headers={**world.bearer(world.key_a), "content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "too_large" and [e["field"] for e in r.json()["errors"]] == ["body"]
    assert_api_headers(r)
    database.dispose()


def test_service_recovers_by_itself_when_the_database_returns(fresh_db_url, vault, tmp_path):
    import sqlite3

    database = Database(fresh_db_url)
    state = {"down": True}

    @event.listens_for(database.engine, "do_connect")
    def _maybe_refuse(*_args):  # noqa: ANN202
        if state["down"]:
            raise sqlite3.OperationalError("unable to open database file")

    app = create_app(_settings(tmp_path), database=database, vault=vault)
    with TestClient(app, base_url="https://testserver") as c:
        assert c.get("/healthz").status_code == 503
        r = c.get("/api/v1/me", headers={"Authorization": "Bearer xy_000000000000_x"})
        assert r.status_code == 503 and r.json()["code"] == "database_unavailable"
        state["down"] = False
        assert c.get("/healthz").status_code == 200
        assert c.get("/api/v1/me", headers={"Authorization": "Bearer xy_000000000000_x"}).status_code == 401
    database.dispose()


# ---- logging -------------------------------------------------------------------------------------

def _record(msg: str, *args, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("xinyong", logging.INFO, __file__, 1, msg, args, exc_info)


def test_safe_formatter_masks_id_numbers():
    fmt = SafeFormatter("%(levelname)s %(message)s")
    out = fmt.format(_record("lookup for %s and %s", ID_NUMBER, ID_NUMBER.lower()))
    assert ID_NUMBER not in out and ID_NUMBER.lower() not in out
    assert out == "INFO lookup for 110105********002X and 110105********002X"
    out = fmt.format(_record(f"sfz{ID_NUMBER}abc"))
    assert ID_NUMBER not in out


@pytest.mark.parametrize("breaker", ["\n", "\r\n", "\r", "\x85", "\u2028", "\x0b", "\x0c"])
def test_safe_formatter_keeps_a_message_on_one_line(breaker):
    fmt = SafeFormatter("%(levelname)s %(message)s")
    out = fmt.format(_record("user %s logged in", f"bob{breaker}INFO admin logged in"))
    assert len(out.splitlines()) == 1
    assert out.startswith("INFO user bob\\x") or out.startswith("INFO user bob\\u")
    out = fmt.format(_record(f"literal{breaker}INFO forged"))
    assert len(out.splitlines()) == 1


def test_safe_formatter_escapes_terminal_escapes():
    out = SafeFormatter("%(message)s").format(_record("\x1b[2J\x1b[31mred\x00"))
    assert "\x1b" not in out and "\x00" not in out and "\\x1b[31mred" in out


def test_traceback_lines_cannot_pass_for_records():
    try:
        raise ValueError(f"bad\nINFO forged record {ID_NUMBER}")
    except ValueError:
        import sys

        rec = _record("failed", exc_info=sys.exc_info())
    out = SafeFormatter("%(levelname)s %(message)s").format(rec)
    first, *rest = out.split("\n")
    assert first == "INFO failed"
    assert rest and all(line.startswith("    | ") for line in rest)
    assert ID_NUMBER not in out


def test_safe_filter_for_foreign_handlers():
    rec = _record('%s - "GET %s HTTP/1.1" 200', "10.0.0.1", f"/x?q={ID_NUMBER}\r\nforged")
    assert SafeFilter().filter(rec)
    msg = rec.getMessage()
    assert ID_NUMBER not in msg and "\r" not in msg and "\n" not in msg


def test_a_percent_encoded_id_number_in_a_url_is_masked_in_the_access_log():
    """The access log quotes the query string as sent: an ID number percent-encoded there (%31%32…,
    or typed in full-width digits into a search form, which the browser always encodes) is masked
    as a plain one is; other encoded text is left as it was."""
    from urllib.parse import quote, unquote

    wide = "".join(chr(ord(c) + 0xFEE0) for c in ID_NUMBER)
    for encoded in ("".join(f"%{ord(c):02X}" for c in ID_NUMBER), quote(wide), quote(f"x {ID_NUMBER}")):
        rec = _record('%s - "GET %s HTTP/1.1" 422', "10.0.0.1", f"/lists/find?q={encoded}&page=2")
        assert SafeFilter().filter(rec)
        msg = unquote(rec.getMessage())
        assert ID_NUMBER not in msg and wide not in msg and "********" in msg and "&page=2" in msg
    assert sanitize("GET /x?q=%E5%BC%A0%E4%B8%89%0A&n=12") == "GET /x?q=%E5%BC%A0%E4%B8%89%0A&n=12"


def test_a_long_query_string_with_a_stray_percent_is_sanitised_in_linear_time():
    """An access log line any client writes: 16 KB of letters and a '%' that escapes nothing (the most
    a request line holds). The percent-encoded stretches' pattern backtracked over every start (6 s a
    line, on the event loop, twice: the filter and the formatter); it is one pass now."""
    import time

    line = 'GET /x?q=' + "a" * 16_000 + '% HTTP/1.1'
    started = time.perf_counter()
    assert sanitize(line) == line
    assert time.perf_counter() - started < 1.0


def test_an_api_key_in_a_url_is_masked_in_the_access_log():
    """A client that sent its key as ?api_key=…: the access log keeps the key's prefix (which key)
    and not its secret."""
    secret = "xy_0a1b2c3d4e5f_Zq-9_xY8wV7uT6sR5qP4oN3mL2kJ1iH0gF"
    rec = _record('%s - "GET %s HTTP/1.1" 401', "10.0.0.1", f"/api/v1/catalog/items?api_key={secret}")
    assert SafeFilter().filter(rec)
    msg = rec.getMessage()
    assert secret not in msg and "Zq-9" not in msg and "api_key=xy_0a1b2c3d4e5f_***" in msg
    assert sanitize(f"Bearer {secret}") == "Bearer xy_0a1b2c3d4e5f_***"


def test_sanitize_is_idempotent_on_plain_text():
    assert sanitize("普通的一行 plain line 12345") == "普通的一行 plain line 12345"


def test_a_missing_table_is_a_500_not_a_503(app, world, db):
    """503 means "retry later" (connection trouble, a locked database); a broken schema is a bug."""
    from fastapi.testclient import TestClient
    from sqlalchemy import text

    db.connection.execute(text("ALTER TABLE departments RENAME TO departments_gone"))
    client = TestClient(app, raise_server_exceptions=False)
    r = client.get("/api/v1/departments", headers={"Authorization": f"Bearer {world.key_a}"})
    assert r.status_code == 500
    assert r.json()["code"] == "internal_error" and "Traceback" not in r.text


# ---- express routes ----------------------------------------------------------------------------

@pytest.fixture
def express_app(app):
    """An echo route declared as usual, plus an express handler for it that answers unless told not to."""
    async def echo(request: Request) -> dict[str, str]:
        return {"declared": (await request.body()).decode()}

    async def express(app_, headers, body):  # type: ignore[no-untyped-def]
        seen.append(body)
        if body == b"decline":
            return None
        if body == b"db-down":
            raise OperationalError("SELECT 1", None, ConnectionError("gone"))
        if body == b"boom":
            raise RuntimeError(f"secret internals of {ID_NUMBER}")
        return 201, json.dumps({"express": body.decode(), "client": headers.get(b"x-who", b"").decode()}).encode(), \
            [(b"x-extra", b"1")]

    seen: list[bytes] = []
    app.add_api_route("/api/v1/test-echo", echo, methods=["POST"])
    app.express_routes[("POST", "/api/v1/test-echo")] = express
    app.state.express_seen = seen
    return app


def test_express_route_answers_with_the_stacks_headers(express_app):
    with TestClient(express_app, base_url="https://testserver") as c:
        r = c.post("/api/v1/test-echo", content=b"hello", headers={"x-who": "me"})
        get = c.get("/api/v1/test-echo")  # another method: the stack (405)
    assert r.status_code == 201 and r.json() == {"express": "hello", "client": "me"}
    assert r.headers["x-extra"] == "1" and r.headers["content-type"] == "application/json"
    assert_api_headers(r)
    assert get.status_code == 405 and express_app.state.express_seen == [b"hello"]


def test_declined_express_request_takes_the_declared_route_with_its_body(express_app):
    with TestClient(express_app, base_url="https://testserver") as c:
        declined = c.post("/api/v1/test-echo", content=b"decline")
        db_down = c.post("/api/v1/test-echo", content=b"db-down")  # the declared route answers (e.g. 503) itself
        big = c.post("/api/v1/test-echo", content=b"x" * 5000)  # larger than an express body: never read twice
    assert declined.status_code == 200 and declined.json() == {"declared": "decline"}
    assert db_down.status_code == 200 and db_down.json() == {"declared": "db-down"}
    assert big.status_code == 200 and big.json() == {"declared": "x" * 5000}
    assert_api_headers(declined)
    assert express_app.state.express_seen == [b"decline", b"db-down"]


def test_express_route_failure_is_the_generic_500(express_app, caplog):
    with caplog.at_level(logging.ERROR, logger="xinyong"), TestClient(express_app, base_url="https://testserver") as c:
        r = c.post("/api/v1/test-echo", content=b"boom")
    assert r.status_code == 500 and r.json()["code"] == "internal_error" and GENERIC_500 in r.json()["message"]
    assert r.json()["request_id"] == r.headers["x-request-id"]
    assert "secret internals" not in r.text and ID_NUMBER not in r.text
    assert_api_headers(r)
    assert any(r.json()["request_id"] in rec.getMessage() for rec in caplog.records if rec.exc_info)


def test_every_error_body_has_one_shape(client, world):  # type: ignore[no-untyped-def]
    """401, 403, 404 and 422 alike: code, message, errors (empty when no field is concerned) and
    request_id — the shape docs/integration.md promises for every error."""
    answers = [client.get("/api/v1/records"),  # no key
               client.get("/api/v1/records", headers={"Authorization": "Bearer xy_nope_nope"}),
               client.get("/api/v1/records/999999999", headers=world.bearer(world.key_a)),
               client.post("/api/v1/records", content=b"{", headers={**world.bearer(world.key_a),
                                                                     "Content-Type": "application/json"})]
    assert [r.status_code for r in answers] == [401, 401, 404, 422]
    for r in answers:
        body = r.json()
        assert set(body) >= {"code", "message", "errors", "request_id"}, body
        assert isinstance(body["errors"], list)
    assert answers[0].json()["errors"] == [] and answers[3].json()["errors"][0]["field"] == "body"


def test_a_json_body_without_its_content_type_is_told_so(client, world):  # type: ignore[no-untyped-def]
    """curl -d without -H 'Content-Type: application/json' sends a form type: the refusal points at
    the header, not only at "a valid dictionary"."""
    body = '{"id_number": "x", "scenario": "awards"}'
    for ctype in ("application/x-www-form-urlencoded", "text/plain"):
        r = client.post("/api/v1/checks", content=body, headers={**world.bearer(world.key_a), "Content-Type": ctype})
        assert r.status_code == 422, r.text
        [err] = [e for e in r.json()["errors"] if e["field"] == "body"]
        assert "Content-Type: application/json" in err["message"] and " / " in err["message"]
    ok = client.post("/api/v1/checks", content=b"[1]", headers={**world.bearer(world.key_a),
                                                               "Content-Type": "application/json"})
    assert ok.status_code == 422 and "Content-Type" not in ok.text


def test_every_response_carries_hsts_and_the_security_headers_in_production(db, vault, settings, world):
    """Outside development every answer tells the browser to keep to HTTPS, also those made outside
    SecurityMiddleware: the URL refusals (NUL, an ID number in the query) and express answers,
    before it; the 500 rendered after an exception escaped it; its own 413. They lacked HSTS (and
    the 500 its ``Pragma``)."""
    prod = Settings(**{**settings.model_dump(), "environment": "production"})
    app = create_app(prod, database=db, vault=vault)  # type: ignore[arg-type]

    async def express(app_, headers, body):  # type: ignore[no-untyped-def]
        return 200, b'{"express": true}', []

    app.express_routes[("POST", "/api/v1/test-echo")] = express

    @app.get("/boom-for-test")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        answers = {
            "nul": c.get("/api/v1/catalog/items/x%00y"),
            "id_in_url": c.get(f"/api/v1/records?q={ID_NUMBER}"),
            "express": c.post("/api/v1/test-echo", content=b"{}"),
            "500": c.get("/boom-for-test", headers={"Accept": "application/json"}),
            "500_page": c.get("/boom-for-test", headers={"Accept": "text/html"}),
            "413": c.post("/api/v1/records", content=b"x", headers={"Content-Length": str(10**9)}),
            "api": c.get("/api/v1/me"),
        }
    expected = {"nul": 422, "id_in_url": 422, "express": 200, "500": 500, "500_page": 500, "413": 413, "api": 401}
    assert {k: r.status_code for k, r in answers.items()} == expected
    for name, r in answers.items():
        assert r.headers.get("strict-transport-security") == "max-age=31536000", name
        assert r.headers.get_list("strict-transport-security") == ["max-age=31536000"], name  # once
        assert_api_headers(r)
        assert r.headers["pragma"] == "no-cache", name
    assert "script-src 'self'" in answers["500_page"].headers["content-security-policy"]


def test_development_answers_carry_no_hsts(client):
    for r in (client.get("/api/v1/catalog/items/x%00y"), client.get("/api/v1/me")):
        assert "strict-transport-security" not in r.headers
        assert_api_headers(r)
