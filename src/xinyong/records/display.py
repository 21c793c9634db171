"""Display periods (公示期限) and retention, from the catalog item's rule and the decision date."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from typing import Any

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


def compute(spec: ItemSpec, severity: str | None, decided_at: date,
            fields: dict[str, Any] | None = None) -> DisplayDates:
    """``display_until``: display stops by itself (the maximum period, lengthened by the record's
    extension field where the item has one: a dishonest debtor's listing extended by the court);
    ``min_display_until``: repair may end display only after it; ``retain_until``: kept, not shown,
    until then (the item's retention counted from the record's end-of-act date where the item names
    one and the record gives it, else from the decision; never before display ends). ``fields``: the
    record's checked fields (dates as ISO text, as stored)."""
    p = spec.period(severity)
    months = p.max_months
    ext = spec.display_extension
    if ext is not None and fields:
        n = fields.get(ext[0])
        if type(n) is int and n > 0:
            months += n * ext[1]
    display_until = add_months(decided_at, months)
    retain = None
    if spec.retention_years:
        start = decided_at
        if spec.retention_from is not None and fields:
            ended = fields.get(spec.retention_from)
            if ended:
                start = ended if isinstance(ended, date) else date.fromisoformat(ended)
        retain = max(add_months(start, 12 * spec.retention_years), display_until)
    return DisplayDates(publish=p.publish, min_display_until=add_months(decided_at, p.min_months),
                        display_until=display_until, retain_until=retain)


def status_on(dates: DisplayDates, today: date) -> str:
    if dates.retain_until is not None and dates.retain_until <= today:
        return "archived"
    if dates.display_until <= today:
        return "expired"
    return "active"
