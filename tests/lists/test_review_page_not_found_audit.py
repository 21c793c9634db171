"""Review: a look at another department's list entry on the pages is registered as the API's is
(docs/architecture.md, "Audit log": every such 404 goes through audit.service.record_not_found)."""

from __future__ import annotations

import pytest
from tests.web.web_support import audit, hidden

pytestmark = pytest.mark.usefixtures("lists_loaded")


def test_another_departments_entry_on_the_pages_is_a_registered_not_found(client, world, login, db):  # type: ignore[no-untyped-def]
    login(client, "officer_b")
    csrf = hidden(client.get("/lists").text, "csrf_token")
    r = client.post("/lists/propose", data={"csrf_token": csrf, "list_code": "key_supervision",
                                             "category": "online_fraud", "id_number": world.other_id_number,
                                             "reason": "网络刷单诈骗"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    eid = int(r.headers["location"].rsplit("/", 1)[1])
    client.cookies.clear()
    login(client, "officer_a")
    csrf = hidden(client.get("/lists").text, "csrf_token")
    assert client.get(f"/list-entries/{eid}").status_code == 404
    assert client.post(f"/list-entries/{eid}/notify", data={"csrf_token": csrf, "note": "x"}).status_code == 404
    read = [(e.outcome, e.object_id, e.details) for e in audit(db, "list_entry.read", actor_label="officer_a")]
    notify = [(e.outcome, e.object_id, e.details) for e in audit(db, "list_entry.notify", actor_label="officer_a")]
    assert read == [("denied", str(eid), {"reason": "not_found", "via": "page"})], read
    assert notify == [("denied", str(eid), {"reason": "not_found", "via": "page"})], notify
