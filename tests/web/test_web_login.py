"""Sign-in, sign-out, session rotation, lockout, login CSRF and local-only redirects."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.support import PASSWORD
from tests.web.web_support import audit, hidden, set_cookies

from xinyong.app import create_app
from xinyong.auth.deps import SESSION_COOKIE
from xinyong.auth.models import User
from xinyong.config import Settings


def _login_form(client):  # type: ignore[no-untyped-def]
    page = client.get("/login")
    assert page.status_code == 200
    return page, client.cookies.get("xy_login_csrf")


def _post_login(client, username: str, password: str = PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    _, csrf = _login_form(client)
    data = {"username": username, "password": password, "csrf_token": csrf or "", **extra}
    return client.post("/login", data=data, follow_redirects=False)


def test_login_page_sets_a_login_csrf_cookie_matching_the_form(client):
    page, csrf = _login_form(client)
    assert csrf and len(csrf) >= 32
    assert hidden(page.text, "csrf_token") == csrf
    cookie = next(c for c in set_cookies(page) if c.startswith("xy_login_csrf="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # development
    assert "strict-transport-security" not in page.headers  # served over plain HTTP on a laptop
    assert 'name="password"' in page.text and 'type="password"' in page.text


def test_login_success_sets_a_hardened_session_cookie_and_redirects(client, world, db):
    r = _post_login(client, "admin")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = next(c for c in set_cookies(r) if c.startswith(f"{SESSION_COOKIE}="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    me = client.get("/api/v1/session").json()
    assert me["username"] == "admin" and me["role"] == "admin" and me["department_id"] is None
    assert me["csrf_token"]
    ok = audit(db, "auth.login", outcome="ok", object_id=str(world.users["admin"].id))
    assert len(ok) == 1


def test_cookies_are_secure_outside_development(db, vault, settings, world):
    from fastapi.testclient import TestClient

    prod = Settings(**{**settings.model_dump(), "environment": "production"})
    app = create_app(prod, database=db, vault=vault)  # type: ignore[arg-type]
    with TestClient(app, base_url="https://testserver") as c:
        page = c.get("/login")
        assert all("Secure" in h for h in set_cookies(page))
        # and the browser is told to keep to HTTPS (a year), on pages and API answers alike
        assert page.headers["strict-transport-security"] == "max-age=31536000"
        assert c.get("/api/v1/me").headers["strict-transport-security"] == "max-age=31536000"
        r = _post_login(c, "admin")
        assert r.status_code == 303
        assert all("Secure" in h for h in set_cookies(r))


def test_wrong_password_is_refused_and_registered(client, world, db):
    r = _post_login(client, "admin", "not-the-password")
    assert r.status_code == 401
    assert "用户名或密码错误" in r.text
    assert client.cookies.get(SESSION_COOKIE) is None
    assert hidden(r.text, "username") == "admin"
    assert "not-the-password" not in r.text
    denied = audit(db, "auth.login", outcome="denied", object_id=str(world.users["admin"].id))
    assert len(denied) == 1 and denied[0].details["reason"] == "bad_password"
    with db.session() as s:
        assert s.scalar(select(User.failed_logins).where(User.username == "admin")) == 1
    assert client.get("/api/v1/session").status_code == 401


def test_unknown_user_and_wrong_password_look_the_same(client, world, db):
    wrong = _post_login(client, "admin", "not-the-password")
    unknown = _post_login(client, "nobody-here", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401

    def alert(html: str) -> str:
        return html.split('role="alert">', 1)[1].split("<", 1)[0]

    assert alert(wrong.text) == alert(unknown.text)
    anonymous = audit(db, "auth.login", outcome="denied", actor_type="anonymous")
    assert anonymous[-1].details["reason"] == "unknown_user"


def test_an_id_number_typed_as_the_username_is_not_kept_in_the_clear(client, world, db):
    """A citizen who types their ID number as the user name, in ASCII or full-width digits (a Chinese
    input method in full-width mode): the refused login's audit entry masks it."""
    from tests.support import new_id_number

    number = new_id_number()
    wide = "".join(chr(ord(c) + 0xFEE0) for c in number)
    for typed in (number, wide):
        assert _post_login(client, typed, "not-the-password").status_code == 401
    labels = [e.actor_label for e in audit(db, "auth.login", outcome="denied", actor_type="anonymous")][-2:]
    assert labels == [number[:6] + "*" * 8 + number[-4:], wide[:6] + "*" * 8 + wide[-4:]]


def test_a_number_after_a_long_user_name_or_mistyped_by_a_digit_is_not_kept_in_the_clear(client, world, db):
    """The label is masked before it is cut to 64 characters: a number typed after 50 characters kept
    its region and birth date (its first 14 digits, no longer an ID number's shape once cut), and a
    number mistyped by a digit (17 or 19 digits) was kept as typed — as the refused page does not
    show back anything holding 17 digits in a row, nor does the audit log keep it."""
    from tests.support import new_id_number

    number = new_id_number()
    typed = ["a" * 50 + number, number[:-1], number + "7", " " * 3 + "b" * 60 + number]
    for name in typed:
        assert _post_login(client, name, "not-the-password").status_code == 401
    labels = [e.actor_label for e in audit(db, "auth.login", outcome="denied", actor_type="anonymous")][-len(typed):]
    assert len(labels) == len(typed)
    for label in labels:
        assert number[6:14] not in label and len(label) <= 64
    assert labels[0] == "a" * 50 + number[:6] + "*" * 8
    assert labels[1] == "*" * 17 and labels[2] == number[:6] + "*" * 8 + number[-4:] + "7"


def test_the_refused_sign_in_page_does_not_show_an_id_number_typed_as_the_username(client, world):
    """The page that says the sign-in failed keeps what was typed in the user name field — but not
    an ID number (nor anything holding 17 digits in a row, in any digits), which no user name is:
    it would be in the page in the clear, as the find and check forms never show one back."""
    from tests.support import new_id_number

    number = new_id_number()
    wide = "".join(chr(ord(c) + 0xFEE0) for c in number)
    for typed in (number, wide, f"sfz{number}", number[:-1] + ("0" if number[-1] != "0" else "1")):
        r = _post_login(client, typed, "not-the-password")
        assert r.status_code == 401
        assert typed not in r.text and number[6:14] not in r.text and hidden_value(r.text, "username") == ""
    r = _post_login(client, "admin", "not-the-password")  # a user name is kept, to correct the password
    assert r.status_code == 401 and hidden_value(r.text, "username") == "admin"


def hidden_value(page: str, name: str) -> str | None:
    import re

    m = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', page) or re.search(
        rf'<input[^>]*value="([^"]*)"[^>]*name="{name}"', page)
    return m.group(1) if m else None


def test_lockout_after_repeated_failures(client, world, db, settings):
    settings.login_max_failures = 3
    for _ in range(3):
        assert _post_login(client, "officer_a", "wrong-password!").status_code == 401
    # Now even the right password is refused, with the same message (no enumeration).
    r = _post_login(client, "officer_a")
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    assert client.cookies.get(SESSION_COOKIE) is None
    reasons = [e.details["reason"] for e in audit(db, "auth.login", outcome="denied",
                                                   object_id=str(world.users["officer"].id))]
    assert reasons == ["bad_password", "bad_password", "bad_password_locked", "locked"]
    # Other accounts are unaffected.
    assert _post_login(client, "officer_b").status_code == 303


def test_login_without_or_with_a_wrong_csrf_token_is_refused(client, world, db):
    _login_form(client)
    r = client.post("/login", data={"username": "admin", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": "x" * 43},
                    follow_redirects=False)
    assert r.status_code == 403
    assert client.cookies.get(SESSION_COOKIE) is None
    assert len(audit(db, "auth.csrf", outcome="denied")) == 2
    assert audit(db, "auth.login", outcome="ok") == []


def test_session_is_rotated_at_login(client, world, login):
    login(client, "admin")
    first = client.cookies.get(SESSION_COOKIE)
    login(client, "admin")
    second = client.cookies.get(SESSION_COOKIE)
    assert first and second and first != second
    # present each token alone (httpx2's test client keeps the server's cookie beside one set here)
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, first)
    assert client.get("/api/v1/session").status_code == 401
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, second)
    assert client.get("/api/v1/session").status_code == 200


def test_logout_ends_the_session(client, world, db, login):
    csrf = login(client, "officer_a")
    token = client.cookies.get(SESSION_COOKIE)
    r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.cookies.get(SESSION_COOKIE) is None
    assert len(audit(db, "auth.logout", object_id=str(world.users["officer"].id))) == 1
    # The old cookie is dead, even if a browser (or a thief) presents it again.
    client.cookies.set(SESSION_COOKIE, token)
    assert client.get("/api/v1/session").status_code == 401
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"].startswith("/login")
    page = client.get("/workspace/apikeys", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/workspace/apikeys"


def test_logout_needs_the_csrf_token(client, world, db, login):
    login(client, "admin")
    r = client.post("/logout", follow_redirects=False)
    assert r.status_code == 403
    assert "CSRF" in r.text
    assert client.get("/api/v1/session").status_code == 200  # still signed in
    assert len(audit(db, "auth.csrf", outcome="denied", actor_label="admin")) == 1


def test_disabled_users_session_dies(client, other_client, world, db, login):
    login(other_client, "officer_a")
    assert other_client.get("/").status_code == 200
    csrf = login(client, "admin")
    officer_id = world.users["officer"].id
    r = client.post(f"/admin/users/{officer_id}/disable", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert other_client.get("/api/v1/session").status_code == 401
    home = other_client.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"].startswith("/login")
    # Signing in again says the account is disabled (only after the right password).
    again = _post_login(other_client, "officer_a")
    assert again.status_code == 401 and "已停用" in again.text
    wrong = _post_login(other_client, "officer_a", "wrong-password!")
    assert "已停用" not in wrong.text


@pytest.mark.parametrize("target", [
    "//evil.example/x", "https://evil.example/", "/\\evil.example", "\\\\evil.example", "javascript:alert(1)",
    "http:/evil.example", " /admin", "/%0d%0aSet-Cookie:x=1", "", "evil.example",
])
def test_login_refuses_foreign_redirect_targets(client, world, target):
    r = _post_login(client, "admin", next=target)
    assert r.status_code == 303
    location = r.headers["location"]
    assert location == "/" or (location.startswith("/") and not location.startswith("//")
                               and "\\" not in location and "evil" not in location)


def test_login_redirects_to_a_local_next(client, world):
    page = client.get("/login?next=/admin/users")
    assert hidden(page.text, "next") == "/admin/users"
    r = _post_login(client, "admin", next="/admin/users")
    assert r.status_code == 303 and r.headers["location"] == "/admin/users"


def test_login_page_drops_a_foreign_next(client):
    page = client.get("/login?next=//evil.example")
    assert hidden(page.text, "next") == "/"


def test_session_endpoint_is_for_browser_sessions_only(client, world):
    r = client.get("/api/v1/session")
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    r = client.get("/api/v1/session", headers=world.bearer(world.key_a))
    assert r.status_code == 401


def test_sign_in_attempts_are_limited_per_address_across_accounts(db, vault, settings, world):
    """The lockout counts per account: one address trying one password on many accounts (or on
    names that do not exist) met no limit. The limit ``login`` counts every try from an address;
    over it the page answers 429 with Retry-After, and the refusals are registered (in batches)."""
    from fastapi.testclient import TestClient
    from sqlalchemy import func

    from xinyong.audit.models import AuditEntry
    from xinyong.ratelimit import limiter_of, record_refusals

    limited = Settings(**{**settings.model_dump(), "rate_limits": "login=3/m:3"})
    app = create_app(limited, database=db, vault=vault)  # type: ignore[arg-type]
    with TestClient(app) as c:
        tried = [_post_login(c, name, "Spray-2026!") for name in ("admin", "officer", "nobody-at-all")]
        assert [r.status_code for r in tried] == [401, 401, 401]
        over = _post_login(c, "auditor", "Spray-2026!")
        assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
        assert "登录尝试过于频繁" in over.text
        # the right password does not pass either while the address is over the limit
        assert _post_login(c, "admin").status_code == 429
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "auth.login")) == 3
            record_refusals(s, limiter_of(app))
            s.commit()
            [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "ratelimit.refused")).all()
            assert entry.details["limit"] == "login" and entry.details["calls"] == 2


def test_the_sign_in_redirect_never_carries_digits_of_an_id_numbers_shape(client):  # type: ignore[no-untyped-def]
    """A page asked for without a session sends the browser to ``/login?next=<its path>``: a path
    holding 17 digits in a row (valid or not) goes home instead, as the language links send it."""
    from tests.support import new_id_number

    number = new_id_number()
    shaped = number[:17] + ("0" if number[-1] != "0" else "1")
    for path in (f"/workspace/records/{shaped}", f"/workspace/records/{number}"):
        page = client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/", path
    page = client.get("/workspace/apikeys", follow_redirects=False)
    assert page.headers["location"] == "/login?next=/workspace/apikeys"
