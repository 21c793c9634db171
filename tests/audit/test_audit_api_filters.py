"""The audit API (``GET /api/v1/audit/entries``) takes the page's filters — actor, outcome and the date
range besides action and object — read and refused as the page reads and refuses them
(``audit.filters``): the same entries for the same filters, and a filter it cannot apply answered 422
naming the field, registered (``audit.read``, ``failed``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.audit.test_audit_page import CLERK, add, ids
from tests.web.web_support import audit

from xinyong.audit.service import Actor

OTHER = Actor(type="apikey", id="55", label="gaj:业务系统B", department_id=2)
API = "/api/v1/audit/entries"


def api_ids(client, **params: str) -> list[int]:  # type: ignore[no-untyped-def]
    r = client.get(API, params=params)
    assert r.status_code == 200, r.text
    return [e["id"] for e in r.json()]


@pytest.fixture
def entries(db):  # type: ignore[no-untyped-def]
    a = add(db, action="test.f", object_type="record", object_id="17")
    b = add(db, action="test.f", actor=OTHER, outcome="denied", object_type="record", object_id="18")
    c = add(db, action="test.g", outcome="failed", object_type="user", object_id="17")
    d = add(db, action="test.f", at=datetime(2026, 3, 1, 17, 0, tzinfo=UTC))  # 2 March in Beijing
    e = add(db, action="test.f", at=datetime(2026, 3, 1, 15, 59, tzinfo=UTC))  # 1 March in Beijing
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def test_the_api_takes_the_pages_filters(client, world, login, db, entries):
    login(client, "auditor")
    a, b, c, d, e = (entries[k] for k in "abcde")
    assert api_ids(client, actor="clerk_x", object_type="record") == a
    assert api_ids(client, actor="55") == b  # by id too
    assert api_ids(client, actor="gaj:业务系统B") == b
    assert api_ids(client, outcome="denied", action="test.f") == b
    assert api_ids(client, outcome="failed", actor="clerk_x") == c
    assert api_ids(client, action="test.f", occurred_from="2026-03-02", occurred_to="2026-03-02") == d
    assert api_ids(client, action="test.f", occurred_to="2026-03-01") == e
    assert api_ids(client, action="test.f", occurred_from="2026-03-01", occurred_to="2026-03-02") == e + d
    assert api_ids(client, action="test.f", occurred_from="2026-03-01", occurred_to="2026-03-02", limit="1") == e
    assert api_ids(client, action="test.f", occurred_from="2026-03-01", occurred_to="2026-03-02",
                   before_id=str(e[0])) == d
    assert api_ids(client, action="test.f", occurred_from="", outcome="", actor="") == e + d + b + a  # blank: none
    read = audit(db, "audit.read")[-1]
    assert read.outcome == "ok" and read.details["count"] == 4
    assert read.details["filter"] == {"action": "test.f", "actor": None, "outcome": None, "object_type": None,
                                      "object_id": None, "occurred_from": None, "occurred_to": None}


@pytest.mark.parametrize(("params", "field", "code"), [
    ({"outcome": "maybe"}, "outcome", "bad_outcome"),
    ({"occurred_from": "2026-13-01"}, "occurred_from", "bad_date"),
    ({"occurred_to": "yesterday"}, "occurred_to", "bad_date"),
    ({"occurred_from": "2026-03-05", "occurred_to": "2026-03-01"}, "occurred_to", "bad_range"),
    ({"action": "test event<b>"}, "action", "bad_action"),
    ({"object_type": "x y"}, "object_type", "bad_object_type"),
    ({"actor": "clerk\x01x"}, "actor", "bad_actor"),
    ({"object_id": "12345678901234567"}, "object_id", "id_number"),  # 17 digits: an ID number's shape
    ({"actor": "120101199001011234"}, "actor", "id_number"),
])
def test_a_filter_it_cannot_apply_is_refused_naming_the_field(client, world, login, db, entries, params, field,
                                                               code):
    login(client, "auditor")
    r = client.get(API, params={"action": "test.f", **params})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == code
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)]
    message = body["errors"][0]["message"]
    assert " / " in message and message.split(" / ")[0] != message.split(" / ")[1]  # Chinese, then English
    assert "12345678901234567" not in r.text and "120101199001011234" not in r.text
    entry = audit(db, "audit.read")[-1]
    assert entry.outcome == "failed" and entry.actor_label == "auditor"
    assert entry.details["code"] == code and entry.details["field"] == field and entry.details["fields"] == [field]
    assert "1234567890123" not in str(entry.details) and "maybe" not in str(entry.details)


def test_every_refused_filter_is_named(client, world, login, db):
    login(client, "auditor")
    r = client.get(API, params={"outcome": "x", "occurred_from": "nope", "action": "a b"})
    assert r.status_code == 422
    assert {(e["field"], e["code"]) for e in r.json()["errors"]} == {
        ("action", "bad_action"), ("outcome", "bad_outcome"), ("occurred_from", "bad_date")}
    assert audit(db, "audit.read")[-1].details["errors"] == 3


def test_a_value_over_its_length_is_refused_by_the_schema_and_registered(client, world, login, db):
    login(client, "auditor")
    r = client.get(API, params={"actor": "x" * 129})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "actor"
    entry = audit(db, "audit.read")[-1]
    assert entry.outcome == "failed" and entry.details["field"] == "actor" and "x" * 129 not in str(entry.details)


VALUES = {
    "action": st.sampled_from(["test.f", "test.g", "a b", "test.none"]),  # not the looks themselves
    "actor": st.sampled_from(["", "clerk_x", "55", "gaj:业务系统B", "nobody", "x\ty"]),
    "outcome": st.sampled_from(["", "ok", "denied", "failed", "maybe"]),
    "object_type": st.sampled_from(["", "record", "user", "no such"]),
    "object_id": st.sampled_from(["", "17", "18", "12345678901234567"]),
    "occurred_from": st.sampled_from(["", "2026-03-01", "2026-03-02", "2026-3-1x"]),
    "occurred_to": st.sampled_from(["", "2026-03-01", "2026-03-02", "2099-01-01"]),
}


signed_in: list[str] = []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.fixed_dictionaries(VALUES))
def test_the_api_and_the_page_answer_the_same_filters_alike(client, world, login, db, entries, params):
    """For any mix of filters, the API lists the entries the page lists, or refuses the filters the
    page refuses."""
    if not signed_in:  # once: the examples share the client (and sign-ins are throttled)
        signed_in.append(login(client, "auditor"))
    page = client.get("/audit", params=params)
    api = client.get(API, params=params)
    assert page.status_code == 200
    page_entry = audit(db, "audit.read")[-2]
    if page_entry.outcome == "failed":
        assert api.status_code == 422
        assert sorted(e["field"] for e in api.json()["errors"]) == sorted(page_entry.details["fields"])
    else:
        assert api.status_code == 200, api.text
        assert [e["id"] for e in api.json()] == ids(page.text)


@pytest.fixture(autouse=True)
def _fresh_sign_in():
    signed_in.clear()



def test_the_filters_are_in_the_api_schema(client):
    params = {p["name"] for p in client.get("/api/openapi.json").json()["paths"][API]["get"]["parameters"]}
    assert {"action", "actor", "outcome", "object_type", "object_id", "occurred_from", "occurred_to",
            "before_id", "limit"} <= params


_ = CLERK


def test_the_first_and_the_last_day_of_the_calendar_are_a_range_not_a_500(client, world, login, db, entries):
    """A range from 0001-01-01 or to 9999-12-31 — a day the dates can name, from the start of time to
    the end — is every entry on that side: the day's start in Beijing was before year 1 in UTC, and the
    day after the last was no date (OverflowError, a 500 on the API and on the page)."""
    login(client, "auditor")
    every = api_ids(client, action="test.f")
    assert len(every) == 4
    assert api_ids(client, action="test.f", occurred_from="0001-01-01") == every
    assert api_ids(client, action="test.f", occurred_to="9999-12-31") == every
    assert api_ids(client, action="test.f", occurred_from="0001-01-01", occurred_to="9999-12-31") == every
    assert api_ids(client, action="test.f", occurred_from="9999-12-31") == []
    assert client.get("/audit", params={"occurred_from": "0001-01-01", "occurred_to": "9999-12-31"}).status_code == 200


def test_a_failed_job_s_error_outcome_can_be_filtered(client, world, login, db):  # type: ignore[no-untyped-def]
    """Import jobs and batch comparisons that fail or are interrupted are written with outcome
    ``error``: the outcome an auditor looks for first, so the API and the page filter by it."""
    err = add(db, action="imports.fail", outcome="error", object_type="import_job", object_id="9")
    add(db, action="imports.fail", outcome="failed", object_type="import_job", object_id="8")
    login(client, "auditor")
    assert api_ids(client, outcome="error", action="imports.fail") == err
    page = client.get("/audit", params={"outcome": "error", "action": "imports.fail"})
    assert page.status_code == 200 and 'value="error" selected' in page.text
    assert "bad_outcome" not in page.text
    assert page.text.count('class="badge outcome-error"') == 1 and 'outcome-failed"' not in page.text
