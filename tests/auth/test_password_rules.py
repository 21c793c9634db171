"""A password holds no ID number (NIST SP 800-63B 5.1.1.2, context-specific words): every department
holding a citizen's records holds their number, the password a citizen is most tempted to choose.
Refused ``weak_password`` at ``password``, on the admin page, the API and the CLI alike (one
``check_password_strength``), never echoed. A password holding the user name is not refused: the rules
issue 2's commands took stay what provisioning scripts rely on."""

from __future__ import annotations

import pytest
from tests.support import SYSTEM, new_id_number

from xinyong.auth import service as auth_service
from xinyong.auth.service import AuthError, check_password_strength, random_password


def test_a_password_holding_an_id_number_is_refused():
    number = new_id_number()
    for password in (number, f"my-{number.lower()}!"):
        with pytest.raises(AuthError) as info:
            check_password_strength(password)
        assert info.value.code == "weak_password" and info.value.field == "password"
        assert "身份证号码" in str(info.value) and password not in str(info.value)
    check_password_strength("correct-horse-battery")
    check_password_strength("admin12345")  # the user name in it: taken, as before
    check_password_strength("12345678901234567")  # 17 digits: no ID number


def test_setting_such_a_password_changes_nothing(world, db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        user = s.get(type(world.users["citizen"]), world.users["citizen"].id)
        old = user.password_hash
        with pytest.raises(AuthError):
            auth_service.set_password(s, user=user, password=world.citizen_id_number, actor=SYSTEM)
        assert user.password_hash == old


def test_the_admin_page_refuses_an_id_number_as_password(client, world, login):  # type: ignore[no-untyped-def]
    csrf = login(client, "admin")
    number = new_id_number()
    r = client.post("/admin/users", data={"csrf_token": csrf, "username": "wangwu", "password": f"pw-{number}",
                                          "role": "auditor"})
    assert r.status_code == 422 and "密码不能包含身份证号码" in r.text and number not in r.text


def test_a_random_password_passes():
    for _ in range(200):
        password = random_password(6)  # (at least 8 bytes: 11 characters)
        check_password_strength(password)
        assert len(password) >= 11
