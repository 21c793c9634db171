"""A department's code and names and an account's username and display name never hold an ID number.

They are labels shown raw on every page that names the department or the user, written into
revisions, list entries and audit labels, and a department's code travels in URLs
(``/api/v1/departments/{code}/deactivate``, ``/workspace/records?department=…``, which the app
refuses outright when it holds a valid ID number). An API key's name was already refused with one
(``test_key_names_are_checked_as_department_names_are``); these were stored and shown as typed.
Refused by the service — API, pages and CLI alike —, the refusal registered, nothing created, and a
page shows what was typed back with the number masked.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from tests.auth.test_auth_api import assert_error, entries, sign_in
from tests.support import PASSWORD, SYSTEM, new_id_number

from xinyong.auth import service as auth_service
from xinyong.auth.models import Department, User


def _wide(number: str) -> str:
    """The number typed with a Chinese input method in full-width mode (read as the same number)."""
    return "".join(chr(ord(c) + 0xFEE0) for c in number)


def _never_raw(db, number: str, *texts: str) -> None:  # type: ignore[no-untyped-def]
    for text in texts:
        assert number not in text
    for e in entries(db):
        assert number not in f"{e.actor_label} {e.object_id} {e.details}"


@pytest.mark.parametrize(("where", "field", "code"), [
    ("code", "code", "invalid_code"),
    ("name", "name", "invalid_name"),
    ("name_wide", "name", "invalid_name"),
    ("name_en", "name_en", "invalid_name"),
])
def test_a_department_holding_an_id_number_is_refused(client, world, db, where, field, code):  # type: ignore[no-untyped-def]
    number = new_id_number()
    body = {"code": "okcode", "name": "区人社局", "name_en": "HR bureau"}
    if where == "code":
        body["code"] = number
    elif where == "name_wide":
        body["name"] = f"区人社局（{_wide(number)}）"
    else:
        body[where] = f"{body[where]} {number}"
    h = sign_in(client, db, world.users["admin"])
    err = assert_error(client.post("/api/v1/departments", json=body, headers=h), 422, code)
    assert err["errors"][0]["field"] == field and "身份证号码" in err["message"] and "ID number" in err["message"]
    (f,) = entries(db, action="department.create", outcome="failed")
    assert f.details["reason"] == code and f.details["field"] == field
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Department).where(
            Department.code.in_(["okcode", number]))) == 0
        with pytest.raises(auth_service.AuthError) as exc:  # the CLI and the pages reach the service alike
            auth_service.add_department(s, code=body["code"], name=body["name"], name_en=body["name_en"],
                                        actor=SYSTEM)
        assert (exc.value.code, exc.value.field) == (code, field)
    _never_raw(db, number, str(err))


@pytest.mark.parametrize(("where", "field", "code"), [
    ("username", "username", "invalid_username"),
    ("username_inside", "username", "invalid_username"),
    ("display_name", "display_name", "invalid_name"),
    ("display_name_wide", "display_name", "invalid_name"),
])
def test_an_account_holding_an_id_number_is_refused(client, world, db, where, field, code):  # type: ignore[no-untyped-def]
    number = new_id_number()
    body = {"username": "li.officer", "password": PASSWORD, "role": "officer", "department": "scjgj",
            "display_name": "李四"}
    body.update({"username": {"username": number, "username_inside": f"li{number}"}.get(where, body["username"]),
                 "display_name": {"display_name": f"李四 {number}",
                                  "display_name_wide": f"李四{_wide(number)}"}.get(where, "李四")})
    h = sign_in(client, db, world.users["admin"])
    err = assert_error(client.post("/api/v1/users", json=body, headers=h), 422, code)
    assert err["errors"][0]["field"] == field and "身份证号码" in err["message"]
    (f,) = entries(db, action="user.create", outcome="failed")
    assert f.details["reason"] == code and f.details["field"] == field
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(User).where(
            User.username == body["username"])) == 0
        with pytest.raises(auth_service.AuthError) as exc:
            auth_service.add_user(s, username=body["username"], password=PASSWORD, role="officer",
                                  department_id=world.dept_a.id, display_name=body["display_name"], actor=SYSTEM)
        assert (exc.value.code, exc.value.field) == (code, field)
    _never_raw(db, number, str(err))


def test_a_display_name_is_checked_as_a_department_name_is(session, world):  # type: ignore[no-untyped-def]
    """Control characters and line breaks (a forged second line wherever it is shown), and its length
    (the column's 128: the CLI passes it unchecked, and PostgreSQL refused it as a database error)."""
    for name, why in (("李四\n（伪造的第二行）", "invalid_name"), ("李四\u2028", "invalid_name"),
                      ("李" * 129, "invalid_name")):
        with pytest.raises(auth_service.AuthError) as exc:
            auth_service.add_user(session, username="li.officer", password=PASSWORD, role="officer",
                                  department_id=world.dept_a.id, display_name=name, actor=SYSTEM)
        assert (exc.value.code, exc.value.field) == (why, "display_name")
    user = auth_service.add_user(session, username="li.officer", password=PASSWORD, role="officer",
                                 department_id=world.dept_a.id, display_name="李四 (科员)", actor=SYSTEM)
    assert user.display_name == "李四 (科员)"


def test_the_admin_pages_refuse_them_and_show_what_was_typed_back_masked(client, world, db, login):  # type: ignore[no-untyped-def]
    number = new_id_number()
    masked = number[:6] + "*" * 8 + number[-4:]
    csrf = login(client, "admin")
    r = client.post("/admin/departments", data={"csrf_token": csrf, "code": number, "name": f"区人社局 {number}"})
    assert r.status_code == 422 and "身份证号码" in r.text
    assert number not in r.text and masked in r.text
    r = client.post("/admin/users", data={"csrf_token": csrf, "username": number, "password": PASSWORD,
                                          "role": "officer", "department": "scjgj",
                                          "display_name": f"李四 {number}"})
    assert r.status_code == 422 and "身份证号码" in r.text
    assert number not in r.text and masked in r.text
    assert [e.details["reason"] for e in entries(db, outcome="failed") if e.action in (
        "department.create", "user.create")] == ["invalid_code", "invalid_username"]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Department).where(Department.code == number)) == 0
        assert s.scalar(select(func.count()).select_from(User).where(User.username == number)) == 0
    _never_raw(db, number)
