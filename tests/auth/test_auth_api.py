"""Authentication and authorization over the API: keys, sessions, admin routes, users."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from tests.support import PASSWORD, SYSTEM

from xinyong.audit.models import AuditEntry
from xinyong.auth import service as auth_service
from xinyong.auth.deps import SESSION_COOKIE
from xinyong.auth.models import ApiKey, Department, User, WebSession
from xinyong.db import utcnow


def sign_in(client: TestClient, db, user: User) -> dict[str, str]:
    """A real web session for ``user`` (as the login page would start it); returns the CSRF header."""
    with db.session() as s:
        token, ws = auth_service.start_session(s, user=s.get(User, user.id), hours=1)
    client.cookies.set(SESSION_COOKIE, token)
    return {"X-CSRF-Token": ws.csrf_token}


def entries(db, **where) -> list[AuditEntry]:
    with db.session() as s:
        stmt = select(AuditEntry).order_by(AuditEntry.id)
        for k, v in where.items():
            stmt = stmt.where(getattr(AuditEntry, k) == v)
        return list(s.scalars(stmt))


def audit_total(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry))


def assert_error(r, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["message"] and body["request_id"] == r.headers["x-request-id"]
    if code is not None:
        assert body["code"] == code, body
    return body


# ---- 401 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/departments", "/api/v1/apikeys", "/api/v1/users",
                                  "/api/v1/audit/entries"])
def test_no_credentials(client, world, path):
    assert_error(client.get(path), 401, "unauthenticated")


def test_no_credentials_on_a_write(client, world, db):
    assert_error(client.post("/api/v1/departments", json={"code": "x1", "name": "x"}), 401)
    with db.session() as s:
        assert s.scalar(select(Department).where(Department.code == "x1")) is None


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token xy_abc", "xy_abc_def",
                                    "bearer"])
def test_malformed_authorization_header(client, world, header):
    assert_error(client.get("/api/v1/me", headers={"Authorization": header}), 401, "bad_authorization")


@pytest.mark.parametrize("secret", ["xy_000000000000_nope", "nonsense", "xy_short_x", "xy__"])
def test_unknown_key(client, world, secret):
    body = assert_error(client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}), 401,
                        "key_invalid")
    assert secret not in str(body)


def test_known_prefix_with_a_wrong_secret_is_refused_and_registered(client, world, db):
    """A real key tried with a wrong secret (guessing, or an old secret) is registered like a failed
    login — answered as an unknown key, so the answer does not tell that the prefix exists."""
    scheme, prefix, _token = world.key_a.split("_", 2)
    forged = f"{scheme}_{prefix}_{'A' * 43}"
    before = audit_total(db)
    body = assert_error(client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}), 401,
                        "key_invalid")
    unknown = assert_error(client.get("/api/v1/me", headers={"Authorization": "Bearer xy_000000000000_nope"}),
                           401, "key_invalid")
    assert {**body, "request_id": None} == {**unknown, "request_id": None}
    assert audit_total(db) == before + 1  # the unknown prefix: no key to register it under
    with db.session() as s:
        key_id = s.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix))
    (e,) = entries(db, action="auth.apikey")
    assert (e.outcome, e.actor_type, e.actor_id, e.department_id) == ("denied", "apikey", str(key_id), world.dept_a.id)
    assert e.actor_label == prefix and (e.object_type, e.object_id) == ("apikey", str(key_id))
    assert e.details == {"reason": "wrong_secret", "path": "/api/v1/me"}
    assert forged not in str(e.details) and "A" * 43 not in e.actor_label


def test_revoked_key_is_refused_and_audited(client, world, db):
    with db.session() as s:
        auth_service.revoke_api_key(s, key=s.get(ApiKey, world.key_b_row.id), actor=SYSTEM)
    before = audit_total(db)
    assert_error(client.get("/api/v1/me", headers=world.bearer(world.key_b)), 401, "key_revoked")
    assert audit_total(db) == before + 1
    (e,) = entries(db, action="auth.apikey")
    assert (e.outcome, e.actor_type, e.actor_id) == ("denied", "apikey", str(world.key_b_row.id))
    assert e.department_id == world.dept_b.id
    assert (e.object_type, e.object_id) == ("apikey", str(world.key_b_row.id))
    assert e.details["reason"] == "revoked" and e.details["path"] == "/api/v1/me"
    # another department's key is unaffected
    assert client.get("/api/v1/me", headers=world.bearer(world.key_a)).status_code == 200


def test_key_of_a_deactivated_department_is_refused(client, world, db):
    with db.session() as s:
        s.execute(update(Department).where(Department.id == world.dept_a.id).values(active=False))
    assert client.get("/api/v1/me", headers=world.bearer(world.key_a)).status_code == 401


def test_an_institution_cannot_hold_a_system_key(client, world, db):
    """A key acts as a department's business system (push records, run checks): an institution
    gets none (it will query with the citizen's authorization), and a key that an institution holds
    anyway — its department changed kind, say — is refused on both key paths like a revoked one."""
    h = sign_in(client, db, world.users["admin"])
    body = assert_error(client.post("/api/v1/apikeys", json={"name": "x", "department": "bank1"}, headers=h), 422,
                        "institution_key")
    assert "机构" in body["message"] and "institution" in body["message"]
    assert body["errors"][0]["field"] == "department"
    client.cookies.clear()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ApiKey).join(Department)
                        .where(Department.code == "bank1")) == 0
    with db.session() as s:
        s.execute(update(Department).where(Department.id == world.dept_a.id).values(kind="institution"))
    assert client.get("/api/v1/me", headers=world.bearer(world.key_a)).status_code == 401
    check = client.post("/api/v1/checks", json={"id_number": world.other_id_number, "scenario": "awards"},
                        headers=world.bearer(world.key_a))  # the check API's own key lookup
    assert check.status_code == 401 and check.json()["code"] == "key_revoked"


def test_an_account_made_before_the_kind_rule_does_not_act_as_the_other_kind(client, world, db):
    """An officer whose department is an institution (made before ``add_user`` refused it, or whose
    department changed kind) had the department workspace — pushes, checks — in a bank's name: its
    open session ends and it cannot sign in, the refusal registered with its reason."""
    from tests.support import login

    sign_in(client, db, world.users["officer"])
    assert client.get("/api/v1/me").status_code == 200
    with db.session() as s:
        s.execute(update(Department).where(Department.id == world.dept_a.id).values(kind="institution"))
    assert_error(client.get("/api/v1/me"), 401, "unauthenticated")
    client.cookies.clear()
    client.get("/login")
    r = client.post("/login", data={"username": "officer_a", "password": PASSWORD,
                                    "csrf_token": client.cookies.get("xy_login_csrf") or ""}, follow_redirects=False)
    assert r.status_code == 401 and "部门类型不符" in r.text
    last = entries(db, action="auth.login")[-1]
    assert (last.outcome, last.details["reason"]) == ("denied", "department_kind")
    client.cookies.clear()
    login(client, "bank")  # an institution's own user still signs in


# ---- a valid key ---------------------------------------------------------------------------

def test_valid_key_shows_its_department_and_is_marked_used(client, world, db):
    with db.session() as s:
        assert s.scalar(select(ApiKey.last_used_at).where(ApiKey.id == world.key_b_row.id)) is None
    r = client.get("/api/v1/me", headers=world.bearer(world.key_b))
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["kind"] == "apikey" and me["role"] == "system"
    assert me["department_id"] == world.dept_b.id and me["department_code"] == "gaj"
    assert world.key_b not in r.text
    with db.session() as s:
        used = s.scalar(select(ApiKey.last_used_at).where(ApiKey.id == world.key_b_row.id))
    assert used is not None and utcnow() - used < timedelta(minutes=1)


def test_key_is_forbidden_on_admin_routes_and_the_refusal_is_audited(client, world, db):
    before = audit_total(db)
    body = assert_error(client.post("/api/v1/departments", json={"code": "byk", "name": "密钥建的"},
                                    headers=world.bearer(world.key_a)), 403, "forbidden")
    assert "not allowed" in body["message"]
    assert audit_total(db) == before + 1
    (e,) = entries(db, action="auth.forbidden")
    assert (e.outcome, e.actor_type, e.department_id) == ("denied", "apikey", world.dept_a.id)
    assert e.details == {"path": "/api/v1/departments", "permission": "departments.manage"}
    with db.session() as s:
        assert s.scalar(select(Department).where(Department.code == "byk")) is None


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/v1/users"), ("GET", "/api/v1/apikeys"),
                                              ("POST", "/api/v1/audit/verify")])
def test_key_is_forbidden_elsewhere_too(client, world, method, path):
    assert_error(client.request(method, path, headers=world.bearer(world.key_a)), 403, "forbidden")


# ---- departments -----------------------------------------------------------------------------

def test_admin_creates_a_department_and_duplicates_conflict(client, world, db):
    h = sign_in(client, db, world.users["admin"])
    r = client.post("/api/v1/departments", json={"code": "rsj", "name": "区人社局", "name_en": "HR bureau"},
                    headers=h)
    assert r.status_code == 201, r.text
    dept = r.json()
    assert dept["code"] == "rsj" and dept["name"] == "区人社局" and dept["kind"] == "department" and dept["active"]
    (e,) = entries(db, action="department.create", object_id=str(dept["id"]))
    assert (e.actor_type, e.actor_id) == ("user", str(world.users["admin"].id))
    body = assert_error(client.post("/api/v1/departments", json={"code": "rsj", "name": "重复"}, headers=h),
                        409, "duplicate_department")
    assert "rsj" in body["message"]
    assert body["errors"][0]["field"] == "code"
    # the refusal changes nothing and leaves one entry naming the actor and why (the bad input)
    (f,) = entries(db, action="department.create", outcome="failed")
    assert (f.actor_type, f.actor_id) == ("user", str(world.users["admin"].id))
    assert f.details == {"reason": "duplicate_department", "field": "code", "department": "rsj",
                         "kind": "department"}
    listed = client.get("/api/v1/departments", headers=h).json()
    assert [d["code"] for d in listed].count("rsj") == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"code": "a b", "name": "x"}, "code"),
    ({"code": "x", "name": "x"}, "code"),
    ({"code": "okcode", "name": ""}, "name"),
    ({"code": "okcode", "name": "x", "kind": "club"}, "kind"),
    ({"code": "okcode", "name": "x", "active": False}, "active"),
    ({"code": "okcode", "name": "x", "id": 99}, "id"),
    ({"name": "x"}, "code"),
])
def test_department_body_is_validated(client, world, db, body, field):
    h = sign_in(client, db, world.users["admin"])
    err = assert_error(client.post("/api/v1/departments", json=body, headers=h), 422)
    assert field in [e["field"] for e in err["errors"]]
    with db.session() as s:
        assert s.scalar(select(Department).where(Department.code == "okcode")) is None


@pytest.mark.parametrize(("name", "name_en", "field"), [
    ("区人社局\n（伪造的第二行）", None, "name"),
    ("区人社局\x07", None, "name"),
    ("区人社局", "HR\tbureau", "name_en"),
    ("区\u0000人社局", None, "name"),
    ("区人社局\u0085（NEL）", None, "name"),  # C1 controls and Unicode's line and paragraph separators
    ("区人社局", "HR\u2028bureau", "name_en"),  # break a line as surely as \n does
    ("区人社局\u2029", None, "name"),
])
def test_department_names_with_control_characters_are_refused(client, world, db, name, name_en, field):
    """A department's name is shown on every page, report and export that names it: a line break or a
    control character in it is refused (the schema checks lengths only), the refusal registered."""
    h = sign_in(client, db, world.users["admin"])
    err = assert_error(client.post("/api/v1/departments", json={"code": "okcode", "name": name, "name_en": name_en},
                                   headers=h), 422, "invalid_name")
    assert err["errors"][0]["field"] == field and "控制字符" in err["message"]
    (f,) = entries(db, action="department.create", outcome="failed")
    assert f.details["reason"] == "invalid_name" and f.details["field"] == field
    with db.session() as s:
        assert s.scalar(select(Department).where(Department.code == "okcode")) is None


def test_department_names_are_checked_by_the_service_too(session, world):
    """The CLI and the pages reach the service without the API's schema: the same rules there."""
    from tests.support import SYSTEM

    with pytest.raises(auth_service.AuthError) as exc:
        auth_service.add_department(session, code="okcode", name="区" * 129, actor=SYSTEM)
    assert (exc.value.code, exc.value.field) == ("invalid_name", "name")
    with pytest.raises(auth_service.AuthError) as exc:
        auth_service.add_department(session, code="okcode", name="区人社局", name_en="x\r\ny", actor=SYSTEM)
    assert (exc.value.code, exc.value.field) == ("invalid_name", "name_en")
    assert auth_service.add_department(session, code="okcode", name=" 区人社局 ", actor=SYSTEM).name == "区人社局"


def test_department_list_for_any_authenticated_caller(client, world):
    r = client.get("/api/v1/departments", headers=world.bearer(world.key_a))
    assert r.status_code == 200
    assert {"scjgj", "gaj", "bank1"} <= {d["code"] for d in r.json()}


# ---- API keys --------------------------------------------------------------------------------

def test_key_is_shown_once_and_revocation_works_on_the_next_request(client, world, db):
    h = sign_in(client, db, world.users["admin"])
    r = client.post("/api/v1/apikeys", json={"name": "社保系统", "department": "gaj"}, headers=h)
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["key"]
    assert secret.startswith("xy_") and created["department_id"] == world.dept_b.id
    assert created["prefix"] in secret and created["revoked_at"] is None
    listing = client.get("/api/v1/apikeys", headers=h)
    assert listing.status_code == 200
    assert secret not in listing.text and secret.split("_", 2)[2] not in listing.text
    assert all("key" not in k and "key_hash" not in k for k in listing.json())
    assert created["prefix"] in [k["prefix"] for k in listing.json()]
    with db.session() as s:  # only a hash is stored
        row = s.get(ApiKey, created["id"])
        assert row.key_hash != secret and secret not in row.key_hash

    key_client = TestClient(client.app, base_url="https://testserver")
    me = key_client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json()["department_code"] == "gaj"

    r = client.post(f"/api/v1/apikeys/{created['id']}/revoke", headers=h)
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert_error(key_client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}), 401, "key_revoked")
    assert_error(client.post(f"/api/v1/apikeys/{created['id']}/revoke", headers=h), 409, "already_revoked")
    assert [(e.action, e.outcome) for e in entries(db, object_type="apikey", object_id=str(created["id"]))] == [
        ("apikey.create", "ok"), ("apikey.revoke", "ok"), ("auth.apikey", "denied"), ("apikey.revoke", "denied")]


def test_revoking_a_revoked_key_is_registered(client, world, db):
    """The 409 leaves one ``apikey.revoke`` entry, denied, with its reason — as the 404 of a key the
    caller may not see does — and changes nothing (the key's revocation time stays the first one)."""
    h = sign_in(client, db, world.users["officer_b"])  # department B's officer, its own key
    kid = world.key_b_row.id
    assert client.post(f"/api/v1/apikeys/{kid}/revoke", headers=h).status_code == 200
    with db.session() as s:
        first = s.get(ApiKey, kid).revoked_at
    body = assert_error(client.post(f"/api/v1/apikeys/{kid}/revoke", headers=h), 409, "already_revoked")
    assert body["errors"][0]["code"] == "already_revoked"
    done, again = entries(db, action="apikey.revoke", object_id=str(kid))
    assert (done.outcome, again.outcome) == ("ok", "denied")
    assert again.details == {"reason": "already_revoked", "prefix": world.key_b_row.prefix}
    assert (again.actor_type, again.actor_id, again.department_id) == (
        "user", str(world.users["officer_b"].id), world.dept_b.id)
    with db.session() as s:
        assert s.get(ApiKey, kid).revoked_at == first


def test_admin_key_for_unknown_department(client, world, db):
    h = sign_in(client, db, world.users["admin"])
    body = assert_error(client.post("/api/v1/apikeys", json={"name": "x", "department": "nope"}, headers=h), 422,
                        "unknown_department")
    assert body["errors"][0]["field"] == "department"
    [e] = entries(db, action="apikey.create", outcome="failed")
    assert (e.outcome, e.details["reason"], e.details["field"], e.details["department"]) == (
        "failed", "unknown_department", "department", "nope")
    assert_error(client.post("/api/v1/apikeys", json={"name": "x"}, headers=h), 422, "department_required")
    assert [(e.details["reason"], e.details["field"]) for e in entries(db, action="apikey.create", outcome="failed")
            ][1:] == [("department_required", "department")]


def test_officer_manages_only_own_department_keys(client, world, db):
    h = sign_in(client, db, world.users["officer"])  # department A
    r = client.post("/api/v1/apikeys", json={"name": "自己的"}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["department_id"] == world.dept_a.id
    assert_error(client.post("/api/v1/apikeys", json={"name": "别人的", "department": "gaj"}, headers=h), 403)
    [denied] = entries(db, action="apikey.create", outcome="denied")  # registered, as every refusal is
    assert denied.details == {"reason": "other_department", "department": "gaj"}
    listed = client.get("/api/v1/apikeys", headers=h).json()
    assert {k["department_id"] for k in listed} == {world.dept_a.id}
    assert_error(client.post(f"/api/v1/apikeys/{world.key_b_row.id}/revoke", headers=h), 404, "not_found")
    with db.session() as s:
        assert s.get(ApiKey, world.key_b_row.id).revoked_at is None
    # the try registered, as a look at another department's record is
    [tried] = entries(db, action="apikey.revoke")
    assert (tried.outcome, tried.object_id, tried.details) == ("denied", str(world.key_b_row.id),
                                                               {"reason": "not_found"})


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "x", "department_id": 1}, {"name": "x", "revoked": True},
                                  {}])
def test_key_body_is_validated(client, world, db, body):
    h = sign_in(client, db, world.users["admin"])
    assert_error(client.post("/api/v1/apikeys", json=body, headers=h), 422)


# ---- sessions and CSRF -----------------------------------------------------------------------

def test_session_principal(client, world, db):
    sign_in(client, db, world.users["admin"])
    me = client.get("/api/v1/me").json()
    assert (me["kind"], me["role"], me["label"]) == ("user", "admin", "admin")


def test_state_change_without_csrf_token_is_refused_and_audited(client, world, db):
    h = sign_in(client, db, world.users["admin"])
    before = audit_total(db)
    assert_error(client.post("/api/v1/departments", json={"code": "nocsrf", "name": "x"}), 403, "csrf")
    assert_error(client.post("/api/v1/departments", json={"code": "nocsrf", "name": "x"},
                             headers={"X-CSRF-Token": h["X-CSRF-Token"] + "x"}), 403, "csrf")
    assert audit_total(db) == before + 2
    e = entries(db, action="auth.csrf")[-1]
    assert (e.outcome, e.actor_id) == ("denied", str(world.users["admin"].id))
    with db.session() as s:
        assert s.scalar(select(Department).where(Department.code == "nocsrf")) is None
    assert client.post("/api/v1/departments", json={"code": "nocsrf", "name": "x"}, headers=h).status_code == 201


def test_another_sessions_csrf_token_does_not_work(client, world, db):
    other = sign_in(TestClient(client.app), db, world.users["officer"])
    sign_in(client, db, world.users["admin"])
    assert_error(client.post("/api/v1/departments", json={"code": "cross", "name": "x"}, headers=other), 403,
                 "csrf")


def test_disabled_user_and_ended_or_expired_sessions_stop_at_once(client, world, db):
    h = sign_in(client, db, world.users["admin"])
    assert client.get("/api/v1/me").status_code == 200
    with db.session() as s:
        s.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert_error(client.get("/api/v1/me"), 401, "unauthenticated")

    h = sign_in(client, db, world.users["officer"])
    assert client.get("/api/v1/me").status_code == 200
    with db.session() as s:
        auth_service.set_user_active(s, user=s.get(User, world.users["officer"].id), active=False, actor=SYSTEM)
    assert_error(client.get("/api/v1/me"), 401)
    assert_error(client.post("/api/v1/apikeys", json={"name": "x"}, headers=h), 401)


def test_unknown_session_cookie_is_unauthenticated(client, world):
    client.cookies.set(SESSION_COOKIE, "forged-token")
    assert_error(client.get("/api/v1/me"), 401, "unauthenticated")


# ---- users -----------------------------------------------------------------------------------

def test_admin_creates_a_citizen_bound_to_an_existing_subject(client, world, db):
    h = sign_in(client, db, world.users["admin"])
    r = client.post("/api/v1/users", json={"username": "ouyang", "password": PASSWORD, "role": "citizen",
                                           "id_number": world.other_id_number.lower()}, headers=h)
    assert r.status_code == 201, r.text
    assert world.other_id_number not in r.text and world.other_id_number.lower() not in r.text
    out = r.json()
    assert out["role"] == "citizen" and out["username"] == "ouyang" and "password" not in str(out)
    with db.session() as s:
        user = s.get(User, out["id"])
        assert user.subject_id == world.other_subject.id
        assert PASSWORD not in user.password_hash
    (e,) = entries(db, action="user.create", object_id=str(out["id"]))
    assert world.other_id_number not in str(e.details)
    # the same person cannot get a second account
    body = assert_error(client.post("/api/v1/users", json={"username": "ouyang2", "password": PASSWORD,
                                                           "role": "citizen", "id_number": world.other_id_number},
                                    headers=h), 409, "duplicate_citizen")
    assert body["errors"][0]["field"] == "id_number"


@pytest.mark.parametrize(("make_number", "code"), [
    (lambda w: w.other_id_number[:-1] + ("0" if w.other_id_number[-1] != "0" else "1"), "id_checksum"),
    (lambda w: w.other_id_number[:17], "id_length"),
    (lambda w: "999999" + w.other_id_number[6:], "id_region"),
])
def test_invalid_id_number_names_the_field(client, world, db, make_number, code):
    h = sign_in(client, db, world.users["admin"])
    number = make_number(world)
    r = client.post("/api/v1/users", json={"username": "badid", "password": PASSWORD, "role": "citizen",
                                           "id_number": number}, headers=h)
    body = assert_error(r, 422, code)
    assert body["errors"] == [{"field": "id_number", "code": code, "message": body["message"]}]
    assert number not in r.text
    with db.session() as s:
        assert s.scalar(select(User).where(User.username == "badid")) is None
    (f,) = entries(db, action="user.create", outcome="failed")  # refused input, its actor known: one entry
    assert f.actor_id == str(world.users["admin"].id) and number not in str(f.details)
    assert f.details == {"reason": code, "field": "id_number", "username": "badid", "role": "citizen"}


def test_a_citizen_account_for_a_person_not_yet_registered_is_linked_once_they_are(client, world, db, vault):
    """A citizen account is bound to its ID number (issue 2): a person the platform holds nothing about
    yet gets one too, and their session reads them once they are registered."""
    from datetime import date

    from xinyong.audit.service import Actor
    from xinyong.auth.models import User
    from xinyong.privacy.identity import make_id_number
    from xinyong.subjects.service import register
    from xinyong.web.i18n import translate

    h = sign_in(client, db, world.users["admin"])
    unknown = make_id_number("310104", date(1999, 9, 9), 998)
    r = client.post("/api/v1/users", json={"username": "nobody", "password": PASSWORD, "role": "citizen",
                                           "id_number": unknown}, headers=h)
    assert r.status_code == 201, r.text
    assert unknown not in r.text
    body = assert_error(client.post("/api/v1/users", json={"username": "nobody2", "password": PASSWORD,
                                                           "role": "citizen", "id_number": unknown}, headers=h),
                        409, "duplicate_citizen")
    assert body["errors"][0]["field"] == "id_number" and unknown not in str(body)
    body = assert_error(client.post("/api/v1/users", json={"username": "nobody", "password": PASSWORD,
                                                           "role": "citizen"}, headers=h), 422, "id_number_required")
    assert body["errors"][0]["field"] == "id_number"
    with db.session() as s:
        user = s.scalar(select(User).where(User.username == "nobody"))
        assert user.subject_id is None and user.id_masked == unknown[:6] + "********" + unknown[-4:]
    client.cookies.clear()
    citizen = sign_in(client, db, user)
    missing = translate("zh", "home.citizen.missing")
    assert missing in client.get("/", headers=citizen).text
    with db.session() as s:
        subject, _ = register(s, vault=vault, id_number=unknown, name="王五", actor=Actor.system("test"))
        subject_id = subject.id
    home = client.get("/", headers=citizen).text  # the same session
    assert missing not in home and unknown[:6] + "********" + unknown[-4:] in home
    assert client.get(f"/api/v1/subjects/{subject_id}", headers=citizen).status_code == 200


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"username": "u1", "password": PASSWORD, "role": "officer"}, 422, "username"),
    ({"username": "user1", "password": "short", "role": "officer", "department": "scjgj"}, 422, "password"),
    ({"username": "user1", "password": PASSWORD, "role": "officer"}, 422, "department"),
    ({"username": "user1", "password": PASSWORD, "role": "emperor"}, 422, "role"),
    ({"username": "user1", "password": PASSWORD, "role": "officer", "department": "nope"}, 422, "department"),
    ({"username": "admin", "password": PASSWORD, "role": "auditor"}, 409, "username"),
    ({"username": "user1", "password": PASSWORD, "role": "auditor", "status": "active"}, 422, "status"),
    ({"username": "user1", "password": PASSWORD, "role": "auditor", "subject_id": 1}, 422, "subject_id"),
    ({"username": "user1", "password": PASSWORD, "role": "auditor", "active": True}, 422, "active"),
])
def test_user_body_is_validated(client, world, db, body, status, field):
    h = sign_in(client, db, world.users["admin"])
    err = assert_error(client.post("/api/v1/users", json=body, headers=h), status)
    assert field in [e["field"] for e in err["errors"]], err
    with db.session() as s:
        assert s.scalar(select(User).where(User.username == "user1")) is None


def test_officer_with_department(client, world, db):
    h = sign_in(client, db, world.users["admin"])
    r = client.post("/api/v1/users", json={"username": "officer_c", "password": PASSWORD, "role": "officer",
                                           "department": "gaj", "id_number": world.other_id_number}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["department_id"] == world.dept_b.id
    with db.session() as s:
        assert s.get(User, r.json()["id"]).subject_id is None  # only citizens are bound to a person


@pytest.mark.parametrize(("role", "department"), [("officer", "bank1"), ("institution", "gaj")])
def test_an_account_sits_only_in_its_kind_of_department(client, world, db, role, department):
    """An officer acts as a department (the workspace: push records, run checks, upload files); an
    institution's user queries only with a person's authorization. An officer of a bank was created
    and given the department workspace, checks included; an institution user of a bureau too. Both
    refused, naming the field, registered, nothing created."""
    h = sign_in(client, db, world.users["admin"])
    before = audit_total(db)
    err = assert_error(client.post("/api/v1/users", json={"username": "mixed1", "password": PASSWORD, "role": role,
                                                          "department": department}, headers=h),
                       422, "department_kind")
    assert err["errors"][0]["field"] == "department" and department in err["message"]
    assert ("机构" in err["message"] and "institution" in err["message"]
            and "部门" in err["message"] and "department" in err["message"])
    with db.session() as s:
        assert s.scalar(select(User).where(User.username == "mixed1")) is None
    assert audit_total(db) == before + 1
    last = entries(db, action="user.create")[-1]
    assert (last.outcome, last.details["reason"], last.details["field"]) == ("failed", "department_kind", "dept")


@pytest.mark.parametrize("role", ["officer", "auditor", "citizen", "institution"])
def test_non_admins_cannot_manage_users(client, world, db, role):
    h = sign_in(client, db, world.users[role])
    assert_error(client.post("/api/v1/users", json={"username": "sneaky", "password": PASSWORD,
                                                    "role": "admin"}, headers=h), 403, "forbidden")
    assert_error(client.get("/api/v1/users", headers=h), 403)
    assert_error(client.post("/api/v1/departments", json={"code": "sneaky", "name": "x"}, headers=h), 403)
    with db.session() as s:
        assert s.scalar(select(User).where(User.username == "sneaky")) is None


def test_user_list_never_shows_password_hashes(client, world, db):
    h = sign_in(client, db, world.users["admin"])
    r = client.get("/api/v1/users", headers=h)
    assert r.status_code == 200
    assert "argon2" not in r.text
    assert all(not any("password" in k for k in u) for u in r.json())
    assert {"admin", "officer_a", "zhangsan"} <= {u["username"] for u in r.json()}


@pytest.mark.parametrize(("name", "why"), [
    ("李四 11010519491231002X 的系统", "身份证号码"),  # becomes every record's changed_by, every audit entry's actor
    ("社保系统\n（伪造的第二行）", "控制字符"),
    ("社保系统\x1b[31m", "控制字符"),
    ("社保\u2028系统", "控制字符"),
])
def test_key_names_are_checked_as_department_names_are(client, world, db, name, why):
    """A key's name is its actor label: it is written into every revision and audit entry the key makes,
    shown on the key pages, in ``xinyong apikey list`` and the server log. An ID number in it was stored
    and shown raw; a line break or a control character forged lines there. Both refused, by the
    service (CLI, pages) as by the API, and nothing is created."""
    h = sign_in(client, db, world.users["officer"])
    before = audit_total(db)
    err = assert_error(client.post("/api/v1/apikeys", json={"name": name}, headers=h), 422, "invalid_name")
    assert err["errors"][0]["field"] == "name" and why in err["message"] and "11010519491231002X" not in str(err)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.name == name)) == 0
        dept = s.get(Department, world.dept_a.id)
        with pytest.raises(auth_service.AuthError) as exc:
            auth_service.create_api_key(s, department=dept, name=name, actor=SYSTEM)
        assert (exc.value.code, exc.value.field) == ("invalid_name", "name")
    assert audit_total(db) == before + 1
    (f,) = entries(db, action="apikey.create", outcome="failed")
    assert f.details["reason"] == "invalid_name" and f.details["field"] == "name"
    assert "11010519491231002X" not in "".join(str(e.details) + (e.actor_label or "") for e in entries(db))


def test_the_workspace_key_form_refuses_such_a_name_and_shows_it_back_masked(client, world, db, login):
    """The officer's page: refused with the reason, the refusal registered, the name shown back with
    the ID number masked (never raw on a page)."""
    csrf = login(client, "officer_a")
    r = client.post("/workspace/apikeys", data={"csrf_token": csrf, "name": "李四 11010519491231002X 的系统"})
    assert r.status_code == 422 and "身份证号码" in r.text
    assert "11010519491231002X" not in r.text and "110105********002X" in r.text
    (f,) = entries(db, action="apikey.create", outcome="failed")
    assert f.details["reason"] == "invalid_name"


def test_admin_bodies_the_schema_refuses_are_registered(client, world, db):
    """A department, deactivation, key or account refused by the schema (FastAPI's 422, before the
    route runs) leaves one ``failed`` entry under the change's own action, as the service's refusals
    do: the code, the field, how many errors — never a password, an ID number or a name typed."""
    h = sign_in(client, db, world.users["admin"])
    json_h = {**h, "content-type": "application/json"}
    assert_error(client.post("/api/v1/departments", json={"code": "x", "name": "x"}, headers=h), 422)
    assert_error(client.post("/api/v1/departments", content=b'{"code": ', headers=json_h), 422)
    assert_error(client.post("/api/v1/departments/gaj/deactivate", json={}, headers=h), 422)
    assert_error(client.post("/api/v1/apikeys", json={"name": ""}, headers=h), 422)
    number = world.other_id_number
    assert_error(client.post("/api/v1/users", json={"username": "u1", "password": PASSWORD, "role": "citizen",
                                                    "id_number": number}, headers=h), 422)
    assert_error(client.post("/api/v1/users", content=b'{"password": "' + PASSWORD.encode() + b'"',
                             headers=json_h), 422)
    officer = sign_in(client, db, world.users["officer"])  # a department's officer: its own keys
    assert_error(client.post("/api/v1/apikeys", json={"name": "x", "revoked": True}, headers=officer), 422)
    got = {a: [(e.outcome, e.actor_id, e.details) for e in entries(db, action=a, outcome="failed")]
           for a in ("department.create", "department.deactivate", "apikey.create", "user.create")}
    admin, officer_id = str(world.users["admin"].id), str(world.users["officer"].id)
    assert got == {
        "department.create": [("failed", admin, {"reason": "string_too_short", "field": "code", "errors": 1}),
                              ("failed", admin, {"reason": "json_invalid", "field": "body", "errors": 1})],
        "department.deactivate": [("failed", admin, {"reason": "missing", "field": "reason", "errors": 1,
                                                     "department": "gaj"})],
        "apikey.create": [("failed", admin, {"reason": "string_too_short", "field": "name", "errors": 1}),
                          ("failed", officer_id, {"reason": "extra_forbidden", "field": "revoked", "errors": 1})],
        "user.create": [("failed", admin, {"reason": "string_too_short", "field": "username", "errors": 1}),
                        ("failed", admin, {"reason": "json_invalid", "field": "body", "errors": 1})],
    }
    with db.session() as s:
        texts = [str(e.details) for e in s.scalars(select(AuditEntry))]
    assert not [t for t in texts if PASSWORD in t or number in t or number[:6] + "********" in t]
    with db.session() as s:  # nothing else changed
        assert s.scalar(select(Department.active).where(Department.code == "gaj")) is True
        assert s.scalar(select(func.count()).select_from(User).where(User.username == "u1")) == 0


@pytest.mark.parametrize("role", ["auditor", "citizen"])
def test_an_auditor_or_a_citizen_is_given_no_department(client, world, db, role):
    """An auditor reads the whole audit log, a citizen their own record: neither acts for a department,
    and a department given them was kept, meaning nothing. Refused, naming the field, registered
    (``user.create``, ``failed``, ``department_not_allowed``, ``dept``), nothing created — as the pages
    and ``xinyong user add --dept`` refuse it (the service does)."""
    h = sign_in(client, db, world.users["admin"])
    before = audit_total(db)
    body = {"username": "nodept1", "password": PASSWORD, "role": role, "department": "gaj"}
    if role == "citizen":
        body["id_number"] = world.other_id_number
    err = assert_error(client.post("/api/v1/users", json=body, headers=h), 422, "department_not_allowed")
    assert err["errors"][0]["field"] == "department" and "部门" in err["message"] and "no department" in err["message"]
    assert world.other_id_number not in str(err)
    with db.session() as s:
        assert s.scalar(select(User).where(User.username == "nodept1")) is None
    assert audit_total(db) == before + 1
    last = entries(db, action="user.create")[-1]
    assert (last.outcome, last.details["reason"], last.details["field"]) == ("failed", "department_not_allowed", "dept")
    del body["department"]
    assert client.post("/api/v1/users", json=body, headers=h).status_code == 201


def test_a_refused_new_accounts_user_name_is_kept_masked_as_the_pages_and_the_cli_keep_it(client, world, db):
    """A refused ``POST /api/v1/users`` registers the user name typed (``user.create``, ``failed``) as the
    admin page and ``xinyong user add`` do (``auth.service.typed_user_name``): a number mistyped by a
    digit (17 or 19 digits) is masked, not kept as typed in the audit log."""
    h = sign_in(client, db, world.users["admin"])
    number = world.other_id_number
    for typed, kept in ((number[:-1], "*" * 17), (number + "7", number[:6] + "*" * 8 + number[-4:] + "7")):
        r = client.post("/api/v1/users", json={"username": typed, "password": PASSWORD, "role": "officer"}, headers=h)
        code = assert_error(r, 422)["code"]  # department_required; invalid_username for the one holding a number
        last = entries(db, action="user.create")[-1]
        assert (last.outcome, last.details["reason"], last.details["username"]) == ("failed", code, kept)
        assert number[:17] not in str(last.details)
