"""Every audit action and object type the platform's source can write, found statically (``ast``) in
``src/xinyong``: a plain module, imported by ``tests/audit/test_audit_labels.py``.

How a code is found. The audit log is written by four functions of ``xinyong.audit.service``
(``record``, ``record_many``, ``record_refusal`` — also imported as ``audit_refusal`` — and
``record_not_found``), each taking ``action=``, ``object_type=`` and ``outcome=`` as keywords (an
outcome left out is the function's default). Every call of them is read, and the expression passed is
followed back to its strings:

- a string literal is a code; ``a if c else b`` gives both sides; ``{…}.get(k, default)`` (and
  ``{…}[k]``) gives the dict's values and the default;
- a name that is a parameter of the enclosing function (or of a function enclosing it: a closure such
  as ``auth.deps.refused_query``'s ``register``) makes that function a writer too: every call of it is
  read the same way (by keyword or position, its default when a call leaves it out), and so on up to
  the literals (``lists.service._audit``, ``cli._record_failed_input``, ``scoring.views``' ``audited``…);
  a private function (``_name``) is looked for in its own module only;
- a name assigned in the function is followed to what it was assigned;
- an f-string is a *dynamic family* (:data:`FAMILIES`): its template must be declared here with the
  values its placeholder takes, checked against what the source gives the placeholder where that can
  be followed.

Three places hand a code on through data rather than an argument; each is declared (:data:`VIA_DATA`)
and read from where the data is written:

- the rate limiter's aggregated refusals (``ratelimit.record_refusals``): the action counted by
  ``RateLimiter.refused`` (its ``action`` argument, default ``ratelimit.refused``);
- the counted refusals (``ratelimit.count_refusal``): the values of each module's ``counted_refusals``
  mapping ((method, path) → action; gathered by ``app._domain_routers``);
- the page refusals (``auth.deps.page_refusals``): the string values of the mapping each page module
  passes it (a value that is a function is a register of its own, read where it is defined).

Two names read from data are declared with the values they take (:data:`DECLARED`): the kind of a
measures save refused on its page or by ``xinyong measures load``.

Anything else a writer is given that cannot be followed is reported by :func:`collect` as unresolved
(the test fails on it), so a new way of building a code has to be declared here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "xinyong"

# the audit service's writers: function name -> its parameters that are written as the entry's fields
WRITERS = ("record", "record_many", "record_refusal", "record_not_found", "audit_refusal")
FIELDS = ("action", "object_type", "outcome")

# f-string templates that build a code, and the values their one placeholder takes
FAMILIES: dict[str, tuple[str, ...]] = {
    # records.service.maintain: a record's display ended or its retention ended
    "record.{kind}": ("expire", "archive"),
    # measures.service: a measure's or a scenario's save (and its refusal)
    "measures.{kind}_save": ("measure", "scenario"),
}

# (module, function, name): a code that reaches a writer through data, see the module's docstring
VIA_DATA: dict[tuple[str, str, str], str] = {
    ("ratelimit.py", "record_refusals", "action"): "ratelimit: RateLimiter.refused's action",
    ("ratelimit.py", "count_refusal", "counted"): "every module's counted_refusals values",
    ("auth/deps.py", "page_refusals", "entry"): "the string values passed to page_refusals",
}

# (module, function, name): a name read from data that takes these values only
DECLARED: dict[tuple[str, str, str], tuple[str, ...]] = {
    # the path's kind: the f-string is taken for these two only (else ``measures.save``)
    ("measures/views.py", "_save_refused", "kind"): ("measure", "scenario"),
    # MeasuresError.refused, set by measures.service.load_default to the kind it was loading
    ("measures/cli.py", "load_command", "kind"): ("measure", "scenario"),
}


@dataclass
class Found:
    codes: dict[str, dict[str, set[str]]] = field(
        default_factory=lambda: {f: {} for f in FIELDS})  # field -> code -> {where}
    families: dict[str, set[str]] = field(default_factory=dict)  # f-string template -> {where}
    family_values: dict[str, set[str]] = field(default_factory=dict)  # template -> values followed
    unresolved: list[str] = field(default_factory=list)

    def add(self, fld: str, code: str, where: str) -> None:
        self.codes[fld].setdefault(code, set()).add(where)

    def of(self, fld: str) -> set[str]:
        """Every code of ``fld`` the source can write, the families expanded."""
        out = set(self.codes[fld])
        if fld == "action":
            for template in self.families:
                out.update(template.format(kind=v) for v in FAMILIES.get(template, ()))
        return out


class _Module:
    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.rel = path.relative_to(root).as_posix()
        self.tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        self.parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node

    def functions_around(self, node: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
        """The functions enclosing ``node``, innermost first."""
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield node


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    a = fn.args
    return [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]


def _default(fn: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> ast.expr | None:
    a = fn.args
    positional = [*a.posonlyargs, *a.args]
    for p, d in zip(positional[len(positional) - len(a.defaults):], a.defaults, strict=True):
        if p.arg == name:
            return d
    for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        if p.arg == name:
            return d
    return None


def _callee(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _argument(call: ast.Call, fn: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> ast.expr | None | bool:
    """What ``call`` passes ``fn``'s parameter ``name``: the expression, None if it leaves it out (the
    default holds), False when it cannot be told (``*args``/``**kwargs`` at the call)."""
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    positional = [p.arg for p in (*fn.args.posonlyargs, *fn.args.args)]
    if positional and positional[0] in ("self", "cls") and isinstance(call.func, ast.Attribute):
        positional = positional[1:]
    if name in positional:
        i = positional.index(name)
        if any(isinstance(a, ast.Starred) for a in call.args[: i + 1]):
            return False
        if i < len(call.args):
            return call.args[i]
    if any(kw.arg is None for kw in call.keywords):
        return False
    return None


class Collector:
    def __init__(self, root: Path = SRC) -> None:
        self.modules = [_Module(p, root) for p in sorted(root.rglob("*.py"))]
        self.defs: dict[str, list[tuple[_Module, ast.FunctionDef | ast.AsyncFunctionDef]]] = {}
        self.calls: dict[str, list[tuple[_Module, ast.Call]]] = {}
        for m in self.modules:
            for node in ast.walk(m.tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    self.defs.setdefault(node.name, []).append((m, node))
                elif isinstance(node, ast.Call) and (name := _callee(node)) is not None:
                    self.calls.setdefault(name, []).append((m, node))
        self.found = Found()
        self._followed: set[tuple[str, int, str, str]] = set()

    # ---- following an expression back to its strings --------------------------------------------
    def _resolve(self, fld: str, m: _Module, node: ast.AST, expr: ast.expr, where: str) -> None:
        if isinstance(expr, ast.Constant):
            if isinstance(expr.value, str):
                self.found.add(fld, expr.value, where)
            elif expr.value is not None:
                self.found.unresolved.append(f"{where}: {ast.unparse(expr)}")
            return  # None: no object type
        if isinstance(expr, ast.IfExp):
            self._resolve(fld, m, node, expr.body, where)
            self._resolve(fld, m, node, expr.orelse, where)
            return
        if isinstance(expr, ast.BoolOp):  # `x or None`
            for v in expr.values:
                self._resolve(fld, m, node, v, where)
            return
        if isinstance(expr, ast.Dict):
            for v in expr.values:
                self._resolve(fld, m, node, v, where)
            return
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "get":
            self._resolve(fld, m, node, expr.func.value, where)
            for d in expr.args[1:]:
                self._resolve(fld, m, node, d, where)
            return
        if isinstance(expr, ast.Subscript):
            self._resolve(fld, m, node, expr.value, where)
            return
        if isinstance(expr, ast.JoinedStr) and fld == "action":
            template = "".join(v.value if isinstance(v, ast.Constant) else "{kind}" for v in expr.values)
            self.found.families.setdefault(template, set()).add(where)
            holes = [v.value for v in expr.values if isinstance(v, ast.FormattedValue)]
            if len(holes) == 1:  # follow the placeholder too, to check the family's declared values
                sub = Collector.__new__(Collector)
                sub.__dict__.update(self.__dict__)
                sub.found = Found()
                sub._followed = set()
                sub._resolve("action", m, node, holes[0], where)
                self.found.family_values.setdefault(template, set()).update(sub.found.codes["action"])
                if sub.found.unresolved:
                    self.found.family_values[template].add("<unresolved>")
            return
        if isinstance(expr, ast.Name):
            self._resolve_name(fld, m, node, expr.id, where)
            return
        self.found.unresolved.append(f"{where}: {ast.unparse(expr)}")

    def _resolve_name(self, fld: str, m: _Module, node: ast.AST, name: str, where: str) -> None:
        for fn in m.functions_around(node):
            if (m.rel, fn.name, name) in DECLARED:
                for value in DECLARED[m.rel, fn.name, name]:
                    self.found.add(fld, value, f"{m.rel}:{fn.lineno} {fn.name} (declared)")
                return
            if (m.rel, fn.name, name) in VIA_DATA:
                self._via_data(fld, m, fn, name)
                return
            if name in _params(fn):
                self._writer(fld, m, fn, name)
                return
            assigned = [n.value for n in ast.walk(fn) if isinstance(n, ast.Assign)
                        and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)]
            assigned += [n.value for n in ast.walk(fn) if isinstance(n, ast.NamedExpr) and n.target.id == name]
            if assigned:
                for value in assigned:
                    self._resolve(fld, m, value, value, where)
                return
        self.found.unresolved.append(f"{where}: {name}")

    def _writer(self, fld: str, m: _Module, fn: ast.FunctionDef | ast.AsyncFunctionDef, param: str) -> None:
        """``fn`` writes its parameter ``param`` as the entry's ``fld``: read every call of it."""
        key = (m.rel, fn.lineno, param, fld)
        if key in self._followed:
            return
        self._followed.add(key)
        default = _default(fn, param)
        here = f"{m.rel}:{fn.lineno} {fn.name}({param})"
        calls = [(cm, c) for cm, c in self.calls.get(fn.name, ())
                 if not fn.name.startswith("_") or cm is m]
        for cm, call in calls:
            where = f"{cm.rel}:{call.lineno}"
            arg = _argument(call, fn, param)
            if arg is False:
                self.found.unresolved.append(f"{where}: {fn.name}(*…/**…) passes {param}")
            elif arg is None:
                if default is not None:
                    self._resolve(fld, m, fn, default, here)
            else:
                self._resolve(fld, cm, call, arg, where)

    def _via_data(self, fld: str, m: _Module, fn: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> None:
        if fld != "action":  # these carry actions only: the object types are written beside them
            self.found.unresolved.append(f"{m.rel}:{fn.lineno} {fn.name}: {name} for {fld}")
            return
        if m.rel == "ratelimit.py" and fn.name == "record_refusals":
            for dm, d in self.defs.get("refused", ()):
                if dm.rel == "ratelimit.py":
                    self._writer(fld, dm, d, "action")
        elif m.rel == "ratelimit.py" and fn.name == "count_refusal":
            for cm in self.modules:
                for n in cm.tree.body:
                    if isinstance(n, ast.Assign | ast.AnnAssign) and n.value is not None and any(
                            isinstance(t, ast.Name) and t.id == "counted_refusals"
                            for t in (n.targets if isinstance(n, ast.Assign) else [n.target])):
                        self._resolve(fld, cm, n, n.value, f"{cm.rel}:{n.lineno} counted_refusals")
        elif m.rel == "auth/deps.py" and fn.name == "page_refusals":
            for cm, call in self.calls.get("page_refusals", ()):
                mapping = call.args[1] if len(call.args) > 1 else None
                if not isinstance(mapping, ast.Dict):
                    self.found.unresolved.append(f"{cm.rel}:{call.lineno}: page_refusals(…) not a dict")
                    continue
                for v in mapping.values:
                    if isinstance(v, ast.Constant) and isinstance(v.value, str):
                        self.found.add(fld, v.value, f"{cm.rel}:{call.lineno} page_refusals")

    # ---- the writers' calls ---------------------------------------------------------------------
    def run(self) -> Found:
        # the writers' own defaults (an outcome left out), from the platform's audit service
        service = {fn.name: fn for fn in _Module(SRC / "audit" / "service.py", SRC).tree.body
                   if isinstance(fn, ast.FunctionDef)}
        for name in WRITERS:
            seed = service.get("record_refusal" if name == "audit_refusal" else name)
            for m, call in self.calls.get(name, ()):
                for fld in FIELDS:
                    given = [kw.value for kw in call.keywords if kw.arg == fld]
                    if given:
                        self._resolve(fld, m, call, given[0], f"{m.rel}:{call.lineno}")
                    elif seed is not None and (default := _default(seed, fld)) is not None:
                        self._resolve(fld, m, call, default, f"audit/service.py:{seed.lineno} {seed.name}({fld})")
        return self.found


def collect(root: Path = SRC) -> Found:
    return Collector(root).run()
