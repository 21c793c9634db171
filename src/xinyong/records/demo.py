"""A realistic mix of demo records: every catalog item, every severity, some decided long ago
(past their display period), some to be revoked. Pure data; the demo pushes it through ingest()."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

# Which demo department pushes which item (codes from the demo's department list).
ITEM_DEPARTMENTS: dict[str, str] = {
    "admin_license": "spj",
    "admin_penalty": "scjg",
    "dishonest_debtor": "fy",
    "tax_violation": "swj",
    "traffic_violation": "jgzd",
    "credit_commitment": "fgw",
    "professional_qualification": "rsj",
    "student_misconduct": "jyj",
    "honor": "wmb",
    "moral_model": "wmb",
    "volunteer_service": "tqw",
    "blood_donation": "wjw",
    "charity_donation": "mzj",
}
LEVELS = ("national", "provincial", "city", "district", "street", "community")


@dataclass
class DemoRecords:
    by_department: dict[str, list[dict[str, Any]]]
    to_revoke: dict[str, list[str]]  # department code -> source ids to revoke after pushing
    arrivals: dict[str, date]  # source id -> the day its department delivered it


# Whatever the number of people, the first rounds hold one record past its display period (the
# third round's admin_penalty, serious) and one revoked (the second round's admin_penalty, general).
ENDED = 2 * len(ITEM_DEPARTMENTS) + 1
REVOKED = len(ITEM_DEPARTMENTS) + 1

LATE_SHARE = 1 / 10  # delivered weeks after the decision (past the 7 working days licences and penalties allow)


def arrival_of(decided: date, today: date, rnd: random.Random) -> date:
    """The day a department delivers a record it decided on ``decided``: with its weekly delivery, the
    Monday after (within 5 working days); one in ten weeks late, as a data-quality page shows them. Never
    after ``today``."""
    if rnd.random() < LATE_SHARE:
        day = decided + timedelta(days=rnd.randrange(14, 42))
    else:
        day = decided + timedelta(days=7 - decided.weekday())  # the next Monday
    return min(day, today)


# the bad and serious items, whose records may give the day the act ended (retention counts from it)
ACT_ENDS = ("admin_penalty", "dishonest_debtor", "tax_violation", "traffic_violation", "student_misconduct")


def _fields(item: str, i: int, rnd: random.Random) -> tuple[dict[str, Any], str | None]:
    if item == "admin_license":
        return {"license_no": f"JY1120101{i:07d}", "license_type": rnd.choice(["普通", "登记", "核准"]),
                "content": rnd.choice(["食品经营许可", "公共场所卫生许可", "出版物零售许可"])}, None
    if item == "admin_penalty":
        sev = rnd.choices(["minor", "general", "serious"], weights=[3, 5, 2])[0]
        return {"decision_no": f"和市监罚〔2025〕{i}号", "violation": rnd.choice(["未按规定公示", "销售过期食品", "虚假宣传"]),
                "penalty_type": {"minor": "警告", "general": "罚款", "serious": "吊销许可证件"}[sev],
                "amount": {"minor": 0, "general": rnd.randrange(500, 20000), "serious": rnd.randrange(20000, 200000)}[sev]}, sev
    if item == "dishonest_debtor":
        return {"case_no": f"(2025)津0101执{i}号", "court": "天津市和平区人民法院", "obligation": "给付借款本金及利息",
                "circumstance": "有履行能力而拒不履行生效法律文书确定义务"}, None
    if item == "tax_violation":
        return {"case_no": f"津和税稽〔2025〕{i}号", "violation": "未按规定申报个人所得税", "amount": rnd.randrange(1000, 90000)}, \
            rnd.choice(["general", "serious"])
    if item == "traffic_violation":
        sev = rnd.choice(["minor", "general", "serious"])
        return {"violation": {"minor": "违反禁令标志", "general": "超速50%以下", "serious": "醉酒驾驶"}[sev],
                "plate_no": f"津A{rnd.randrange(10000, 99999)}", "points": {"minor": 1, "general": 6, "serious": 12}[sev]}, sev
    if item == "credit_commitment":
        return {"commitment_type": rnd.choice(["审批替代型", "主动型", "信用修复型"]), "content": "依法诚信经营，如有违反自愿接受惩戒",
                "performed": rnd.random() > 0.1}, None
    if item == "professional_qualification":
        return {"qualification": rnd.choice(["执业医师", "律师", "注册会计师", "教师资格"]),
                "certificate_no": f"Q{i:09d}", "group_code": rnd.choice(["physician", "lawyer", "accountant_auditor", "teacher"])}, None
    if item == "student_misconduct":
        return {"school": "天津市和平区职业中专", "misconduct_type": rnd.choice(["考试舞弊", "学术造假"]),
                "description": "在期末考试中携带与考试内容相关的材料"}, rnd.choice(["general", "serious"])
    if item == "honor":
        return {"title": rnd.choice(["优秀志愿者", "五好家庭", "见义勇为先进个人"]), "level": rnd.choice(LEVELS),
                "awarded_by": "和平区精神文明建设委员会"}, None
    if item == "moral_model":
        return {"title": rnd.choice(["诚实守信模范", "助人为乐模范"]), "level": rnd.choice(LEVELS[:4])}, None
    if item == "volunteer_service":
        hours = rnd.choice([rnd.randrange(10, 300), rnd.randrange(300, 1500), rnd.randrange(1500, 3000)])
        return {"organisation": "和平区志愿者协会", "hours": hours,
                "star_level": 5 if hours >= 1500 else 4 if hours >= 1000 else 3 if hours >= 600 else 2 if hours >= 300 else 1}, None
    if item == "blood_donation":
        return {"volume_ml": rnd.choice([200, 300, 400]), "station": "天津市血液中心和平献血屋"}, None
    if item == "charity_donation":
        return {"recipient": "和平区慈善协会", "amount": rnd.choice([500, 1000, 5000, 20000])}, None
    raise ValueError(item)  # pragma: no cover


def build(people: Sequence[tuple[str, str]], *, today: date, seed: int = 2018, per_person: float = 1.5) -> DemoRecords:
    """About ``per_person`` records per person; 1 in 25 decided 3-6 years ago (display over),
    1 in 60 revoked afterwards. The first three rounds cycle through every item and severity, and
    hold a record past its display period (``ENDED``) and one revoked (``REVOKED``), so that even a
    demo of one person shows each."""
    rnd = random.Random(seed)
    by_dept: dict[str, list[dict[str, Any]]] = {}
    to_revoke: dict[str, list[str]] = {}
    arrivals: dict[str, date] = {}
    deliveries = random.Random(seed + 1)  # (its own draws: the records are those of the same seed as before)
    items = list(ITEM_DEPARTMENTS)
    weights = [8, 10, 1, 2, 4, 3, 3, 1, 3, 1, 4, 3, 2]
    n = max(len(items) * 3, int(len(people) * per_person))
    for i in range(n):
        # the first rounds cycle through every item so that each appears
        item = items[i % len(items)] if i < len(items) * 3 else rnd.choices(items, weights=weights)[0]
        number, name = people[rnd.randrange(len(people))]
        fields, severity = _fields(item, i, rnd)
        if i < len(items) * 3 and item in ("admin_penalty", "traffic_violation"):
            severity = ("minor", "general", "serious")[i // len(items)]
            fields = _fields_for_severity(item, fields, severity)
        elif i < len(items) * 2 and item in ("tax_violation", "student_misconduct"):
            severity = ("general", "serious")[i // len(items)]  # both, whatever the draw above
        old = rnd.random() < 0.04
        days = rnd.randrange(365 * 3, 365 * 6) if old else rnd.randrange(1, 365 * 2)
        if i == ENDED:
            days = 365 * 4  # a serious penalty decided four years ago: past its 3 years of display, not yet archived
        dept = ITEM_DEPARTMENTS[item]
        rec: dict[str, Any] = {"item": item, "id_number": number, "name": name, "source_id": f"DEMO-{dept}-{i:06d}",
                               "decided_at": (today - timedelta(days=days)).isoformat(), "fields": fields}
        if severity is not None:
            rec["severity"] = severity
        # without draws of their own (the records stay those of the same seed): some debtors' listings
        # extended by the court, and some bad records giving the day their act ended
        if item == "dishonest_debtor" and i % 3 == 0:
            fields["extension_years"] = 1 + (i // 3) % 3
        if item in ACT_ENDS and i % 4 == 0 and not old and i not in (ENDED, REVOKED):
            # an act ended up to 330 days before a decision of the last two years: its retention ends
            # years from now (an older one could be archived on arrival, and the demo revokes some)
            fields["act_ended_on"] = (today - timedelta(days=days + 30 + i % 300)).isoformat()
        by_dept.setdefault(dept, []).append(rec)
        if rnd.random() < 1 / 60 or i == REVOKED:
            to_revoke.setdefault(dept, []).append(rec["source_id"])
        arrivals[rec["source_id"]] = arrival_of(today - timedelta(days=days), today, deliveries)
    return DemoRecords(by_dept, to_revoke, arrivals)


def _fields_for_severity(item: str, fields: dict[str, Any], severity: str) -> dict[str, Any]:
    if item == "admin_penalty":
        return {**fields, "penalty_type": {"minor": "警告", "general": "罚款", "serious": "吊销许可证件"}[severity]}
    return {**fields, "points": {"minor": 1, "general": 6, "serious": 12}[severity]}
