"""Builders for the imports tests: valid penalty rows, CSV and XLSX bytes."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from typing import Any

from tests.support import new_id_number

ZH_HEADER = ["身份证号码", "姓名", "来源编号", "决定日期", "严重程度", "处罚决定书文号", "违法行为类型", "处罚类别",
             "罚款金额（元）"]
CODE_HEADER = ["id_number", "name", "source_id", "decided_at", "severity", "decision_no", "violation", "penalty_type",
               "amount"]
SEVERITIES_ZH = ["轻微", "一般", "严重"]


def penalty_rows(n: int, *, prefix: str = "F", start: int = 0) -> list[list[Any]]:
    """``n`` valid admin_penalty rows (one person each), in ZH_HEADER order."""
    return [[new_id_number(), "王小明", f"{prefix}{start + i}", "2026-03-02", SEVERITIES_ZH[i % 3],
             f"和市监罚〔2026〕{start + i}号", "未按规定公示", "罚款", str(100 + i)] for i in range(n)]


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[Any]], *, encoding: str = "utf-8",
              delimiter: str = ",") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode(encoding)


def xlsx_bytes(header: Sequence[str], rows: Sequence[Sequence[Any]], *, gap_before: dict[int, int] | None = None,
               ) -> bytes:
    """An XLSX workbook; ``gap_before`` = {data row index: blank rows inserted before it}."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(list(header))
    for i, r in enumerate(rows):
        for _ in range((gap_before or {}).get(i, 0)):
            ws.append([])
        ws.append(list(r))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def as_date(s: str) -> date:
    return date.fromisoformat(s)


def xlsx_with_rows(header: Sequence[str], rows_xml: Sequence[str]) -> bytes:
    """An XLSX whose first sheet is ``header`` (row 1) followed by the given ``<row>`` elements, written
    as they are: cells with exactly the XML a tool other than openpyxl may write (``<v>2024…</v>``),
    styled empty rows …"""
    import re
    import zipfile

    good = xlsx_bytes(header, [])
    src = zipfile.ZipFile(io.BytesIO(good))
    sheet = src.read("xl/worksheets/sheet1.xml").decode()
    head, rest = sheet.split("</sheetData>", 1)
    sheet = re.sub(r'<dimension ref="[^"]*"/>', "", head + "".join(rows_xml) + "</sheetData>" + rest)
    return _with_member(src, "xl/worksheets/sheet1.xml", sheet.encode())


def with_cols(data: bytes, cols_xml: str) -> bytes:
    """The workbook ``data`` (one sheet, written by openpyxl without column widths) with ``<cols>…</cols>``
    before its rows, as Excel, WPS and other tools write the columns' widths and which are hidden (openpyxl
    writes no column of width 0)."""
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    sheet = src.read("xl/worksheets/sheet1.xml").decode()
    assert "<cols>" not in sheet and "<sheetData" in sheet
    return _with_member(src, "xl/worksheets/sheet1.xml", sheet.replace("<sheetData", cols_xml + "<sheetData", 1).encode())


def _with_member(src: Any, member: str, content: bytes) -> bytes:
    """The zip ``src`` (a ``zipfile.ZipFile``) again, its ``member`` holding ``content``."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            name = info.filename
            z.writestr(name, content if name == member else src.read(name))
    return out.getvalue()


def xlsx_row(number: int, cells: Sequence[Any]) -> str:
    """A ``<row>`` element: str cells inline strings, ``("n", "20240000000000000")`` number cells written
    with exactly that text, ``("e", "#N/A")`` a formula whose value is that error, None left out."""
    out = []
    for i, v in enumerate(cells):
        ref = f"{chr(ord('A') + i)}{number}"
        if v is None:
            continue
        if isinstance(v, tuple) and v[0] == "e":  # a formula that failed: its cached value is the error
            out.append(f'<c r="{ref}" t="e"><f>VLOOKUP(A{number},Sheet2!A:B,2,0)</f><v>{v[1]}</v></c>')
        elif isinstance(v, tuple):
            out.append(f'<c r="{ref}" t="{v[0]}"><v>{v[1]}</v></c>')
        else:
            text = str(v).replace("&", "&amp;").replace("<", "&lt;")
            out.append(f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>')
    return f'<row r="{number}">{"".join(out)}</row>'


def with_builtin_number_format(data: bytes, format_code: str, builtin_id: int) -> bytes:
    """The workbook ``data`` (written by openpyxl) with its number format ``format_code`` turned into the
    built-in format ``builtin_id``, no format code left in the file: what Excel in Chinese writes for
    its own date formats (``2024年3月5日`` is built-in 31)."""
    import re
    import zipfile
    from xml.sax.saxutils import escape

    src = zipfile.ZipFile(io.BytesIO(data))
    styles = src.read("xl/styles.xml").decode()
    code = escape(format_code, {'"': "&quot;"})
    custom = re.search(rf'<numFmt numFmtId="(\d+)" formatCode="{re.escape(code)}"\s*/>', styles)
    assert custom is not None, styles
    styles = styles.replace(custom.group(0), "").replace(f'numFmtId="{custom.group(1)}"', f'numFmtId="{builtin_id}"')
    return _with_member(src, "xl/styles.xml", styles.encode())
