"""Hypothesis throws random bytes, random CSV text and damaged workbooks at the readers: the only
outcomes allowed are a FileError (the whole file) or rows, each a record plus row errors; the rows
then go through the records validator without crashing either."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.imports.imports_support import CODE_HEADER, ZH_HEADER, penalty_rows, xlsx_bytes

from xinyong.catalog.service import Item, read_yaml
from xinyong.imports import parsers
from xinyong.imports.parsers import FileError, RowMapper
from xinyong.records.service import DepartmentRef, check_record

SPECS = {s.code: s for s in read_yaml()}
ITEMS = {code: Item(id=i + 1, version=1, spec=spec) for i, (code, spec) in enumerate(SPECS.items())}
DEPT = DepartmentRef(id=1, code="scjgj")
TODAY = date(2026, 6, 1)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(data: bytes, item: str = "admin_penalty") -> None:
    spec = SPECS[item]
    try:
        parsers.read_header(data, spec)
    except FileError as exc:
        assert exc.code and " / " in exc.message and exc.errors
    try:
        pf = parsers.parse(data, spec)
    except FileError as exc:
        assert exc.code and " / " in exc.message and exc.errors
        return
    mapper = RowMapper(item, spec, pf.header)
    convert = mapper.converter(pf.format)
    for n, cells in pf.rows:
        assert n >= 2
        record, errors = convert(cells)
        if pf.format == "csv":  # the text fast path agrees with the general one
            assert (record, errors) == mapper.convert(cells)
        for e in errors:
            assert {"field", "code", "message"} <= e.keys()
        if not errors:
            prepared, errs, _code, _source = check_record(record, items=ITEMS, department=DEPT, today=TODAY)
            assert (prepared is None) == bool(errs)
            for e in errs:
                assert {"field", "code", "message"} <= e.keys()


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    run(data)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_behind_a_valid_header(data: bytes) -> None:
    run(",".join(ZH_HEADER).encode() + b"\r\n" + data)


_cell = st.one_of(st.text(max_size=30), st.sampled_from(["", " ", "2026-01-01", "2026/2/30", "一般", "罚款", "1e+17",
                                                          "=1+1", "-5", "12", "是", "\x00", '"', "\r\n"]))
_headers = st.lists(st.one_of(st.sampled_from(ZH_HEADER + CODE_HEADER), st.text(max_size=10)), max_size=14)


@FUZZ
@given(header=_headers, rows=st.lists(st.lists(_cell, max_size=14), max_size=12),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]), delimiter=st.sampled_from([",", "\t", ";"]))
def test_random_csv_text(header, rows, encoding, delimiter) -> None:  # type: ignore[no-untyped-def]
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter)
    w.writerow(header)
    w.writerows(rows)
    run(buf.getvalue().encode(encoding, errors="replace"))


@FUZZ
@given(rows=st.lists(st.lists(_cell, min_size=9, max_size=9), min_size=1, max_size=8),
       keep=st.sets(st.integers(0, 8), min_size=5))
def test_valid_header_random_rows(rows, keep) -> None:  # type: ignore[no-untyped-def]
    cols = sorted(keep)
    header = [ZH_HEADER[i] for i in cols]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows([[r[i] for i in cols] for r in rows])
    run(buf.getvalue().encode("utf-8"))


_typed = st.one_of(st.none(), st.integers(-(10**20), 10**20), st.floats(allow_nan=False, allow_infinity=False),
                   st.booleans(), st.dates(min_value=date(1900, 1, 1)),
                   st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
                   st.text(alphabet=st.characters(blacklist_categories=["Cc", "Cs"]), max_size=20))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.lists(_typed, min_size=1, max_size=11), min_size=1, max_size=6))
def test_random_typed_xlsx_cells(rows) -> None:  # type: ignore[no-untyped-def]
    run(xlsx_bytes(ZH_HEADER, rows))


_GOOD_XLSX = xlsx_bytes(ZH_HEADER, penalty_rows(3))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_xlsx(data) -> None:  # type: ignore[no-untyped-def]
    """Flip bytes inside the workbook's XML parts (re-zipped so the zip itself stays valid)."""
    src = zipfile.ZipFile(io.BytesIO(_GOOD_XLSX))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            content = bytearray(src.read(info.filename))
            if info.filename.endswith(".xml") and data.draw(st.booleans()) and content:
                for _ in range(data.draw(st.integers(1, 5))):
                    pos = data.draw(st.integers(0, len(content) - 1))
                    content[pos] = data.draw(st.integers(0, 255))
            z.writestr(info.filename, bytes(content))
    run(out.getvalue())


@FUZZ
@given(st.binary(min_size=1, max_size=64), st.integers(0, len(_GOOD_XLSX) - 1))
def test_damaged_zip_bytes(patch, at) -> None:  # type: ignore[no-untyped-def]
    run(_GOOD_XLSX[:at] + patch + _GOOD_XLSX[at + len(patch):])
