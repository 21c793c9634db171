"""Deactivating and reactivating a department (机构撤并): its users are logged out at once and
cannot log in, its API keys are refused until it is reactivated (not revoked), administrators are
never locked out, and every change and refusal is audited. The service, the API and the login;
the page is in tests/web/test_web_admin.py, the CLI in tests/cli/test_cli_admin.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from tests.auth.test_auth_api import assert_error, entries, sign_in
from tests.support import PASSWORD, SYSTEM, login

from xinyong.audit.service import Actor
from xinyong.auth import service as auth_service
from xinyong.auth.models import ApiKey, Department, User, WebSession
from xinyong.auth.permissions import STEP_UP_MINUTES
from xinyong.auth.service import AuthError
from xinyong.db import utcnow

ADMIN_ACTOR = Actor(type="user", id="1", label="admin")


def _deactivate(db, code: str, reason: str = "机构撤并", actor: Actor = ADMIN_ACTOR) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return auth_service.deactivate_department(s, department=auth_service.get_department(s, code), reason=reason,
                                                  actor=actor)


def _reactivate(db, code: str, actor: Actor = ADMIN_ACTOR) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return auth_service.reactivate_department(s, department=auth_service.get_department(s, code), actor=actor)


def _active(db, code: str) -> bool:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return auth_service.get_department(s, code).active


def _live_sessions(db, user_id: int) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return len(list(s.scalars(select(WebSession).where(WebSession.user_id == user_id,
                                                           WebSession.ended_at.is_(None)))))


def _login_form(client, username: str):  # type: ignore[no-untyped-def]
    client.get("/login")
    return client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf_token": client.cookies.get("xy_login_csrf") or ""},
                       follow_redirects=False)


# ---- the service -------------------------------------------------------------------------------

def test_deactivating_logs_the_departments_users_out_and_is_audited(client, world, db):  # type: ignore[no-untyped-def]
    officer, other = world.users["officer"], world.users["officer_b"]
    h = sign_in(client, db, officer)
    sign_in(client, db, officer)  # a second browser of the same officer
    with db.session() as s:
        auth_service.start_session(s, user=s.get(User, other.id), hours=1)  # another department's
        _, stale = auth_service.start_session(s, user=s.get(User, officer.id), hours=1)
        stale.expires_at = utcnow() - timedelta(minutes=1)  # expired, never ended: ended, not counted as signed out
    assert client.get("/api/v1/me", headers=h).status_code == 200
    counts = _deactivate(db, "scjgj", reason="  机构撤并：并入区市场监管综合执法大队  ")
    assert counts == {"users": 1, "sessions_ended": 2, "keys_suspended": 1}
    assert not _active(db, "scjgj") and _live_sessions(db, officer.id) == 0
    assert _live_sessions(db, other.id) == 1  # other departments go on
    assert_error(client.get("/api/v1/me", headers=h), 401, "unauthenticated")  # the cookie is dead at once
    (e,) = entries(db, action="department.deactivate")
    assert (e.outcome, e.actor_label, e.object_type, e.object_id) == ("ok", "admin", "department", str(world.dept_a.id))
    assert e.details == {"code": "scjgj", "kind": "department", "reason": "机构撤并：并入区市场监管综合执法大队",
                         "users": 1, "sessions_ended": 2, "keys_suspended": 1}
    with db.session() as s:  # the user's own account is untouched: reactivating lets them in again
        assert s.get(User, officer.id).active
    assert _reactivate(db, "scjgj") == {"users": 1, "keys_restored": 1}
    (e,) = entries(db, action="department.reactivate")
    assert e.details == {"code": "scjgj", "kind": "department", "users": 1, "keys_restored": 1}
    assert _active(db, "scjgj")
    assert_error(client.get("/api/v1/me", headers=h), 401)  # ended sessions stay ended: log in again
    client.cookies.clear()
    login(client, "officer_a")


def test_a_reason_is_required_trimmed_and_bounded(world, db):  # type: ignore[no-untyped-def]
    for reason, code in (("", "reason_required"), ("   \n ", "reason_required"), ("x" * 501, "reason_too_long"),
                         ("撤并\x00", "invalid_characters")):
        with pytest.raises(AuthError) as err:
            _deactivate(db, "scjgj", reason=reason)
        assert err.value.code == code and err.value.field == "reason"
        assert "原因" in err.value.message and "reason" in err.value.message
    assert _active(db, "scjgj") and not entries(db, action="department.deactivate")
    _deactivate(db, "scjgj", reason=" " + "撤" * 500 + " ")  # 500 characters once trimmed
    assert entries(db, action="department.deactivate")[0].details["reason"] == "撤" * 500


def test_a_reason_never_keeps_an_id_number(world, db):  # type: ignore[no-untyped-def]
    _deactivate(db, "scjgj", reason=f"并入 {world.citizen_id_number} 所在单位")
    (e,) = entries(db, action="department.deactivate")
    assert world.citizen_id_number not in e.details["reason"] and e.details["reason"].startswith("并入 ")


def test_twice_is_a_refusal_not_a_silent_no_op(world, db):  # type: ignore[no-untyped-def]
    with pytest.raises(AuthError) as err:
        _reactivate(db, "scjgj")
    assert err.value.code == "already_active" and "已是启用状态" in err.value.message
    _deactivate(db, "scjgj")
    with pytest.raises(AuthError) as err:
        _deactivate(db, "scjgj", reason="又一次")
    assert err.value.code == "already_inactive" and "already inactive" in err.value.message
    assert [e.details["reason"] for e in entries(db, action="department.deactivate")] == ["机构撤并"]
    _reactivate(db, "scjgj")
    assert len(entries(db, action="department.reactivate")) == 1


def test_administrators_are_never_locked_out(world, db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        boss = auth_service.add_user(s, username="admin_b", password=PASSWORD, role="admin",
                                     department_id=world.dept_b.id, actor=SYSTEM)
    with pytest.raises(AuthError) as err:  # an active administrator belongs to it
        _deactivate(db, "gaj")
    assert err.value.code == "admin_in_department" and "admin_b" in err.value.message
    assert "管理员" in err.value.message and "locked out" in err.value.message
    # the acting user belongs to it (even as no administrator of it is left active)
    with db.session() as s:
        auth_service.set_user_active(s, user=s.get(User, boss.id), active=False, actor=SYSTEM)
    mine = Actor(type="user", id=str(boss.id), label="admin_b", department_id=world.dept_b.id)
    with pytest.raises(AuthError) as err:
        _deactivate(db, "gaj", actor=mine)
    assert err.value.code == "own_department" and "自己所属的部门" in err.value.message
    assert _active(db, "gaj") and not entries(db, action="department.deactivate")
    _deactivate(db, "gaj")  # a disabled administrator locks no one out; another actor may
    assert not _active(db, "gaj")


# ---- logging in and sessions ------------------------------------------------------------------

def test_a_deactivated_departments_users_cannot_log_in_until_it_is_reactivated(client, world, db):  # type: ignore[no-untyped-def]
    _deactivate(db, "scjgj")
    r = _login_form(client, "officer_a")
    assert r.status_code == 401 and "部门已停用" in r.text
    assert "xy_session" not in r.headers.get("set-cookie", "")
    denied = [e for e in entries(db, action="auth.login", actor_label="officer_a") if e.outcome == "denied"]
    assert [e.details["reason"] for e in denied] == ["department_inactive"]
    with db.session() as s:  # a refused login is no failed password: it counts towards no lockout
        assert s.get(User, world.users["officer"].id).failed_logins == 0
    with pytest.raises(AuthError) as err, db.session() as s:
        auth_service.authenticate(s, username="officer_a", password=PASSWORD)
    assert (err.value.code, err.value.message) == ("department_inactive", "部门已停用 / department is inactive")
    # a wrong password is still just a wrong password: the department's state is told only to its user
    with pytest.raises(AuthError) as err, db.session() as s:
        auth_service.authenticate(s, username="officer_a", password="not-the-password")
    assert err.value.code == "bad_credentials"
    _reactivate(db, "scjgj")
    login(client, "officer_a")


def test_a_session_that_survived_the_deactivation_is_no_session(client, world, db):  # type: ignore[no-untyped-def]
    """The deactivation ends its users' sessions; a session started meanwhile by a login that had
    already passed its checks must not work either: ``principal_for_session`` asks the department."""
    h = sign_in(client, db, world.users["officer"])
    with db.session() as s:  # the department's flag alone, as a concurrent login would meet it
        s.execute(update(Department).where(Department.id == world.dept_a.id).values(active=False))
    assert_error(client.get("/api/v1/me", headers=h), 401, "unauthenticated")
    assert client.get("/workspace/records", follow_redirects=False).status_code in (303, 401)
    with db.session() as s:
        token, _ = auth_service.start_session(s, user=s.get(User, world.users["officer"].id), hours=1)
        assert auth_service.principal_for_session(s, token=token) is None
        s.execute(update(Department).where(Department.id == world.dept_a.id).values(active=True))
        assert auth_service.principal_for_session(s, token=token) is not None


def test_institutions_and_users_without_a_department_keep_working(client, world, db):  # type: ignore[no-untyped-def]
    """Administrators, auditors and citizens belong to no department: nothing here concerns them.
    An institution is a department row too: its users are stopped like an officer when it is
    deactivated (a bank the district no longer works with), and only then."""
    _deactivate(db, "scjgj")
    for username in ("admin", "auditor", "zhangsan", "bank", "officer_b"):
        client.cookies.clear()
        login(client, username)
    h = {"X-CSRF-Token": login(client, "bank")}
    assert _deactivate(db, "bank1")["sessions_ended"] >= 1
    assert_error(client.get("/api/v1/me", headers=h), 401)
    client.cookies.clear()
    assert _login_form(client, "bank").status_code == 401
    _reactivate(db, "bank1")
    login(client, "bank")


# ---- API keys: refused while inactive, not revoked -----------------------------------------------

def test_keys_are_refused_while_inactive_and_work_again_once_reactivated(client, world, db):  # type: ignore[no-untyped-def]
    check = {"id_number": world.other_id_number, "scenario": "awards"}
    assert client.get("/api/v1/me", headers=world.bearer(world.key_a)).status_code == 200
    _deactivate(db, "scjgj")
    r = assert_error(client.get("/api/v1/me", headers=world.bearer(world.key_a)), 401, "key_revoked")
    # the same code, but not "revoked": the key works again once the department is reactivated
    assert r["message"] == ("API 密钥所属部门已停用，密钥暂停使用 / "
                            "the API key's department is deactivated: the key is suspended"), r
    assert_error(client.post("/api/v1/checks", json=check, headers=world.bearer(world.key_a)), 401, "key_revoked")
    assert [e.details["reason"] for e in entries(db, action="auth.apikey")] == ["suspended", "suspended"]
    with db.session() as s:
        assert s.scalar(select(ApiKey.revoked_at).where(ApiKey.department_id == world.dept_a.id)) is None
    assert client.get("/api/v1/me", headers=world.bearer(world.key_b)).status_code == 200  # another department's
    _reactivate(db, "scjgj")
    assert client.get("/api/v1/me", headers=world.bearer(world.key_a)).status_code == 200
    assert client.post("/api/v1/checks", json=check, headers=world.bearer(world.key_a)).status_code == 200


def test_a_key_of_an_active_institution_is_refused_as_revoked_not_as_suspended(client, world, db):  # type: ignore[no-untyped-def]
    """A key held by an institution (none can be created; defence in depth) is refused like a revoked
    one: "suspended" would say that reactivating its department brings it back, and it is active."""
    with db.session() as s:
        s.execute(update(Department).where(Department.id == world.dept_a.id).values(kind="institution"))
    r = assert_error(client.get("/api/v1/me", headers=world.bearer(world.key_a)), 401, "key_revoked")
    assert r["message"] == "API 密钥已吊销 / API key has been revoked", r
    assert [e.details["reason"] for e in entries(db, action="auth.apikey")] == ["revoked"]


# ---- the API ------------------------------------------------------------------------------------

def test_the_api_deactivates_and_reactivates(client, world, db):  # type: ignore[no-untyped-def]
    h = sign_in(client, db, world.users["admin"])
    r = client.post("/api/v1/departments/scjgj/deactivate", json={"reason": "机构撤并"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {"id": world.dept_a.id, "code": "scjgj", "name": "区市场监管局", "name_en": None,
                        "kind": "department", "active": False}
    body = assert_error(client.post("/api/v1/departments/scjgj/deactivate", json={"reason": "再次"}, headers=h),
                        409, "already_inactive")
    assert "已是停用状态" in body["message"] and "already inactive" in body["message"]
    assert {d["code"]: d["active"] for d in client.get("/api/v1/departments", headers=h).json()}["scjgj"] is False
    r = client.post("/api/v1/departments/scjgj/activate", headers=h)
    assert r.status_code == 200 and r.json()["active"] is True
    assert_error(client.post("/api/v1/departments/scjgj/activate", headers=h), 409, "already_active")
    assert [e.actor_label for e in entries(db, action="department.deactivate", outcome="ok")] == ["admin"]
    assert [e.actor_label for e in entries(db, action="department.reactivate", outcome="ok")] == ["admin"]
    # each refusal of the state is registered as the change it asked for (denied), not only the changes
    assert [(e.details["reason"], e.object_id) for e in entries(db, action="department.deactivate", outcome="denied")] \
        == [("already_inactive", str(world.dept_a.id))]
    assert [(e.details["reason"], e.object_id) for e in entries(db, action="department.reactivate", outcome="denied")] \
        == [("already_active", str(world.dept_a.id))]


def test_the_api_refusals(client, world, db):  # type: ignore[no-untyped-def]
    h = sign_in(client, db, world.users["admin"])
    body = assert_error(client.post("/api/v1/departments/scjgj/deactivate", json={"reason": "  "}, headers=h),
                        422, "reason_required")
    assert body["errors"] == [{"field": "reason", "code": "reason_required", "message": body["message"]}]
    assert_error(client.post("/api/v1/departments/scjgj/deactivate", json={"reason": "x" * 501}, headers=h),
                 422, "reason_too_long")
    assert_error(client.post("/api/v1/departments/scjgj/deactivate", json={}, headers=h), 422)
    assert_error(client.post("/api/v1/departments/scjgj/deactivate", json={"reason": "撤并", "active": True},
                             headers=h), 422)  # no unknown fields
    body = assert_error(client.post("/api/v1/departments/nope/deactivate", json={"reason": "撤并"}, headers=h),
                        404, "unknown_department")
    assert body["errors"][0]["field"] == "department"
    assert_error(client.post("/api/v1/departments/nope/activate", headers=h), 404, "unknown_department")
    with db.session() as s:
        auth_service.add_user(s, username="admin_a", password=PASSWORD, role="admin", department_id=world.dept_a.id,
                              actor=SYSTEM)
    assert_error(client.post("/api/v1/departments/scjgj/deactivate", json={"reason": "撤并"}, headers=h),
                 409, "admin_in_department")
    # an officer may not; a department's key may not
    client.cookies.clear()
    h = sign_in(client, db, world.users["officer_b"])
    assert_error(client.post("/api/v1/departments/scjgj/deactivate", json={"reason": "撤并"}, headers=h),
                 403, "forbidden")
    client.cookies.clear()
    assert_error(client.post("/api/v1/departments/scjgj/deactivate", json={"reason": "撤并"},
                             headers=world.bearer(world.key_b)), 403, "forbidden")
    assert _active(db, "scjgj") and not entries(db, action="department.deactivate", outcome="ok")
    assert [e.details["permission"] for e in entries(db, action="auth.forbidden")] == ["departments.manage"] * 2
    # the bodies the schema refused are registered as the deactivation's refusals (the department of the path)
    # the reasons the service refused, and the bodies the schema refused, are registered as the
    # deactivation's refusals (the department of the path); the typed reason is not kept
    failed = entries(db, action="department.deactivate", outcome="failed")
    assert [(e.details["reason"], e.details["field"], e.details["department"]) for e in failed] == [
        ("reason_required", "reason", "scjgj"), ("reason_too_long", "reason", "scjgj"),
        ("missing", "reason", "scjgj"), ("extra_forbidden", "active", "scjgj")]
    assert "x" * 20 not in str([e.details for e in failed])
    assert [(e.details["reason"], e.details["department"], e.object_id)
            for e in entries(db, action="department.deactivate", outcome="denied")] == [
        ("not_found", "nope", None), ("admin_in_department", "scjgj", str(world.dept_a.id))]
    assert [(e.details["reason"], e.details["department"])
            for e in entries(db, action="department.reactivate", outcome="denied")] == [("not_found", "nope")]


def test_the_api_asks_an_old_session_for_the_password_first(client, world, db):  # type: ignore[no-untyped-def]
    h = sign_in(client, db, world.users["admin"])
    with db.session() as s:  # the password was last entered before the step-up window
        s.execute(update(WebSession).where(WebSession.ended_at.is_(None))
                  .values(authenticated_at=utcnow() - timedelta(minutes=STEP_UP_MINUTES + 5)))
    assert_error(client.post("/api/v1/departments/scjgj/deactivate", json={"reason": "撤并"}, headers=h),
                 403, "step_up_required")
    _deactivate(db, "gaj")
    assert_error(client.post("/api/v1/departments/gaj/activate", headers=h), 403, "step_up_required")
    assert _active(db, "scjgj") and not _active(db, "gaj")
    assert [e.details["path"] for e in entries(db, action="auth.step_up_required")] == [
        "/api/v1/departments/scjgj/deactivate", "/api/v1/departments/gaj/activate"]
    assert client.get("/api/v1/departments", headers=h).status_code == 200  # reading needs none


def test_no_account_is_added_to_a_deactivated_department(client, world, db):  # type: ignore[no-untyped-def]
    """Its users could not sign in (an administrator placed there would be locked out at once): adding
    one is refused, 422 ``department_inactive`` naming the field, and nothing is created; once the
    department is active again the same account is added."""
    _deactivate(db, "scjgj")
    h = sign_in(client, db, world.users["admin"])
    for role in ("officer", "admin"):
        body = assert_error(client.post("/api/v1/users", json={"username": f"new_{role}", "password": PASSWORD,
                                                               "role": role, "department": "scjgj"}, headers=h),
                            422, "department_inactive")
        assert "已停用" in body["message"] and "inactive" in body["message"]
    with db.session() as s:
        assert not list(s.scalars(select(User).where(User.username.in_(("new_officer", "new_admin")))))
    _reactivate(db, "scjgj")
    r = client.post("/api/v1/users", json={"username": "new_officer", "password": PASSWORD, "role": "officer",
                                           "department": "scjgj"}, headers=h)
    assert r.status_code == 201, r.text
