"""The file readers on their own: type by content, encodings, headers, XLSX cells and safety."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.imports.imports_support import CODE_HEADER, ZH_HEADER, csv_bytes, penalty_rows, xlsx_bytes

from xinyong.catalog.service import read_yaml
from xinyong.imports import parsers
from xinyong.imports.parsers import FileError, RowMapper

SPECS = {s.code: s for s in read_yaml()}
PENALTY = SPECS["admin_penalty"]


def records_of(data: bytes, spec=PENALTY, item: str = "admin_penalty"):  # type: ignore[no-untyped-def]
    pf = parsers.parse(data, spec)
    m = RowMapper(item, spec, pf.header)
    out = [(n, *m.converter(pf.format)(cells)) for n, cells in pf.rows]
    assert out == [(n, *m.convert(cells)) for n, cells in pf.rows]  # fast path = general path
    return pf, out


def test_openpyxl_parses_xml_with_defusedxml() -> None:
    import defusedxml.ElementTree as defused
    import openpyxl.reader.excel
    import openpyxl.worksheet._reader
    import openpyxl.xml
    import openpyxl.xml.functions

    assert openpyxl.xml.DEFUSEDXML is True
    assert openpyxl.xml.functions.iterparse is defused.iterparse  # worksheets, shared strings
    assert openpyxl.xml.functions.fromstring is defused.fromstring  # workbook, styles, relations
    assert openpyxl.worksheet._reader.iterparse is defused.iterparse
    assert openpyxl.reader.excel.fromstring is defused.fromstring


@pytest.mark.parametrize(("encoding", "bom", "expected"), [
    ("utf-8", False, "utf-8"), ("utf-8", True, "utf-8-sig"), ("gbk", False, "gb18030"),
    ("gb18030", False, "gb18030"),
])
def test_csv_encodings(encoding, bom, expected) -> None:  # type: ignore[no-untyped-def]
    data = csv_bytes(ZH_HEADER, penalty_rows(3), encoding=encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    s = parsers.sniff(data)
    assert (s.format, s.encoding) == ("csv", expected)
    pf, recs = records_of(data)
    assert [r[0] for r in recs] == [2, 3, 4]
    assert recs[0][1]["name"] == "王小明" and recs[0][1]["severity"] == "minor" and recs[0][2] == []
    assert recs[1][1]["fields"]["penalty_type"] == "罚款"


def test_chinese_and_code_headers_give_the_same_records() -> None:
    rows = penalty_rows(2)
    _, zh = records_of(csv_bytes(ZH_HEADER, rows))
    _, code = records_of(csv_bytes(CODE_HEADER, rows))
    mixed_header = ZH_HEADER[:4] + CODE_HEADER[4:]
    _, mixed = records_of(csv_bytes(mixed_header, rows))
    assert zh == code == mixed


def test_header_matching_ignores_width_spaces_case_and_required_marker() -> None:
    header = ["*身份证号码", " 姓名 ", "来源 编号", "DECIDED_AT", "Severity", "处罚决定书文号", "违法行为类型", "处罚类别",
              "罚款金额(元)"]
    _, recs = records_of(csv_bytes(header, penalty_rows(1)))
    assert recs[0][2] == [] and recs[0][1]["fields"]["amount"] == "100"


def test_severity_values_chinese_and_code() -> None:
    rows = penalty_rows(4)
    rows[0][4], rows[1][4], rows[2][4], rows[3][4] = "轻微", "General", "严重", "extreme"
    _, recs = records_of(csv_bytes(ZH_HEADER, rows))
    assert [r[1]["severity"] for r in recs] == ["minor", "general", "serious", "extreme"]  # the service rejects


@pytest.mark.parametrize(("raw", "norm"), [
    ("2024-03-05", "2024-03-05"), ("2024/3/5", "2024-03-05"), ("2024.03.05", "2024-03-05"),
    ("2024年3月5日", "2024-03-05"), ("2024-03-05 00:00:00", "2024-03-05"), ("2024/3/5 8:30", "2024-03-05"),
    ("5/3/2024", "5/3/2024"), ("yesterday", "yesterday"), ("2024-3-5", "2024-03-05"),
])
def test_dates_are_normalised(raw, norm) -> None:  # type: ignore[no-untyped-def]
    assert parsers.norm_date(raw) == norm


def test_blank_rows_skipped_but_counted_and_quoted_newlines() -> None:
    rows = penalty_rows(3)
    rows[0][5] = "第一行\n第二行"  # a quoted value spanning lines is one row
    text = csv_bytes(ZH_HEADER, rows).decode()
    lines = text.split("\r\n")
    text = "\r\n".join([lines[0], "", ",,,,", *lines[1:]])
    _, recs = records_of(text.encode())
    assert [r[0] for r in recs] == [4, 5, 6]
    assert recs[0][1]["fields"]["decision_no"] == "第一行\n第二行"


def test_scientific_id_number_in_csv_is_a_row_error() -> None:
    rows = penalty_rows(2)
    rows[1][0] = "1.20101E+17"
    _, recs = records_of(csv_bytes(ZH_HEADER, rows))
    assert recs[0][2] == []
    assert [e["code"] for e in recs[1][2]] == ["id_stored_as_number"]


@pytest.mark.parametrize("forced", ["'{}", '="{}"', "\t{}", " '{} "])
def test_id_number_forced_to_text_for_excel_is_read_as_its_digits(forced: str) -> None:
    """Exports made for Excel keep an ID number as text with a leading apostrophe or as the formula
    ``="…"``; neither mark can be part of an ID number, so the cell is read as the number itself."""
    rows = penalty_rows(2)
    number = rows[1][0]
    rows[1][0] = forced.format(number)
    _, recs = records_of(csv_bytes(ZH_HEADER, rows))
    assert recs[1][2] == []
    assert recs[1][1]["id_number"] == number
    if not forced.startswith("="):  # (a program writing "=…" to a workbook writes a formula)
        _, recs = records_of(xlsx_bytes(ZH_HEADER, rows))  # an XLSX text cell is read the same way
        assert recs[1][1]["id_number"] == number


@pytest.mark.parametrize("cell", ["''{}", '="{}', "={}", '=" {}"x'])
def test_other_marks_around_an_id_number_are_kept_and_refused(cell: str) -> None:
    rows = penalty_rows(1)
    number = rows[0][0]
    rows[0][0] = cell.format(number)
    _, recs = records_of(csv_bytes(ZH_HEADER, rows))
    assert recs[0][1]["id_number"] != number  # left as sent: the ID check refuses it


def test_values_without_a_header_are_row_errors() -> None:
    header = [*ZH_HEADER, ""]
    rows = [[*r, ""] for r in penalty_rows(2)]
    rows[1][9] = "stray"
    rows.append([*penalty_rows(1)[0], "", "beyond"])
    _, recs = records_of(csv_bytes(header, rows))
    assert recs[0][2] == []
    assert [e["code"] for e in recs[1][2]] == ["extra_value"]
    assert [e["code"] for e in recs[2][2]] == ["extra_value"]


@pytest.mark.parametrize(("header", "code", "fields"), [
    (ZH_HEADER[1:], "missing_header", {"id_number"}),
    ([*ZH_HEADER, "经办人"], "unknown_column", {"经办人"}),  # (备注 is ignored: test_sheet_features)
    ([*ZH_HEADER, "身份证号"], "duplicate_column", {"身份证号"}),
])
def test_header_errors(header, code, fields) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FileError) as exc:
        parsers.parse(csv_bytes(header, [["x"] * len(header)]), PENALTY)
    assert exc.value.code == code and exc.value.status == 422
    assert {e["field"] for e in exc.value.errors} == fields


def test_optional_columns_may_be_left_out() -> None:
    header = [h for h in ZH_HEADER if h != "罚款金额（元）"]
    rows = [r[:8] for r in penalty_rows(1)]
    _, recs = records_of(csv_bytes(header, rows))
    assert recs[0][2] == [] and "amount" not in recs[0][1]["fields"]


def test_xlsx_cells() -> None:
    rows = penalty_rows(5)
    rows[0][3] = datetime(2026, 3, 2, 0, 0)
    rows[1][3] = date(2026, 3, 1)
    rows[2][0] = 120101198001010000  # int
    rows[3][0] = 1.201011980010100e17  # float
    rows[4][2] = 77  # a numeric source id
    rows[4][8] = 1234.5
    data = xlsx_bytes(ZH_HEADER, rows, gap_before={3: 1})
    assert parsers.sniff(data).format == "xlsx"
    pf, recs = records_of(data)
    assert pf.format == "xlsx" and pf.encoding is None
    assert [r[0] for r in recs] == [2, 3, 4, 6, 7]
    assert recs[0][1]["decided_at"] == "2026-03-02" and recs[1][1]["decided_at"] == "2026-03-01"
    for i in (2, 3):
        [err] = recs[i][2]
        assert err["code"] == "id_stored_as_number" and err["field"] == "id_number"
        assert "文本" in err["message"] and "text" in err["message"]
    assert recs[4][1]["source_id"] == "77" and recs[4][1]["fields"]["amount"] == 1234.5


def test_xlsx_reads_only_the_first_sheet() -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(ZH_HEADER)
    ws.append(penalty_rows(1)[0])
    other = wb.create_sheet("other")
    other.append(["nonsense"])
    buf = io.BytesIO()
    wb.save(buf)
    _, recs = records_of(buf.getvalue())
    assert len(recs) == 1 and recs[0][2] == []


def _rezip(data: bytes, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info.filename, (replace or {}).get(info.filename, src.read(info.filename)))
        for name, content in (add or {}).items():
            z.writestr(name, content)
    return out.getvalue()


def test_zip_bomb_by_ratio() -> None:
    good = xlsx_bytes(ZH_HEADER, penalty_rows(1))
    bomb = _rezip(good, add={"xl/media/padding.bin": bytes(5 * 1024 * 1024)})
    with pytest.raises(FileError) as exc:
        parsers.sniff(bomb)
    assert exc.value.code == "zip_bomb"


def test_zip_bomb_by_size(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(parsers, "MAX_UNCOMPRESSED", 1000)
    with pytest.raises(FileError) as exc:
        parsers.parse(xlsx_bytes(ZH_HEADER, penalty_rows(1)), PENALTY)
    assert exc.value.code == "zip_bomb"


def test_xml_entity_expansion_is_refused() -> None:
    good = xlsx_bytes(ZH_HEADER, penalty_rows(1))
    lol = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
           b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
           b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
           b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c></row></sheetData></worksheet>')
    bad = _rezip(good, replace={"xl/worksheets/sheet1.xml": lol})
    with pytest.raises(FileError) as exc:
        parsers.parse(bad, PENALTY)
    assert exc.value.code == "unsafe_xlsx"
    xxe = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
           b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
           b'<row r="1"><c r="A1" t="inlineStr"><is><t>&e;</t></is></c></row></sheetData></worksheet>')
    with pytest.raises(FileError) as exc:
        parsers.parse(_rezip(good, replace={"xl/worksheets/sheet1.xml": xxe}), PENALTY)
    assert exc.value.code == "unsafe_xlsx"


def test_damaged_workbook() -> None:
    good = xlsx_bytes(ZH_HEADER, penalty_rows(1))
    bad = _rezip(good, replace={"xl/workbook.xml": b"<not-xml"})
    with pytest.raises(FileError) as exc:
        parsers.parse(bad, PENALTY)
    assert exc.value.code == "bad_xlsx"


def _penalty_text(rows: int = 3) -> str:
    """A penalty CSV's text; from two rows on it holds 一般 (一 is U+4E00: a NUL byte at UTF-16's other
    parity, as an ASCII character's NUL)."""
    return csv_bytes(ZH_HEADER, penalty_rows(rows)).decode("utf-8")


@pytest.mark.parametrize(("data", "named"), [
    (_penalty_text().encode("utf-16"), "UTF-16"),
    (_penalty_text().encode("utf-16-le"), "UTF-16"),  # no byte-order mark: was "only CSV or XLSX files"
    (_penalty_text().encode("utf-16-be"), "UTF-16"),
    (_penalty_text(1).encode("utf-16-le"), "UTF-16"),
    ("身份证号码,姓名\r\n".encode("utf-16-le"), "UTF-16"),
    (_penalty_text().encode("utf-32"), "UTF-32"),  # its mark begins with UTF-16's: was called UTF-16
    (b"\x00\x00\xfe\xff" + _penalty_text().encode("utf-32-be"), "UTF-32"),  # was "only CSV or XLSX files"
], ids=["utf-16-bom", "utf-16-le", "utf-16-be", "utf-16-le-one-row", "utf-16-le-header", "utf-32-bom",
        "utf-32-be-bom"])
def test_a_csv_in_utf16_or_utf32_is_the_wrong_encoding_named(data, named) -> None:  # type: ignore[no-untyped-def]
    """A CSV saved as UTF-16 or UTF-32 ("Unicode text"), with or without its byte-order mark, is a CSV in
    the wrong encoding: refused as ``wrong_encoding`` naming the encoding it is in, with the way out
    (save as CSV UTF-8 or GBK) — not as "only CSV or XLSX files are accepted", nor as UTF-16 when it is
    UTF-32."""
    assert "一般" in _penalty_text()
    with pytest.raises(FileError) as exc:
        parsers.sniff(data)
    assert exc.value.code == "wrong_encoding", exc.value.message
    assert f"文件是 {named} 编码" in exc.value.message and f"the file is {named} encoded" in exc.value.message
    assert "CSV UTF-8" in exc.value.message


def test_a_csv_padded_with_nul_bytes_is_not_taken_for_utf16() -> None:
    """NUL bytes in runs (an old system padding its fields) stand at both parities: still the NUL refusal
    naming the line, not an encoding."""
    lines = _penalty_text(40).split("\r\n")
    lines[3] = lines[3].replace(",", "\x00\x00\x00,", 2)
    data = "\r\n".join(lines).encode("utf-8")
    with pytest.raises(FileError) as exc:
        parsers.sniff(data)
    assert exc.value.code == "unsupported_file" and "第4行" in exc.value.message, exc.value.message


@pytest.mark.parametrize("data", [b"\x89PNG\r\n", b"GIF89a....", b"\x00\x01\x02\x03" * 10, b"\xff\xd8\xff\xe0"])
def test_binary_is_unsupported(data) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FileError) as exc:
        parsers.sniff(data)
    assert exc.value.code == "unsupported_file"
    assert exc.value.message.startswith("只支持 CSV 或 XLSX 文件") and "only CSV or XLSX files are accepted" in \
        exc.value.message


def test_type_is_by_content_not_name() -> None:
    # an XLSX named .csv is read as XLSX, a CSV named .xlsx as CSV: the name is never consulted
    assert parsers.sniff(xlsx_bytes(ZH_HEADER, penalty_rows(1))).format == "xlsx"
    assert parsers.sniff(csv_bytes(ZH_HEADER, penalty_rows(1))).format == "csv"


def test_too_many_rows() -> None:
    with pytest.raises(FileError) as exc:
        parsers.parse(csv_bytes(ZH_HEADER, penalty_rows(6)), PENALTY, max_rows=5)
    assert exc.value.code == "too_many_rows"


def test_numbers_in_text_columns_keep_their_digits_or_are_refused() -> None:
    """A source id or a text field stored as a number cell: a whole number that is exact becomes its
    plain digits; a float of 10^15 or more (Excel keeps 15 digits) is that row's ``stored_as_number``."""
    from tests.imports.imports_support import xlsx_row, xlsx_with_rows

    base = penalty_rows(6)
    cells = [list(r) for r in base]
    cells[0][2], cells[0][5] = ("n", "2024000000000000100"), ("n", "20240000000000000")  # int cells: exact
    cells[1][2] = ("n", "2.024E+18")  # floats: the digits are gone
    cells[2][2] = ("n", "2.024e+18")
    cells[3][5] = ("n", "1.23456789012346E+15")
    cells[4][2], cells[4][5] = ("n", "77.0"), ("n", "123456789012345")  # a whole float, 15 digits
    cells[5][1] = ("n", "1E+15")  # a name, as a number
    data = xlsx_with_rows(ZH_HEADER, [xlsx_row(i + 2, r) for i, r in enumerate(cells)])
    _, recs = records_of(data)
    by_row = {n: (rec, errs) for n, rec, errs in recs}
    assert by_row[2][1] == [] and by_row[2][0]["source_id"] == "2024000000000000100"
    assert by_row[2][0]["fields"]["decision_no"] == "20240000000000000"
    for n, fld, head in ((3, "source_id", "来源编号"), (4, "source_id", "来源编号"),
                         (5, "fields.decision_no", "处罚决定书文号"), (7, "name", "姓名")):
        [err] = by_row[n][1]
        assert (err["code"], err["field"], err["column"]) == ("stored_as_number", fld, head), (n, err)
        zh, en = err["message"].split(" / ")
        assert head in zh and "文本" in zh and fld in en and "format the column as text" in en
    assert by_row[6][1] == [] and by_row[6][0]["source_id"] == "77"
    assert by_row[6][0]["fields"]["decision_no"] == "123456789012345"
    # the same through openpyxl, which writes an int as "%.16g": two different ids no longer collide
    rows = penalty_rows(3)
    rows[0][2], rows[1][2] = 2024000000000000100, 2024000000000000101
    rows[2][5] = 20240000000000000  # written as 2.024e+16, read back as a float
    _, recs = records_of(xlsx_bytes(ZH_HEADER, rows))
    assert [[(e["code"], e["field"]) for e in errs] for _n, _rec, errs in recs] == [
        [("stored_as_number", "source_id")], [("stored_as_number", "source_id")],
        [("stored_as_number", "fields.decision_no")]]


def _styled_blank_rows(first: int, n: int) -> list[str]:
    return [f'<row r="{i}" customFormat="1" s="1"/>' for i in range(first, first + n)]


def test_every_row_read_counts_blank_or_not() -> None:
    """A small XLSX of millions of empty styled rows was read to its end (22 s, 1.9 GB): every row read
    counts against READ_FACTOR × the data-row limit, blank or not, and the reader calls ``tick`` as it
    reads rows (the job's heartbeat), not only every 5,000 non-blank rows."""
    from tests.imports.imports_support import xlsx_row, xlsx_with_rows

    data_rows = [xlsx_row(2, penalty_rows(1)[0]), xlsx_row(3, penalty_rows(1, start=1)[0])]
    ok = xlsx_with_rows(ZH_HEADER, [*data_rows, *_styled_blank_rows(4, 2500)])
    ticks: list[int] = []
    pf = parsers.parse(ok, PENALTY, tick=ticks.append)
    assert [n for n, _ in pf.rows] == [2, 3] and ticks == [1000, 2000]
    too_many = xlsx_with_rows(ZH_HEADER, [*data_rows, *_styled_blank_rows(4, 30)])
    with pytest.raises(FileError) as exc:
        parsers.parse(too_many, PENALTY, max_rows=10)  # 33 rows read > 2 × 10
    assert exc.value.code == "too_many_rows" and "blank rows included" in exc.value.message
    assert "空行" in exc.value.message
    blank_lines = csv_bytes(ZH_HEADER, penalty_rows(2)) + b"\r\n" * 30
    with pytest.raises(FileError) as exc:
        parsers.parse(blank_lines, PENALTY, max_rows=10)
    assert exc.value.code == "too_many_rows"
    assert len(parsers.parse(blank_lines, PENALTY, max_rows=20).rows) == 2


def test_the_upload_check_counts_blank_rows_too(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.imports.imports_support import xlsx_row, xlsx_with_rows

    monkeypatch.setattr(parsers, "MAX_ROWS", 10)
    late = xlsx_with_rows(ZH_HEADER, [*_styled_blank_rows(2, 30), xlsx_row(40, penalty_rows(1)[0])])
    with pytest.raises(FileError) as exc:
        parsers.read_header(late, PENALTY)
    assert exc.value.code == "too_many_rows"
    lines = b"\r\n" * 30 + csv_bytes(ZH_HEADER, penalty_rows(1))
    with pytest.raises(FileError) as exc:
        parsers.read_header(lines, PENALTY)
    assert exc.value.code == "too_many_rows"


def test_reading_an_xlsx_keeps_nothing_per_row() -> None:
    """openpyxl's read-only iteration kept every styled row's attributes and every parsed row element
    (about 430 bytes a row: 1.8 GB for 4,000,000 rows); the reader keeps nothing, and a row number far
    down the sheet costs nothing (openpyxl produced one empty row per skipped number)."""
    import tracemalloc

    from tests.imports.imports_support import xlsx_row, xlsx_with_rows

    rows = [xlsx_row(2, penalty_rows(1)[0]), *_styled_blank_rows(3, 50_000),
            xlsx_row(1_048_576, penalty_rows(1, start=1)[0])]
    wb = parsers._Workbook(xlsx_with_rows(ZH_HEADER, rows))
    try:
        tracemalloc.start()
        try:
            numbers = [n for n, cells in wb.rows() if not parsers._blank(cells)]
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    finally:
        wb.close()
    assert numbers == [1, 2, 1_048_576]
    assert peak < 4 * 1024 * 1024, peak  # was about 20 MB


def test_a_value_far_right_does_not_widen_its_row() -> None:
    """One cell in column XFD made a row of 16,384 values (a 1 MB sheet of 20,000 such rows took 2.6 GB):
    a row holds at most MAX_COLUMNS values, and a value beyond them is still its row's extra_value, named
    by its real column."""
    from tests.imports.imports_support import xlsx_row, xlsx_with_rows

    def with_cell(row_xml: str, ref: str, cell: str) -> str:
        return row_xml.replace("</row>", f'<c r="{ref}"{cell}</c></row>')

    rows = penalty_rows(3)
    data = xlsx_with_rows(ZH_HEADER, [
        with_cell(xlsx_row(2, rows[0]), "XFD2", ' t="n"><v>1</v>'),  # a stray number in the last column
        with_cell(xlsx_row(3, rows[1]), "XFD3", ' s="1">'),  # a styled empty cell there: nothing
        with_cell(with_cell(xlsx_row(4, rows[2]), "KA4", ' t="inlineStr"><is><t> </t></is>'), "XFC4",
                  ' t="inlineStr"><is><t>note</t></is>'),
    ])
    pf, recs = records_of(data)
    assert max(len(cells) for _n, cells in pf.rows) <= parsers.MAX_COLUMNS + 1
    assert [[(e["code"], e["message"]) for e in errs] for _n, _rec, errs in recs] == [
        [("extra_value", "第16384列没有表头却有内容 / column 16384 has a value but no header")], [],
        [("extra_value", "第16383列没有表头却有内容 / column 16383 has a value but no header")]]
    header = with_cell(xlsx_row(1, ZH_HEADER), "KN1", ' t="inlineStr"><is><t>备注</t></is>')
    wide = xlsx_with_rows([], [header, xlsx_row(2, rows[0])])
    with pytest.raises(FileError) as exc:
        parsers.parse(wide, PENALTY)
    assert exc.value.code == "too_many_columns" and "300" in exc.value.message


@pytest.mark.parametrize("before", [b"\r\n", b"\n\n", b"\t\t\r\n \r\n"])
def test_tab_separated_after_blank_lines(before) -> None:  # type: ignore[no-untyped-def]
    """The first non-blank line is the header, and a tab in it (no comma) means tab-separated: the
    delimiter was taken from the first physical line, so a blank line first refused the file."""
    data = before + csv_bytes(ZH_HEADER, penalty_rows(2), delimiter="\t")
    _sniffed, header = parsers.read_header(data, PENALTY)
    first = before.count(b"\n") + 1
    assert header.row_number == first and [c.key for c in header.columns][:3] == ["id_number", "name", "source_id"]
    _, recs = records_of(data)
    assert [(n, errs) for n, _rec, errs in recs] == [(first + 1, []), (first + 2, [])]
    # a comma-separated file after blank lines stays comma-separated
    for lead in (before, b",,,\r\n" + before):
        _, recs = records_of(lead + csv_bytes(ZH_HEADER, penalty_rows(1)))
        assert recs[0][2] == []


def test_windows_gbk_euro_sign() -> None:
    """Excel's "CSV" on Chinese Windows is code page 936, where "€" is the single byte 0x80: GB18030 (and
    Python's gbk/cp936 codec) refuse it, which refused the whole file as wrong_encoding."""
    rows = penalty_rows(2)
    rows[1][6] = "价格欺诈（€100）"
    data = csv_bytes(ZH_HEADER, rows, encoding="gb18030").replace("€".encode("gb18030"), b"\x80")
    assert b"\x80" in data
    s = parsers.sniff(data)
    assert (s.format, s.encoding) == ("csv", "gbk")
    _, recs = records_of(data)
    assert recs[1][1]["fields"]["violation"] == "价格欺诈（€100）" and recs[1][1]["name"] == "王小明"
    assert parsers.sniff(csv_bytes(ZH_HEADER, penalty_rows(1), encoding="gb18030")).encoding == "gb18030"
    with pytest.raises(FileError) as exc:  # 0x80 is the only byte let through
        parsers.sniff(data + b"\x80\xff\xff")
    assert exc.value.code == "wrong_encoding"


def test_a_damaged_workbook_is_bad_xlsx() -> None:
    """A zip cut short was refused as unsupported_file ("the zip archive is damaged"): a broken zip that
    is recognisably a workbook (its entries are xl/…, or it is named .xlsx) is bad_xlsx."""
    good = xlsx_bytes(ZH_HEADER, penalty_rows(20))
    for cut in (len(good) // 2, len(good) - 10):
        for name in (None, "data.csv", "报表.XLSX"):
            with pytest.raises(FileError) as exc:
                parsers.sniff(good[:cut], name)
            assert exc.value.code == "bad_xlsx" and exc.value.status == 422, (cut, name)
            assert "工作簿已损坏" in exc.value.message and "workbook is damaged" in exc.value.message
    early = good[:100]  # nothing of the workbook's parts left: only the name tells
    with pytest.raises(FileError) as exc:
        parsers.read_header(early, PENALTY, filename="data.xlsx")
    assert exc.value.code == "bad_xlsx"
    with pytest.raises(FileError) as exc:
        parsers.sniff(early)
    assert exc.value.code == "unsupported_file"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("notes/hello.txt", "hi" * 1000)
    with pytest.raises(FileError) as exc:
        parsers.sniff(buf.getvalue()[:-30], "notes.zip")
    assert exc.value.code == "unsupported_file" and "damaged" in exc.value.message


def test_a_quote_left_open_deep_in_a_file_names_the_row_it_starts_on() -> None:
    """A quote opened in row 5 and never closed makes the reader give up at the file's last line; the
    refusal names row 5 and its line — where the quotes are to be checked — not the end of the file
    (it said "near line 9"), and its Chinese part is Chinese (it quoted the reader's English)."""
    lines = csv_bytes(ZH_HEADER, penalty_rows(8)).decode().splitlines()
    lines[4] = lines[4].replace(",", ',"', 1)  # row 5: a quote opened before its name, never closed
    with pytest.raises(FileError) as exc:
        parsers.parse(("\n".join(lines) + "\n").encode(), PENALTY)
    e = exc.value
    assert e.code == "malformed_csv"
    assert "第5行（文件第5至9行）" in e.zh and "row 5 (lines 5 to 9 of the file)" in e.en
    assert "end of data" not in e.zh and "附近" not in e.zh
    assert (e.errors[0]["row"], e.errors[0]["line"]) == (5, 5)
    # quotes broken on one line, further down: that row and line
    lines = csv_bytes(ZH_HEADER, penalty_rows(8)).decode().splitlines()
    lines[6] = lines[6].replace(",", ',"李"四', 1)
    with pytest.raises(FileError) as exc:
        parsers.parse(("\n".join(lines) + "\n").encode(), PENALTY)
    assert "第7行（文件第7行）" in exc.value.zh and (exc.value.errors[0]["row"], exc.value.errors[0]["line"]) == (7, 7)


def _with_basis(n: int, open_at: int | None = None, close_at: int | None = None, remark: str | None = None) -> bytes:
    """``n`` rows with a 处罚依据 column; a stray quote opening that cell in row ``open_at`` and one closing
    it in row ``close_at`` (the sheet's row numbers: the header is row 1)."""
    rows = [r + [f"依据{i}"] for i, r in enumerate(penalty_rows(n))]
    lines = csv_bytes([*ZH_HEADER, "处罚依据"], rows).decode().split("\r\n")
    if open_at is not None and close_at is not None:
        lines[open_at - 1] = lines[open_at - 1].replace(",依据", ',"依据')
        lines[close_at - 1] += '"'
    if remark is not None:
        lines[2] = lines[2].rsplit(",", 1)[0] + "," + remark
    return "\r\n".join(lines).encode()


def test_rows_a_stray_pair_of_quotes_merged_into_one_cell_refuse_the_file() -> None:
    """A quote opening row 4's 处罚依据 and another closing row 7's made rows 5-7 part of row 4's text: the
    job was `done`, rows 5-7 neither imported nor reported, row 4 stored with their (masked) lines in
    its text. The file is refused (`malformed_csv`), naming the row and its lines, as the batch
    comparison refuses such a file; a remark over two lines without an ID number is still a cell."""
    with pytest.raises(FileError) as exc:
        parsers.parse(_with_basis(8, open_at=4, close_at=7), PENALTY)
    e = exc.value
    assert e.code == "malformed_csv" and "第4行（文件第4至7行）" in e.zh and "row 4 (lines 4 to 7 of the file)" in e.en
    assert (e.errors[0]["row"], e.errors[0]["line"], e.errors[0]["found_at_line"]) == (4, 4, 7)
    assert not re.search(r"[0-9]{17}", e.message)  # no ID number of the merged rows echoed
    # in the first data row, the upload's own check refuses it (a 422, no job)
    with pytest.raises(FileError) as exc:
        parsers.read_header(_with_basis(8, open_at=2, close_at=3), PENALTY)
    assert exc.value.code == "malformed_csv" and "第2行（文件第2至3行）" in exc.value.zh
    # a quoted remark over two lines, no ID number in it: one cell, every row read
    pf = parsers.parse(_with_basis(4, remark='"第一款\r\n第二款"'), PENALTY)
    assert [n for n, _ in pf.rows] == [2, 3, 4, 5]
    # nor is a text quoting an ID number on its second line (facts naming another person): no row of the file
    quoting = '"经查，\r\n当事人（身份证号 120101198005061018，另案处理）未按规定公示"'
    pf = parsers.parse(_with_basis(4, remark=quoting), PENALTY)
    assert [n for n, _ in pf.rows] == [2, 3, 4, 5]


@given(st.text(max_size=60), st.sampled_from(["\u202e", "\u200b", "\u2066", "\u200f", "\ufeff", "\u061c"]),
       st.integers(min_value=0, max_value=60))
def test_a_file_name_keeps_no_invisible_format_character(text, fmt, at):  # type: ignore[no-untyped-def]
    """A right-to-left override shows ``报告\\u202Eslx.exe`` as ``报告exe.xls``; a zero-width space hides
    inside an ID number. The name kept for a job (stored, listed, shown) holds no Unicode Cf character,
    and a number with one inside is masked like any other."""
    import unicodedata

    from tests.support import new_id_number

    from xinyong.imports.service import sanitise_filename

    got = sanitise_filename(text[:at] + fmt + text[at:] + ".csv")
    assert not any(unicodedata.category(ch) == "Cf" for ch in got)
    assert sanitise_filename("报告\u202eslx.exe") == "报告slx.exe"
    idn = new_id_number()
    hidden = sanitise_filename(f"{idn[:6]}\u200b{idn[6:]}_李四.csv")
    assert idn not in hidden and hidden.startswith(idn[:6] + "********")


def test_a_long_file_name_holding_an_id_number_is_masked_before_it_is_cut() -> None:
    """Cut to 200 characters first, a number straddling the cut kept its region and birth date."""
    from tests.support import new_id_number

    from xinyong.imports.service import sanitise_filename

    number = new_id_number()
    got = sanitise_filename("处" * 190 + number + ".csv")
    assert len(got) == 200 and number[:10] not in got and got.endswith(number[:6] + "****")
