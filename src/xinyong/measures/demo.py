"""Demo data for joint reward and punishment: the measures list loaded, sample checks by the demo
department in several scenarios (registered like real ones) and some feedback on them."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.audit.service import Actor
from xinyong.auth.models import Department
from xinyong.measures import service
from xinyong.privacy.vault import Vault
from xinyong.subjects.models import Subject

SCENARIOS = ("admin_licensing", "civil_service_hiring", "awards", "subsidies", "public_procurement", "financing",
             "public_services")


def add_demo_checks(session: Session, *, vault: Vault, department_code: str, actor: Actor, checks: int = 60,
                    seed: int = 7) -> dict[str, Any]:
    """Load the measures list, run ``checks`` checks on demo people (listed people first) and report
    feedback on about two thirds of the answered measures. Nothing is committed here."""
    service.load_default(session, actor=actor)
    dept = session.scalar(select(Department).where(Department.code == department_code))
    if dept is None:
        return {"checks": 0, "feedback": 0}
    caller = service.Caller(dept.id, dept.code, Actor(type=actor.type, id=actor.id, label=actor.label,
                                                      department_id=dept.id))
    from xinyong.scoring.models import SubjectStatus

    listed = list(session.scalars(select(SubjectStatus.subject_id).where(
        (SubjectStatus.red.is_(True)) | (SubjectStatus.dishonest.is_(True))).limit(checks // 2)))
    others = list(session.scalars(select(Subject.id).order_by(Subject.id).limit(checks)))
    ids = (listed + [i for i in others if i not in set(listed)])[:checks]
    rng = random.Random(seed)
    rows, answered = [], []
    for n, sid in enumerate(ids):
        subj = session.get(Subject, sid)
        if subj is None:
            continue
        number = vault.reveal_id(subj.id_bidx, subj.id_cipher, subj.key_id)
        result = service.run_check(session, vault=vault, caller=caller, id_number=number,
                                   scenario=SCENARIOS[n % len(SCENARIOS)], channel="page")
        del number
        rows.append(result.row)
        if result.status == 200 and result.body["measures"]:
            answered.append(result.body)
    service.register_checks(session, rows)
    session.flush()
    feedback = 0
    for a in answered:
        for m in a["measures"]:
            if rng.random() < 0.67:
                service.add_feedback(session, check_id=a["check_id"], caller_department_id=dept.id,
                                     measure=m["code"], applied=rng.random() < 0.8,
                                     note="演示反馈 / demo feedback", actor=caller.actor, ring=vault.ring)
                feedback += 1
    return {"checks": len(rows), "feedback": feedback}
