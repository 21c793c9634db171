"""Home pages by role, access to pages, language switch, security headers and error pages."""

from __future__ import annotations

import re

import pytest
from fastapi import HTTPException
from sqlalchemy.exc import OperationalError
from tests.web.web_support import ROLE_USERS, audit, set_cookies

ADMIN_PAGES = ["/admin/departments", "/admin/users", "/admin/apikeys"]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=|\son[a-z]+=", re.I)

HOME_MARKERS = {
    "admin": ["/admin/departments", "/admin/users", "/admin/apikeys", "审计日志"],
    "officer": ["区市场监管局", "scjgj", "/workspace/apikeys"],
    "institution": ["某银行", "bank1"],
    "citizen": ["我的身份信息", "张**"],
    "auditor": ["审计日志", "/audit"],
}


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_each_roles_home_page_renders(client, world, login, role):
    login(client, ROLE_USERS[role])
    r = client.get("/")
    assert r.status_code == 200
    assert "和平区个人公共信用信息共享服务平台" in r.text
    for marker in HOME_MARKERS[role]:
        assert marker in r.text, marker
    assert 'name="csrf-token"' in r.text and 'action="/logout"' in r.text
    if role != "admin":
        assert "/admin/users" not in r.text


def test_citizen_home_shows_only_the_masked_identity_and_is_audited(client, world, login, db):
    login(client, "zhangsan")
    r = client.get("/")
    raw = world.citizen_id_number
    assert raw not in r.text and raw.lower() not in r.text
    masked = raw[:6] + "*" * 8 + raw[-4:]
    assert masked in r.text
    assert "张三丰" not in r.text and "张**" in r.text
    reads = audit(db, "subject.read", object_id=str(world.citizen_subject.id))
    assert len(reads) == 1 and reads[0].actor_label == "zhangsan"


def test_officer_home_counts_the_departments_active_keys(client, world, login):
    login(client, "officer_a")
    r = client.get("/")
    assert re.search(r'class="active-keys">1<', r.text)


def test_visitors_are_sent_to_the_login_page(client, world):
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    for path in ADMIN_PAGES + ["/workspace/apikeys"]:
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/login?next={path}"


@pytest.mark.parametrize("role", ["officer", "institution", "citizen", "auditor"])
def test_admin_pages_are_forbidden_to_non_admins(client, world, login, db, role):
    csrf = login(client, ROLE_USERS[role])
    for path in ADMIN_PAGES:
        r = client.get(path)
        assert r.status_code == 403, path
        assert "无权访问" in r.text and r.headers["x-request-id"] in r.text
        r = client.post(path, data={"csrf_token": csrf, "name": "x", "code": "xx", "department": "scjgj"})
        assert r.status_code == 403
    r = client.post(f"/admin/apikeys/{world.key_b_row.id}/revoke", data={"csrf_token": csrf})
    assert r.status_code == 403
    assert client.get("/api/v1/me", headers=world.bearer(world.key_b)).status_code == 200
    assert len(audit(db, "auth.forbidden", actor_label=ROLE_USERS[role])) == 2 * len(ADMIN_PAGES) + 1


@pytest.mark.parametrize("role", ["institution", "citizen", "auditor"])
def test_workspace_is_for_department_officers(client, world, login, role):
    login(client, ROLE_USERS[role])
    assert client.get("/workspace/apikeys").status_code == 403


def test_language_switch(client, world, login):
    r = client.get("/lang?to=en&next=/login", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    cookie = next(c for c in set_cookies(r) if c.startswith("lang="))
    assert "lang=en" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    page = client.get("/login")
    assert '<html lang="en">' in page.text and "Sign in" in page.text
    assert "Heping District" in page.text
    login(client, "admin")
    home = client.get("/")
    assert "Dashboard" in home.text and "Departments" in home.text
    back = client.get("/lang?to=zh&next=/", follow_redirects=False)
    assert back.headers["location"] == "/"
    assert "工作台" in client.get("/").text


def test_language_switch_accepts_only_known_languages(client):
    r = client.get("/lang?to=fr&next=/login", follow_redirects=False)
    assert r.status_code == 303 and not any(c.startswith("lang=") for c in set_cookies(r))
    client.cookies.set("lang", "<script>")
    page = client.get("/login")
    assert '<html lang="zh-CN">' in page.text and "<script>" not in page.text


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "/\\evil.example", "evil", ""])
def test_language_switch_refuses_foreign_redirects(client, target):
    r = client.get("/lang", params={"to": "en", "next": target}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_language_links_point_back_to_the_current_page(client, world, login):
    login(client, "admin")
    page = client.get("/admin/users")
    assert "/lang?to=en&amp;next=%2Fadmin%2Fusers" in page.text


def test_language_links_drop_a_query_value_of_an_id_numbers_shape(client, world, login):
    """17 digits in a row — an ID number with a wrong check digit, which the app's gate for valid
    ones (``id_number_in_url``) lets through — in a query parameter's value or name: the language
    links keep the page and its other parameters, never that one (it would go on into the next
    request's URL and its logs)."""
    from tests.support import new_id_number

    number = new_id_number()
    shaped = number[:17] + ("0" if number[-1] != "0" else "1")  # the wrong check digit
    login(client, "admin")
    for query in (f"page=1&q={shaped}", f"page=1&{shaped}=x", f"page=1&q=a{shaped[:17]}b"):
        page = client.get(f"/admin/users?{query}")
        assert page.status_code == 200, query
        assert shaped[:17] not in page.text, query
        assert '/lang?to=en&amp;next=%2Fadmin%2Fusers%3Fpage%3D1"' in page.text, query


@pytest.mark.parametrize("path", ["/login", "/", "/admin/users", "/admin/apikeys", "/nope"])
def test_pages_send_security_headers(client, world, login, path):
    login(client, "admin")
    r = client.get(path)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/login", "/", *ADMIN_PAGES, "/nope"])
def test_pages_have_no_inline_scripts_or_styles(client, world, login, path):
    login(client, "admin")
    html = client.get(path).text
    assert not INLINE_SCRIPT.search(html)
    assert not INLINE_STYLE.search(html)


def test_static_files_are_served_and_cacheable(client):
    for path in ("/static/vendor/pico.min.css", "/static/vendor/htmx.min.js", "/static/app.css",
                 "/static/app.js"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "no-store" not in r.headers.get("cache-control", "")
    assert "X-CSRF-Token" in client.get("/static/app.js").text


def test_not_found_page_is_friendly_and_bilingual(client):
    r = client.get("/no/such/page")
    assert r.status_code == 404
    assert "页面不存在" in r.text and "Page not found" in r.text
    assert r.headers["x-request-id"] in r.text


def test_validation_error_page_names_the_field(client, world, login):
    login(client, "admin")
    r = client.get("/admin/users?page=abc")
    assert r.status_code == 422
    assert "<code>page</code>" in r.text and r.headers["x-request-id"] in r.text


def test_internal_error_page_never_shows_a_traceback(app, loose_client):
    @app.get("/boom-for-test")
    def boom() -> None:
        raise RuntimeError("secret detail 120101198503090016 in the exception")

    r = loose_client.get("/boom-for-test")
    assert r.status_code == 500
    assert "服务器内部错误" in r.text and "Internal error" in r.text
    for leak in ("Traceback", "RuntimeError", "secret detail", "120101198503090016", 'File "'):
        assert leak not in r.text


def test_internal_error_page_has_the_request_id_and_security_headers(app, loose_client):
    @app.get("/boom-for-test")
    def boom() -> None:
        raise RuntimeError("boom")

    r = loose_client.get("/boom-for-test")
    assert r.status_code == 500
    assert r.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-request-id"] in r.text


def test_database_outage_page_is_503(app, loose_client):
    @app.get("/db-down-for-test")
    def down() -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    r = loose_client.get("/db-down-for-test")
    assert r.status_code == 503
    assert "服务暂不可用" in r.text and r.headers["x-request-id"] in r.text
    assert "connection refused" not in r.text


def test_error_page_escapes_messages(app, client):
    @app.get("/escape-for-test")
    def escape() -> None:
        raise HTTPException(409, detail="<script>alert(1)</script>")

    r = client.get("/escape-for-test")
    assert r.status_code == 409
    assert "<script>alert(1)" not in r.text and "&lt;script&gt;" in r.text


@pytest.mark.parametrize(("lang", "said"), [("zh", "查询服务尚未开通"), ("en", "not open yet")])
def test_the_institution_home_does_not_promise_a_query_it_cannot_make(client, world, login, lang, said):
    """An institution's account reads the catalog only until the query services exist (README); its
    home page said "you can query their credit report here", with nothing to query with."""
    login(client, ROLE_USERS["institution"])
    client.cookies.set("lang", lang)
    page = client.get("/").text
    assert said in page
    assert "<form" not in page.split("<main", 1)[1]  # indeed nothing to query with
