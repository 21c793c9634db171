"""A body over the size limit on the check API's routes (413, never read) is registered for its
caller, as docs/integration.md § 1 says of every 413 whose key is valid: a batch upload as a refused
file (``checks.batch_create``, denied, code ``too_large``), a check or a feedback under the action
its schema refusals are counted in — declared too large or streamed past the limit. Before, these
three routes registered none: their schema refusals are counted, and only routes that register
their refused bodies one by one had their 413s registered."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.support import audit_entries

from xinyong.app import create_app
from xinyong.middleware import MULTIPART_MARGIN

LIMIT = 300
CHECK_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def small_app(db, vault, settings):  # type: ignore[no-untyped-def]
    return create_app(settings.model_copy(update={"max_request_bytes": LIMIT}), database=db, vault=vault)


def _chunks():  # type: ignore[no-untyped-def]
    for _ in range(10):
        yield b"x" * 50


def _form_chunks():  # type: ignore[no-untyped-def]
    """A multipart form streamed (no length declared) whose file runs past the limit and its margin."""
    yield b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nid_number\n'
    for _ in range((LIMIT + MULTIPART_MARGIN) // 1000 + 2):
        yield b"120101198005061010\n" * 50 + b"x" * 50


def _denied(db, action: str) -> list:  # type: ignore[no-untyped-def]
    return [e for e in audit_entries(db, action) if e.outcome == "denied"]


def test_a_batch_upload_over_the_limit_is_a_refused_file_of_its_key(small_app, world, db):  # type: ignore[no-untyped-def]
    big = b"id_number\n" + b"120101198005061010\n" * ((LIMIT + MULTIPART_MARGIN) // 19 + 1)
    with TestClient(small_app, base_url="https://testserver") as c:
        declared = c.post("/api/v1/checks/batch", files={"file": ("big.csv", big, "text/csv")},
                          data={"scenario": "awards"}, headers=world.bearer(world.key_a))
        streamed = c.post("/api/v1/checks/batch", content=_form_chunks(),
                          headers={"content-type": "multipart/form-data; boundary=xyz", **world.bearer(world.key_a)})
    for r in (declared, streamed):
        assert r.status_code == 413, r.text
        assert (r.json()["code"], [(e["field"], e["code"]) for e in r.json()["errors"]]) == (
            "too_large", [("file", "too_large")])
    first, second = _denied(db, "checks.batch_create")
    assert first.details["code"] == "too_large" and first.details["field"] == "file"
    assert first.details["size"] > LIMIT and second.details["size"] > LIMIT
    for e in (first, second):
        assert (e.object_type, e.department_id, e.actor_type) == ("compare_job", world.dept_a.id, "apikey")
        assert "120101198005061010" not in str(e.details)


def test_a_check_or_feedback_over_the_limit_is_registered_for_its_key(small_app, world, db):  # type: ignore[no-untyped-def]
    json_h = {"content-type": "application/json", **world.bearer(world.key_a)}
    big = b'{"id_number": "120101198005061010", "scenario": "' + b"a" * LIMIT + b'"}'
    with TestClient(small_app, base_url="https://testserver") as c:
        answers = [c.post("/api/v1/checks", content=big, headers=json_h),
                   c.post("/api/v1/checks", content=_chunks(), headers=json_h),
                   c.post(f"/api/v1/checks/{CHECK_ID}/feedback", content=big, headers=json_h)]
    assert [(r.status_code, r.json()["code"]) for r in answers] == [(413, "too_large")] * 3
    checks = _denied(db, "checks.malformed")
    assert [(e.details["code"], e.details["path"], e.details["calls"]) for e in checks] == [
        ("too_large", "/api/v1/checks", 1)] * 2
    assert checks[0].details["bytes"] == len(big) and checks[1].details["bytes"] > LIMIT
    (feedback,) = _denied(db, "checks.feedback_malformed")
    assert (feedback.details["code"], feedback.details["path"]) == ("too_large", "/api/v1/checks/{check_id}/feedback")
    for e in (*checks, feedback):
        assert (e.department_id, e.actor_type) == (world.dept_a.id, "apikey")
        assert "120101198005061010" not in str(e.details) and CHECK_ID not in str(e.details)


def test_over_the_limit_without_a_known_caller_or_within_it_leaves_no_such_entry(small_app, world, db):  # type: ignore[no-untyped-def]
    """No key or a made-up one: the same 413, nothing registered. A form the schema refuses stays
    counted (``checks.batch_malformed``), not one ``checks.batch_create`` entry a call."""
    big = b"x" * (LIMIT + MULTIPART_MARGIN + 1)
    with TestClient(small_app, base_url="https://testserver") as c:
        for headers in ({}, {"Authorization": "Bearer xy_0123456789ab_made-up"}):
            r = c.post("/api/v1/checks/batch", content=big,
                       headers={"content-type": "multipart/form-data; boundary=xyz", **headers})
            assert r.status_code == 413
            r = c.post("/api/v1/checks", content=big, headers={"content-type": "application/json", **headers})
            assert r.status_code == 413
        r = c.post("/api/v1/checks/batch", data={"scenario": "awards"}, headers=world.bearer(world.key_a))
        assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "file")
    assert _denied(db, "checks.batch_create") == [] and _denied(db, "checks.malformed") == []
