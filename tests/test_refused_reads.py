"""Every query is registered, the refused ones too: a read whose path or query parameter the schema
refuses (``GET /api/v1/records/abc``, ``?decided_from=notadate``, ``?limit=0``) is answered 422 by
FastAPI before the route runs, and left no entry. Now, for a caller the route's own checks let
through (an API key or a session), it leaves one entry of the route's read action, ``failed``, with
the error's code and field — never the value sent —; an unknown caller still gets its 401 and leaves
nothing, a refused key only its own ``auth.apikey`` entry."""

from __future__ import annotations

import string
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.support import login, new_id_number

from xinyong.audit.models import AuditEntry

# (who calls, the URL, the read action, the field refused, its code)
CASES = [
    ("key", "/api/v1/records/abc", "record.read", "record_id", "int_parsing"),
    ("key", "/api/v1/records/0", "record.read", "record_id", "greater_than_equal"),
    ("key", "/api/v1/records?decided_from=notadate", "records.list", "decided_from", "date_from_datetime_parsing"),
    ("key", "/api/v1/records?status=lost", "records.list", "status", "string_pattern_mismatch"),
    ("key", "/api/v1/records?limit=1000", "records.list", "limit", "less_than_equal"),
    ("auditor", "/api/v1/quality?since=yesterday", "quality.read", "since", "date_from_datetime_parsing"),
    ("key", "/api/v1/subjects/abc", "subject.read", "subject_id", "int_parsing"),
    ("key", "/api/v1/subjects/abc/score", "score.read", "subject_id", "int_parsing"),
    ("citizen", "/api/v1/subjects/-1/score", "score.read", "subject_id", "greater_than_equal"),
    ("auditor", "/api/v1/scoring/rulesets/v2", "scoring.ruleset_read", "version", "int_parsing"),
    ("key", "/api/v1/lists/serious_dishonesty/entries?status=gone", "list_entries.list", "status",
     "string_pattern_mismatch"),
    ("key", "/api/v1/lists/serious_dishonesty/entries?before_id=x", "list_entries.list", "before_id", "int_parsing"),
    ("key", "/api/v1/list-entries/abc", "list_entry.read", "entry_id", "int_parsing"),
    ("key", "/api/v1/checks/batch/abc", "checks.batch_read", "job_id", "int_parsing"),
    ("key", "/api/v1/checks/batch/0/result.csv", "checks.batch_result", "job_id", "greater_than_equal"),
    ("auditor", "/api/v1/checks/feedback-stats?since=2026-02-30", "checks.feedback_stats", "since",
     "date_from_datetime_parsing"),
    ("auditor", "/api/v1/audit/entries?limit=0", "audit.read", "limit", "greater_than_equal"),
    ("auditor", "/api/v1/audit/entries?before_id=x", "audit.read", "before_id", "int_parsing"),
    ("key", "/api/v1/imports?limit=0", "imports.list", "limit", "greater_than_equal"),
    ("key", "/api/v1/imports?before_id=x", "imports.list", "before_id", "int_parsing"),
    ("key", "/api/v1/imports/abc", "imports.read", "job_id", "int_parsing"),
    ("key", "/api/v1/imports/0/errors.csv", "imports.report", "job_id", "greater_than_equal"),
]


def _headers(client: Any, world: Any, who: str) -> dict[str, str]:
    if who == "key":
        return world.bearer(world.key_a)
    login(client, {"citizen": "zhangsan"}.get(who, who))
    return {}


def _entries(db: Any, after: int) -> list[AuditEntry]:
    with db.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.id > after).order_by(AuditEntry.id)))


def _last_id(db: Any) -> int:
    with db.session() as s:
        return s.scalar(select(func.coalesce(func.max(AuditEntry.id), 0))) or 0


@pytest.mark.parametrize(("who", "url", "action", "field", "code"), CASES, ids=[c[1] for c in CASES])
def test_a_read_refused_by_the_schema_is_registered(client, world, db, who, url, action, field, code) -> None:  # type: ignore[no-untyped-def]
    h = _headers(client, world, who)
    before = _last_id(db)
    r = client.get(url, headers=h)
    assert r.status_code == 422, r.text
    assert (r.json()["errors"][0]["field"], r.json()["errors"][0]["code"]) == (field, code)
    [e] = _entries(db, before)
    assert (e.action, e.outcome, e.object_type, e.object_id) == (action, "failed", None, None)
    assert e.details == {"code": code, "field": field, "errors": 1}
    if who == "key":
        assert (e.actor_type, e.department_id) == ("apikey", world.dept_a.id)
    else:
        assert e.actor_type == "user"


@pytest.mark.parametrize("url", [c[1] for c in CASES])
def test_an_unknown_caller_is_answered_401_and_leaves_nothing(client, world, db, url) -> None:  # type: ignore[no-untyped-def]
    before = _last_id(db)
    r = client.get(url)
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    assert _entries(db, before) == []


def test_a_refused_key_leaves_only_its_own_refusal(client, world, db) -> None:  # type: ignore[no-untyped-def]
    made_up = world.key_a[:-4] + ("AAAA" if not world.key_a.endswith("AAAA") else "BBBB")
    before = _last_id(db)
    r = client.get("/api/v1/records/abc", headers={"Authorization": f"Bearer {made_up}"})
    assert r.status_code == 401
    assert [(e.action, e.outcome) for e in _entries(db, before)] == [("auth.apikey", "denied")]


def test_a_caller_refused_the_route_gets_its_403_not_the_422(client, world, db) -> None:  # type: ignore[no-untyped-def]
    """A department's key may not read the audit log: its malformed query is refused for the caller
    first (``auth.forbidden``), as a good query would be, with no ``audit.read`` entry."""
    before = _last_id(db)
    r = client.get("/api/v1/audit/entries?limit=0", headers=world.bearer(world.key_a))
    assert r.status_code == 403
    assert [(e.action, e.outcome) for e in _entries(db, before)] == [("auth.forbidden", "denied")]


def test_a_refused_read_is_answered_as_before(client, world) -> None:  # type: ignore[no-untyped-def]
    """Registering changes nothing in the answer: the error shape, the fields named."""
    r = client.get("/api/v1/records?decided_from=notadate&limit=0", headers=world.bearer(world.key_a))
    body = r.json()
    assert r.status_code == 422 and body["code"] == "validation_error"
    assert [e["field"] for e in body["errors"]] == ["decided_from", "limit"]


# a path id the schema refuses: text, an ID number (with its X, or in full-width digits), numbers out of range
_ID_FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
bad_ids = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "-_.~中文", min_size=1, max_size=24)
    .filter(lambda v: not v.isdigit() and v not in (".", "..")),
    st.integers(max_value=0).map(str),
    st.integers(min_value=2**63, max_value=10**30).map(str),
    st.builds(lambda n: n[:-1] + "X", st.builds(new_id_number)),
    st.builds(lambda n: n.translate(_ID_FULLWIDTH), st.builds(new_id_number)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=bad_ids, route=st.sampled_from([("/api/v1/records/{}", "record.read"),
                                             ("/api/v1/subjects/{}", "subject.read"),
                                             ("/api/v1/subjects/{}/score", "score.read"),
                                             ("/api/v1/list-entries/{}", "list_entry.read"),
                                             ("/api/v1/imports/{}", "imports.read"),
                                             ("/api/v1/checks/batch/{}", "checks.batch_read")]))
def test_any_refused_path_id_is_registered_without_its_value(client, world, db, value, route) -> None:  # type: ignore[no-untyped-def]
    template, action = route
    before = _last_id(db)
    r = client.get(template.format(quote(value, safe="")), headers=world.bearer(world.key_a))
    assert r.status_code == 422, r.text
    [e] = _entries(db, before)
    assert (e.action, e.outcome, e.object_id) == (action, "failed", None)
    # the code and field named by the 422, how many errors: nothing of the value sent
    assert e.details == {"code": r.json()["errors"][0]["code"], "field": r.json()["errors"][0]["field"], "errors": 1}
    assert e.details["field"] in ("record_id", "subject_id", "entry_id", "job_id")
    if len(value) >= 18:  # an ID number (or anything as long) is in no column of the entry
        assert value not in str([getattr(e, c.key) for c in AuditEntry.__table__.columns])


_DATE_QUERIES = [("/api/v1/records?decided_to={}", "records.list", "decided_to"),
                 ("/api/v1/quality?until={}", "quality.read", "until")]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.text(alphabet=string.ascii_letters + string.digits + "-/:. ", min_size=1, max_size=20),
                       st.builds(lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}", st.integers(1, 9999),
                                 st.integers(13, 99), st.integers(1, 31))).filter(lambda v: v.strip()),
       query=st.sampled_from(_DATE_QUERIES))
def test_any_refused_date_query_is_registered_or_answered(client, world, db, value, query) -> None:  # type: ignore[no-untyped-def]
    """A value that is a date is answered (200); any other is refused and registered, its field named."""
    template, action, field = query
    before = _last_id(db)
    r = client.get(template.format(quote(value, safe="")), headers=world.bearer(world.key_a))
    got = _entries(db, before)
    if r.status_code == 200:  # a date after all (2026-01-05, 20260105 …): the read itself is registered
        assert [e.outcome for e in got] == ["ok"]
        return
    assert r.status_code == 422, r.text
    [e] = got
    assert (e.action, e.outcome) == (action, "failed")
    assert e.details == {"code": r.json()["errors"][0]["code"], "field": field, "errors": 1}


def test_a_read_sent_with_a_body_over_the_limit_is_registered_as_refused(db, vault, world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A read is refused before routing when it comes with a body over the size limit (413, never
    read): on these routes too, the key in its header names the caller and the refusal is registered
    under the read's action, ``too_large``, with the bytes declared; the answer is the same 413."""
    from fastapi.testclient import TestClient

    from xinyong.app import create_app
    from xinyong.config import Settings

    settings = Settings(database_url="sqlite:///unused.db", key_file=tmp_path / "keys.json",
                        checkpoint_dir=tmp_path / "checkpoints", audit_seal_interval_seconds=0, max_request_bytes=200)
    before = _last_id(db)
    with TestClient(create_app(settings, database=db, vault=vault), base_url="https://testserver") as c:
        r = c.request("GET", "/api/v1/records/5", content=b"x" * 201, headers=world.bearer(world.key_a))
        anonymous = c.request("GET", "/api/v1/records/5", content=b"x" * 201)
    assert (r.status_code, r.json()["code"], anonymous.status_code) == (413, "too_large", 413)
    [e] = _entries(db, before)
    assert (e.action, e.outcome, e.actor_type) == ("record.read", "failed", "apikey")
    assert e.details == {"code": "too_large", "field": "body", "errors": 1, "bytes": 201}


@pytest.mark.parametrize(("who", "url", "action", "field"), [
    ("key", "/api/v1/records?decided_from=2026-05-01&decided_to=2026-01-01", "records.list", "decided_to"),
    ("auditor", "/api/v1/quality?since=2026-05-01&until=2026-01-01", "quality.read", "until"),
])
def test_a_reversed_range_is_registered_as_refused(client, world, db, who, url, action, field) -> None:  # type: ignore[no-untyped-def]
    """Dates that are dates but in the wrong order are refused by the route (``invalid_range``): the
    same entry as a query the schema refuses."""
    h = _headers(client, world, who)
    before = _last_id(db)
    r = client.get(url, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "invalid_range"
    [e] = _entries(db, before)
    assert (e.action, e.outcome, e.details) == (action, "failed", {"code": "invalid_range", "field": field, "errors": 1})
