"""Builders for the lists tests: records pushed through the real ingestion service."""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.support import SYSTEM, new_id_number

from xinyong.records import service as records
from xinyong.subjects.service import register


def person(session, vault, name: str = "李四", born: date | None = None):  # type: ignore[no-untyped-def]
    subject, _ = register(session, vault=vault, id_number=new_id_number(born=born or date(1980, 5, 6)), name=name,
                          actor=SYSTEM)
    return subject


def push(session, vault, dept, recs: list[dict[str, Any]], today: date = date(2026, 11, 26)) -> list[Any]:  # type: ignore[no-untyped-def]
    out = records.ingest(session, vault=vault, department=records.DepartmentRef(dept.id, dept.code), records=recs,
                         actor=SYSTEM, today=today)
    assert all(o.status != "rejected" for o in out), [o.errors for o in out]
    return out


def debtor(id_number: str, name: str, source_id: str = "D-1", decided_at: str = "2026-06-01", **fields: Any) -> dict:
    f = {"case_no": "（2026）津0101执123号", "court": "和平区人民法院", "obligation": "给付货款100000元",
         "circumstance": "有履行能力而拒不履行"}
    f.update(fields)
    return {"item": "dishonest_debtor", "id_number": id_number, "name": name, "source_id": source_id,
            "decided_at": decided_at, "fields": f}


def volunteer(id_number: str, name: str, hours: float, source_id: str = "V-1", decided_at: str = "2026-01-10") -> dict:
    return {"item": "volunteer_service", "id_number": id_number, "name": name, "source_id": source_id,
            "decided_at": decided_at, "fields": {"organisation": "和平区志愿者协会", "hours": hours}}


def penalty(id_number: str, name: str, source_id: str = "P-1", decided_at: str = "2025-03-02",
            severity: str = "general") -> dict:
    return {"item": "admin_penalty", "id_number": id_number, "name": name, "source_id": source_id,
            "decided_at": decided_at, "severity": severity,
            "fields": {"decision_no": "和市监罚〔2025〕1号", "violation": "未按规定公示", "penalty_type": "罚款",
                       "amount": 2000}}
