"""An information item as data: parsing with precise errors, and the compiled record validator.

The spec is what the YAML and the admin console hold; :func:`parse_item` checks it and names the
path of any mistake (``items[3].fields[1].type: unknown type 'strnig'``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from xinyong.privacy.masking import mask_id_numbers_in, mask_quoted_id_numbers

CATEGORIES = ("basic", "good", "bad", "serious")
VISIBILITIES = ("public", "authorized", "government")
SEVERITIES = ("minor", "general", "serious")
FIELD_TYPES = ("string", "text", "integer", "number", "date", "boolean", "enum")
CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
# Names reserved for the record envelope; an item's fields may not use them.
ENVELOPE = ("item", "id_number", "name", "source_id", "decided_at", "severity", "fields")


class SpecError(ValueError):
    def __init__(self, path: str, message_zh: str, message_en: str) -> None:
        self.path, self.message_zh, self.message_en = path, message_zh, message_en
        super().__init__(f"{path}: {message_zh} / {message_en}")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    name_zh: str
    type: str
    required: bool = False
    allowed: tuple[Any, ...] | None = None
    max_length: int | None = None
    min: float | None = None
    max: float | None = None
    # an enum's allowed values with their Chinese labels, (code, label) in the order of ``allowed``: a
    # file's cell or a record may give the label (区级) for the code (district); the code is stored
    labels: tuple[tuple[str, str], ...] | None = None

    def choices(self) -> list[str]:
        """The allowed values as an officer reads them: each one's label where it has one (区级), else itself."""
        named = dict(self.labels or ())
        return [named.get(str(a), str(a)) for a in self.allowed or ()]

    def shown_allowed(self, sep: str = "、") -> str:
        """The allowed values as a message or a template names them: ``区级(district)`` where labelled."""
        return sep.join(c if c == str(a) else f"{c}({a})" for c, a in zip(self.choices(), self.allowed or (),
                                                                            strict=True))


@dataclass(frozen=True)
class Period:
    publish: bool
    min_months: int
    max_months: int


@dataclass(frozen=True)
class ItemSpec:
    code: str
    name: str
    name_en: str
    category: str
    visibility: str
    departments: tuple[str, ...]
    fields: tuple[FieldSpec, ...]
    severities: tuple[str, ...] | None
    display: dict[str, Period]  # key: severity, or "default"
    retention_years: int | None
    key_field: str | None = None
    legal_basis: str | None = None
    arrival_working_days: int | None = None
    # a record's integer field lengthening its display (the court's extension of a dishonest debtor's
    # listing by 1-3 years): (field name, months a unit), the field's value times the months added to
    # the period's maximum
    display_extension: tuple[str, int] | None = None
    # a record's date field from which retention counts when given (the end of the act, 征信业管理条例
    # Art. 16); without it, from ``decided_at``
    retention_from: str | None = None
    field_index: dict[str, FieldSpec] = field(default_factory=dict, compare=False, repr=False)
    # (name, required, checker, error when missing), compiled once per item version
    checkers: list[tuple[str, bool, Any, dict[str, str]]] = field(default_factory=list, compare=False, repr=False)
    # the display dates computed with this very rule ((severity, decision day, date inputs) -> dates,
    # records.service._dates): kept on the compiled version, not by its row id, which SQLite gives
    # again after a rolled-back edit
    dates_cache: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def has_period(self, severity: str | None) -> bool:
        """Whether the rule names a period for this severity (or has a default): a record whose
        severity a later version dropped has none here, and keeps its own version's dates."""
        return "default" in self.display or (severity is not None and severity in self.display)

    def period(self, severity: str | None) -> Period:
        if severity is not None and severity in self.display:
            return self.display[severity]
        return self.display.get("default", Period(publish=True, min_months=0, max_months=36))

    def date_inputs(self, fields: dict[str, Any] | None) -> tuple[Any, Any] | None:
        """The record's field values its display dates depend on besides severity and decision date
        (``None`` where the item's dates depend on no field)."""
        if self.display_extension is None and self.retention_from is None:
            return None
        f = fields or {}
        return (f.get(self.display_extension[0]) if self.display_extension else None,
                f.get(self.retention_from) if self.retention_from else None)

    def allows_department(self, code: str) -> bool:
        return "*" in self.departments or code in self.departments

    def header_aliases(self) -> dict[str, str]:
        """Column header (code or Chinese name) -> field name, for bulk files."""
        out = {f.name: f.name for f in self.fields}
        out.update({f.name_zh: f.name for f in self.fields})
        return out


def _req(d: dict[str, Any], key: str, path: str, typ: type | tuple[type, ...]) -> Any:
    if key not in d:
        raise SpecError(f"{path}.{key}", "缺少必填项", "is required")
    value = d[key]
    if not isinstance(value, typ) or isinstance(value, bool) and typ is int:
        raise SpecError(f"{path}.{key}", "类型错误", f"must be {getattr(typ, '__name__', typ)}")
    return value


def _num(v: Any, path: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise SpecError(path, "应为数字", "must be a number")
    return float(v)


def _period(d: Any, path: str) -> Period:
    if not isinstance(d, dict):
        raise SpecError(path, "应为对象", "must be a mapping")
    _known_keys(d, ("publish", "min_months", "max_months"), path)
    publish = d.get("publish", True)
    if not isinstance(publish, bool):
        raise SpecError(f"{path}.publish", "应为 true 或 false", "must be true or false")
    lo, hi = d.get("min_months", 0), d.get("max_months")
    for k, v in (("min_months", lo), ("max_months", hi)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v > 1200:
            raise SpecError(f"{path}.{k}", "应为0至1200之间的整数（月）", "must be a whole number of months, 0-1200")
    if lo > hi:
        raise SpecError(path, "最短展示期不能长于最长展示期", "min_months must not exceed max_months")
    return Period(publish=publish, min_months=lo, max_months=hi)


# The settings an item and a field take: any other key is a misspelling, refused with its path (dropped,
# ``visiblity: government`` left the item at the default visibility, ``requried: true`` a field optional).
ITEM_KEYS = ("code", "name", "name_en", "category", "visibility", "departments", "key_field", "legal_basis",
             "fields", "display", "severities", "retention", "arrival_working_days")
FIELD_KEYS = ("name", "name_zh", "type", "required", "allowed", "labels", "max_length", "min", "max")
LABEL_MAX = 64


def _known_keys(d: dict[Any, Any], keys: tuple[str, ...], path: str) -> None:
    for k in d:
        if k not in keys:
            raise SpecError(f"{path}.{k}", f"未知设置（可用 {'、'.join(keys)}）", f"unknown setting ({', '.join(keys)})")


def parse_field(d: Any, path: str) -> FieldSpec:
    if not isinstance(d, dict):
        raise SpecError(path, "应为对象", "must be a mapping")
    _known_keys(d, FIELD_KEYS, path)
    name = _req(d, "name", path, str)
    if not CODE_RE.match(name) or name in ENVELOPE:
        raise SpecError(f"{path}.name", "字段名应为小写字母、数字和下划线，且不能使用保留名",
                        "field name must be lower-case letters, digits and '_', and not a reserved name")
    typ = _req(d, "type", path, str)
    if typ not in FIELD_TYPES:
        raise SpecError(f"{path}.type", f"未知类型 {typ!r}", f"unknown type {typ!r}; one of {', '.join(FIELD_TYPES)}")
    allowed = d.get("allowed")
    if typ == "enum":
        if not isinstance(allowed, list) or not allowed:
            raise SpecError(f"{path}.allowed", "枚举字段必须列出允许值", "an enum field must list its allowed values")
        allowed = tuple(str(a) for a in allowed)
    elif allowed is not None:
        raise SpecError(f"{path}.allowed", "只有枚举字段可以设置允许值", "only enum fields take allowed values")
    labels = _labels(d.get("labels"), allowed if typ == "enum" else None, f"{path}.labels")
    max_length = d.get("max_length")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1):
        raise SpecError(f"{path}.max_length", "应为正整数", "must be a positive integer")
    required = d.get("required", False)
    if not isinstance(required, bool):
        raise SpecError(f"{path}.required", "应为 true 或 false", "must be true or false")
    name_zh = d.get("name_zh") or name
    if not isinstance(name_zh, str):
        raise SpecError(f"{path}.name_zh", "应为字符串", "must be a string")
    if _CTRL.search(name_zh):
        raise SpecError(f"{path}.name_zh", "包含不允许的控制字符", "contains control characters")
    return FieldSpec(name=name, name_zh=mask_id_numbers_in(name_zh), type=typ, required=required, allowed=allowed,
                     max_length=max_length, min=_num(d.get("min"), f"{path}.min"), max=_num(d.get("max"), f"{path}.max"),
                     labels=labels)


def _labels(raw: Any, allowed: tuple[str, ...] | None, path: str) -> tuple[tuple[str, str], ...] | None:
    """An enum's ``labels`` (``{district: 区级, …}``): each key one of its allowed values, each label
    text of one line, no two alike and none another allowed value (a cell would read two ways)."""
    if raw is None:
        return None
    if allowed is None:
        raise SpecError(path, "只有枚举字段可以设置取值名称", "only enum fields take labels")
    if not isinstance(raw, dict):
        raise SpecError(path, "应为“允许值: 名称”的对象", "must be a mapping of allowed values to labels")
    seen: dict[str, str] = {}
    raw = {code: mask_id_numbers_in(label) if isinstance(label, str) else label for code, label in raw.items()}
    for code, label in raw.items():
        at = f"{path}.{str(code)[:64]}"
        if str(code) not in allowed:
            raise SpecError(at, "不是本字段的允许值", "not one of the field's allowed values")
        if not isinstance(label, str) or not label.strip() or len(label) > LABEL_MAX or _CTRL.search(label):
            raise SpecError(at, f"名称应为不超过{LABEL_MAX}字的一行文字", f"a label is one line of at most {LABEL_MAX} "
                                                                          "characters")
        key = _label_key(label)
        if key in seen or (key in allowed and key != str(code)):
            raise SpecError(at, f"名称“{label.strip()}”与其他允许值或名称重复",
                            f"the label {label.strip()!r} is another allowed value or label")
        seen[key] = str(code)
    named = {code: label.strip() for code, label in ((str(c), lb) for c, lb in raw.items())}
    return tuple((a, named[a]) for a in allowed if a in named) or None


def _label_key(text: str) -> str:
    """A label as a cell is matched against it: width (ＡＡ = AA) and the spaces around it aside."""
    return unicodedata.normalize("NFKC", text).strip()


def parse_item(d: Any, path: str = "item") -> ItemSpec:
    if not isinstance(d, dict):
        raise SpecError(path, "应为对象", "must be a mapping")
    _known_keys(d, ITEM_KEYS, path)
    code = _req(d, "code", path, str)
    if not CODE_RE.match(code):
        raise SpecError(f"{path}.code", "代码应为小写字母开头的字母、数字、下划线", "code must be lower-case snake_case")
    category = _req(d, "category", path, str)
    if category not in CATEGORIES:
        raise SpecError(f"{path}.category", f"类别应为 {'/'.join(CATEGORIES)}", f"category must be one of {', '.join(CATEGORIES)}")
    visibility = d.get("visibility", "authorized")
    if visibility not in VISIBILITIES:
        raise SpecError(f"{path}.visibility", f"可见范围应为 {'/'.join(VISIBILITIES)}",
                        f"visibility must be one of {', '.join(VISIBILITIES)}")
    depts = d.get("departments", ["*"])
    # an empty list withdraws the item from every department (停止归集): nobody may push it, what was
    # pushed stays as it is
    if not isinstance(depts, list) or not all(isinstance(x, str) and x for x in depts):
        raise SpecError(f"{path}.departments", "应为部门代码列表", "must be a list of department codes")
    raw_fields = _req(d, "fields", path, list)
    fields = tuple(parse_field(f, f"{path}.fields[{i}]") for i, f in enumerate(raw_fields))
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise SpecError(f"{path}.fields", "字段名重复", "duplicate field names")
    sev = d.get("severities")
    if sev is not None:
        if not isinstance(sev, list) or not sev or any(s not in SEVERITIES for s in sev):
            raise SpecError(f"{path}.severities", f"严重程度应取自 {'/'.join(SEVERITIES)}",
                            f"severities must be taken from {', '.join(SEVERITIES)}")
        sev = tuple(sev)
    disp = d.get("display") or {}
    if not isinstance(disp, dict):
        raise SpecError(f"{path}.display", "应为对象", "must be a mapping")
    _known_keys(disp, ("default", "by_severity", "extension"), f"{path}.display")
    periods: dict[str, Period] = {}
    if "default" in disp:
        periods["default"] = _period(disp["default"], f"{path}.display.default")
    by_sev = disp.get("by_severity") or {}
    if not isinstance(by_sev, dict):
        raise SpecError(f"{path}.display.by_severity", "应为对象", "must be a mapping")
    for s, p in by_sev.items():
        if sev is None or s not in sev:
            raise SpecError(f"{path}.display.by_severity.{s}", "该事项没有此严重程度", "the item has no such severity")
        periods[s] = _period(p, f"{path}.display.by_severity.{s}")
    if sev is not None and "default" not in periods:
        missing = [s for s in sev if s not in periods]
        if missing:
            raise SpecError(f"{path}.display", f"缺少严重程度 {missing} 的展示期限", f"no display period for {missing}")
    if not periods:
        raise SpecError(f"{path}.display", "必须设置展示期限", "a display period is required")
    retention = d.get("retention")
    if retention is None:
        retention = {}
    if not isinstance(retention, dict):
        raise SpecError(f"{path}.retention", "应为对象，如 {years: 5}", "must be a mapping such as {years: 5}")
    _known_keys(retention, ("years", "from_field"), f"{path}.retention")
    years = retention.get("years")
    if years is not None and (isinstance(years, bool) or not isinstance(years, int) or not 0 < years <= 100):
        raise SpecError(f"{path}.retention.years", "保存年限应为1至100的整数", "retention years must be 1-100")
    by_name = {f.name: f for f in fields}
    retention_from = _retention_from(retention, years, by_name, f"{path}.retention")
    extension = _extension(disp.get("extension"), by_name, f"{path}.display.extension")
    awd = d.get("arrival_working_days")
    if awd is not None and (isinstance(awd, bool) or not isinstance(awd, int) or awd < 0):
        raise SpecError(f"{path}.arrival_working_days", "应为非负整数", "must be a non-negative integer")
    name = _req(d, "name", path, str)
    for key, multiline in (("name", False), ("name_en", False), ("key_field", False), ("legal_basis", True)):
        value = d.get(key)
        if value is not None and not isinstance(value, str):
            raise SpecError(f"{path}.{key}", "应为文本", "must be text")
        if isinstance(value, str) and (_CTRL_TEXT if multiline else _CTRL).search(value):
            raise SpecError(f"{path}.{key}", "包含不允许的控制字符", "contains control characters")
    # The item's texts are shown to every department, in its template and records, and to the public
    # with its records (the legal basis): any ID number written in them is masked, as the measures'
    # (measures.service) and the item's change note (catalog.service.update_item) are.
    basis = d.get("legal_basis")
    item = ItemSpec(code=code, name=mask_id_numbers_in(name), name_en=mask_id_numbers_in(str(d.get("name_en") or code)),
                    category=category, visibility=visibility, departments=tuple(depts), fields=fields, severities=sev,
                    display=periods, retention_years=years, key_field=d.get("key_field"),
                    legal_basis=None if basis is None else mask_id_numbers_in(basis), arrival_working_days=awd,
                    display_extension=extension, retention_from=retention_from)
    item.field_index.update({f.name: f for f in fields})
    item.checkers.extend(
        (f.name, f.required, compile_field(f),
         _err(f"fields.{f.name}", "missing", f"缺少必填字段“{f.name_zh}”", f"required field {f.name} is missing"))
        for f in fields
    )
    return item


def _extension(raw: Any, fields: dict[str, FieldSpec], path: str) -> tuple[str, int] | None:
    """``display.extension: {field: extension_years, months: 12}``: the named integer field, bounded
    (``min`` >= 0 and a ``max``), lengthens the display by its value times ``months``."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise SpecError(path, "应为对象，如 {field: extension_years, months: 12}",
                        "must be a mapping such as {field: extension_years, months: 12}")
    _known_keys(raw, ("field", "months"), path)
    name = _req(raw, "field", path, str)
    f = fields.get(name)
    if f is None or f.type != "integer" or f.min is None or f.min < 0 or f.max is None:
        raise SpecError(f"{path}.field", "应为本事项的整数字段，且设置了不小于0的 min 和 max",
                        "must name an integer field of the item with a min of at least 0 and a max")
    months = _req(raw, "months", path, int)
    if not 1 <= months <= 120:
        raise SpecError(f"{path}.months", "应为1至120之间的整数（月）", "must be a whole number of months, 1-120")
    if f.max * months > 1200:
        raise SpecError(f"{path}.months", "延长后的展示期不能超过1200个月", "an extension must not exceed 1200 months")
    return name, months


def _retention_from(raw: dict[str, Any], years: int | None, fields: dict[str, FieldSpec], path: str) -> str | None:
    """``retention.from_field``: a date field of the item from which retention counts when a record
    gives it (the end of the act); it needs ``years``."""
    name = raw.get("from_field")
    if name is None:
        return None
    if not isinstance(name, str) or fields.get(name) is None or fields[name].type != "date":
        raise SpecError(f"{path}.from_field", "应为本事项的日期字段", "must name a date field of the item")
    if years is None:
        raise SpecError(f"{path}.years", "设置了起算字段时必须设置保存年限", "from_field needs the retention years")
    return name


def check_retention(item: ItemSpec, path: str) -> None:
    """A new definition of a bad or serious item names its retention: negative information is kept
    5 years from the end of the act, then no longer (征信业管理条例 Art. 16); without one its records
    would never be archived. (Checked on a new definition, not on reading a stored version.)"""
    if item.category in ("bad", "serious") and not item.retention_years:
        raise SpecError(f"{path}.retention.years", "失信类（bad/serious）事项必须设置保存年限（通常为5年）",
                        "a bad or serious item must set its retention years (usually 5)")


# The item's texts kept in columns of their own (``catalog_items``: name and name_en VARCHAR(128),
# key_field VARCHAR(32)): longer was a 500 from PostgreSQL (value too long) and stored on SQLite.
TEXT_LIMITS = (("name", 128), ("name_en", 128), ("key_field", 32))


def check_texts(item: ItemSpec, path: str) -> None:
    """A new definition names the item (its Chinese name, shown on every page, template and report, is
    not blank) and its names and key field fit their columns. (Checked on a new definition, as
    :func:`check_retention`, not on reading a stored version.)"""
    if not item.name.strip():
        raise SpecError(f"{path}.name", "事项中文名称不能为空", "the item's Chinese name must not be empty")
    for key, limit in TEXT_LIMITS:
        value = getattr(item, key)
        if value is not None and len(value) > limit:
            raise SpecError(f"{path}.{key}", f"不能超过{limit}个字符（现为{len(value)}个）",
                            f"must be at most {limit} characters (got {len(value)})")


def to_data(item: ItemSpec) -> dict[str, Any]:
    """The canonical data form (stored in ``catalog_items.spec`` and shown by the API)."""
    def f(x: FieldSpec) -> dict[str, Any]:
        d: dict[str, Any] = {"name": x.name, "name_zh": x.name_zh, "type": x.type, "required": x.required}
        for k in ("allowed", "max_length", "min", "max"):
            v = getattr(x, k)
            if v is not None:
                d[k] = list(v) if k == "allowed" else v
        if x.labels:
            d["labels"] = dict(x.labels)
        return d

    display: dict[str, Any] = {}
    if "default" in item.display:
        p = item.display["default"]
        display["default"] = {"publish": p.publish, "min_months": p.min_months, "max_months": p.max_months}
    by = {s: {"publish": p.publish, "min_months": p.min_months, "max_months": p.max_months}
          for s, p in item.display.items() if s != "default"}
    if by:
        display["by_severity"] = by
    if item.display_extension:
        display["extension"] = {"field": item.display_extension[0], "months": item.display_extension[1]}
    out: dict[str, Any] = {
        "code": item.code, "name": item.name, "name_en": item.name_en, "category": item.category,
        "visibility": item.visibility, "departments": list(item.departments), "key_field": item.key_field,
        "legal_basis": item.legal_basis, "fields": [f(x) for x in item.fields], "display": display,
    }
    if item.severities:
        out["severities"] = list(item.severities)
    if item.retention_years:
        out["retention"] = {"years": item.retention_years}
        if item.retention_from:
            out["retention"]["from_field"] = item.retention_from
    if item.arrival_working_days is not None:
        out["arrival_working_days"] = item.arrival_working_days
    return out


# ---- record field validation (hot path: plain Python, no Pydantic) -------------------------

def _err(field_name: str, code: str, zh: str, en: str) -> dict[str, str]:
    return {"field": field_name, "code": code, "message": f"{zh} / {en}"}


# The record envelope's fields as a message names them, (Chinese, English): every error of a record's
# field names the field in both halves of its message (an item's field by the catalog's ``name_zh`` and
# ``name``), so that the message reads on its own — in a log, a report's cell, a developer's console.
ENVELOPE_LABELS: dict[str, tuple[str, str]] = {
    "item": ("事项", "item"), "id_number": ("身份证号码", "id_number"), "name": ("姓名", "name"),
    "source_id": ("来源编号", "source_id"), "decided_at": ("决定日期", "decided_at"),
    "severity": ("严重程度", "severity"), "fields": ("fields", "fields"),
}


def _ferr(f: FieldSpec, path: str, code: str, zh: str, en: str) -> dict[str, str]:
    """An error of the item's field ``f``: its message names the field, “罚款金额”应为数字 / amount: must be a
    number. Built only for a value refused (or once per item version, for the compiled checkers)."""
    return {"field": path, "code": code, "message": f"“{f.name_zh}”{zh} / {f.name}: {en}"}


def coerce_field(f: FieldSpec, value: Any, path: str) -> tuple[Any, dict[str, str] | None]:
    """Check one field value; returns (normalised value, error or None). Accepts strings from files."""
    t = f.type
    if t in ("string", "text"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            return None, _ferr(f, path, "wrong_type", "应为文本", "must be text")
        value = value.strip()
        if f.max_length is not None and len(value) > f.max_length:
            return None, _ferr(f, path, "too_long", f"长度不能超过{f.max_length}", f"must not exceed {f.max_length} characters")
        if (_CTRL_TEXT if t == "text" else _CTRL).search(value):
            return None, _line_break(f, path) if t != "text" and _LINE_BREAK.search(value) else _ferr(
                f, path, "invalid_characters", "包含不允许的控制字符", "contains control characters")
        return (mask_quoted_id_numbers(value) if len(value) >= 18 else value), None
    if t == "enum":
        s = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else None
        if s is not None and s not in (f.allowed or ()) and f.labels:
            s = next((code for code, label in f.labels if _label_key(label) == _label_key(s)), s)
        if s is None or s not in (f.allowed or ()):
            codes = ", ".join(map(str, f.allowed or ()))
            return None, _ferr(f, path, "not_allowed", f"取值不在允许范围内（{f.shown_allowed()}）",
                               f"value not allowed; allowed: {codes}" + (" or their Chinese names" if f.labels else ""))
        return s, None
    if t in ("integer", "number"):
        if isinstance(value, bool):
            return None, _ferr(f, path, "wrong_type", "应为数字", "must be a number")
        if isinstance(value, str):
            s = unicodedata.normalize("NFKC", value).strip()
            try:
                if not _NUMBER_TEXT.fullmatch(s):
                    raise ValueError(s)
                s = s.replace(",", "")
                value = _integer_text(s) if t == "integer" else float(s)
            except ValueError:
                return None, _ferr(f, path, "wrong_type", "应为整数" if t == "integer" else "应为数字",
                                   "must be an integer" if t == "integer" else "must be a number")
        if t == "integer":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int):
                return None, _ferr(f, path, "wrong_type", "应为整数", "must be an integer")
        elif not isinstance(value, int | float) or value != value or value in (float("inf"), float("-inf")):
            return None, _ferr(f, path, "wrong_type", "应为数字", "must be a number")
        if not -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE:
            return None, _ferr(f, path, "out_of_range", f"数值超出可接受的范围（绝对值不超过{MAX_MAGNITUDE}）",
                               f"outside the accepted range (magnitude at most {MAX_MAGNITUDE})")
        if f.min is not None and value < f.min:
            return None, _ferr(f, path, "out_of_range", f"不能小于{f.min:g}", f"must be at least {f.min:g}")
        if f.max is not None and value > f.max:
            return None, _ferr(f, path, "out_of_range", f"不能大于{f.max:g}", f"must be at most {f.max:g}")
        return _whole(value), None
    if t == "boolean":
        if isinstance(value, bool):
            return value, None
        s = str(value).strip().lower() if isinstance(value, str | int) else ""
        if s in ("true", "1", "yes", "是", "y"):
            return True, None
        if s in ("false", "0", "no", "否", "n"):
            return False, None
        return None, _ferr(f, path, "wrong_type", "应为是/否", "must be true or false")
    if t == "date":
        d = parse_date(value)
        if d is None:
            return None, no_such_day(path, value, (f.name_zh, f.name)) or _ferr(
                f, path, "wrong_type", "日期格式应为 YYYY-MM-DD", "date must be YYYY-MM-DD")
        return d.isoformat(), None
    return None, _ferr(f, path, "wrong_type", "未知类型", "unknown type")  # pragma: no cover


_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


_DATE_MEMO: dict[str, date | None] = {}  # a batch holds few distinct dates: parse each once


def parse_date(value: Any) -> date | None:
    if type(value) is str:
        got = _DATE_MEMO.get(value, _DATE_MEMO)
        if got is not _DATE_MEMO:
            return got  # type: ignore[return-value]
        d = _parse_date_text(value)
        if len(value) <= 16:
            if len(_DATE_MEMO) >= 20_000:
                _DATE_MEMO.clear()
            _DATE_MEMO[value] = d
        return d
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    return _parse_date_text(value)


def no_such_day(path: str, value: Any, label: tuple[str, str] | None = None) -> dict[str, str] | None:
    """The error for a text written YYYY-MM-DD that names no day (2026-02-30, 2025-13-01), else None:
    its format is right, and a message saying it was not sent a department looking for a format bug.
    ``label``: the field's (Chinese, English) names, which the message then gives (a record's field)."""
    if type(value) is not str or not _DATE_RE.match(value.strip()):
        return None
    s = value.strip()
    zh, en = f"日期不存在：{s}（格式正确，但没有这一天）", f"no such date: {s} (the format is right, the day does not exist)"
    if label is not None:
        zh, en = f"“{label[0]}”的{zh}", f"{label[1]}: {en}"
    return _err(path, "wrong_type", zh, en)


def _parse_date_text(value: str) -> date | None:
    m = _DATE_RE.match(value.strip())
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


# ---- compiled validators: one closure per field, built once per item version -----------------

# Control characters, and lone UTF-16 surrogates (JSON's "\ud800" escapes decode to them: they are
# no character, cannot be encoded as UTF-8, and made storing the record fail).
_CTRL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_CTRL_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # text may hold tabs and line breaks
CONTROL_CHARS, TEXT_CONTROL_CHARS = _CTRL, _CTRL_TEXT  # shared with records (one definition)
_EXACT = float(2**53)  # floats below this in magnitude are whole numbers exactly
# The largest magnitude a number field takes: JSON's safe integer range (2^53 - 1), which every
# client reads exactly. Beyond it an integer could not even be stored (over 64 bits it failed the
# whole batch) and a float such as 1e308 is no amount any department decides.
MAX_MAGNITUDE = 2**53 - 1
# A number as a file's cell or a JSON string spells it (after NFKC: full-width digits and commas
# become ASCII): digits with or without correct thousands separators, a decimal part, an exponent.
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][+-]?\d+)?|[+-]?\.\d+")


_LINE_BREAK = re.compile("[\r\n]")


def _line_break(f: FieldSpec, path: str) -> dict[str, str]:
    """A one-line field (a string, not a text) holding a line break: typed with Alt+Enter in a
    spreadsheet's cell, which shows it as two lines. Said so, not as "control characters"."""
    return _ferr(f, path, "invalid_characters", "不能换行：单元格内有换行（Excel 中 Alt+Enter 输入的），请删除换行",
                 "must be one line: the cell holds a line break (Alt+Enter in Excel); remove it")


def _integer_text(s: str) -> int:
    """An integer field's text: ``3``, or a whole number written with decimals, ``3.0`` / ``3.00`` (a
    spreadsheet's cell formatted "0.0", an export of a column with blanks), as the number 3.0 already
    is. A fraction, or an exponent (never what a count is written as), is no integer (ValueError)."""
    try:
        return int(s)
    except ValueError:
        whole, dot, decimals = s.partition(".")
        if not dot or not whole.lstrip("+-").isdigit() or decimals.strip("0"):
            raise
        return int(whole)


def _whole(value: Any) -> Any:
    """A number as stored: 2000.0 as 2000, so that the same amount sent as 2000 by one system and as
    2000.0 by another (or read from a spreadsheet cell) is the same content — the same hash, no new
    revision."""
    if type(value) is float and value.is_integer() and -_EXACT < value < _EXACT:
        return int(value)
    return value
Checker = Any  # Callable[[Any], tuple[Any, dict[str, str] | None]]


def compile_field(f: FieldSpec) -> Checker:
    path = f"fields.{f.name}"
    if f.type in ("string", "text"):
        limit = f.max_length
        # the errors, with the field's names, built once per item version: nothing is built for a good value
        too_long = _ferr(f, path, "too_long", f"长度不能超过{limit}", f"must not exceed {limit} characters") if limit else None
        wrong = _ferr(f, path, "wrong_type", "应为文本", "must be text")
        bad_chars = _ferr(f, path, "invalid_characters", "包含不允许的控制字符", "contains control characters")
        line_break = _line_break(f, path)
        multiline = f.type == "text"

        def check_text(v: Any) -> tuple[Any, dict[str, str] | None]:
            if type(v) is not str:
                if isinstance(v, int | float) and not isinstance(v, bool):
                    v = str(v)
                else:
                    return None, wrong
            v = v.strip()
            if limit is not None and len(v) > limit:
                return None, too_long
            # isprintable() is false for every control character: when true, no need to search
            if not v.isprintable() and (_CTRL_TEXT if multiline else _CTRL).search(v):
                return None, line_break if not multiline and _LINE_BREAK.search(v) else bad_chars
            if len(v) >= 18:  # an ID number quoted in free text is kept and shown masked, never in the clear
                v = mask_quoted_id_numbers(v)
            return v, None

        return check_text
    if f.type == "enum":
        allowed = frozenset(f.allowed or ())

        def check_enum(v: Any) -> tuple[Any, dict[str, str] | None]:
            if type(v) is str:
                s = v.strip()
                if s in allowed:
                    return s, None
            return coerce_field(f, v, path)

        return check_enum
    if f.type in ("integer", "number"):
        lo = -MAX_MAGNITUDE if f.min is None else max(f.min, -MAX_MAGNITUDE)
        hi = MAX_MAGNITUDE if f.max is None else min(f.max, MAX_MAGNITUDE)
        exact = (int,) if f.type == "integer" else (int, float)

        def check_number(v: Any) -> tuple[Any, dict[str, str] | None]:
            # the common case (a JSON number in range) here; anything else, and every error, as coerce_field says
            if type(v) in exact and lo <= v <= hi:
                return _whole(v), None
            return coerce_field(f, v, path)

        return check_number

    def check_other(v: Any) -> tuple[Any, dict[str, str] | None]:
        return coerce_field(f, v, path)

    return check_other
