"""Builders for the scoring tests: records go in through the real ingestion service."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.support import SYSTEM, new_id_number

from xinyong.auth import service as auth_service
from xinyong.catalog.service import load_default
from xinyong.lists.models import ListEntry, ListKind
from xinyong.privacy.vault import Vault
from xinyong.records.service import DepartmentRef, ingest
from xinyong.subjects.service import find_by_id_number

TODAY = date(2026, 11, 26)
_n = iter(range(1, 10**9))


def setup(session: Session) -> DepartmentRef:
    load_default(session, actor=SYSTEM)
    dept = auth_service.add_department(session, code=f"d{next(_n)}", name="区市场监管局", actor=SYSTEM)
    return DepartmentRef(dept.id, dept.code)


def penalty(severity: str = "general", decided: str = "2026-06-02", item: str = "admin_penalty") -> dict[str, Any]:
    fields: dict[str, Any] = {"decision_no": "和市监罚〔2026〕1号", "violation": "未按规定公示", "penalty_type": "罚款"}
    if item == "traffic_violation":
        fields = {"violation": "超速"}
    if item == "tax_violation":
        fields = {"case_no": "T1", "violation": "偷税"}
    return {"item": item, "severity": severity, "decided_at": decided, "fields": fields}


def honour(level: str = "city", decided: str = "2026-06-02", item: str = "honor") -> dict[str, Any]:
    fields = {"title": "优秀志愿者", "level": level}
    if item == "honor":
        fields["awarded_by"] = "和平区文明办"
    return {"item": item, "decided_at": decided, "fields": fields}


def volunteer(hours: float, decided: str = "2026-06-02") -> dict[str, Any]:
    return {"item": "volunteer_service", "decided_at": decided, "fields": {"organisation": "志愿者协会", "hours": hours}}


def blood(decided: str = "2026-06-02") -> dict[str, Any]:
    return {"item": "blood_donation", "decided_at": decided, "fields": {"volume_ml": 400}}


def debtor(decided: str = "2026-06-02") -> dict[str, Any]:
    return {"item": "dishonest_debtor", "decided_at": decided,
            "fields": {"case_no": "(2026)津0101执1号", "court": "和平区人民法院", "obligation": "给付", "circumstance": "拒不履行"}}


def push(session: Session, vault: Vault, dept: DepartmentRef, recs: list[dict[str, Any]], *, id_number: str | None = None,
         name: str = "李四", today: date = TODAY) -> tuple[int, list[int]]:
    """Push ``recs`` for one person; returns (subject_id, record ids)."""
    idn = id_number or new_id_number()
    batch = [{**r, "id_number": idn, "name": name, "source_id": f"S{next(_n)}"} for r in recs]
    out = ingest(session, vault=vault, department=dept, records=batch, actor=SYSTEM, today=today)
    assert all(o.status == "created" for o in out), [o.errors for o in out]
    subject = find_by_id_number(session, vault=vault, id_number=idn)
    assert subject is not None
    return subject.id, [o.record_id for o in out if o.record_id is not None]


def list_subject(session: Session, subject_id: int, code: str, kind: str = "dishonesty",
                 since: date = date(2026, 5, 1)) -> ListEntry:
    """A listed entry written directly (the lists domain's lifecycle is tested there)."""
    if session.scalar(select(ListKind.id).where(ListKind.code == code)) is None:
        session.add(ListKind(code=code, name_zh=code, name_en=code, kind=kind, public=True, source="decision", params={}))
    entry = ListEntry(list_code=code, subject_id=subject_id, status="listed", source="decision", reason="测试",
                      listed_on=since)
    session.add(entry)
    session.flush()
    return entry
