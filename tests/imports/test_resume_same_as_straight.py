"""A resumed import judges every row as a straight import of the same file does: the same statuses
and the same row errors (field, code, message), also for rows whose source id belongs to a revoked or
archived record, or whose first row in the file was refused (a refused row stands for nothing: only
an accepted row is the one a later repeat is compared with)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update
from tests.imports.imports_support import ZH_HEADER, csv_bytes, penalty_rows
from tests.support import SYSTEM

from xinyong.imports import runner, service
from xinyong.imports.models import ImportRowError
from xinyong.records import service as records
from xinyong.records.models import Record
from xinyong.records.service import DepartmentRef

CHUNK = 4


def _record(row: list[Any], source_id: str) -> dict[str, Any]:
    return {"item": "admin_penalty", "id_number": row[0], "name": row[1], "source_id": source_id,
            "decided_at": row[3], "severity": {"轻微": "minor", "一般": "general", "严重": "serious"}[row[4]],
            "fields": {"decision_no": row[5], "violation": row[6], "penalty_type": row[7], "amount": int(row[8])}}


def _file() -> tuple[bytes, dict[str, list[Any]]]:
    """Rows in three chunks of CHUNK. The department already has records REV (revoked), ARC (archived)
    and ACT (active), with the content of ``base[...]``; the file names each again, first in chunk 1,
    then in chunk 2 or 3."""
    rows = penalty_rows(3 * CHUNK, prefix="N")
    base = {k: list(rows[0]) for k in ("REV", "ARC", "ACT")}
    for k, row in base.items():
        row[2] = k

    def other(row: list[Any], amount: str) -> list[Any]:
        changed = list(row)
        changed[8] = amount
        return changed

    bad = other(base["ACT"], "not-a-number")  # refused by the file's checks
    rows[0] = other(base["REV"], "999")  # a revoked record's id, other content: revoked
    rows[1] = other(base["ARC"], "999")  # an archived one's: archived
    rows[2] = bad  # an active one's, refused for its amount: stands for nothing
    rows[3] = [*rows[3][:2], "NEW", *rows[3][3:]]  # a new record, created
    rows[CHUNK] = other(base["REV"], "999")  # after the cut: the same again — still revoked
    rows[CHUNK + 1] = other(base["ARC"], "999")  # still archived
    rows[CHUNK + 2] = other(base["ACT"], "555")  # the first accepted row of ACT: updated
    rows[2 * CHUNK] = other(rows[3], "777")  # NEW's id, other content: duplicate_in_batch naming row 5
    rows[2 * CHUNK + 1] = other(base["ACT"], "556")  # ACT again, other content than its first accepted row
    rows[2 * CHUNK + 2] = list(base["REV"])  # REV with the revoked record's own content: unchanged
    return csv_bytes(ZH_HEADER, rows), base


def _setup(db, vault, dept, base) -> None:  # type: ignore[no-untyped-def]
    ref = DepartmentRef(id=dept.id, code=dept.code)
    with db.session() as s:
        outs = records.ingest(s, vault=vault, department=ref, actor=SYSTEM,
                              records=[_record(row, k) for k, row in base.items()])
        assert [o.status for o in outs] == ["created"] * 3, [o.errors for o in outs]
        rev = s.scalar(select(Record).where(Record.department_id == dept.id, Record.source_id == "REV"))
        records.revoke(s, rec=rev, reason="决定已撤销", actor=SYSTEM)
        # retention ended (maintain would archive it years from now)
        s.execute(update(Record).where(Record.department_id == dept.id, Record.source_id == "ARC")
                  .values(status="archived"))


def _report(session, job_id: int) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    return sorted((e.row_number, e.field, e.code, e.message) for e in session.scalars(
        select(ImportRowError).where(ImportRowError.job_id == job_id)))


@pytest.mark.parametrize("cut_after", [1, 2])
def test_a_resumed_import_answers_as_a_straight_one(db, vault, world, session, catalog_loaded, cut_after):  # type: ignore[no-untyped-def]
    data, base = _file()
    outcome = {}
    for dept, resumed in ((world.dept_a, False), (world.dept_b, True)):
        _setup(db, vault, dept, base)
        with db.session() as s:
            jid = service.create_job(s, vault=vault, department=DepartmentRef(id=dept.id, code=dept.code),
                                     item_code="admin_penalty", filename="f.csv", data=data, actor=SYSTEM).id

        def stop(p: runner.Progress, resumed: bool = resumed) -> None:
            if resumed and p.rows_done == cut_after * CHUNK:
                raise RuntimeError("the server was restarted")

        done = runner.run_job(db, vault, jid, chunk_size=CHUNK, helper=False, on_progress=stop)
        if resumed:
            assert done is not None and done.status == "interrupted"
            with db.session() as s:
                service.resume_job(s, job=service.get_job(s, job_id=jid, department_id=dept.id), actor=SYSTEM)
            done = runner.run_job(db, vault, jid, chunk_size=CHUNK, helper=False)
        assert done is not None and done.status == "done"
        state = {r.source_id: (r.status, r.revision, r.fields["amount"]) for r in session.scalars(
            select(Record).where(Record.department_id == dept.id, Record.source_id.in_(["REV", "ARC", "ACT", "NEW"])))}
        outcome[resumed] = ((done.created, done.updated, done.unchanged, done.rejected), _report(session, jid), state)
    straight, resumed_ = outcome[False], outcome[True]
    assert [(n, f, c) for n, f, c, _m in straight[1]] == [
        (2, "source_id", "revoked"), (3, "source_id", "archived"), (4, "fields.amount", "wrong_type"),
        (6, "source_id", "revoked"), (7, "source_id", "archived"), (10, "source_id", "duplicate_in_batch"),
        (11, "source_id", "duplicate_in_batch")]
    assert straight == resumed_
