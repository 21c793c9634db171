"""Hypothesis throws random files through the whole import — upload check, runner, ingestion, database:
the job ends ``done``, every non-blank row is counted exactly once, every rejected row has its errors
(row, field, a bilingual message), and every stored record is one the validator accepts."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.imports.imports_support import ZH_HEADER, xlsx_bytes
from tests.support import SYSTEM, new_id_number

from xinyong.catalog.service import get_current
from xinyong.imports import runner, service
from xinyong.imports.models import ImportRowError
from xinyong.imports.parsers import FileError
from xinyong.records.models import Record
from xinyong.records.service import DepartmentRef, check_record

_example = itertools.count()
_cell = st.one_of(st.text(st.characters(blacklist_categories=["Cc", "Cs"]), max_size=12), st.sampled_from(
    ["", " ", "2026-01-01", "2026/2/30", "2099-01-01", "一般", "严重", "较重", "罚款", "警告", "1e+17", "=1+1", "-5",
     "12", "12.5", "是", '"', "\r\n", "\t", "120101198001010000"]))


_VALID = ["2026-03-02", "一般", "和市监罚〔2026〕1号", "未按规定公示", "罚款", "100"]


def _row(i: int, change: tuple[int, str] | None, prefix: str) -> list[object]:
    """A valid row (its source id sometimes repeated) or one with a random value in one column."""
    row: list[object] = [new_id_number(), "王小明", f"{prefix}{i % 5}", *_VALID]
    if change is not None:  # a source id stays this example's own (the records made are looked up by it)
        col, value = change
        row[col] = f"{prefix}{value}" if col == 2 and value.strip() else value
    return row


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(st.none() | st.tuples(st.integers(0, 8), _cell), min_size=1, max_size=8), as_xlsx=st.booleans())
def test_random_rows_through_the_whole_import(db, vault, world, catalog_loaded, rows, as_xlsx) -> None:  # type: ignore[no-untyped-def]
    prefix = f"H{next(_example)}-"
    table = [_row(i, r, prefix) for i, r in enumerate(rows)]
    if as_xlsx:
        data = xlsx_bytes(ZH_HEADER, table)
    else:
        buf = io.StringIO()
        csv.writer(buf).writerows([ZH_HEADER, *table])
        data = buf.getvalue().encode("utf-8")
    dept = DepartmentRef(id=world.dept_a.id, code=world.dept_a.code)
    try:
        with db.session() as s:
            jid = service.create_job(s, vault=vault, department=dept, item_code="admin_penalty",
                                     filename="fuzz.csv", data=data, actor=SYSTEM).id
    except FileError as exc:  # every row blank: refused at once, nothing kept
        assert exc.code == "empty_file"
        return
    p = runner.run_job(db, vault, jid)
    assert p is not None and p.status == "done", p
    assert p.rows_done == p.rows_total and p.rows_total is not None and p.rows_total <= len(table)
    assert p.created + p.updated + p.unchanged + p.rejected == p.rows_total
    with db.session() as s:
        errors = s.scalars(select(ImportRowError).where(ImportRowError.job_id == jid)).all()
        assert len({e.row_number for e in errors}) == p.rejected
        for e in errors:
            assert 2 <= e.row_number <= len(table) + 1 and e.field and e.code and " / " in e.message
        item = get_current(s, "admin_penalty")
        stored = s.scalars(select(Record).where(Record.department_id == dept.id,
                                                Record.source_id.like(f"{prefix}%"))).all()
        assert len(stored) == p.created
        for rec in stored:  # what was stored passes the validator it went through
            raw = {"item": rec.item_code, "id_number": new_id_number(), "name": "王小明",
                   "source_id": rec.source_id, "decided_at": rec.decided_at.isoformat(), "fields": rec.fields}
            if rec.severity is not None:
                raw["severity"] = rec.severity
            prepared, errs, _code, _source = check_record(raw, items={item.code: item}, department=dept,
                                                          today=date.today())
            assert prepared is not None and not errs, (rec.source_id, rec.fields, errs)
