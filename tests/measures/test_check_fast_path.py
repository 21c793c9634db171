"""The check API's fast path (one statement, no dependency tree): it answers exactly as the full
path, refuses a revoked key on its very next request, is rate-limited per key, and fails fast (503)
when the database is down."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from tests.measures.measures_support import subject_with_status
from tests.support import SYSTEM, login, new_id_number

from xinyong.app import create_app
from xinyong.audit.models import AuditEntry
from xinyong.auth import service as auth_service
from xinyong.auth.models import ApiKey, Department
from xinyong.db import Database
from xinyong.measures import service
from xinyong.measures.models import Check
from xinyong.scoring.models import SubjectStatus

VARYING = ("check_id", "checked_at", "receipt")


@pytest.fixture
def fast_calls(monkeypatch):  # type: ignore[no-untyped-def]
    """Counts the checks the fast path answered (a spy: the real function runs)."""
    calls = {"answered": 0, "passed_on": 0}
    real = service.fast_check

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = real(*args, **kwargs)
        calls["answered" if result is not None else "passed_on"] += 1
        return result

    monkeypatch.setattr(service, "fast_check", spy)
    return calls


def _check(client, world, number: str, scenario: str = "awards", key: str | None = None):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/checks", json={"id_number": number, "scenario": scenario},
                       headers=world.bearer(key or world.key_a))


def test_fast_path_answers_as_the_full_path(client, world, db, vault, fast_calls):  # type: ignore[no-untyped-def]
    with db.session() as s:
        number, _ = subject_with_status(s, vault, grade="D", lists=["dishonest_debtor"])
    _check(client, world, new_id_number())  # warms the process's rules and default status
    for who in (number, new_id_number()):  # known with a status row; unknown to the platform
        fast = _check(client, world, who, "public_services")
        assert fast.status_code == 200, fast.text
        csrf = login(client, "officer_a")  # an officer of the same department: the full path
        full = client.post("/api/v1/checks", json={"id_number": who, "scenario": "public_services"},
                           headers={"X-CSRF-Token": csrf})
        client.cookies.clear()
        assert full.status_code == 200, full.text
        assert {k: v for k, v in fast.json().items() if k not in VARYING} == \
            {k: v for k, v in full.json().items() if k not in VARYING}
        assert fast.headers["x-request-id"] and fast.headers["cache-control"] == "no-store"
    assert fast_calls["answered"] >= 2


def test_revoked_key_is_refused_on_its_very_next_request(client, world, db, fast_calls):  # type: ignore[no-untyped-def]
    assert _check(client, world, new_id_number(), key=world.key_b).status_code == 200
    assert _check(client, world, new_id_number(), key=world.key_b).status_code == 200
    assert fast_calls["answered"] >= 1
    with db.session() as s:
        auth_service.revoke_api_key(s, key=s.merge(world.key_b_row), actor=SYSTEM)
    r = _check(client, world, new_id_number(), key=world.key_b)
    assert r.status_code == 401 and r.json()["code"] == "key_revoked" and r.json()["request_id"]
    with db.session() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "auth.apikey").order_by(AuditEntry.id.desc()))
        assert entry is not None and entry.outcome == "denied" and entry.details["path"] == "/api/v1/checks"


def test_inactive_department_wrong_secret_and_unknown_key_are_refused(client, world, db):  # type: ignore[no-untyped-def]
    assert _check(client, world, new_id_number(), key=world.key_b).status_code == 200
    wrong = world.key_b[:-4] + ("AAAA" if not world.key_b.endswith("AAAA") else "BBBB")
    r = _check(client, world, new_id_number(), key=wrong)
    assert r.status_code == 401 and r.json()["code"] == "key_invalid"
    with db.session() as s:  # a real key with a wrong secret is registered, as a failed login is
        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "auth.apikey")).all()
        assert (entry.outcome, entry.actor_id, entry.details) == (
            "denied", str(world.key_b_row.id), {"reason": "wrong_secret", "path": "/api/v1/checks"})
    r = _check(client, world, new_id_number(), key="xy_000000000000_" + "x" * 43)
    assert r.status_code == 401 and r.json()["code"] == "key_invalid"
    with db.session() as s:
        s.execute(update(Department).where(Department.id == world.dept_b.id).values(active=False))
    r = _check(client, world, new_id_number(), key=world.key_b)
    assert r.status_code == 401 and r.json()["code"] == "key_revoked"


def test_bodies_the_schema_refuses_get_the_standard_422(client, world):  # type: ignore[no-untyped-def]
    for body in ({"id_number": new_id_number(), "scenario": "awards", "extra": 1}, {"id_number": 1, "scenario": "a"},
                 {"scenario": "awards"}, {"id_number": "x" * 65, "scenario": "awards"}, []):
        r = client.post("/api/v1/checks", json=body, headers=world.bearer(world.key_a))
        assert r.status_code == 422 and r.json()["code"] == "validation_error", (body, r.text)
        assert r.json()["errors"] and r.json()["request_id"]
    r = client.post("/api/v1/checks", content=b"{not json", headers={**world.bearer(world.key_a),
                                                                     "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"


def test_key_last_use_is_stamped_by_the_register(client, world, db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        s.execute(update(ApiKey).where(ApiKey.id == world.key_b_row.id).values(last_used_at=None))
    assert _check(client, world, new_id_number(), key=world.key_b).status_code == 200
    with db.session() as s:
        assert s.scalar(select(ApiKey.last_used_at).where(ApiKey.id == world.key_b_row.id)) is not None


def test_checks_are_rate_limited_per_key(db, vault, settings, world):  # type: ignore[no-untyped-def]
    app = create_app(settings.model_copy(update={"rate_limits": "checks=1/m:2"}), database=db, vault=vault)
    with TestClient(app, base_url="https://testserver") as c:
        for _ in range(2):
            assert _check(c, world, new_id_number()).status_code == 200
        r = _check(c, world, new_id_number())
        assert r.status_code == 429 and r.json()["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1
        assert r.json()["request_id"] and r.headers["x-request-id"]
        assert _check(c, world, new_id_number(), key=world.key_b).status_code == 200  # per key
        csrf = login(c, "officer_a")  # the full path is limited too (the officer is another caller)
        for status in (200, 200, 429):
            assert c.post("/api/v1/checks", json={"id_number": new_id_number(), "scenario": "awards"},
                          headers={"X-CSRF-Token": csrf}).status_code == status


def test_check_fails_fast_with_503_when_the_database_is_unreachable(vault, settings, world):  # type: ignore[no-untyped-def]
    app = create_app(settings, database=Database("postgresql+psycopg://nobody@127.0.0.1:1/x"), vault=vault)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        t = time.monotonic()
        r = _check(c, world, new_id_number())
        assert time.monotonic() - t < 3
        assert r.status_code == 503 and r.json()["code"] == "database_unavailable" and r.headers["retry-after"]
        assert "nobody" not in r.text and "127.0.0.1" not in r.text


def test_express_check_on_a_real_database_keeps_one_connection_and_sees_every_commit(  # type: ignore[no-untyped-def]
        fresh_db_url, vault, settings, fast_calls):
    """With a real Database the express check reads on one connection kept by the serving thread,
    which never holds a read snapshot: a status changed and committed elsewhere is answered at once."""
    db = Database(fresh_db_url)
    try:
        with db.session() as s:
            dept = auth_service.add_department(s, code="mzj", name="区民政局", actor=SYSTEM)
            key, _ = auth_service.create_api_key(s, department=dept, name="救助系统", actor=SYSTEM)
            number, subject = subject_with_status(s, vault, grade="B")
        app = create_app(settings, database=db, vault=vault)
        with TestClient(app, base_url="https://testserver") as c:
            def grade() -> str:
                r = c.post("/api/v1/checks", json={"id_number": number, "scenario": "subsidies"},
                           headers={"Authorization": f"Bearer {key}"})
                assert r.status_code == 200, r.text
                return str(r.json()["grade"])

            assert [grade(), grade()] == ["B", "B"]
            with db.session() as s:
                s.execute(update(SubjectStatus).where(SubjectStatus.subject_id == subject.id).values(grade="D"))
            assert grade() == "D"
        assert fast_calls["answered"] >= 2
        assert len(db._hot_conns) == 1  # one kept connection, the serving thread's
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Check)) == 3  # every answer registered
        kept = db._hot_conns[0]
        db.recycle_hot_reads()
        assert kept.closed and db._hot_conns == []
    finally:
        db.dispose()


def test_the_check_form_is_rate_limited_like_the_api(db, vault, settings, world):  # type: ignore[no-untyped-def]
    """The workspace's single-check form looks people up as the API does: a session over the
    ``checks`` limit is refused (429, Retry-After) before any lookup, nothing registered as a check,
    the refusals audited in one entry; the form's own key-holder and other officers keep their buckets."""
    from xinyong.ratelimit import limiter_of, record_refusals

    app = create_app(settings.model_copy(update={"rate_limits": "checks=1/m:2"}), database=db, vault=vault)
    with TestClient(app, base_url="https://testserver") as c:
        csrf = login(c, "officer_a")
        with db.session() as s:
            before = s.scalar(select(func.count()).select_from(Check))
        for _ in range(2):
            r = c.post("/workspace/checks", data={"id_number": new_id_number(), "scenario": "awards", "csrf_token": csrf})
            assert r.status_code == 200, r.text
        number = new_id_number()
        r = c.post("/workspace/checks", data={"id_number": number, "scenario": "awards", "csrf_token": csrf})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "rate_limited" in r.text and "请求过于频繁" in r.text and number not in r.text
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Check)) == before + 2
            assert record_refusals(s, limiter_of(app)) == 1
            s.flush()
            entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "ratelimit.refused")
                              .order_by(AuditEntry.id.desc())).first()
            assert entry is not None and entry.outcome == "denied" and entry.details["path"] == "/workspace/checks"
        assert _check(c, world, new_id_number()).status_code == 200  # a key is a caller of its own


def test_refused_check_forms_write_nothing_each(db, vault, settings, world):  # type: ignore[no-untyped-def]
    """A flood of refusals must not become a flood of writes (docs/measures.md): a check form over the
    limit answers 429 without a write of its own — no check, no audit entry per call (the refusals
    are counted and written in one entry later), and no list of batch jobs read and audited."""
    from xinyong.ratelimit import limiter_of, record_refusals

    app = create_app(settings.model_copy(update={"rate_limits": "checks=1/m:1"}), database=db, vault=vault)
    with TestClient(app, base_url="https://testserver") as c:
        csrf = login(c, "officer_a")
        assert c.post("/workspace/checks", data={"id_number": new_id_number(), "scenario": "awards",
                                                 "csrf_token": csrf}).status_code == 200
        with db.session() as s:
            before = s.scalar(select(func.max(AuditEntry.id)))
        for _ in range(3):
            r = c.post("/workspace/checks", data={"id_number": new_id_number(), "scenario": "awards",
                                                  "csrf_token": csrf})
            assert r.status_code == 429 and "请求过于频繁" in r.text
            assert 'id="jobs"' not in r.text  # the jobs list is not read for a refused call
        with db.session() as s:
            written = list(s.scalars(select(AuditEntry.action).where(AuditEntry.id > before)))
            assert written == [], written
            assert record_refusals(s, limiter_of(app)) == 3  # the three calls, in one entry
            s.flush()
            entries = list(s.scalars(select(AuditEntry).where(AuditEntry.id > before)))
            assert [(e.action, e.details["calls"]) for e in entries] == [("ratelimit.refused", 3)]
