"""A file's rejected row names the field in its message as a record's error does — the catalog's Chinese
name in the Chinese half, the code in the English half — whether the file's own checks refused it (a date
stored as Excel's day number, a formula's error, merged cells …) or the catalog's did, and whatever the
header says (the Chinese names or the codes). The report has the row and the column too: the message
still reads on its own."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.imports.imports_support import (
    CODE_HEADER,
    ZH_HEADER,
    _with_member,
    csv_bytes,
    penalty_rows,
    xlsx_row,
    xlsx_with_rows,
)
from tests.records.records_support import assert_names_its_field

from xinyong.catalog.service import Item, read_yaml
from xinyong.imports.parsers import FileError
from xinyong.imports.prepare import FilePreparer
from xinyong.records.service import DepartmentRef

SPEC = next(s for s in read_yaml() if s.code == "admin_penalty")
ITEM = Item(id=1, version=1, spec=SPEC)
DEPT = DepartmentRef(id=1, code="scjgj")
TODAY = date(2026, 6, 1)
GOOD = penalty_rows(6, prefix="M")

# what a cell of a department's sheet may hold instead of the right value
ODD_TEXT = st.sampled_from(["", "46083", "46083.5", "2026-02-30", "2026/13/01", "两千", "-5", "1.20101E+17",
                            "'120101198003077777", "罚款\n警告", "坐牢", "重大", "x" * 300, "王?", "2030-01-01",
                            "12345"])
# (no control character: a CSV of them is no text, an XLSX cannot hold them)
TEXT_CELLS = st.one_of(ODD_TEXT, st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=20))
# typed XLSX cells: a day number, a number whose digits are lost, a formula's error
TYPED_CELLS = st.one_of(TEXT_CELLS, st.sampled_from([("n", "46083"), ("n", "1.20101198003077E+17"),
                                                     ("n", "20240000000000000"), ("n", "-3"), ("b", "1"),
                                                     ("e", "#N/A"), ("e", "#REF!"), None]))


@st.composite
def sheets(draw: st.DrawFn, cells: st.SearchStrategy[Any]) -> tuple[list[str], list[list[Any]]]:
    header = draw(st.sampled_from([ZH_HEADER, CODE_HEADER]))
    rows = []
    for good in GOOD[: draw(st.integers(1, len(GOOD)))]:
        row: list[Any] = list(good)
        for i in draw(st.lists(st.integers(0, len(row) - 1), max_size=3)):  # a few cells made wrong
            row[i] = draw(cells)
        rows.append(row)
    return header, rows


def check(data: bytes) -> int:
    """Prepare the file as an import's runner does; every field error of its rows names the field.
    Returns the number of errors checked."""
    try:
        prep = FilePreparer(data, ITEM, DEPT)
    except FileError as exc:  # every row made blank
        assert exc.code == "empty_file", exc
        return 0
    plan = prep.chunk(0, len(prep.parsed.rows), TODAY, None)
    errors = list(plan.row_errors)
    errors += [e for _index, errs in plan.refused for e in errs]
    for e in errors:
        if e["field"] != "row":  # a value in a column without a header is no field's
            assert_names_its_field(e, SPEC)
    return len(errors)


FILES = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FILES
@given(sheets(TEXT_CELLS))
def test_every_field_error_of_a_csv_row_names_its_field(sheet: tuple[list[str], list[list[Any]]]) -> None:
    header, rows = sheet
    check(csv_bytes(header, rows))


def _merged(data: bytes, ref: str) -> bytes:
    """The workbook with the merged cells ``ref`` (after the sheet's data, where Excel writes them)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    sheet = src.read("xl/worksheets/sheet1.xml").decode()
    sheet = sheet.replace("</sheetData>", f'</sheetData><mergeCells count="1"><mergeCell ref="{ref}"/></mergeCells>', 1)
    return _with_member(src, "xl/worksheets/sheet1.xml", sheet.encode())


@FILES
@given(sheets(TYPED_CELLS), st.sampled_from([None, "D2:D4", "A2:A3", "I2:I5"]))
def test_every_field_error_of_an_xlsx_row_names_its_field(sheet: tuple[list[str], list[list[Any]]],
                                                          merged: str | None) -> None:
    header, rows = sheet
    if merged is not None:  # the range's cells below its first are empty, as Excel keeps them
        col, last = ord(merged[0]) - ord("A"), int(merged.split(":")[1][1:])
        for row in rows[1 : last - 1]:
            row[col] = None
    data = xlsx_with_rows(header, [xlsx_row(n, cells) for n, cells in enumerate(rows, start=2)])
    check(_merged(data, merged) if merged is not None else data)


def test_the_file_checks_name_the_field_by_its_catalog_name_under_a_code_header() -> None:
    """A sheet headed by the codes: the file's own refusals name 决定日期 and 罚款金额（元） in Chinese, as the
    catalog's do, and the code in English."""
    rows: list[list[Any]] = [list(r) for r in penalty_rows(3, prefix="C")]
    rows[0][3] = ("n", "46083")  # decided_at: Excel's day number
    rows[1][8] = ("e", "#N/A")  # amount: a formula that failed
    rows[2][8] = "两千"  # amount: the catalog's wrong_type
    data = xlsx_with_rows(CODE_HEADER, [xlsx_row(n, cells) for n, cells in enumerate(rows, start=2)])
    prep = FilePreparer(data, ITEM, DEPT)
    plan = prep.chunk(0, 3, TODAY, None)
    by_row = {e["row_number"]: e for e in plan.row_errors}
    assert by_row[2]["field"] == "decided_at" and by_row[2]["header"] == "decided_at"
    assert by_row[2]["message"].startswith("“决定日期”（decided_at）是数字 46083 而不是日期"), by_row[2]
    assert " / 'decided_at' (decided_at) is the number 46083" in by_row[2]["message"]
    assert by_row[3]["message"].startswith("“罚款金额（元）”（fields.amount）是公式的错误值 #N/A"), by_row[3]
    [(index, [catalog])] = plan.refused
    assert plan.numbers[index] == 4
    assert catalog == {"field": "fields.amount", "code": "wrong_type",
                       "message": "“罚款金额（元）”应为数字 / amount: must be a number"}
    assert check(data) == 3
