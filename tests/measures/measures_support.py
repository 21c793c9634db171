"""Helpers for the measures tests: subjects with a given status (a real subject_status row)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from tests.support import SYSTEM, new_id_number

from xinyong.db import utcnow
from xinyong.privacy.vault import Vault
from xinyong.scoring.models import SubjectStatus
from xinyong.subjects.service import register


def subject_with_status(session: Session, vault: Vault, *, grade: str = "A", lists: list[str] | None = None,
                        clean_3y: bool = False, score: int = 1000, number: str | None = None) -> tuple[str, Any]:
    """A registered subject whose precomputed status has ``grade`` and ``lists``; returns (ID number, subject)."""
    number = number or new_id_number()
    subject, _ = register(session, vault=vault, id_number=number, name="王小明", actor=SYSTEM)
    codes = list(lists or [])
    session.merge(SubjectStatus(
        subject_id=subject.id, score=score, grade=grade, ruleset_version=1,
        lists=[{"code": c, "since": "2026-05-01"} for c in codes],
        red=any(c.startswith("red_") for c in codes), dishonest=any(not c.startswith("red_") for c in codes),
        clean_3y=clean_3y, updated_at=utcnow()))
    session.flush()
    return number, subject
