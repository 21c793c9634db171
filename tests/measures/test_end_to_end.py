"""The status a check reads follows records and listings at once: a dishonest-debtor record pushed
through the real ingestion service puts its subject on the list, and the very next check answers the
punishment measures; revoking the record lifts them."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from tests.lists.lists_support import debtor, push, volunteer
from tests.support import SYSTEM, new_id_number

from xinyong import clock
from xinyong.audit.service import Actor
from xinyong.catalog.service import load_default as load_catalog
from xinyong.lists import service as lists
from xinyong.lists.service import load_default as load_lists
from xinyong.records import service as records
from xinyong.records.models import Record
from xinyong.subjects.models import Subject


@pytest.fixture
def loaded(db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        load_catalog(s, actor=SYSTEM)
        load_lists(s, actor=SYSTEM)


def test_debtor_record_changes_the_check_immediately(client, world, db, vault, loaded):  # type: ignore[no-untyped-def]
    number = new_id_number(born=date(1975, 4, 3))

    def check(scenario: str) -> dict:  # type: ignore[type-arg]
        r = client.post("/api/v1/checks", json={"id_number": number, "scenario": scenario},
                        headers=world.bearer(world.key_a))
        assert r.status_code == 200, r.text
        return r.json()

    assert check("civil_service_hiring")["known"] is False
    with db.session() as s:
        [out] = push(s, vault, world.dept_a, [debtor(number, "王五", decided_at="2026-06-01")], today=clock.today())
    a = check("civil_service_hiring")
    assert a["known"] is True
    assert [(x["code"], x["since"]) for x in a["lists"]] == [("dishonest_debtor", "2026-06-01")]
    assert a["grade"] == "D"
    assert {m["code"] for m in a["measures"]} == {"restrict_civil_service_hiring"}
    assert {m["code"] for m in check("public_services")["measures"]} >= {"restrict_high_consumption",
                                                                         "stricter_supervision"}
    with db.session() as s:
        records.revoke(s, rec=s.get(Record, out.record_id), reason="执行完毕", actor=SYSTEM)
    after = check("civil_service_hiring")
    assert after["lists"] == [] and after["measures"] == [] and after["grade"] != "D"


def test_a_dishonesty_listing_ends_a_rule_based_red_listing_before_the_next_check(client, world, db, vault, loaded):  # type: ignore[no-untyped-def]
    """A red list computed by rule admits nobody listed as dishonest. A volunteer on it whom the
    credit office then lists for serious dishonesty leaves it with that decision, not at the next
    daily refresh: a check meanwhile answered the red list's incentives (green channel, 容缺受理 …)
    beside the punishments (no promise-based approval)."""
    number = new_id_number(born=date(1982, 8, 8))
    day = clock.today()
    with db.session() as s:
        push(s, vault, world.dept_a, [volunteer(number, "志愿者", 1600, decided_at="2026-01-10")], today=day)
        lists.refresh(s, today=day, actor=SYSTEM)
    before = client.post("/api/v1/checks", json={"id_number": number, "scenario": "admin_licensing"},
                         headers=world.bearer(world.key_a)).json()
    assert [x["code"] for x in before["lists"]] == ["red_volunteer"]
    assert "green_channel" in {m["code"] for m in before["measures"]}
    with db.session() as s:
        sid = s.scalar(select(Subject.id).where(Subject.id_bidx == vault.lookup_key(number)))
        entry = lists.propose(s, code="serious_dishonesty", subject_id=sid, reason="销售假药致人伤亡",
                              category="harm_health_life", department_id=world.dept_a.id, actor=SYSTEM)
        lists.notify(s, entry=entry, actor=SYSTEM, today=day)
        lists.defend(s, entry=entry, text="无", actor=Actor(type="user", id="9", label="citizen"), today=day)
        lists.decide(s, entry=entry, listed=True, reason="申辩理由不成立", actor=SYSTEM, today=day)
    after = client.post("/api/v1/checks", json={"id_number": number, "scenario": "admin_licensing"},
                        headers=world.bearer(world.key_a)).json()
    assert [x["code"] for x in after["lists"]] == ["serious_dishonesty"]
    assert {m["kind"] for m in after["measures"]} == {"punishment"}
    assert {m["code"] for m in after["measures"]} == {"no_promise_based_approval", "stricter_supervision"}
    with db.session() as s:  # the daily refresh has nothing left to do
        assert lists.refresh(s, today=day, actor=SYSTEM)["red_volunteer"] == {"added": 0, "removed": 0}
