"""Integrity points and grades (诚信积分, 分类管理): rulesets as versioned data, the scoring engine,
explanations, what-if, and the per-subject status other domains read.

**One definition** of a record's contribution, :func:`contributions`, a SQLAlchemy statement over a
*records source* (``id, subject_id, item_code, variant, hours, decided_at`` of the counting records)
joined to the flattened rules of a ruleset version. Window functions give the repeat doubling
(``row_number`` per subject and item by decision date) and the volunteer tier (only the record
with the most cumulative hours scores). It is used three ways:

* :func:`refresh` — the subjects of an after-change announcement, in the same transaction;
* :func:`rescore` — every subject, set-based (``INSERT … SELECT`` into a temporary table, then
  history rows and one upsert of ``subject_status``), by ``xinyong rescore`` and :func:`maintain`;
* :func:`explain` and :func:`what_if` — one subject, the contribution rows themselves (what-if feeds
  the same statement a records source with hypothetical rows added or removed; nothing is written).

A record counts while its status is ``active``, its display has not ended and it is inside its
rule's window (``decided_at`` + ``window_months``). Windows are turned into cut-off dates in Python
(one per distinct window length), so the SQL needs no date arithmetic and both engines agree.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.sql.util import ClauseAdapter

from xinyong import bulk, clock
from xinyong.audit.service import Actor, record, record_not_found, record_refusal
from xinyong.bulk import in_values
from xinyong.catalog.spec import TEXT_CONTROL_CHARS, coerce_field
from xinyong.db import utcnow
from xinyong.domain_errors import BilingualError
from xinyong.lists.models import ListEntry, ListKind
from xinyong.privacy.masking import mask_id_numbers_in
from xinyong.records import display
from xinyong.records.models import Record
from xinyong.records.standing import (
    BAD_CATEGORIES,
    CLEAN_YEARS,
    bad_record_subjects,
    not_clean_subjects,
    years_before,
)
from xinyong.scoring.models import ScoreHistory, ScoringRule, ScoringRuleset, ScoringRun, SubjectStatus
from xinyong.scoring.ruleset import Band, ItemFacts, Problem, Ruleset, RulesetError, parse
from xinyong.subjects.models import Subject
from xinyong.subjects.service import lock_subjects

DEFAULT_RULESET = Path(__file__).parent / "default_ruleset.yaml"
DEFAULT_EFFECTIVE = date(2020, 1, 1)
PREVIEW_VERSION = -1

SEVERITY_LABELS = {"minor": ("轻微", "minor"), "general": ("一般", "general"), "serious": ("严重", "serious")}
LEVEL_LABELS = {"national": ("国家级", "national"), "provincial": ("省级", "provincial"), "city": ("市级", "city"),
                "district": ("区级", "district"), "street": ("街道级", "street"), "community": ("社区级", "community")}


class ScoringError(BilingualError):
    """A refusal from this domain."""


# ---- dates ------------------------------------------------------------------------------------

def cutoff(today: date, months: int) -> date:
    """The latest decision date that no longer counts on ``today`` under a window of ``months``:
    a record counts iff ``decided_at > cutoff`` (i.e. ``today < add_months(decided_at, months)``)."""
    x = display.add_months(today, -months)
    while display.add_months(x + timedelta(days=1), months) <= today:
        x += timedelta(days=1)
    while display.add_months(x, months) > today:
        x -= timedelta(days=1)
    return x


def counts_until(decided_at: date, months: int, display_until: date | None = None) -> date:
    """The last day a record counts (inclusive): its window or its display, whichever ends first."""
    end = display.add_months(decided_at, months)
    if display_until is not None:
        end = min(end, display_until)
    return end - timedelta(days=1)


# ---- rulesets: load, validate, store, read ----------------------------------------------------

@dataclass(frozen=True)
class Loaded:
    """A stored ruleset version as the engine needs it."""

    version: int
    effective_from: date
    base: int
    bands: tuple[Band, ...]
    force_grade: str | None
    force_lists: tuple[str, ...]
    windows: tuple[int, ...]

    def grade_of(self, score: int) -> str:
        for b in self.bands:
            if (b.min is None or score >= b.min) and (b.max is None or score <= b.max):
                return b.grade
        return self.bands[-1].grade


def _facts_of(items: Iterable[Any]) -> dict[str, ItemFacts]:
    out = {}
    for it in items:
        spec = getattr(it, "spec", it)
        levels: tuple[str, ...] = ()
        has_hours = False
        for f in spec.fields:
            if f.name == "level" and f.allowed:
                levels = tuple(f.allowed)
            if f.name == "hours" and f.type in ("number", "integer"):
                has_hours = True
        out[spec.code] = ItemFacts(spec.code, spec.name, spec.name_en, tuple(spec.severities or ()), levels, has_hours)
    return out


def catalog_facts(session: Session | None) -> dict[str, ItemFacts]:
    """The catalog's items as scoring sees them (the shipped default when the database has none)."""
    from xinyong.catalog.service import current_items

    items = list(current_items(session).values()) if session is not None else []
    return _facts_of(items) if items else _default_facts()


@lru_cache(maxsize=1)
def _default_facts() -> dict[str, ItemFacts]:
    from xinyong.catalog.service import read_yaml

    return _facts_of(read_yaml())


def _list_codes(session: Session) -> set[str] | None:
    codes = set(session.scalars(select(ListKind.code)))
    return codes or None


def validate(session: Session | None, text_: str) -> Ruleset:
    """Parse and check ruleset YAML against the catalog (and the list kinds, once there are any)."""
    return parse(text_, catalog=catalog_facts(session), list_codes=_list_codes(session) if session else None)


def _spec_of(rs: Ruleset) -> dict[str, Any]:
    return {**rs.to_data(), "windows": list(rs.windows)}


@lru_cache(maxsize=32)
def _loaded_of(version: int, effective_from: date, base: int, spec_text: str) -> Loaded:
    """A ruleset version as the engine needs it, from its stored columns (``spec`` as its JSON text:
    the cache key, so that two databases' rulesets of the same number are never confused)."""
    spec = orjson.loads(spec_text)
    fg = spec.get("force_grade") or {}
    return Loaded(version=version, effective_from=effective_from, base=base,
                  bands=tuple(Band(g["grade"], g.get("min"), g.get("max")) for g in spec["grades"]),
                  force_grade=fg.get("grade"), force_lists=tuple(fg.get("lists") or ()),
                  windows=tuple(spec.get("windows") or ()))


def _rule_rows(rs: Ruleset, version: int) -> list[dict[str, Any]]:
    return [{"ruleset_version": version, "item_code": r.item_code, "variant": r.variant, "min_hours": r.min_hours,
             "max_hours": r.max_hours, "points": r.points, "window_months": r.window_months, "mode": r.mode,
             "doubles": r.doubles} for r in rs.rules]


def save_ruleset(session: Session, *, text_: str, actor: Actor, effective_from: date | None = None,
                 today: date, note: str | None = None, allow_past: bool = False) -> ScoringRuleset:
    """Validate and store a new version. A version effective today is applied at once (a full
    rescore in this transaction); a later one by :func:`maintain` on its day. A refused text
    changes nothing: the active ruleset stays."""
    rs = validate(session, text_)
    if note is not None and TEXT_CONTROL_CHARS.search(note):  # kept and audited (a NUL fails on PostgreSQL)
        raise ScoringError("invalid_characters", "说明包含不允许的控制字符", "the note contains control characters", "note")
    if note is not None:
        note = mask_id_numbers_in(note)  # shown on the rulesets page and in the API, audited: never an ID number
    has_any = session.scalar(select(func.count()).select_from(ScoringRuleset)) or 0
    effective = effective_from or rs.effective_from or today
    if effective < today and has_any and not allow_past:
        raise ScoringError("effective_in_past", f"生效日期 {effective} 早于今天，不能追溯生效",
                           f"effective_from {effective} is in the past; rulesets cannot apply retroactively",
                           "effective_from")
    if session.get_bind().dialect.name == "postgresql":  # two saves at once number their versions in turn
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _RULESET_SAVE_LOCK})
    version = (session.scalar(select(func.max(ScoringRuleset.version)).where(ScoringRuleset.version > 0)) or 0) + 1
    # the text is shown to every scoring reader (page, API): an ID number in it (a comment's) is kept
    # masked, as the note and the catalog's texts; the rules come from the text as validated
    row = ScoringRuleset(version=version, effective_from=effective, base=rs.base, spec=_spec_of(rs),
                         source=mask_id_numbers_in(text_), created_by=actor.label, note=(note or None))
    session.add(row)
    session.flush()
    session.execute(insert(ScoringRule), _rule_rows(rs, version))
    record(session, actor=actor, action="scoring.ruleset_create", object_type="scoring_ruleset", object_id=version,
           details={"version": version, "effective_from": effective.isoformat(), "base": rs.base,
                    "rules": len(rs.rules), "note": (note or "")[:200]})
    if has_any and effective <= today and active_version(session, today=today) == version:
        rescore(session, today=today, actor=actor, reason="ruleset")
    return row


def default_text() -> str:
    return DEFAULT_RULESET.read_text(encoding="utf-8")


_DEFAULT_RULESET_LOCK = 0x7879_5331  # "xyS1": loading the default ruleset
_RULESET_SAVE_LOCK = 0x7879_5332  # "xyS2": numbering a saved ruleset's version


def ensure_default(session: Session, *, actor: Actor | None = None) -> None:
    """Load the shipped default ruleset as version 1 if there is no ruleset yet (safe to repeat, and
    to run in several transactions at once: on PostgreSQL the first to come holds a transaction lock
    until it commits, and the others then find its ruleset; SQLite's writers take turns anyway)."""

    def stored() -> bool:
        return session.scalar(select(ScoringRuleset.version).where(ScoringRuleset.version > 0).limit(1)) is not None

    if stored():  # the usual case: no lock taken
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DEFAULT_RULESET_LOCK})
    if not stored():  # (read committed: a ruleset committed while this waited is seen here)
        text_ = default_text()
        rs = validate(session, text_)
        save_ruleset(session, text_=text_, actor=actor or Actor.system("scoring"),
                     effective_from=rs.effective_from or DEFAULT_EFFECTIVE, today=clock.today(), note="default ruleset")


# The version in force on a day, read with Core and its spec as text (built once: it runs in every
# ingestion batch, where loading the ORM row and decoding its spec cost ~1.4 ms a batch).
_R = ScoringRuleset.__table__
_ACTIVE = (select(_R.c.version, _R.c.effective_from, _R.c.base, cast(_R.c.spec, Text))
           .where(_R.c.version > 0, _R.c.effective_from <= bindparam("today", type_=Date))
           .order_by(_R.c.effective_from.desc(), _R.c.version.desc()).limit(1))


def _active_loaded(session: Session, today: date) -> Loaded | None:
    row = session.execute(_ACTIVE, {"today": today}).first()
    return None if row is None else _loaded_of(*row)


def active_version(session: Session, *, today: date) -> int | None:
    loaded = _active_loaded(session, today)
    return None if loaded is None else loaded.version


def active(session: Session, *, today: date) -> Loaded:
    """The ruleset in force on ``today`` (loading the shipped default first if there is none)."""
    loaded = _active_loaded(session, today)
    if loaded is None:
        ensure_default(session)
        loaded = _active_loaded(session, today)
    if loaded is None:
        raise ScoringError("no_ruleset", f"{today} 没有生效的评分规则", f"no scoring ruleset in force on {today}")
    return loaded


def versions(session: Session) -> list[ScoringRuleset]:
    return list(session.scalars(select(ScoringRuleset).where(ScoringRuleset.version > 0)
                                .order_by(ScoringRuleset.version.desc())))


def get_version(session: Session, version: int) -> ScoringRuleset | None:
    return session.get(ScoringRuleset, version) if version > 0 else None


def rules_of(session: Session, version: int) -> list[ScoringRule]:
    return list(session.scalars(select(ScoringRule).where(ScoringRule.ruleset_version == version)
                                .order_by(ScoringRule.item_code, ScoringRule.variant, ScoringRule.min_hours)))


@lru_cache(maxsize=1)
def _default_loaded() -> Loaded:
    rs = parse(default_text(), catalog=_default_facts())
    return Loaded(version=1, effective_from=rs.effective_from or DEFAULT_EFFECTIVE, base=rs.base,
                  bands=tuple(rs.bands), force_grade=rs.force_grade, force_lists=rs.force_lists, windows=rs.windows)


@dataclass(frozen=True)
class Status:
    subject_id: int | None
    score: int
    grade: str
    ruleset_version: int
    lists: list[dict[str, Any]] = field(default_factory=list)
    red: bool = False
    dishonest: bool = False
    clean_3y: bool = True


def default_status(session: Session, *, today: date | None = None) -> Status:
    """The status of a subject without a ``subject_status`` row: the active ruleset's base score and
    its grade, on no list. Reads only (the shipped default stands in until a ruleset is stored)."""
    loaded = _active_loaded(session, today or clock.today()) or _default_loaded()
    return Status(subject_id=None, score=loaded.base, grade=loaded.grade_of(loaded.base),
                  ruleset_version=loaded.version)


def status_of(session: Session, subject_id: int, *, today: date | None = None) -> Status:
    row = session.get(SubjectStatus, subject_id)
    if row is None:
        d = default_status(session, today=today)
        return Status(subject_id, d.score, d.grade, d.ruleset_version)
    return Status(subject_id, row.score, row.grade, row.ruleset_version, list(row.lists or []), row.red,
                  row.dishonest, row.clean_3y)


# ---- the engine ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RuleItems:
    """Which catalog items a ruleset version scores, and which need a JSON field read: reading
    ``fields`` costs a JSON parse per row, so only the items whose rules use the level or the
    hours pay it, and records of items without any rule are dropped before that."""

    scored: tuple[str, ...]
    by_level: tuple[str, ...]
    by_hours: tuple[str, ...]


def rule_items(session: Session, version: int) -> RuleItems:
    r = ScoringRule.__table__
    rows = session.execute(select(r.c.item_code, r.c.variant, r.c.mode, r.c.min_hours)
                           .where(r.c.ruleset_version == version).distinct()).all()
    return RuleItems(scored=tuple(sorted({x.item_code for x in rows})),
                     by_level=tuple(sorted({x.item_code for x in rows if x.variant})),
                     by_hours=tuple(sorted({x.item_code for x in rows if x.mode == "max" or (x.min_hours or 0) > 0})))


def _variant(items: RuleItems | None) -> Any:
    level = Record.fields["level"].as_string()
    if items is not None:
        level = case((Record.item_code.in_(items.by_level), level), else_=null()) if items.by_level else null()
    return func.coalesce(Record.severity, level, "")


def _hours(items: RuleItems | None) -> Any:
    hours = func.coalesce(Record.fields["hours"].as_float(), 0.0)
    if items is not None:
        hours = case((Record.item_code.in_(items.by_hours), hours), else_=0.0) if items.by_hours else literal(0.0)
    return hours


def records_source(today: date, where: Any, *, by_subject: bool = False, items: RuleItems | None = None
                   ) -> Select[Any]:
    """The counting records (status active, display not ended) matching ``where``; with ``items``,
    only records of scored items, reading JSON fields only where a rule needs them.

    ``by_subject``: ``where`` picks a few subjects, so the records must be read through the subject
    index. Without statistics SQLite once walked an index on (status, display_until) over every
    active record instead (that index is gone since migration 0007); the status test is written as
    ``status || '' = 'active'`` so that no index led by the status can win over the subject index
    (the same expression on PostgreSQL, whose planner goes by the subject index anyway)."""
    status_ok = (Record.status.concat("") == "active") if by_subject else (Record.status == "active")
    stmt = (select(Record.id.label("id"), Record.subject_id.label("subject_id"), Record.item_code.label("item_code"),
                   _variant(items).label("variant"), _hours(items).label("hours"),
                   Record.decided_at.label("decided_at"))
            .where(status_ok, Record.display_until > today, Record.decided_at <= today, where))
    if items is not None:
        stmt = stmt.where(Record.item_code.in_(items.scored) if items.scored else false())
    return stmt


def contributions(loaded: Loaded, today: date, source: Any) -> Select[Any]:
    """THE definition of a record's contribution (one row per counting record with a rule).

    Three branches by rule kind, so that each window function sorts only the rows it concerns:
    plain rules (no window), doubling rules (``nth``: the record's rank by decision date among the
    subject's counting records of the item; 2nd and later count double) and hours tiers (``best``:
    only the record with the most cumulative hours scores)."""
    # one pass over the records feeds the three branches (materialised once, not scanned three times)
    src = source.cte("src").prefix_with("MATERIALIZED")
    r = ScoringRule.__table__.alias("r")
    if loaded.windows:
        limit = case({m: cutoff(today, m) for m in loaded.windows}, value=r.c.window_months)
    else:
        limit = literal(today, Date)

    def joined(kind: Any, name: str) -> Any:
        return (select(src.c.id, src.c.subject_id, src.c.item_code, src.c.variant, src.c.hours, src.c.decided_at,
                       r.c.points, r.c.window_months, r.c.mode, r.c.doubles, r.c.min_hours)
                .join(r, and_(r.c.ruleset_version == loaded.version, r.c.item_code == src.c.item_code,
                              r.c.variant == src.c.variant, r.c.min_hours <= src.c.hours, r.c.max_hours > src.c.hours,
                              kind))
                .where(src.c.decided_at > limit)).subquery(name)

    def out(k: Any, nth: Any, best: Any, points: Any) -> Select[Any]:
        return select(k.c.id.label("record_id"), k.c.subject_id, k.c.item_code, k.c.variant, k.c.hours,
                      k.c.decided_at, k.c.points.label("rule_points"), k.c.window_months, k.c.mode, k.c.doubles,
                      k.c.min_hours, nth.label("nth"), best.label("best"), points.label("points"))

    one = literal(1)
    plain = joined(and_(r.c.mode == "each", r.c.doubles == false()), "jp")
    dbl = joined(and_(r.c.mode == "each", r.c.doubles == true()), "jd")
    tiers = joined(r.c.mode == "max", "jt")
    nth = func.row_number().over(partition_by=(dbl.c.subject_id, dbl.c.item_code), order_by=(dbl.c.decided_at, dbl.c.id))
    kd = select(dbl, nth.label("nth")).subquery("kd")
    best = func.row_number().over(partition_by=(tiers.c.subject_id, tiers.c.item_code),
                                  order_by=(tiers.c.hours.desc(), tiers.c.decided_at.desc(), tiers.c.id.desc()))
    kt = select(tiers, best.label("best")).subquery("kt")
    return union_all(
        out(plain, one, one, plain.c.points),
        out(kd, kd.c.nth, one, case((kd.c.nth > 1, kd.c.points * 2), else_=kd.c.points)),
        out(kt, one, kt.c.best, case((kt.c.best > 1, 0), else_=kt.c.points)),
    )


def _lists_agg(dialect: str, lists: Any) -> Any:
    """A subject's lists as JSON ``[{"code", "since"}]`` from ``lists`` (one row per subject and list)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import aggregate_order_by

        return func.json_agg(aggregate_order_by(
            func.json_build_object("code", lists.c.list_code, "since", lists.c.listed_on),
            lists.c.listed_on, lists.c.list_code))
    return func.json_group_array(func.json_object("code", lists.c.list_code, "since", lists.c.listed_on))


def _empty_list(dialect: str) -> Any:
    return text("'[]'::json") if dialect == "postgresql" else literal("[]")


# the records' columns that the counting-records source and the clean-years test read
_SCOPED_COLUMNS = ("id", "subject_id", "item_code", "category", "severity", "fields", "status", "decided_at",
                   "display_until")
BATCH = "batch"  # a _status_select scope: the subject ids bound as the one parameter ``ids``


def _in_batch(dialect: str, column: Any) -> Any:
    """``column`` among the subject ids bound as ONE parameter ``ids`` (a typed array on PostgreSQL,
    whose planner sees its values; a JSON array read with ``json_each`` on SQLite): the statement is
    the same for every batch, so it is built and compiled once, and 1,000 ids cost one value, not
    1,000 placeholders."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam("ids", type_=ARRAY(BigInteger)))
    ids = func.json_each(bindparam("ids", type_=String)).table_valued("value")
    return column.in_(select(ids.c.value))


def _batch_ids(dialect: str, ids: Sequence[int]) -> Any:
    """The value of the ``ids`` parameter of a :data:`BATCH` statement."""
    return list(ids) if dialect == "postgresql" else orjson.dumps(list(ids)).decode()


def _batch_ids_pg(name: str) -> Any:
    """PostgreSQL, :data:`BATCH`: the subject ids bound as ``ids``, one row each (column ``sid``)."""
    from sqlalchemy.dialects.postgresql import ARRAY

    return func.unnest(bindparam("ids", type_=ARRAY(BigInteger))).table_valued("sid").render_derived(name=name)


def _batch_subjects_pg() -> Any:
    """PostgreSQL, :data:`BATCH`: the subjects bound as ``ids``, each found through the primary key
    (a lateral subquery kept apart by ``OFFSET 0``, as :func:`_records_by_subject`). As ``id =
    ANY(ids)`` the planner read the whole ``subjects`` table whenever its cost model preferred that
    to 1,000 index probes — 5.6 of a refresh's 22 ms at 30,000 subjects, growing with the table."""
    u = _batch_ids_pg("u_s")
    found = select(Subject.__table__.c.id).where(Subject.__table__.c.id == u.c.sid).offset(0).lateral("s")
    # materialised: joined as a lateral, the planner put the totals' aggregate inside the loop over
    # the subjects and ran it once per subject (6 s a batch instead of 22 ms)
    return select(found.c.id).select_from(u.join(found, true())).cte("batch_subjects").prefix_with("MATERIALIZED")


def _listed_by_subject(L: Any) -> Select[Any]:
    """PostgreSQL, :data:`BATCH`: the ``listed`` entries of the subjects bound as ``ids``, read subject
    by subject through ``ix_list_entries_subject``. As ``subject_id = ANY(ids) AND status = 'listed'``
    the planner walked every listed entry of the platform (the status index) once per batch."""
    u = _batch_ids_pg("u_l")
    per = (select(L.c.subject_id, L.c.list_code, L.c.listed_on)
           .where(L.c.subject_id == u.c.sid, L.c.status == "listed").offset(0).lateral("per_entry"))
    return (select(per.c.subject_id, per.c.list_code, func.min(per.c.listed_on).label("listed_on"))
            .select_from(u.join(per, true())).group_by(per.c.subject_id, per.c.list_code))


def _records_by_subject(R: Any) -> Select[Any]:
    """PostgreSQL, :data:`BATCH`: the records of the subjects bound as ``ids``, read subject by subject
    through ``ix_records_subject`` whatever the statistics say. As ``subject_id = ANY(ids)`` the
    planner estimates the matches of 1,000 ids from the table's statistics — with none yet (a table
    filling up, autovacuum behind) or a small table, half of it — and reads the whole table once per
    batch, which grows with the table (a fresh 200,000-record table: 45 ms of the statement's 85). The
    subquery per id (kept apart by ``OFFSET 0``, so the planner cannot flatten it into a join it
    would plan the same way) has one plan: an index scan."""
    u = _batch_ids_pg("u")
    per = (select(*(R.c[n] for n in _SCOPED_COLUMNS)).where(R.c.subject_id == u.c.sid).offset(0)
           .lateral("per_subject"))
    return select(*(per.c[n] for n in _SCOPED_COLUMNS)).select_from(u.join(per, true()))


def _status_select(session: Session, loaded: Loaded, today: date, scope: Any | None,
                   items: RuleItems | None = None, subjects: Any | None = None) -> Select[Any]:
    """(subject_id, score, grade, ruleset_version, lists, red, dishonest, clean_3y) for the subjects
    in ``scope`` (a SELECT of subject ids, a list of them, or :data:`BATCH`) or every subject.
    ``subjects`` (PostgreSQL, :data:`BATCH`): the :func:`_batch_subjects_pg` to read them from, for a
    caller that joins more to its ``s.id`` (one is made here otherwise)."""
    dialect = session.get_bind().dialect.name
    S = Subject.__table__
    L = ListEntry.__table__
    K = ListKind.__table__

    def within(column: Any) -> Any:
        if scope is BATCH:
            return _in_batch(dialect, column)
        if isinstance(scope, (list, tuple)):
            return in_values(session, column, scope)
        return column.in_(scope)

    items = items if items is not None else rule_items(session, loaded.version)
    source, nc_q = records_source(today, true(), items=items), not_clean_subjects(today)
    if scope is not None:
        # The scope's records read once, by the subject index alone (materialised), then filtered
        # for the counting records and for the clean-years test: other predicates in the same scan
        # let a planner without fresh statistics (PostgreSQL during a bulk load) walk the item or
        # status index over the whole table instead.
        R = Record.__table__
        if scope is BATCH and dialect == "postgresql":
            mine = _records_by_subject(R).cte("mine").prefix_with("MATERIALIZED")
        else:
            mine = (select(*(R.c[n] for n in _SCOPED_COLUMNS)).where(within(R.c.subject_id))
                    .cte("mine").prefix_with("MATERIALIZED"))
        to_mine = ClauseAdapter(mine)
        source, nc_q = to_mine.traverse(source), to_mine.traverse(nc_q)
    c = contributions(loaded, today, source).subquery("c")
    totals = select(c.c.subject_id, func.sum(c.c.points).label("total")).group_by(c.c.subject_id).subquery("t")
    # One row per subject and list, since its earliest listing: a person on the debtors' list for
    # two court cases is on that list once (the cases are the list entries, see lists/).
    per_list = (select(L.c.subject_id, L.c.list_code, func.min(L.c.listed_on).label("listed_on"))
                .where(L.c.status == "listed").group_by(L.c.subject_id, L.c.list_code))
    if scope is BATCH and dialect == "postgresql":
        per_list = _listed_by_subject(L)
    elif scope is not None:
        per_list = per_list.where(within(L.c.subject_id))
    P = per_list.subquery("pl")
    forced = (case((P.c.list_code.in_(loaded.force_lists), 1), else_=0) if loaded.force_lists else literal(0))
    lists = (select(P.c.subject_id, _lists_agg(dialect, P).label("lists"),
                    func.max(case((K.c.kind == "red", 1), else_=0)).label("red"),
                    func.max(case((K.c.kind == "dishonesty", 1), else_=0)).label("dishonest"),
                    func.max(forced).label("forced"))
             .select_from(P.outerjoin(K, K.c.code == P.c.list_code))
             .group_by(P.c.subject_id)).subquery("l")
    ncs = nc_q.subquery("ncs")
    score_expr = literal(loaded.base) + func.coalesce(totals.c.total, 0)
    score = score_expr.label("score")
    whens = [(func.coalesce(lists.c.forced, 0) == 1, literal(loaded.force_grade))] if loaded.force_grade else []
    whens += [(score_expr >= b.min, literal(b.grade)) for b in loaded.bands if b.min is not None]
    grade = case(*whens, else_=literal(loaded.bands[-1].grade)).label("grade")
    pg_batch = scope is BATCH and dialect == "postgresql"
    base = (subjects if subjects is not None else _batch_subjects_pg()) if pg_batch else S
    sid = base.c.id
    stmt = (select(sid.label("subject_id"), score, grade,
                   literal(loaded.version).label("ruleset_version"),
                   func.coalesce(lists.c.lists, _empty_list(dialect)).label("lists"),
                   (func.coalesce(lists.c.red, 0) == 1).label("red"),
                   (func.coalesce(lists.c.dishonest, 0) == 1).label("dishonest"),
                   # "3 years without bad records" and not on a dishonesty list meanwhile (a listing
                   # by decision needs no record): see lists.service.clean_stmt
                   and_(ncs.c.subject_id.is_(None), func.coalesce(lists.c.dishonest, 0) == 0).label("clean_3y"))
            .select_from(base.outerjoin(totals, totals.c.subject_id == sid)
                         .outerjoin(lists, lists.c.subject_id == sid)
                         .outerjoin(ncs, ncs.c.subject_id == sid)))
    if scope is not None and not pg_batch:
        stmt = stmt.where(within(S.c.id))
    return stmt


_tmp_meta = MetaData()
_NEW = Table("tmp_scoring_new", _tmp_meta, Column("subject_id", BigInteger, primary_key=True),
             Column("score", Integer), Column("grade", String(4)), Column("ruleset_version", Integer),
             Column("lists", JSON), Column("red", Boolean), Column("dishonest", Boolean), Column("clean_3y", Boolean),
             prefixes=["TEMPORARY"])
_COLS = ("subject_id", "score", "grade", "ruleset_version", "lists", "red", "dishonest", "clean_3y")


def _upsert(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert


def _differs(a: Any, b: Any) -> Any:
    """Two status rows (column collections) differ in anything stored."""
    return or_(a.score != b.score, a.grade != b.grade, a.ruleset_version != b.ruleset_version, a.red != b.red,
               a.dishonest != b.dishonest, a.clean_3y != b.clean_3y, cast(a.lists, String) != cast(b.lists, String))


def _write(session: Session, loaded: Loaded, today: date, scope: Any | None, reason: str) -> int:
    """Compute the statuses into a temporary table, add history rows for changed scores or grades,
    upsert ``subject_status`` where anything changed. Returns the number of subjects computed."""
    conn = session.connection()
    dialect = conn.dialect.name
    _NEW.drop(conn, checkfirst=True)
    _NEW.create(conn)
    try:
        conn.execute(_NEW.insert().from_select(list(_COLS), _status_select(session, loaded, today, scope)))
        n = conn.scalar(select(func.count()).select_from(_NEW))
        T = _NEW
        ST = SubjectStatus.__table__
        H = ScoreHistory.__table__
        base_grade = loaded.grade_of(loaded.base)
        now = utcnow()
        changed = or_(and_(ST.c.subject_id.is_(None), or_(T.c.score != loaded.base, T.c.grade != base_grade)),
                      T.c.score != ST.c.score, T.c.grade != ST.c.grade)
        conn.execute(insert(H).from_select(
            ["subject_id", "score", "grade", "previous_score", "previous_grade", "ruleset_version", "reason",
             "on_day", "changed_at"],
            select(T.c.subject_id, T.c.score, T.c.grade, ST.c.score, ST.c.grade, T.c.ruleset_version,
                   literal(reason[:32]), literal(today, Date), literal(now, H.c.changed_at.type))
            .select_from(T.outerjoin(ST, ST.c.subject_id == T.c.subject_id)).where(changed)))
        old = ST.alias("old")
        # only new or changed rows reach the upsert (ON CONFLICT still covers a concurrent writer)
        ins = _upsert(dialect)(ST).from_select(
            [*_COLS, "updated_at"],
            select(*(T.c[c] for c in _COLS), literal(now, ST.c.updated_at.type))
            .select_from(T.outerjoin(old, old.c.subject_id == T.c.subject_id))
            .where(or_(old.c.subject_id.is_(None), _differs(old.c, T.c))))
        ex = ins.excluded
        conn.execute(ins.on_conflict_do_update(index_elements=[ST.c.subject_id],
                                               set_={c: ex[c] for c in (*_COLS[1:], "updated_at")},
                                               where=_differs(ST.c, ex)))
    finally:
        _NEW.drop(conn)
    return n or 0


_REFRESH_CHUNK = 1000
_HISTORY_COLS = ("subject_id", "score", "grade", "previous_score", "previous_grade", "ruleset_version", "reason",
                 "on_day", "changed_at")
_refresh_selects: dict[tuple[Any, ...], Select[Any]] = {}


def _as_list(value: Any) -> list[dict[str, Any]]:
    if not value or value == "[]":  # most subjects are on no list: no JSON parse
        return []
    if isinstance(value, (str, bytes)):
        value = orjson.loads(value)
    return sorted(value or [], key=lambda e: (str(e.get("since")), str(e.get("code"))))


def _refresh_select(session: Session, loaded: Loaded, today: date, items: RuleItems) -> Select[Any]:
    """The new statuses of a :data:`BATCH` of subjects, each followed by its stored one (``prev`` and
    the stored columns are NULL for a subject without a status row). Built once per ruleset, rule
    items and day: SQLAlchemy's compiled cache then serves every batch, so a batch pays for running
    the statement, not for building it."""
    dialect = session.get_bind().dialect.name
    key = (dialect, loaded, items, today)
    got = _refresh_selects.get(key)
    if got is None:
        if len(_refresh_selects) >= 16:
            _refresh_selects.clear()
        ST = SubjectStatus.__table__
        on = ST.c.subject_id == Subject.__table__.c.id
        subjects = None
        if dialect == "postgresql":
            # each subject's stored status through the primary key (OFFSET 0: see
            # _records_by_subject; joined plainly, the planner read the whole table, 14 of 38 ms
            # at 90,000 statuses, and growing with them)
            subjects = _batch_subjects_pg()
            ST = select(ST).where(ST.c.subject_id == subjects.c.id).offset(0).lateral("st")
            on = true()
        got = _refresh_selects[key] = (
            _status_select(session, loaded, today, BATCH, items=items, subjects=subjects)
            .outerjoin(ST, on)
            # the stored list as text on SQLite (no JSON decoding of rows that did not change)
            .add_columns(ST.c.subject_id.label("prev"), ST.c.score, ST.c.grade, ST.c.ruleset_version,
                         type_coerce(ST.c.lists, String), ST.c.red, ST.c.dishonest, ST.c.clean_3y))
    return got


def refresh(session: Session, subject_ids: Iterable[int], *, today: date, reason: str = "refresh",
            created_items: Mapping[int, frozenset[tuple[str, str]]] | None = None) -> int:
    """Recompute score and status for these subjects: one SELECT per chunk of the new statuses beside
    the stored ones (the subject ids bound as one parameter, so each table is read through its
    subject index), then history rows and upserts only for what changed, each one executemany (COPY
    on PostgreSQL). No DDL, no temporary tables: this runs inside every ingestion batch.
    ``created_items`` (of a ``records_changed`` announcement): the subjects it shows cannot be
    regraded are passed over (:func:`regradable`). Returns how many subjects were recomputed."""
    ids = sorted(set(subject_ids))
    if not ids:
        return 0
    loaded = active(session, today=today)
    items = rule_items(session, loaded.version)
    if created_items:
        ids = regradable(ids, created_items, frozenset(items.scored))
        if not ids:
            return 0
    conn = session.connection()
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # The statement's estimate (1,000 subjects' records before the planner has statistics)
        # passes jit_above_cost: compiling it would take longer than running it, every batch.
        conn.exec_driver_sql("SET LOCAL jit = off")
    stmt = _refresh_select(session, loaded, today, items)
    base, base_grade = loaded.base, loaded.grade_of(loaded.base)
    why = reason[:32]
    now = utcnow()
    for start in range(0, len(ids), _REFRESH_CHUNK):
        history: list[tuple[Any, ...]] = []
        upserts: list[tuple[Any, ...]] = []
        rows = conn.execute(stmt, {"ids": _batch_ids(dialect, ids[start:start + _REFRESH_CHUNK])}).all()
        for sid, score, grade, version, lists, red, dishonest, clean, prev, p_score, p_grade, p_version, p_lists, \
                p_red, p_dishonest, p_clean in rows:
            score, version, lists = int(score), int(version), _as_list(lists)
            flags = (bool(red), bool(dishonest), bool(clean))
            new = (sid, score, grade, version, lists, *flags, now)
            if prev is None:
                if score != base or grade != base_grade:
                    history.append((sid, score, grade, None, None, version, why, today, now))
                upserts.append(new)
                continue
            if score != p_score or grade != p_grade:
                history.append((sid, score, grade, p_score, p_grade, version, why, today, now))
            if ((score, grade, version, *flags) != (p_score, p_grade, p_version, bool(p_red), bool(p_dishonest),
                                                     bool(p_clean)) or lists != _as_list(p_lists)):
                upserts.append(new)
        bulk.insert_tuples(session, ScoreHistory.__table__, _HISTORY_COLS, history)
        bulk.upsert_tuples(session, SubjectStatus.__table__, (*_COLS, "updated_at"), upserts, key=("subject_id",))
    return len(ids)


def regradable(subject_ids: Iterable[int], created_items: Mapping[int, frozenset[tuple[str, str]]],
               scored: frozenset[str]) -> list[int]:
    """Of the subjects whose records changed, those whose score or status the change can alter: all
    of them, except a subject whose only change is new records (``created_items``: their item codes
    and categories) of items that no rule of the ruleset in force scores (``scored``: its rule items'
    codes) and that are not bad — they add no points and leave the subject clean. Such a subject
    keeps its stored status, or, new to the platform, stays without one, which every reader takes
    as the default status (:func:`status_of`, :func:`distribution`, the check API). List changes
    come as their own announcement (``lists_changed``), refreshed whatever records caused them."""
    return [s for s in subject_ids
            if (got := created_items.get(s)) is None
            or any(code in scored or category in BAD_CATEGORIES for code, category in got)]


def rescore(session: Session, *, today: date, actor: Actor | None = None, reason: str = "rescore") -> int:
    """Full recomputation of every subject's score and status, set-based. Returns the subject count.

    PostgreSQL: every status is computed from one snapshot, so the transactions that change what a
    status is derived from wait until this one commits — the subjects table is taken in EXCLUSIVE
    mode, which plain reads (the check API, the pages) do not wait for, but a push does (its subject
    inserts, foreign-key checks and :func:`lock_subjects` need ROW SHARE or more), and this waits
    for the pushes already under way. Otherwise a push committed meanwhile kept a status computed
    without the new ruleset, or this overwrote the push's with one computed without its records
    (tests/scoring/test_concurrent_refresh.py)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE subjects IN EXCLUSIVE MODE"))
    started = time.perf_counter()
    loaded = active(session, today=today)
    n = _write(session, loaded, today, None, reason)
    seconds = time.perf_counter() - started
    session.add(ScoringRun(kind="rescore", on_day=today, ruleset_version=loaded.version, subjects=n, seconds=seconds))
    record(session, actor=actor or Actor.system("scoring"), action="scoring.rescore",
           details={"ruleset_version": loaded.version, "subjects": n, "on": today.isoformat(), "reason": reason})
    session.flush()
    return n


def maintain(session: Session, *, today: date, actor: Actor | None = None) -> dict[str, Any]:
    """Daily: a full rescore when a ruleset took effect since the last run (or there was none);
    otherwise refresh the subjects whose contribution windows or 3-year clean status ended since the
    last run. Idempotent: a second run on the same day does nothing."""
    loaded = active(session, today=today)
    last = session.scalar(select(ScoringRun).order_by(ScoringRun.id.desc()).limit(1))
    if last is None or last.ruleset_version != loaded.version:
        n = rescore(session, today=today, actor=actor or Actor.system("maintain"), reason="ruleset")
        return {"action": "rescore", "ruleset_version": loaded.version, "subjects": n}
    if last.on_day >= today:
        return {"action": "none", "ruleset_version": loaded.version, "subjects": 0}
    r = ScoringRule.__table__
    lo = case({m: cutoff(last.on_day, m) for m in loaded.windows}, value=r.c.window_months) if loaded.windows else None
    hi = case({m: cutoff(today, m) for m in loaded.windows}, value=r.c.window_months) if loaded.windows else None
    ended: set[int] = set()
    if lo is not None and hi is not None:
        src = records_source(last.on_day, true(), items=rule_items(session, loaded.version)).subquery("s")
        ended.update(session.scalars(
            select(src.c.subject_id).distinct()
            .join(r, and_(r.c.ruleset_version == loaded.version, r.c.item_code == src.c.item_code,
                          r.c.variant == src.c.variant))
            .where(src.c.decided_at > lo, src.c.decided_at <= hi)))
    ended.update(session.scalars(bad_record_subjects(years_before(last.on_day, CLEAN_YEARS),
                                                     years_before(today, CLEAN_YEARS))))
    if ended:  # outside the announcements: take the turn on these subjects the handlers take
        lock_subjects(session, ended)
    n = refresh(session, ended, today=today, reason="window") if ended else 0
    session.add(ScoringRun(kind="maintain", on_day=today, ruleset_version=loaded.version, subjects=n))
    record(session, actor=actor or Actor.system("maintain"), action="scoring.maintain",
           details={"ruleset_version": loaded.version, "subjects": n, "on": today.isoformat()})
    session.flush()
    return {"action": "refresh", "ruleset_version": loaded.version, "subjects": n}


# ---- explanation and what-if ------------------------------------------------------------------------

@dataclass(frozen=True)
class Contribution:
    record_id: int | None  # None for a hypothetical record (what-if)
    item: str
    variant: str
    decided_at: date
    points: int
    reason_zh: str
    reason_en: str
    counts_until: date
    # the day its display ends: the record's own, or a hypothetical record's from its item's rule
    # (its decision date, severity and display extension field)
    display_until: date | None = None

    @property
    def reason(self) -> str:
        """Both languages, as the API gives it (``行政处罚信息（一般） / administrative penalty (general)``);
        a page shows the half in its reader's language."""
        return f"{self.reason_zh} / {self.reason_en[:1].lower()}{self.reason_en[1:]}"


@dataclass
class Explanation:
    subject_id: int
    score: int
    grade: str
    ruleset_version: int
    base: int
    points_grade: str  # the grade the points alone give
    forced_by: list[str]
    lists: list[dict[str, Any]]
    contributions: list[Contribution]


def _variant_label(variant: str) -> tuple[str, str]:
    return SEVERITY_LABELS.get(variant) or LEVEL_LABELS.get(variant) or (variant, variant)


def _reason(row: Any, facts: ItemFacts | None) -> tuple[str, str]:
    """Why a record counts, in Chinese and in English (the English begins with a capital)."""
    zh_item, en_item = (facts.name, facts.name_en) if facts else (row.item_code, row.item_code)
    if row.mode == "max":
        hz, he = f"{zh_item}（累计{row.hours:g}小时）", f"{en_item} ({row.hours:g} cumulative hours)"
        if row.best > 1:
            return f"{hz}：累计时长只计最高一条，本条不计分", f"{he}: only the record with the most hours scores"
        return f"{hz}：达到{row.min_hours:g}小时档", f"{he}: tier from {row.min_hours:g} hours"
    if row.variant:
        vz, ve = _variant_label(row.variant)
        zh, en = f"{zh_item}（{vz}）", f"{en_item} ({ve})"
    else:
        zh, en = zh_item, en_item
    if row.doubles and row.nth > 1:
        return f"{zh}重复，加倍", f"{en}, repeat within window: doubled"
    return zh, en


def _explain_rows(session: Session, loaded: Loaded, today: date, source: Any) -> list[Any]:
    stmt = contributions(loaded, today, source)
    sub = stmt.subquery("x")
    R = Record.__table__
    return list(session.execute(select(sub, R.c.display_until).select_from(sub.outerjoin(R, R.c.id == sub.c.record_id))
                                .order_by(sub.c.decided_at, sub.c.record_id)))


def _listed(session: Session, subject_id: int, *, without_records: Sequence[int] = (),
            with_lists: Sequence[tuple[str, date]] = ()) -> list[dict[str, Any]]:
    """The subject's lists, once each, since the earliest listing (as the status statement has them).
    What-if: ``without_records`` — the entries these records feed (a catalog-fed list follows its
    record) are left out; ``with_lists`` — (list code, since) listings a hypothetical record would make."""
    since = func.min(ListEntry.listed_on)
    stmt = select(ListEntry.list_code, since).where(ListEntry.subject_id == subject_id, ListEntry.status == "listed")
    if without_records:
        stmt = stmt.where(or_(ListEntry.record_id.is_(None), ListEntry.record_id.not_in(list(without_records))))
    found: dict[str, date | None] = dict(session.execute(stmt.group_by(ListEntry.list_code)).all())
    for code, day in with_lists:
        prev = found.get(code)
        found[code] = day if prev is None else min(prev, day)
    ordered = sorted(found.items(), key=lambda x: (x[1] is None, x[1] or date.min, x[0]))
    return [{"code": c, "since": d.isoformat() if d else None} for c, d in ordered]


def _assemble(session: Session, subject_id: int, loaded: Loaded, rows: list[Any],
              hypothetical: Mapping[int, date] | None = None,
              lists: list[dict[str, Any]] | None = None) -> Explanation:
    facts = catalog_facts(session)
    contribs = []
    for r in rows:
        reason = _reason(r, facts.get(r.item_code))
        display_until = r.display_until if r.record_id is not None and r.record_id > 0 else (hypothetical or {}).get(
            r.record_id)
        contribs.append(Contribution(record_id=r.record_id if r.record_id > 0 else None, item=r.item_code,
                                     variant=r.variant, decided_at=r.decided_at, points=int(r.points),
                                     reason_zh=reason[0], reason_en=reason[1],
                                     counts_until=counts_until(r.decided_at, r.window_months, display_until),
                                     display_until=display_until))
    score = loaded.base + sum(c.points for c in contribs)
    lists = _listed(session, subject_id) if lists is None else lists
    forced_by = [entry["code"] for entry in lists if entry["code"] in loaded.force_lists]
    points_grade = loaded.grade_of(score)
    grade = loaded.force_grade if forced_by and loaded.force_grade else points_grade
    return Explanation(subject_id=subject_id, score=score, grade=grade, ruleset_version=loaded.version,
                       base=loaded.base, points_grade=points_grade, forced_by=forced_by, lists=lists,
                       contributions=contribs)


def explain(session: Session, subject_id: int, *, today: date) -> Explanation:
    """Score, grade and every contribution, record by record: base + Σ points = score."""
    loaded = active(session, today=today)
    rows = _explain_rows(session, loaded, today, records_source(today, Record.subject_id == subject_id, by_subject=True,
                                                                items=rule_items(session, loaded.version)))
    return _assemble(session, subject_id, loaded, rows)


def _bad_change(i: int, code: str, zh: str, en: str, key: str = "") -> ScoringError:
    return ScoringError(code, zh, en, f"changes[{i}]{'.' + key if key else ''}")


def _display_fields(i: int, spec: Any, raw: Any) -> dict[str, Any] | None:
    """A supposed record's ``fields``, as far as its display dates read them: the item's display
    extension field only (``ItemSpec.display_extension``), checked by the catalog field's own checker
    as a pushed record's is; an empty value is none. Refusals name ``changes[i].add.fields[.name]``."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise _bad_change(i, "wrong_type", "fields 应为对象", "fields must be an object", "add.fields")
    ext = spec.display_extension
    out: dict[str, Any] = {}
    for key, value in raw.items():
        shown = mask_id_numbers_in(str(key))[:64]
        if not isinstance(key, str) or key not in spec.field_index:
            raise _bad_change(i, "unknown_field", f"本事项在目录中没有字段“{shown}”",
                              f"no field '{shown}' in the catalog item", f"add.fields.{shown}")
        if ext is None or key != ext[0]:
            allowed_zh = f"（{ext[0]}）" if ext else "（本事项没有）"
            allowed_en = f" ({ext[0]})" if ext else " (this item has none)"
            raise _bad_change(i, "not_allowed", f"模拟只读取延长展示期的字段{allowed_zh}，不能填写“{shown}”",
                              f"a what-if reads only the field that lengthens the display{allowed_en}, not '{shown}'",
                              f"add.fields.{shown}")
        if value is None or value == "":
            continue
        got, err = coerce_field(spec.field_index[key], value, f"fields.{key}")
        if err is not None:
            zh, _, en = err["message"].partition(" / ")
            raise _bad_change(i, err["code"], zh, en, f"add.fields.{key}")
        out[key] = got
    return out or None


def what_if(session: Session, subject_id: int, changes: Sequence[Mapping[str, Any]], *, today: date
            ) -> tuple[Explanation, Explanation]:
    """(current, hypothetical): the explanation now and the one that would result from ``changes``
    (``{"remove_record": id}`` — repaired, expired or revoked; ``{"add": {"item", "severity"|"level"|"hours",
    "decided_at", "fields"}}`` — a new record). Same engine, hypothetical records source; the lists fed by a catalog
    item (the dishonest debtors) follow the hypothetical records too; nothing is written.

    ``add.fields``: the record's fields its display dates read — the item's display extension field
    (catalog ``display.extension``: a dishonest debtor's ``extension_years``), checked as a pushed
    record's field is (the field's own checker: an integer within its bounds); any other field is
    refused. The hypothetical record's ``display_until`` comes from the item's rule with it, as a
    pushed record's would (``records.display.compute``)."""
    from xinyong.catalog.service import current_items
    from xinyong.lists.service import catalog_feeds

    if len(changes) > 50:
        raise ScoringError("too_many", "一次最多 50 项假设变化", "at most 50 changes at a time", "changes")
    loaded = active(session, today=today)
    removed: list[int] = []
    added: list[Any] = []
    hypothetical: dict[int, date] = {}
    fed: list[tuple[str, date]] = []  # (item, decided_at) of the supposed new records
    items = current_items(session)
    facts = catalog_facts(session)
    for i, ch in enumerate(changes):
        if not isinstance(ch, Mapping) or len(ch) != 1 or next(iter(ch)) not in ("remove_record", "add"):
            raise _bad_change(i, "bad_change", "每项变化应为 {\"remove_record\": 记录编号} 或 {\"add\": {...}}",
                              'each change is {"remove_record": id} or {"add": {...}}')
        if "remove_record" in ch:
            rid = ch["remove_record"]
            # a record id is a positive BIGINT: a larger number is no record (SQLite cannot bind it)
            owner = (session.scalar(select(Record.subject_id).where(Record.id == rid))
                     if type(rid) is int and 0 < rid < 2**63 else None)
            if owner != subject_id:  # (echoed on the citizen's page: what was sent, masked)
                shown = mask_id_numbers_in(str(rid))[:40]
                raise _bad_change(i, "unknown_record", f"该信用主体没有记录 {shown}", f"the subject has no record {shown}",
                                  "remove_record")
            removed.append(rid)
            continue
        add = ch["add"]
        if not isinstance(add, Mapping):
            raise _bad_change(i, "wrong_type", "add 应为对象", "add must be an object", "add")
        code = add.get("item")
        if code is None or code == "":
            raise _bad_change(i, "missing", "缺少事项代码（item）", "item is required", "add.item")
        f = facts.get(code) if isinstance(code, str) else None
        item = items.get(code) if isinstance(code, str) else None
        if f is None or item is None:
            shown = mask_id_numbers_in(str(code))[:64]
            raise _bad_change(i, "unknown_item", f"目录中没有事项 {shown}", f"no catalog item {shown}", "add.item")
        variant = ""
        severity = add.get("severity")
        if f.severities:
            if severity not in f.severities:
                raise _bad_change(i, "unknown_severity", f"严重程度应为 {'/'.join(f.severities)}",
                                  f"severity must be one of {', '.join(f.severities)}", "add.severity")
            variant = severity
        elif f.levels:
            if add.get("level") not in f.levels:
                raise _bad_change(i, "unknown_level", f"级别应为 {'/'.join(f.levels)}",
                                  f"level must be one of {', '.join(f.levels)}", "add.level")
            variant = add["level"]
        hours = add.get("hours", 0)
        if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 <= hours < 1e9:
            raise _bad_change(i, "not_a_number", "hours 应为非负数", "hours must be a non-negative number", "add.hours")
        raw = add.get("decided_at")
        try:
            decided = raw if isinstance(raw, date) else (date.fromisoformat(raw) if raw else today)
        except (TypeError, ValueError):
            raise _bad_change(i, "wrong_type", "日期格式应为 YYYY-MM-DD", "decided_at must be YYYY-MM-DD",
                              "add.decided_at") from None
        if decided > today:
            raise _bad_change(i, "future_date", "决定日期不能晚于今天", "decided_at is in the future", "add.decided_at")
        fields = _display_fields(i, item.spec, add.get("fields"))
        until = display.compute(item.spec, severity if f.severities else None, decided, fields).display_until
        if until <= today:
            continue  # its display would already have ended: it would not count
        fake_id = -(len(added) + 1)
        hypothetical[fake_id] = until
        fed.append((code, decided))
        added.append(select(literal(fake_id, BigInteger).label("id"), literal(subject_id, BigInteger).label("subject_id"),
                            literal(code, String).label("item_code"), literal(variant, String).label("variant"),
                            literal(float(hours), Float).label("hours"), literal(decided, Date).label("decided_at")))
    current = explain(session, subject_id, today=today)
    where = Record.subject_id == subject_id
    if removed:
        where = and_(where, Record.id.not_in(removed))
    own = records_source(today, where, by_subject=True, items=rule_items(session, loaded.version))
    source = union_all(own, *added) if added else own
    rows = _explain_rows(session, loaded, today, source)
    # a catalog-fed list (the dishonest debtors) follows its records: a record supposed repaired or
    # expired ends its listing, a supposed new one lists the person (listed on its decision date)
    feeds = catalog_feeds(session)
    lists = _listed(session, subject_id, without_records=removed,
                    with_lists=[(feeds[code].code, day) for code, day in fed if code in feeds])
    return current, _assemble(session, subject_id, loaded, rows, hypothetical, lists)


# ---- preview, distribution, history ------------------------------------------------------------------

def preview(session: Session, *, text_: str, today: date) -> dict[str, Any]:
    """How many people would change grade if this ruleset were in force today (nothing is written:
    its rules go in under a temporary version inside a SAVEPOINT that is rolled back)."""
    rs = validate(session, text_)
    current = active(session, today=today)
    candidate = Loaded(version=PREVIEW_VERSION, effective_from=today, base=rs.base, bands=tuple(rs.bands),
                       force_grade=rs.force_grade, force_lists=rs.force_lists, windows=rs.windows)
    default_grade = current.grade_of(current.base)
    ST = SubjectStatus.__table__
    sp = session.begin_nested()
    try:
        session.execute(delete(ScoringRule).where(ScoringRule.ruleset_version == PREVIEW_VERSION))
        if rs.rules:
            session.execute(insert(ScoringRule), _rule_rows(rs, PREVIEW_VERSION))
        new = _status_select(session, candidate, today, None).subquery("n")
        old_grade = func.coalesce(ST.c.grade, default_grade)
        rows = session.execute(select(old_grade.label("from_grade"), new.c.grade.label("to_grade"), func.count())
                               .select_from(new.outerjoin(ST, ST.c.subject_id == new.c.subject_id))
                               .group_by(old_grade, new.c.grade)).all()
    finally:
        sp.rollback()
    order = {b.grade: i for i, b in enumerate(rs.bands)}
    changes = sorted(({"from": f, "to": t, "count": n} for f, t, n in rows if f != t),
                     key=lambda c: (order.get(c["from"], 99), order.get(c["to"], 99)))
    return {"subjects": sum(n for _f, _t, n in rows), "changed": sum(c["count"] for c in changes), "changes": changes,
            "distribution": {g: sum(n for _f, t, n in rows if t == g) for g in [b.grade for b in rs.bands]}}


def distribution(session: Session, *, today: date) -> dict[str, Any]:
    """People per grade: stored statuses, plus every subject without a row in the default grade."""
    loaded = active(session, today=today)
    counts = dict(session.execute(select(SubjectStatus.grade, func.count()).group_by(SubjectStatus.grade)).all())
    missing = (session.scalar(select(func.count()).select_from(Subject)) or 0) - sum(counts.values())
    default_grade = loaded.grade_of(loaded.base)
    counts[default_grade] = counts.get(default_grade, 0) + max(0, missing)
    grades = [b.grade for b in loaded.bands]
    grades += sorted(g for g in counts if g not in grades)
    return {"ruleset_version": loaded.version, "grades": [{"grade": g, "count": counts.get(g, 0)} for g in grades],
            "total": sum(counts.values())}


def history(session: Session, subject_id: int, *, limit: int = 50) -> list[ScoreHistory]:
    return list(session.scalars(select(ScoreHistory).where(ScoreHistory.subject_id == subject_id)
                                .order_by(ScoreHistory.id.desc()).limit(limit)))


# ---- audit entries --------------------------------------------------------------------------------
# One function per entry, whichever entry point writes it — the API (``api.py``), the pages
# (``views.py``: ``via="page"``, kept as ``page: true``) or the CLI (``cli.py``: ``via="cli"``) — as
# records' and measures' refusals are. The reads and successes go into the request's transaction;
# the refusals are written durably (``audit.service.record_refusal``: the request's work rolled back,
# the entry committed), never with what was typed (a note, a YAML text, a body): codes, fields, lines.

def _via(details: dict[str, Any], via: str | None) -> dict[str, Any]:
    if via == "page":
        details["page"] = True
    elif via is not None:
        details["via"] = via
    return details


def record_score_read(session: Session, *, actor: Actor, explanation: Explanation, via: str | None = None) -> None:
    """``score.read``: a subject's score and grade shown (by the API with its ruleset version)."""
    e = explanation
    details: dict[str, Any] = {"score": e.score, "grade": e.grade}
    if via is None:
        details["ruleset_version"] = e.ruleset_version
    record(session, actor=actor, action="score.read", object_type="subject", object_id=e.subject_id,
           details=_via(details, via))


def record_subject_refused(session: Session, *, actor: Actor, action: str, subject_id: int, reason: str) -> None:
    """A look at a subject's score (``score.read``) or a what-if (``score.what_if``) refused — a
    subject that does not exist, or not the citizen's own (``not_found`` / ``not_own``), both
    answered 404 — registered ``denied``."""
    record_refusal(session, actor=actor, action=action, object_type="subject", object_id=subject_id,
                   details={"reason": reason})


def record_what_if(session: Session, *, actor: Actor, subject_id: int, changes: int, result: Explanation,
                   via: str | None = None) -> None:
    """``score.what_if``: how many changes were supposed and the score and grade they would give."""
    record(session, actor=actor, action="score.what_if", object_type="subject", object_id=subject_id,
           details=_via({"changes": changes, "score": result.score, "grade": result.grade}, via))


def record_what_if_refused(session: Session, *, actor: Actor, subject_id: int | None, code: str,
                           field: str | None, size: int | None = None, via: str | None = None) -> None:
    """A what-if refused — by the schema (the API's 422 before the route: no changes, over 50), by
    the rules (an unknown item or level), or a page's form with no change — ``score.what_if``,
    ``failed``, the subject asked for (when the path held one), the code and the field; ``bytes`` for
    a body over the limit."""
    details: dict[str, Any] = {"code": code, "field": field}
    if size is not None:
        details["bytes"] = size
    record_refusal(session, actor=actor, action="score.what_if", object_type="subject" if subject_id is not None
                   else None, object_id=subject_id, details=_via(details, via), outcome="failed")


def record_ruleset_body_refused(session: Session, *, actor: Actor, action: str, code: str, field: str,
                                errors: int, size: int | None = None) -> None:
    """A ruleset's or a preview's body (or query) refused before its rules are read — not JSON,
    neither ``yaml`` nor ``ruleset``, not UTF-8, too large, a field the schema refuses —
    ``scoring.ruleset_create`` / ``scoring.preview``, ``failed``: the code, the field, how many
    errors and, for a body over the limit, its ``bytes``; never the text."""
    details: dict[str, Any] = {"code": code, "field": field, "errors": errors}
    if size is not None:
        details["bytes"] = size
    record_refusal(session, actor=actor, action=action, details=details, outcome="failed")


_NOT_GIVEN: Any = object()


def record_ruleset_refused(session: Session, *, actor: Actor, action: str, code: str, line: int | None,
                           field: str | None = _NOT_GIVEN, via: str | None = None) -> None:
    """A ruleset (``scoring.ruleset_create``) or a preview (``scoring.preview``) refused for what it
    holds — the rules (:class:`RulesetError`, with its line), an effective date in the past or that is
    no date, a note with control characters, a text too large for the page — ``failed``, with the
    code, the line and, when the caller gives it (the pages' checks before the rules, the CLI), the
    field: the active ruleset stays."""
    details: dict[str, Any] = {"code": code, "line": line}
    if field is not _NOT_GIVEN:
        details["field"] = field
    record_refusal(session, actor=actor, action=action, details=_via(details, via), outcome="failed")


def record_preview(session: Session, *, actor: Actor, changed: int) -> None:
    """``scoring.preview``: how many people a ruleset would regrade (nothing else was written)."""
    record(session, actor=actor, action="scoring.preview", details={"changed": changed})


def record_distribution(session: Session, *, actor: Actor, total: int) -> None:
    """``scoring.distribution``: the people per grade were shown (their total)."""
    record(session, actor=actor, action="scoring.distribution", details={"total": total})


def record_rulesets_listed(session: Session, *, actor: Actor, count: int) -> None:
    """``scoring.rulesets``: the list of ruleset versions was read."""
    record(session, actor=actor, action="scoring.rulesets", details={"count": count})


def record_ruleset_read(session: Session, *, actor: Actor, version: int, found: bool = True,
                        via: str | None = None) -> None:
    """``scoring.ruleset_read``: one version read (by the API, or shown on the rulesets page); one
    that does not exist (the API's 404) is registered durably, ``denied``, ``reason: not_found``."""
    if not found:
        record_not_found(session, actor=actor, action="scoring.ruleset_read", object_type="scoring_ruleset",
                         object_id=version)
        return
    record(session, actor=actor, action="scoring.ruleset_read", object_type="scoring_ruleset", object_id=version,
           details=_via({}, via) or None)


__all__ = ["Problem", "RulesetError", "ScoringError", "active", "default_status", "explain", "maintain", "refresh",
           "rescore", "what_if"]
