"""Record ingestion, revision, revocation and display maintenance.

The hot path (:func:`ingest`) checks every record in plain Python against the compiled catalog
item (ID checks and blind indexes once per distinct number in the batch), then works set-based:
one query for the batch's subjects, one for its existing records, one insert each for new
subjects and records (rows built as tuples; ``bulk.insert_tuples``: numbered ``executemany`` on
SQLite, ``COPY`` + ``INSERT … RETURNING`` on PostgreSQL), one executemany each for revisions,
updates and rejections, one audit entry. A bad record never blocks the good ones; an error in the
database fails the whole batch (the caller's transaction), so nothing is half-written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.orm import Session

from xinyong import bulk, clock, events
from xinyong.audit.service import Actor, record, record_many, record_refusal
from xinyong.catalog.service import Item, current_items, get_current, get_version
from xinyong.catalog.spec import CONTROL_CHARS as _CTRL
from xinyong.catalog.spec import ENVELOPE_LABELS, coerce_field, no_such_day, parse_date
from xinyong.catalog.spec import TEXT_CONTROL_CHARS as _CTRL_TEXT
from xinyong.db import lock_rows, utc_of, utcnow
from xinyong.privacy import identity
from xinyong.privacy.masking import contains_id_number, mask_id_numbers_in
from xinyong.privacy.vault import Vault
from xinyong.records import display
from xinyong.records.models import Record, RecordRevision, Rejection
from xinyong.subjects.models import Subject
from xinyong.subjects.service import names_match, without_invisible
from xinyong.workdays import working_days_between

MAX_BATCH = 1000
ENVELOPE_KEYS = frozenset({"item", "id_number", "name", "source_id", "decided_at", "severity", "fields"})
EARLIEST_DECISION = date(1949, 10, 1)

_R = Record.__table__
_REV = RecordRevision.__table__
_S = Subject.__table__
_REJ = Rejection.__table__


def _e(field_name: str, code: str, zh: str, en: str) -> dict[str, str]:
    return {"field": field_name, "code": code, "message": f"{zh} / {en}"}


@dataclass(slots=True)
class Outcome:
    index: int
    status: str  # created | updated | unchanged | rejected
    record_id: int | None = None
    errors: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class DepartmentRef:
    id: int
    code: str


@dataclass(slots=True)
class _Prepared:
    index: int
    item: Item
    facts: identity.IdFacts
    bidx: str
    name: str
    source_id: str
    decided_at: date
    severity: str | None
    fields: dict[str, Any]
    subject_id: int | None = None


_E_SOURCE_MISSING = _e("source_id", "missing", "缺少来源编号", "source_id is required")
_E_SOURCE_BAD = _e("source_id", "wrong_type", "来源编号应为1至64个可见字符", "source_id must be 1-64 printable characters")
_E_SOURCE_EMPTY = _e("source_id", "missing", "来源编号为空", "source_id is empty")
_E_SOURCE_LONG = _e("source_id", "too_long", "来源编号不能超过64个字符", "source_id must not exceed 64 characters")
_E_SOURCE_CHARS = _e("source_id", "invalid_characters", "来源编号包含不允许的字符（控制字符或无效的 Unicode）",
                     "source_id contains characters not allowed (control characters or invalid Unicode)")
# The source id is stored and shown as it is: an ID number in it would be one in the clear.
_E_SOURCE_ID_NUMBER = _e("source_id", "contains_id_number", "来源编号不能包含身份证号码（身份证号码只能放在 id_number 中）",
                         "source_id must not contain an ID number (the ID number goes in id_number only)")
_E_ID_MISSING = _e("id_number", "missing", "缺少身份证号码", "id_number is required")
_E_ID_EMPTY = _e("id_number", "missing", "身份证号码为空", "id_number is empty")  # as an empty name or source id
_E_ID_TYPE = {**_e("id_number", "invalid_id_number", "身份证号码应为文本（18位，作为字符串发送）",
                   "id_number must be a string (18 characters, sent as text)"), "reason": "not_text"}
_E_NAME_MISSING = _e("name", "missing", "缺少姓名", "name is required")
_E_NAME_BAD = _e("name", "wrong_type", "姓名应为1至64个字符", "name must be 1-64 characters")
_E_NAME_EMPTY = _e("name", "missing", "姓名为空", "name is empty")
_E_NAME_LONG = _e("name", "too_long", "姓名不能超过64个字符", "name must not exceed 64 characters")
_E_NAME_CHARS = _e("name", "invalid_characters", "姓名包含不允许的字符（控制字符或无效的 Unicode）",
                   "name contains characters not allowed (control characters or invalid Unicode)")
_E_DATE_MISSING = _e("decided_at", "missing", "缺少决定日期", "decided_at is required")
_E_DATE_BAD = _e("decided_at", "wrong_type", "决定日期的格式应为 YYYY-MM-DD", "decided_at must be YYYY-MM-DD")
_E_DATE_FUTURE = _e("decided_at", "future_date", "决定日期不能晚于今天", "decided_at is in the future")
_E_DATE_EARLY = _e("decided_at", "out_of_range", "决定日期过早", "decided_at is too early")
_E_DATE_BEFORE_BIRTH = _e("decided_at", "out_of_range", "决定日期早于身份证号码所示的出生日期（日期或身份证号码有误）",
                          "decided_at is before the birth date the ID number gives (the date or the ID number is wrong)")
_E_ITEM_MISSING = _e("item", "missing", "缺少信息事项代码", "item is required")
_E_ITEM_TYPE = _e("item", "wrong_type", "信息事项代码应为文本", "item must be a string (a catalog item code)")
_E_FIELDS_TYPE = _e("fields", "wrong_type", "fields 应为对象", "fields must be an object")
_E_NO_SEVERITY = _e("severity", "not_allowed", "该事项没有严重程度", "this item has no severity")


def _clean(value: Any, limit: int = 64) -> str:
    """A user-supplied name echoed back (unknown field names, item codes): control characters
    (including NUL, which PostgreSQL text refuses) replaced, length capped."""
    return mask_id_numbers_in(_CTRL.sub("?", str(value)))[:limit]


def _short_text(value: Any, bad: dict[str, str], empty: dict[str, str], long: dict[str, str],
                chars: dict[str, str]) -> str | dict[str, str]:
    """A 1-64 character envelope text (source id, name), stripped, or the error that names why not."""
    if type(value) is not str:
        return bad
    s = value.strip()
    if not s:
        return empty
    if len(s) > 64:
        return long
    if not s.isprintable() and _CTRL.search(s):
        return chars
    return s


def _check_source_id(value: Any) -> str | dict[str, str]:
    if type(value) is int and not isinstance(value, bool):
        value = str(value)
    s = _short_text(value, _E_SOURCE_BAD, _E_SOURCE_EMPTY, _E_SOURCE_LONG, _E_SOURCE_CHARS)
    if type(s) is str and contains_id_number(s):  # (a regex search for 17 digits first: cheap)
        return _E_SOURCE_ID_NUMBER
    return s


# What a character became that an encoding could not hold: "?" (a system's GBK conversion; Excel and WPS
# saving "CSV (逗号分隔)" write it for every character outside GBK: 生僻字 such as 䶮 or 𠇔), its
# full-width form, and the replacement character of a decoder that gave up. None is ever in a name.
_E_NAME_LOST = _e("name", "invalid_characters",
                  "姓名中有问号“?”或替换字符“\ufffd”：多为编码转换时丢失的生僻字（GBK 中没有的字，如 Excel 另存为"
                  "“CSV（逗号分隔）”时）。请用 UTF-8 报送（文件请另存为“CSV UTF-8（逗号分隔）”或 .xlsx 后重新上传），或改正姓名",
                  "the name holds a question mark '?' or the replacement character: most often a rare character an "
                  "encoding conversion lost (one GBK does not have, as when Excel saves 'CSV (comma delimited)'). "
                  "Send UTF-8 (save a file as 'CSV UTF-8 (comma delimited)' or .xlsx and upload again), or correct "
                  "the name")


def _check_name(value: Any) -> str | dict[str, str]:
    if type(value) is str and not value.isprintable():  # invisible characters pasted along are dropped
        value = without_invisible(value)
    checked = _short_text(value, _E_NAME_BAD, _E_NAME_EMPTY, _E_NAME_LONG, _E_NAME_CHARS)
    # no name holds "?": a character lost on its way (_E_NAME_LOST), sent by API or in a file
    if type(checked) is str and ("?" in checked or "？" in checked or "\ufffd" in checked):
        return _E_NAME_LOST
    return checked


_IdCheck = tuple[identity.IdFacts | None, dict[str, str] | None]


def _check_id(idn: str, today: date) -> _IdCheck:
    try:
        return identity.check(idn, today=today), None
    except identity.InvalidIdNumber as exc:
        if exc.code == "id_missing":
            return None, _E_ID_EMPTY
        return None, {"field": "id_number", "code": "invalid_id_number", "reason": exc.code, "message": exc.message}


def check_record(raw: Any, *, items: Mapping[str, Item], department: DepartmentRef, today: date,
                 ids: dict[str, _IdCheck] | None = None, sent_on: date | None = None,
                 ) -> tuple[_Prepared | None, list[dict[str, str]], str | None, str | None]:
    """Validate one record's envelope and fields. Returns (prepared, errors, item_code, source_id).

    ``ids``: a per-batch cache of ID-number checks (a batch often names one person many times);
    the caller drops it with the batch. ``sent_on``: the day the department sent it, if before
    ``today`` (an import run after its upload): no decision can be dated after it."""
    if type(raw) is not dict and not isinstance(raw, Mapping):
        return None, [_e("record", "wrong_type", "每条记录应为对象", "each record must be an object")], None, None
    errors: list[dict[str, str]] = []
    get = raw.get
    if not raw.keys() <= ENVELOPE_KEYS:
        for k in raw.keys() - ENVELOPE_KEYS:
            errors.append(_e(_clean(k), "unknown_field", f"不允许的字段“{_clean(k)}”",
                             f"field '{_clean(k)}' is not allowed here"))
    code = get("item")
    item = items.get(code) if type(code) is str else None
    item_code = code if type(code) is str else None
    if code is None:
        errors.append(_E_ITEM_MISSING)
    elif item_code is None:
        errors.append(_E_ITEM_TYPE)
    elif item is None:
        errors.append(_e("item", "unknown_item", f"目录中没有事项 {_clean(code)}", f"unknown catalog item {_clean(code)}"))
    elif not item.spec.allows_department(department.code):
        errors.append(_e("item", "item_not_allowed", f"本部门无权报送事项 {code}",
                         f"this department may not push item {code}"))
        item = None
    raw_source = get("source_id")
    source_id: str | None = None
    if raw_source is None:
        errors.append(_E_SOURCE_MISSING)
    else:
        got_source = _check_source_id(raw_source)
        if type(got_source) is str:
            source_id = got_source
        else:
            errors.append(got_source)  # type: ignore[arg-type]
    facts = None
    idn = get("id_number")
    if idn is None:
        errors.append(_E_ID_MISSING)
    elif type(idn) is not str:
        errors.append(_E_ID_TYPE)
    else:
        got = ids.get(idn) if ids is not None else None
        if got is None:
            got = _check_id(idn, today)
            if ids is not None:
                ids[idn] = got
        facts, id_error = got
        if id_error is not None:
            errors.append(dict(id_error))
    name = get("name")
    if name is None:
        errors.append(_E_NAME_MISSING)
    else:
        name = _check_name(name)
        if type(name) is not str:
            errors.append(name)  # type: ignore[arg-type]
    decided = None
    raw_date = get("decided_at")
    if raw_date is None:
        errors.append(_E_DATE_MISSING)
    else:
        decided = parse_date(raw_date) if type(raw_date) is str else None
        if decided is None:
            errors.append(no_such_day("decided_at", raw_date, ENVELOPE_LABELS["decided_at"]) or _E_DATE_BAD)
        elif decided > today:
            errors.append(_E_DATE_FUTURE)
            decided = None
        elif sent_on is not None and decided > sent_on:
            errors.append(_e("decided_at", "future_date", f"决定日期晚于数据报送（文件上传）之日 {sent_on.isoformat()}",
                             f"decided_at is after the day the data was sent (the file uploaded), {sent_on.isoformat()}"))
            decided = None
        elif decided < EARLIEST_DECISION:
            errors.append(_E_DATE_EARLY)
            decided = None
        elif facts is not None and decided < facts.birth_date:  # no decision concerns someone not yet born
            errors.append(_E_DATE_BEFORE_BIRTH)
            decided = None
    severity = get("severity")
    if type(severity) is str:  # " general " as an enum field's value is trimmed: the same for severity
        severity = severity.strip()
    out_fields: dict[str, Any] = {}
    if item is not None:
        spec = item.spec
        sevs = spec.severities
        if sevs:
            if severity is None or severity == "":
                errors.append(_e("severity", "missing", f"该事项须填写严重程度（{'/'.join(sevs)}）",
                                 f"severity is required: one of {', '.join(sevs)}"))
            elif severity not in sevs:
                errors.append(_e("severity", "not_allowed", f"严重程度应为 {'/'.join(sevs)}",
                                 f"severity must be one of {', '.join(sevs)}"))
        elif severity is not None and severity != "":
            errors.append(_E_NO_SEVERITY)
        else:
            severity = None
        raw_fields = get("fields")
        if raw_fields is None:
            raw_fields = {}
        if type(raw_fields) is not dict and not isinstance(raw_fields, Mapping):
            errors.append(_E_FIELDS_TYPE)
        else:
            index = spec.field_index
            if not raw_fields.keys() <= index.keys():
                for k in raw_fields:
                    if k not in index:
                        errors.append(_e(f"fields.{_clean(k)}", "unknown_field", f"本事项在目录中没有字段“{_clean(k)}”",
                                         f"no field '{_clean(k)}' in the catalog item"))
            for fname, required, checker, missing in spec.checkers:
                v = raw_fields.get(fname)
                if v is None or v == "":
                    if required:
                        errors.append(missing)
                    continue
                value, err = checker(v)
                if err is not None:
                    errors.append(err)
                else:
                    out_fields[fname] = value
            ended = out_fields.get(spec.retention_from) if spec.retention_from is not None else None
            if ended is not None and ended > (sent_on or today).isoformat():  # ISO dates order as text
                f = spec.field_index[spec.retention_from]  # type: ignore[index]
                errors.append(_e(f"fields.{f.name}", "future_date", f"“{f.name_zh}”不能晚于今天（或文件上传之日）",
                                 f"{f.name} must not be after today (or the day the file was uploaded)"))
    elif get("fields") is not None and not isinstance(get("fields"), Mapping):
        errors.append(_E_FIELDS_TYPE)
    if errors or item is None or facts is None or decided is None or source_id is None or type(name) is not str:
        return None, errors, item_code, source_id
    return _Prepared(-1, item, facts, "", name, source_id, decided, severity, out_fields), [], item_code, source_id


def lock_department(session: Session, department_id: int) -> bool:
    """Make the transactions that change one department's records take turns (PostgreSQL: its
    ``departments`` row locked ``FOR NO KEY UPDATE`` until this transaction ends; other
    departments, readers and foreign-key checks are not held up). A record is identified by
    (department, ``source_id``), so a second push of the same records — a client that timed out and
    sent its batch again while the first request was still being written — must read them after
    the first committed: it then answers ``unchanged`` (or ``updated`` once) instead of failing on
    the unique constraints (tests/records/test_concurrent_pushes.py). Taken before the records are
    read, and before the subjects' locks of the after-change handlers (always in that order).
    SQLite: nothing to do, its writers take turns from ``BEGIN``.

    PostgreSQL: also switches JIT compilation off for the batch's transaction. Before the planner
    has statistics of a growing table, the per-value lookups of :func:`bulk.fetch_in` are estimated
    far above ``jit_above_cost``, and compiling one took 170 ms for a 1-ms lookup.

    Returns whether the department is active, as the last committed change left it once the turn is
    this transaction's: a deactivation (``auth.service.deactivate_department``, which takes the same
    turn) committed while a push was checked or waited is seen, and the push refused."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")
        active = conn.exec_driver_sql("SELECT active FROM departments WHERE id = %s FOR NO KEY UPDATE",
                                      (department_id,)).scalar()
    else:
        active = conn.exec_driver_sql("SELECT active FROM departments WHERE id = ?", (department_id,)).scalar()
    return bool(active)


def content_hash(item_code: str, subject_id: int, severity: str | None, decided_at: date, fields: Mapping[str, Any]) -> str:
    # orjson writes a date as YYYY-MM-DD, the same bytes as its isoformat() in a string
    blob = orjson.dumps([item_code, subject_id, severity, decided_at, fields], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()


# nothing the number says (birth date, gender, region) is stored beside it: see Subject
_SUBJECT_COLS = ("id_bidx", "id_cipher", "name_cipher", "key_id", "created_at", "updated_at")


def _resolve_subjects(session: Session, vault: Vault, prepared: list[_Prepared], outcomes: list[Outcome],
                      created_subjects: list[int], new_people: dict[int, tuple[str, str, str]]) -> list[_Prepared]:
    """Find or create each record's subject; reject name mismatches with a subject already registered.
    Returns the records still good. A person new in this batch is registered under the name of their
    first record here and listed in ``new_people`` (subject id -> blind index, that name, key id):
    their name is the one of their first record that is accepted, which :func:`ingest` knows only
    once it has judged the records (a record refused for its source id names no one), so it compares
    their records' names and corrects the name registered."""
    conn = session.connection()
    sqlite = conn.dialect.name == "sqlite"
    known: dict[str, tuple[int, bytes, str]] = {}
    for sid, b, nc, kid in bulk.fetch_in(session, _S, ("id", "id_bidx", "name_cipher", "key_id"), "id_bidx",
                                     list({p.bidx for p in prepared})):
        known[b] = (sid, nc, kid)
    names: dict[str, str] = {}
    new_rows: dict[str, tuple[Any, ...]] = {}  # in the order of _SUBJECT_COLS
    good: list[_Prepared] = []
    now = utcnow()
    for p in prepared:
        if p.bidx in known:
            sid, nc, kid = known[p.bidx]
            registered = names.get(p.bidx)
            if registered is None:
                registered = names[p.bidx] = vault.reveal_name(p.bidx, nc, kid)
            if registered != p.name and not names_match(registered, p.name):
                outcomes[p.index].errors = [_e("name", "name_mismatch", "姓名与该身份证号码已登记的姓名不一致",
                                               "name does not match the name registered for this ID number")]
                continue
            p.subject_id = sid
        elif p.bidx in new_rows:
            pass  # judged by ingest against the first of this person's records it accepts
        else:
            sealed = vault.seal_checked(p.facts, p.name, p.bidx)
            names[p.bidx] = p.name
            new_rows[p.bidx] = (sealed.id_bidx, sealed.id_cipher, sealed.name_cipher, sealed.key_id, now, now)
        good.append(p)
    if new_rows:
        # SQLite: this transaction holds the write lock and found none of them above, so none can
        # conflict (and one that did would fail the batch, not be skipped); the ids are numbered in
        # one executemany. PostgreSQL: another transaction may create the same person meanwhile
        # (only that conflict, on id_bidx, is skipped: any other — a primary key behind its
        # sequence, say — fails the batch instead of leaving a record without its subject).
        created = dict((b, sid) for sid, b in bulk.insert_tuples(session, _S, _SUBJECT_COLS, list(new_rows.values()),
                                                                 returning=("id", "id_bidx"),
                                                                 ignore_conflicts=not sqlite,
                                                                 conflict_target=("id_bidx",)))
        created_subjects.extend(created.values())
        missing = [b for b in new_rows if b not in created]
        if missing:  # created meanwhile by a concurrent transaction
            for sid, b in conn.execute(select(_S.c.id, _S.c.id_bidx).where(bulk.in_values(session, _S.c.id_bidx,
                                                                                          missing))):
                created[b] = sid
        for p in good:
            if p.subject_id is None:
                p.subject_id = created[p.bidx]
        for b, row in new_rows.items():
            new_people[created[b]] = (b, names[b], row[3])
    return good


_SNAPSHOT_COLS = ("id", "revision", "change_kind", "subject_id", "item_id", "severity", "decided_at", "fields",
                  "content_hash", "status", "publish", "display_until", "status_reason", "updated_at", "changed_by")


def _snapshot_rows(session: Session, record_ids: Sequence[int]) -> list[dict[str, Any]]:
    """History rows for the current revisions of ``record_ids`` (before they are superseded)."""
    conn = session.connection()
    out = []
    now = utcnow()
    if not record_ids:
        return out
    for r in conn.execute(select(*(_R.c[c] for c in _SNAPSHOT_COLS)).where(bulk.in_values(session, _R.c.id,
                                                                                          list(record_ids)))):
        m = r._mapping
        out.append({"record_id": m["id"], "revision": m["revision"], "kind": m["change_kind"],
                    "subject_id": m["subject_id"], "item_id": m["item_id"], "severity": m["severity"],
                    "decided_at": m["decided_at"], "fields": m["fields"], "content_hash": m["content_hash"],
                    "status": m["status"], "publish": m["publish"], "display_until": m["display_until"],
                    "reason": m["status_reason"], "created_at": m["updated_at"], "actor_label": m["changed_by"],
                    "superseded_at": now})
    return out


def _dates(item: Item, severity: str | None, decided: date, fields: dict[str, Any]) -> display.DisplayDates:
    """The record's display dates, remembered on the item's compiled version (``ItemSpec.dates_cache``:
    a version rolled back and its row id given again to another is another compiled spec)."""
    cache = item.spec.dates_cache
    key = (severity, decided, item.spec.date_inputs(fields))
    got = cache.get(key)
    if got is None:
        if len(cache) > 100_000:
            cache.clear()
        got = cache[key] = display.compute(item.spec, severity, decided, fields)
    return got


# Column order of the tuples ingest builds for new records (source_id at 16, item_code 17, status 12).
_NEW_COLS = ("subject_id", "item_id", "category", "severity", "decided_at", "fields", "content_hash", "publish",
             "min_display_until", "display_until", "retain_until", "updated_at", "status", "change_kind", "changed_by",
             "department_id", "source_id", "item_code", "revision", "received_at", "status_changed_at",
             "arrival_working_days")


@dataclass(slots=True)
class CheckedBatch:
    """A batch after the step that needs no database (:func:`check_batch`): one outcome per input
    record (the rejected ones carry their errors), the good records with their blind indexes, the
    day they were checked on and the day they were sent (no later than it)."""

    records: Sequence[Any]
    department: DepartmentRef
    today: date
    sent_on: date
    outcomes: list[Outcome]
    prepared: list[_Prepared]
    used: bool = False  # ingest fills in the outcomes and subject ids: one use only


def check_batch(records: Sequence[Any], *, items: Mapping[str, Item], department: DepartmentRef, vault: Vault,
                today: date | None = None, sent_on: date | None = None) -> CheckedBatch:
    """Validate every record against the catalog ``items`` and blind-index its ID number: pure CPU,
    no database. The records API runs it before its write transaction begins, so that on SQLite
    another worker's batch holds the write lock meanwhile (see docs/performance-log.md, the third session).
    ``sent_on``: the day the batch was sent, when earlier than ``today`` (see :func:`check_record`)."""
    today = today or clock.today()
    earlier = sent_before(sent_on, today)
    outcomes, prepared = check_records(records, items=items, department=department, today=today, sent_on=earlier)
    index_prepared(prepared, vault)
    return CheckedBatch(records, department, today, earlier or today, outcomes, prepared)


def sent_before(sent_on: date | None, today: date) -> date | None:
    """The day a batch was sent if it is before the day it is checked (an import run after its upload:
    no decision may be dated after it), else None (:func:`check_record`'s ``sent_on``)."""
    return sent_on if sent_on is not None and sent_on < today else None


def check_records(records: Sequence[Any], *, items: Mapping[str, Item], department: DepartmentRef, today: date,
                  sent_on: date | None = None) -> tuple[list[Outcome], list[_Prepared]]:
    """:func:`check_batch` without the blind indexes: needs no key either, so that an import's helper
    process (``xinyong.imports.prepare``) can run it. The prepared records' ``bidx`` is still empty."""
    outcomes: list[Outcome] = [Outcome(i, "rejected") for i in range(len(records))]
    prepared: list[_Prepared] = []
    ids: dict[str, _IdCheck] = {}  # this batch's ID checks, dropped with it
    for i, raw in enumerate(records):
        p, errs, _item_code, _source_id = check_record(raw, items=items, department=department, today=today, ids=ids,
                                                       sent_on=sent_on)
        if p is None:
            outcomes[i].errors = errs
            continue
        p.index = i
        prepared.append(p)
    return outcomes, prepared


def index_prepared(prepared: Sequence[_Prepared], vault: Vault) -> None:
    """Fill in the prepared records' blind indexes (once per distinct number)."""
    bidx_of: dict[str, str] = {}
    for p in prepared:
        number = p.facts.number
        bidx = bidx_of.get(number)
        if bidx is None:
            bidx = bidx_of[number] = vault.lookup_key_checked(p.facts)
        p.bidx = bidx


# A prepared record as plain values, to cross from a helper process (``xinyong.imports.prepare``):
# pickling the objects themselves (a slotted dataclass, a named tuple holding a date) cost ~20 µs a
# record, more than checking it. (index, item code, ID number, birth day ordinal, gender, region code,
# region name, source id, name, decision day ordinal, severity, fields)
PackedRecord = tuple[int, str, str, int, str, str, str, str, str, int, str | None, dict[str, Any]]


def pack_prepared(prepared: Sequence[_Prepared]) -> list[PackedRecord]:
    return [(p.index, p.item.code, p.facts.number, p.facts.birth_date.toordinal(), p.facts.gender,
             p.facts.region_code, p.facts.region_name, p.source_id, p.name, p.decided_at.toordinal(), p.severity,
             p.fields) for p in prepared]


def checked_from_packed(records: Sequence[Any], *, department: DepartmentRef, today: date, sent_on: date | None,
                        refused: Sequence[tuple[int, list[dict[str, str]]]], packed: Sequence[PackedRecord],
                        items: Mapping[str, Item], vault: Vault) -> CheckedBatch:
    """The :class:`CheckedBatch` that :func:`check_records` (elsewhere) found for ``records``: the
    refused ones' (index, errors) and the accepted ones packed by :func:`pack_prepared`, against the
    same versions of ``items``; blind-indexed here, where the key is."""
    outcomes = [Outcome(i, "rejected") for i in range(len(records))]
    for i, errs in refused:
        outcomes[i].errors = errs
    facts, fromordinal = identity.IdFacts, date.fromordinal
    prepared = [_Prepared(i, items[code], facts(number, fromordinal(born), gender, region, region_name), "", name,
                          source_id, fromordinal(decided), severity, fields)
                for (i, code, number, born, gender, region, region_name, source_id, name, decided, severity, fields)
                in packed]
    index_prepared(prepared, vault)
    return CheckedBatch(records, department, today, sent_before(sent_on, today) or today, outcomes, prepared)


@dataclass
class FileBatch:
    """A file imported in chunks is one batch: a source id's repeats are compared with its first
    accepted row wherever they are in the file (identical: ``unchanged``; other content:
    ``duplicate_in_batch`` naming that row), not only inside a chunk — else a repeat 5,000 rows down
    updated the record, and every import of the file updated it back and forth. One per run of an
    import job, passed to each chunk's :func:`ingest`.

    ``before``: on a resumed run, the source ids of the file's rows already done that were accepted,
    each with its first accepted row's number; that row's content is what their record holds, so the
    record stands in for it (an id whose rows were all refused is not there: as in a straight run, a
    refused row stands for nothing)."""

    first: dict[str, tuple[str, int]] = field(default_factory=dict)  # source id -> (content hash, row)
    before: Mapping[str, int] = field(default_factory=dict)  # source id -> its first accepted row
    rows: Sequence[int] = ()  # the current chunk's row numbers, by record index


def _duplicate(row: int | None) -> list[dict[str, str]]:
    if row is None:
        return [_e("source_id", "duplicate_in_batch", "同一批次中来源编号重复且内容不同",
                   "source_id repeats in this batch with different content")]
    return [_e("source_id", "duplicate_in_batch", f"来源编号与第{row}行重复而内容不同（同一文件中一个来源编号只能对应一种内容）",
               f"source_id repeats row {row} with other content (in one file a source_id has one content)")]


def ingest(session: Session, *, vault: Vault, department: DepartmentRef, records: Sequence[Any], actor: Actor,
           channel: str = "api", today: date | None = None, items: Mapping[str, Item] | None = None,
           checked: CheckedBatch | None = None, file: FileBatch | None = None,
           arrived_on: date | None = None) -> list[Outcome]:
    """Validate and store a batch. Returns one outcome per input record, in order.

    Written in the caller's transaction: the records, new subjects, superseded revisions, the
    rejection log and one audit entry listing every change; then the after-change handlers run.
    ``checked``: the batch as :func:`check_batch` already checked it (for these ``records`` and this
    ``department``); otherwise it is checked here against ``items`` (default: the current catalog).
    ``arrived_on``: the day the department delivered the batch, from which its new records' delay
    (``arrival_working_days``) is counted — an import's upload day, so that a job run or resumed
    days later does not count its rows late (default, and at the latest: the day of the check);
    no decision may be dated after it, whenever the batch is checked. (A ``checked`` batch carries
    the day it was sent: :func:`check_batch`'s ``sent_on``.)
    """
    if checked is None:
        checked = check_batch(records, items=items if items is not None else current_items(session),
                              department=department, vault=vault, today=today, sent_on=arrived_on)
    elif (checked.records is not records or checked.department != department or checked.used
          or arrived_on is not None):
        raise ValueError("a checked batch is ingested once, with its own records, department and day sent")
    checked.used = True
    today, arrival, outcomes, prepared = checked.today, checked.sent_on, checked.outcomes, checked.prepared
    now = utcnow()
    if not lock_department(session, department.id):  # deactivated since the batch's caller was let in
        raise DepartmentInactive("push")

    created_subjects: list[int] = []
    new_people: dict[int, tuple[str, str, str]] = {}
    good = _resolve_subjects(session, vault, prepared, outcomes, created_subjects, new_people) if prepared else []
    named: dict[int, str] = {}  # a new person's name: that of their first record accepted below
    pending: _Prepared | None = None  # a new person's record just judged (named if it was accepted)
    conn = session.connection()

    existing: dict[str, dict[str, Any]] = {}
    sids = list({p.source_id for p in good})
    # By source_id alone, the leading column of the unique index: with a department predicate too,
    # PostgreSQL without fresh statistics picks ix_records_dept_item and scans the whole department.
    for rid, source_id, dept, chash, revision, status, subject_id, decided, delay, received, code in bulk.fetch_in(
            session, _R, ("id", "source_id", "department_id", "content_hash", "revision", "status", "subject_id",
                          "decided_at", "arrival_working_days", "received_at", "item_code"),
            "source_id", sids):
        if dept == department.id:
            existing[source_id] = {"id": rid, "source_id": source_id, "department_id": dept, "content_hash": chash,
                                   "revision": revision, "status": status, "subject_id": subject_id,
                                   "decided_at": decided, "delay": delay, "received_at": received, "item": code}

    new_rows: list[tuple[Any, ...]] = []
    new_index: dict[str, list[int]] = {}
    updates: dict[int, dict[str, Any]] = {}
    changed_subjects: set[int] = set()
    new_items: dict[int, set[tuple[str, str]]] = {}  # subject -> (item, category) of its new records
    moved: set[int] = set()  # subjects with an updated record (its old content may have counted)
    # source_id -> content hash of its first accepted occurrence in this batch (created, updated or
    # unchanged): a repeat with the same content is unchanged, one with other content is refused
    first_in_batch: dict[str, str] = {}
    delays: dict[date, int] = {}  # decision day -> working days to the arrival
    label, dept_id = actor.label, department.id

    for p in good:
        subject_id = p.subject_id
        assert subject_id is not None
        item = p.item
        h = content_hash(item.code, subject_id, p.severity, p.decided_at, p.fields)
        cur = existing.get(p.source_id)
        out = outcomes[p.index]
        if new_people:
            if pending is not None and not outcomes[pending.index].errors:  # the last one was accepted
                named.setdefault(pending.subject_id, pending.name)  # type: ignore[arg-type]
            pending = None
            if subject_id in new_people:
                first_name = named.get(subject_id)
                if first_name is not None and first_name != p.name and not names_match(first_name, p.name):
                    out.errors = [_e("name", "name_mismatch", "同一批次中同一身份证号码的姓名不一致",
                                     "the same ID number carries different names in this batch")]
                    continue
                pending = p
        where: int | None = None
        if file is None:
            seen = first_in_batch.get(p.source_id)
        else:  # the file's first accepted row of this id, in this chunk or an earlier one
            got = file.first.get(p.source_id)
            if got is not None:
                seen, where = got
            else:
                # (a record of another item was made by none of the file's rows, which are all of one
                # item: those of its id were refused item_changed, and a refused first row does not count)
                seen = (cur["content_hash"] if cur is not None and p.source_id in file.before
                        and cur["item"] == item.code else None)
                if seen is not None:
                    where = file.before[p.source_id]
        if seen is not None:
            if seen != h:
                out.errors = _duplicate(where)
            elif cur is None:  # its first row is in this batch: its record id once the batch's are known
                new_index.setdefault(p.source_id, []).append(p.index)
                out.status = "unchanged"
            else:
                out.status, out.record_id = "unchanged", cur["id"]
            continue
        if cur is not None and cur["content_hash"] == h:
            first_in_batch[p.source_id] = h
            if file is not None:
                file.first[p.source_id] = (h, file.rows[p.index])
            out.status = "unchanged"
            out.record_id = cur["id"]
            continue
        if cur is not None and cur["status"] == "revoked":
            out.errors = [_e("source_id", "revoked", "该记录已撤销，不能再更新；请使用新的来源编号",
                             "this record was revoked and cannot be updated; use a new source_id")]
            continue
        if cur is not None and cur["status"] == "archived":  # retention ended: kept as it was, final
            out.errors = [_e("source_id", "archived", "该来源编号的记录保存期已满并已归档，不能再更新",
                             "the record of this source_id reached the end of its retention and was archived; "
                             "it cannot be updated")]
            continue
        if cur is not None and cur["item"] != item.code:  # a source_id is one record of one item, for good:
            # another item's record under it (the department's ids may repeat across items) would replace it
            out.errors = [_e("item", "item_changed",
                             f"该来源编号已用于事项 {cur['item']} 的记录，不能改为其他事项；确属报错的，请撤销原记录后以新的来源编号报送",
                             f"this source_id already identifies a record of item {cur['item']}, which cannot change "
                             "item; if it was pushed under the wrong item, revoke it and push the record under a new "
                             "source_id")]
            continue
        dates = _dates(item, p.severity, p.decided_at, p.fields)
        status = display.status_on(dates, today)
        if cur is None:
            days = delays.get(p.decided_at)
            if days is None:
                days = delays[p.decided_at] = working_days_between(p.decided_at, arrival)
            new_rows.append((subject_id, item.id, item.spec.category, p.severity, p.decided_at, p.fields, h,
                             dates.publish, dates.min_display_until, dates.display_until, dates.retain_until, now,
                             status, "push", label, dept_id, p.source_id, item.code, 1, now, now, days))
            first_in_batch[p.source_id] = h
            if file is not None:
                file.first[p.source_id] = (h, file.rows[p.index])
            new_index[p.source_id] = [p.index]
            out.status = "created"
            changed_subjects.add(subject_id)
            got = new_items.get(subject_id)
            if got is None:
                got = new_items[subject_id] = set()
            got.add((item.code, item.spec.category))
        else:
            first_in_batch[p.source_id] = h
            if file is not None:
                file.first[p.source_id] = (h, file.rows[p.index])
            updates[cur["id"]] = {
                "subject_id": subject_id, "item_id": item.id, "category": item.spec.category, "severity": p.severity,
                "decided_at": p.decided_at, "fields": p.fields, "content_hash": h, "publish": dates.publish,
                "min_display_until": dates.min_display_until, "display_until": dates.display_until,
                "retain_until": dates.retain_until, "updated_at": now, "status": status, "change_kind": "push",
                "changed_by": label, "_id": cur["id"], "revision": cur["revision"] + 1, "item_code": item.code,
                "status_changed_at": now if status != cur["status"] else None,
                "arrival_working_days": _corrected_delay(cur["delay"], cur["decided_at"], p.decided_at,
                                                         cur["received_at"])}
            out.status = "updated"
            out.record_id = cur["id"]
            changed_subjects.update((subject_id, cur["subject_id"]))
            moved.update((subject_id, cur["subject_id"]))

    for o in outcomes:
        if o.errors:
            o.status = "rejected"
    if pending is not None and not outcomes[pending.index].errors:
        named.setdefault(pending.subject_id, pending.name)  # type: ignore[arg-type]
    for sid, (b, sealed_name, kid) in new_people.items():
        # registered under their first record's name, which may have been refused: their first accepted one's
        if named.get(sid, sealed_name) != sealed_name and sid in created_subjects:
            conn.execute(update(_S).where(_S.c.id == sid).values(name_cipher=vault.seal_name(b, named[sid], kid)))
    if created_subjects:
        # A subject is created by the first valid record naming them: one created above for records
        # all refused since (a repeat with other content, a revoked or archived source id) is removed.
        kept = {p.subject_id for p in good if not outcomes[p.index].errors}
        if not kept.issuperset(created_subjects):
            conn.execute(_S.delete().where(bulk.in_values(session, _S.c.id,
                                                          [s for s in created_subjects if s not in kept])))
            created_subjects = [s for s in created_subjects if s in kept]
    changes: list[list[Any]] = []
    if new_rows:
        ids = dict((sid, rid) for rid, sid in bulk.insert_tuples(session, _R, _NEW_COLS, new_rows,
                                                                 returning=("id", "source_id")))
        for r in new_rows:
            rid = ids[r[16]]
            for idx in new_index[r[16]]:
                outcomes[idx].record_id = rid
            changes.append([rid, 1, r[17], r[12]])
    if updates:
        bulk.insert_rows(session, _REV, _snapshot_rows(session, list(updates)))
        set_values = {c: bindparam(c) for c in ("subject_id", "item_id", "category", "severity", "decided_at", "fields",
                                                "content_hash", "publish", "min_display_until", "display_until",
                                                "retain_until", "updated_at", "status", "revision", "change_kind",
                                                "changed_by", "arrival_working_days")}
        for status_moved in (False, True):
            # an update whose dates move the status (an ended display shown again after a corrected date)
            # sets it as a new record's is set: at this time, without the reason of the status it leaves
            part = [{k: v for k, v in u.items() if k not in ("item_code", "status_changed_at")}
                    for u in updates.values() if (u["status_changed_at"] is not None) is status_moved]
            if part:
                values = {**set_values, "status_changed_at": now, "status_reason": None} if status_moved else set_values
                conn.execute(update(_R).where(_R.c.id == bindparam("_id")).values(values), part)
        changes.extend([u["_id"], u["revision"], u["item_code"], u["status"]] for u in updates.values())
    rejections = [rejection_row(department_id=department.id, item_code=_item_code_of(records[o.index]),
                                source_id=_source_of(records[o.index]), channel=channel, errors=o.errors, now=now)
                  for o in outcomes if o.errors]
    if rejections:
        bulk.insert_rows(session, _REJ, rejections)
    counts = {s: 0 for s in ("created", "updated", "unchanged", "rejected")}
    for o in outcomes:
        counts[o.status] += 1
    # One entry per batch, naming every record written ([id, revision, item, status]) and every
    # subject created: the batch is one act by one actor, and this keeps ingestion set-based.
    # (Core, not the ORM: an object added here made the after-change handlers' first query flush the
    # session's unit of work, ~3 % of a batch's time)
    record_many(session, actor=actor, action="records.push", object_type="department", items=[(department.id, {
        "channel": channel, "size": len(records), **counts, "records": changes, "subjects_created": created_subjects,
        "rejections": [[o.index, o.errors[0]["field"], o.errors[0]["code"]] for o in outcomes if o.errors]})])
    if changed_subjects:
        events.records_changed(session, changed_subjects, [c[0] for c in changes], reason="push",
                               created_items={sid: frozenset(v) for sid, v in new_items.items() if sid not in moved},
                               new_subjects=created_subjects, today=today)
    return outcomes


def _corrected_delay(delay: int | None, before: date | str | None, after: date,
                     received_at: datetime | str | None = None) -> int | None:
    """A record's arrival delay (working days from its decision to the day it first arrived) once its
    ``decided_at`` is corrected from ``before`` to ``after``: the arrival day stays, so the delay
    grows by the working days between an earlier date and the old one, or shrinks by those between
    the old one and a later date (every first decision date is on or before the arrival day, so the
    two spans add up exactly). Unknown (a record from before delays were kept) stays unknown.

    A delay of 0 may also be a decision dated after the arrival (a correction to a later date, which
    a later push may bring: ``after`` is only bounded by the day that push is sent): the arrival day
    is then no longer on the delay, and an earlier date counts to the record's first arrival — the
    day it was received (its ``received_at``, which updates never move; an import's upload day is at
    most that day) — rather than to the date it replaces."""
    if delay is None or before is None:
        return delay
    if isinstance(before, str):  # SQLite's driver returns a DATE column of a plain statement as text
        before = date.fromisoformat(before[:10])
    if after < before:
        if delay == 0:
            at = utc_of(received_at)
            got = clock.day_of(at) if at is not None else None
            if got is not None and got < before:
                return working_days_between(after, got)
        return delay + working_days_between(after, before)
    if after > before:
        return max(0, delay - working_days_between(before, after))
    return delay


def _item_code_of(raw: Any) -> str | None:
    code = raw.get("item") if isinstance(raw, Mapping) else None
    return _clean(code) if isinstance(code, str) and code else None


def rejection_row(*, department_id: int, item_code: str | None, source_id: Any, channel: str,
                  errors: Sequence[Mapping[str, Any]], now: datetime) -> dict[str, Any]:
    """One row of the data quality's rejection log (``record_rejections``) for a refused record or
    file row: its first error's code and field, all its codes; the source id as sent, cleaned."""
    return {"department_id": department_id, "item_code": item_code,
            "source_id": _clean(source_id) if source_id not in (None, "") else None, "channel": channel,
            "code": str(errors[0]["code"])[:32], "field": str(errors[0]["field"])[:64],
            "codes": ",".join(dict.fromkeys(str(e["code"]) for e in errors))[:255], "created_at": now}


def _source_of(raw: Any) -> str | None:
    if not isinstance(raw, Mapping):
        return None
    v = raw.get("source_id")
    return _clean(v) if isinstance(v, str | int) and not isinstance(v, bool) else None


# ---- reading ---------------------------------------------------------------------------------

class RecordError(ValueError):
    def __init__(self, code: str, zh: str, en: str, status: int = 422, field: str | None = None) -> None:
        self.code, self.zh, self.en, self.status, self.field = code, zh, en, status, field
        super().__init__(f"{zh} / {en}")

    @property
    def message(self) -> str:
        return f"{self.zh} / {self.en}"


class DepartmentInactive(RecordError):
    """The record's department is deactivated (auth.service.deactivate_department): it changes
    nothing any more. 403 ``department_inactive``; the routes register the refusal."""

    def __init__(self, what: str = "revoke") -> None:
        if what == "push":
            super().__init__("department_inactive", "部门已停用，不能再报送记录",
                             "the department is inactive: it can no longer push records", 403)
        else:
            super().__init__("department_inactive", "部门已停用，不能再撤销记录",
                             "the department is inactive: it can no longer revoke records", 403)


def filter_records(stmt: Any, *, item: str | None = None, status: str | None = None,
                   decided_from: date | None = None, decided_to: date | None = None,
                   before_id: int | None = None, subject_id: int | None = None) -> Any:
    """The record filters shared by the API list and the workspace page (newest-first paging by id)."""
    if item:
        stmt = stmt.where(Record.item_code == item)
    if status:
        stmt = stmt.where(Record.status == status)
    if decided_from:
        stmt = stmt.where(Record.decided_at >= decided_from)
    if decided_to:
        stmt = stmt.where(Record.decided_at <= decided_to)
    if subject_id is not None:
        stmt = stmt.where(Record.subject_id == subject_id)
    if before_id is not None:
        stmt = stmt.where(Record.id < before_id)
    return stmt


def get_for_department(session: Session, *, record_id: int, department_id: int | None, any_department: bool = False
                       ) -> Record:
    rec = session.get(Record, record_id)
    if rec is None or (not any_department and rec.department_id != department_id):
        raise RecordError("not_found", "记录不存在", "record not found", 404)
    return rec


def revisions_of(session: Session, record_id: int) -> list[RecordRevision]:
    return list(session.scalars(select(RecordRevision).where(RecordRevision.record_id == record_id)
                                .order_by(RecordRevision.revision)))


ACT_ENDED_ON = "act_ended_on"  # the revocation's optional end of the act (the body's and the form's name)


def _act_ended(session: Session, rec: Record, raw: Any, today: date) -> tuple[Item, date]:
    """The end of the act a revocation records (a dishonest debtor who performed: the court's removal is
    when the act ended), checked as a pushed record's field is: the record's item must count its
    retention from a date field (``retention.from_field`` in the current catalog); the date is read by
    that field's own checker; it is not after today (as on a push, it may be before the decision). Refusals name
    ``act_ended_on`` (422)."""
    item = get_current(session, rec.item_code)
    if item is None or item.spec.retention_from is None:
        raise RecordError("not_allowed", "该事项的保存期不从违法失信行为终止日期起算（目录未设置 retention.from_field），不能填写终止日期",
                          "this item's retention does not count from the end of the act (its catalog sets no "
                          "retention.from_field): act_ended_on is not allowed", 422, ACT_ENDED_ON)
    f = item.spec.field_index[item.spec.retention_from]
    value, err = coerce_field(f, raw.strip() if isinstance(raw, str) else raw, ACT_ENDED_ON)
    if err is not None:
        zh, _, en = err["message"].partition(" / ")
        raise RecordError(err["code"], zh, en, 422, ACT_ENDED_ON)
    ended = date.fromisoformat(value)
    if ended > today:
        raise RecordError("future_date", f"“{f.name_zh}”不能晚于今天", f"{ACT_ENDED_ON} must not be after today",
                          422, ACT_ENDED_ON)
    # (before the decision is no refusal, as on a push: a penalty's act mostly ended before it was
    # decided, and a debtor who had performed before being listed is revoked with that day)
    return item, ended


def revoke(session: Session, *, rec: Record, reason: str, actor: Actor, act_ended_on: Any = None,
           today: date | None = None) -> Record:
    """Revoke (撤销): kept with a new revision, no longer shown or used. Refused (``DepartmentInactive``)
    when the record's department is deactivated, read under the department's lock, so that a
    deactivation committed while this waited for its turn is seen.

    ``act_ended_on`` (optional, ``YYYY-MM-DD``; None or empty: not given): the end of the act, for an
    item whose retention counts from it (:func:`_act_ended`). The same revocation revision then holds
    it in the record's field (the revision before keeps the fields as they were), with ``retain_until``
    computed again from it (``display.compute``, the item's current rule; never before the record's
    display ends); the audit entry names both. The content hash stays the pushed content's, with
    which pushes are compared: the record sent again as it was pushed is ``unchanged``."""
    if not lock_department(session, rec.department_id):
        raise DepartmentInactive()
    reason = (reason or "").strip()
    if not reason:
        raise RecordError("missing", "请填写撤销原因", "a reason is required", 422, "reason")
    if len(reason) > 1000:
        raise RecordError("too_long", "撤销原因不能超过1000字", "reason must not exceed 1000 characters", 422, "reason")
    if _CTRL_TEXT.search(reason):  # line breaks and tabs are text; NUL would also fail on PostgreSQL
        raise RecordError("invalid_characters", "撤销原因包含不允许的控制字符", "the reason contains control characters",
                          422, "reason")
    reason = mask_id_numbers_in(reason)  # free text is kept and shown: never an ID number in the clear
    session.flush()  # this transaction's own changes are kept, not read over
    session.refresh(rec)  # as the department's last committed change left it
    if rec.status == "revoked":
        raise RecordError("already_revoked", "记录已撤销", "record is already revoked", 409)
    if rec.status == "archived":  # retention ended: kept as it was
        raise RecordError("archived", "记录保存期已满并已归档，不能撤销", "record was archived when its retention ended; "
                          "it cannot be revoked", 409)
    ended = None
    if act_ended_on is not None and act_ended_on != "":
        item, ended = _act_ended(session, rec, act_ended_on, today or clock.today())
    bulk.insert_rows(session, _REV, _snapshot_rows(session, [rec.id]))
    now = utcnow()
    previous = rec.status
    details: dict[str, Any] = {"reason": reason[:200], "previous_status": previous}
    if ended is not None:
        name = item.spec.retention_from
        assert name is not None
        fields = {**rec.fields, name: ended.isoformat()}  # a new dict: the JSON column sees the change
        dates = display.compute(item.spec, rec.severity, rec.decided_at, fields)
        before = rec.retain_until
        # content_hash stays the pushed content's: it answers the department's pushes (a nightly
        # re-send of the record as pushed is unchanged, not refused as revoked for a field it never sent)
        rec.fields = fields
        rec.retain_until = max(d for d in (dates.retain_until, rec.display_until) if d is not None)
        details.update({"act_ended_on": ended.isoformat(), "retain_until": rec.retain_until.isoformat(),
                        "retain_until_before": before.isoformat() if before else None})
    rec.revision += 1
    rec.status, rec.status_changed_at, rec.status_reason, rec.updated_at = "revoked", now, reason, now
    rec.change_kind, rec.changed_by = "revoke", actor.label
    details["revision"] = rec.revision
    record(session, actor=actor, action="record.revoke", object_type="record", object_id=rec.id, details=details)
    session.flush()
    events.records_changed(session, [rec.subject_id], [rec.id], reason="revoke")
    return rec


# ---- maintenance -----------------------------------------------------------------------------

@dataclass
class MaintainResult:
    expired: int = 0
    archived: int = 0


def maintain(session: Session, *, actor: Actor, today: date | None = None, batch: int = 5000) -> MaintainResult:
    """End display of records whose ``display_until`` has come (the period's end: the day itself is no
    longer shown); archive records whose ``retain_until`` has come, revoked
    ones included (kept, not shown, until retention ends, like every other record). Each change is a
    new revision (kind ``expire`` / ``archive``: the revision it supersedes goes to the history, as
    a push's or a revocation's does, so a revocation's reason stays where it was) and is audited.
    Idempotent: a second run on the same day changes nothing.

    Each pass walks the table once in id order (``batch`` matches at a time, continuing after the
    last id): no index orders records by their dates, which would cost every pushed record a
    random index page for the sake of this daily job. Each batch takes its records' departments'
    turns (:func:`lock_department`, as pushes, revocations and recomputations do), reads them again
    as they are then — a revocation or a push committed meanwhile is not overwritten —, and commits:
    a department's pushes wait for one batch at most, not for the whole walk. (Without the turns,
    a push or a revocation of the same record numbered the same revision: a unique-key failure on
    one side or the other, every time under load on PostgreSQL.)"""
    today = today or clock.today()
    res = MaintainResult()
    now = utcnow()
    for target, cond, reason in (
        ("archived", and_(_R.c.status.in_(("active", "expired", "revoked")), _R.c.retain_until.is_not(None),
                          _R.c.retain_until <= today), "retention ended"),
        ("expired", and_(_R.c.status == "active", _R.c.display_until <= today), "display period ended"),
    ):
        kind = "archive" if target == "archived" else "expire"
        after = 0
        while True:
            conn = session.connection()
            due = conn.execute(select(_R.c.id, _R.c.department_id).where(_R.c.id > after, cond)
                               .order_by(_R.c.id).limit(batch)).all()
            if not due:
                break
            after = due[-1].id
            lock_rows(session, "departments", {r.department_id for r in due})
            rows = conn.execute(select(_R.c.id, _R.c.subject_id, _R.c.status)
                                .where(bulk.in_values(session, _R.c.id, [r.id for r in due]), cond)
                                .order_by(_R.c.id)).all()
            if rows:
                bulk.insert_rows(session, _REV, _snapshot_rows(session, [r.id for r in rows]))
                conn.execute(update(_R).where(_R.c.id == bindparam("_id"))
                             .values(status=target, status_changed_at=now, status_reason=reason,
                                     revision=_R.c.revision + 1, updated_at=now, change_kind=kind,
                                     changed_by=actor.label),
                             [{"_id": r.id} for r in rows])
                record_many(session, actor=actor, action=f"record.{kind}", object_type="record",
                            items=[(r.id, {"from": r.status, "to": target, "on": today.isoformat()}) for r in rows])
                if target == "archived":
                    res.archived += len(rows)
                else:
                    res.expired += len(rows)
                events.records_changed(session, {r.subject_id for r in rows}, [r.id for r in rows],
                                       reason=kind, today=today)
            session.commit()  # the departments' turns end with the batch
    return res


def record_batch_refusal(session: Session, actor: Actor, department_id: int | None, code: str, field: str, *,
                         size: int | None = None, errors: int | None = None, body_bytes: int | None = None) -> None:
    """A batch refused whole — empty, over 1,000 records, a body that is not a batch — registered as
    the push it was meant to be (``records.push``, the department's, ``failed``): its code and field,
    its size when known (and a body over the size limit its ``bytes``), never a record's content
    (``audit.service.record_refusal``: the request's
    work rolled back, the entry committed). Data quality counts them per department and code
    (``batches_refused``, :mod:`xinyong.records.quality`), apart from the records rejected one by one."""
    details: dict[str, Any] = {"channel": "api", "code": code, "field": field}
    if size is not None:
        details["size"] = size
    if errors is not None:
        details["errors"] = errors
    if body_bytes is not None:
        details["bytes"] = body_bytes
    record_refusal(session, actor=actor, action="records.push", object_type="department",
                   object_id=department_id, details=details, outcome="failed")


def recompute_refused(session: Session, actor: Actor, item_code: str | None, exc: RecordError | None,
                      via: str | None = None, *, code: str | None = None, field: str | None = None,
                      body_bytes: int | None = None) -> None:
    """A display recompute refused (no such item, a body the schema refuses) registered under
    ``records.recompute_display``, ``failed``, with its code and field, as a refused catalog edit is
    (the API's, the catalog page's and ``xinyong records recompute-display``'s refusals alike)."""
    details: dict[str, Any] = {"code": exc.code if exc is not None else code,
                               "field": exc.field if exc is not None else field}
    if item_code is not None:
        details = {"item": mask_id_numbers_in(item_code)[:64], **details}
    if via is not None:
        details["via"] = via
    if body_bytes is not None:  # a body over the size limit
        details["bytes"] = body_bytes
    record_refusal(session, actor=actor, action="records.recompute_display", object_type="catalog_item",
                   details=details, outcome="failed")


def recompute_display(session: Session, *, item_code: str, actor: Actor, today: date | None = None,
                      chunk: int = 5000) -> int:
    """Apply the item's current display rule to its existing records (on request, after a catalog change).
    Revoked and archived records are left alone (both are final), and so are records whose
    severity the current version no longer has a period for (an edit dropped it); each record keeps
    the catalog version it was checked against. Returns how many records changed.

    Set-based, ``chunk`` records at a time in id order: the dates are computed in Python, and the
    changed records' history rows, updates and audit entries are written as one statement each. One
    record at a time through the ORM took ~0.8 ms a record — half a minute at 38,000 records, while
    SQLite's write lock kept every department's pushes waiting (and failing after 10 s)."""
    from xinyong.catalog.service import get_current

    today = today or clock.today()
    item = get_current(session, item_code)
    if item is None:
        raise RecordError("unknown_item", f"目录中没有事项 {item_code}", f"no catalog item {item_code}", 404, "item")
    # every department's turn: a push changing one of these records meanwhile would number its revision too
    lock_rows(session, "departments")
    session.flush()
    conn = session.connection()
    cols = (_R.c.id, _R.c.subject_id, _R.c.severity, _R.c.decided_at, _R.c.publish, _R.c.min_display_until,
            _R.c.display_until, _R.c.retain_until, _R.c.status, _R.c.revision, _R.c.fields)
    changed = 0
    subjects: set[int] = set()
    now = utcnow()
    after = 0
    while True:
        rows = conn.execute(select(*cols).where(_R.c.item_code == item_code, _R.c.id > after,
                                                _R.c.status.not_in(("revoked", "archived")))
                            .order_by(_R.c.id).limit(chunk)).all()
        if not rows:
            break
        after = rows[-1].id
        updates: list[dict[str, Any]] = []
        for r in rows:
            if not item.spec.has_period(r.severity):
                continue  # a severity the current rule no longer names: no rule to apply, the record keeps its dates
            dates = display.compute(item.spec, r.severity, r.decided_at, r.fields)
            status = display.status_on(dates, today)
            new = (dates.publish, dates.min_display_until, dates.display_until, dates.retain_until, status)
            if new == (r.publish, r.min_display_until, r.display_until, r.retain_until, r.status):
                continue
            # item_id stays the version the record was checked against (its fields were); the display
            # rule applied is the current version's, named in the audit entry and the revision's kind
            updates.append({"_id": r.id, "publish": dates.publish, "min_display_until": dates.min_display_until,
                            "display_until": dates.display_until, "retain_until": dates.retain_until,
                            "status": status, "moved": status != r.status, "revision": r.revision + 1})
            subjects.add(r.subject_id)
        if not updates:
            continue
        bulk.insert_rows(session, _REV, _snapshot_rows(session, [u["_id"] for u in updates]))
        names = ("publish", "min_display_until", "display_until", "retain_until", "revision")
        for moved in (False, True):  # a changed status also records when and why; an unchanged one keeps both
            part = [u for u in updates if u["moved"] is moved]
            if not part:
                continue
            # bound as v_<column>: SQLAlchemy keeps a column's own name for its automatic SET parameter
            values: dict[str, Any] = {c: bindparam(f"v_{c}") for c in (*names, "status")}
            if moved:
                values.update(status_changed_at=now, status_reason="display rule changed")
            conn.execute(update(_R).where(_R.c.id == bindparam("_id"))
                         .values(**values, updated_at=now, change_kind="recompute", changed_by=actor.label),
                         [{"_id": u["_id"], **{f"v_{c}": u[c] for c in (*names, "status")}} for u in part])
        record_many(session, actor=actor, action="record.recompute", object_type="record",
                    items=[(u["_id"], {"item_version": item.version, "display_until": u["display_until"].isoformat(),
                                       "status": u["status"], "revision": u["revision"]}) for u in updates])
        changed += len(updates)
    # the request itself, whatever it changed (a run that found every record up to date is a fact too)
    record(session, actor=actor, action="records.recompute_display", object_type="catalog_item", object_id=item.id,
           details={"item": item_code, "item_version": item.version, "today": today.isoformat(), "changed": changed})
    if subjects:
        events.records_changed(session, subjects, reason="recompute", today=today)
    return changed


def item_version(session: Session, item_id: int) -> Item | None:
    return get_version(session, item_id)


def as_utc(d: datetime) -> datetime:
    return d.astimezone(UTC)
