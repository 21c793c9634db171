"""Data and helpers for the records/imports/catalog page tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session
from tests.support import new_id_number

from xinyong.audit.service import Actor
from xinyong.privacy.masking import mask_id_number, mask_name
from xinyong.records.service import DepartmentRef, ingest

HTMX = {"HX-Request": "true"}


@dataclass
class Person:
    id_number: str
    name: str

    @property
    def masked_id(self) -> str:
        return mask_id_number(self.id_number)

    @property
    def masked_name(self) -> str:
        return mask_name(self.name)


@dataclass
class Sample:
    li: Person  # dept A: two penalties and a licence
    ouyang: Person  # dept A: an expired minor penalty
    wang: Person  # dept B only
    ids: dict[str, int]  # source_id -> record id


def penalty(p: Person, source_id: str, severity: str, decided_at: str, amount: int = 2000) -> dict[str, Any]:
    return {"item": "admin_penalty", "id_number": p.id_number, "name": p.name, "source_id": source_id,
            "decided_at": decided_at, "severity": severity,
            "fields": {"decision_no": f"和市监罚〔2026〕{source_id}号", "violation": "未按规定公示",
                       "penalty_type": "罚款", "amount": amount}}


def licence(p: Person, source_id: str, decided_at: str) -> dict[str, Any]:
    return {"item": "admin_license", "id_number": p.id_number, "name": p.name, "source_id": source_id,
            "decided_at": decided_at,
            "fields": {"license_no": f"JY{source_id}", "license_type": "普通", "content": "食品经营许可"}}


def push(session: Session, vault: Any, dept: Any, records: list[dict[str, Any]], today: date | None = None,
         ) -> list[Any]:
    actor = Actor(type="apikey", id="1", label=f"{dept.code}-system", department_id=dept.id)
    return ingest(session, vault=vault, department=DepartmentRef(id=dept.id, code=dept.code), records=records,
                  actor=actor, today=today)


def build_sample(session: Session, vault: Any, world: Any) -> Sample:
    li = Person(new_id_number(born=date(1980, 5, 6)), "李四光")
    ouyang = Person(new_id_number(born=date(1975, 1, 2)), "欧阳修远")
    wang = Person(new_id_number(born=date(1990, 9, 9)), "王五六")
    bad = {**penalty(li, "A-BAD", "general", "2026-03-02"), "id_number": "12010119900101123"}
    # Arriving on 2026-04-03: A-P1 and A-P2 within 7 working days, A-LIC and A-OLD late.
    out_a = push(session, vault, world.dept_a, [
        penalty(li, "A-P1", "general", "2026-04-01"),
        penalty(li, "A-P2", "serious", "2026-03-31", amount=50000),
        licence(li, "A-LIC", "2026-02-02"),
        penalty(ouyang, "A-OLD", "minor", "2023-01-03", amount=100),
        bad,
    ], today=date(2026, 4, 3))
    out_b = push(session, vault, world.dept_b, [penalty(wang, "B-P1", "general", "2026-05-06")],
                 today=date(2026, 5, 8))
    statuses = [o.status for o in out_a + out_b]
    assert statuses == ["created", "created", "created", "created", "rejected", "created"], statuses
    ids = {sid: o.record_id for sid, o in zip(["A-P1", "A-P2", "A-LIC", "A-OLD", "A-BAD", "B-P1"], out_a + out_b,
                                                strict=True) if o.record_id}
    return Sample(li=li, ouyang=ouyang, wang=wang, ids=ids)


def row_ids(html: str) -> list[int]:
    """Record ids linked from the records table, in order."""
    return [int(x) for x in re.findall(r'<a href="/workspace/records/(\d+)">', html)]


def cell(html: str, row_id: str, cls: str) -> str:
    """The text of ``<td class="... cls">`` in ``<tr id="row_id">``."""
    row = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S)
    assert row, row_id
    m = re.search(rf'<td class="[^"]*\b{cls}\b[^"]*">(.*?)</td>', row.group(1), re.S)
    assert m, (row_id, cls)
    return re.sub(r"<[^>]+>", "", m.group(1)).strip()
