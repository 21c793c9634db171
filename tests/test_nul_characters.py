"""A NUL character (``\\x00``, ``%00`` in a URL, ``\\u0000`` in JSON) that PostgreSQL cannot take in any
text — neither stored nor compared — is refused or answered as the value it is, never a 500: in a
URL's path or query (422 naming the parameter, before routing, as an ID number in a URL is), in a
code looked up (an unknown department or item), and in what the audit log registers of a refused
request (a sign-in's user name, a code refused for its shape), where it is escaped as ``\\x00``."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.support import SYSTEM, login

from xinyong.audit.models import AuditEntry
from xinyong.catalog.service import load_default as load_catalog
from xinyong.lists.service import load_default as load_lists

NUL = "x\x00y"


@pytest.fixture
def loaded(db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        load_catalog(s, actor=SYSTEM)
        load_lists(s, actor=SYSTEM)


@pytest.mark.parametrize(("url", "field"), [
    ("/api/v1/audit/entries?action=x%00y", "action"),
    ("/api/v1/audit/entries?object_id=x%00y", "object_id"),
    ("/api/v1/catalog/items/x%00y", "path"),
    ("/api/v1/lists/x%00y/entries", "path"),
    ("/lists/x%00y", "path"),
    ("/audit?actor=x%00y&action=a", "actor"),
])
def test_a_nul_in_a_url_is_refused_naming_where(client, world, loaded, url, field):  # type: ignore[no-untyped-def]
    login(client, "admin")
    r = client.get(url)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "invalid_characters" and [e["field"] for e in body["errors"]] == [field]


def test_a_nul_in_a_user_name_at_sign_in_is_a_failed_sign_in(client, world, db):  # type: ignore[no-untyped-def]
    client.get("/login")
    r = client.post("/login", data={"username": NUL, "password": "x", "csrf_token": client.cookies.get("xy_login_csrf")},
                    follow_redirects=False)
    assert r.status_code == 401, r.text
    with db.session() as s:
        labels = [e.actor_label for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "auth.login"))]
    assert labels == ["x\\x00y"]


def test_a_nul_in_a_code_looked_up_is_an_unknown_one(client, world, loaded):  # type: ignore[no-untyped-def]
    h = {"X-CSRF-Token": login(client, "admin")}
    r = client.post("/api/v1/apikeys", json={"name": "k", "department": NUL}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "unknown_department", r.text
    r = client.post("/admin/apikeys", data={"name": "k", "department": NUL, "csrf_token": h["X-CSRF-Token"]})
    assert r.status_code == 422, r.text
    r = client.post("/admin/users", data={"username": "u1", "password": "a-Very-long-pass-1234", "role": "officer",
                                          "department": NUL, "csrf_token": h["X-CSRF-Token"]})
    assert r.status_code == 422, r.text
    r = client.post("/api/v1/records/recompute-display", json={"item": NUL}, headers=h)
    assert r.status_code == 404 and r.json()["code"] == "unknown_item", r.text


def test_a_new_code_refused_for_its_shape_is_registered(client, world, db, loaded):  # type: ignore[no-untyped-def]
    csrf = login(client, "admin")
    r = client.post("/admin/measures/measure/new", data={"code": NUL, "name_zh": "新", "name_en": "new",
                                                          "kind": "incentive", "csrf_token": csrf})
    assert r.status_code == 422, r.text
    with db.session() as s:
        got = [(e.outcome, e.details["field"]) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action == "measures.measure_save"))]
    assert got == [("failed", "code")]


def test_a_sign_in_name_of_control_characters_fits_the_audit_log(client, world, db):  # type: ignore[no-untyped-def]
    # written as \x01 …, a 64-character name (the part the audit keeps) became 256 characters: over
    # actor_label's 128, a 500 on PostgreSQL (and the failed sign-in not registered)
    client.get("/login")
    name = "\x01" * 64 + "x" * 100
    r = client.post("/login", data={"username": name, "password": "x", "csrf_token": client.cookies.get("xy_login_csrf")},
                    follow_redirects=False)
    assert r.status_code == 401, r.text
    with db.session() as s:
        labels = [e.actor_label for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "auth.login"))]
    assert len(labels) == 1 and 0 < len(labels[0]) <= 128 and labels[0].startswith("\\x01\\x01")
    assert not labels[0].endswith("\\") and labels[0].count("\\x01") == len(labels[0]) // 4


def test_a_nul_in_a_listings_deciding_department_is_an_unknown_one(client, world, loaded):  # type: ignore[no-untyped-def]
    """``POST /api/v1/lists/{code}/entries``: the credit office names the deciding department in the
    body; one with a NUL was looked up as sent (a 500 on PostgreSQL), as a proposal's is."""
    h = {"X-CSRF-Token": login(client, "admin")}
    for code in ("red_volunteer", "serious_dishonesty"):
        r = client.post(f"/api/v1/lists/{code}/entries", json={"subject_id": world.citizen_subject.id, "reason": "x",
                                                              "department": NUL}, headers=h)
        assert r.status_code == 422 and r.json()["code"] == "unknown_department", r.text
