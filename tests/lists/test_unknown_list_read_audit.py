"""Reads are audited (docs/lists.md, "Reading"): a read of a list that does not exist — over the API
or on its page — is answered 404 and registered as the refusals of the lists' steps are
(``list_entries.list``, ``failed``, ``unknown_list``), not passed over."""

from __future__ import annotations

import pytest
from tests.web.web_support import audit

pytestmark = pytest.mark.usefixtures("lists_loaded")


def test_unknown_list_read_over_the_api_is_registered(client, world, db):  # type: ignore[no-untyped-def]
    r = client.get("/api/v1/lists/no_such_list/entries", headers=world.bearer(world.key_a))
    assert r.status_code == 404 and r.json()["code"] == "unknown_list"
    entries = [(e.outcome, e.details) for e in audit(db, "list_entries.list")]
    assert entries == [("failed", {"code": "unknown_list", "field": "list"})], entries


def test_unknown_list_page_is_registered(client, world, login, db):  # type: ignore[no-untyped-def]
    login(client, "admin")
    assert client.get("/lists/no_such_list").status_code == 404
    entries = [(e.outcome, e.details) for e in audit(db, "list_entries.list")]
    assert entries == [("failed", {"code": "unknown_list", "field": "list", "via": "page"})], entries
