"""The scoring ruleset as data: parse YAML text (keeping line numbers), validate it against the
catalog, flatten it into the rows the SQL engine joins.

Every refusal names the line of the YAML text and the path (``items.admin_penalty.by_severity.minor.points``)
with a bilingual reason; all refusals of a text are reported together.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import yaml

from xinyong.domain_errors import BilingualError

HUGE_HOURS = 1e12
RULE_KEYS = frozenset({"default", "by_severity", "by_level", "by_hours", "repeat_doubles"})
TOP_KEYS = frozenset({"effective_from", "base", "grades", "force_grade", "items"})
GRADE_RE = re.compile(r"^[A-Z]{1,4}$")
LIST_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_POINTS = 100_000
MAX_WINDOW = 1200


@dataclass(frozen=True)
class ItemFacts:
    """What the catalog says about an item, as far as scoring needs it."""

    code: str
    name: str
    name_en: str
    severities: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    has_hours: bool = False


@dataclass(frozen=True)
class Problem:
    path: str
    line: int | None
    code: str
    zh: str
    en: str

    def as_error(self) -> dict[str, Any]:
        where_zh = f"第{self.line}行：" if self.line else ""
        where_en = f"line {self.line}: " if self.line else ""
        return {"field": self.path, "line": self.line, "code": self.code,
                "message": f"{where_zh}{self.zh} / {where_en}{self.en}"}


class RulesetError(BilingualError):
    """A refused ruleset: ``problems`` lists every refusal with its line and path."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = problems[0]
        e = first.as_error()["message"].split(" / ", 1)
        more_zh = f"（另有{len(problems) - 1}处）" if len(problems) > 1 else ""
        more_en = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first.code, f"评分规则无效：{e[0]}{more_zh}", f"invalid ruleset: {e[1]}{more_en}", first.path)
        self.line = first.line

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [p.as_error() for p in self.problems]


@dataclass(frozen=True)
class Rule:
    item_code: str
    variant: str  # severity, level or ''
    points: int
    window_months: int
    min_hours: float = 0.0
    max_hours: float = HUGE_HOURS
    mode: str = "each"  # each | max (only the record with the most hours scores)
    doubles: bool = False


@dataclass(frozen=True)
class Band:
    grade: str
    min: int | None
    max: int | None


@dataclass
class Ruleset:
    base: int
    bands: list[Band]
    force_grade: str | None
    force_lists: tuple[str, ...]
    rules: list[Rule]
    items: dict[str, Any]  # the item rules as data (for display and round trips)
    effective_from: date | None = None
    windows: tuple[int, ...] = field(default=())

    def grade_of(self, score: int) -> str:
        for b in self.bands:
            if (b.min is None or score >= b.min) and (b.max is None or score <= b.max):
                return b.grade
        return self.bands[-1].grade  # unreachable for a validated ruleset

    def to_data(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "grades": [{k: v for k, v in (("grade", b.grade), ("min", b.min), ("max", b.max)) if v is not None}
                       for b in self.bands],
            "force_grade": {"grade": self.force_grade, "lists": list(self.force_lists)} if self.force_grade else None,
            "items": self.items,
        }


# ---- YAML with line numbers -------------------------------------------------------------------

def _compose(text: str, duplicates: list[tuple[str, int]] | None = None) -> tuple[Any, dict[str, int]]:
    """Load YAML safely, recording the line (1-based) of every path (``a.b[2].c``); a key given twice
    in one mapping goes to ``duplicates`` (path, line of the repeat)."""
    lines: dict[str, int] = {}
    try:  # the reader refuses a character YAML does not allow (NUL, an escape …) as the loader is made
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise RulesetError([Problem("yaml", line, "yaml_syntax", f"YAML 格式错误（不允许的字符 #x{exc.character:04x}）",
                                    f"YAML syntax error (character #x{exc.character:04x} is not allowed)")]) from exc
    seen: set[int] = set()

    def refuse(path: str, line: int | None, code: str, zh: str, en: str) -> RulesetError:
        return RulesetError([Problem(path or "yaml", line, code, zh, en)])

    try:
        node = loader.get_single_node()

        def walk(n: Any, path: str, within: int = 1) -> Any:
            line = n.start_mark.line + 1
            # An alias (*name) is the node of its anchor again (``within``: the line of what holds
            # it, the alias's own place being lost): refused, so that a node that holds
            # itself (``a: &a [*a]``) or aliases of aliases (exponentially many paths) cannot make
            # this walk recurse without end or expand a small text into millions of nodes.
            if id(n) in seen:
                raise refuse(path, lines.get(path, within), "yaml_alias", "评分规则不支持 YAML 锚点与别名（& 与 *），请直接写出取值",
                             "YAML anchors and aliases (& and *) are not supported in a ruleset: write the values out")
            seen.add(id(n))
            lines.setdefault(path, line)
            if isinstance(n, yaml.MappingNode):
                out: dict[Any, Any] = {}
                for k, v in n.value:
                    key = loader.construct_object(k, deep=True)
                    try:
                        hash(key)
                    except TypeError:  # a list or a mapping as a key (``? [a, b]``)
                        raise refuse(path, k.start_mark.line + 1, "wrong_type", "键应为文字或数字，不能是列表或映射",
                                     "a key must be text or a number, not a list or a mapping") from None
                    sub = f"{path}.{key}" if path else str(key)
                    if key in out and duplicates is not None:
                        duplicates.append((sub, k.start_mark.line + 1))
                    lines[sub] = k.start_mark.line + 1
                    out[key] = walk(v, sub)
                return out
            if isinstance(n, yaml.SequenceNode):
                return [walk(v, f"{path}[{i}]", line) for i, v in enumerate(n.value)]
            return loader.construct_object(n, deep=True)

        data = walk(node, "") if node is not None else None
    except RecursionError:  # PyYAML composes nested collections recursively: ``[[[[…`` thousands deep
        raise refuse("yaml", None, "too_deep", "YAML 嵌套层级过深", "YAML nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise RulesetError([Problem("yaml", line, "yaml_syntax", f"YAML 格式错误（{getattr(exc, 'problem', '')}）",
                                    f"YAML syntax error ({getattr(exc, 'problem', exc)})")]) from exc
    finally:
        loader.dispose()
    return data, lines


# ---- validation -------------------------------------------------------------------------------

class _Checker:
    def __init__(self, lines: dict[str, int]) -> None:
        self.lines = lines
        self.problems: list[Problem] = []

    def line(self, path: str) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rsplit(".", 1)[0] if "." in path else (path.rsplit("[", 1)[0] if "[" in path else "")
        return self.lines.get("")

    def bad(self, path: str, code: str, zh: str, en: str) -> None:
        self.problems.append(Problem(path, self.line(path), code, zh, en))

    def whole(self, value: Any, path: str, *, low: int | None = None, high: int | None = None) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or (isinstance(value, float)
                                                                             and not value.is_integer()):
            self.bad(path, "not_a_number", f"应为整数，实际为 {value!r}"[:120], f"must be a whole number, got {value!r}"[:120])
            return None
        v = int(value)
        if (low is not None and v < low) or (high is not None and v > high):
            self.bad(path, "out_of_range", f"取值应在 {low} 至 {high} 之间", f"must be between {low} and {high}")
            return None
        return v

    def number(self, value: Any, path: str) -> float | None:
        if (isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or value < 0
                or value >= HUGE_HOURS):  # (.nan compares false with everything: it passed the bounds)
            self.bad(path, "not_a_number", f"应为非负数，实际为 {value!r}"[:120], f"must be a non-negative number, got {value!r}"[:120])
            return None
        return float(value)

    def mapping(self, value: Any, path: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.bad(path, "wrong_type", "应为映射（键: 值）", "must be a mapping (key: value)")
            return None
        return value


def _rule_of(ck: _Checker, data: Any, path: str) -> tuple[int, int] | None:
    d = ck.mapping(data, path)
    if d is None:
        return None
    for k in d:
        if k not in ("points", "window_months", "min_hours"):
            ck.bad(f"{path}.{k}", "unknown_key", f"未知的键 {k}", f"unknown key {k}")
    if "points" not in d:
        ck.bad(path, "missing", "缺少 points", "points is required")
    if "window_months" not in d:
        ck.bad(path, "missing", "缺少 window_months", "window_months is required")
    p = ck.whole(d.get("points"), f"{path}.points", low=-MAX_POINTS, high=MAX_POINTS) if "points" in d else None
    w = ck.whole(d.get("window_months"), f"{path}.window_months", low=1, high=MAX_WINDOW) if "window_months" in d else None
    return None if p is None or w is None else (p, w)


def _item_rules(ck: _Checker, code: str, data: Any, facts: ItemFacts) -> list[Rule]:
    path = f"items.{code}"
    d = ck.mapping(data, path)
    if d is None:
        return []
    for k in d:
        if k not in RULE_KEYS:
            ck.bad(f"{path}.{k}", "unknown_key", f"未知的规则键 {k}（可用：default、by_severity、by_level、by_hours）",
                   f"unknown rule key {k} (use default, by_severity, by_level, by_hours)")
    doubles = d.get("repeat_doubles", False)
    if not isinstance(doubles, bool):
        ck.bad(f"{path}.repeat_doubles", "wrong_type", "应为 true 或 false", "must be true or false")
        doubles = False
    kinds = [k for k in ("by_severity", "by_level", "by_hours") if k in d]
    if len(kinds) > 1:
        ck.bad(path, "conflicting_rules", f"{' 与 '.join(kinds)} 不能同时使用", f"{' and '.join(kinds)} cannot be combined")
        return []
    if not kinds and "default" not in d:
        ck.bad(path, "missing", "缺少规则（default、by_severity、by_level 或 by_hours）",
               "no rule (default, by_severity, by_level or by_hours)")
        return []
    rules: list[Rule] = []
    specific: dict[str, tuple[int, int]] = {}
    for kind, allowed, what_zh, what_en in (("by_severity", facts.severities, "严重程度", "severity"),
                                            ("by_level", facts.levels, "级别", "level")):
        if kind not in d:
            continue
        if not allowed:
            ck.bad(f"{path}.{kind}", "not_applicable", f"事项 {code} 没有{what_zh}", f"item {code} has no {what_en}")
            continue
        m = ck.mapping(d[kind], f"{path}.{kind}")
        for key, value in (m or {}).items():
            if key not in allowed:
                ck.bad(f"{path}.{kind}.{key}", f"unknown_{what_en}",
                       f"未知的{what_zh} {key}（可用：{'、'.join(allowed)}）",
                       f"unknown {what_en} {key} (one of {', '.join(allowed)})")
                continue
            got = _rule_of(ck, value, f"{path}.{kind}.{key}")
            if got is not None:
                specific[key] = got
    variants = facts.severities or facts.levels or ()
    default = _rule_of(ck, d["default"], f"{path}.default") if "default" in d else None
    if "by_hours" in d:
        if not facts.has_hours:
            ck.bad(f"{path}.by_hours", "not_applicable", f"事项 {code} 没有 hours 字段", f"item {code} has no hours field")
            return []
        tiers = d["by_hours"]
        if not isinstance(tiers, list) or not tiers:
            ck.bad(f"{path}.by_hours", "wrong_type", "应为非空列表", "must be a non-empty list")
            return []
        parsed: list[tuple[float, int, int]] = []
        for i, t in enumerate(tiers):
            tp = f"{path}.by_hours[{i}]"
            got = _rule_of(ck, t, tp)
            mh = ck.number(t.get("min_hours"), f"{tp}.min_hours") if isinstance(t, dict) else None
            if got is not None and mh is not None:
                if parsed and mh <= parsed[-1][0]:
                    ck.bad(f"{tp}.min_hours", "not_ascending", "min_hours 应逐级递增", "min_hours must increase tier by tier")
                    continue
                parsed.append((mh, *got))
        for i, (mh, p, w) in enumerate(parsed):
            upper = parsed[i + 1][0] if i + 1 < len(parsed) else HUGE_HOURS
            rules.append(Rule(code, "", p, w, min_hours=mh, max_hours=upper, mode="max"))
        return rules
    for v in variants:
        got = specific.get(v, default)
        if got is not None:
            rules.append(Rule(code, v, got[0], got[1], doubles=doubles and got[0] < 0))
    if default is not None and not variants:
        rules.append(Rule(code, "", default[0], default[1], doubles=doubles and default[0] < 0))
    return rules


def parse(text: str, *, catalog: dict[str, ItemFacts], list_codes: set[str] | None = None) -> Ruleset:
    """Parse and validate ruleset YAML. Raises :class:`RulesetError` with every problem found."""
    if not isinstance(text, str) or not text.strip():
        raise RulesetError([Problem("yaml", None, "empty", "评分规则为空", "the ruleset is empty")])
    duplicates: list[tuple[str, int]] = []
    data, lines = _compose(text, duplicates)
    ck = _Checker(lines)
    if not isinstance(data, dict):
        raise RulesetError([Problem("yaml", 1, "wrong_type", "评分规则应为映射", "the ruleset must be a mapping")])
    for path, line in duplicates:  # YAML keeps the last silently: the earlier rule would be dropped unseen
        ck.problems.append(Problem(path, line, "duplicate_key", f"键 {path} 重复（同一层级只能出现一次）",
                                   f"key {path} appears twice (once per mapping)"))
    for k in data:
        if k not in TOP_KEYS:
            ck.bad(str(k), "unknown_key", f"未知的键 {k}", f"unknown key {k}")
    effective = data.get("effective_from")
    if effective is not None and not isinstance(effective, date):
        ck.bad("effective_from", "wrong_type", "生效日期格式应为 YYYY-MM-DD", "effective_from must be YYYY-MM-DD")
        effective = None
    base = ck.whole(data.get("base"), "base", low=0, high=MAX_POINTS) if "base" in data else None
    if "base" not in data:
        ck.bad("base", "missing", "缺少基础分 base", "base is required")
    bands = _bands(ck, data.get("grades"))
    force_grade, force_lists = None, ()
    if data.get("force_grade") is not None:
        fg = ck.mapping(data["force_grade"], "force_grade")
        if fg is not None:
            force_grade = fg.get("grade")
            if force_grade is None or force_grade == "":
                ck.bad("force_grade.grade", "missing", "缺少强制等级 grade（如 D）", "force_grade needs its grade (such as D)")
            elif bands and force_grade not in {b.grade for b in bands}:
                ck.bad("force_grade.grade", "unknown_grade", f"等级 {force_grade} 不在等级区间中",
                       f"grade {force_grade} is not one of the bands")
            lists = fg.get("lists") or []
            if not isinstance(lists, list):
                ck.bad("force_grade.lists", "wrong_type", "应为名单代码列表", "must be a list of list codes")
                lists = []
            for i, code in enumerate(lists):
                if not isinstance(code, str) or not LIST_RE.match(code) or (list_codes and code not in list_codes):
                    ck.bad(f"force_grade.lists[{i}]", "unknown_list", f"未知的名单 {code}", f"unknown list {code}")
            force_lists = tuple(c for c in lists if isinstance(c, str))
    items = data.get("items")
    rules: list[Rule] = []
    if ck.mapping(items, "items") is not None:
        for code, value in items.items():
            facts = catalog.get(code)
            if facts is None:
                ck.bad(f"items.{code}", "unknown_item", f"目录中没有事项 {code}", f"no catalog item {code}")
                continue
            rules.extend(_item_rules(ck, code, value, facts))
    if ck.problems:
        raise RulesetError(ck.problems)
    assert base is not None
    return Ruleset(base=base, bands=bands, force_grade=force_grade, force_lists=force_lists, rules=rules,
                   items=items, effective_from=effective,
                   windows=tuple(sorted({r.window_months for r in rules})))


def _bands(ck: _Checker, data: Any) -> list[Band]:
    if not isinstance(data, list) or not data:
        ck.bad("grades", "missing", "缺少等级区间 grades（非空列表）", "grades (a non-empty list) is required")
        return []
    bands: list[Band] = []
    seen: set[str] = set()
    for i, g in enumerate(data):
        p = f"grades[{i}]"
        d = ck.mapping(g, p)
        if d is None:
            continue
        name = d.get("grade")
        if not isinstance(name, str) or not GRADE_RE.match(name):
            ck.bad(f"{p}.grade", "wrong_type", "等级应为1至4个大写字母", "grade must be 1-4 capital letters")
            continue
        if name in seen:
            ck.bad(f"{p}.grade", "duplicate_grade", f"等级 {name} 重复", f"grade {name} appears twice")
            continue
        seen.add(name)
        lo = ck.whole(d["min"], f"{p}.min", low=-10 * MAX_POINTS, high=10 * MAX_POINTS) if d.get("min") is not None else None
        hi = ck.whole(d["max"], f"{p}.max", low=-10 * MAX_POINTS, high=10 * MAX_POINTS) if d.get("max") is not None else None
        if (d.get("min") is not None and lo is None) or (d.get("max") is not None and hi is None):
            continue
        if lo is not None and hi is not None and lo > hi:
            ck.bad(p, "empty_band", f"等级 {name} 的下限大于上限", f"band {name}: min is above max")
            continue
        bands.append(Band(name, lo, hi))
    if len(bands) != len(data):
        return bands
    # highest first: each band's min is one above the next band's max
    for i, b in enumerate(bands):
        p = f"grades[{i}]"
        if i == 0 and b.max is not None:
            ck.bad(f"{p}.max", "top_band_bounded", "最高等级不应有上限（max）", "the top band must have no max")
        if i == len(bands) - 1 and b.min is not None:
            ck.bad(f"{p}.min", "bottom_band_bounded", "最低等级不应有下限（min）", "the bottom band must have no min")
        if i > 0 and b.max is None:
            ck.bad(p, "missing", f"等级 {b.grade} 缺少上限 max", f"band {b.grade} needs a max")
        if i < len(bands) - 1 and b.min is None:
            ck.bad(p, "missing", f"等级 {b.grade} 缺少下限 min", f"band {b.grade} needs a min")
        if i < len(bands) - 1 and b.min is not None and bands[i + 1].max is not None:
            nxt = bands[i + 1]
            assert nxt.max is not None
            if nxt.max >= b.min:
                ck.bad(f"grades[{i + 1}].max", "overlapping_bands",
                       f"等级 {nxt.grade}（至 {nxt.max}）与 {b.grade}（自 {b.min}）重叠",
                       f"band {nxt.grade} (up to {nxt.max}) overlaps {b.grade} (from {b.min})")
            elif nxt.max + 1 < b.min:
                ck.bad(f"grades[{i + 1}].max", "gap_between_bands",
                       f"等级 {nxt.grade}（至 {nxt.max}）与 {b.grade}（自 {b.min}）之间有空档 {nxt.max + 1}–{b.min - 1}",
                       f"gap between band {nxt.grade} (up to {nxt.max}) and {b.grade} (from {b.min}): "
                       f"{nxt.max + 1}-{b.min - 1}")
    return bands
