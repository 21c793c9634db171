"""Refusals of the department-key and credit-office write endpoints leave an entry: the whole batch
refused (empty, too large, a malformed body), a refused catalog edit, a refused display recompute —
``failed``, with the code and the field, never what was typed, committed although the request fails."""

from __future__ import annotations

import pytest
from tests.support import assert_no_id_number_in_audit, audit_entries, login

from xinyong.catalog.service import get_current
from xinyong.catalog.spec import to_data

pytestmark = pytest.mark.usefixtures("catalog_loaded")


def _spec(db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        return to_data(get_current(s, "honor").spec)


def test_a_refused_catalog_edit_is_registered(client, world, db):  # type: ignore[no-untyped-def]
    spec = _spec(db)
    csrf = login(client, "admin")
    h = {"X-CSRF-Token": csrf}
    r = client.put("/api/v1/catalog/items/honor", json={"spec": {**spec, "category": "weird"}, "note": "试一下"},
                   headers=h)
    assert r.status_code == 422 and r.json()["code"] == "invalid_spec"
    r = client.put("/api/v1/catalog/items/honor", json={"spec": {**spec, "departments": ["scjgj", "scjgjj"]}},
                   headers=h)
    assert r.status_code == 422 and r.json()["code"] == "unknown_department"
    idn = world.other_id_number  # a code where none belongs: registered masked, as it is answered
    assert client.put(f"/api/v1/catalog/items/{idn}", json={"spec": spec}, headers=h).status_code == 404
    refused = [e for e in audit_entries(db, "catalog.update") if e.outcome != "ok"]
    assert [(e.outcome, e.object_type, e.details["item"], e.details["code"], e.details["field"]) for e in refused] == [
        ("failed", "catalog_item", "honor", "invalid_spec", "honor.category"),
        ("failed", "catalog_item", "honor", "unknown_department", "departments"),
        ("failed", "catalog_item", idn[:6] + "********" + idn[-4:], "unknown_item", "code"),
    ]
    assert all(e.actor_label == "admin" for e in refused)
    assert "试一下" not in str([e.details for e in refused]) and "scjgjj" not in str([e.details for e in refused])
    assert_no_id_number_in_audit(db, [idn])
    with db.session() as s:
        assert get_current(s, "honor").version == 1


def test_a_refused_display_recompute_is_registered(client, world, db):  # type: ignore[no-untyped-def]
    csrf = login(client, "admin")
    r = client.post("/api/v1/records/recompute-display", json={"item": "no_such_item"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 404 and r.json()["code"] == "unknown_item"
    [entry] = audit_entries(db, "records.recompute_display")
    assert (entry.outcome, entry.object_type, entry.details) == (
        "failed", "catalog_item", {"item": "no_such_item", "code": "unknown_item", "field": "item"})


def _push_refusals(db):  # type: ignore[no-untyped-def]
    return [e for e in audit_entries(db, "records.push") if e.outcome != "ok"]


def test_a_batch_refused_whole_is_registered(client, world, db, person):  # type: ignore[no-untyped-def]
    """Empty, over 1,000 records, a body that is not a batch: one ``records.push`` entry each, the
    department's, ``failed``, with the code, the field and the size when known, never a record."""
    from tests.records.records_support import penalty

    idn, name = person
    h = world.bearer(world.key_a)
    json_h = {**h, "content-type": "application/json"}
    assert client.post("/api/v1/records", json={"records": []}, headers=h).status_code == 422
    assert client.post("/api/v1/records", json={"records": [penalty(idn, name)] * 1001}, headers=h).status_code == 422
    sent = [(b"{nope", json_h),  # not JSON: read by FastAPI before the key (which is checked first all the same)
            (b'{"records": [{"item": "\xff\xfe"}]}', json_h),  # not UTF-8
            (b'{"records": {"id_number": "%s"}}' % idn.encode(), json_h),  # not a list
            (b'{"records": [], "' + idn.encode() + b'": 1}', json_h),  # a key of its own
            (b'[1, 2]', json_h),  # not an object
            (b'records=1', {**h, "content-type": "application/x-www-form-urlencoded"})]  # not JSON at all
    for body, headers in sent:
        r = client.post("/api/v1/records", content=body, headers=headers)
        assert r.status_code == 422 and r.json()["code"] == "validation_error", r.text
    refused = _push_refusals(db)
    assert [(e.details["code"], e.details["field"], e.details.get("size")) for e in refused] == [
        ("batch_empty", "records", 0), ("batch_too_large", "records", 1001),
        ("json_invalid", "body", None), ("body_unreadable", "body", None), ("list_type", "records", None),
        ("extra_forbidden", "body", 0), ("model_attributes_type", "body", None),
        ("model_attributes_type", "body", None)]
    for e in refused:
        assert (e.outcome, e.object_type, e.object_id, e.department_id, e.actor_type) == (
            "failed", "department", str(world.dept_a.id), world.dept_a.id, "apikey")
        assert e.details["channel"] == "api" and "records" not in e.details and name not in str(e.details)
    assert_no_id_number_in_audit(db, [idn])


def test_a_malformed_batch_of_no_caller_leaves_no_push_entry(client, world, db):  # type: ignore[no-untyped-def]
    """No key, an unknown key, a caller that may not push: answered as a good body is — 401, 403
    (auth.deps.authenticate_first) — and no push entry (a real key with a wrong secret or a revoked
    one is registered as ever, auth.apikey; a caller not allowed, auth.forbidden)."""
    for headers, code in (({}, "unauthenticated"), ({"Authorization": "Bearer xy_nosuchkey000_abc"}, "key_invalid")):
        r = client.post("/api/v1/records", content=b"{nope", headers={**headers, "content-type": "application/json"})
        assert (r.status_code, r.json()["code"]) == (401, code)
    csrf = login(client, "auditor")  # may read records, not push them
    r = client.post("/api/v1/records", content=b"{nope", headers={"X-CSRF-Token": csrf, "content-type": "application/json"})
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    assert _push_refusals(db) == []


def test_a_malformed_batch_of_a_revoked_key_registers_the_key(client, world, db):  # type: ignore[no-untyped-def]
    """A body that is not JSON is read by FastAPI before the key: the key is read first all the same,
    and a revoked one is refused and registered as on any call (401 key_revoked, auth.apikey), not as a push."""
    from tests.support import SYSTEM

    from xinyong.auth.models import ApiKey
    from xinyong.auth.service import revoke_api_key

    with db.session() as s:
        revoke_api_key(s, key=s.get(ApiKey, world.key_b_row.id), actor=SYSTEM)
    r = client.post("/api/v1/records", content=b"{nope",
                    headers={**world.bearer(world.key_b), "content-type": "application/json"})
    assert (r.status_code, r.json()["code"]) == (401, "key_revoked")  # as with a good body
    assert [(e.outcome, e.object_id, e.details["reason"]) for e in audit_entries(db, "auth.apikey")] == [
        ("denied", str(world.key_b_row.id), "revoked")]
    assert _push_refusals(db) == []


def test_other_write_routes_register_a_refused_body(client, world, db):  # type: ignore[no-untyped-def]
    """The same for a catalog edit, a display recompute, an upload, the lists' steps and a revocation."""
    csrf = login(client, "admin")
    admin = {"X-CSRF-Token": csrf}
    assert client.put("/api/v1/catalog/items/honor", json={"note": "x"}, headers=admin).status_code == 422
    assert client.put("/api/v1/catalog/items/honor", content=b"{", headers={**admin, "content-type": "application/json"}
                      ).status_code == 422
    assert client.post("/api/v1/records/recompute-display", json={"item": "x" * 65}, headers=admin).status_code == 422
    assert client.post("/api/v1/list-entries/5/decide", json={"decision": "maybe", "reason": "理由"},
                       headers=admin).status_code == 422
    h = world.bearer(world.key_a)
    assert client.post("/api/v1/imports", data={"item": "admin_penalty"}, headers=h).status_code == 422
    assert client.post("/api/v1/imports", content=b"--x\r\n", headers={**h, "content-type": "multipart/form-data"}
                       ).status_code == 422
    assert client.post("/api/v1/lists/any_list/entries", json={"subject_id": 1}, headers=h).status_code == 422
    assert client.post("/api/v1/records/7/revoke", json={"reason": ""}, headers=h).status_code == 422
    got = {a: [(e.outcome, e.details.get("code"), e.details.get("field")) for e in audit_entries(db, a)]
           for a in ("catalog.update", "records.recompute_display", "imports.create", "list_entry.decide",
                     "list_entry.propose", "record.revoke")}
    assert got == {
        "catalog.update": [("failed", "missing", "spec"), ("failed", "json_invalid", "body")],
        "records.recompute_display": [("failed", "string_too_long", "item")],
        "imports.create": [("failed", "missing", "file"), ("failed", "body_unreadable", "body")],
        "list_entry.decide": [("failed", "literal_error", "decision")],
        "list_entry.propose": [("failed", "missing", "reason")],
        "record.revoke": [("failed", "string_too_short", "reason")],
    }
    assert [e.object_id for e in audit_entries(db, "record.revoke")] == ["7"]
    assert [e.object_id for e in audit_entries(db, "list_entry.decide")] == ["5"]
    assert all(e.details["item"] == "honor" for e in audit_entries(db, "catalog.update"))


def test_data_quality_counts_batches_refused_whole_apart(client, world, db, person):  # type: ignore[no-untyped-def]
    """A refused batch is no rejected record: ``rejected`` and its reasons keep their meaning, the
    batches are counted in ``batches_refused`` by code, for the department whose key sent them."""
    from tests.records.records_support import penalty

    idn, name = person
    h = world.bearer(world.key_a)
    assert client.post("/api/v1/records", json={"records": [{**penalty(idn, name), "item": "nope"}]},
                       headers=h).status_code == 200  # one record rejected
    for _ in range(2):
        assert client.post("/api/v1/records", json={"records": []}, headers=h).status_code == 422
    assert client.post("/api/v1/records", content=b"{nope", headers={**h, "content-type": "application/json"}
                       ).status_code == 422
    csrf = login(client, "admin")
    rows = {q["code"]: q for q in client.get("/api/v1/quality", headers={"X-CSRF-Token": csrf}).json()}
    a, b = rows[world.dept_a.code], rows[world.dept_b.code]
    assert (a["pushed"], a["rejected"], a["rejected_by_reason"]) == (0, 1, {"unknown_item": 1})
    assert a["rejection_rate"] == 1.0
    assert (a["batches_refused"], a["batches_refused_by_reason"]) == (3, {"batch_empty": 2, "json_invalid": 1})
    assert (b["batches_refused"], b["batches_refused_by_reason"]) == (0, {})
    today = client.get("/api/v1/quality?until=2000-01-01", headers={"X-CSRF-Token": csrf}).json()
    assert {q["code"]: q["batches_refused"] for q in today}[world.dept_a.code] == 0  # the period counts
    page = client.get("/admin/quality").text
    assert "json_invalid" in page and "空批次" in page


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"])
def test_a_json_body_in_utf16_or_utf32_is_refused_and_registered(client, world, db, person, encoding):  # type: ignore[no-untyped-def]
    """JSON between systems is UTF-8 (RFC 8259 § 8.1; docs/integration.md): a well-formed batch in
    UTF-16 or UTF-32 is refused as any body that is not UTF-8 — 422, ``body``, ``body_unreadable`` —
    registered as the push's other malformed bodies are, and nothing is pushed. UTF-8 still goes."""
    import json

    from tests.records.records_support import penalty

    idn, name = person
    h = {**world.bearer(world.key_a), "content-type": "application/json"}
    body = json.dumps({"records": [penalty(idn, name)]}, ensure_ascii=False)
    r = client.post("/api/v1/records", content=body.encode(encoding), headers=h)
    assert r.status_code == 422 and r.json()["code"] == "validation_error", r.text
    [err] = r.json()["errors"]
    assert (err["field"], err["code"]) == ("body", "body_unreadable") and "UTF-8" in err["message"]
    [refused] = _push_refusals(db)
    assert (refused.outcome, refused.details["code"], refused.details["field"]) == ("failed", "body_unreadable", "body")
    assert [e for e in audit_entries(db, "records.push") if e.outcome == "ok"] == []
    assert client.post("/api/v1/records", content=body.encode(), headers=h).status_code in (200, 201)
    assert_no_id_number_in_audit(db, [idn])
