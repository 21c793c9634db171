"""Demo listings: people on every list at every step, all through :mod:`xinyong.lists.service`.

Called by :func:`xinyong.demo.build_demo` after the records are pushed (the dishonest-debtor list is
already filled by the court's records then). Dishonesty listings are proposed by the departments
that would find them, notified and decided on dates before ``today`` so the working-day deadlines
are real; red lists are refreshed by rule and added by decision.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong import clock
from xinyong.audit.service import Actor
from xinyong.lists import service
from xinyong.lists.models import ListEntry

DEMO_ADMIN = Actor.system("demo:fgw")

# (list, category, proposing department, reason, step) — step: proposed | notified | defended | listed | removed
PLAN: list[tuple[str, str, str, str, str]] = [
    ("serious_dishonesty", "harm_health_life", "scjg", "生产销售不符合食品安全标准的食品，造成多人食物中毒（演示）", "listed"),
    ("serious_dishonesty", "refuse_legal_duties", "spj", "拒不履行行政处罚决定，经催告仍不履行（演示）", "listed"),
    ("serious_dishonesty", "harm_fair_competition", "scjg", "串通投标，扰乱公共资源交易秩序（演示）", "notified"),
    ("serious_dishonesty", "refuse_defence_duties", "gaj", "拒绝、逃避兵役登记（演示）", "proposed"),
    ("key_supervision", "tax_dishonesty", "swj", "虚开增值税发票，偷逃税款（演示）", "listed"),
    ("key_supervision", "telecom_fraud", "gaj", "参与电信网络诈骗，出租银行账户（演示）", "listed"),
    ("key_supervision", "traffic_violation", "jgzd", "一年内多次醉酒驾驶机动车（演示）", "listed"),
    ("key_supervision", "benefit_fraud", "rsj", "伪造材料骗取失业保险金（演示）", "removed"),
    ("key_supervision", "illegal_fundraising", "jrb", "以高额回报为诱饵非法吸收公众存款（演示）", "defended"),
    ("key_supervision", "online_fraud", "wxb", "网络刷单虚假交易（演示）", "notified"),
    ("key_supervision", "malicious_debt_evasion", "jrb", "转移财产恶意逃避银行债务（演示）", "proposed"),
]
RECOMMENDED = 3  # red_recommended entries by decision


def add_demo_lists(session: Session, *, subject_ids: list[int], departments: dict[str, int], today: date | None = None,
                   seed: int = 2018) -> dict[str, Any]:
    """Put demo people on every list. Returns {list code: {status: entries}} plus the refresh result."""
    today = today or clock.today()
    actor_admin = DEMO_ADMIN
    service.load_default(session, actor=actor_admin)
    rng = random.Random(seed + 40)
    taken = set(session.scalars(select(ListEntry.subject_id)))
    pool = [sid for sid in subject_ids if sid not in taken]
    rng.shuffle(pool)
    people = iter(pool)
    notice_day = today - timedelta(days=30)  # the defence period (5 working days) has ended
    for code, category, dept_code, reason, step in PLAN:
        sid = next(people, None)
        if sid is None or dept_code not in departments:
            continue
        officer = Actor(type="system", label=f"demo:{dept_code}", department_id=departments[dept_code])
        entry = service.propose(session, code=code, subject_id=sid, reason=reason, category=category,
                                department_id=departments[dept_code], actor=officer)
        if step == "proposed":
            continue
        day = today if step == "notified" else notice_day
        service.notify(session, entry=entry, actor=officer, today=day, note="直接送达（演示） / served in person (demo)")
        if step == "notified":
            continue
        if step == "defended":
            service.defend(session, entry=entry, text="本人已退还全部集资款，请求不予列入（演示）", actor=officer,
                           today=day + timedelta(days=1))
            continue
        service.decide(session, entry=entry, listed=True, reason="申辩期满未提出申辩（演示） / no defence (demo)",
                       actor=actor_admin, today=today - timedelta(days=20))
        if step == "removed":
            service.remove(session, entry=entry, kind="repair", reason="已退回全部款项并完成信用修复（演示）",
                           actor=actor_admin)
    for _ in range(RECOMMENDED):
        sid = next(people, None)
        if sid is None:
            break
        service.add(session, code="red_recommended", subject_id=sid, reason="区律师协会推荐的诚信会员（演示）",
                    department_id=departments.get("sfj"), actor=actor_admin, today=today - timedelta(days=60))
    refreshed = service.refresh(session, today=today, actor=actor_admin)
    # The rule lists show someone even when the demo's records qualify no one.
    for code, reason in (("red_volunteer", "五星级志愿者（演示，按决定列入）"), ("red_moral_model", "区级道德模范（演示，按决定列入）")):
        if not session.scalar(select(func.count()).select_from(ListEntry).where(ListEntry.list_code == code)):
            sid = next(people, None)
            if sid is not None:
                service.add(session, code=code, subject_id=sid, reason=reason, actor=actor_admin, today=today)
    counts = service.counts_by_list(session)
    return {"entries": counts, "refreshed": refreshed}
