"""The holiday table: entering a year's schedule as the State Council publishes it, one day's
correction, reading it back. Every change is audited; the caller commits, then has its process
count with the new table (``xinyong.workdays.sync``; other processes read it within seconds).

A schedule is text, one line a day or a run of days::

    # 2027年节假日安排
    2027-01-01 holiday 元旦
    2027-02-05..2027-02-11 holiday 春节
    2027-02-14 workday 春节调休上班

``holiday`` (or 放假 / 休) and ``workday`` (or 上班 / 班); the name is optional; fields apart by
spaces, tabs or one comma (a spreadsheet's CSV); a run by ``..``, ``~`` or ``至``; ``#`` starts a
comment. Importing a schedule replaces the years it names, whole — but for a year it names only in
December while it names the next: that is the next year's New Year's holiday begun early, as the
notices for 2017, 2019 and 2023 had it (2022-12-31..2023-01-02; 2018-12-29 worked); those days are
added to that year, which must be covered already, as ``set`` adds one."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from xinyong import workdays
from xinyong.audit.service import Actor, record
from xinyong.catalog.spec import TEXT_CONTROL_CHARS
from xinyong.db import utcnow
from xinyong.domain_errors import BilingualError
from xinyong.holidays.models import CalendarDay

FIRST_YEAR, LAST_YEAR = 2004, 2100
MAX_RUN = 31  # days in one line's run (the longest holiday is 8 or 9 days)
MAX_LINES = 2000
KIND_WORDS = {"holiday": "holiday", "放假": "holiday", "休": "holiday", "假": "holiday",
              "workday": "workday", "上班": "workday", "班": "workday", "调休上班": "workday"}
KIND_NAMES = {"holiday": ("放假", "holiday"), "workday": ("上班（调休）", "working day (in lieu)")}
_SPLIT = re.compile(r"\s*,\s*|\s+")
_RUN = re.compile(r"^(\S+?)\s*(?:\.\.|~|至)\s*(\S+)$")


class HolidayError(BilingualError):
    """A refused schedule or day: every problem, each naming its line (``field``: ``line 3``)."""

    def __init__(self, problems: Sequence[tuple[str, str, str, str]]) -> None:
        self.problems = list(problems)  # (field, code, zh, en)
        field, code, zh, en = self.problems[0]
        more = len(self.problems) - 1
        super().__init__(code, zh + (f"（另有 {more} 处问题）" if more else ""),
                         en + (f" ({more} more problems)" if more else ""), field)

    def api_errors(self) -> list[dict[str, str]]:
        return [{"field": f, "code": c, "message": f"{zh} / {en}"} for f, c, zh, en in self.problems]


@dataclass(frozen=True)
class Day:
    day: date
    kind: str  # holiday | workday
    name: str = ""


def _date(value: str) -> date | None:
    try:
        got = date.fromisoformat(value.strip())
    except ValueError:
        return None
    return got if FIRST_YEAR <= got.year <= LAST_YEAR else None


def check_day(day: date, kind: str, where: str) -> tuple[str, str, str, str] | None:
    """A problem with one entry, or None: a day worked in lieu is a Saturday or a Sunday."""
    if kind == "workday" and day.weekday() < 5:
        return (where, "not_a_weekend", f"{day.isoformat()} 是工作日（周一至周五），无需标为调休上班",
                f"{day.isoformat()} is a weekday, a working day already: only a weekend day is worked in lieu")
    return None


def parse_schedule(text: str) -> list[Day]:
    """The days of a schedule (see the module docstring), or :class:`HolidayError` listing every
    problem (up to 20) with its line."""
    problems: list[tuple[str, str, str, str]] = []
    days: dict[date, tuple[Day, int]] = {}
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise HolidayError([("schedule", "too_long", f"最多 {MAX_LINES} 行", f"at most {MAX_LINES} lines")])
    for n, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip().lstrip("\ufeff")
        if not line:
            continue
        where = f"line {n}"
        if TEXT_CONTROL_CHARS.search(line):
            problems.append((where, "invalid_characters", f"第{n}行包含控制字符", f"line {n} contains control characters"))
            continue
        when, kind_word, name = _fields(line)
        kind = KIND_WORDS.get(kind_word.lower() if kind_word.isascii() else kind_word)
        run = _RUN.match(when)
        first, last = (_date(run.group(1)), _date(run.group(2))) if run else (_date(when), _date(when))
        if first is None or last is None:
            problems.append((where, "wrong_type", f"第{n}行：日期应为 YYYY-MM-DD（{FIRST_YEAR}–{LAST_YEAR}年）或 日期..日期",
                             f"line {n}: the date must be YYYY-MM-DD ({FIRST_YEAR}-{LAST_YEAR}) or DATE..DATE"))
            continue
        if kind is None:
            problems.append((where, "not_allowed", f"第{n}行：类型应为 holiday（放假）或 workday（上班）",
                             f"line {n}: the kind must be holiday or workday"))
            continue
        if last < first or (last - first).days >= MAX_RUN:
            problems.append((where, "out_of_range", f"第{n}行：日期范围应从早到晚，且不超过{MAX_RUN}天",
                             f"line {n}: a run goes from the earlier day to the later, {MAX_RUN} days at most"))
            continue
        if len(name) > 64:
            problems.append((where, "too_long", f"第{n}行：名称不能超过64个字符", f"line {n}: the name exceeds 64 characters"))
            continue
        day = first
        while day <= last:
            if day in days:
                problems.append((where, "duplicate", f"第{n}行：{day.isoformat()} 已在第{days[day][1]}行出现",
                                 f"line {n}: {day.isoformat()} is already on line {days[day][1]}"))
            elif (bad := check_day(day, kind, where)) is not None:
                problems.append((bad[0], bad[1], f"第{n}行：{bad[2]}", f"line {n}: {bad[3]}"))
            else:
                days[day] = (Day(day, kind, name), n)
            day += timedelta(days=1)
        if len(problems) >= 20:
            break
    if not problems and not days:
        problems.append(("schedule", "missing", "安排为空：每行一个日期（或日期范围）和类型",
                         "the schedule is empty: one date (or run of dates) and a kind a line"))
    if problems:
        raise HolidayError(problems[:20])
    return [d for d, _n in sorted(days.values(), key=lambda x: x[0].day)]


def _fields(line: str) -> tuple[str, str, str]:
    """(date or run, kind, name) of one line; a run written with spaces (``2027-01-01 至 2027-01-03``)
    is put back together."""
    parts = [p for p in _SPLIT.split(line) if p]
    if len(parts) >= 3 and parts[1] in ("..", "~", "至"):
        parts = [parts[0] + ".." + parts[2], *parts[3:]]
    parts += ["", ""]
    return parts[0], parts[1], " ".join(p for p in parts[2:] if p)


def import_schedule(session: Session, *, days: Sequence[Day], actor: Actor, note: str = "") -> dict[str, object]:
    """Replace the table's rows of every year ``days`` names with ``days`` (a year's schedule is
    entered whole), but for the December days of a year before (see the module docstring): those are
    added to it. Audited (``calendar.import``). Returns the years replaced and counts."""
    if not days:
        raise HolidayError([("schedule", "missing", "安排为空", "the schedule is empty")])
    named = {d.day.year for d in days}
    # a year named only in December, before a year named too: the next year's New Year's holiday begun
    # early (the notice as published); it adds those days, replacing that year by them would lose the rest
    early = {y for y in named if y + 1 in named and all(d.day.month == 12 for d in days if d.day.year == y)}
    years = sorted(named - early)
    for y in sorted(early):
        if y not in workdays.LIBRARY_YEARS and not days_of(session, y):
            raise HolidayError([("schedule", "year_not_covered",
                                 f"{y} 年的节假日安排尚未录入：请先整体导入该年安排，再导入 {y + 1} 年的安排",
                                 f"{y}'s holiday schedule is not entered: import that whole year first, then {y + 1}'s")])
    now = utcnow()
    within = or_(*(CalendarDay.day.between(date(y, 1, 1), date(y, 12, 31)) for y in years))
    replaced = session.scalar(select(func.count()).select_from(CalendarDay).where(within)) or 0
    session.execute(delete(CalendarDay).where(within))
    session.add_all(CalendarDay(day=d.day, kind=d.kind, name=d.name, updated_at=now, updated_by=actor.label)
                    for d in days if d.day.year not in early)
    added: list[str] = []
    for d in days:
        if d.day.year in early:
            row = session.get(CalendarDay, d.day)
            if row is None:
                row = CalendarDay(day=d.day)
                session.add(row)
            row.kind, row.name, row.updated_at, row.updated_by = d.kind, d.name, now, actor.label
            added.append(d.day.isoformat())
    session.flush()
    out: dict[str, object] = {"years": years, "holidays": sum(d.kind == "holiday" for d in days),
                              "workdays": sum(d.kind == "workday" for d in days), "replaced": replaced,
                              "added_before": added}
    record(session, actor=actor, action="calendar.import", object_type="calendar",
           object_id=",".join(map(str, years)), details={**out, "note": note[:200]})
    return out


def record_import_refusal(session: Session, *, actor: Actor, error: HolidayError) -> None:
    """Audit a refused schedule (``calendar.import``, outcome ``failed``): its first problem's code and
    line, and how many problems — the page and ``xinyong calendar import`` alike. The caller has
    rolled back whatever it did and commits this entry."""
    record(session, actor=actor, action="calendar.import", object_type="calendar", outcome="failed",
           details={"code": error.code, "field": error.field, "problems": len(error.problems)})


def set_day(session: Session, *, day: date, kind: str, name: str, actor: Actor) -> CalendarDay:
    """Mark one day (a correction, or a day the schedule missed) of a year already covered — by the
    library or by an imported schedule: a new year is entered whole (:func:`import_schedule`), else
    its first row would make the table cover it with one day. Audited (``calendar.set``)."""
    if kind not in ("holiday", "workday"):
        raise HolidayError([("kind", "not_allowed", "类型应为 holiday（放假）或 workday（上班）",
                             "the kind must be holiday or workday")])
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise HolidayError([("day", "out_of_range", f"日期应在 {FIRST_YEAR}–{LAST_YEAR} 年之间",
                             f"the day must be in {FIRST_YEAR}-{LAST_YEAR}")])
    if len(name) > 64 or TEXT_CONTROL_CHARS.search(name):
        raise HolidayError([("name", "wrong_type", "名称应为不超过64个字符的文本", "the name must be text of 64 characters at most")])
    if (bad := check_day(day, kind, "day")) is not None:
        raise HolidayError([bad])
    if day.year not in workdays.LIBRARY_YEARS and not days_of(session, day.year):
        # one day would make the table cover a year it does not have: its other holidays would count as working days
        raise HolidayError([("day", "year_not_covered", f"{day.year} 年的节假日安排尚未录入：请先整体导入该年安排",
                             f"{day.year}'s holiday schedule is not entered: import the whole year first")])
    row = session.get(CalendarDay, day)
    before = None if row is None else {"kind": row.kind, "name": row.name}
    if row is None:
        row = CalendarDay(day=day)
        session.add(row)
    row.kind, row.name, row.updated_at, row.updated_by = kind, name.strip(), utcnow(), actor.label
    session.flush()
    record(session, actor=actor, action="calendar.set", object_type="calendar_day", object_id=day.isoformat(),
           details={"kind": kind, "name": row.name, "before": before})
    return row


def unset_day(session: Session, *, day: date, actor: Actor) -> bool:
    """Remove one day's row (it counts as the library, or Monday–Friday, says again). Audited
    (``calendar.unset``). Returns whether there was one."""
    row = session.get(CalendarDay, day)
    if row is None:
        return False
    before = {"kind": row.kind, "name": row.name}
    session.delete(row)
    session.flush()
    record(session, actor=actor, action="calendar.unset", object_type="calendar_day", object_id=day.isoformat(),
           details={"before": before})
    return True


def apply(db: Any, *, actor: Actor) -> int:
    """After a committed change: this process counts with the new table at once (the others within a
    sealer round), and the open defence periods it lengthens are extended
    (``lists.service.extend_open_deadlines``), in a transaction of their own. Returns how many."""
    from xinyong.lists.service import extend_open_deadlines

    workdays.sync_from(db)
    with db.session() as s:
        return extend_open_deadlines(s, actor=actor)


def days_of(session: Session, year: int | None = None) -> list[CalendarDay]:
    stmt = select(CalendarDay).order_by(CalendarDay.day)
    if year is not None:
        stmt = stmt.where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
    return list(session.scalars(stmt))


def coverage(session: Session) -> list[dict[str, object]]:
    """Each year either source covers, with where its schedule comes from and the table's counts."""
    counts: dict[int, dict[str, int]] = {}
    for day, kind in session.execute(select(CalendarDay.day, CalendarDay.kind)):
        got = counts.setdefault(day.year, {"holiday": 0, "workday": 0})
        got[kind] += 1
    years = sorted(set(workdays.LIBRARY_YEARS) | set(counts))
    return [{"year": y, "library": y in workdays.LIBRARY_YEARS, "table": y in counts,
             "holidays": counts.get(y, {}).get("holiday", 0), "workdays": counts.get(y, {}).get("workday", 0)}
            for y in years]
