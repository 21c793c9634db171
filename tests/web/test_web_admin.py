"""The admin console and the officer's workspace: forms, CSRF, HTMX partials, object scoping."""

from __future__ import annotations

import re

from sqlalchemy import select
from tests.support import PASSWORD, SYSTEM
from tests.web.web_support import audit, hidden

from xinyong.auth import service as auth_service
from xinyong.auth.models import ApiKey, Department, User

KEY_SHAPE = re.compile(r"xy_[0-9a-f]{12}_[A-Za-z0-9_\-]{20,}")
HTMX = {"HX-Request": "true"}


def _secret(html: str) -> str:
    m = KEY_SHAPE.search(html)
    assert m, "no key on the page"
    return m.group(0)


# ---- departments ---------------------------------------------------------------------------

def test_admin_adds_a_department(client, world, login, db):
    csrf = login(client, "admin")
    page = client.get("/admin/departments")
    assert page.status_code == 200 and "区市场监管局" in page.text and "某银行" in page.text
    assert hidden(page.text, "csrf_token") == csrf
    r = client.post("/admin/departments", data={"csrf_token": csrf, "code": "rsj", "name": "区人社局",
                                                "name_en": "HR Bureau", "kind": "department"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/departments"
    assert "区人社局" in client.get("/admin/departments").text
    assert len(audit(db, "department.create", actor_label="admin")) == 1


def test_department_refusals_are_shown_in_the_form(client, world, login, db):
    csrf = login(client, "admin")
    r = client.post("/admin/departments", data={"csrf_token": csrf, "code": "scjgj", "name": "重复"})
    assert r.status_code == 422
    assert "部门代码 scjgj 已存在" in r.text and 'aria-invalid="true"' in r.text
    assert hidden(r.text, "name") == "重复"
    r = client.post("/admin/departments", data={"csrf_token": csrf, "code": "bad code!", "name": "x"})
    assert r.status_code == 422 and "部门代码只能包含" in r.text
    with db.session() as s:
        assert s.scalar(select(Department).where(Department.name == "重复")) is None
    failed = audit(db, "department.create", outcome="failed", actor_label="admin")
    assert [(e.details["reason"], e.details["department"]) for e in failed] == [
        ("duplicate_department", "scjgj"), ("invalid_code", "bad code!")]


def test_a_refused_english_name_is_named_in_the_form(client, world, login, db):
    """A department's English name refused (a line break in it) is named as the English name, in the
    message and on its own input, not as the (Chinese) name that was fine."""
    csrf = login(client, "admin")
    r = client.post("/admin/departments", data={"csrf_token": csrf, "code": "rsj", "name": "区人社局",
                                                "name_en": "HR\nBureau"})
    assert r.status_code == 422
    message = re.search(r'<p class="form-error"[^>]*>(.*?)</p>', r.text, re.S).group(1)
    assert "部门英文名称" in message and "English name" in message
    assert re.search(r'<input[^>]*name="name_en"[^>]*aria-invalid="true"', r.text)
    assert not re.search(r'<input[^>]*name="name"[^>]*aria-invalid="true"', r.text)
    assert [e.details["field"] for e in audit(db, "department.create", outcome="failed")] == ["name_en"]


def test_a_refused_department_name_is_shown_back_without_its_control_characters(client, world, login):
    """What was typed comes back in the form to be corrected, less the characters that refused it (a
    NUL or a bell in an HTML attribute), as the records pages do."""
    csrf = login(client, "admin")
    r = client.post("/admin/departments", data={"csrf_token": csrf, "code": "rsj", "name": "区人社\x07局\x00"})
    assert r.status_code == 422
    value = re.search(r'<input[^>]*name="name" value="([^"]*)"', r.text).group(1)
    assert value == "区人社局" and "\x07" not in r.text and "\x00" not in r.text


def test_console_forms_need_the_csrf_token(client, world, login, db):
    csrf = login(client, "admin")
    for data in ({}, {"csrf_token": "wrong-token-wrong-token-wrong-token"}):
        r = client.post("/admin/departments", data={**data, "code": "nocsrf", "name": "无令牌"})
        assert r.status_code == 403 and "CSRF" in r.text
    r = client.post(f"/admin/users/{world.users['officer'].id}/disable", headers=HTMX)
    assert r.status_code == 403
    r = client.post("/admin/apikeys", data={"name": "k", "department": "scjgj"})
    assert r.status_code == 403
    with db.session() as s:
        assert s.scalar(select(Department).where(Department.code == "nocsrf")) is None
        assert s.get(User, world.users["officer"].id).active
    assert len(audit(db, "auth.csrf", outcome="denied")) == 4
    # The header form (what HTMX sends) is accepted.
    r = client.post("/admin/departments", data={"code": "hdr", "name": "头部令牌"},
                    headers={"X-CSRF-Token": csrf}, follow_redirects=False)
    assert r.status_code == 303


def _department_row(html: str, department_id: int) -> str:
    m = re.search(rf'<tr id="department-{department_id}">(.*?)</tr>', html, re.S)
    assert m, f"no row for department {department_id}"
    return m.group(1)


def test_admin_deactivates_and_reactivates_a_department_from_its_row(client, other_client, world, login, db):
    other_csrf = login(other_client, "officer_a")  # an officer of the department, signed in elsewhere
    csrf = login(client, "admin")
    page = client.get("/admin/departments")
    row = _department_row(page.text, world.dept_a.id)
    assert "启用" in row and f'action="/admin/departments/{world.dept_a.id}/deactivate"' in row
    assert 'name="reason"' in row and hidden(row, "csrf_token") == csrf and "/activate" not in row
    r = client.post(f"/admin/departments/{world.dept_a.id}/deactivate",
                    data={"csrf_token": csrf, "reason": "机构撤并"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/departments"
    row = _department_row(client.get("/admin/departments").text, world.dept_a.id)
    assert "<mark>已停用</mark>" in row and f'action="/admin/departments/{world.dept_a.id}/activate"' in row
    assert 'name="reason"' not in row
    # the officer is out at once: the next page asks for a login, and the login is refused
    assert other_client.post("/api/v1/records", json={"records": []}, headers={"X-CSRF-Token": other_csrf}
                             ).status_code == 401
    (e,) = audit(db, "department.deactivate", actor_label="admin")
    assert e.details["reason"] == "机构撤并" and e.details["sessions_ended"] == 1
    r = client.post(f"/admin/departments/{world.dept_a.id}/activate", data={"csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/departments"
    assert "<mark>" not in _department_row(client.get("/admin/departments").text, world.dept_a.id)
    assert len(audit(db, "department.reactivate", actor_label="admin")) == 1
    with db.session() as s:
        assert s.get(Department, world.dept_a.id).active


def test_department_state_refusals_are_shown_in_the_row(client, world, login, db):
    csrf = login(client, "admin")
    url = f"/admin/departments/{world.dept_a.id}"
    r = client.post(f"{url}/deactivate", data={"csrf_token": csrf, "reason": "   "})
    assert r.status_code == 422
    row = _department_row(r.text, world.dept_a.id)
    assert "请填写停用原因" in row and 'aria-invalid="true"' in row
    assert "请填写停用原因" not in _department_row(r.text, world.dept_b.id)
    r = client.post(f"{url}/deactivate", data={"csrf_token": csrf, "reason": "撤" * 501})
    assert r.status_code == 422 and "停用原因不能超过500字" in r.text
    assert hidden(_department_row(r.text, world.dept_a.id), "reason") == "撤" * 501  # kept for correction
    with db.session() as s:
        auth_service.add_user(s, username="admin_a", password=PASSWORD, role="admin",
                              department_id=world.dept_a.id, actor=SYSTEM)
    r = client.post(f"{url}/deactivate", data={"csrf_token": csrf, "reason": "机构撤并"})
    assert r.status_code == 422 and "admin_a" in _department_row(r.text, world.dept_a.id)
    r = client.post(f"{url}/activate", data={"csrf_token": csrf})
    assert r.status_code == 422 and "已是启用状态" in _department_row(r.text, world.dept_a.id)
    assert client.post("/admin/departments/999999/deactivate", data={"csrf_token": csrf, "reason": "x"}
                       ).status_code == 404
    with db.session() as s:
        assert s.get(Department, world.dept_a.id).active
    # each refusal is registered as the change it asked for (the reason typed is not kept); no change is
    deact = audit(db, "department.deactivate")
    assert [(e.outcome, e.details["reason"], e.details.get("field"), e.details["via"]) for e in deact] == [
        ("failed", "reason_required", "reason", "page"), ("failed", "reason_too_long", "reason", "page"),
        ("denied", "admin_in_department", None, "page")]
    assert "撤撤撤" not in str([e.details for e in deact])
    assert [(e.outcome, e.details["reason"]) for e in audit(db, "department.reactivate")] == [
        ("denied", "already_active")]


def test_department_state_forms_need_the_csrf_token_and_the_permission(client, world, login, db):
    csrf = login(client, "admin")
    r = client.post(f"/admin/departments/{world.dept_a.id}/deactivate", data={"reason": "机构撤并"})
    assert r.status_code == 403 and "CSRF" in r.text
    client.cookies.clear()
    csrf = login(client, "officer_b")
    r = client.post(f"/admin/departments/{world.dept_a.id}/deactivate", data={"csrf_token": csrf, "reason": "撤并"})
    assert r.status_code == 403
    with db.session() as s:
        assert s.get(Department, world.dept_a.id).active
    assert len(audit(db, "auth.csrf", outcome="denied")) == 1
    assert [e.details["permission"] for e in audit(db, "auth.forbidden")] == ["departments.manage"]


# ---- users -----------------------------------------------------------------------------------

def test_admin_adds_an_officer(client, world, login):
    csrf = login(client, "admin")
    r = client.post("/admin/users", data={"csrf_token": csrf, "username": "officer_new", "password": PASSWORD,
                                          "role": "officer", "department": "gaj", "display_name": "新警官"},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/admin/users")
    assert "officer_new" in page.text and "新警官" in page.text
    client.cookies.clear()
    login(client, "officer_new")
    assert "公安和平分局" in client.get("/").text


def test_user_refusals_never_echo_the_password_or_id_number(client, world, login, db):
    csrf = login(client, "admin")
    r = client.post("/admin/users", data={"csrf_token": csrf, "username": "weakling", "password": "short-pw",
                                          "role": "officer", "department": "gaj"})
    assert r.status_code == 422 and "密码至少10个字符" in r.text
    assert "short-pw" not in r.text and hidden(r.text, "username") == "weakling"
    r = client.post("/admin/users", data={"csrf_token": csrf, "username": "nodept",
                                          "password": "long-enough-pw", "role": "officer"})
    assert r.status_code == 422 and "部门工作人员必须指定部门" in r.text
    bad_id = world.other_id_number[:-1] + ("0" if world.other_id_number[-1] != "0" else "1")
    data = {"csrf_token": csrf, "username": "citizen2", "password": "long-enough-pw", "role": "citizen",
            "id_number": bad_id}
    r = client.post("/admin/users", data=data)
    assert r.status_code == 422 and "身份证号码校验位错误" in r.text
    assert bad_id not in r.text and "long-enough-pw" not in r.text
    failed = audit(db, "user.create", outcome="failed", actor_label="admin")  # each refusal, its actor known
    assert [(e.details["reason"], e.details["field"], e.details["username"]) for e in failed] == [
        ("weak_password", "password", "weakling"), ("department_required", "dept", "nodept"),
        ("id_checksum", "id_number", "citizen2")]
    assert not any(bad_id in str(e.details) or "pw" in str(e.details) for e in failed)


def test_admin_binds_a_citizen_account_without_showing_the_id_number(client, world, login, db):
    csrf = login(client, "admin")
    r = client.post("/admin/users", data={"csrf_token": csrf, "username": "ouyang", "password": PASSWORD,
                                          "role": "citizen", "id_number": world.other_id_number},
                    follow_redirects=False)
    assert r.status_code == 303
    assert world.other_id_number not in r.headers["location"]
    assert world.other_id_number not in client.get("/admin/users").text
    with db.session() as s:
        assert s.scalar(select(User.subject_id).where(User.username == "ouyang")) == world.other_subject.id
    client.cookies.clear()
    login(client, "ouyang")
    home = client.get("/").text
    assert "欧阳**" in home and world.other_id_number not in home


def test_htmx_disable_and_enable_swap_just_the_row(client, other_client, world, login, db):
    login(other_client, "auditor")
    csrf = login(client, "admin")
    uid = world.users["auditor"].id
    r = client.post(f"/admin/users/{uid}/disable", data={"csrf_token": csrf}, headers=HTMX)
    assert r.status_code == 200
    assert r.text.lstrip().startswith(f'<tr id="user-{uid}">') and "<html" not in r.text
    assert "已停用" in r.text and f"/admin/users/{uid}/enable" in r.text
    assert other_client.get("/api/v1/session").status_code == 401
    assert len(audit(db, "user.disable", object_id=str(uid))) == 1
    r = client.post(f"/admin/users/{uid}/enable", headers={**HTMX, "X-CSRF-Token": csrf})
    assert r.status_code == 200 and f"/admin/users/{uid}/disable" in r.text
    login(other_client, "auditor")
    assert other_client.get("/").status_code == 200


def test_admin_cannot_disable_themself(client, world, login, db):
    csrf = login(client, "admin")
    uid = world.users["admin"].id
    assert f"/admin/users/{uid}/disable" not in client.get("/admin/users").text
    r = client.post(f"/admin/users/{uid}/disable", data={"csrf_token": csrf})
    assert r.status_code == 409 and "不能停用自己的账户" in r.text
    assert client.get("/api/v1/session").status_code == 200


def test_unknown_user_is_404(client, world, login):
    csrf = login(client, "admin")
    assert client.post("/admin/users/999999/disable", data={"csrf_token": csrf}).status_code == 404


# ---- API keys: admin ---------------------------------------------------------------------------

def test_admin_key_list_shows_every_department(client, world, login):
    login(client, "admin")
    page = client.get("/admin/apikeys")
    assert page.status_code == 200
    assert "业务系统A" in page.text and "业务系统B" in page.text
    assert "区市场监管局" in page.text and "公安和平分局" in page.text
    assert not KEY_SHAPE.search(page.text)


def test_key_created_on_the_page_is_shown_once_and_works(client, other_client, world, login, db):
    csrf = login(client, "admin")
    r = client.post("/admin/apikeys", data={"csrf_token": csrf, "department": "gaj", "name": "治安系统"})
    assert r.status_code == 200 and "只显示这一次" in r.text
    assert r.headers["cache-control"] == "no-store"
    secret = _secret(r.text)
    me = other_client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json()["department_code"] == "gaj" and me.json()["role"] == "system"
    listing = client.get("/admin/apikeys").text
    assert "治安系统" in listing and secret not in listing and not KEY_SHAPE.search(listing)
    with db.session() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.name == "治安系统"))
        assert row is not None and secret not in (row.key_hash, row.prefix)
    assert len(audit(db, "apikey.create", actor_label="admin")) == 1


def test_key_creation_refusals_are_shown(client, world, login):
    csrf = login(client, "admin")
    r = client.post("/admin/apikeys", data={"csrf_token": csrf, "department": "nosuch", "name": "x"})
    assert r.status_code == 422 and "部门 nosuch 不存在" in r.text
    r = client.post("/admin/apikeys", data={"csrf_token": csrf, "department": "gaj", "name": "   "})
    assert r.status_code == 422 and "密钥名称为1至128个字符" in r.text
    assert not KEY_SHAPE.search(r.text)


def test_admin_revokes_a_key_with_htmx(client, world, login, db):
    csrf = login(client, "admin")
    kid = world.key_b_row.id
    r = client.post(f"/admin/apikeys/{kid}/revoke", headers={**HTMX, "X-CSRF-Token": csrf})
    assert r.status_code == 200
    assert r.text.lstrip().startswith(f'<tr id="key-{kid}">') and "<html" not in r.text and "已吊销" in r.text
    assert client.get("/api/v1/me", headers=world.bearer(world.key_b)).status_code == 401
    assert len(audit(db, "apikey.revoke", object_id=str(kid))) == 1
    # Revoking again changes nothing and is not an error for the page; the try is registered (denied,
    # already_revoked), as the API's 409 is
    r = client.post(f"/admin/apikeys/{kid}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/admin/apikeys/{kid}/revoke", headers={**HTMX, "X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.text.lstrip().startswith(f'<tr id="key-{kid}">') and "已吊销" in r.text
    done, *again = audit(db, "apikey.revoke", object_id=str(kid))
    assert done.outcome == "ok"
    assert [(e.outcome, e.details) for e in again] == [
        ("denied", {"reason": "already_revoked", "prefix": world.key_b_row.prefix, "via": "page"})] * 2


# ---- API keys: the officer's workspace ---------------------------------------------------------

def test_officer_sees_only_their_departments_keys(client, world, login):
    login(client, "officer_a")
    page = client.get("/workspace/apikeys")
    assert page.status_code == 200
    assert "业务系统A" in page.text and "业务系统B" not in page.text
    assert 'name="department"' not in page.text


def test_officer_creates_a_key_for_their_department_only(client, world, login, db):
    csrf = login(client, "officer_a")
    r = client.post("/workspace/apikeys", data={"csrf_token": csrf, "name": "抽查系统", "department": "gaj"})
    assert r.status_code == 200
    secret = _secret(r.text)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).json()
    assert me["department_code"] == "scjgj"


def test_officer_cannot_revoke_another_departments_key(client, world, login, db):
    csrf = login(client, "officer_a")
    r = client.post(f"/workspace/apikeys/{world.key_b_row.id}/revoke", data={"csrf_token": csrf})
    assert r.status_code == 404
    r = client.post(f"/workspace/apikeys/{world.key_b_row.id}/revoke", headers={**HTMX, "X-CSRF-Token": csrf})
    assert r.status_code == 404
    assert client.get("/api/v1/me", headers=world.bearer(world.key_b)).status_code == 200
    # nothing revoked, but each try registered as the other not-found refusals are (the id tried, via page)
    tries = audit(db, "apikey.revoke")
    assert [(e.outcome, e.object_type, e.object_id, e.details) for e in tries] == [
        ("denied", "apikey", str(world.key_b_row.id), {"reason": "not_found", "via": "page"})] * 2
    assert {e.department_id for e in tries} == {world.dept_a.id}


def test_officer_revokes_their_own_key(client, world, login, db):
    csrf = login(client, "officer_a")
    with db.session() as s:
        kid = s.scalar(select(ApiKey.id).where(ApiKey.department_id == world.dept_a.id))
    r = client.post(f"/workspace/apikeys/{kid}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/workspace/apikeys"
    assert client.get("/api/v1/me", headers=world.bearer(world.key_a)).status_code == 401
    assert "已吊销" in client.get("/workspace/apikeys").text


def test_admin_workspace_without_a_department_offers_no_form(client, world, login):
    csrf = login(client, "admin")
    page = client.get("/workspace/apikeys")
    assert page.status_code == 200 and "尚未关联部门" in page.text and "业务系统A" not in page.text
    r = client.post("/workspace/apikeys", data={"csrf_token": csrf, "name": "x"})
    assert r.status_code == 422 and not KEY_SHAPE.search(r.text)
    assert client.post(f"/workspace/apikeys/{world.key_b_row.id}/revoke",
                       data={"csrf_token": csrf}).status_code == 404


def test_an_auditor_is_given_no_department_on_the_page(client, world, login, db):
    """The users page refuses a department for an auditor, as the API and the CLI do: 422, the
    department select marked, registered with ``via: page``, nothing created."""
    from xinyong.audit.models import AuditEntry

    csrf = login(client, "admin")
    r = client.post("/admin/users", data={"csrf_token": csrf, "username": "auditor_new", "password": PASSWORD,
                                          "role": "auditor", "department": "gaj"})
    assert r.status_code == 422 and "审计员账户不属于任何部门" in r.text
    assert re.search(r'<select name="department"[^>]*aria-invalid="true"', r.text)
    with db.session() as s:
        assert s.scalar(select(User).where(User.username == "auditor_new")) is None
        last = s.scalars(select(AuditEntry).where(AuditEntry.action == "user.create")
                         .order_by(AuditEntry.id.desc())).first()
    assert (last.outcome, last.details["reason"], last.details["field"], last.details["via"]) == (
        "failed", "department_not_allowed", "dept", "page")


def test_a_refused_account_form_shows_back_no_run_of_an_id_numbers_digits(client, world, login):
    """The user name of a refused account form is shown back as the audit log keeps it: a number
    mistyped by a digit (17 digits) is masked whole, as an ID number is (it was shown as typed)."""
    csrf = login(client, "admin")
    digits = "12010119850309101"  # an ID number with its last digit lost
    r = client.post("/admin/users", data={"csrf_token": csrf, "username": f"u{digits}", "password": "short",
                                          "role": "auditor"})
    assert r.status_code == 422
    assert digits not in r.text and digits[6:14] not in r.text
