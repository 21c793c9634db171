"""Step-up authentication (ASVS L3, docs/security.md): an administrative change needs the password
entered in the last minutes. A session left open on a desk can still read, but changing users,
departments, keys, the catalog, rules, measures or the holiday table first asks for the password
again; the refusal, a wrong password and the step-up itself are audited."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from sqlalchemy import select, update
from tests.support import PASSWORD, SYSTEM, at_once, committed_database
from tests.web.web_support import audit, hidden, set_cookies

from xinyong import workdays
from xinyong.auth.deps import SESSION_COOKIE
from xinyong.auth.models import WebSession
from xinyong.auth.permissions import STEP_UP_MINUTES
from xinyong.db import utcnow

NEXT = max(workdays.LIBRARY_YEARS) + 1
PAGE = "/admin/calendar"


def _age(db, minutes: int) -> None:  # type: ignore[no-untyped-def]
    """Every open session last proved its password ``minutes`` ago."""
    with db.session() as s:
        s.execute(update(WebSession).where(WebSession.ended_at.is_(None))
                  .values(authenticated_at=utcnow() - timedelta(minutes=minutes)))


def test_an_old_session_reads_but_changes_only_after_the_password_again(client, world, login, db):  # type: ignore[no-untyped-def]
    csrf = login(client, "admin")
    _age(db, STEP_UP_MINUTES + 5)
    try:
        schedule = f"{NEXT}-01-01 holiday 元旦"
        assert client.get(PAGE).status_code == 200  # reading needs no step-up
        page = f"https://testserver{PAGE}?year={NEXT}"
        r = client.post(PAGE, data={"csrf_token": csrf, "schedule": schedule}, headers={"Referer": page},
                        follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/reauth?next={PAGE}%3Fyear%3D{NEXT}"
        assert not workdays.calendar_covers(NEXT)
        # the JSON API answers the same refusal in the error shape
        api = client.put("/api/v1/catalog/items/honor", json={"spec": {}}, headers={"X-CSRF-Token": csrf})
        assert api.status_code == 403 and api.json()["code"] == "step_up_required" and "/reauth" in api.json()["message"]
        assert [e.details["permission"] for e in audit(db, "auth.step_up_required")] == ["calendar.manage",
                                                                                          "catalog.manage"]
        # the form: a wrong password is refused and counted like a failed login; the right one lets it through
        form = client.get(r.headers["location"])
        assert form.status_code == 200 and hidden(form.text, "next") == f"{PAGE}?year={NEXT}"
        wrong = client.post("/reauth", data={"csrf_token": csrf, "password": "not-it", "next": PAGE})
        assert wrong.status_code == 401
        assert [e.outcome for e in audit(db, "auth.login", actor_label="admin")][-1] == "denied"
        assert [(e.outcome, e.details["reason"]) for e in audit(db, "auth.step_up")] == [("denied", "bad_credentials")]
        ok = client.post("/reauth", data={"csrf_token": csrf, "password": PASSWORD, "next": f"{PAGE}?year={NEXT}"},
                         follow_redirects=False)
        assert ok.status_code == 303 and ok.headers["location"] == f"{PAGE}?year={NEXT}"
        assert [e.outcome for e in audit(db, "auth.step_up")] == ["denied", "ok"]
        # the step-up rotated the session: the page it leads back to carries the new CSRF token
        csrf = hidden(client.get(ok.headers["location"]).text, "csrf_token")
        saved = client.post(PAGE, data={"csrf_token": csrf, "schedule": schedule}, follow_redirects=False)
        assert saved.status_code == 303 and workdays.calendar_covers(NEXT)
    finally:
        workdays.use([])


def test_a_fresh_login_and_other_roles_need_no_step_up(client, world, login, db):  # type: ignore[no-untyped-def]
    csrf = login(client, "admin")  # a login is a proof of the password
    r = client.post("/admin/apikeys", data={"csrf_token": csrf, "name": "系统", "department": world.dept_a.code})
    assert r.status_code == 200 and "xy_" in r.text
    client.cookies.clear()
    csrf = login(client, "officer_a")
    _age(db, STEP_UP_MINUTES + 5)
    # an officer's own department keys are not an administrative change of the platform
    r = client.post("/workspace/apikeys", data={"csrf_token": csrf, "name": "业务系统"})
    assert r.status_code == 200 and "xy_" in r.text
    # the step-up form itself is a state change of the session: CSRF-protected like any other
    assert client.post("/reauth", data={"password": PASSWORD, "next": "/"}).status_code == 403


def test_the_reauth_page_needs_a_session(client):  # type: ignore[no-untyped-def]
    assert client.get("/reauth", follow_redirects=False).headers["location"] == "/login"


def test_an_htmx_button_sends_the_whole_page_to_the_password(client, world, login, db):  # type: ignore[no-untyped-def]
    """A key revoked with the list's HTMX button: the refusal must take the browser to /reauth, not
    swap the form into the table row."""
    from xinyong.auth.models import ApiKey

    csrf = login(client, "admin")
    _age(db, STEP_UP_MINUTES + 5)
    with db.session() as s:
        key_id = s.scalar(select(ApiKey.id).where(ApiKey.department_id == world.dept_a.id))
    r = client.post(f"/admin/apikeys/{key_id}/revoke", data={"csrf_token": csrf},
                    headers={"HX-Request": "true", "HX-Current-URL": "https://testserver/admin/apikeys"})
    assert r.status_code == 200 and r.headers["hx-redirect"] == "/reauth?next=/admin/apikeys" and not r.text
    with db.session() as s:
        assert s.get(ApiKey, key_id).revoked_at is None


def test_the_keys_api_asks_an_old_admin_session_for_the_password_too(client, world, login, db):  # type: ignore[no-untyped-def]
    """/api/v1/apikeys is declared with apikeys.manage_own (an officer's own keys) and gives an
    administrator every department's keys: that wider use is the administrative change the step-up
    guards on /admin/apikeys, so it must not be reachable through the API without it."""
    from xinyong.auth.models import ApiKey

    csrf = login(client, "admin")
    _age(db, STEP_UP_MINUTES + 5)
    headers = {"X-CSRF-Token": csrf}
    created = client.post("/api/v1/apikeys", json={"name": "旁路", "department": world.dept_b.code}, headers=headers)
    assert created.status_code == 403 and created.json()["code"] == "step_up_required"
    revoked = client.post(f"/api/v1/apikeys/{world.key_b_row.id}/revoke", headers=headers)
    assert revoked.status_code == 403 and revoked.json()["code"] == "step_up_required"
    with db.session() as s:
        assert s.scalar(select(ApiKey).where(ApiKey.name == "旁路")) is None
        assert s.get(ApiKey, world.key_b_row.id).revoked_at is None
    assert [e.details["path"] for e in audit(db, "auth.step_up_required")] == [
        "/api/v1/apikeys", f"/api/v1/apikeys/{world.key_b_row.id}/revoke"]
    # an officer's own department's keys stay as they were: no step-up
    client.cookies.clear()
    csrf = login(client, "officer_a")
    _age(db, STEP_UP_MINUTES + 5)
    own = client.post("/api/v1/apikeys", json={"name": "本部门"}, headers={"X-CSRF-Token": csrf})
    assert own.status_code == 201


def test_a_locked_account_is_told_so_at_the_step_up(client, world, login, db, app):  # type: ignore[no-untyped-def]
    csrf = login(client, "admin")
    _age(db, STEP_UP_MINUTES + 5)
    for _ in range(app.state.settings.login_max_failures):  # the last of these locks the account
        r = client.post("/reauth", data={"csrf_token": csrf, "password": "not-it", "next": "/"})
        assert r.status_code == 401 and "锁定" not in r.text
    r = client.post("/reauth", data={"csrf_token": csrf, "password": PASSWORD, "next": "/"})
    assert r.status_code == 401 and ("锁定" in r.text or "locked" in r.text)  # even the right password, while locked


# ---- the step-up rotates the session (ASVS 3.2.1 / 3.7.1) ------------------------------------------

def _row(db, token: str) -> WebSession:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return s.scalar(select(WebSession).where(WebSession.token_hash == hashlib.sha256(token.encode()).hexdigest()))


def _as(client, token: str):  # type: ignore[no-untyped-def]
    """The client presenting this session cookie (and no other)."""
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, token)
    return client


def _step_up(client, csrf: str, next_url: str = "/admin/apikeys"):  # type: ignore[no-untyped-def]
    return client.post("/reauth", data={"csrf_token": csrf, "password": PASSWORD, "next": next_url},
                       follow_redirects=False)


def test_a_step_up_issues_a_new_session_and_ends_the_old_one(client, world, login, db):  # type: ignore[no-untyped-def]
    """A token taken before the step-up (a stolen cookie) must not carry the freshness it gives."""
    old_csrf = login(client, "admin")
    _age(db, STEP_UP_MINUTES + 5)
    old = client.cookies.get(SESSION_COOKIE)
    r = _step_up(client, old_csrf)
    assert r.status_code == 303 and r.headers["location"] == "/admin/apikeys"
    new = client.cookies.get(SESSION_COOKIE)
    assert new and new != old
    # the old cookie is refused, for reading and for the administrative change alike
    _as(client, old)
    assert client.get("/api/v1/session").status_code == 401
    refused = client.post("/admin/apikeys", data={"csrf_token": old_csrf, "name": "旧令牌", "department": world.dept_a.code},
                          follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
    # the new one works, with a CSRF token of its own, and is fresh for an administrative change
    _as(client, new)
    me = client.get("/api/v1/session")
    assert me.status_code == 200 and me.json()["username"] == "admin"
    new_csrf = me.json()["csrf_token"]
    assert new_csrf != old_csrf
    stale = client.post("/admin/apikeys", data={"csrf_token": old_csrf, "name": "旧令牌", "department": world.dept_a.code})
    assert stale.status_code == 403  # the old CSRF token went with the old session
    created = client.post("/admin/apikeys", data={"csrf_token": new_csrf, "name": "新令牌", "department": world.dept_a.code})
    assert created.status_code == 200 and "xy_" in created.text
    assert audit(db, "auth.step_up_required") == []


def test_a_step_up_keeps_the_session_expiry_and_sets_the_cookie_as_a_login_does(client, world, login, db):  # type: ignore[no-untyped-def]
    csrf = login(client, "admin")
    _age(db, STEP_UP_MINUTES + 5)
    old = client.cookies.get(SESSION_COOKIE)
    before = _row(db, old)
    r = _step_up(client, csrf)
    cookie = next(c for c in set_cookies(r) if c.startswith(f"{SESSION_COOKIE}="))
    new = client.cookies.get(SESSION_COOKIE)
    assert cookie.startswith(f"{SESSION_COOKIE}={new};")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # development, as the login's
    after, ended = _row(db, new), _row(db, old)
    assert ended.ended_at is not None and after.ended_at is None
    assert after.user_id == before.user_id == world.users["admin"].id
    # re-authenticating does not lengthen the session: same end, and the cookie lasts as long
    assert after.expires_at == before.expires_at
    left = (before.expires_at - utcnow()).total_seconds()
    max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))  # type: ignore[union-attr]
    assert left - 60 <= max_age <= left
    assert utcnow() - after.authenticated_at < timedelta(minutes=1)
    assert after.csrf_token != before.csrf_token


def test_the_step_up_audit_entry_names_the_old_and_the_new_session(client, world, login, db):  # type: ignore[no-untyped-def]
    csrf = login(client, "admin")
    old = _row(db, client.cookies.get(SESSION_COOKIE))
    _step_up(client, csrf)
    new = _row(db, client.cookies.get(SESSION_COOKIE))
    [entry] = audit(db, "auth.step_up")
    assert entry.outcome == "ok" and entry.object_id == str(world.users["admin"].id)
    assert entry.details == {"session": new.id, "old_session": old.id} and new.id != old.id
    assert len(audit(db, "auth.login", outcome="ok")) == 1  # a step-up is not a second login


def test_a_failed_step_up_keeps_the_session_and_the_next_one_rotates_it(client, world, login, db):  # type: ignore[no-untyped-def]
    csrf = login(client, "admin")
    _age(db, STEP_UP_MINUTES + 5)
    old = client.cookies.get(SESSION_COOKIE)
    wrong = client.post("/reauth", data={"csrf_token": csrf, "password": "not-it", "next": "/admin/apikeys"},
                        follow_redirects=False)
    assert wrong.status_code == 401 and not any(c.startswith(f"{SESSION_COOKIE}=") for c in set_cookies(wrong))
    assert client.cookies.get(SESSION_COOKIE) == old and _row(db, old).ended_at is None
    with db.session() as s:
        assert len(list(s.scalars(select(WebSession)))) == 1  # no session was started
    me = client.get("/api/v1/session")
    assert me.status_code == 200 and me.json()["csrf_token"] == csrf
    refused = client.post("/admin/apikeys", data={"csrf_token": csrf, "name": "x", "department": world.dept_a.code},
                          follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/reauth")  # still not fresh
    [denied] = audit(db, "auth.step_up")
    assert denied.outcome == "denied" and denied.details["session"] == _row(db, old).id
    # the same session, with the same CSRF token, then steps up: rotated now
    assert _step_up(client, csrf).status_code == 303
    assert client.cookies.get(SESSION_COOKIE) != old and _row(db, old).ended_at is not None


def test_an_htmx_refusal_then_the_step_up_goes_back_with_the_new_session(client, world, login, db):  # type: ignore[no-untyped-def]
    """The HTMX button's refusal sends the page to /reauth?next=...; the password sends it back to
    the list, which then renders with the new session's CSRF token, and the button works."""
    from xinyong.auth.models import ApiKey

    csrf = login(client, "admin")
    _age(db, STEP_UP_MINUTES + 5)
    with db.session() as s:
        key_id = s.scalar(select(ApiKey.id).where(ApiKey.department_id == world.dept_a.id))
    htmx = {"HX-Request": "true", "HX-Current-URL": "https://testserver/admin/apikeys"}
    r = client.post(f"/admin/apikeys/{key_id}/revoke", data={"csrf_token": csrf}, headers=htmx)
    form = client.get(r.headers["hx-redirect"])
    back = client.post("/reauth", data={"csrf_token": hidden(form.text, "csrf_token"), "password": PASSWORD,
                                        "next": hidden(form.text, "next")}, follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == "/admin/apikeys"
    page = client.get(back.headers["location"])
    new_csrf = hidden(page.text, "csrf_token")
    assert page.status_code == 200 and new_csrf and new_csrf != csrf
    assert f'content="{new_csrf}"' in page.text  # the meta tag HTMX requests send as X-CSRF-Token
    done = client.post(f"/admin/apikeys/{key_id}/revoke", headers={**htmx, "X-CSRF-Token": new_csrf})
    assert done.status_code == 200 and "hx-redirect" not in done.headers
    with db.session() as s:
        assert s.get(ApiKey, key_id).revoked_at is not None


def test_a_session_ended_during_the_step_up_is_not_brought_back(client, world, login, db, monkeypatch):  # type: ignore[no-untyped-def]
    """Signed out in another tab (or the account's sessions ended by an administrator) while the
    password was being checked: the rotation must not start a new session from the ended one."""
    from xinyong.auth import service as auth_service

    csrf = login(client, "admin")
    token = client.cookies.get(SESSION_COOKIE)
    check = auth_service.authenticate

    def and_meanwhile_signed_out(session, **kw):  # type: ignore[no-untyped-def]
        user = check(session, **kw)
        auth_service.end_session(session, token=token)
        return user

    monkeypatch.setattr(auth_service, "authenticate", and_meanwhile_signed_out)
    r = _step_up(client, csrf)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/admin/apikeys"
    assert not any(c.startswith(f"{SESSION_COOKIE}=") for c in set_cookies(r))
    with db.session() as s:
        assert s.scalars(select(WebSession).where(WebSession.ended_at.is_(None))).all() == []
    assert [(e.outcome, e.details["reason"]) for e in audit(db, "auth.step_up")] == [("denied", "session_ended")]


def test_a_step_up_racing_a_sign_out_does_not_revive_the_session(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two transactions at once (PostgreSQL: the step-up's update waits for the sign-out's row lock,
    then finds the session ended): the step-up is refused and no session is left."""
    from xinyong.auth import service as auth_service

    database, drop = committed_database(tmp_path, "stepup")
    try:
        with database.session() as s:
            user = auth_service.add_user(s, username="admin", password=PASSWORD, role="admin", actor=SYSTEM)
            token, _ = auth_service.start_session(s, user=user, hours=8)
        with database.session() as s:
            principal = auth_service.principal_for_session(s, token=token)
        assert principal is not None

        def sign_out(s) -> None:  # type: ignore[no-untyped-def]
            auth_service.end_session(s, token=token)
            s.flush()  # written, not yet committed: the step-up starts meanwhile

        errors = at_once(database, sign_out,
                         lambda s: auth_service.reauthenticate(s, principal=principal, password=PASSWORD))
        assert [getattr(e, "code", e) for e in errors] == ["session_ended"]
        with database.session() as s:
            assert s.scalars(select(WebSession).where(WebSession.ended_at.is_(None))).all() == []
    finally:
        drop()


def test_deactivating_a_department_asks_an_old_session_for_the_password(client, world, login, db):  # type: ignore[no-untyped-def]
    from xinyong.auth.models import Department

    csrf = login(client, "admin")
    _age(db, STEP_UP_MINUTES + 5)
    page = "https://testserver/admin/departments"
    for verb, data in (("deactivate", {"reason": "机构撤并"}), ("activate", {})):
        r = client.post(f"/admin/departments/{world.dept_a.id}/{verb}", data={"csrf_token": csrf, **data},
                        headers={"Referer": page}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/reauth?next=/admin/departments"
    with db.session() as s:
        assert s.get(Department, world.dept_a.id).active
    assert [(e.details["path"], e.details["permission"]) for e in audit(db, "auth.step_up_required")] == [
        (f"/admin/departments/{world.dept_a.id}/deactivate", "departments.manage"),
        (f"/admin/departments/{world.dept_a.id}/activate", "departments.manage")]
    assert not audit(db, "department.deactivate")
    ok = client.post("/reauth", data={"csrf_token": csrf, "password": PASSWORD, "next": "/admin/departments"},
                     follow_redirects=False)
    assert ok.status_code == 303
    csrf = hidden(client.get(ok.headers["location"]).text, "csrf_token")  # the step-up rotated the session
    r = client.post(f"/admin/departments/{world.dept_a.id}/deactivate", data={"csrf_token": csrf, "reason": "机构撤并"},
                    follow_redirects=False)
    assert r.status_code == 303 and len(audit(db, "department.deactivate")) == 1


def test_the_step_up_redirect_drops_a_query_value_of_an_id_numbers_shape(client, world, login, db):  # type: ignore[no-untyped-def]
    """The page a refused form was sent from comes back in ``/reauth?next=…``: never with 17 digits
    in a row (an ID number with a wrong check digit, which the gate for valid ones lets through), as
    the language links drop them (``web.templating.lang_links``) — the page and its other
    parameters kept."""
    from tests.support import new_id_number

    number = new_id_number()
    shaped = number[:17] + ("0" if number[-1] != "0" else "1")
    csrf = login(client, "admin")
    _age(db, STEP_UP_MINUTES + 5)
    for query in (f"year={NEXT}&q={shaped}", f"year={NEXT}&{shaped}=x"):
        r = client.post(PAGE, data={"csrf_token": csrf, "schedule": f"{NEXT}-01-01 holiday 元旦"},
                        headers={"Referer": f"https://testserver{PAGE}?{query}"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/reauth?next={PAGE}%3Fyear%3D{NEXT}", query
    r = client.post(PAGE, data={"csrf_token": csrf, "schedule": f"{NEXT}-01-01 holiday 元旦"},
                    headers={"Referer": f"https://testserver/admin/x{shaped}"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/reauth?next=/"
