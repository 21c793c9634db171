"""The platform's calendar: which day it is.

Every rule of the platform that counts in days — a decision date "in the future", display periods
and what ``xinyong maintain`` ends, working-day deadlines, "three years without bad records", an
ID number's birth date, a student's age, the day a list entry was notified — counts in the days of
the district, not of the server's operating system. A server kept on UTC (as containers usually
are) is eight hours behind Beijing time, and from 00:00 to 08:00 there ``date.today()`` still gives
yesterday: a child born this morning would hold an "invalid" ID number in one part of the platform
while another part had already accepted and scored a penalty decided this morning.

So the platform asks this module, never ``date.today()``. The zone is ``Settings.timezone``
(``XINYONG_TIMEZONE``, Asia/Shanghai by default), applied by :func:`configure` when the web
application or the command line starts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Asia/Shanghai"

_zone = ZoneInfo(DEFAULT_ZONE)


def zone_of(name: str) -> ZoneInfo:
    """The zone named ``name`` (an IANA name such as ``Asia/Shanghai``), or ValueError saying why."""
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"未知时区 {name!r}（应为 IANA 时区名，如 Asia/Shanghai） / "
                         f"unknown time zone {name!r} (expected an IANA name such as Asia/Shanghai)") from exc


def configure(name: str) -> None:
    """Count days in the zone ``name`` from now on (in this process)."""
    global _zone
    _zone = zone_of(name)


def zone() -> ZoneInfo:
    return _zone


def now() -> datetime:
    """The current time in the platform's zone (aware)."""
    return datetime.now(_zone)


def today() -> date:
    """The current day in the platform's zone."""
    return datetime.now(_zone).date()


def day_of(instant: datetime) -> date:
    """The platform's day of a stored instant (an aware datetime, as the database gives them)."""
    return instant.astimezone(_zone).date()


def utc_instant(day: date | None, at: time) -> datetime | None:
    """``day`` at ``at`` in the platform's zone, as a UTC datetime, for a query's bound (a query "since
    that day" counts from the district's midnight, not UTC's, eight hours later); None (no
    bound) for ``None`` and for a day at the calendar's very start or end whose instant has no UTC
    datetime (``0001-01-01`` east of UTC): nothing is stored beyond it, so such a bound would
    select nothing less."""
    if day is None:
        return None
    try:
        return datetime.combine(day, at, _zone).astimezone(UTC)
    except OverflowError:
        return None

