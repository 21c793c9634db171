"""``GET /api/v1/measures?scenario=`` of a retired scenario: a retired scenario is still a defined one
(``GET /api/v1/scenarios`` lists it, ``active: false``; ``GET /api/v1/scenarios/{code}`` answers it),
so the list names the measures defined for it, as the admin sees them — not ``[]`` and not the
``422 unknown_scenario`` of a code never defined; a check in it is refused ``unknown_scenario``."""

from __future__ import annotations

from tests.support import login, new_id_number


def test_a_retired_scenario_lists_its_measures_and_checks_refuse_it(client, world):  # type: ignore[no-untyped-def]
    csrf = login(client, "admin")
    h = {"X-CSRF-Token": csrf}
    before = client.get("/api/v1/measures?scenario=awards", headers=h).json()
    assert before
    sc = client.get("/api/v1/scenarios/awards", headers=h).json()
    r = client.put("/api/v1/scenarios/awards", json={**sc, "active": False, "reason": "停用"}, headers=h)
    assert r.status_code == 200 and r.json()["active"] is False, r.text
    after = client.get("/api/v1/measures?scenario=awards", headers=h)
    assert after.status_code == 200 and [m["code"] for m in after.json()] == [m["code"] for m in before]
    unknown = client.get("/api/v1/measures?scenario=never_defined", headers=h)
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_scenario"
    check = client.post("/api/v1/checks", json={"id_number": new_id_number(), "scenario": "awards"},
                        headers=world.bearer(world.key_a))
    assert check.status_code == 422 and check.json()["code"] == "unknown_scenario", check.text
