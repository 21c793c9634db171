"""A password holds none of what others know of the account (NIST SP 800-63B 5.1.1.2): not its user
name, and no ID number — every department holding a citizen's records holds their number, the
password a citizen is most tempted to choose. Refused ``weak_password`` at ``password``, on the
admin page, the API and the CLI alike (one ``check_password_strength``), never echoed."""

from __future__ import annotations

import pytest
from tests.support import SYSTEM, new_id_number

from xinyong.auth import service as auth_service
from xinyong.auth.service import AuthError, check_password_strength, random_password


def test_a_password_holding_an_id_number_or_the_user_name_is_refused():
    number = new_id_number()
    for password, username, message in ((number, "zhangsan", "身份证号码"), (f"my-{number.lower()}!", None, "身份证号码"),
                                        ("ZhangSan-2026", "zhangsan", "用户名"),
                                        ("  zhangsan-6  ", " zhangsan ", "用户名")):
        with pytest.raises(AuthError) as info:
            check_password_strength(password, username=username)
        assert info.value.code == "weak_password" and info.value.field == "password"
        assert message in str(info.value) and password.strip() not in str(info.value)
    check_password_strength("correct-horse-battery", username="zhangsan")
    # a long password holding the name: what is left is a password of its own (admin-secret-pass at init)
    check_password_strength("admin-secret-pass", username="admin")
    check_password_strength("12345678901234567", username="ab")  # 17 digits: no ID number; a 2-letter name is no word


def test_setting_such_a_password_changes_nothing(world, db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        with pytest.raises(AuthError):
            auth_service.add_user(s, username="lisi_user", password="lisi_user-2026", role="auditor", actor=SYSTEM)
        user = s.get(type(world.users["citizen"]), world.users["citizen"].id)
        old = user.password_hash
        with pytest.raises(AuthError):
            auth_service.set_password(s, user=user, password=world.citizen_id_number, actor=SYSTEM)
        assert user.password_hash == old


def test_the_admin_page_refuses_the_user_name_as_password(client, world, login):  # type: ignore[no-untyped-def]
    csrf = login(client, "admin")
    r = client.post("/admin/users", data={"csrf_token": csrf, "username": "wangwu", "password": "wangwu-12345",
                                          "role": "auditor"})
    assert r.status_code == 422 and "密码不能是用户名加上少量字符" in r.text and "wangwu-12345" not in r.text


def test_a_random_password_passes_for_a_short_name():
    for _ in range(200):
        password = random_password("abc", 6)  # (at least 8 bytes: 11 characters)
        assert "abc" not in password.casefold() and len(password) >= 11
