"""Review: a department deactivated while its file is imported stops the job at the next chunk,
whatever that chunk holds — also a chunk whose rows the file's own checks refuse (never ingested)."""

from __future__ import annotations

from sqlalchemy import func, select
from tests.imports.imports_support import ZH_HEADER, csv_bytes, penalty_rows

from xinyong.records.models import Rejection


def test_a_chunk_of_refused_rows_after_a_deactivation_does_not_go_on(db, vault, world, session, catalog_loaded):  # type: ignore[no-untyped-def]
    from tests.support import SYSTEM

    from xinyong.auth.service import deactivate_department, get_department
    from xinyong.imports import runner, service
    from xinyong.records.service import DepartmentRef

    dept = DepartmentRef(id=world.dept_a.id, code=world.dept_a.code)
    good = penalty_rows(10, prefix="G")
    # ID numbers cut by a spreadsheet (15 digits and 000), too many to be real: refused by the
    # file's own checks, before ingestion
    cut = [[f"1101011990{i:05d}000", *row[1:]] for i, row in enumerate(penalty_rows(10, prefix="H"))]
    with db.session() as s:
        jid = service.create_job(s, vault=vault, department=dept, item_code="admin_penalty", filename="d.csv",
                                 data=csv_bytes(ZH_HEADER, good + cut), actor=SYSTEM).id

    def stop_after_first(p) -> None:  # type: ignore[no-untyped-def]
        if p.rows_done == 10:
            with db.session() as s:
                deactivate_department(s, department=get_department(s, dept.code), reason="机构撤并", actor=SYSTEM)

    p = runner.run_job(db, vault, jid, chunk_size=10, on_progress=stop_after_first)
    assert p is not None
    assert (p.status, p.error_code, p.rows_done) == ("interrupted", "department_inactive", 10), p
    # nothing of the stopped department's file written after its deactivation
    assert session.scalar(select(func.count()).select_from(Rejection)
                          .where(Rejection.department_id == dept.id)) == 0
