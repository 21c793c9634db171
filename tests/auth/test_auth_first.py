"""A body refused before the route's dependencies run (not JSON, not UTF-8, a multipart form that
cannot be read: FastAPI reads the body first) is refused for its caller first: a missing or refused
credential gets the 401 or 403 a good body gets; a caller let through gets the body's 422, as before."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from tests.support import SYSTEM, audit_entries, login

from xinyong.auth.models import ApiKey, WebSession
from xinyong.auth.service import revoke_api_key
from xinyong.db import utcnow

JSON = {"content-type": "application/json"}
NOT_JSON = b"{nope"
NOT_UTF8 = b'{"records": [{"item": "\xff\xfe"}]}'


def refused(db, *actions: str) -> list:  # type: ignore[no-untyped-def]
    """The refusals (not the fixture's own successful entries) registered under ``actions``."""
    return [e for e in audit_entries(db, *actions) if e.outcome != "ok"]


def _error(r, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code, body
    assert set(body) == {"code", "message", "errors", "request_id"} and body["request_id"] == r.headers["x-request-id"]
    return body


@pytest.mark.parametrize("content", [NOT_JSON, NOT_UTF8])
@pytest.mark.parametrize("path", ["/api/v1/records", "/api/v1/departments", "/api/v1/subjects/lookup"])
def test_no_or_a_refused_key_is_told_so_before_the_body(client, world, db, content, path):  # type: ignore[no-untyped-def]
    for headers, code in (({}, "unauthenticated"), ({"Authorization": "Bearer xy_nosuchkey000_abc"}, "key_invalid"),
                          ({"Authorization": "Basic abc"}, "bad_authorization")):
        _error(client.post(path, content=content, headers={**JSON, **headers}), 401, code)
    assert refused(db, "records.push", "department.create", "subject.lookup") == []


def test_a_revoked_key_is_told_so_and_registered_once(client, world, db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        revoke_api_key(s, key=s.get(ApiKey, world.key_b_row.id), actor=SYSTEM)
    _error(client.post("/api/v1/records", content=NOT_JSON, headers={**JSON, **world.bearer(world.key_b)}),
           401, "key_revoked")
    assert [(e.outcome, e.object_id, e.details["reason"]) for e in audit_entries(db, "auth.apikey")] == [
        ("denied", str(world.key_b_row.id), "revoked")]
    assert refused(db, "records.push") == []


def test_a_caller_not_allowed_the_route_gets_its_403_registered(client, world, db):  # type: ignore[no-untyped-def]
    """A department's key on an admin route, an auditor pushing: 403 forbidden, ``auth.forbidden`` —
    as with a good body; no entry of the route's action."""
    _error(client.post("/api/v1/departments", content=NOT_JSON, headers={**JSON, **world.bearer(world.key_a)}),
           403, "forbidden")
    csrf = login(client, "auditor")
    _error(client.post("/api/v1/records", content=NOT_UTF8, headers={**JSON, "X-CSRF-Token": csrf}), 403, "forbidden")
    assert [e.details["permission"] for e in audit_entries(db, "auth.forbidden")] == ["departments.manage",
                                                                                       "records.push"]
    assert refused(db, "records.push", "department.create") == []


def test_a_session_without_its_csrf_token_gets_the_csrf_refusal(client, world, db):  # type: ignore[no-untyped-def]
    login(client, "officer_a")
    _error(client.post("/api/v1/records", content=NOT_JSON, headers=JSON), 403, "csrf")
    assert len(audit_entries(db, "auth.csrf")) == 1 and refused(db, "records.push") == []


def test_a_stale_admin_session_is_asked_for_its_password_first(client, world, db):  # type: ignore[no-untyped-def]
    csrf = login(client, "admin")
    with db.session() as s:
        s.execute(update(WebSession).values(authenticated_at=utcnow() - timedelta(hours=1)))
    _error(client.post("/api/v1/departments", content=NOT_JSON, headers={**JSON, "X-CSRF-Token": csrf}),
           403, "step_up_required")
    assert len(audit_entries(db, "auth.step_up_required")) == 1 and refused(db, "department.create") == []


def test_an_upload_that_cannot_be_read_is_refused_for_a_missing_key_first(client, world, db):  # type: ignore[no-untyped-def]
    multipart = {"content-type": "multipart/form-data"}
    _error(client.post("/api/v1/imports", content=b"--x\r\n", headers=multipart), 401, "unauthenticated")
    body = _error(client.post("/api/v1/imports", content=b"--x\r\n", headers={**multipart, **world.bearer(world.key_a)}),
                  422, "validation_error")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("body", "body_unreadable")]


def test_a_caller_let_through_gets_the_same_422_as_before(client, world, db):  # type: ignore[no-untyped-def]
    """The valid caller's answer is unchanged, its refused body registered as before."""
    h = {**JSON, **world.bearer(world.key_a)}
    body = _error(client.post("/api/v1/records", content=NOT_JSON, headers=h), 422, "validation_error")
    assert body["message"] == "数据校验失败 / validation failed"
    assert body["errors"] == [{"field": "body", "code": "json_invalid",
                               "message": "JSON 格式错误（第 1 个字符处） / JSON decode error (at character 1)"}]
    body = _error(client.post("/api/v1/records", content=NOT_UTF8, headers=h), 422, "validation_error")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("body", "body_unreadable")]
    csrf = login(client, "admin")
    body = _error(client.post("/api/v1/departments", content=NOT_JSON, headers={**JSON, "X-CSRF-Token": csrf}),
                  422, "validation_error")
    assert body["errors"][0]["code"] == "json_invalid"
    assert [(e.outcome, e.details["code"]) for e in refused(db, "records.push")] == [
        ("failed", "json_invalid"), ("failed", "body_unreadable")]
    assert [e.details["reason"] for e in refused(db, "department.create")] == ["json_invalid"]
    assert audit_entries(db, "auth.forbidden", "auth.apikey", "auth.csrf") == []
