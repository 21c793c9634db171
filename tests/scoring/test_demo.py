"""The demo shows scores in every grade, without adding people."""

from __future__ import annotations

from sqlalchemy import func, select
from tests.scoring.scoring_support import TODAY, setup
from tests.support import SYSTEM, new_id_number

from xinyong.scoring.demo import add_demo_scores
from xinyong.subjects.models import Subject
from xinyong.subjects.service import register


def test_demo_scores_spread_over_every_grade(session, vault) -> None:  # type: ignore[no-untyped-def]
    setup(session)
    people = [(new_id_number(), f"演示{i}") for i in range(8)]
    for number, name in people:
        register(session, vault=vault, id_number=number, name=name, actor=SYSTEM)
    out = add_demo_scores(session, today=TODAY, vault=vault, people=people)
    assert set(out["added"]) == {"AAA", "AA", "B", "C", "D"}  # A: the people left at the base score
    assert all(n >= 1 for n in out["grades"].values()), out
    assert session.scalar(select(func.count()).select_from(Subject)) == 8


def test_demo_scores_without_people_only_rescore(session, vault) -> None:  # type: ignore[no-untyped-def]
    setup(session)
    out = add_demo_scores(session, today=TODAY, vault=vault)
    assert out["added"] == {}
