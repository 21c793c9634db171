"""What real government spreadsheets hold besides the item's columns: hidden columns, hidden (filtered)
rows, formulas dragged down a template past its data, 序号 and 备注 columns."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.imports.imports_support import (
    ZH_HEADER,
    _with_member,
    penalty_rows,
    with_cols,
    xlsx_bytes,
    xlsx_row,
    xlsx_with_rows,
)

from xinyong.audit.models import AuditEntry
from xinyong.records.models import Record


def _workbook(header: list[str], rows: list[list[Any]]) -> Any:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    return wb, ws


def _saved(wb: Any) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_a_hidden_unknown_column_is_named_as_hidden(upload) -> None:  # type: ignore[no-untyped-def]
    """An unknown column the officer hid (a helper column of a lookup, 内部编码 …) was refused as any
    unknown column: the officer looked for it on the sheet and could not see it. The refusal says it is
    hidden and which column it is; a visible unknown column is named as before."""
    wb, ws = _workbook([*ZH_HEADER, "内部编码", "经办人"], [[*r, "X1", "张三"] for r in penalty_rows(2, prefix="H")])
    ws.column_dimensions["J"].hidden = True
    body = upload(_saved(wb), filename="hidden.xlsx", expect=422).json()
    assert body["code"] == "unknown_column"
    assert "内部编码（隐藏的J列）" in body["message"] and "内部编码 (hidden column J)" in body["message"]
    assert "经办人" in body["message"] and "经办人（隐藏" not in body["message"]
    hidden, shown = body["errors"]
    assert hidden["field"] == "内部编码" and shown["field"] == "经办人"  # the field is the header, as before
    assert "第10列（J），是隐藏列" in hidden["message"] and "column J, hidden" in hidden["message"]
    assert "隐藏" not in shown["message"] and "hidden" not in shown["message"]


def _formula(ref: str, formula: str, value: str | None, t: str | None = None) -> str:
    """A formula cell with its cached value as Excel saves it (``<v></v>`` for an empty text result)."""
    kind = f' t="{t}"' if t else ""
    cached = "" if value is None else f"<v>{value}</v>"
    return f'<c r="{ref}"{kind}><f>{formula}</f>{cached}</c>'


def test_rows_of_formulas_giving_nothing_are_blank(upload, client, world, session) -> None:  # type: ignore[no-untyped-def]
    """A template whose 罚款金额 holds ``=ROUND(J2*K2,2)`` and 处罚类别 ``=IF(A2="","",…)`` dragged down to
    row 500 made every row below the data "not blank" (a 0 and an empty text result): each was refused
    as a row missing everything. A row whose only values are formulas' empty results (0, "", 00:00) is
    blank; a 0 typed in is data, and a formula's 0 on a data row is its value."""
    rows = penalty_rows(3, prefix="Z")
    xml = [xlsx_row(2, rows[0]), xlsx_row(3, rows[1])]
    # a data row whose amount is a formula giving 0: imported with amount 0
    xml.append(xlsx_row(4, rows[2][:8])[: -len("</row>")] + _formula("I4", "ROUND(J4*K4,2)", "0") + "</row>")
    for n in range(5, 40):  # the template's formulas below the data
        xml.append(f'<row r="{n}">' + _formula(f"H{n}", f'IF(A{n}="","","罚款")', "", "str")
                   + _formula(f"I{n}", f"ROUND(J{n}*K{n},2)", "0") + _formula(f"L{n}", f"A{n}=\"x\"", "0", "b")
                   + "</row>")
    xml.append('<row r="40"><c r="I40"><v>0</v></c></row>')  # a 0 typed in: a row, refused for what it lacks
    job = upload(xlsx_with_rows(ZH_HEADER, xml), filename="formulas.xlsx")
    assert job["status"] == "done", job
    assert job["rows_total"] == 4
    assert job["counts"] == {"created": 3, "updated": 0, "unchanged": 0, "rejected": 1}
    assert {e["row"] for e in job["first_errors"]} == {40}
    rec = session.scalar(select(Record).where(Record.source_id == "Z2"))
    assert rec is not None and rec.fields["amount"] == 0
    assert session.scalar(select(func.count()).select_from(Record).where(Record.source_id.like("Z%"))) == 3


def test_rows_a_filter_hides_refuse_the_file_naming_them(upload, session) -> None:  # type: ignore[no-untyped-def]
    """An officer filtered the sheet (自动筛选) to the rows of one month, or hid some rows, and uploaded
    it: every row was imported, the hidden ones silently among them. Whether the hidden rows were meant
    to be left out cannot be told from the file, so the job fails naming them, nothing imported; hidden
    blank rows, and a filter that hides nothing, change nothing."""
    wb, ws = _workbook(ZH_HEADER, penalty_rows(6, prefix="R"))
    ws.auto_filter.ref = "A1:I7"
    ws.append([])
    for n in (3, 5, 8):  # two data rows filtered out; row 8 is blank
        ws.row_dimensions[n].hidden = True
    job = upload(_saved(wb), filename="filtered.xlsx")
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "hidden_rows"
    message = job["error"]["message"]
    assert "第3、5行" in message and "rows 3, 5" in message and "隐藏" in message and "hidden" in message
    assert "8" not in message
    assert session.scalar(select(func.count()).select_from(Record).where(Record.source_id.like("R%"))) == 0

    wb, ws = _workbook(ZH_HEADER, penalty_rows(6, prefix="S"))
    ws.auto_filter.ref = "A1:I7"  # a filter that hides nothing
    ws.append([])
    ws.row_dimensions[8].hidden = True
    job = upload(_saved(wb), filename="filter-shows-all.xlsx")
    assert job["status"] == "done" and job["counts"]["created"] == 6, job


REMARK = "该户已申请信用修复，待核实"  # a remark's text, to be found nowhere in the database


def _stored_anywhere(session, text: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The tables a text is stored in (any column, as the database gives it back)."""
    from xinyong.db import Base

    found = []
    for table in Base.metadata.sorted_tables:
        for row in session.execute(select(table)).all():
            if any(text in (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)) for v in row):
                found.append(table.name)
                break
    return found


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_row_number_and_remark_columns_are_ignored_and_said(upload, client, world, session, fmt) -> None:  # type: ignore[no-untyped-def]
    """Government sheets number their rows (序号) and keep a remark (备注): both were refused as unknown
    columns, the officer deleting them by hand each time. They are accepted and ignored — their content
    neither imported nor stored anywhere — and the job names them; rows numbered down the template past
    the data (a 序号 alone) are blank. Any other unknown column is refused as before."""
    header = ["序 号", *ZH_HEADER, "*备注"]
    rows: list[list[Any]] = [[i + 1, *r, REMARK if i == 0 else ""] for i, r in enumerate(penalty_rows(3, prefix="N"))]
    rows += [[n, *[""] * len(ZH_HEADER), ""] for n in range(4, 9)]  # numbered, empty
    rows += [[9, *[""] * len(ZH_HEADER), "以下空白"]]  # a remark alone: no data either
    if fmt == "csv":
        from tests.imports.imports_support import csv_bytes

        data = csv_bytes(header, [[str(c) for c in r] for r in rows])
    else:
        wb, ws = _workbook(header, [[c if c != "" else None for c in r] for r in rows])
        data = _saved(wb)
    job = upload(data, filename=f"序号.{fmt}")
    assert job["status"] == "done", job
    assert job["rows_total"] == 3
    assert job["counts"] == {"created": 3, "updated": 0, "unchanged": 0, "rejected": 0}, job["first_errors"]
    assert job["ignored_columns"] == ["序 号", "*备注"]
    [note] = job["notes"]
    assert note["code"] == "ignored_columns" and note["columns"] == ["序 号", "*备注"]
    assert "已忽略的列：“序 号”、“*备注”" in note["message"] and "columns ignored" in note["message"]
    rec = session.scalar(select(Record).where(Record.source_id == "N0"))
    assert rec is not None and set(rec.fields) == {"decision_no", "violation", "penalty_type", "amount"}
    assert _stored_anywhere(session, REMARK) == [] and _stored_anywhere(session, "以下空白") == []
    # listed with the job too, and audited with its creation
    listed = client.get("/api/v1/imports", headers=world.bearer(world.key_a)).json()["items"][0]
    assert listed["ignored_columns"] == ["序 号", "*备注"]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "imports.create")).all()[-1]
    assert entry.details["ignored_columns"] == ["序 号", "*备注"]


def test_other_unknown_columns_are_still_refused(upload) -> None:  # type: ignore[no-untyped-def]
    """编号 may be the record's own id or a document's number, 说明 an item's text: ignoring them could
    drop a record's data without a word, so they are refused; 序号 beside them is not named."""
    from tests.imports.imports_support import csv_bytes

    data = csv_bytes(["序号", *ZH_HEADER, "编号", "说明", "备注"], [[1, *penalty_rows(1)[0], "A", "B", "C"]])
    body = upload(data, expect=422).json()
    assert body["code"] == "unknown_column"
    assert [e["field"] for e in body["errors"]] == ["编号", "说明"]


def test_a_catalog_field_named_remark_is_the_field(upload, session) -> None:  # type: ignore[no-untyped-def]
    """An item whose catalog has a field 备注 gets the column as that field: it is imported and stored,
    and nothing is said to be ignored."""
    from tests.imports.imports_support import csv_bytes
    from tests.support import SYSTEM

    from xinyong.catalog.service import get_current, update_item
    from xinyong.catalog.spec import to_data

    spec = to_data(get_current(session, "admin_penalty").spec)
    spec["fields"].append({"name": "remark", "name_zh": "备注", "type": "text", "required": False,
                           "max_length": 200})
    update_item(session, code="admin_penalty", data=spec, actor=SYSTEM, note="a remark field")
    session.commit()
    job = upload(csv_bytes(["序号", *ZH_HEADER, "备注"], [[1, *penalty_rows(1, prefix="K")[0], REMARK]]))
    assert job["status"] == "done" and job["counts"]["created"] == 1, job
    assert job["ignored_columns"] == ["序号"]
    rec = session.scalar(select(Record).where(Record.source_id == "K0"))
    assert rec is not None and rec.fields["remark"] == REMARK
    assert "records" in _stored_anywhere(session, REMARK)  # (the search finds what is stored)


def test_a_numbered_template_with_formulas_past_the_data_is_blank_there(upload) -> None:  # type: ignore[no-untyped-def]
    """序号 typed down the template and a formula dragged down 罚款金额: a row holding only these is blank."""
    rows = penalty_rows(2, prefix="P")
    xml = [xlsx_row(2, [1, *rows[0]]).replace('<c r="A2" t="inlineStr"><is><t>1</t></is></c>', '<c r="A2"><v>1</v></c>'),
           xlsx_row(3, [2, *rows[1]])]
    for n in range(4, 20):
        xml.append(f'<row r="{n}"><c r="A{n}"><v>{n - 1}</v></c>' + _formula(f"J{n}", f"ROUND(K{n}*L{n},2)", "0")
                   + "</row>")
    job = upload(xlsx_with_rows(["序号", *ZH_HEADER], xml), filename="numbered.xlsx")
    assert job["status"] == "done", job
    assert job["rows_total"] == 2 and job["counts"]["created"] == 2 and job["counts"]["rejected"] == 0, job


def test_rows_of_zero_height_refuse_the_file_as_hidden_rows(upload, session) -> None:  # type: ignore[no-untyped-def]
    """A row dragged to height 0 (``<row ht="0" customHeight="1">``, no ``hidden`` attribute: some tools and
    a hand dragging the border hide rows so) cannot be seen any more than a hidden one: it was imported
    without a word. It refuses the file as a hidden row does; a blank row of height 0, and rows of other
    heights, change nothing."""
    rows = penalty_rows(4, prefix="HT")
    xml = [xlsx_row(n, r) for n, r in zip(range(2, 6), rows, strict=True)]
    xml[1] = xml[1].replace('<row r="3">', '<row r="3" ht="0" customHeight="1">')
    xml[2] = xml[2].replace('<row r="4">', '<row r="4" ht="0.0">')
    xml[3] = xml[3].replace('<row r="5">', '<row r="5" ht="20.25" customHeight="1">')
    xml.append('<row r="6" ht="0" customHeight="1"></row>')  # blank
    job = upload(xlsx_with_rows(ZH_HEADER, xml), filename="zero-height.xlsx")
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "hidden_rows"
    message = job["error"]["message"]
    assert "第3、4行" in message and "rows 3, 4" in message and "行高为0" in message and "zero height" in message
    assert session.scalar(select(func.count()).select_from(Record).where(Record.source_id.like("HT%"))) == 0

    xml = [xlsx_row(n, r).replace(f'<row r="{n}">', f'<row r="{n}" ht="18" customHeight="1">')
           for n, r in zip(range(2, 6), penalty_rows(4, prefix="HS"), strict=True)]
    xml.append('<row r="6" ht="0" customHeight="1"></row>')
    job = upload(xlsx_with_rows(ZH_HEADER, xml), filename="heights.xlsx")
    assert job["status"] == "done" and job["counts"]["created"] == 4, job


def test_a_column_of_zero_width_is_a_hidden_column(upload) -> None:  # type: ignore[no-untyped-def]
    """A column dragged to width 0 (``<col width="0">``, no ``hidden`` attribute) cannot be seen either: an
    unknown one is named as hidden, with its letter, as a hidden one is."""
    wb, _ws = _workbook([*ZH_HEADER, "内部编码"], [[*r, "X1"] for r in penalty_rows(2, prefix="W")])
    data = with_cols(_saved(wb), '<cols><col min="10" max="10" width="0" customWidth="1"/></cols>')
    body = upload(data, filename="zero-width.xlsx", expect=422).json()
    assert body["code"] == "unknown_column"
    assert "内部编码（隐藏的J列）" in body["message"] and "内部编码 (hidden column J)" in body["message"]


def test_a_hidden_column_of_the_item_is_imported_and_said(upload, client, world, session) -> None:  # type: ignore[no-untyped-def]
    """A column of the item that the workbook hides (罚款金额 hidden, 严重程度 dragged to width 0) was imported
    without a word, its values never seen by the officer who sent them. It is the item's column: its values
    are imported, and the job says so, naming the column and its letter (a hidden 序号 is only ignored)."""
    header = ["序号", *ZH_HEADER]
    data = with_cols(xlsx_bytes(header, [[i + 1, *r] for i, r in enumerate(penalty_rows(2, prefix="HC"))]),
                     '<cols><col min="1" max="1" width="5" hidden="1"/><col min="6" max="6" width="0" customWidth="1"/>'
                     '<col min="10" max="10" width="12" customWidth="1" hidden="true"/></cols>')
    job = upload(data, filename="hidden-columns.xlsx")
    assert job["status"] == "done" and job["counts"]["created"] == 2, job
    assert job["ignored_columns"] == ["序号"]
    ignored, hidden = job["notes"]
    assert ignored["code"] == "ignored_columns" and ignored["columns"] == ["序号"]
    assert hidden["code"] == "hidden_columns" and hidden["columns"] == ["严重程度", "罚款金额（元）"]
    message = hidden["message"]
    assert "已导入隐藏的列：“严重程度”（隐藏的F列）、“罚款金额（元）”（隐藏的J列）" in message, message
    assert "hidden columns imported: '严重程度' (hidden column F), '罚款金额（元）' (hidden column J)" in message
    assert "序号" not in message
    rec = session.scalar(select(Record).where(Record.source_id == "HC1"))
    assert rec is not None and rec.fields["amount"] == 101 and rec.severity == "general"
    listed = client.get("/api/v1/imports", headers=world.bearer(world.key_a)).json()["items"][0]
    assert [n["code"] for n in listed["notes"]] == ["ignored_columns", "hidden_columns"]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "imports.create")).all()[-1]
    assert entry.details["hidden_columns"] == ["严重程度", "罚款金额（元）"]
    assert entry.details["ignored_columns"] == ["序号"]

    # the same sheet with nothing hidden: nothing said
    job = upload(xlsx_bytes(ZH_HEADER, penalty_rows(1, prefix="HV")), filename="shown.xlsx")
    assert job["status"] == "done" and job["notes"] == [] and job["ignored_columns"] == [], job


def _sheet_xml(data: bytes) -> str:
    return zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml").decode()


def _zero_height_sheet(prefix: str, n: int, shown: set[int]) -> bytes:
    """A sheet of ``n`` penalty rows under its header whose rows are hidden by default
    (``<sheetFormatPr zeroHeight="1">``, Excel's "hide every row below"): only the rows given a height of
    their own (``shown``, the header's row 1 among them) can be seen."""
    wb, ws = _workbook(ZH_HEADER, penalty_rows(n, prefix=prefix))
    ws.sheet_format.zeroHeight = True
    for row in shown:
        ws.row_dimensions[row].height = 15
    return _saved(wb)


def test_rows_a_sheet_hides_by_default_refuse_the_file_as_hidden_rows(upload, session) -> None:  # type: ignore[no-untyped-def]
    """A sheet whose rows are hidden by default (``zeroHeight``) shows only the rows given a height; a
    data row without one cannot be seen, as a hidden one cannot, and was imported without a word. It
    refuses the file as a hidden row does, nothing imported; the same sheet with every row given a
    height imports."""
    data = _zero_height_sheet("ZH", 4, shown={1, 2, 4})
    assert 'zeroHeight="1"' in _sheet_xml(data)
    job = upload(data, filename="zero-height-default.xlsx")
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "hidden_rows"
    message = job["error"]["message"]
    assert "第3、5行" in message and "rows 3, 5" in message and "表头" not in message, message
    assert session.scalar(select(func.count()).select_from(Record).where(Record.source_id.like("ZH%"))) == 0

    job = upload(_zero_height_sheet("ZS", 4, shown={1, 2, 3, 4, 5}), filename="zero-height-all-shown.xlsx")
    assert job["status"] == "done" and job["counts"]["created"] == 4, job


@pytest.mark.parametrize("how", ["hidden", "zero_height", "hidden_by_default"])
def test_a_hidden_header_row_refuses_the_file_as_hidden_rows(upload, session, how) -> None:  # type: ignore[no-untyped-def]
    """The header row hidden (hidden, of height 0, or without a height on a sheet whose rows are hidden
    by default): whoever reviews the file in Excel sees values without the fields they go to — the
    point of the hidden-rows rule. The job fails as ``hidden_rows``, naming the header row, nothing
    imported; a hidden title line above the header is not imported and changes nothing."""
    prefix = {"hidden": "HH", "zero_height": "HZ", "hidden_by_default": "HD"}[how]
    if how == "hidden_by_default":
        data = _zero_height_sheet(prefix, 3, shown={2, 3, 4})
    else:
        wb, ws = _workbook(ZH_HEADER, penalty_rows(3, prefix=prefix))
        if how == "hidden":
            ws.row_dimensions[1].hidden = True
        data = _saved(wb)
        if how == "zero_height":  # openpyxl writes no height of 0: as Excel writes a row dragged to it
            data = xlsx_with_rows(ZH_HEADER, [xlsx_row(n, r) for n, r in
                                              enumerate(penalty_rows(3, prefix=prefix), start=2)])
            sheet = _sheet_xml(data)
            data = _with_member(zipfile.ZipFile(io.BytesIO(data)), "xl/worksheets/sheet1.xml",
                                sheet.replace('<row r="1"', '<row r="1" ht="0" customHeight="1"', 1).encode())
    job = upload(data, filename="hidden-header.xlsx")
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "hidden_rows"
    message = job["error"]["message"]
    assert "表头行（第1行）是隐藏的" in message and "header row (row 1) is hidden" in message, message
    assert "数据行" not in message and "data rows" not in message  # the data rows are shown
    assert session.scalar(select(func.count()).select_from(Record).where(Record.source_id.like(f"{prefix}%"))) == 0


def test_a_hidden_header_and_hidden_data_rows_are_named_together(upload) -> None:  # type: ignore[no-untyped-def]
    job = upload(_zero_height_sheet("HB", 3, shown={2}), filename="hidden-both.xlsx")
    assert job["status"] == "failed" and job["error"]["code"] == "hidden_rows", job
    message = job["error"]["message"]
    assert "表头行（第1行）是隐藏的" in message and "第3、4行" in message, message
    assert "header row (row 1) is hidden" in message and "rows 3, 4" in message, message


def test_a_hidden_title_above_the_header_changes_nothing(upload) -> None:  # type: ignore[no-untyped-def]
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["2026年行政处罚信息公示表"])
    ws.append(ZH_HEADER)
    for r in penalty_rows(2, prefix="HT2"):
        ws.append(r)
    ws.row_dimensions[1].hidden = True
    job = upload(_saved(wb), filename="hidden-title.xlsx")
    assert job["status"] == "done" and job["counts"]["created"] == 2, job


def test_a_hidden_column_left_empty_is_not_noted(upload, session) -> None:  # type: ignore[no-untyped-def]
    """A hidden column of the item that holds no value in any data row (an optional 处罚依据 the
    department never fills, hidden in its template) imports nothing the officer did not see: once the
    job has read the whole file, its note names only the hidden columns that hold a value, and none
    when no hidden column does. The finishing audit entry names the columns the job kept."""
    header = [*ZH_HEADER, "处罚依据"]  # J: optional, left empty
    rows = [[*r, None] for r in penalty_rows(3, prefix="HE")]
    hide_both = '<cols><col min="9" max="9" width="12" customWidth="1" hidden="1"/><col min="10" max="10" width="0" customWidth="1"/></cols>'
    job = upload(with_cols(xlsx_bytes(header, rows), hide_both), filename="hidden-empty.xlsx")
    assert job["status"] == "done" and job["counts"]["created"] == 3, job
    [note] = job["notes"]
    assert note["code"] == "hidden_columns" and note["columns"] == ["罚款金额（元）"], note
    assert "处罚依据" not in note["message"] and "“罚款金额（元）”（隐藏的I列）" in note["message"]
    finished = session.scalars(select(AuditEntry).where(AuditEntry.action == "imports.finish")).all()[-1]
    assert finished.details["hidden_columns"] == ["罚款金额（元）"]

    rows = [[*r, None] for r in penalty_rows(2, prefix="HN")]
    job = upload(with_cols(xlsx_bytes(header, rows), '<cols><col min="10" max="10" width="12" hidden="1"/></cols>'),
                 filename="hidden-empty-only.xlsx")
    assert job["status"] == "done" and job["notes"] == [], job
    finished = session.scalars(select(AuditEntry).where(AuditEntry.action == "imports.finish")).all()[-1]
    assert "hidden_columns" not in finished.details


def test_the_uploads_answer_never_says_a_hidden_column_was_imported(upload, app) -> None:  # type: ignore[no-untyped-def]
    """The upload's answer (``POST /api/v1/imports``'s 202, the job page before the job starts) comes
    from the quick check, which saw the header and one row: it names every hidden column of the item
    (whether one holds a value is known once the job has read the whole file, as it starts), so it
    says their values *will* be imported if any, and that the note will keep only the columns that
    hold one — never "imported" for a column that imports nothing. The job's notes then agree with
    the final ones (test above)."""
    from xinyong.imports.api import runner_of

    header = [*ZH_HEADER, "处罚依据"]  # J: optional, left empty
    rows = [[*r, None] for r in penalty_rows(2, prefix="HP")]
    hide_both = '<cols><col min="9" max="9" width="12" customWidth="1" hidden="1"/><col min="10" max="10" width="0" customWidth="1"/></cols>'
    answer = upload(with_cols(xlsx_bytes(header, rows), hide_both), filename="hidden-pending.xlsx", wait=False)
    runner_of(app).wait()
    [note] = answer["notes"]
    assert note["code"] == "hidden_columns" and note["columns"] == ["罚款金额（元）", "处罚依据"], note
    message = note["message"]
    assert "已导入" not in message and "imported:" not in message and "were imported" not in message, message
    assert "读完整个文件后，本提示只保留有内容的列" in message and "keeps only the columns that hold a value" in message
    assert "“处罚依据”（隐藏的J列）" in message and "'处罚依据' (hidden column J)" in message

