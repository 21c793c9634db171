"""Data quality per department: records pushed, rejected (by reason), batches refused whole (by
reason), and arrival delay against the rule (licences and penalties published within 7 working days
of the decision, 双公示).

Rejections are counted two ways, from the rejection log (``record_rejections``, one row per refusal):

- ``rejected`` — refusals: every time a record (or file row) was refused, a client's resends of the
  same bad record included. ``rejected_by_reason`` counts these refusals per error code, each refusal
  under every distinct code it had: a record refused for two errors counts under both, so the
  reasons may sum to more than ``rejected``.
- ``rejected_distinct`` — rejected records: one per (department, ``source_id``) refused in the
  period, however often it was sent (a refusal with no readable source id has no identity and counts
  once each). ``rejected_distinct_by_reason`` puts each such record under one reason, the first error
  of its latest refusal in the period: these sum to ``rejected_distinct`` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Integer, case, func, or_, select
from sqlalchemy.orm import Session

from xinyong import clock
from xinyong.audit.models import AuditEntry
from xinyong.auth.service import list_departments
from xinyong.catalog.service import current_items
from xinyong.records.models import Record, Rejection


@dataclass
class DepartmentQuality:
    department_id: int
    code: str
    name: str
    pushed: int = 0
    by_item: dict[str, int] = field(default_factory=dict)
    rejected: int = 0  # refusals, resends included
    rejected_by_reason: dict[str, int] = field(default_factory=dict)  # refusals per error code (every code)
    rejected_distinct: int = 0  # records refused, once per (department, source_id)
    rejected_distinct_by_reason: dict[str, int] = field(default_factory=dict)  # those by one reason each: sums exactly
    with_deadline: int = 0  # records of items that have an arrival rule
    late: int = 0  # arrived after the item's working-day limit
    avg_delay_working_days: float | None = None
    max_delay_working_days: int | None = None
    # batches refused whole (empty, over 1,000 records, a body that is not a batch): no record was
    # read, so none counts in ``rejected`` — counted apart, by the refusal's code
    batches_refused: int = 0
    batches_refused_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def on_time_rate(self) -> float | None:
        return None if not self.with_deadline else round(1 - self.late / self.with_deadline, 4)

    @property
    def rejection_rate(self) -> float | None:
        total = self.pushed + self.rejected
        return None if not total else round(self.rejected / total, 4)

    @property
    def rejection_rate_distinct(self) -> float | None:
        """Rejected records ÷ (pushed + rejected records): resends do not weigh."""
        total = self.pushed + self.rejected_distinct
        return None if not total else round(self.rejected_distinct / total, 4)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "on_time_rate": self.on_time_rate, "rejection_rate": self.rejection_rate,
                "rejection_rate_distinct": self.rejection_rate_distinct}


def _bounds(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    return clock.utc_instant(since, time.min), clock.utc_instant(until, time.max)


def _window(at: Any, dept: Any, lo: datetime | None, hi: datetime | None, department_id: int | None) -> list[Any]:
    """Conditions: ``at`` within [lo, hi] and, when given, one department."""
    conds = []
    if lo:
        conds.append(at >= lo)
    if hi:
        conds.append(at <= hi)
    if department_id is not None:
        conds.append(dept == department_id)
    return conds


def department_quality(session: Session, *, since: date | None = None, until: date | None = None,
                       department_id: int | None = None) -> list[DepartmentQuality]:
    """Set-based statistics over arrivals in [since, until] (local dates, by ``received_at``)."""
    lo, hi = _bounds(since, until)
    depts = {d.id: d for d in list_departments(session, kind="department")}
    out = {i: DepartmentQuality(i, d.code, d.name) for i, d in depts.items()
           if department_id is None or i == department_id}
    limits = {code: item.spec.arrival_working_days for code, item in current_items(session).items()
              if item.spec.arrival_working_days is not None}

    conds = _window(Record.received_at, Record.department_id, lo, hi, department_id)
    for dept_id, item, n in session.execute(
        select(Record.department_id, Record.item_code, func.count()).where(*conds)
        .group_by(Record.department_id, Record.item_code)
    ):
        q = out.get(dept_id)
        if q is None:
            continue
        q.pushed += n
        q.by_item[item] = n
    if limits:
        late_expr = case(*((Record.item_code == code, Record.arrival_working_days > lim) for code, lim in limits.items()),
                         else_=False)
        for dept_id, n, late, avg, mx in session.execute(
            select(Record.department_id, func.count(), func.sum(func.cast(late_expr, Integer)),
                   func.avg(Record.arrival_working_days), func.max(Record.arrival_working_days))
            .where(*conds, Record.item_code.in_(list(limits)))
            .group_by(Record.department_id)
        ):
            q = out.get(dept_id)
            if q is None:
                continue
            q.with_deadline, q.late = n, int(late or 0)
            q.avg_delay_working_days = round(float(avg), 2) if avg is not None else None
            q.max_delay_working_days = int(mx) if mx is not None else None

    rconds = _window(Rejection.created_at, Rejection.department_id, lo, hi, department_id)
    for dept_id, codes, n in session.execute(
        select(Rejection.department_id, Rejection.codes, func.count()).where(*rconds)
        .group_by(Rejection.department_id, Rejection.codes)
    ):
        q = out.get(dept_id)
        if q is None:
            continue
        q.rejected += n
        for code in codes.split(","):
            q.rejected_by_reason[code] = q.rejected_by_reason.get(code, 0) + n
    _rejected_distinct(session, out, rconds)
    _batches_refused(session, out, lo, hi)
    return sorted(out.values(), key=lambda q: q.code)


def _rejected_distinct(session: Session, out: dict[int, DepartmentQuality], rconds: list[Any]) -> None:
    """Rejected records, each once: the latest refusal (highest id) of each (department, source_id)
    in the period, and every refusal without a source id; counted by that refusal's first error."""
    latest = (select(func.max(Rejection.id)).where(*rconds, Rejection.source_id.is_not(None))
              .group_by(Rejection.department_id, Rejection.source_id))
    for dept_id, code, n in session.execute(
        select(Rejection.department_id, Rejection.code, func.count())
        .where(*rconds, or_(Rejection.source_id.is_(None), Rejection.id.in_(latest)))
        .group_by(Rejection.department_id, Rejection.code)
    ):
        q = out.get(dept_id)
        if q is None:
            continue
        q.rejected_distinct += n
        q.rejected_distinct_by_reason[code] = q.rejected_distinct_by_reason.get(code, 0) + n


def _batches_refused(session: Session, out: dict[int, DepartmentQuality], lo: datetime | None,
                     hi: datetime | None) -> None:
    """Whole batches refused, from their audit entries (``records.push``, ``failed``, the department as
    the object: ``records.service.record_batch_refusal``) — found by the entries' object index, read only for the
    refused ones."""
    if not out:
        return
    ids = {str(i): i for i in out}
    conds = [AuditEntry.object_type == "department", AuditEntry.object_id.in_(list(ids)),
             AuditEntry.action == "records.push", AuditEntry.outcome == "failed"]
    if lo:
        conds.append(AuditEntry.occurred_at >= lo)
    if hi:
        conds.append(AuditEntry.occurred_at <= hi)
    for object_id, details in session.execute(select(AuditEntry.object_id, AuditEntry.details).where(*conds)):
        q = out[ids[object_id]]
        code = str((details or {}).get("code") or "unknown")
        q.batches_refused += 1
        q.batches_refused_by_reason[code] = q.batches_refused_by_reason.get(code, 0) + 1

