"""Data quality's rejection counts (issue 3 point 6): a client's resends of one bad record are one
rejected record (``rejected_distinct``) while ``rejected`` keeps counting refusals; the reasons of
each count say how they add up (``rejected_by_reason`` per error of every refusal,
``rejected_distinct_by_reason`` one reason per record, summing to ``rejected_distinct``)."""

from __future__ import annotations

import json
from typing import Any

from tests.records.records_support import penalty
from tests.support import login

from xinyong.records.quality import department_quality

URL = "/api/v1/quality"


def push(client: Any, world: Any, records: list[dict[str, Any]], key: str | None = None) -> list[dict[str, Any]]:
    r = client.post("/api/v1/records", content=json.dumps({"records": records}),
                    headers={**world.bearer(key or world.key_a), "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()["results"]


def rows_as_admin(client: Any, **params: str) -> dict[str, dict[str, Any]]:
    csrf = login(client, "admin")
    got = client.get(URL, params=params, headers={"X-CSRF-Token": csrf})
    assert got.status_code == 200, got.text
    return {q["code"]: q for q in got.json()}


def test_a_bad_record_resent_five_times_is_one_rejected_record(client, world, person, catalog_loaded, db):  # type: ignore[no-untyped-def]
    """A client's retry loop sends the same refused record (same source_id) five times: five
    refusals, one rejected record; the rate over records is not inflated by the resends."""
    idn, name = person
    assert push(client, world, [penalty(idn, name, source_id="OK-1")])[0]["status"] == "created"
    for _ in range(5):
        [r] = push(client, world, [penalty(idn, "错名", source_id="BAD-1")])
        assert r["status"] == "rejected" and r["errors"][0]["code"] == "name_mismatch"
    a = rows_as_admin(client)[world.dept_a.code]
    assert (a["pushed"], a["rejected"], a["rejected_by_reason"]) == (1, 5, {"name_mismatch": 5})  # unchanged meaning
    assert a["rejection_rate"] == round(5 / 6, 4)
    assert (a["rejected_distinct"], a["rejected_distinct_by_reason"]) == (1, {"name_mismatch": 1})
    assert a["rejection_rate_distinct"] == 0.5
    # the service answers the same (the page reads it)
    with db.session() as s:
        q = {q.code: q for q in department_quality(s)}[world.dept_a.code]
    assert (q.rejected, q.rejected_distinct, q.rejection_rate_distinct) == (5, 1, 0.5)


def test_distinct_is_per_department_and_source_id(client, world, person, catalog_loaded):  # type: ignore[no-untyped-def]
    """Two departments' records with one source_id are two records; two source ids of one
    department are two; a refusal with no source id has no identity and counts each time."""
    idn, name = person
    push(client, world, [penalty(idn, name, source_id="OK-1")])  # the subject is known: "错名" is refused
    push(client, world, [penalty(idn, "错名", source_id="S-1"), penalty(idn, "错名", source_id="S-2")])
    push(client, world, [penalty(idn, "错名", source_id="S-1")])
    push(client, world, [penalty(idn, "错名", source_id="S-1")], key=world.key_b)
    for _ in range(2):
        [r] = push(client, world, [{**penalty(idn, name), "source_id": ""}])
        assert r["status"] == "rejected"
    rows = rows_as_admin(client)
    a, b = rows[world.dept_a.code], rows[world.dept_b.code]
    assert (a["rejected"], a["rejected_distinct"]) == (5, 4)  # S-1, S-2, and the two without a source id
    assert (b["rejected"], b["rejected_distinct"]) == (1, 1)


def test_reasons_per_record_sum_to_the_rejected_records(client, world, person, catalog_loaded):  # type: ignore[no-untyped-def]
    """A record refused for two errors counts under both in ``rejected_by_reason`` (per error, per
    refusal: more than ``rejected``), and under one — its latest refusal's first error — in
    ``rejected_distinct_by_reason``, which sums to ``rejected_distinct``."""
    idn, name = person
    two = {**penalty(idn, name, source_id="TWO"), "id_number": "12010119900101123"}
    del two["fields"]["decision_no"]
    [r] = push(client, world, [two])
    assert r["status"] == "rejected" and len({e["code"] for e in r["errors"]}) == 2, r
    first, second = r["errors"][0]["code"], next(e["code"] for e in r["errors"] if e["code"] != r["errors"][0]["code"])
    a = rows_as_admin(client)[world.dept_a.code]
    assert a["rejected"] == 1 and a["rejected_by_reason"] == {first: 1, second: 1}
    assert sum(a["rejected_by_reason"].values()) == 2 > a["rejected"]  # documented: one count per error
    assert a["rejected_distinct"] == 1 and a["rejected_distinct_by_reason"] == {first: 1}
    # resent with the first error fixed: the record is still one, now under what is still wrong
    fixed = {**two, "id_number": idn}
    [r] = push(client, world, [fixed])
    assert r["status"] == "rejected" and [e["code"] for e in r["errors"]] == [second], r
    a = rows_as_admin(client)[world.dept_a.code]
    assert a["rejected"] == 2 and a["rejected_by_reason"] == {first: 1, second: 2}
    assert a["rejected_distinct"] == 1 and a["rejected_distinct_by_reason"] == {second: 1}
    assert sum(a["rejected_distinct_by_reason"].values()) == a["rejected_distinct"]


def test_the_period_bounds_the_distinct_count(client, world, person, catalog_loaded):  # type: ignore[no-untyped-def]
    idn, name = person
    push(client, world, [penalty(idn, name, source_id="OK-1")])
    push(client, world, [penalty(idn, "错名", source_id="P-1")])
    push(client, world, [penalty(idn, "错名", source_id="P-1")])
    assert rows_as_admin(client)[world.dept_a.code]["rejected_distinct"] == 1
    a = rows_as_admin(client, until="2000-01-01")[world.dept_a.code]
    assert (a["rejected"], a["rejected_distinct"], a["rejected_distinct_by_reason"]) == (0, 0, {})
    assert a["rejection_rate_distinct"] is None
