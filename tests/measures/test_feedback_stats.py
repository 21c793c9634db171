"""Feedback statistics name each measure by its latest definition, also once it is retired (and
counted by the database either way)."""

from __future__ import annotations

from tests.measures.measures_support import subject_with_status
from tests.support import SYSTEM, login

from xinyong.measures import service


def test_a_retired_measure_keeps_its_names_in_the_statistics(client, world, db, vault):  # type: ignore[no-untyped-def]
    with db.session() as s:
        service.load_default(s, actor=SYSTEM)
        listed, _ = subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"])
    r = client.post("/api/v1/checks", json={"id_number": listed, "scenario": "civil_service_hiring"},
                    headers=world.bearer(world.key_a))
    assert r.status_code == 200 and "restrict_civil_service_hiring" in [m["code"] for m in r.json()["measures"]]
    with db.session() as s:
        current = next(m for m in service.definitions(s)[1] if m["code"] == "restrict_civil_service_hiring")
        service.save_measure(s, data={**current, "name_zh": "限制录用为公务员（旧）", "name_en": "Barred from hiring (old)",
                                      "active": False}, actor=SYSTEM, reason="retired")
        stats = {x.measure: x for x in service.feedback_stats(s)}
    row = stats["restrict_civil_service_hiring"]
    assert (row.measure_name, row.measure_name_en, row.answered) == ("限制录用为公务员（旧）", "Barred from hiring (old)", 1)
    login(client, "admin")
    got = next(x for x in client.get("/api/v1/checks/feedback-stats").json()
               if x["measure"] == "restrict_civil_service_hiring")
    assert (got["measure_name"], got["measure_name_en"]) == ("限制录用为公务员（旧）", "Barred from hiring (old)")
    page = client.get("/admin/checks/feedback")
    assert page.status_code == 200 and "限制录用为公务员（旧）" in page.text


def test_a_code_never_defined_shows_as_itself(db, world):  # type: ignore[no-untyped-def]
    from xinyong.db import utcnow
    from xinyong.measures.models import Check

    with db.session() as s:
        s.add(Check(check_id="e" * 32, checked_at=utcnow(), department_id=world.dept_a.id, actor_type="system",
                    channel="api", scenario="awards", outcome="answered", measures=["gone_measure"]))
        s.flush()
        (row,) = [x for x in service.feedback_stats(s) if x.measure == "gone_measure"]
    assert (row.measure_name, row.measure_name_en, row.answered) == ("gone_measure", "gone_measure", 1)


def test_a_since_at_the_calendars_start_is_no_bound(client, world, db):  # type: ignore[no-untyped-def]
    """``since=0001-01-01``: its midnight in Beijing has no UTC datetime (it failed with a 500);
    nothing was checked before it, so it counts everything."""
    from datetime import date

    from xinyong.db import utcnow
    from xinyong.measures.models import Check

    with db.session() as s:
        s.add(Check(check_id="f" * 32, checked_at=utcnow(), department_id=world.dept_a.id, actor_type="system",
                    channel="api", scenario="awards", outcome="answered", measures=["old_measure"]))
        s.flush()
        (row,) = [x for x in service.feedback_stats(s, since=date(1, 1, 1)) if x.measure == "old_measure"]
    assert row.answered == 1
    login(client, "admin")
    r = client.get("/api/v1/checks/feedback-stats", params={"since": "0001-01-01"})
    assert r.status_code == 200 and any(x["measure"] == "old_measure" and x["answered"] == 1 for x in r.json())
