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
