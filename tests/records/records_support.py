"""Record builders for the records tests."""

from __future__ import annotations


def penalty(id_number: str, name: str = "李四", source_id: str = "P-1", severity: str = "general",
            decided_at: str = "2026-03-02", **fields) -> dict:  # type: ignore[no-untyped-def]
    f = {"decision_no": "和市监罚〔2026〕1号", "violation": "未按规定公示", "penalty_type": "罚款", "amount": 2000}
    f.update(fields)
    return {"item": "admin_penalty", "id_number": id_number, "name": name, "source_id": source_id,
            "decided_at": decided_at, "severity": severity, "fields": f}
