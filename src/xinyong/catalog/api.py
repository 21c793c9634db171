"""Catalog API: list items with their fields; the credit office edits them (new versions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from xinyong.auth.deps import BodyRefusals, RefusedBody, require
from xinyong.auth.models import Department
from xinyong.auth.service import Principal
from xinyong.catalog import service
from xinyong.catalog.schemas import ExtensionOut, FieldOut, ItemDetailOut, ItemOut, ItemUpdateIn, PeriodOut
from xinyong.catalog.service import Item
from xinyong.catalog.spec import to_data
from xinyong.deps import DbSession
from xinyong.errors import ApiError
from xinyong.privacy.masking import mask_id_numbers_in

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])
CatalogRead = Annotated[Principal, Depends(require("catalog.read"))]
CatalogManage = Annotated[Principal, Depends(require("catalog.manage"))]


def item_out(item: Item) -> ItemOut:
    s = item.spec
    return ItemOut(
        code=s.code, version=item.version, name=s.name, name_en=s.name_en, category=s.category,
        visibility=s.visibility, key_field=s.key_field, legal_basis=s.legal_basis, departments=list(s.departments),
        severities=list(s.severities) if s.severities else None,
        fields=[FieldOut(name=f.name, name_zh=f.name_zh, type=f.type, required=f.required,
                         allowed=list(f.allowed) if f.allowed else None,
                         labels=dict(f.labels) if f.labels else None, max_length=f.max_length, min=f.min, max=f.max)
                for f in s.fields],
        display={k: PeriodOut(publish=p.publish, min_months=p.min_months, max_months=p.max_months)
                 for k, p in s.display.items()},
        retention_years=s.retention_years,
        display_extension=ExtensionOut(field=s.display_extension[0], months=s.display_extension[1])
        if s.display_extension else None,
        retention_from=s.retention_from,
    )


@router.get("/items", response_model=list[ItemOut], summary="Catalog items with their fields (current versions)")
def list_items(principal: CatalogRead, session: DbSession,
               pushable: bool = Query(default=False, description="only the items the caller's department may push")
               ) -> list[ItemOut]:
    items = list(service.current_items(session).values())
    if pushable:
        code = None
        if principal.department_id is not None:
            dept = session.get(Department, principal.department_id)
            code = dept.code if dept is not None and dept.active and dept.kind == "department" else None
        items = [i for i in items if code is not None and i.spec.allows_department(code)]
    return [item_out(i) for i in items]


@router.get("/items/{code}", response_model=ItemDetailOut,
            summary="One catalog item (current version), with its definition as PUT takes it")
def get_item(code: str, principal: CatalogRead, session: DbSession) -> ItemDetailOut:
    item = service.get_current(session, code)
    if item is None:
        shown = mask_id_numbers_in(code)[:64]  # a code from the path, echoed: never an ID number in the clear
        raise ApiError(404, "unknown_item", f"目录中没有事项 {shown} / no catalog item {shown}")
    return ItemDetailOut(**item_out(item).model_dump(), spec=to_data(item.spec))


@router.put("/items/{code}", response_model=ItemOut, summary="Edit an item: adds a new version (credit office)")
def put_item(code: str, body: ItemUpdateIn, principal: CatalogManage, session: DbSession) -> ItemOut:
    try:
        item = service.update_item(session, code=code, data=body.spec, actor=principal.actor, note=body.note)
    except service.CatalogError as exc:
        service.record_update_refusal(session, actor=principal.actor, code=code, refused=exc.code, field=exc.field)
        status = 404 if exc.code == "unknown_item" else 422
        raise ApiError(status, exc.code, exc.message,
                       [{"field": exc.field or "spec", "code": exc.code, "message": exc.message}]) from exc
    return item_out(item)


def _edit_body_refused(session: Session, principal: Principal, refused: RefusedBody) -> None:
    service.record_update_refusal(session, actor=principal.actor, code=str(refused.path_params.get("code", "")),
                                  refused=refused.code, field=refused.field, body_bytes=refused.size)


# an edit whose body the schema refuses (not JSON, no ``spec``, a note too long) is registered as a refused edit
refused_bodies: BodyRefusals = {("PUT", "/api/v1/catalog/items/{code}"): (("catalog.manage",), _edit_body_refused)}
