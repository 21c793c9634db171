"""Scoring passes over subjects whose only change is new records of items no rule scores and that
are not bad (``scoring.regradable``): their stored status — or, for a subject new to the
platform, the default status of having none — is exactly what a full refresh computes."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.scoring.scoring_support import TODAY, honour, setup
from tests.support import SYSTEM, new_id_number

from xinyong.auth import service as auth_service
from xinyong.catalog.service import current_items, load_default
from xinyong.records import demo as records_demo
from xinyong.records.service import DepartmentRef, ingest
from xinyong.scoring import service
from xinyong.scoring.models import ScoreHistory, SubjectStatus
from xinyong.subjects.models import Subject
from xinyong.subjects.service import find_by_id_number


def _licence(source_id: str, idn: str) -> dict[str, Any]:
    return {"item": "admin_license", "id_number": idn, "name": "李四", "source_id": source_id,
            "decided_at": "2026-06-02", "fields": {"license_no": source_id, "license_type": "普通", "content": "食品经营"}}


def test_a_new_subject_with_only_a_licence_has_no_status_row_and_the_default_status(session, vault) -> None:  # type: ignore[no-untyped-def]
    dept = setup(session)
    idn = new_id_number()
    [out] = ingest(session, vault=vault, department=dept, records=[_licence("L1", idn)], actor=SYSTEM, today=TODAY)
    assert out.status == "created"
    subject = find_by_id_number(session, vault=vault, id_number=idn)
    assert subject is not None
    assert session.get(SubjectStatus, subject.id) is None
    default = service.default_status(session, today=TODAY)
    assert service.status_of(session, subject.id, today=TODAY) == service.Status(
        subject.id, default.score, default.grade, default.ruleset_version)
    # an honour is scored: the subject is refreshed and gets its row
    ingest(session, vault=vault, department=dept, actor=SYSTEM, today=TODAY,
           records=[{**honour("city"), "id_number": idn, "name": "李四", "source_id": "H1"}])
    row = session.get(SubjectStatus, subject.id)
    assert row is not None and row.score > default.score
    history = session.scalar(select(func.count()).select_from(ScoreHistory).where(ScoreHistory.subject_id == subject.id))
    # another licence leaves the stored row as it is (no new history)
    ingest(session, vault=vault, department=dept, records=[_licence("L2", idn)], actor=SYSTEM, today=TODAY)
    assert session.scalar(select(func.count()).select_from(ScoreHistory)
                          .where(ScoreHistory.subject_id == subject.id)) == history


def test_regradable_keeps_scored_bad_and_changed_subjects(session) -> None:  # type: ignore[no-untyped-def]
    load_default(session, actor=SYSTEM)
    scored = frozenset(service.rule_items(session, service.active(session, today=TODAY).version).scored)
    created = {1: frozenset({("admin_license", "basic")}), 2: frozenset({("honor", "good")}),
               3: frozenset({("admin_license", "basic"), ("admin_penalty", "bad")}),
               4: frozenset({("charity_donation", "good")}), 5: frozenset({("some_bad_item", "bad")})}
    got = service.regradable([1, 2, 3, 4, 5, 6], created, scored)
    assert sorted(got) == [2, 3, 5, 6]  # 6: not among the created-only subjects (an update, a revocation…)
    assert sorted(service.regradable([1, 6], {}, scored)) == [1, 6]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), batch=st.integers(1, 40), people=st.integers(2, 8))
@example(seed=1338, batch=1, people=2)  # a record whose window ends between the push's day and the machine's: scored on the push's
def test_every_status_is_what_a_full_refresh_computes(session, vault, seed, batch, people) -> None:  # type: ignore[no-untyped-def]
    if not current_items(session):
        load_default(session, actor=SYSTEM)
    day = TODAY  # the day the after-change handlers score on: the push's day (RecordsChanged.today), not the machine's
    example = session.begin_nested()
    try:
        depts: dict[str, DepartmentRef] = {}
        for code in sorted(set(records_demo.ITEM_DEPARTMENTS.values())):
            d = auth_service.add_department(session, code=f"{code}x", name=f"部门{code}", actor=SYSTEM)
            depts[code] = DepartmentRef(d.id, d.code)
        folks = [(new_id_number(born=date(1960 + i, 1 + i % 12, 1 + i)), f"人{i}") for i in range(people)]
        demo = records_demo.build(folks, today=TODAY, seed=seed, per_person=3)
        for code, recs in demo.by_department.items():
            for i in range(0, len(recs), batch):
                out = ingest(session, vault=vault, department=depts[code], records=recs[i : i + batch], actor=SYSTEM,
                             today=TODAY)
                assert not [o.errors for o in out if o.errors]
        ids = list(session.scalars(select(Subject.id)))
        stored = {sid: service.status_of(session, sid, today=day) for sid in ids}
        service.refresh(session, ids, today=day, reason="check")
        session.expire_all()
        assert {sid: service.status_of(session, sid, today=day) for sid in ids} == stored
    finally:
        example.rollback()
