"""The status a check reads follows records and listings at once: a dishonest-debtor record pushed
through the real ingestion service puts its subject on the list, and the very next check answers the
punishment measures; revoking the record lifts them."""

from __future__ import annotations

from datetime import date

import pytest
from tests.lists.lists_support import debtor, push
from tests.support import SYSTEM, new_id_number

from xinyong import clock
from xinyong.catalog.service import load_default as load_catalog
from xinyong.lists.service import load_default as load_lists
from xinyong.records import service as records
from xinyong.records.models import Record


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
