"""The audit log's filters, as the page (``GET /audit``) and the API (``GET /api/v1/audit/entries``) take
them from the query string: one parser, one set of refusals (:func:`parse_filters`), and the date range
as UTC instants (:func:`utc_bounds`) for :func:`xinyong.audit.service.list_entries`."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode

from xinyong.audit.service import OUTCOMES
from xinyong.privacy.masking import may_hold_id_number
from xinyong.web.filters import CONTROL, RefusableFilters

CODE = re.compile(r"^[A-Za-z0-9_.\-]+$")  # an action's or an object type's shape
MAX_LEN = {"action": 64, "actor": 128, "object_type": 32, "object_id": 64}  # the columns' lengths


@dataclass
class Filters(RefusableFilters):
    """The filters as the query string carries them (the page's and the API's)."""

    action: str = ""
    actor: str = ""
    outcome: str = ""
    object_type: str = ""
    object_id: str = ""
    occurred_from: date | None = None
    occurred_to: date | None = None  # inclusive: the whole day
    before_id: int | None = None

    def query(self, **changes: Any) -> str:
        f = replace(self, **changes)
        params = {"action": f.action, "actor": f.actor, "outcome": f.outcome, "object_type": f.object_type,
                  "object_id": f.object_id,
                  "occurred_from": f.occurred_from.isoformat() if f.occurred_from else "",
                  "occurred_to": f.occurred_to.isoformat() if f.occurred_to else "",
                  "before_id": str(f.before_id) if f.before_id else ""}
        return urlencode({k: v for k, v in params.items() if v})

    def audit_details(self) -> dict[str, Any]:
        """The applied filters (a refused one is None), as the API's ``filter``, and the page's place."""
        return {"filter": {"action": self.action or None, "actor": self.actor or None,
                           "outcome": self.outcome or None, "object_type": self.object_type or None,
                           "object_id": self.object_id or None,
                           "occurred_from": self.occurred_from.isoformat() if self.occurred_from else None,
                           "occurred_to": self.occurred_to.isoformat() if self.occurred_to else None},
                "before_id": self.before_id}


def parse_filters(*, action: str, actor: str, outcome: str, object_type: str, object_id: str,
                  occurred_from: str, occurred_to: str, before_id: str) -> Filters:
    """The filters from the query string. A value that cannot be applied — an action or object type of
    the wrong shape, an outcome that is none, a value longer than its column, control characters, 17
    digits in a row (an ID number's shape, which no entry holds unmasked), a date that cannot be read, a
    range whose start is after its end — is a refusal: the page then lists nothing, the API answers 422
    naming the fields. ``before_id`` is the page's own paging link: an odd value there is ignored (the
    API's is typed, refused by its schema)."""
    f = Filters()
    for name, raw in (("action", action), ("actor", actor), ("object_type", object_type),
                      ("object_id", object_id)):
        value = raw.strip()
        if not value:
            continue
        if may_hold_id_number(value):  # no entry holds one unmasked; never carried on into the paging links
            f.refuse(name, "audit.filter.id_number", value)
        elif len(value) > MAX_LEN[name] or CONTROL.search(value) or (
                name in ("action", "object_type") and not CODE.match(value)):
            f.refuse(name, f"audit.filter.bad_{name}", value)
        else:
            setattr(f, name, value)
    value = outcome.strip()
    if value:
        if value in OUTCOMES:
            f.outcome = value
        else:
            f.refuse("outcome", "audit.filter.bad_outcome", value)
    f.read_days("audit.filter.bad_date", occurred_from=occurred_from, occurred_to=occurred_to)
    if f.occurred_from and f.occurred_to and f.occurred_from > f.occurred_to:
        f.refuse("occurred_to", "audit.filter.bad_range")
    value = before_id.strip()
    if value.isascii() and value.isdigit() and len(value) <= 18 and int(value) > 0:
        f.before_id = int(value)
    return f


def utc_bounds(tz: tzinfo, f: Filters) -> tuple[datetime | None, datetime | None]:
    """The date range in the district's time zone, as UTC instants: from the start of the first day to
    the start of the day after the last. The calendar's first and last days bound nothing (the first's
    start is before year 1 in UTC east of Greenwich, the last has no day after: OverflowError)."""
    start = (datetime.combine(f.occurred_from, time.min, tzinfo=tz)
             if f.occurred_from and f.occurred_from > date.min else None)
    end = (datetime.combine(f.occurred_to + timedelta(days=1), time.min, tzinfo=tz)
           if f.occurred_to and f.occurred_to < date.max else None)
    return start, end
