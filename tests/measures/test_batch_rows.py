"""The batch file's parser numbers each row as a spreadsheet shows the file — by its CSV record, a
blank line being a row too and a quoted cell's line break not —, whatever blank lines and line breaks
inside quoted cells come between (property-based)."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from xinyong.measures import batch

cell = st.text(alphabet="0123456789X王李,\" \n", min_size=1, max_size=8).filter(lambda c: c.strip())
row = st.lists(cell, min_size=1, max_size=3)
blank = st.sampled_from(["", " ", ",", " , "])  # (a tab alone on the first line would make tabs the delimiter)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(row, blank), min_size=1, max_size=30))
def test_each_row_is_numbered_by_its_spreadsheet_row(items: list[list[str] | str]) -> None:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    expected: list[tuple[int, tuple[str, ...]]] = []
    for n, item in enumerate(items, start=1):  # one spreadsheet row per item, however many lines it spans
        if isinstance(item, str):  # a blank line (or one of empty cells)
            out.write(item + "\n")
            continue
        writer.writerow(item)
        expected.append((n, tuple(item)))
    text = out.getvalue()
    rows, lines, malformed = batch._rows(text)
    assert malformed == set()
    assert rows == [r for _n, r in expected]
    layout = batch.Layout(0, None, 0, lines)
    assert [layout.row_number(i) for i in range(len(rows))] == [n for n, _r in expected]
    if all(n == i + 1 for i, (n, _r) in enumerate(expected)):
        assert lines is None  # the usual file keeps no list of line numbers


broken = st.sampled_from(['1,"李"四', '"x"y', '2,"a"b,"c', '"q""r"s,t'])  # CSV that breaks on its own line


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(row, blank, broken.map(lambda b: ("broken", b))), min_size=1, max_size=30))
def test_a_row_broken_on_its_own_line_is_one_malformed_row(items: list[object]) -> None:
    """Lines whose quotes break on the line itself are malformed rows, numbered in turn; the valid
    records around them — multi-line cells included — read exactly as written, nothing merged."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    expected: list[tuple[int, tuple[str, ...] | None]] = []
    for n, item in enumerate(items, start=1):
        if isinstance(item, str):
            out.write(item + "\n")
        elif isinstance(item, tuple):
            out.write(item[1] + "\n")
            expected.append((n, None))
        else:
            writer.writerow(item)  # type: ignore[arg-type]
            expected.append((n, tuple(item)))  # type: ignore[arg-type]
    rows, lines, malformed = batch._rows(out.getvalue())
    layout = batch.Layout(0, None, 0, lines)
    assert [layout.row_number(i) for i in range(len(rows))] == [n for n, _r in expected]
    assert malformed == {i for i, (_n, r) in enumerate(expected) if r is None}
    assert [rows[i] for i, (_n, r) in enumerate(expected) if r is not None] == [r for _n, r in expected if r is not None]
