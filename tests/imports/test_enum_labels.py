"""An enum field's Chinese labels (``labels`` in the catalog): a record or a file's cell may give 区级
for ``district``; the code is stored, so the same record sent either way is the same content."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from tests.imports.imports_support import csv_bytes
from tests.support import SYSTEM, new_id_number

from xinyong.catalog.service import CatalogError, get_current, read_yaml, update_item
from xinyong.catalog.spec import SpecError, compile_field, parse_field, to_data
from xinyong.records.models import Record
from xinyong.subjects.groups import KEY_GROUPS

pytestmark = pytest.mark.usefixtures("catalog_loaded")


def honor(idn: str, level: str, source_id: str = "H-1") -> dict[str, object]:
    return {"item": "honor", "id_number": idn, "name": "李四", "source_id": source_id, "decided_at": "2026-03-02",
            "fields": {"title": "优秀志愿者", "level": level, "awarded_by": "区文明办"}}


def push(client, world, records):  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/records", content=json.dumps({"records": records}),
                    headers={**world.bearer(world.key_a), "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()["results"]


def test_a_label_is_taken_for_its_code_and_the_code_is_stored(client, world, session):  # type: ignore[no-untyped-def]
    idn = new_id_number()
    [r] = push(client, world, [honor(idn, "区级")])
    assert r["status"] == "created", r
    assert session.get(Record, r["record_id"]).fields["level"] == "district"
    # the same record with the code (or the label written full-width and padded) is the same content
    [again] = push(client, world, [honor(idn, "district")])
    assert again["status"] == "unchanged"
    [padded] = push(client, world, [honor(idn, " 区级 ")])
    assert padded["status"] == "unchanged"
    [bad] = push(client, world, [honor(idn, "县级")])
    assert bad["status"] == "rejected"
    [err] = bad["errors"]
    assert (err["field"], err["code"]) == ("fields.level", "not_allowed")
    assert "区级(district)" in err["message"] and "or their Chinese names" in err["message"]


def test_a_file_may_give_the_labels(upload, session):  # type: ignore[no-untyped-def]
    header = ["身份证号码", "姓名", "来源编号", "决定日期", "荣誉名称", "授予级别", "授予单位"]
    rows = [[new_id_number(), "李四", f"F-{i}", "2026-03-02", "优秀志愿者", level, "区文明办"]
            for i, level in enumerate(("国家级", "街道级", "community"))]
    job = upload(csv_bytes(header, rows), item="honor")
    assert job["counts"]["created"] == 3, job
    levels = session.scalars(select(Record.fields).where(Record.source_id.like("F-%")).order_by(Record.source_id))
    assert [f["level"] for f in levels] == ["national", "street", "community"]


def test_the_catalog_api_and_the_template_show_the_labels(client, world):  # type: ignore[no-untyped-def]
    h = world.bearer(world.key_a)
    items = {i["code"]: i for i in client.get("/api/v1/catalog/items", headers=h).json()}
    level = next(f for f in items["honor"]["fields"] if f["name"] == "level")
    assert level["labels"]["district"] == "区级" and level["allowed"][3] == "district"
    assert next(f for f in items["admin_penalty"]["fields"] if f["name"] == "penalty_type")["labels"] is None
    import io

    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(client.get("/api/v1/imports/templates/honor.xlsx", headers=h).content))
    notes = {row[1].value: row[4].value for row in wb["说明"].iter_rows(min_row=2) if row[1].value}
    assert notes["level"].startswith("国家级(national)、省级(provincial)")


def test_the_key_groups_labels_are_the_groups_names() -> None:
    """The catalog's labels of ``group_code`` are the names the platform shows for the groups."""
    spec = {i.code: i for i in read_yaml()}["professional_qualification"]
    group = next(f for f in spec.fields if f.name == "group_code")
    assert dict(group.labels or ()) == {code: names[0] for code, names in KEY_GROUPS.items()}


@pytest.mark.parametrize(("labels", "path"), [
    ({"district": "区级", "county": "县级"}, "f.labels.county"),  # not an allowed value
    ({"district": "区级", "street": "区级"}, "f.labels.street"),  # two alike
    ({"district": "ｓｔｒｅｅｔ"}, "f.labels.district"),  # another allowed value (after NFKC)
    ({"district": "区\n级"}, "f.labels.district"),
    ({"district": ""}, "f.labels.district"),
    ({"district": "级" * 65}, "f.labels.district"),
    (["区级"], "f.labels"),
])
def test_bad_labels_are_refused_with_their_path(labels, path):  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError) as err:
        parse_field({"name": "level", "type": "enum", "allowed": ["district", "street"], "labels": labels}, "f")
    assert err.value.path == path


def test_labels_only_on_an_enum(db):  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError) as err:
        parse_field({"name": "title", "type": "string", "labels": {"a": "甲"}}, "f")
    assert err.value.path == "f.labels"
    # and a catalog edit that labels the level field anew is a new version with the labels kept
    with db.session() as s:
        spec = to_data(get_current(s, "honor").spec)
        level = next(f for f in spec["fields"] if f["name"] == "level")
        level["labels"] = {**level["labels"], "street": "街道"}
        item = update_item(s, code="honor", data=spec, actor=SYSTEM)
        assert item.version == 2
        assert dict(next(f for f in item.spec.fields if f.name == "level").labels or ())["street"] == "街道"
        level["labels"]["bogus"] = "伪"
        with pytest.raises(CatalogError):
            update_item(s, code="honor", data=spec, actor=SYSTEM)


@given(st.text(max_size=8))
def test_an_enum_with_labels_stores_only_allowed_codes(value: str) -> None:
    """Whatever the value, a labelled enum answers an allowed code or a refusal, never anything else."""
    field = parse_field({"name": "level", "type": "enum", "allowed": ["national", "district"],
                         "labels": {"national": "国家级", "district": "区级"}}, "f")
    got, err = compile_field(field)(value)
    assert (got in ("national", "district") and err is None) or (got is None and err["code"] == "not_allowed")


def test_the_xlsx_template_offers_the_values_as_drop_down_lists(client, world):  # type: ignore[no-untyped-def]
    """Each column of a few values (严重程度, the enums) offers them as a drop-down list, by their
    Chinese labels where the catalog names them; typing a code instead is only warned about."""
    import io

    from openpyxl import load_workbook

    h = world.bearer(world.key_a)
    for item, column, values in (("honor", "授予级别", "国家级,省级,市级,区级,街道级,社区级"),
                                 ("admin_penalty", "严重程度", "轻微,一般,严重")):
        wb = load_workbook(io.BytesIO(client.get(f"/api/v1/imports/templates/{item}.xlsx", headers=h).content))
        ws = wb.worksheets[0]
        letter = next(c.column_letter for c in ws[1] if c.value == column)
        lists = {str(dv.sqref): dv for dv in ws.data_validations.dataValidation}
        dv = lists[f"{letter}2:{letter}500001"]
        assert (dv.type, dv.formula1, dv.errorStyle) == ("list", f'"{values}"', "warning")


def test_the_xlsx_template_holds_no_formula_from_the_catalogs_texts(db):  # type: ignore[no-untyped-def]
    """A field's Chinese name or an enum's label starting with ``=`` (an administrator's text) is a
    text in the XLSX template, not a live formula (openpyxl stored it as one), as the CSV template
    escapes it; the header is still the text the import matches."""
    import io

    from openpyxl import load_workbook

    from xinyong.catalog.spec import parse_item
    from xinyong.imports.service import template_xlsx

    with db.session() as s:
        data = to_data(get_current(s, "honor").spec)
    evil = '=HYPERLINK("http://example.invalid/","点击")'
    data["fields"][0]["name_zh"] = evil
    data["fields"][1]["labels"]["national"] = "=1+1"
    wb = load_workbook(io.BytesIO(template_xlsx(parse_item(data))))
    cells = [c for sheet in wb for row in sheet.iter_rows() for c in row if c.value is not None]
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    assert evil in [c.value for c in wb["数据"][1]]
    assert any(c.value == evil for c in cells if c.parent.title == "说明")
