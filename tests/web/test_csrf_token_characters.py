"""A CSRF token of any characters is a wrong token (403, registered), never a server error.

``hmac.compare_digest`` refuses ``str`` values outside ASCII with a TypeError: a form field or an
``X-CSRF-Token`` header holding ``é`` (a header's bytes are read as Latin-1) made every such
request a 500 — at the login form, on every session's state change, and for a body over the limit
whose caller was being looked up for registration.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support import PASSWORD
from tests.web.web_support import audit

from xinyong.auth.deps import SESSION_COOKIE

NOT_ASCII = st.text(min_size=1, max_size=40).filter(lambda s: not s.isascii())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=NOT_ASCII)
def test_login_with_a_token_of_any_characters_is_refused_as_a_wrong_one(loose_client, world, db, token):  # type: ignore[no-untyped-def]
    before = len(audit(db, "auth.csrf", outcome="denied"))
    loose_client.cookies.clear()
    loose_client.get("/login")
    r = loose_client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token},
                          follow_redirects=False)
    assert r.status_code == 403, r.text[:200]
    assert loose_client.cookies.get(SESSION_COOKIE) is None
    assert len(audit(db, "auth.csrf", outcome="denied")) == before + 1


def test_login_with_a_cookie_token_outside_ascii_is_refused(loose_client, world, db):  # type: ignore[no-untyped-def]
    r = loose_client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": "é" * 43},
                          headers={"cookie": "xy_login_csrf=" + "%C3%A9" * 43}, follow_redirects=False)
    assert r.status_code == 403
    r = loose_client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": "x" * 43},
                          headers={"cookie": b"xy_login_csrf=" + b"\xe9" * 43}, follow_redirects=False)  # type: ignore[dict-item]
    assert r.status_code == 403
    assert len(audit(db, "auth.csrf", outcome="denied")) == 2
    assert audit(db, "auth.login", outcome="ok") == []


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=NOT_ASCII)
def test_a_sessions_form_token_of_any_characters_is_refused_and_registered(loose_client, world, db, login,  # type: ignore[no-untyped-def]
                                                                           token):
    if loose_client.cookies.get(SESSION_COOKIE) is None:
        login(loose_client, "officer_a")
    before = len(audit(db, "auth.csrf", outcome="denied", actor_label="officer_a"))
    r = loose_client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text
    assert loose_client.get("/api/v1/session").status_code == 200  # still signed in
    assert len(audit(db, "auth.csrf", outcome="denied", actor_label="officer_a")) == before + 1


def test_a_sessions_header_token_outside_ascii_is_refused_and_registered(loose_client, world, db, login):  # type: ignore[no-untyped-def]
    login(loose_client, "officer_a")
    for sent in (b"\xe9", "é".encode(), b"\xe9" * 43):  # (UTF-8 bytes, read as Latin-1: "Ã©")
        r = loose_client.post("/api/v1/records", json={"records": []}, headers={"x-csrf-token": sent})  # type: ignore[dict-item]
        assert r.status_code == 403 and r.json()["code"] == "csrf", r.text
    assert len(audit(db, "auth.csrf", outcome="denied", actor_label="officer_a")) == 3


def test_a_body_over_the_limit_with_a_header_token_outside_ascii_is_no_caller(db, vault, tmp_path, world,  # type: ignore[no-untyped-def]
                                                                              caplog):
    """The caller of a body refused as too large is looked up from its headers to register the refusal:
    a session whose CSRF header is no token of its own is no caller — nothing to register, and no
    failure logged (the lookup raised, and the 413 came with an error and its traceback in the log)."""
    import logging

    from tests.support import login
    from tests.test_app import _settings

    from xinyong.app import create_app

    app: Any = create_app(_settings(tmp_path, max_request_bytes=200), database=db, vault=vault)
    caplog.set_level(logging.INFO)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        login(c, "admin")
        r = c.post("/api/v1/departments", content=b"x" * 300,
                   headers={"content-type": "application/json", "X-CSRF-Token": b"\xe9" * 43})  # type: ignore[dict-item]
        assert r.status_code == 413, r.text
    assert [e for e in audit(db, "department.create") if e.outcome == "failed"] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
