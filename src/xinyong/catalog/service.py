"""Catalog rules: load the shipped default, read current items, edit an item (a new version)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xinyong.audit.service import Actor, record, record_refusal
from xinyong.catalog.models import CatalogItem
from xinyong.catalog.spec import (
    TEXT_CONTROL_CHARS,
    ItemSpec,
    SpecError,
    check_retention,
    check_texts,
    parse_item,
    to_data,
)
from xinyong.domain_errors import BilingualError
from xinyong.privacy.masking import mask_id_numbers_in

DEFAULT_CATALOG = Path(__file__).parent / "default_catalog.yaml"


@dataclass(frozen=True)
class Item:
    """A catalog item version: its row id, version and compiled spec."""

    id: int
    version: int
    spec: ItemSpec

    @property
    def code(self) -> str:
        return self.spec.code


class CatalogError(BilingualError):
    """A refusal from this domain."""


def read_yaml(path: Path = DEFAULT_CATALOG) -> list[ItemSpec]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise SpecError("items", "目录文件应包含 items 列表", "catalog file must hold a list 'items'")
    specs = [parse_item(d, f"items[{i}]") for i, d in enumerate(data["items"])]
    for i, spec in enumerate(specs):
        check_retention(spec, f"items[{i}]")
        check_texts(spec, f"items[{i}]")
    codes = [s.code for s in specs]
    dupes = {c for c in codes if codes.count(c) > 1}
    if dupes:
        raise SpecError("items", f"事项代码重复：{sorted(dupes)}", f"duplicate item codes: {sorted(dupes)}")
    return specs


@lru_cache(maxsize=1024)
def _compiled(item_id: int, spec_key: str) -> ItemSpec:
    import json

    return parse_item(json.loads(spec_key))


def item_to_data(item: Item) -> tuple[int, int, dict[str, Any]]:
    """An item version as plain values (to hand to another process): :func:`item_from_data` builds it again."""
    return item.id, item.version, to_data(item.spec)


def item_from_data(item_id: int, version: int, data: dict[str, Any]) -> Item:
    import json

    return Item(id=item_id, version=version, spec=_compiled(item_id, json.dumps(data, sort_keys=True, ensure_ascii=False)))


def _to_item(row: CatalogItem) -> Item:
    return item_from_data(row.id, row.version, row.spec)


def _insert_version(session: Session, spec: ItemSpec, version: int, actor: Actor, note: str | None) -> CatalogItem:
    row = CatalogItem(code=spec.code, version=version, is_current=True, name=spec.name, name_en=spec.name_en,
                      category=spec.category, visibility=spec.visibility, key_field=spec.key_field,
                      legal_basis=spec.legal_basis, spec=to_data(spec), created_by=actor.label, change_note=note)
    session.add(row)
    session.flush()
    return row


def load_specs(session: Session, specs: list[ItemSpec], *, actor: Actor, update_existing: bool = False) -> dict[str, str]:
    """Insert items not yet in the catalog; with ``update_existing``, add a new version for items
    whose data differs. Returns {code: 'created'|'updated'|'unchanged'}. Safe to run twice."""
    outcome: dict[str, str] = {}
    current = {r.code: r for r in session.scalars(select(CatalogItem).where(CatalogItem.is_current.is_(True)))}
    for spec in specs:
        row = current.get(spec.code)
        if row is None:
            new = _insert_version(session, spec, 1, actor, "default catalog")
            outcome[spec.code] = "created"
            record(session, actor=actor, action="catalog.create", object_type="catalog_item", object_id=new.id,
                   details={"code": spec.code, "version": 1})
        elif update_existing and not _same_definition(to_data(spec), row.spec):
            _new_version(session, row, spec, actor, "default catalog update")
            outcome[spec.code] = "updated"
        else:
            outcome[spec.code] = "unchanged"
    return outcome


def load_default(session: Session, *, actor: Actor, update_existing: bool = False) -> dict[str, str]:
    return load_specs(session, read_yaml(), actor=actor, update_existing=update_existing)


def _new_version(session: Session, row: CatalogItem, spec: ItemSpec, actor: Actor, note: str | None) -> CatalogItem:
    session.execute(update(CatalogItem).where(CatalogItem.code == row.code).values(is_current=False))
    new = _insert_version(session, spec, row.version + 1, actor, note)
    record(session, actor=actor, action="catalog.update", object_type="catalog_item", object_id=new.id,
           details={"code": spec.code, "version": new.version, "previous": row.version, "note": note})
    return new


def update_item(session: Session, *, code: str, data: dict[str, Any], actor: Actor, note: str | None = None) -> Item:
    """Replace an item's definition with ``data`` as a new version (the old one stays for its records).

    Two edits of one item at once (two admins, a form sent twice) take turns: on PostgreSQL the
    item's versions are locked first, so the second reads the version the first made and becomes
    the next one (or changes nothing if it brings the same definition) instead of failing on the
    (code, version) constraint."""
    session.execute(select(CatalogItem.id).where(CatalogItem.code == code)
                    .with_for_update(key_share=True)).all()  # SQLite: no clause (its writers take turns)
    row = session.scalar(select(CatalogItem).where(CatalogItem.code == code, CatalogItem.is_current.is_(True))
                         .execution_options(populate_existing=True))
    if row is None:
        shown = mask_id_numbers_in(code)[:64]  # echoed: never an ID number in the clear
        raise CatalogError("unknown_item", f"目录中没有事项 {shown}", f"no catalog item {shown}", "code")
    if note is not None and TEXT_CONTROL_CHARS.search(note):  # kept with the version and audited (NUL fails on PostgreSQL)
        raise CatalogError("invalid_characters", "修改说明包含不允许的控制字符", "the note contains control characters",
                           "note")
    if note is not None:
        note = mask_id_numbers_in(note)  # kept, shown in the item's history and audited: never an ID number in the clear
    data = {**data, "code": code}
    try:
        spec = parse_item(data, code)
        check_retention(spec, code)
        check_texts(spec, code)
    except SpecError as exc:
        raise CatalogError("invalid_spec", f"{exc.path}: {exc.message_zh}", f"{exc.path}: {exc.message_en}",
                           exc.path) from exc
    _check_departments(session, spec, _to_item(row).spec)
    if _same_definition(to_data(spec), row.spec):
        return _to_item(row)
    return _to_item(_new_version(session, row, spec, actor, note))


def record_update_refusal(session: Session, *, actor: Actor, code: str, refused: str, field: str | None,
                          via: str | None = None, body_bytes: int | None = None) -> None:
    """A refused edit of an item — an invalid definition, an unknown department or item, a stale form —
    registered durably (``audit.service.record_refusal``: the request's work rolled back, the entry
    committed) under ``catalog.update``, ``failed``, with the item, the refusal's code and the path
    refused (never the value typed), from the API — a ``CatalogError`` or a body the schema refuses —
    and the admin pages (``via: page``) alike."""
    details: dict[str, Any] = {"item": mask_id_numbers_in(code)[:64], "code": refused, "field": field}
    if via is not None:
        details["via"] = via
    if body_bytes is not None:  # a body over the size limit
        details["bytes"] = body_bytes
    record_refusal(session, actor=actor, action="catalog.update", object_type="catalog_item", details=details,
                   outcome="failed")


def _same_definition(new: dict[str, Any], stored: dict[str, Any]) -> bool:
    """The departments are a set: the edit form lists them in its own order (by code), the API and
    the YAML in theirs. The same choice in another order is no change, so no new version."""
    def canonical(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "departments": sorted(set(d.get("departments") or ()))}

    return canonical(new) == canonical(stored)


def _check_departments(session: Session, spec: ItemSpec, previous: ItemSpec) -> None:
    """Refuse a department code that is neither a department nor already in the item's rule (a typo
    would shut every real department out of pushing the item). The admin pages and the API alike."""
    from xinyong.auth.models import Department

    allowed = {*previous.departments, "*"}
    unknown = [d for d in spec.departments if d not in allowed]
    if unknown:  # compared here, not in SQL: a code may hold anything (NUL fails a PostgreSQL query)
        known = set(session.scalars(select(Department.code).where(Department.kind == "department")))
        unknown = [d for d in unknown if d not in known]
    if unknown:
        shown = mask_id_numbers_in(", ".join(u[:32] for u in unknown[:5]))
        raise CatalogError("unknown_department", f"未知部门：{shown}", f"unknown department: {shown}", "departments")


def current_items(session: Session) -> dict[str, Item]:
    rows = session.scalars(select(CatalogItem).where(CatalogItem.is_current.is_(True)).order_by(CatalogItem.code))
    return {r.code: _to_item(r) for r in rows}


def get_current(session: Session, code: str) -> Item | None:
    if "\x00" in code:  # no code holds one (and PostgreSQL cannot compare one): no such item
        return None
    row = session.scalar(select(CatalogItem).where(CatalogItem.code == code, CatalogItem.is_current.is_(True)))
    return None if row is None else _to_item(row)


def get_version(session: Session, item_id: int) -> Item | None:
    row = session.get(CatalogItem, item_id)
    return None if row is None else _to_item(row)


def history(session: Session, code: str) -> list[CatalogItem]:
    return list(session.scalars(select(CatalogItem).where(CatalogItem.code == code).order_by(CatalogItem.version)))
