"""The daily upkeep (``xinyong maintain``), in the order data flows.

1. records: end display of records past their display period, archive those past retention (their
   subjects are regraded through the after-change handlers in the same transaction);
2. lists: remove listings past their planned end, refresh the rule-based red lists;
3. scoring: a full rescore when a new ruleset took effect, otherwise refresh the subjects whose
   contribution windows ended since the last run;
4. files: delete the uploads (raw ID numbers) of import and comparison jobs left unfinished for
   30 days (``imports.service.expire_uploads``).

Each step commits on its own and is idempotent, so a run interrupted half-way is completed by the
next one, and a second run on the same day changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from xinyong import clock
from xinyong.audit.service import Actor
from xinyong.db import Database
from xinyong.domain_errors import BilingualError


def _as_dict(result: Any) -> dict[str, Any]:
    if isinstance(result, dict):
        return result
    if is_dataclass(result) and not isinstance(result, type):
        return asdict(result)
    return {k: v for k, v in vars(result).items() if not k.startswith("_")}


def steps() -> list[tuple[str, Callable[[Session, Actor, date | None], Any]]]:
    from xinyong.lists import service as lists
    from xinyong.records import service as records
    from xinyong.scoring import service as scoring

    return [
        ("records", lambda s, a, d: records.maintain(s, actor=a, today=d)),
        ("lists", lambda s, a, d: lists.maintain(s, actor=a, today=d)),
        ("scoring", lambda s, a, d: scoring.maintain(s, actor=a, today=d or clock.today())),
        ("files", _files),
    ]


def _files(session: Session, actor: Actor, today: date | None) -> dict[str, int]:
    from datetime import time

    from xinyong.db import utcnow
    from xinyong.imports import service as imports
    from xinyong.measures import batch

    # as of the end of that day, but never later than now: "left for 30 days" is time that has passed,
    # and a day ahead (``maintain --today``) must not take the file of a job running this moment
    end = clock.utc_instant(today, time.max) if today is not None else None
    now = min(end, utcnow()) if end is not None else None
    return {"imports": imports.expire_files(session, actor=actor, now=now),
            "comparisons": batch.expire_files(session, actor=actor, now=now)}


class FutureDay(BilingualError):
    """``maintain --today D`` with D after the district's today (:func:`check_day`)."""

    status = 409


def check_day(today: date | None, *, allow_future: bool = False) -> None:
    """Refuse to run as of a day that has not come in the district (``clock.today()``): the steps would
    end display periods and archive records as of it — published records taken down early, archived
    for good (nothing brings an archived record back). ``allow_future`` is the deliberate rehearsal
    on a copy of the database (``xinyong maintain --today D --allow-future``). A past day is allowed:
    catching up after missed runs changes nothing a run on each of those days would not have."""
    if today is None or allow_future:
        return
    now = clock.today()
    if today > now:
        raise FutureDay("future_day",
                        f"--today {today.isoformat()} 晚于本区今天（{now.isoformat()}）：维护会提前结束公示、"
                        f"归档记录，且无法撤销；仅在数据库副本上演练时加 --allow-future",
                        f"--today {today.isoformat()} is after the district's today ({now.isoformat()}): upkeep "
                        f"would end display periods and archive records early, irreversibly; add --allow-future "
                        f"only to rehearse on a copy of the database", "today")


def run_daily(db: Database, *, today: date | None = None, actor: Actor | None = None,
              allow_future: bool = False) -> dict[str, dict[str, Any]]:
    """Run every step, each in its own transaction; returns each step's counts. A ``today`` after the
    district's today is refused (:class:`FutureDay`, before anything runs) unless ``allow_future``."""
    check_day(today, allow_future=allow_future)
    actor = actor or Actor.system("maintain")
    results: dict[str, dict[str, Any]] = {}
    for name, step in steps():
        with db.session(write=True) as session:
            results[name] = _as_dict(step(session, actor, today))
    return results
