"""Lists: red lists, serious-dishonesty and key-supervision lists, the dishonest-debtor list.

* List kinds are data (``default_lists.yaml`` → ``list_kinds``, every version kept in
  ``list_kind_versions``; an edit bumps ``version`` and is audited).
* A dishonesty listing by decision goes ``propose`` → ``notify`` (the defence deadline is N working
  days after notification on China's official calendar) → ``defend`` (before the deadline) →
  ``decide`` (list, once the deadline passed or a defence was received; or reject) → ``remove``.
* Red lists: ``add`` (by decision, straight to listed) or ``refresh`` (by rule, set-based).
* The dishonest-debtor list follows its catalog item (:func:`sync_catalog_records`, called by the
  ``records_changed`` handler): an active record lists its subject, its end removes the entry.
* ``clean_3y``: "3 years without bad records", computed from :mod:`xinyong.records.standing` and
  readable like a list.

Every step is audited with actor and reason and announced with ``events.lists_changed`` in the
caller's transaction. Nothing here commits.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from sqlalchemy import Select, and_, false, func, or_, select, true, update
from sqlalchemy.orm import Session

from xinyong import bulk, clock, events
from xinyong.audit.service import Actor, record, record_many, record_refusal
from xinyong.auth.models import Department
from xinyong.bulk import in_values
from xinyong.catalog.spec import TEXT_CONTROL_CHARS
from xinyong.db import utcnow
from xinyong.domain_errors import BilingualError
from xinyong.lists.models import MANUAL_REMOVAL_KINDS, OPEN_STATUSES, ListEntry, ListKind, ListKindVersion
from xinyong.privacy.masking import mask_id_numbers_in
from xinyong.records.models import Record
from xinyong.records.standing import BAD_CATEGORIES, NOT_COUNTING, not_clean_subjects
from xinyong.subjects.models import Subject
from xinyong.subjects.service import lock_subjects
from xinyong.workdays import add_working_days

DEFAULT_LISTS = Path(__file__).parent / "default_lists.yaml"
KINDS = ("red", "dishonesty")
SOURCES = ("decision", "rule", "catalog")
DEFAULT_DEFENCE_DAYS = 5
CLEAN_3Y = "clean_3y"  # the pseudo-list "3 years without bad records"
CLEAN_YEARS = 3
MAX_REASON = 2000
_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
_ENTRY = ListEntry.__table__


class ListError(BilingualError):
    """A refusal from this domain, with the HTTP status the API answers."""

    def __init__(self, code: str, zh: str, en: str, field: str | None = None, status: int = 422) -> None:
        super().__init__(code, zh, en, field)
        self.status = status


# ---- list kinds as data --------------------------------------------------------------------------

def _bad(path: str, zh: str, en: str) -> ListError:
    return ListError("invalid_list_kind", f"{path}：{zh}", f"{path}: {en}", path)


def _text(d: Mapping[str, Any], key: str, path: str, limit: int = 128) -> str:
    v = d.get(key)
    if not isinstance(v, str) or not v.strip() or len(v) > limit or TEXT_CONTROL_CHARS.search(v):
        raise _bad(f"{path}.{key}", f"应为1至{limit}个字符的文本", f"must be text of 1-{limit} characters")
    return v.strip()


def _months(v: Any, path: str) -> int | None:
    if v is None:
        return None
    if type(v) is not int or not 1 <= v <= 240:
        raise _bad(path, "应为1至240的整数（月）或 null", "must be a whole number of months (1-240) or null")
    return v


def parse_kind(d: Any, path: str = "list") -> dict[str, Any]:
    """Check one list kind as data (YAML or an admin's edit); the normalised data, or ListError."""
    if not isinstance(d, Mapping):
        raise _bad(path, "应为对象", "must be a mapping")
    unknown = set(d) - {"code", "name_zh", "name_en", "kind", "source", "public", "params"}
    if unknown:
        raise _bad(f"{path}.{sorted(unknown)[0]}", "不允许的字段", "unknown field")
    code = d.get("code")
    if not isinstance(code, str) or not _CODE.match(code) or code == CLEAN_3Y:
        raise _bad(f"{path}.code", "应为2至32位小写字母、数字或下划线", "must be 2-32 lower-case letters, digits or '_'")
    kind, source = d.get("kind"), d.get("source")
    if kind not in KINDS:
        raise _bad(f"{path}.kind", "应为 red 或 dishonesty", "must be red or dishonesty")
    if source not in SOURCES:
        raise _bad(f"{path}.source", "应为 decision、rule 或 catalog", "must be decision, rule or catalog")
    if source == "rule" and kind != "red":
        raise _bad(f"{path}.source", "只有红名单可以按规则计算", "only red lists are computed by rule")
    public = d.get("public", False)
    if not isinstance(public, bool):
        raise _bad(f"{path}.public", "应为 true 或 false", "must be true or false")
    raw = d.get("params") or {}
    if not isinstance(raw, Mapping):
        raise _bad(f"{path}.params", "应为对象", "must be a mapping")
    unknown = set(raw) - {"defence_working_days", "duration_months", "legal_basis", "categories", "rule", "item"}
    if unknown:
        raise _bad(f"{path}.params.{sorted(unknown)[0]}", "不允许的参数", "unknown parameter")
    params: dict[str, Any] = {"duration_months": _months(raw.get("duration_months"), f"{path}.params.duration_months")}
    if raw.get("legal_basis") is not None:
        params["legal_basis"] = _shown(_text(raw, "legal_basis", f"{path}.params", MAX_REASON))
    if kind == "dishonesty" and source == "decision":
        days = raw.get("defence_working_days", DEFAULT_DEFENCE_DAYS)
        if type(days) is not int or not 1 <= days <= 60:
            raise _bad(f"{path}.params.defence_working_days", "应为1至60的整数", "must be a whole number 1-60")
        params["defence_working_days"] = days
    cats = raw.get("categories")
    if cats is not None:
        if not isinstance(cats, list) or not cats:
            raise _bad(f"{path}.params.categories", "应为非空列表", "must be a non-empty list")
        seen: list[dict[str, str]] = []
        for i, c in enumerate(cats):
            p = f"{path}.params.categories[{i}]"
            if not isinstance(c, Mapping) or set(c) != {"code", "name_zh", "name_en"}:
                raise _bad(p, "应包含 code、name_zh、name_en", "must hold code, name_zh and name_en")
            cc = c["code"]
            if not isinstance(cc, str) or not _CODE.match(cc) or cc in {s["code"] for s in seen}:
                raise _bad(f"{p}.code", "类别代码无效或重复", "category code invalid or repeated")
            seen.append({"code": cc, "name_zh": _shown(_text(c, "name_zh", p, 200)),
                         "name_en": _shown(_text(c, "name_en", p, 200))})
        params["categories"] = seen
    if source == "rule":
        params["rule"] = _parse_rule(raw.get("rule"), f"{path}.params.rule")
    elif raw.get("rule") is not None:
        raise _bad(f"{path}.params.rule", "只有按规则计算的名单可以有规则", "only a list with source rule has a rule")
    if source == "catalog":
        params["item"] = _text(raw, "item", f"{path}.params", 64)
    return {"code": code, "name_zh": _shown(_text(d, "name_zh", path)), "name_en": _shown(_text(d, "name_en", path)),
            "kind": kind, "source": source, "public": public, "params": params}


def _shown(text: str) -> str:
    """A kind's text as kept and shown — its names, its categories', its legal basis: on every list
    page, in every entry (the basis) and, for a public list, on the public site — with any ID number
    written in it masked, as the catalog's and the measures' texts are."""
    return mask_id_numbers_in(text)


def _parse_rule(r: Any, path: str) -> dict[str, Any]:
    if not isinstance(r, Mapping):
        raise _bad(path, "按规则计算的名单须有规则", "a list with source rule needs a rule")
    unknown = set(r) - {"item", "field", "at_least", "one_of", "clean_years"}
    if unknown:
        raise _bad(f"{path}.{sorted(unknown)[0]}", "不允许的参数", "unknown parameter")
    out: dict[str, Any] = {"item": _text(r, "item", path, 64), "field": _text(r, "field", path, 64)}
    if ("at_least" in r) == ("one_of" in r):
        raise _bad(path, "须有 at_least 或 one_of 之一", "needs exactly one of at_least or one_of")
    if "at_least" in r:
        v = r["at_least"]
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
            raise _bad(f"{path}.at_least", "应为非负数", "must be a non-negative number")
        out["at_least"] = v
    else:
        v = r["one_of"]
        if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
            raise _bad(f"{path}.one_of", "应为非空文本列表", "must be a non-empty list of text")
        out["one_of"] = list(v)
    years = r.get("clean_years", CLEAN_YEARS)
    if type(years) is not int or not 0 <= years <= 10:
        raise _bad(f"{path}.clean_years", "应为0至10的整数", "must be a whole number 0-10")
    out["clean_years"] = years
    return out


def read_yaml(path: Path = DEFAULT_LISTS) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("lists"), list):
        raise _bad("lists", "名单文件应包含 lists 列表", "the file must hold a list 'lists'")
    kinds = [parse_kind(d, f"lists[{i}]") for i, d in enumerate(data["lists"])]
    codes = [k["code"] for k in kinds]
    if len(set(codes)) != len(codes):
        raise _bad("lists", "名单代码重复", "duplicate list codes")
    return kinds


def kind_data(row: ListKind) -> dict[str, Any]:
    return {"code": row.code, "name_zh": row.name_zh, "name_en": row.name_en, "kind": row.kind,
            "source": row.source, "public": row.public, "params": copy.deepcopy(row.params)}


def _history(session: Session, data: dict[str, Any], version: int, actor: Actor, note: str | None) -> None:
    session.add(ListKindVersion(code=data["code"], version=version, data=data, created_by=actor.label,
                                change_note=None if note is None else mask_id_numbers_in(note)))


def load_kinds(session: Session, kinds: Sequence[dict[str, Any]], *, actor: Actor,
               update_existing: bool = False) -> dict[str, str]:
    """Insert kinds not yet present; with ``update_existing``, a new version of those that differ.
    Returns {code: created | updated | unchanged}. Safe to run twice."""
    current = {r.code: r for r in session.scalars(select(ListKind))}
    out: dict[str, str] = {}
    for data in kinds:
        row = current.get(data["code"])
        if row is None:
            row = ListKind(code=data["code"], name_zh=data["name_zh"], name_en=data["name_en"], kind=data["kind"],
                           source=data["source"], public=data["public"], params=data["params"], version=1)
            session.add(row)
            session.flush()
            _history(session, data, 1, actor, "default lists")
            record(session, actor=actor, action="list_kind.create", object_type="list_kind", object_id=row.code,
                   details={"version": 1})
            out[data["code"]] = "created"
            if row.source == "catalog":
                session.flush()
                sync_catalog_item(session, row.params.get("item", row.code), actor=actor)
        elif update_existing and kind_data(row) != data:
            _apply(session, row, data, actor, "default lists update")
            out[data["code"]] = "updated"
        else:
            out[data["code"]] = "unchanged"
    session.flush()
    return out


def load_default(session: Session, *, actor: Actor, update_existing: bool = False) -> dict[str, str]:
    return load_kinds(session, read_yaml(), actor=actor, update_existing=update_existing)


def _apply(session: Session, row: ListKind, data: dict[str, Any], actor: Actor, note: str | None) -> None:
    if data["kind"] != row.kind or data["source"] != row.source:
        raise ListError("kind_fixed", "名单的类型和来源不能修改", "a list's kind and source cannot change", "kind")
    before = kind_data(row)
    row.name_zh, row.name_en, row.public, row.params = data["name_zh"], data["name_en"], data["public"], data["params"]
    row.version += 1
    row.updated_at = utcnow()
    _history(session, data, row.version, actor, note)
    changed = sorted(k for k in data if data[k] != before[k])
    record(session, actor=actor, action="list_kind.update", object_type="list_kind", object_id=row.code,
           details={"version": row.version, "previous": row.version - 1, "changed": changed, "note": note,
                    "before": before["params"] if "params" in changed else None})
    session.flush()


def update_kind(session: Session, *, code: str, data: Mapping[str, Any], actor: Actor,
                note: str | None = None) -> ListKind:
    """An admin's edit: a new version of the kind (its kind and source stay). Unchanged data: no version."""
    row = get_kind(session, code)
    new = parse_kind({**data, "code": code}, code)
    if new != kind_data(row):
        _apply(session, row, new, actor, note)
    return row


def versions(session: Session, code: str) -> list[ListKindVersion]:
    return list(session.scalars(select(ListKindVersion).where(ListKindVersion.code == code)
                                .order_by(ListKindVersion.version)))


def get_kind(session: Session, code: str) -> ListKind:
    row = session.scalar(select(ListKind).where(ListKind.code == code)) if isinstance(code, str) else None
    if row is None:
        raise ListError("unknown_list", f"名单 {str(code)[:32]} 不存在", f"no list {str(code)[:32]}", "list", 404)
    return row


# built once: constructing an ORM select costs ~0.25 ms, as much as running this one (every batch)
_ALL_KINDS = select(ListKind).order_by(ListKind.kind.desc(), ListKind.id)


def all_kinds(session: Session) -> list[ListKind]:
    return list(session.scalars(_ALL_KINDS))


def categories_of(kind: ListKind) -> dict[str, dict[str, str]]:
    return {c["code"]: c for c in kind.params.get("categories") or ()}


def counts_by_list(session: Session, *, department_id: int | None = None,
                   scoped: bool = False) -> dict[str, dict[str, int]]:
    """{list code: {status: entries}}; ``scoped`` restricts to one department's entries."""
    stmt = select(ListEntry.list_code, ListEntry.status, func.count()).group_by(ListEntry.list_code, ListEntry.status)
    if scoped:
        stmt = stmt.where(ListEntry.department_id == department_id) if department_id else stmt.where(false())
    out: dict[str, dict[str, int]] = {}
    for code, status, n in session.execute(stmt):
        out.setdefault(code, {})[status] = n
    return out


# ---- reading entries -------------------------------------------------------------------------------

def get_entry(session: Session, entry_id: int, *, department_id: int | None = None, scoped: bool = False) -> ListEntry:
    """The entry; with ``scoped``, only one of that department (otherwise not found, as if absent)."""
    entry = session.get(ListEntry, entry_id)
    if entry is None or (scoped and (department_id is None or entry.department_id != department_id)):
        raise ListError("not_found", "名单条目不存在", "list entry not found", "entry_id", 404)
    return entry


# What a person has been told of, and so may read and answer: a proposal only once they were notified,
# never one rejected before that (a red or catalog-fed listing is listed at once, without a notice).
TOLD_STATUSES = ("notified", "listed", "rejected", "removed")


def told_of(entry: ListEntry) -> bool:
    """Whether the entry's person was told of it (/my/lists and the API answer the citizen by this)."""
    return entry.status in TOLD_STATUSES and not (entry.status == "rejected" and entry.notified_at is None)


def told_clause() -> Any:
    """:func:`told_of` as a WHERE clause."""
    return and_(ListEntry.status.in_(TOLD_STATUSES),
                or_(ListEntry.status != "rejected", ListEntry.notified_at.is_not(None)))


def entries_stmt(*, code: str | None = None, status: str | None = None, department_id: int | None = None,
                 scoped: bool = False, before_id: int | None = None, subject_id: int | None = None) -> Select[Any]:
    """Entries newest first (paged by ``before_id``), filtered; one department's with ``scoped``."""
    stmt = select(ListEntry).order_by(ListEntry.id.desc())
    if code:
        stmt = stmt.where(ListEntry.list_code == code)
    if status:
        stmt = stmt.where(ListEntry.status == status)
    if scoped:
        stmt = stmt.where(ListEntry.department_id == department_id) if department_id else stmt.where(false())
    if before_id is not None:
        stmt = stmt.where(ListEntry.id < before_id)
    if subject_id is not None:
        stmt = stmt.where(ListEntry.subject_id == subject_id)
    return stmt


# ---- the steps of a listing ----------------------------------------------------------------------------

def _clean_text(value: str | None, field: str, zh: str, en: str, *, required: bool) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise ListError("missing", f"请填写{zh}", f"{en} is required", field)
        return None
    if len(value) > MAX_REASON:
        raise ListError("too_long", f"{zh}不能超过{MAX_REASON}字", f"{en} must not exceed {MAX_REASON} characters", field)
    if TEXT_CONTROL_CHARS.search(value):
        raise ListError("invalid_characters", f"{zh}包含不允许的控制字符", f"{en} contains control characters", field)
    return mask_id_numbers_in(value)  # free text is kept and published: never an ID number in the clear


def _subject(session: Session, subject_id: int) -> Subject:
    subject = session.get(Subject, subject_id) if 0 < subject_id < 2**63 else None
    if subject is None:
        raise ListError("unknown_subject", "信用主体不存在", "no such credit subject", "subject_id", 404)
    return subject


def _department(session: Session, department_id: int | None) -> Department:
    dept = session.get(Department, department_id) if department_id else None
    if dept is None or not dept.active or dept.kind != "department":
        raise ListError("department_required", "须指定作出认定的部门（有效的政府部门）",
                        "the deciding department (an active government department) is required", "department")
    return dept


def _refuse_open(session: Session, code: str, subject_id: int) -> None:
    open_id = session.scalar(select(ListEntry.id).where(ListEntry.list_code == code, ListEntry.subject_id == subject_id,
                                                        ListEntry.record_id.is_(None),
                                                        ListEntry.status.in_(OPEN_STATUSES)))
    if open_id is not None:
        raise ListError("already_on_list", f"该信用主体已在此名单上或正在认定中（条目 {open_id}）",
                        f"this subject is already on this list or being listed (entry {open_id})", "subject_id", 409)


def _valid_until(kind: ListKind, listed_on: date, given: date | None) -> date | None:
    if given is not None:
        if given <= listed_on:
            raise ListError("invalid_valid_until", "有效期截止日须晚于列入日期", "valid_until must be after the listing day",
                            "valid_until")
        return given
    months = kind.params.get("duration_months")
    if not months:
        return None
    m = listed_on.month - 1 + months
    year, month = listed_on.year + m // 12, m % 12 + 1
    day = min(listed_on.day, [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30,
                              31, 31, 30, 31, 30, 31][month - 1])
    return date(year, month, day)


def record_step_refusal(session: Session, *, actor: Actor, action: str, entry_id: int | None, error: ListError,
                        via: str | None = None) -> None:
    """A step refused by these rules (409: not in this state, the defence period running …; 422: a
    value refused), registered durably — ``failed``, its code and field — as a refused record or
    department is: the refused request's rollback would otherwise leave no trace of the attempt. The
    API and the pages call it (``via: page``)."""
    record_refused_step(session, actor=actor, action=action, entry_id=entry_id, code=error.code, field=error.field,
                        via=via)


def record_refused_step(session: Session, *, actor: Actor, action: str, entry_id: int | None, code: str,
                        field: str | None, via: str | None = None, outcome: str = "failed",
                        body_bytes: int | None = None) -> None:
    """:func:`record_step_refusal` for a step refused before these rules saw it: the proposal form's ID
    number (invalid, or no such person: never the number itself), the API's department (another's:
    ``denied``, or none such)."""
    details: dict[str, Any] = {"code": code, "field": field}
    if via is not None:
        details["via"] = via
    if body_bytes is not None:  # a body over the size limit
        details["bytes"] = body_bytes
    record_refusal(session, actor=actor, action=action, object_type="list_entry", object_id=entry_id,
                   details=details, outcome=outcome)


def _audit(session: Session, actor: Actor, action: str, entry: ListEntry, **details: Any) -> None:
    record(session, actor=actor, action=action, object_type="list_entry", object_id=entry.id,
           details={"list": entry.list_code, "subject_id": entry.subject_id, "status": entry.status, **details})


def _announce(session: Session, entry: ListEntry, reason: str) -> None:
    session.flush()
    events.lists_changed(session, [entry.subject_id], [entry.id], reason=reason)


def propose(session: Session, *, code: str, subject_id: int, reason: str, actor: Actor,
            department_id: int | None, category: str | None = None, legal_basis: str | None = None) -> ListEntry:
    """Propose a dishonesty listing (``proposed``): a department for itself, or the credit office
    naming the deciding department."""
    kind = get_kind(session, code)
    if kind.kind != "dishonesty":
        raise ListError("not_dishonesty_list", "红名单不经认定程序：由信用办直接列入或按规则计算",
                        "red lists are not proposed: the credit office adds by decision or they are computed by rule",
                        "list", 409)
    if kind.source != "decision":
        raise ListError("catalog_fed", f"名单 {code} 由信息目录事项自动产生，不能申请列入",
                        f"list {code} is fed by its catalog item and cannot be proposed", "list", 409)
    cats = categories_of(kind)
    category = (category or "").strip() or None
    if cats:
        if category is None:
            raise ListError("missing", "请选择类别", "a category is required", "category")
        if category not in cats:
            shown = mask_id_numbers_in(category)[:64]  # echoed on the page as typed: never an ID number in the clear
            raise ListError("unknown_category", f"类别 {shown} 不在该名单的类别中",
                            f"category {shown} is not one of this list's categories", "category")
    elif category is not None:
        raise ListError("unknown_category", "该名单没有类别", "this list has no categories", "category")
    dept = _department(session, department_id)
    reason_text = _clean_text(reason, "reason", "列入理由", "reason", required=True)
    basis = _clean_text(legal_basis, "legal_basis", "法律依据", "legal basis", required=False) \
        or kind.params.get("legal_basis")
    _subject(session, subject_id)
    lock_subjects(session, [subject_id])  # two at once for one person: one entry, the other refused
    _refuse_open(session, code, subject_id)
    now = utcnow()
    entry = ListEntry(list_code=code, subject_id=subject_id, status="proposed", source="decision", category=category,
                      reason=reason_text or "", department_id=dept.id, legal_basis=basis, proposed_at=now,
                      proposed_by=actor.label, updated_at=now)
    session.add(entry)
    session.flush()
    _audit(session, actor, "list_entry.propose", entry, reason=(reason_text or "")[:200], category=category,
           department=dept.code)
    _announce(session, entry, "proposed")
    return entry


def _take_turn(session: Session, entry: ListEntry) -> None:
    """A step of an entry's procedure reads the entry as the last committed step left it: on
    PostgreSQL the row is locked ``FOR NO KEY UPDATE`` until this transaction ends and read again, so
    two officers deciding at once (or a form sent twice) make one decision and the other is refused
    by the state check, with one audit entry (tests/lists/test_concurrent_steps.py). SQLite's writers
    take turns from ``BEGIN``."""
    if session.get_bind().dialect.name == "postgresql":
        session.flush()  # this transaction's own earlier steps are kept, not read over
        session.refresh(entry, with_for_update={"key_share": True})


def _require_status(entry: ListEntry, *allowed: str, code: str, zh: str, en: str) -> None:
    if entry.status not in allowed:
        raise ListError(code, f"{zh}（当前状态：{entry.status}）", f"{en} (status: {entry.status})", "status", 409)


def notify(session: Session, *, entry: ListEntry, actor: Actor, today: date | None = None,
           note: str | None = None) -> ListEntry:
    """The person was told of the proposed listing: the defence period starts (N working days)."""
    today = today or clock.today()
    _take_turn(session, entry)
    _require_status(entry, "proposed", code="not_proposed", zh="只有待告知的条目可以告知",
                    en="only a proposed entry can be notified")
    kind = get_kind(session, entry.list_code)
    days = int(kind.params.get("defence_working_days") or DEFAULT_DEFENCE_DAYS)
    note = _clean_text(note, "note", "告知说明", "note", required=False)
    now = utcnow()
    entry.status, entry.notified_at, entry.notified_by, entry.updated_at = "notified", now, actor.label, now
    entry.defence_deadline = add_working_days(today, days)
    entry.defence_from, entry.defence_days = today, days  # how it was counted (a changed calendar recounts it so)
    _audit(session, actor, "list_entry.notify", entry, notified_on=today.isoformat(),
           defence_deadline=entry.defence_deadline.isoformat(), working_days=days, note=note)
    _announce(session, entry, "notified")
    return entry


def extend_open_deadlines(session: Session, *, actor: Actor, today: date | None = None) -> int:
    """After the holiday table changed (``xinyong calendar``): recount the defence deadline of every
    notified entry not yet decided and without a defence as its notice counted it (from the day the
    person was told, the working days they were given: ``defence_from``, ``defence_days``), and move
    it later where the calendar now has more holidays in it — a period set before the year's schedule
    was entered counted its New Year's Day as a working day — if the recounted day is not past: a
    period that ended by the old count but runs on by the new one is open again (the credit office
    may not decide before it ends). A deadline is never brought forward (the person was told it).
    Each entry is read in its turn (:func:`_take_turn`): one decided or defended meanwhile is left
    as it is. Each change audited (``list_entry.deadline_extended``). Returns how many moved."""
    today = today or clock.today()
    moved = 0
    entries = list(session.scalars(select(ListEntry).where(ListEntry.status == "notified",
                                                           ListEntry.defence.is_(None),
                                                           ListEntry.notified_at.is_not(None))
                                   .order_by(ListEntry.id)))
    for entry in entries:
        _take_turn(session, entry)
        if entry.status != "notified" or entry.defence is not None or entry.defence_deadline is None:
            continue  # decided or defended since it was read
        assert entry.notified_at is not None
        if entry.defence_from is not None and entry.defence_days is not None:
            start, days = entry.defence_from, entry.defence_days
        else:  # a notice whose count was not kept (none since migration 0013): as it would be counted now
            start, days = clock.day_of(entry.notified_at), int(
                get_kind(session, entry.list_code).params.get("defence_working_days") or DEFAULT_DEFENCE_DAYS)
        recounted = add_working_days(start, days)
        if recounted > entry.defence_deadline and recounted >= today:
            before = entry.defence_deadline
            entry.defence_deadline, entry.updated_at = recounted, utcnow()
            _audit(session, actor, "list_entry.deadline_extended", entry, before=before.isoformat(),
                   defence_deadline=recounted.isoformat(), reason="calendar")
            moved += 1
    session.flush()
    return moved


def defend(session: Session, *, entry: ListEntry, text: str, actor: Actor, today: date | None = None) -> ListEntry:
    """The person's defence (陈述申辩), by the person or recorded by an officer, up to the deadline."""
    today = today or clock.today()
    _take_turn(session, entry)
    _require_status(entry, "notified", code="not_notified", zh="只有已告知、在申辩期内的条目可以申辩",
                    en="a defence is stated only for a notified entry")
    assert entry.defence_deadline is not None
    if today > entry.defence_deadline:
        raise ListError("defence_too_late", f"申辩期已于 {entry.defence_deadline.isoformat()} 届满，不能再提交申辩",
                        f"the defence period ended on {entry.defence_deadline.isoformat()}; no defence is accepted",
                        "defence", 409)
    if entry.defence is not None:
        raise ListError("defence_exists", "已提交过申辩", "a defence was already stated", "defence", 409)
    body = _clean_text(text, "defence", "申辩内容", "defence", required=True)
    now = utcnow()
    entry.defence, entry.defence_at, entry.defence_by, entry.updated_at = body, now, actor.label, now
    _audit(session, actor, "list_entry.defend", entry, length=len(body or ""), on=today.isoformat())
    return entry


def decide(session: Session, *, entry: ListEntry, listed: bool, reason: str, actor: Actor,
           today: date | None = None, valid_until: date | None = None) -> ListEntry:
    """The credit office decides: list (only a notified entry, once the defence period ended or a
    defence was received) or reject (a proposal too, before the person is told)."""
    today = today or clock.today()
    _take_turn(session, entry)
    # decided already (listed, rejected, or listed and removed since): that is the reason, whichever
    # decision is asked — not "not notified", which the person was
    _require_status(entry, "proposed", "notified", code="already_decided", zh="该条目已有决定，不能再次决定",
                    en="this entry was already decided")
    if listed:
        _require_status(entry, "notified", code="not_notified", zh="只有已告知的条目可以决定列入",
                        en="only a notified entry can be listed")
    why = _clean_text(reason, "reason", "决定理由", "reason", required=True)
    now = utcnow()
    if listed:
        assert entry.defence_deadline is not None
        if entry.defence is None and today <= entry.defence_deadline:
            raise ListError("defence_period_running",
                            f"申辩期至 {entry.defence_deadline.isoformat()} 届满，届满前且未收到申辩时不能列入",
                            f"the defence period runs until {entry.defence_deadline.isoformat()}; the entry cannot be "
                            "listed before then unless a defence was received", "decision", 409)
        kind = get_kind(session, entry.list_code)
        entry.listed_on, entry.valid_until = today, _valid_until(kind, today, valid_until)
        entry.status = "listed"
    else:
        entry.status = "rejected"
    entry.decided_at, entry.decided_by, entry.decision_reason, entry.updated_at = now, actor.label, why, now
    _audit(session, actor, "list_entry.decide", entry, decision="list" if listed else "reject",
           reason=(why or "")[:200], listed_on=entry.listed_on.isoformat() if entry.listed_on else None,
           valid_until=entry.valid_until.isoformat() if entry.valid_until else None)
    # (a dishonesty listing ends the person's red listings with it: the lists' handler of this
    # announcement, lists.handlers.lists_changed)
    _announce(session, entry, "listed" if listed else "rejected")
    return entry


def remove(session: Session, *, entry: ListEntry, kind: str, reason: str, actor: Actor) -> ListEntry:
    """End a listing: by expiry, repair, revocation or decision (a rule's own removal is ``refresh``)."""
    if kind not in MANUAL_REMOVAL_KINDS:
        raise ListError("unknown_removal_kind", f"移出方式应为 {'、'.join(MANUAL_REMOVAL_KINDS)}",
                        f"removal kind must be one of {', '.join(MANUAL_REMOVAL_KINDS)}", "kind")
    _take_turn(session, entry)
    _require_status(entry, "listed", code="not_listed", zh="只有已列入的条目可以移出", en="only a listed entry can be removed")
    why = _clean_text(reason, "reason", "移出理由", "reason", required=True)
    _end(entry, kind, why or "", actor)
    _audit(session, actor, "list_entry.remove", entry, removal_kind=kind, reason=(why or "")[:200])
    _announce(session, entry, "removed")
    return entry


def _end(entry: ListEntry, kind: str, reason: str, actor: Actor) -> None:
    now = utcnow()
    entry.status, entry.removed_at, entry.removal_kind, entry.removal_reason = "removed", now, kind, reason
    entry.removed_by, entry.updated_at = actor.label, now


def add(session: Session, *, code: str, subject_id: int, reason: str, actor: Actor, department_id: int | None = None,
        category: str | None = None, legal_basis: str | None = None, today: date | None = None,
        valid_until: date | None = None) -> ListEntry:
    """A red-list entry by decision of the credit office: straight to ``listed``."""
    today = today or clock.today()
    kind = get_kind(session, code)
    if kind.kind != "red":
        raise ListError("not_red_list", "失信名单须经申请、告知、申辩和决定程序",
                        "a dishonesty listing goes through proposal, notice, defence and decision", "list", 409)
    if category:
        raise ListError("unknown_category", "该名单没有类别", "this list has no categories", "category")
    dept = _department(session, department_id) if department_id else None
    why = _clean_text(reason, "reason", "列入理由", "reason", required=True)
    basis = _clean_text(legal_basis, "legal_basis", "法律依据", "legal basis", required=False) \
        or kind.params.get("legal_basis")
    _subject(session, subject_id)
    lock_subjects(session, [subject_id])  # two at once for one person: one entry, the other refused
    _refuse_open(session, code, subject_id)
    # A red list is for good credit: nobody listed for dishonesty is put on one, by a rule (which admits
    # nobody so listed) or by decision (a check would answer the incentives beside the punishments).
    if session.scalar(_dishonesty_listed().where(ListEntry.subject_id == subject_id).limit(1)) is not None:
        raise ListError("listed_dishonest", "该信用主体已列入失信名单，不能列入守信红名单",
                        "the person is on a dishonesty list and cannot be put on a red list", "subject_id", 409)
    now = utcnow()
    entry = ListEntry(list_code=code, subject_id=subject_id, status="listed", source="decision", reason=why or "",
                      department_id=dept.id if dept else None, legal_basis=basis, proposed_at=now,
                      proposed_by=actor.label, listed_on=today, valid_until=_valid_until(kind, today, valid_until),
                      decided_at=now, decided_by=actor.label, decision_reason=why, updated_at=now)
    session.add(entry)
    session.flush()
    _audit(session, actor, "list_entry.add", entry, reason=(why or "")[:200],
           valid_until=entry.valid_until.isoformat() if entry.valid_until else None)
    _announce(session, entry, "listed")
    return entry


# ---- set-based upkeep: expiry, rules, the catalog-fed list -------------------------------------------------

def _batch_end(session: Session, rows: Sequence[Any], *, kind: str, reason: str, actor: Actor, action: str,
               announce: str, today: date | None = None) -> None:
    """End many listed entries in one UPDATE, one audit entry, one announcement."""
    if not rows:
        return
    now = utcnow()
    ids = [r.id for r in rows]
    for i in range(0, len(ids), 900):
        session.execute(update(ListEntry).where(ListEntry.id.in_(ids[i:i + 900]), ListEntry.status == "listed")
                        .values(status="removed", removed_at=now, removal_kind=kind, removal_reason=reason,
                                removed_by=actor.label, updated_at=now),
                        execution_options={"synchronize_session": False})
    record(session, actor=actor, action=action, object_type="list_entry", object_id=None,
           details={"removal_kind": kind, "reason": reason, "entries": [[r.id, r.list_code, r.subject_id] for r in rows]})
    session.expire_all()
    events.lists_changed(session, {r.subject_id for r in rows}, ids, reason=announce, today=today)


def expire(session: Session, *, today: date | None = None, actor: Actor | None = None) -> int:
    """Listed entries whose ``valid_until`` has come are removed by expiry. Idempotent."""
    today = today or clock.today()
    actor = actor or Actor.system("lists")
    session.flush()
    rows = session.execute(select(ListEntry.id, ListEntry.list_code, ListEntry.subject_id)
                           .where(ListEntry.status == "listed", ListEntry.valid_until.is_not(None),
                                  ListEntry.valid_until <= today).order_by(ListEntry.id)).all()
    _batch_end(session, rows, kind="expiry", reason=f"有效期届满 / listing period ended ({today.isoformat()})",
               actor=actor, action="lists.expire", announce="expired", today=today)
    return len(rows)


def dishonesty_codes(session: Session) -> list[str]:
    return list(session.scalars(select(ListKind.code).where(ListKind.kind == "dishonesty")))


def qualifying(session: Session, kind: ListKind, today: date, subject_ids: Sequence[int] | None = None
               ) -> Select[tuple[int]]:
    """SELECT of the subjects a red list's rule admits on ``today``: a counting (active) record of the
    rule's item meeting the condition, no bad record in the last ``clean_years`` years
    (:mod:`xinyong.records.standing`), and not listed on any dishonesty list. ``subject_ids``: only
    among these (every part of the statement read through the subject)."""
    rule = kind.params["rule"]
    value = Record.fields[rule["field"]]
    stmt = select(Record.subject_id).where(Record.item_code == rule["item"], Record.status == "active")
    if subject_ids is not None:
        stmt = stmt.where(Record.subject_id.in_(list(subject_ids)))
    if "at_least" in rule:
        stmt = stmt.group_by(Record.subject_id).having(func.max(value.as_float()) >= rule["at_least"])
    else:
        stmt = stmt.where(value.as_string().in_(rule["one_of"])).distinct()
    if rule.get("clean_years"):
        stmt = stmt.where(Record.subject_id.not_in(not_clean_subjects(today, rule["clean_years"], subject_ids)))
    listed = select(ListEntry.subject_id).where(ListEntry.status == "listed",
                                                ListEntry.list_code.in_(dishonesty_codes(session)))
    if subject_ids is not None:
        listed = listed.where(ListEntry.subject_id.in_(list(subject_ids)))
    return stmt.where(Record.subject_id.not_in(listed))


@dataclass
class RefreshResult:
    added: int = 0
    removed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"added": self.added, "removed": self.removed}


def refresh(session: Session, *, today: date | None = None, actor: Actor | None = None,
            codes: Iterable[str] | None = None, subject_ids: Sequence[int] | None = None,
            kinds: Sequence[ListKind] | None = None) -> dict[str, dict[str, int]]:
    """Recompute the rule-based red lists, set-based: entries for subjects the rule now admits,
    removal (``rule``) of rule entries whose subject no longer qualifies. Idempotent.
    ``subject_ids``: only these subjects (the after-change handler's refresh of the subjects whose
    records changed); ``kinds``: the rule kinds, if the caller has them.
    Returns {list code: {"added": n, "removed": n}}."""
    today = today or clock.today()
    actor = actor or Actor.system("lists")
    session.flush()
    if kinds is None:
        kinds = [k for k in all_kinds(session) if k.source == "rule"]
    kinds = [k for k in kinds if codes is None or k.code in set(codes)]
    out: dict[str, dict[str, int]] = {}
    for kind in kinds:
        res = RefreshResult()
        admitted = qualifying(session, kind, today, subject_ids)
        mine = ListEntry.subject_id.in_(list(subject_ids)) if subject_ids is not None else true()
        gone = session.execute(select(ListEntry.id, ListEntry.list_code, ListEntry.subject_id)
                               .where(ListEntry.list_code == kind.code, ListEntry.source == "rule", mine,
                                      ListEntry.status == "listed", ListEntry.subject_id.not_in(admitted))
                               .order_by(ListEntry.id)).all()
        _batch_end(session, gone, kind="rule", reason=f"不再符合列入规则 / no longer meets the rule ({today.isoformat()})",
                   actor=actor, action="lists.refresh_remove", announce="refresh", today=today)
        res.removed = len(gone)
        present = select(ListEntry.subject_id).where(ListEntry.list_code == kind.code, ListEntry.record_id.is_(None),
                                                     ListEntry.status.in_(OPEN_STATUSES), mine)
        new_ids = list(session.scalars(admitted.where(Record.subject_id.not_in(present))))
        if new_ids:
            now = utcnow()
            why = f"符合列入规则（{_rule_text(kind)}） / meets the rule ({_rule_text(kind)})"
            rows = [{"list_code": kind.code, "subject_id": sid, "status": "listed", "source": "rule", "reason": why,
                     "legal_basis": kind.params.get("legal_basis"), "proposed_at": now, "proposed_by": actor.label,
                     "listed_on": today, "valid_until": _valid_until(kind, today, None), "decided_at": now,
                     "decided_by": actor.label, "updated_at": now} for sid in sorted(new_ids)]
            added = bulk.insert_rows(session, _ENTRY, rows, returning=("id", "subject_id"), ignore_conflicts=True)
            record(session, actor=actor, action="lists.refresh_add", object_type="list_kind", object_id=kind.code,
                   details={"on": today.isoformat(), "entries": [[eid, sid] for eid, sid in added]})
            if added:
                events.lists_changed(session, {sid for _, sid in added}, [eid for eid, _ in added], reason="refresh",
                                     today=today)
            res.added = len(added)
        out[kind.code] = res.as_dict()
    return out


def rule_subjects(session: Session, event: events.RecordsChanged, kinds: Iterable[ListKind] | None = None
                  ) -> tuple[list[ListKind], list[int]]:
    """Of a ``records_changed`` announcement, the rule-based kinds and the subjects whose rule
    listing the change may end at once: those on a rule-based list now whose change brought a new
    bad record, or was more than new records (an update, a revocation, an expiry). Admission waits
    for the daily refresh (a red list granted a day late costs the person a day; one kept a day
    too long answers its incentives to someone a serious penalty disqualified). On a batch of pushes
    this costs one query, or none (``kinds``: every list kind, if the caller has them)."""
    kinds = [k for k in (all_kinds(session) if kinds is None else kinds) if k.source == "rule"]
    if not kinds:
        return [], []
    created = event.created_items
    candidates = [sid for sid in event.subject_ids
                  if (got := created.get(sid)) is None or any(cat in BAD_CATEGORIES for _code, cat in got)]
    if not candidates:
        return kinds, []
    # their entries through the subject index, sent to the driver as they are (a few hundred ids
    # compiled into an IN list by SQLAlchemy cost ~2.6 ms a batch, more than the query)
    listed = {sid for sid, source, status in bulk.fetch_in(session, _ENTRY, ("subject_id", "source", "status"),
                                                           "subject_id", candidates)
              if source == "rule" and status == "listed"}
    return kinds, sorted(listed)


def dishonesty_listed_on_red_lists(session: Session, event: events.ListsChanged, kinds: Iterable[ListKind] | None = None
                                   ) -> tuple[list[ListKind], list[int], list[Any]]:
    """Of a ``lists_changed`` announcement, the rule-based kinds, the subjects it listed on a
    dishonesty list by decision who are on a rule-based (red) list now, and the red entries by
    decision of the subjects it listed on one, by decision or fed by the catalog (id, list code,
    subject). A rule admits nobody listed as dishonest and a red listing by decision is refused for
    them (:func:`add`), so both end with the listing, not at the next daily refresh: a check
    meanwhile would answer the red list's incentives beside the punishments."""
    if event.reason not in ("listed", "catalog") or not event.entry_ids:
        return [], [], []
    kinds = list(all_kinds(session) if kinds is None else kinds)
    rule_kinds = [k for k in kinds if k.source == "rule"]
    dishonesty = {k.code for k in kinds if k.kind == "dishonesty"}
    red = {k.code for k in kinds if k.kind == "red"}
    if not red or not dishonesty:
        return rule_kinds, [], []
    session.flush()
    listed = {sid for sid, code, status in bulk.fetch_in(session, _ENTRY, ("subject_id", "list_code", "status"), "id",
                                                         sorted(event.entry_ids))
              if code in dishonesty and status == "listed"}
    if not listed:
        return rule_kinds, [], []
    rows = list(bulk.fetch_in(session, _ENTRY, ("id", "list_code", "subject_id", "source", "status"), "subject_id",
                              sorted(listed)))
    # (a listing fed by the catalog comes with a new bad record, for which the records' handler has
    # already refreshed the rule lists of its subjects: lists.service.rule_subjects)
    on_rule = {sid for _id, code, sid, source, status in rows
               if source == "rule" and status == "listed"} if event.reason == "listed" else set()
    decided_red = sorted((r for r in rows if r[1] in red and r[3] == "decision" and r[4] == "listed"),
                         key=lambda r: r[0])
    return rule_kinds, sorted(on_rule), [SimpleNamespace(id=r[0], list_code=r[1], subject_id=r[2]) for r in decided_red]


def end_red_for_dishonesty(session: Session, rows: Sequence[Any], *, today: date | None = None) -> None:
    """End red listings by decision of people just listed for dishonesty (``removal_kind = rule``: the
    platform's rule that nobody is red and dishonest at once, as the rule lists' refresh ends theirs)."""
    _batch_end(session, rows, kind="rule", actor=Actor.system("lists"), action="lists.dishonesty_ends_red",
               reason="列入失信名单 / listed for dishonesty", announce="removed", today=today)


def _rule_text(kind: ListKind) -> str:
    r = kind.params["rule"]
    cond = f"{r['field']} ≥ {r['at_least']}" if "at_least" in r else f"{r['field']} ∈ {'/'.join(r['one_of'])}"
    return f"{r['item']}: {cond}; {r.get('clean_years', 0)}y clean"


def catalog_feeds(session: Session, kinds: Iterable[ListKind] | None = None) -> dict[str, ListKind]:
    """{catalog item code: list kind} of the lists fed by the catalog (among ``kinds``, if given)."""
    if kinds is None:
        kinds = session.scalars(select(ListKind).where(ListKind.source == "catalog"))
    return {k.params.get("item", k.code): k for k in kinds if k.source == "catalog"}


def sync_catalog_records(session: Session, *, record_ids: Iterable[int] = (), subject_ids: Iterable[int] = (),
                         actor: Actor | None = None, kinds: Iterable[ListKind] | None = None) -> dict[str, int]:
    """Bring the catalog-fed lists in line with these records (or, with no record ids, with every
    record of these subjects): an active record has a listed entry (``listed_on`` = decision date,
    ``valid_until`` = end of display), a changed record updates it, a revoked / expired / archived
    record ends it. A few queries per batch, whatever its size."""
    out = {"listed": 0, "updated": 0, "removed": 0}
    rids, sids = list(record_ids), list(subject_ids)
    if not rids and not sids:
        return out
    feeds = catalog_feeds(session, kinds)
    if not feeds:
        return out
    actor = actor or Actor.system("lists")
    cols = (Record.id, Record.subject_id, Record.item_code, Record.status, Record.decided_at, Record.display_until,
            Record.department_id, Record.source_id)
    keys, column = (rids, Record.id) if rids else (sids, Record.subject_id)
    # the keys as one parameter (bulk.in_values): the statement is compiled once, not expanded
    recs = session.execute(select(*cols).where(in_values(session, column, keys),
                                               Record.item_code.in_(list(feeds)))).all()
    if not recs:
        return out
    session.flush()
    entries: dict[int, ListEntry] = {}
    for e in session.scalars(select(ListEntry).where(in_values(session, ListEntry.record_id, [r.id for r in recs]),
                                                     ListEntry.status.in_(OPEN_STATUSES))):
        entries[e.record_id or 0] = e
    now = utcnow()
    changed: list[ListEntry] = []
    new_rows: list[dict[str, Any]] = []
    notes: list[list[Any]] = []
    for r in recs:
        kind, entry = feeds[r.item_code], entries.get(r.id)
        if r.status == "active":
            if entry is None:
                new_rows.append({
                    "list_code": kind.code, "subject_id": r.subject_id, "status": "listed", "source": "catalog",
                    "reason": f"法院认定（来源编号 {r.source_id}） / court decision (source id {r.source_id})",
                    "department_id": r.department_id, "legal_basis": kind.params.get("legal_basis"),
                    "record_id": r.id, "proposed_at": now, "proposed_by": actor.label, "listed_on": r.decided_at,
                    "valid_until": r.display_until, "decided_at": now, "decided_by": actor.label, "updated_at": now})
            elif (entry.subject_id, entry.listed_on, entry.valid_until) != (r.subject_id, r.decided_at, r.display_until):
                entry.subject_id, entry.listed_on, entry.valid_until = r.subject_id, r.decided_at, r.display_until
                entry.updated_at = now
                changed.append(entry)
                notes.append([entry.id, "update", r.id])
                out["updated"] += 1
        elif entry is not None and entry.status == "listed":
            how = "revocation" if r.status == "revoked" else "expiry"
            _end(entry, how, f"信用记录状态：{r.status} / the record is {r.status}", actor)
            changed.append(entry)
            notes.append([entry.id, "remove", r.id])
            out["removed"] += 1
    session.flush()
    added = bulk.insert_rows(session, _ENTRY, new_rows, returning=("id", "subject_id", "record_id"),
                             ignore_conflicts=True) if new_rows else []
    out["listed"] = len(added)
    notes.extend([eid, "list", rid] for eid, _sid, rid in added)
    if notes:
        # written at once with Core: an ORM entry would be flushed by the next query of the batch's
        # handlers (~0.6 ms a batch)
        record_many(session, actor=actor, action="lists.catalog_sync", object_type="list_entry",
                    items=[(None, {"entries": notes})])
        events.lists_changed(session, {e.subject_id for e in changed} | {sid for _e, sid, _r in added},
                             [e.id for e in changed] + [eid for eid, _s, _r in added], reason="catalog")
    return out


def sync_catalog_item(session: Session, item_code: str, *, actor: Actor | None = None) -> dict[str, int]:
    """Catch a catalog-fed list up with every existing record of its item (a list kind loaded after
    its records arrived). Batches of 1,000 records, like ingestion."""
    out = {"listed": 0, "updated": 0, "removed": 0}
    ids = list(session.scalars(select(Record.id).where(Record.item_code == item_code).order_by(Record.id)))
    for i in range(0, len(ids), 1000):
        for k, v in sync_catalog_records(session, record_ids=ids[i:i + 1000], actor=actor).items():
            out[k] += v
    return out


def maintain(session: Session, *, today: date | None = None, actor: Actor | None = None) -> dict[str, Any]:
    """Daily upkeep (``xinyong maintain``): expiry, the red listings of people listed for dishonesty,
    then the rule-based red lists."""
    today = today or clock.today()
    actor = actor or Actor.system("maintain")
    expired = expire(session, today=today, actor=actor)
    red_ended = end_red_of_dishonest(session, today=today)
    return {"expired": expired, "red_ended": red_ended, "refreshed": refresh(session, today=today, actor=actor)}


def end_red_of_dishonest(session: Session, *, today: date | None = None) -> int:
    """The daily sweep behind the rule that nobody is red and dishonest at once: red listings by
    decision of people listed for dishonesty end (as :func:`end_red_for_dishonesty`; the listing's own
    transaction ends them since this rule came, so this finds the pairs made before it, or by a
    catalog item edited to feed a dishonesty list). Rule-based ones are the refresh's. Idempotent."""
    session.flush()
    red_codes = select(ListKind.code).where(ListKind.kind == "red")
    rows = session.execute(select(ListEntry.id, ListEntry.list_code, ListEntry.subject_id)
                           .where(ListEntry.status == "listed", ListEntry.source == "decision",
                                  ListEntry.list_code.in_(red_codes),
                                  ListEntry.subject_id.in_(_dishonesty_listed()))
                           .order_by(ListEntry.id)).all()
    end_red_for_dishonesty(session, rows, today=today)
    return len(rows)


# ---- "3 years without bad records" ---------------------------------------------------------------------

def _dishonesty_listed() -> Select[tuple[int]]:
    """SELECT of the subjects listed now on a list of kind ``dishonesty``."""
    return (select(ListEntry.subject_id).join(ListKind, ListKind.code == ListEntry.list_code)
            .where(ListEntry.status == "listed", ListKind.kind == "dishonesty"))


def clean_stmt(*, today: date, years: int = CLEAN_YEARS, department_id: int | None = None, scoped: bool = False,
               before_id: int | None = None) -> Select[tuple[int]]:
    """SELECT of subject ids without a bad record in the last ``years`` years and not listed now on a
    dishonesty list (a listing by decision needs no record; the subject status's ``clean_3y`` and
    the measures follow the same rule), by id descending. ``scoped``: only subjects with a record
    from that department."""
    stmt = (select(Subject.id).where(Subject.id.not_in(not_clean_subjects(today, years)),
                                     Subject.id.not_in(_dishonesty_listed())).order_by(Subject.id.desc()))
    if scoped:
        if department_id is None:
            return stmt.where(false())
        stmt = stmt.where(Subject.id.in_(select(Record.subject_id).where(Record.department_id == department_id)))
    if before_id is not None:
        stmt = stmt.where(Subject.id < before_id)
    return stmt


def is_clean(session: Session, *, subject_id: int, today: date | None = None, years: int = CLEAN_YEARS) -> bool:
    """Whether :func:`clean_stmt` admits this subject."""
    today = today or clock.today()
    return (session.scalar(not_clean_subjects(today, years, [subject_id])) is None
            and session.scalar(_dishonesty_listed().where(ListEntry.subject_id == subject_id).limit(1)) is None)


def last_bad_records(session: Session, subject_ids: Sequence[int]) -> dict[int, date]:
    """{subject id: the decision date of their latest bad record} (revoked ones do not count)."""
    if not subject_ids:
        return {}
    stmt = (select(Record.subject_id, func.max(Record.decided_at))
            .where(Record.subject_id.in_(list(subject_ids)), Record.category.in_(BAD_CATEGORIES),
                   Record.status.not_in(NOT_COUNTING))
            .group_by(Record.subject_id))
    return {sid: d for sid, d in session.execute(stmt)}


def open_entry_for(session: Session, *, code: str, subject_id: int) -> ListEntry | None:
    return session.scalar(select(ListEntry).where(and_(ListEntry.list_code == code, ListEntry.subject_id == subject_id,
                                                       ListEntry.status.in_(OPEN_STATUSES))))
