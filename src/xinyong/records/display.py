"""Display periods (公示期限) and retention, from the catalog item's rule and the decision date."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from xinyong.catalog.spec import ItemSpec


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class DisplayDates:
    publish: bool
    min_display_until: date
    display_until: date
    retain_until: date | None


def compute(spec: ItemSpec, severity: str | None, decided_at: date) -> DisplayDates:
    """``display_until``: display stops by itself (the maximum period); ``min_display_until``:
    repair may end display only after it; ``retain_until``: kept, not shown, until then (the
    item's retention counted from the decision, never before display ends)."""
    p = spec.period(severity)
    display_until = add_months(decided_at, p.max_months)
    retain = None
    if spec.retention_years:
        retain = max(add_months(decided_at, 12 * spec.retention_years), display_until)
    return DisplayDates(publish=p.publish, min_display_until=add_months(decided_at, p.min_months),
                        display_until=display_until, retain_until=retain)


def status_on(dates: DisplayDates, today: date) -> str:
    if dates.retain_until is not None and dates.retain_until <= today:
        return "archived"
    if dates.display_until <= today:
        return "expired"
    return "active"
