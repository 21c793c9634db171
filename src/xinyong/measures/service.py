"""Joint reward and punishment: scenarios and measures as versioned data, the check, its receipt,
feedback and its statistics.

The check reads the precomputed ``subject_status`` row (written by scoring in the same transaction
as the records and list entries that change it) and never scores. Scenarios, measures and list
names are held in an in-process :class:`Rules` cache keyed by their versions, which the check's one
joined query reads along with the subject's status. Building the register row is separate from
writing it: the API hands rows to the per-process group-commit writer (:mod:`.register`), the
CLI, pages and tests write them in their own transaction with :func:`register_checks`.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Connection, Select, case, func, literal_column, select, true, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from xinyong import bulk, clock
from xinyong.audit.service import Actor, record, record_many, record_refusal
from xinyong.auth.models import ApiKey, Department
from xinyong.auth.permissions import allowed
from xinyong.auth.service import FAST_KEY_COLUMNS, FAST_KEY_JOIN, Principal, fast_api_key_principal, parse_api_key
from xinyong.context import request_id_var
from xinyong.db import utcnow
from xinyong.domain_errors import BilingualError
from xinyong.imports.service import shown_code
from xinyong.lists.models import ListKind
from xinyong.measures.models import (
    MEASURE_KINDS,
    SUBJECT_KEY_CHARS,
    Check,
    CheckFeedback,
    Measure,
    MeasureChange,
    RegisterEpoch,
    Scenario,
    subject_key,
)
from xinyong.privacy import identity
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.masking import mask_id_number, mask_id_numbers_in
from xinyong.privacy.vault import Vault

DEFAULT_FILE = Path(__file__).parent / "default_measures.yaml"
GRADES = ("AAA", "AA", "A", "B", "C", "D")
LIST_CODES = ("red_volunteer", "red_moral_model", "red_recommended", "serious_dishonesty", "key_supervision",
              "dishonest_debtor")
CLEAN_3Y = "clean_3y"
# the shipped lists of kind ``dishonesty`` (lists/default_lists.yaml), until the list kinds are loaded
DISHONESTY_LISTS = frozenset({"serious_dishonesty", "key_supervision", "dishonest_debtor"})
CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # line breaks and tabs are text
UNKNOWN_NOTE = ("平台没有此人的信用信息：按无记录作答（默认等级，不在任何名单上）",
                "this person is unknown to the platform: a clean answer (default grade, on no list)")
_CHECKS = Check.__table__


class MeasuresError(BilingualError):
    def __init__(self, status: int, code: str, zh: str, en: str, field: str | None = None,
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(code, zh, en, field)
        self.status = status
        self.errors = errors if errors is not None else (
            [{"field": field, "code": code, "message": f"{zh} / {en}"}] if field else None)

    def api_errors(self) -> list[dict[str, Any]] | None:
        return self.errors


# ---- definitions: YAML default → versioned tables ---------------------------------------------

def read_default(path: Path = DEFAULT_FILE) -> dict[str, list[dict[str, Any]]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {"scenarios": list(data.get("scenarios") or []), "measures": list(data.get("measures") or [])}


def _prefix(where: str) -> str:
    """An error's field is the body's own key (``applies_to``, as the schema's 422 of the same save
    names it), after ``where`` and a dot when a caller nests the definition in something larger."""
    return f"{where}." if where else ""


def _text(data: dict[str, Any], key: str, where: str, limit: int, errors: list[dict[str, Any]]) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        errors.append({"field": f"{_prefix(where)}{key}", "code": "required",
                       "message": f"{key} 不能为空 / {key} is required"})
        return ""
    if len(value) > limit:
        errors.append({"field": f"{_prefix(where)}{key}", "code": "too_long",
                       "message": f"{key} 最长 {limit} 个字符 / {key} has at most {limit} characters"})
    if _CONTROL.search(value):
        errors.append({"field": f"{_prefix(where)}{key}", "code": "control_characters",
                       "message": f"{key} 含有控制字符 / {key} contains control characters"})
    # shown to every department, and a measure's in every check's answer and receipt: never an ID
    # number in the clear (as the catalog's and the rulesets' notes)
    return mask_id_numbers_in(value.strip())


def _reason(reason: str | None, kind: str) -> str | None:
    """The reason for a change, kept in the history every department reads: checked and masked as the
    definition's texts are (a NUL was a 500 on PostgreSQL)."""
    value = (reason or "").strip()
    if not value:
        return None
    errors: list[dict[str, Any]] = []
    masked = _text({"reason": value}, "reason", "", 2000, errors)
    if errors:
        what = ("措施", "measure") if kind == "measure" else ("场景", "scenario")
        raise MeasuresError(422, f"invalid_{kind}", f"{what[0]}定义有误", f"the {what[1]} is not valid", errors=errors)
    return masked


def validate_scenario(data: dict[str, Any], where: str = "") -> dict[str, Any]:
    errors: list[dict[str, Any]] = []
    code = data.get("code")
    if not isinstance(code, str) or not CODE_RE.match(code):
        errors.append({"field": f"{_prefix(where)}code", "code": "bad_code",
                       "message": "代码应为小写字母开头的字母、数字或下划线 / code: lower-case letters, digits, _"})
    out = {"code": code, "name_zh": _text(data, "name_zh", where, 128, errors),
           "name_en": _text(data, "name_en", where, 128, errors), "active": bool(data.get("active", True))}
    if errors:
        raise MeasuresError(422, "invalid_scenario", "场景定义有误", "the scenario is not valid", errors=errors)
    return out


def valid_targets() -> set[str]:
    return {*LIST_CODES, CLEAN_3Y, *(f"grade:{g}" for g in GRADES)}


def validate_measure(data: dict[str, Any], scenario_codes: Iterable[str], where: str = "") -> dict[str, Any]:
    errors: list[dict[str, Any]] = []
    code = data.get("code")
    if not isinstance(code, str) or not CODE_RE.match(code):
        errors.append({"field": f"{_prefix(where)}code", "code": "bad_code",
                       "message": "代码应为小写字母开头的字母、数字或下划线 / code: lower-case letters, digits, _"})
    kind = data.get("kind")
    if kind not in MEASURE_KINDS:
        errors.append({"field": f"{_prefix(where)}kind", "code": "bad_kind",
                       "message": "种类应为 incentive（激励）或 punishment（惩戒） / kind: incentive or punishment"})
    targets, scenarios = data.get("applies_to"), data.get("scenarios")
    known_targets, known_scenarios = valid_targets(), set(scenario_codes)
    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
        errors.append({"field": f"{_prefix(where)}applies_to", "code": "required",
                       "message": "适用对象不能为空 / applies_to needs at least one list, grade or clean_3y"})
        targets = []
    for t in targets:
        if t not in known_targets:
            errors.append({"field": f"{_prefix(where)}applies_to", "code": "unknown_target",
                           "message": f"未知的适用对象 {t}（可用：{', '.join(sorted(known_targets))}） / "
                                      f"unknown target {t!r}"})
    if not isinstance(scenarios, list) or not scenarios or not all(isinstance(s, str) for s in scenarios):
        errors.append({"field": f"{_prefix(where)}scenarios", "code": "required",
                       "message": "适用场景不能为空 / scenarios needs at least one scenario"})
        scenarios = []
    for s in scenarios:
        if s not in known_scenarios:
            errors.append({"field": f"{_prefix(where)}scenarios", "code": "unknown_scenario",
                           "message": f"未知场景 {s}（可用：{', '.join(sorted(known_scenarios))}） / unknown scenario {s!r}"})
    out = {"code": code, "name_zh": _text(data, "name_zh", where, 200, errors),
           "name_en": _text(data, "name_en", where, 200, errors), "kind": kind,
           "applies_to": list(dict.fromkeys(targets)), "scenarios": list(dict.fromkeys(scenarios)),
           "department": _text(data, "department", where, 200, errors),
           "basis": _text(data, "basis", where, 4000, errors), "active": bool(data.get("active", True))}
    if errors:
        raise MeasuresError(422, "invalid_measure", "措施定义有误", "the measure is not valid", errors=errors)
    return out


def _history(session: Session, object_type: str, code: str, version: int, data: dict[str, Any],
             actor: Actor, reason: str | None) -> None:
    session.add(MeasureChange(object_type=object_type, code=code, version=version, data=data, reason=reason,
                              changed_by=actor.label or actor.type, changed_at=utcnow()))


def _save_versioned(session: Session, model: Any, kind: str, clean: dict[str, Any], actor: Actor,
                    reason: str | None) -> Any:
    """Create the row or, if anything changed, update it as a new version; history and audit. Two
    saves of one existing code at once take turns (PostgreSQL: the row locked before it is read): the
    second compares with the first's version and makes the next one, never the same number twice.
    Two creations of one new code at once: with no row to lock yet, the second's insert waits on the
    unique code until the first commits, fails, and the save goes on as an edit of the row the first
    created (tests/test_concurrent_admin_edits.py)."""
    def locked() -> Any:
        return session.scalar(select(model).where(model.code == clean["code"]).with_for_update(key_share=True)
                              .execution_options(populate_existing=True))

    row, new = locked(), None
    if row is None:
        new = model(code=clean["code"], version=1, updated_at=utcnow(),
                    **{k: v for k, v in clean.items() if k != "code"})
        try:
            with session.begin_nested():  # a savepoint: only this insert is undone if it lost the race
                session.add(new)
                session.flush()
        except IntegrityError:
            row = locked()
            if row is None:  # not the code's uniqueness: a real error
                raise
        else:
            row = new
    if row is not new:
        if all(getattr(row, k) == v for k, v in clean.items()):
            return row
        for k, v in clean.items():
            setattr(row, k, v)
        row.version += 1
        row.updated_at = utcnow()
        session.flush()
    _history(session, kind, row.code, row.version, clean, actor, reason)
    record(session, actor=actor, action=f"measures.{kind}_save", object_type=kind, object_id=row.code,
           details={"version": row.version, "data": clean, "reason": reason})
    return row


# a measure's or a scenario's code (the API's path parameter is held to it too)
CODE_PATTERN = "^[a-z][a-z0-9_]{1,63}$"
_CODE = re.compile(CODE_PATTERN)


def record_save_refused(session: Session, *, actor: Actor, kind: str, code: Any, refusal: str, field: str | None,
                        errors: int = 1, conflict: bool = False, size: int | None = None,
                        via: str | None = None) -> None:
    """A measure's or a scenario's save refused — by the schema (the API's 422 before the route), by
    the rules (an invalid definition), by the body's code not the path's, or as a new code that
    exists — registered under the save's action (``measures.measure_save`` /
    ``measures.scenario_save``): ``failed`` for the input, ``denied`` for a ``conflict``, with the
    refusal's code, its first field, how many errors and, for a body over the limit, its ``bytes`` —
    never a value typed. The code is the object only when it is one (a page's new-code form may hold
    anything)."""
    details: dict[str, Any] = {"code": refusal, "field": field, "errors": errors}
    if size is not None:
        details["bytes"] = size
    if via is not None:
        details["via"] = via
    shown = code if isinstance(code, str) and _CODE.fullmatch(code) else None
    record_refusal(session, actor=actor, action=f"measures.{kind}_save", object_type=kind if shown else None,
                   object_id=shown, details=details, outcome="denied" if conflict else "failed")


def record_save_error(session: Session, *, actor: Actor, kind: str, code: Any, exc: Any,
                      via: str | None = None) -> None:
    """:func:`record_save_refused` for a refusal raised as an error with ``code``, ``status`` and
    ``errors`` (a :class:`MeasuresError`, or the API's error for a body's code not the path's)."""
    errors = exc.errors or []
    record_save_refused(session, actor=actor, kind=kind, code=code, refusal=exc.code,
                        field=errors[0].get("field") if errors else getattr(exc, "field", None),
                        errors=len(errors) or 1, conflict=exc.status == 409, via=via)


def save_scenario(session: Session, *, data: dict[str, Any], actor: Actor, reason: str | None = None) -> Scenario:
    """Create a scenario or add a version of it; audited."""
    clean = validate_scenario(data)
    return _save_versioned(session, Scenario, "scenario", clean, actor, _reason(reason, "scenario"))  # type: ignore[no-any-return]


def save_measure(session: Session, *, data: dict[str, Any], actor: Actor, reason: str | None = None) -> Measure:
    """Create a measure or add a version of it; audited. Refuses unknown scenarios or targets."""
    clean = validate_measure(data, list(session.scalars(select(Scenario.code))))
    return _save_versioned(session, Measure, "measure", clean, actor, _reason(reason, "measure"))  # type: ignore[no-any-return]


def load_default(session: Session, *, actor: Actor, update_existing: bool = False) -> dict[str, str]:
    """Load the shipped scenarios and measures: new codes are created; existing ones are left alone
    unless ``update_existing`` (then changed ones get a new version). Returns code → what happened."""
    data = read_default()
    outcome: dict[str, str] = {}
    for kind, items, save, model in (("scenario", data["scenarios"], save_scenario, Scenario),
                                     ("measure", data["measures"], save_measure, Measure)):
        for item in items:
            existing = session.scalar(select(model).where(model.code == item["code"]))  # type: ignore[attr-defined]
            if existing is not None and not update_existing:
                outcome[f"{kind}:{item['code']}"] = "kept"
                continue
            before = existing.version if existing is not None else 0
            try:
                row = save(session, data=item, actor=actor, reason="default")  # type: ignore[operator]
            except MeasuresError as exc:  # which definition was refused (``xinyong measures load`` registers it)
                exc.refused = (kind, item.get("code"))  # type: ignore[attr-defined]
                raise
            outcome[f"{kind}:{item['code']}"] = ("created" if existing is None else
                                                 "updated" if row.version != before else "unchanged")
    return outcome


def ensure_loaded(session: Session, *, actor: Actor) -> bool:
    """Materialise the shipped defaults before the first edit. True if it loaded them."""
    if session.scalar(select(func.count()).select_from(Scenario)):
        return False
    load_default(session, actor=actor)
    return True


def list_scenarios(session: Session) -> list[Scenario]:
    return list(session.scalars(select(Scenario).order_by(Scenario.id)))


def list_measures(session: Session) -> list[Measure]:
    return list(session.scalars(select(Measure).order_by(Measure.id)))


def definitions(session: Session) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The scenarios and measures as the admin sees them (the shipped defaults, version 0, until loaded)."""
    scenarios = list_scenarios(session)
    if not scenarios:
        default = read_default()
        return ([{**s, "active": True, "version": 0} for s in default["scenarios"]],
                [{**m, "active": True, "version": 0} for m in default["measures"]])
    cols_s = ("code", "name_zh", "name_en", "active", "version")
    cols_m = ("code", "name_zh", "name_en", "kind", "applies_to", "scenarios", "department", "basis", "active",
              "version")
    return ([{c: getattr(x, c) for c in cols_s} for x in scenarios],
            [{c: getattr(x, c) for c in cols_m} for x in list_measures(session)])


def unknown_scenario(scenario: Any, valid: Sequence[str]) -> MeasuresError:
    """The refusal of a scenario not among ``valid``, naming them (the field's ``valid`` lists them too)."""
    shown, text_ = shown_code(str(scenario)), ", ".join(valid)
    if not str(scenario).strip():  # (the code stays unknown_scenario: an empty one is none of them)
        zh, en = f"未填写场景；可用场景：{text_}", f"no scenario given; valid scenarios: {text_}"
    else:
        zh, en = f"未知场景 {shown}；可用场景：{text_}", f"unknown scenario {shown!r}; valid scenarios: {text_}"
    return MeasuresError(422, "unknown_scenario", zh, en, field="scenario", errors=[
        {"field": "scenario", "code": "unknown_scenario", "message": f"{zh} / {en}", "valid": list(valid)}])


def measures_in(session: Session, scenario: str | None, kind: str | None = None) -> list[dict[str, Any]]:
    """The measures list as the admin sees it (:func:`definitions`), those answered in ``scenario``
    if given — one of the defined scenarios, active or not — and of ``kind`` (incentive /
    punishment) if given."""
    scenarios, measures = definitions(session)
    if scenario is not None:
        valid = [sc["code"] for sc in scenarios]
        if scenario not in valid:
            raise unknown_scenario(scenario, valid)
        measures = [m for m in measures if scenario in m["scenarios"]]
    return measures if kind is None else [m for m in measures if m["kind"] == kind]


def history(session: Session, *, object_type: str, code: str) -> list[MeasureChange]:
    """Every version of a measure or scenario, newest first (none for a code never defined, nor for
    one no code can be: a NUL, which PostgreSQL cannot compare, in a new code refused for its shape)."""
    if not CODE_RE.match(code):
        return []
    return list(session.scalars(select(MeasureChange).where(MeasureChange.object_type == object_type,
                                                            MeasureChange.code == code)
                                .order_by(MeasureChange.version.desc())))


# ---- the in-process cache -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CompiledMeasure:
    code: str
    name: str
    name_en: str
    kind: str
    basis: str
    department: str
    targets: frozenset[str]

    def out(self) -> dict[str, str]:
        return {"code": self.code, "name": self.name, "name_en": self.name_en, "kind": self.kind,
                "basis": self.basis, "department": self.department}


@dataclass
class Rules:
    """Scenarios, measures per scenario and list names at one version (immutable once built)."""

    version: str
    scenarios: dict[str, tuple[str, str]]
    by_scenario: dict[str, tuple[CompiledMeasure, ...]]
    measures: dict[str, CompiledMeasure]
    list_names: dict[str, tuple[str, str]]
    dishonesty_lists: frozenset[str] = DISHONESTY_LISTS
    _memo: dict[tuple[str, frozenset[str]], tuple[dict[str, str], ...]] = field(default_factory=dict)

    def measures_for(self, scenario: str, tags: frozenset[str]) -> tuple[dict[str, str], ...]:
        """The scenario's measures whose ``applies_to`` meets the subject's tags — but no incentive for
        someone on a dishonesty list (a good grade's, or a red list's by decision that a later
        dishonesty listing did not end): incentives are for the honest, as the red lists' rules and
        ``clean_3y`` already hold; the dishonesty list's punishments apply."""
        key = (scenario, tags)
        hit = self._memo.get(key)
        if hit is None:
            barred = not self.dishonesty_lists.isdisjoint(tags)
            hit = tuple(m.out() for m in self.by_scenario.get(scenario, ())
                        if m.targets & tags and not (barred and m.kind == "incentive"))
            if len(self._memo) < 4096:
                self._memo[key] = hit
        return hit

    def valid_scenarios_text(self) -> str:
        return ", ".join(self.scenarios)


def _compile(version: str, scenarios: Sequence[dict[str, Any]], measures: Sequence[dict[str, Any]],
             list_names: dict[str, tuple[str, str]], dishonesty_lists: frozenset[str] = DISHONESTY_LISTS) -> Rules:
    active = {s["code"]: (s["name_zh"], s["name_en"]) for s in scenarios if s.get("active", True)}
    compiled: dict[str, CompiledMeasure] = {}
    by: dict[str, list[CompiledMeasure]] = defaultdict(list)
    for m in measures:
        if not m.get("active", True):
            continue
        cm = CompiledMeasure(m["code"], m["name_zh"], m["name_en"], m["kind"], m["basis"], m["department"],
                             frozenset(m["applies_to"]))
        compiled[cm.code] = cm
        for s in m["scenarios"]:
            if s in active:
                by[s].append(cm)
    return Rules(version, active, {k: tuple(v) for k, v in by.items()}, compiled, list_names, dishonesty_lists)


_lock = threading.Lock()
_rules: dict[str, Rules] = {}


def _list_kinds(session: Session) -> tuple[dict[str, tuple[str, str]], frozenset[str]]:
    """The lists' names, and the codes of the lists of kind ``dishonesty`` (the shipped ones until
    the list kinds are loaded)."""
    names = {code: (code, code) for code in LIST_CODES}
    kinds = list(session.scalars(select(ListKind)))
    names.update({k.code: (k.name_zh, k.name_en) for k in kinds})
    names[CLEAN_3Y] = ("三年内无不良记录", "3 years without bad records")
    dishonesty = frozenset(k.code for k in kinds if k.kind == "dishonesty") if kinds else DISHONESTY_LISTS
    return names, dishonesty


def rules_for(session: Session, version: str | None = None) -> Rules:
    """The rules at the current version (from the cache when the version is known and cached)."""
    if version is None:
        version = _version(session)
    hit = _rules.get(version)
    if hit is not None:
        return hit
    scenarios = [{"code": s.code, "name_zh": s.name_zh, "name_en": s.name_en, "active": s.active}
                 for s in list_scenarios(session)]
    if scenarios:
        measures = [{"code": m.code, "name_zh": m.name_zh, "name_en": m.name_en, "kind": m.kind,
                     "applies_to": m.applies_to, "scenarios": m.scenarios, "department": m.department,
                     "basis": m.basis, "active": m.active} for m in list_measures(session)]
    else:  # not loaded yet: the shipped defaults answer
        default = read_default()
        scenarios, measures = default["scenarios"], default["measures"]
    rules = _compile(version, scenarios, measures, *_list_kinds(session))
    with _lock:
        if len(_rules) > 16:
            _rules.clear()
        _rules[version] = rules
    return rules


_VERSION_SQL = (
    "(SELECT {cat} FROM (SELECT id, changed_at FROM measure_changes ORDER BY id DESC LIMIT 1) mv), "
    "(SELECT {cat} FROM (SELECT count(*) AS id, max(updated_at) AS changed_at FROM list_kinds) lk)"
)


def _cat(dialect: str) -> str:
    return "id || '@' || changed_at" if dialect == "sqlite" else "id::text || '@' || changed_at::text"


def _version(session: Session) -> str:
    conn = session.connection()
    row = conn.exec_driver_sql("SELECT " + _VERSION_SQL.format(cat=_cat(conn.dialect.name))).one()
    return f"{row[0]}|{row[1]}"


# ---- the default status (unknown people, subjects without a status row) -----------------------

@dataclass(frozen=True, slots=True)
class DefaultStatus:
    score: int
    grade: str
    ruleset_version: int


_default: tuple[float, date, DefaultStatus] | None = None
DEFAULT_TTL = 5.0


def forget_default_unless(ruleset_version: int) -> None:
    """Drop the cached default when a status row shows that another ruleset is in force."""
    global _default
    hit = _default
    if hit is not None and hit[2].ruleset_version != ruleset_version:
        _default = None


def cached_default(today: date | None = None) -> DefaultStatus | None:
    """The cached default status if still fresh (see :func:`default_status`), else None."""
    hit = _default
    if hit is not None and hit[1] == (today or clock.today()) and time.monotonic() - hit[0] < DEFAULT_TTL:
        return hit[2]
    return None


def default_status(session: Session, *, today: date | None = None) -> DefaultStatus:
    """scoring's default (the active ruleset's base score and grade), cached a few seconds per process
    and dropped at once when a status row shows another ruleset version."""
    global _default
    day = today or clock.today()
    hit = _default
    if hit is not None and hit[1] == day and time.monotonic() - hit[0] < DEFAULT_TTL:
        return hit[2]
    from xinyong.scoring import service as scoring_service

    d = scoring_service.default_status(session, today=today)
    value = DefaultStatus(int(d.score), str(d.grade), int(d.ruleset_version))
    _default = (time.monotonic(), day, value)
    return value


# ---- the check ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Caller:
    """Who checks: a department (its system key, or one of its officers)."""

    department_id: int
    department_code: str
    actor: Actor


@dataclass
class CheckResult:
    status: int  # 200 answered; 422 refused
    body: dict[str, Any]
    row: dict[str, Any]


def new_check_id() -> str:
    """32 hex digits: the time in milliseconds (12), then 80 random bits (20) — as unguessable as
    needed (a check is read back only by its own department) and ascending, so the register's unique
    index takes each new id at its right edge. Fully random ids put every row of a commit on another
    leaf page of that index: a register flush of 16 rows cost 3.9–4.4 ms instead of 1.5–1.8 ms
    (SQLite, a register of ~10^6 rows). Batch rows' ids start with their job's number instead."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def register_query(bidx: str, *, limit: int = 100, before_id: int | None = None) -> Select[tuple[Check]]:
    """The statement behind :func:`register_of_subject`. Found through ``ix_checks_subject_key`` (the
    blind index's first :data:`~xinyong.measures.models.SUBJECT_KEY_CHARS` digits), then the whole
    blind index compared — as an expression (``|| ''``): SQLite (3.40) propagates a plain
    ``subject_bidx = ?`` into ``substr(subject_bidx, …)``, which then no longer spells the index's
    expression, and scans the table."""
    q = (select(Check).where(subject_key(Check.subject_bidx) == bidx[:SUBJECT_KEY_CHARS],
                             Check.subject_bidx.concat(literal_column("''")) == bidx)
         .order_by(Check.id.desc()).limit(limit))
    if before_id is not None:
        q = q.where(Check.id < before_id)
    return q


def register_of_subject(session: Session, bidx: str, *, limit: int = 100, before_id: int | None = None) -> list[Check]:
    """The register's rows about one person (by the blind index of the ID number: a person unknown to
    the platform when checked has no subject id), newest first, ``limit`` at a time (``before_id``:
    the page after)."""
    return list(session.scalars(register_query(bidx, limit=limit, before_id=before_id)))


def _register_row(caller: Caller, *, check_id: str, checked_at: datetime, channel: str, scenario: str,
                  bidx: str | None, subject_id: int | None, outcome: str, refusal: str | None = None,
                  grade: str | None = None, measures: list[str] | None = None, answer: str | None = None,
                  receipt: str | None = None, job_id: int | None = None) -> dict[str, Any]:
    return {"check_id": check_id, "checked_at": checked_at, "department_id": caller.department_id,
            "actor_type": caller.actor.type, "actor_id": caller.actor.id, "actor_label": caller.actor.label,
            "channel": channel, "scenario": shown_code(scenario), "subject_bidx": bidx, "subject_id": subject_id,
            "outcome": outcome, "refusal": refusal, "grade": grade, "measures": measures, "answer": answer,
            "receipt": receipt, "job_id": job_id, "request_id": request_id_var.get()}


def _status_sql(dialect: str) -> str:
    ph = "?" if dialect == "sqlite" else "%s"
    # Built from constants and the dialect's placeholder only; the blind index is a bound parameter.
    return ("SELECT " + _VERSION_SQL.format(cat=_cat(dialect)) + ", s.id, st.grade, st.lists, st.clean_3y, "  # noqa: S608
            "st.ruleset_version FROM (SELECT 1 AS one) o LEFT JOIN subjects s ON s.id_bidx = " + ph +
            " LEFT JOIN subject_status st ON st.subject_id = s.id")


def _lists_of(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str | bytes):
        value = orjson.loads(value)
    return list(value or [])


def canonical(answer: dict[str, Any]) -> bytes:
    """The bytes a receipt signs: the answer without its receipt, keys sorted, compact UTF-8 JSON."""
    return orjson.dumps({k: v for k, v in answer.items() if k != "receipt"}, option=orjson.OPT_SORT_KEYS)


def _public_b64(ring: KeyRing) -> str:
    raw = ring.receipt_signing_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


_signers: dict[bytes, tuple[Any, str]] = {}  # receipt seed → (private key, public key base64)


def _signer(ring: KeyRing) -> tuple[Any, str]:
    hit = _signers.get(ring.receipt_key)
    if hit is None:
        hit = _signers[ring.receipt_key] = (ring.receipt_signing_key, _public_b64(ring))
    return hit


def receipt_public_key(ring: KeyRing) -> str:
    return _signer(ring)[1]


def sign(ring: KeyRing, message: bytes) -> dict[str, str]:
    key, public = _signer(ring)
    return {"alg": "Ed25519", "public_key": public, "signature": base64.b64encode(key.sign(message)).decode("ascii")}


def verify_receipt(ring: KeyRing, message: bytes, receipt: dict[str, Any]) -> bool:
    key, public = _signer(ring)
    try:
        if receipt.get("public_key") != public:
            return False
        key.public_key().verify(base64.b64decode(str(receipt.get("signature", ""))), message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def refused(caller: Caller, *, ring: KeyRing, code: str, message_zh: str, message_en: str, scenario: str,
            channel: str, fld: str, bidx: str | None = None, subject_id: int | None = None,
            extra: dict[str, Any] | None = None) -> CheckResult:
    """A refused check (invalid ID number, unknown scenario), registered and signed like an answer:
    what was refused, to whom, when — so that a register row cannot be turned from an answer into a
    refusal (or back) without its signature failing."""
    check_id = new_check_id()
    checked_at = utcnow()
    scenario = shown_code(scenario)
    signed = {"check_id": check_id, "checked_at": _stamp(checked_at), "department": caller.department_code,
              "scenario": scenario, "outcome": "refused", "refusal": code}
    message_bytes = canonical(signed)
    row = _register_row(caller, check_id=check_id, checked_at=checked_at, channel=channel, scenario=scenario,
                        bidx=bidx, subject_id=subject_id, outcome="refused", refusal=code,
                        answer=message_bytes.decode("utf-8"),
                        receipt=orjson.dumps(sign(ring, message_bytes)).decode("utf-8"))
    message = f"{message_zh} / {message_en}"
    body: dict[str, Any] = {"code": code, "message": message, "check_id": check_id,
                            "errors": [{"field": fld, "code": code, "message": message, **(extra or {})}]}
    return CheckResult(422, body, row)


def run_check(session: Session, *, vault: Vault, caller: Caller, id_number: str, scenario: str,
              channel: str = "api", today: date | None = None) -> CheckResult:
    """Answer one check from the subject's precomputed status; build (not write) its register row.
    Refusals (invalid ID number, unknown scenario) are answered 422 and registered too."""
    scenario = scenario if isinstance(scenario, str) else ""
    try:
        facts = identity.check(id_number, today)
    except identity.InvalidIdNumber as exc:
        return refused(caller, ring=vault.ring, code=exc.code, message_zh=exc.message_zh, message_en=exc.message_en,
                       scenario=scenario, channel=channel, fld="id_number")
    bidx = vault.lookup_key(facts.number)
    conn = session.connection()
    row = conn.exec_driver_sql(_status_sql(conn.dialect.name), (bidx,)).one()
    rules = rules_for(session, f"{row[0]}|{row[1]}")
    default = default_status(session, today=today) if row[3] is None else None
    return answer_check(row, vault=vault, caller=caller, number=facts.number, bidx=bidx, scenario=scenario,
                        rules=rules, default=default, channel=channel)


def _stamp(moment: datetime) -> str:
    """A check's time as its answer states it (UTC, ``Z``)."""
    return moment.isoformat().replace("+00:00", "Z")


def answer_check(row: Sequence[Any], *, vault: Vault, caller: Caller, number: str, bidx: str, scenario: str,
                 rules: Rules, default: DefaultStatus | None, channel: str = "api") -> CheckResult:
    """The answer (and its register row) from one row of :func:`_status_sql` (versions, subject id,
    status columns) and the rules at those versions; ``default`` is needed when there is no status row."""
    subject_id = row[2]
    if scenario not in rules.scenarios:
        shown = shown_code(scenario)
        return refused(caller, ring=vault.ring, code="unknown_scenario", scenario=shown, channel=channel,
                       fld="scenario",
                       bidx=bidx, subject_id=subject_id,
                       message_zh=(f"未知场景 {shown}" if str(scenario).strip() else "未填写场景")
                       + f"；可用场景：{rules.valid_scenarios_text()}",
                       message_en=(f"unknown scenario {shown!r}" if str(scenario).strip() else "no scenario given")
                       + f"; valid scenarios: {rules.valid_scenarios_text()}",
                       extra={"valid": list(rules.scenarios)})
    names = rules.list_names
    if row[3] is not None:  # a status row
        grade, ruleset_version, clean = row[3], int(row[6]), bool(row[5])
        entries = _lists_of(row[4])
        forget_default_unless(ruleset_version)
    else:
        if default is None:
            raise ValueError("no status row: the default status is needed")
        grade, ruleset_version, entries, clean = default.grade, default.ruleset_version, [], subject_id is not None
    lists_out = []
    tags = {f"grade:{grade}"}
    for e in entries:
        code = e.get("code")
        zh, en = names.get(code, (code, code))
        lists_out.append({"code": code, "name": zh, "name_en": en, "since": e.get("since")})
        tags.add(code)
    if clean:
        tags.add(CLEAN_3Y)
    measures = rules.measures_for(scenario, frozenset(tags))
    check_id = new_check_id()
    checked_at = utcnow()
    zh_s, en_s = rules.scenarios[scenario]
    answer: dict[str, Any] = {
        "check_id": check_id, "checked_at": _stamp(checked_at),
        "department": caller.department_code, "scenario": scenario, "scenario_name": zh_s,
        "scenario_name_en": en_s, "id_number_masked": mask_id_number(number), "known": subject_id is not None,
        "grade": grade, "ruleset_version": ruleset_version, "lists": lists_out, "clean_3y": clean,
        "measures": list(measures), "measures_version": rules.version,
    }
    if subject_id is None:
        answer["note"] = f"{UNKNOWN_NOTE[0]} / {UNKNOWN_NOTE[1]}"
    message = canonical(answer)
    receipt = sign(vault.ring, message)
    answer["receipt"] = receipt
    reg = _register_row(caller, check_id=check_id, checked_at=checked_at, channel=channel, scenario=scenario,
                        bidx=bidx, subject_id=subject_id, outcome="answered", grade=grade,
                        measures=[m["code"] for m in measures], answer=message.decode("utf-8"),
                        receipt=orjson.dumps(receipt).decode("utf-8"))
    return CheckResult(200, answer, reg)


# ---- the check API's fast path ---------------------------------------------------------------------

_fast_sql: dict[str, str] = {}


def _fast_check_sql(dialect: str) -> str:
    """The status query of :func:`_status_sql` with the caller's API key (and its department) joined
    in by its prefix: versions, subject, status and key in ONE statement (parameters: blind index, prefix)."""
    sql = _fast_sql.get(dialect)
    if sql is None:
        ph = "?" if dialect == "sqlite" else "%s"
        base = _status_sql(dialect)
        cols = base.index(" FROM (SELECT 1 AS one) o")
        sql = _fast_sql[dialect] = (base[:cols] + ", " + FAST_KEY_COLUMNS + base[cols:] + " "
                                    + FAST_KEY_JOIN.format(ph=ph))
    return sql


def _fetch_one(conn: Connection, sql: str, params: tuple[Any, ...]) -> Any:
    """One row by the driver itself; its errors become SQLAlchemy's (a dead connection is invalidated
    and flagged ``connection_invalidated``), as if run by ``exec_driver_sql``."""
    dialect = conn.dialect
    try:
        # One cursor per connection, kept with it (a new psycopg cursor per statement cost ~40 % of
        # the statement's client time). fetchall, not fetchone: the statement runs to its end and is
        # reset, so a connection kept between requests (Database.hot_connection) holds no read snapshot.
        cursor = conn.info.get("hot_cursor")
        if cursor is None:
            cursor = conn.info["hot_cursor"] = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    except dialect.loaded_dbapi.Error as exc:
        dead = dialect.is_disconnect(exc, conn.connection.dbapi_connection, None)
        if dead:
            conn.invalidate(exc)
        raise DBAPIError.instance(sql, params, exc, dialect.loaded_dbapi.Error, connection_invalidated=dead,
                                  dialect=dialect) from exc
    return rows[0]


@dataclass(frozen=True, slots=True)
class FastCheck:
    principal: Principal
    result: CheckResult


def fast_check(conn: Connection, *, vault: Vault, secret: str, id_number: str, scenario: str,
               permission: str = "checks.run") -> FastCheck | None:
    """A check by an API key in one statement on ``conn`` (no ORM, no session), or None whenever the
    request must take the full path (:func:`run_check` behind ``require``), which answers and audits
    every refusal: a missing, wrong, revoked or forbidden key or inactive department, an invalid ID
    number, rules or the default status not in this process's cache. The key's validity is read on
    every request (a revoked key is refused on its very next request). The key's last-use stamp, when
    due, travels in the register row (``key_stamp``) like :func:`xinyong.auth.service.take_key_stamp`'s."""
    prefix = parse_api_key(secret)
    if prefix is None:
        return None
    try:
        facts = identity.check(id_number)
    except identity.InvalidIdNumber:
        return None
    bidx = vault.lookup_key(facts.number)
    # On the driver's own connection: SQLAlchemy's result machinery would cost as much as the query.
    # No transaction is begun for it: SQLite runs a lone SELECT in autocommit, and so does PostgreSQL
    # on the connection the API lends (or the test's open transaction). The driver keeps the statement
    # prepared (sqlite3's statement cache; psycopg after ``prepare_threshold`` uses).
    row = _fetch_one(conn, _fast_check_sql(conn.dialect.name), (bidx, prefix))
    principal, stamp = fast_api_key_principal(row[7:15], secret=secret)
    if principal is None or principal.department_id is None or not allowed(principal.role, permission):
        return None
    rules = _rules.get(f"{row[0]}|{row[1]}")
    default = cached_default() if row[3] is None else None
    if rules is None or (row[3] is None and default is None):
        return None
    caller = Caller(principal.department_id, row[13], principal.actor)
    result = answer_check(row, vault=vault, caller=caller, number=facts.number, bidx=bidx, scenario=scenario,
                          rules=rules, default=default)
    if stamp is not None:
        result.row["key_stamp"] = (principal.id, stamp)
    return FastCheck(principal, result)


def register_checks(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Write register rows and their audit entries in the caller's transaction.

    The register row is the check's full record (department, key, scenario, blind index, outcome,
    answer, receipt); the audit log gets one ``checks.run`` entry per caller and outcome in the
    batch, listing each check (id, scenario, refusal, request id) — the batch-entry rule of
    ingestion (docs/architecture.md): same transaction, sealed and verifiable, a fraction of the rows.
    """
    if not rows:
        return
    stamps = {r["key_stamp"] for r in rows if r.get("key_stamp")}
    bulk.insert_rows(session, _CHECKS, [{k: v for k, v in r.items() if k != "key_stamp"} for r in rows])
    for key_id, used_at in stamps:
        session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=used_at))
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["actor_type"], r["actor_id"], r["actor_label"], r["department_id"], r["outcome"])].append(r)
    for (atype, aid, label, dept, outcome), items in groups.items():
        # Core, not the ORM's unit of work: the writer's flush is on the check API's hot path.
        record_many(session, actor=Actor(type=atype, id=aid, label=label, department_id=dept), action="checks.run",
                    object_type="check", outcome="ok" if outcome == "answered" else "denied",
                    items=[(items[0]["check_id"] if len(items) == 1 else None,
                            {"checks": [[r["check_id"], r["scenario"], r["channel"], r["refusal"], r["request_id"]]
                                        for r in items]})])


# ---- reading a check back -------------------------------------------------------------------------

def get_check(session: Session, *, check_id: str, department_id: int | None, any_department: bool) -> Check:
    row = session.scalar(select(Check).where(Check.check_id == check_id)) if re.fullmatch(
        r"[0-9a-f]{32}", check_id or "") else None
    if row is None:
        raise MeasuresError(404, "not_found", "没有这次核查", "no such check")
    if not any_department and row.department_id != department_id:
        raise MeasuresError(403, "other_department", "这是其他部门的核查", "this check belongs to another department")
    return row


UNSIGNED_NOTE = {
    "batch": "名单比对的核查逐行登记，不单独签名：其答复见比对任务的结果文件 / a batch comparison row is registered, "
             "not signed on its own: its answer is the comparison job's result file",
    "missing": "这次核查的登记没有签名，而单次核查的答复和拒绝都有签名：登记可能被改动 / this check's register entry "
               "has no signature, though every single check's answer and refusal is signed: it may have been altered",
    "legacy": "这次被拒绝的核查登记于拒绝也签名之前，因此没有签名 / this refused check was registered before refusals "
              "were signed, so it has no signature",
}


def refusals_signed_since(session: Session) -> int | None:
    """From when (ms, as check ids count time) every refusal is signed (migration 0011)."""
    row = session.get(RegisterEpoch, "refusals_signed")
    return row.since_ms if row is not None else None


def _minted_ms(check_id: str) -> int | None:
    """The moment a single check's id was made (its first 12 hex digits: :func:`new_check_id`)."""
    try:
        return int(check_id[:12], 16)
    except ValueError:
        return None


def _answered_codes(answer: dict[str, Any]) -> list[Any] | None:
    measures = answer.get("measures")
    if not isinstance(measures, list):
        return None
    return [m.get("code") if isinstance(m, dict) else None for m in measures]


def _matches_register(answer: dict[str, Any], check: Check, department_code: str | None) -> bool:
    """Whether the register row's own columns (read by feedback, statistics and the citizen's
    view) say what the signed answer says."""
    if answer.get("check_id") != check.check_id or answer.get("scenario") != check.scenario:
        return False
    if department_code is not None and answer.get("department") != department_code:
        return False
    if check.outcome == "refused":
        return answer.get("outcome") == "refused" and answer.get("refusal") == check.refusal
    return (check.outcome == "answered" and "outcome" not in answer and answer.get("grade") == check.grade
            and _answered_codes(answer) == list(check.measures or []))


def stored_answer(ring: KeyRing, check: Check, department_code: str | None = None,
                  refusals_signed_ms: int | None = None) -> tuple[dict[str, Any], bool | None]:
    """The stored answer (or refusal) with its receipt, and whether it verifies: the signature over
    the stored answer, and the register row's columns (outcome, grade, measure codes, scenario,
    department) agreeing with it. ``None`` only for a batch comparison row, which is not signed on
    its own (its job's result file is): ``False`` means the register was altered after the fact,
    including a single check's row that lost its signature — but a refusal registered before
    refusals were signed (``refusals_signed_ms``, :func:`refusals_signed_since`) is ``None`` too.

    ``department_code``: the code of the row's department, compared with the signed answer's."""
    if check.answer is None and check.receipt is None:
        described = {"check_id": check.check_id, "checked_at": _stamp(check.checked_at), "channel": check.channel,
                     "scenario": check.scenario, "outcome": check.outcome, "refused": check.refusal,
                     "grade": check.grade, "measure_codes": list(check.measures or []), "job_id": check.job_id}
        if check.channel == "batch" and check.job_id is not None and \
                check.check_id.startswith(f"{check.job_id:012x}"):
            return {**described, "note": UNSIGNED_NOTE["batch"]}, None
        minted = _minted_ms(check.check_id)
        if check.outcome == "refused" and check.channel != "batch" and refusals_signed_ms is not None and \
                minted is not None and minted < refusals_signed_ms:
            return {**described, "note": UNSIGNED_NOTE["legacy"]}, None
        return {**described, "note": UNSIGNED_NOTE["missing"]}, False
    if check.answer is None or check.receipt is None:
        return {"check_id": check.check_id, "refused": check.refusal}, False
    try:
        answer = orjson.loads(check.answer)
        receipt = orjson.loads(check.receipt)
    except orjson.JSONDecodeError:
        return {"check_id": check.check_id}, False
    if not isinstance(answer, dict):
        return {"check_id": check.check_id}, False
    ok = isinstance(receipt, dict) and verify_receipt(ring, check.answer.encode("utf-8"), receipt) and \
        _matches_register(answer, check, department_code)
    answer["receipt"] = receipt
    if answer.get("outcome") == "refused":
        answer["refused"] = answer.get("refusal")  # as an unsigned row was described
    return answer, ok


# ---- feedback -------------------------------------------------------------------------------------

def add_feedback(session: Session, *, check_id: str, caller_department_id: int | None, measure: str,
                 applied: bool, note: str | None, actor: Actor, ring: KeyRing) -> CheckFeedback:
    """A department reports whether it applied a measure of one of its checks. Audited."""
    try:
        check = get_check(session, check_id=check_id, department_id=caller_department_id, any_department=False)
    except MeasuresError as exc:
        record(session, actor=actor, action="checks.feedback", object_type="check", object_id=check_id[:64],
               outcome="denied", details={"code": exc.code, "measure": shown_code(str(measure))})
        raise
    # Feedback is on what the signed answer said, never on register columns altered since (a batch
    # comparison row, not signed on its own, on its register row).
    dept = session.get(Department, check.department_id)
    answer, ok = stored_answer(ring, check, dept.code if dept is not None else "", refusals_signed_since(session))
    if ok is False:
        record(session, actor=actor, action="checks.feedback", object_type="check", object_id=check_id,
               outcome="denied", details={"code": "check_unverified", "measure": shown_code(str(measure))})
        raise MeasuresError(409, "check_unverified", "这次核查的登记与其签名不符，不能反馈，请联系信用办",
                            "this check's register entry does not match its signature: no feedback; "
                            "contact the credit office")
    answered = list(check.measures or []) if ok is None else \
        [c for c in (_answered_codes(answer) or []) if isinstance(c, str)]
    if measure not in answered:
        shown = shown_code(str(measure))
        record(session, actor=actor, action="checks.feedback", object_type="check", object_id=check_id,
               outcome="denied", details={"code": "unknown_measure", "measure": shown})
        listed_zh, listed_en = ", ".join(answered) or "无", ", ".join(answered) or "none"
        if not str(measure).strip():  # said so; the code stays unknown_measure (docs/integration.md § 3), as an
            # empty scenario's stays unknown_scenario: an empty code is none of those answered
            zh, en = (f"未填写措施代码（答复的措施：{listed_zh}）",
                      f"no measure code given (answered: {listed_en})")
        else:
            zh, en = (f"措施 {shown} 不在这次核查的答复中（答复的措施：{listed_zh}）",
                      f"measure {shown!r} is not in this check's answer (answered: {listed_en})")
        raise MeasuresError(422, "unknown_measure", zh, en, field="measure")
    fb = CheckFeedback(check_id=check_id, department_id=check.department_id, measure=measure, applied=applied,
                       note=mask_id_numbers_in(_CONTROL.sub("", note)) if note else note, actor_label=actor.label, created_at=utcnow())
    session.add(fb)
    session.flush()
    record(session, actor=actor, action="checks.feedback", object_type="check", object_id=check_id,
           details={"measure": measure, "applied": applied, "feedback_id": fb.id})
    return fb


@dataclass
class ChannelCounts:
    answered: int = 0
    feedback: int = 0
    applied: int = 0


@dataclass
class FeedbackStat:
    department_code: str
    department_name: str
    measure: str
    measure_name: str
    answered: int = 0
    feedback: int = 0
    applied: int = 0
    department_name_en: str = ""
    measure_name_en: str = ""
    # The same counts per channel (api, page, batch): a batch comparison answers thousands of rows
    # at once, rarely reported back one by one, and would otherwise drown the single checks' rate.
    by_channel: dict[str, ChannelCounts] = field(default_factory=dict)

    @property
    def feedback_rate(self) -> float | None:
        return None if not self.answered else round(self.feedback / self.answered, 4)

    @property
    def applied_rate(self) -> float | None:
        return None if not self.answered else round(self.applied / self.answered, 4)

    @property
    def batch_answered(self) -> int:
        c = self.by_channel.get("batch")
        return c.answered if c else 0

    @property
    def single_feedback_rate(self) -> float | None:
        """反馈率 of the single checks (API and page), batch comparison rows left out."""
        answered = self.answered - self.batch_answered
        feedback = self.feedback - (self.by_channel["batch"].feedback if "batch" in self.by_channel else 0)
        return None if not answered else round(feedback / answered, 4)


def _measure_elements(dialect: str) -> Any:
    """The codes of a register row's ``measures`` array as a table (one row per code), to join to
    ``checks``; anything but an array (SQL or JSON null) gives no row."""
    if dialect == "postgresql":
        arr = case((func.json_typeof(Check.measures) == "array", Check.measures),
                   else_=literal_column("'[]'::json"))
        return func.json_array_elements_text(arr).table_valued("value").alias("m")
    arr = case((func.json_type(Check.measures) == "array", Check.measures), else_=literal_column("'[]'"))
    return func.json_each(arr).table_valued("value").alias("m")


def feedback_stats(session: Session, *, since: date | None = None) -> list[FeedbackStat]:
    """Per department and measure (and per channel): how often the measure was answered, reported
    back (反馈率) and applied. Counts the latest feedback per (check, measure) once.

    Counted by the database (GROUP BY over the register's measure codes): the register grows by
    every check, and reading its rows into Python took ~20 s at 10^6 checks (SQLite)."""
    depts = {d.id: d for d in session.scalars(select(Department))}
    rules = rules_for(session)
    stats: dict[tuple[int, str], FeedbackStat] = {}
    retired: dict[str, tuple[str, str]] = {}  # code → names of measures the rules in force leave out

    def stat(dept_id: int, code: str) -> FeedbackStat:
        s = stats.get((dept_id, code))
        if s is None:
            d = depts.get(dept_id)
            m = rules.measures.get(code)
            zh, en = (m.name, m.name_en) if m else retired.get(code, (code, code))
            s = stats[(dept_id, code)] = FeedbackStat(
                d.code if d else str(dept_id), d.name if d else "", code, zh,
                department_name_en=(d.name_en or d.name) if d else "", measure_name_en=en)
        return s

    m = _measure_elements(session.get_bind().dialect.name)
    q = (select(Check.department_id, Check.channel, m.c.value, func.count())
         .select_from(Check).join(m, true())
         .where(Check.outcome == "answered")
         .group_by(Check.department_id, Check.channel, m.c.value))
    latest = select(func.max(CheckFeedback.id)).group_by(CheckFeedback.check_id, CheckFeedback.measure)
    fq = (select(CheckFeedback.department_id, Check.channel, CheckFeedback.measure, func.count(),
                 func.sum(case((CheckFeedback.applied, 1), else_=0)))
          .join(Check, Check.check_id == CheckFeedback.check_id)
          .where(CheckFeedback.id.in_(latest))
          .group_by(CheckFeedback.department_id, Check.channel, CheckFeedback.measure))
    start = clock.utc_instant(since, datetime.min.time())  # the district's day, not UTC's (None: no bound)
    if start is not None:
        q = q.where(Check.checked_at >= start)
        fq = fq.where(Check.checked_at >= start)
    answered = session.execute(q).all()
    fed_back = session.execute(fq).all()
    # A retired measure (active: false) is not among the rules' measures, which answer checks; its
    # rows were answered while it was in force, and are named by its latest definition.
    unnamed = {r[2] for r in (*answered, *fed_back)} - rules.measures.keys()
    if unnamed:
        retired.update({code: (zh, en) for code, zh, en in session.execute(
            select(Measure.code, Measure.name_zh, Measure.name_en).where(Measure.code.in_(sorted(unnamed))))})
    for dept_id, chan, code, n in answered:
        s = stat(dept_id, code)
        s.answered += n
        s.by_channel.setdefault(chan, ChannelCounts()).answered += n
    for dept_id, chan, code, n, applied in fed_back:
        s = stat(dept_id, code)
        s.feedback += n
        s.applied += int(applied or 0)
        c = s.by_channel.setdefault(chan, ChannelCounts())
        c.feedback += n
        c.applied += int(applied or 0)
    return sorted(stats.values(), key=lambda s: (s.department_code, s.measure))
