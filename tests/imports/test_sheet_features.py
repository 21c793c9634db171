"""What real government spreadsheets hold besides the item's columns: hidden columns, hidden (filtered)
rows, formulas dragged down a template past its data, 序号 and 备注 columns."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import func, select
from tests.imports.imports_support import ZH_HEADER, penalty_rows, xlsx_row, xlsx_with_rows

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
