"""Step-up authentication (ASVS L3, docs/security.md): an administrative change needs the password
entered in the last minutes. A session left open on a desk can still read, but changing users,
departments, keys, the catalog, rules, measures or the holiday table first asks for the password
again; the refusal, a wrong password and the step-up itself are audited."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from tests.support import PASSWORD
from tests.web.web_support import audit, hidden

from xinyong import workdays
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
