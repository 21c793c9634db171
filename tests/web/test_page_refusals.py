"""A page request whose path, query or form field the schema refuses (FastAPI's 422 before the page
route runs: ``/admin/users?page=0``, ``/workspace/records/abc``, a form field over its length) is
answered with the error page naming the field, and leaves one entry of the page's action, ``failed``,
with the code, the field, how many errors and ``via: page`` — never the value sent — as the API's
refused reads and bodies do (tests/test_refused_reads.py). A caller the page refuses gets its 403
and leaves no entry of the page's; the login page's caller is unknown and leaves none."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support import audit_entries, login, new_id_number

# (who, method, URL, form, the page's action, the field refused)
CASES = [
    ("admin", "GET", "/admin/users?page=0", None, "users.list", "page"),
    ("admin", "POST", "/admin/users", {"username": "u" * 65}, "user.create", "username"),
    ("admin", "POST", "/admin/users/abc/disable", {}, "user.disable", "user_id"),
    ("admin", "POST", "/admin/departments", {"code": "c" * 33}, "department.create", "code"),
    ("admin", "POST", "/admin/apikeys/abc/revoke", {}, "apikey.revoke", "key_id"),
    ("admin", "GET", "/admin/scoring?version=0", None, "scoring.ruleset_read", "version"),
    ("admin", "GET", "/admin/calendar?year=abc", None, "calendar.read", "year"),
    ("admin", "POST", "/admin/calendar", {"note": "n" * 201}, "calendar.import", "note"),
    ("admin", "GET", "/admin/catalog/" + "x" * 65, None, "catalog.read", "code"),
    ("admin", "GET", "/admin/measures/measure/" + "x" * 65, None, "measures.read", "code"),
    ("officer_a", "GET", "/workspace/records/abc", None, "record.read", "record_id"),
    ("officer_a", "GET", "/workspace/records?item=" + "x" * 65, None, "records.list", "item"),
    ("officer_a", "POST", "/workspace/records/1/revoke", {"reason": "r" * 2001}, "record.revoke", "reason"),
    ("officer_a", "GET", "/workspace/imports?before_id=x", None, "imports.list", "before_id"),
    ("officer_a", "GET", "/workspace/imports/abc", None, "imports.read", "job_id"),
    ("officer_a", "GET", "/workspace/upload?item=" + "x" * 65, None, "imports.upload_form", "item"),
    ("officer_a", "GET", "/workspace/checks/batch/abc", None, "checks.batch_read", "job_id"),
    ("officer_a", "GET", "/lists/serious_dishonesty?before_id=" + "9" * 65, None, "list_entries.list", "before_id"),
    ("officer_a", "GET", "/list-entries/abc", None, "list_entry.read", "entry_id"),
    ("zhangsan", "GET", "/my/lists?defended=" + "x" * 100, None, "list_entries.list", "defended"),
    ("officer_a", "POST", "/reauth", {"password": "p" * 1025}, "auth.step_up", "password"),
]


@pytest.mark.parametrize(("who", "method", "url", "form", "action", "field"), CASES,
                         ids=[c[2][:40] for c in CASES])
def test_a_refused_page_request_is_registered(client, world, db, who: str, method: str, url: str,  # type: ignore[no-untyped-def]
                                              form: dict[str, str] | None, action: str, field: str) -> None:
    csrf = login(client, who)
    before = len(audit_entries(db, action))
    if method == "GET":
        r = client.get(url, headers={"Accept": "text/html"})
    else:
        r = client.post(url, data={**(form or {}), "csrf_token": csrf}, headers={"Accept": "text/html"},
                        follow_redirects=False)
    assert r.status_code == 422, r.text[:300]
    assert r.headers["content-type"].startswith("text/html")
    entries = audit_entries(db, action)[before:]
    assert len(entries) == 1, [(e.action, e.outcome, e.details) for e in entries]
    [entry] = entries
    assert entry.outcome == "failed" and entry.actor_label == who
    assert entry.details["field"] == field and entry.details["via"] == "page" and entry.details["errors"] >= 1
    assert entry.details["code"]
    for value in (form or {}).values():
        assert value not in str(entry.details)


def test_an_id_number_in_a_refused_path_is_never_registered(client, world, db):  # type: ignore[no-untyped-def]
    number = new_id_number()
    login(client, "officer_a")
    r = client.get(f"/workspace/records/{number}x", headers={"Accept": "text/html"})
    assert r.status_code == 422
    [entry] = audit_entries(db, "record.read")
    assert entry.details["field"] == "record_id" and number not in str(entry.details)


def test_a_caller_the_page_refuses_leaves_only_its_refusal(client, world, db):  # type: ignore[no-untyped-def]
    login(client, "officer_a")
    r = client.get("/admin/users?page=0", headers={"Accept": "text/html"})
    assert r.status_code == 403
    assert audit_entries(db, "users.list") == []
    assert [e.details["permission"] for e in audit_entries(db, "auth.forbidden")] == ["users.manage"]


def test_the_login_pages_unknown_caller_leaves_none(client, world, db):  # type: ignore[no-untyped-def]
    r = client.get("/login?next=" + "x" * 2001, headers={"Accept": "text/html"})
    assert r.status_code == 422
    assert audit_entries(db, "auth.login", "auth.step_up") == []


def _params(dependant: Any) -> bool:
    return bool(dependant.path_params or dependant.query_params or dependant.body_params) or any(
        _params(sub) for sub in dependant.dependencies)


def _reads_caller(dependant: Any) -> bool:
    from xinyong.auth.deps import current_principal

    return dependant.call is current_principal or any(_reads_caller(sub) for sub in dependant.dependencies)


def test_every_page_route_the_schema_may_refuse_registers_its_refusals(app):  # type: ignore[no-untyped-def]
    """Every page route (not ``/api``) with a path, query or form parameter and a caller declares what
    registers its refused requests — but the login's (an unknown caller) and the language switch's."""
    from fastapi.routing import APIRoute

    def routes(items: Any) -> Any:
        for route in items:
            original = getattr(route, "original_router", None)
            if original is not None:
                yield from routes(original.routes)
            elif isinstance(route, APIRoute):
                yield route

    declared = app.state.refused_bodies
    missing = [(method, route.path) for route in routes(app.routes) if not route.path.startswith("/api/")
               and route.path not in ("/login", "/lang") and _params(route.dependant)
               and _reads_caller(route.dependant) for method in route.methods if (method, route.path) not in declared]
    assert missing == []


# ---- a page upload over the size limit (413, refused before routing: its form is never read) ----------

@pytest.fixture
def small_app(db, vault, settings):  # type: ignore[no-untyped-def]
    from xinyong.app import create_app

    return create_app(settings.model_copy(update={"max_request_bytes": 200}), database=db, vault=vault)


def test_a_page_upload_over_the_limit_is_registered_as_the_apis(small_app, world, db):  # type: ignore[no-untyped-def]
    """The workspace's upload form over the limit: the same ``imports.create`` entry as the API's 413
    (``failed``, ``too_large``, ``file``, ``bytes``), for the session's officer — whose CSRF token is
    in the body, never read: a browser's same-origin request (its ``Origin``) stands for it. Another
    origin, or none, leaves no entry; the answer is the same 413 page in every case."""
    from fastapi.testclient import TestClient

    from xinyong.middleware import MULTIPART_MARGIN

    big = b"x" * (200 + MULTIPART_MARGIN + 10)
    with TestClient(small_app, base_url="https://testserver") as c:
        login(c, "officer_a")
        answers = []
        for origin in ("https://evil.example", None, "https://testserver"):
            headers = {"Accept": "text/html", **({"Origin": origin} if origin else {})}
            answers.append(c.post("/workspace/upload", files={"file": ("a.csv", big, "text/csv")},
                                  data={"item": "admin_penalty", "csrf_token": "t"}, headers=headers))
    assert [r.status_code for r in answers] == [413, 413, 413]
    assert all(r.headers["content-type"].startswith("text/html") for r in answers)
    [entry] = [e for e in audit_entries(db, "imports.create") if e.outcome == "failed"]
    assert entry.actor_label == "officer_a"
    assert (entry.details["code"], entry.details["field"], entry.details["bytes"] > len(big)) == (
        "too_large", "file", True)


def test_a_batch_comparison_page_upload_over_the_limit_is_registered_as_the_apis(small_app, world, db):  # type: ignore[no-untyped-def]
    """The other page that takes a file, the batch comparison's: over the limit, the API's entry
    (``checks.batch_create``, ``denied``, ``too_large``, its size) for the same-origin officer."""
    from fastapi.testclient import TestClient

    from xinyong.middleware import MULTIPART_MARGIN

    big = b"x" * (200 + MULTIPART_MARGIN + 10)
    with TestClient(small_app, base_url="https://testserver") as c:
        login(c, "officer_a")
        r = c.post("/workspace/checks/batch", files={"file": ("a.csv", big, "text/csv")},
                   data={"scenario": "awards", "csrf_token": "t"},
                   headers={"Accept": "text/html", "Origin": "https://testserver"})
    assert r.status_code == 413 and r.headers["content-type"].startswith("text/html")
    [entry] = audit_entries(db, "checks.batch_create")
    assert entry.outcome == "denied" and entry.actor_label == "officer_a"
    assert (entry.details["code"], entry.details["field"], entry.details["size"] > len(big)) == (
        "too_large", "file", True)


def _multipart(fields: dict[str, str], file: bytes) -> tuple[bytes, str]:
    boundary = "xyboundary7e1f"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
                 f"Content-Type: text/csv\r\n\r\n".encode() + file + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(("path", "fields", "action"), [
    ("/workspace/upload", {"item": "admin_penalty"}, "imports.create"),
    ("/workspace/checks/batch", {"scenario": "awards"}, "checks.batch_create"),
])
def test_a_page_upload_streamed_over_the_limit_is_registered_as_one_with_its_length(  # type: ignore[no-untyped-def]
        small_app, world, db, path, fields, action):
    """The same upload sent without ``Content-Length`` (chunked transfer encoding: the limit is passed
    while the form is read) is registered as the one that declares its length: one entry of the API's,
    ``too_large``, ``file``, the bytes read by then — for the same-origin officer; another origin none.
    The answer is the same 413 page."""
    from fastapi.testclient import TestClient

    from xinyong.middleware import MULTIPART_MARGIN

    body, ctype = _multipart({**fields, "csrf_token": "t"}, b"x" * (200 + MULTIPART_MARGIN + 10))

    def chunked():  # type: ignore[no-untyped-def]  # a generator: httpx sends it chunked, no Content-Length
        for i in range(0, len(body), 8192):
            yield body[i:i + 8192]

    with TestClient(small_app, base_url="https://testserver") as c:
        login(c, "officer_a")
        answers = [c.post(path, content=chunked(), headers={"Accept": "text/html", "Content-Type": ctype,
                                                             **({"Origin": origin} if origin else {})})
                   for origin in ("https://evil.example", None, "https://testserver")]
    assert [r.status_code for r in answers] == [413, 413, 413]
    assert all(r.headers["content-type"].startswith("text/html") for r in answers)
    assert all("文件过大" in r.text for r in answers)  # the file's message, as with its length
    [entry] = [e for e in audit_entries(db, action) if e.outcome in ("failed", "denied")]
    assert entry.actor_label == "officer_a"
    size = entry.details.get("bytes", entry.details.get("size"))
    assert (entry.details["code"], entry.details["field"], size > 200 + MULTIPART_MARGIN) == ("too_large", "file", True)
