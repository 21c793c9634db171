"""Demo scores: a full rescore of the demo district, and — if its records leave a grade empty — a few
records (pushed through the ingestion service, like any department's) for demo people who have
nothing counting yet, landing each in an empty grade. Scores are never written directly."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.audit.service import Actor
from xinyong.auth.models import Department
from xinyong.privacy.vault import Vault, get_vault
from xinyong.records import service as records
from xinyong.scoring import service
from xinyong.subjects.service import find_by_id_number

DEMO_ACTOR = Actor.system("demo:scoring")


def _recipe(grade: str, today: date) -> list[dict[str, Any]]:
    """Records that put a person with no other records into ``grade`` under the default ruleset."""
    d = (today - timedelta(days=30)).isoformat()

    def honour(level: str) -> dict[str, Any]:
        return {"item": "honor", "decided_at": d, "fields": {"title": "诚实守信模范", "level": level,
                                                              "awarded_by": "和平区精神文明建设委员会"}}

    def penalty(severity: str, n: int) -> dict[str, Any]:
        return {"item": "admin_penalty", "severity": severity, "decided_at": d,
                "fields": {"decision_no": f"和市监罚〔{today.year}〕演示{n}号", "violation": "未按规定公示信息",
                           "penalty_type": "吊销许可证件" if severity == "serious" else "罚款"}}

    return {
        "AAA": [honour("national"), honour("provincial"), honour("city")],
        "AA": [honour("national"), honour("district")],
        "A": [honour("community")],
        "B": [penalty("serious", 1)],
        "C": [penalty("serious", 1), penalty("serious", 2)],
        "D": [penalty("serious", 1), penalty("serious", 2), penalty("serious", 3)],
    }.get(grade, [])


def add_demo_scores(session: Session, *, today: date, vault: Vault | None = None,
                    people: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """Rescore the district. If a grade is still empty and demo ``people`` (ID number, name — as the
    demo generated them) are given, push records for people whose score is the plain base (nothing
    counts, on no list) so that each empty grade gets one person; then rescore again."""
    n = service.rescore(session, today=today, actor=DEMO_ACTOR, reason="demo")
    counts = {g["grade"]: g["count"] for g in service.distribution(session, today=today)["grades"]}
    missing = [g for g, c in counts.items() if c == 0 and _recipe(g, today)]
    added: dict[str, int] = {}
    if not missing or not people:
        return {"subjects": n, "added": added, "grades": counts}
    vault = vault or get_vault()
    dept = session.scalar(select(Department).where(Department.kind == "department").order_by(Department.id))
    if dept is None:
        return {"subjects": n, "added": added, "grades": counts}
    ref = records.DepartmentRef(dept.id, dept.code)
    actor = Actor(type="system", label=f"demo:{dept.code}", department_id=dept.id)
    base = service.active(session, today=today).base
    for number, name in people:
        if not missing:
            break
        subject = find_by_id_number(session, vault=vault, id_number=number)
        if subject is None:
            continue
        status = service.status_of(session, subject.id, today=today)
        if status.score != base or status.lists or service.explain(session, subject.id, today=today).contributions:
            continue
        grade = missing.pop(0)
        batch = [{**r, "id_number": number, "name": name, "source_id": f"DEMO-SCORE-{grade}-{subject.id}-{k}"}
                 for k, r in enumerate(_recipe(grade, today))]
        outcomes = records.ingest(session, vault=vault, department=ref, records=batch, actor=actor, today=today)
        added[grade] = sum(o.status == "created" for o in outcomes)
    n = service.rescore(session, today=today, actor=DEMO_ACTOR, reason="demo")
    counts = {g["grade"]: g["count"] for g in service.distribution(session, today=today)["grades"]}
    return {"subjects": n, "added": added, "grades": counts}
