""""3 years without bad records" (clean_3y) and a dishonesty listing: a person listed by decision —
no bad record needed — is not clean while listed, so the incentives for clean people (priority
handling, simplified procedure, 容缺受理 …) are not answered beside the punishments. Before, the
status said clean_3y with grade D, and a check in licensing answered both."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from tests.support import SYSTEM, new_id_number

from xinyong.audit.service import Actor
from xinyong.lists import service
from xinyong.measures import service as measures
from xinyong.scoring import service as scoring
from xinyong.subjects.service import register

pytestmark = pytest.mark.usefixtures("lists_loaded")

ADMIN = Actor(type="user", id="1", label="admin")
TODAY = date(2026, 11, 26)


def test_a_person_listed_for_serious_dishonesty_is_not_clean_while_listed(session, world, vault):  # type: ignore[no-untyped-def]
    measures.load_default(session, actor=SYSTEM)
    number = new_id_number(born=date(1979, 4, 2))
    subject, _ = register(session, vault=vault, id_number=number, name="赵六", actor=SYSTEM)
    caller = measures.Caller(world.dept_a.id, "scjgj", Actor(type="apikey", id="k", label="k", department_id=world.dept_a.id))

    def answer() -> tuple[bool, set[str]]:
        status = scoring.status_of(session, subject.id, today=TODAY)
        result = measures.run_check(session, vault=vault, caller=caller, id_number=number, scenario="admin_licensing",
                                    today=TODAY)
        return status.clean_3y, {m["code"] for m in result.body["measures"]}

    clean, before = answer()
    assert clean and service.is_clean(session, subject_id=subject.id, today=TODAY)
    assert {"priority_handling", "simplified_procedure"} <= before  # no record, no list: clean

    entry = service.propose(session, code="serious_dishonesty", subject_id=subject.id, reason="销售假药致人伤亡",
                            category="harm_health_life", department_id=world.dept_a.id, actor=ADMIN)
    service.notify(session, entry=entry, actor=ADMIN, today=date(2026, 11, 2))
    service.decide(session, entry=entry, listed=True, reason="逾期未申辩", actor=ADMIN, today=TODAY)

    clean, listed = answer()
    assert not clean and not service.is_clean(session, subject_id=subject.id, today=TODAY)
    assert subject.id not in set(session.scalars(service.clean_stmt(today=TODAY)))
    kinds = {m.code: m.kind for m in measures.list_measures(session)}
    assert listed and all(kinds[c] == "punishment" for c in listed), listed
    assert {"no_promise_based_approval", "stricter_supervision"} <= listed

    service.remove(session, entry=entry, kind="repair", reason="完成信用修复", actor=ADMIN)
    clean, after = answer()
    assert clean and service.is_clean(session, subject_id=subject.id, today=TODAY)
    assert after == before
    assert session.scalar(select(service.ListEntry.status).where(service.ListEntry.id == entry.id)) == "removed"
