"""Batch comparison's chunk pipeline: every row registered once with its answer, one audit entry per
chunk, the result file encoded exactly as ``csv.writer`` would, and a job taken over mid-way stops."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select, update
from tests.measures.measures_support import subject_with_status
from tests.support import SYSTEM, new_id_number

from xinyong.audit.models import AuditEntry
from xinyong.measures import batch, service
from xinyong.measures.models import Check, CompareJob


def _job(db, vault, world, content: str, scenario: str = "civil_service_hiring") -> int:  # type: ignore[no-untyped-def]
    caller = service.Caller(world.dept_a.id, world.dept_a.code, SYSTEM)
    with db.session() as s:
        return batch.create_job(s, vault=vault, caller=caller, scenario=scenario, filename="x.csv",
                                data=content.encode()).id


def _result(db, vault, job_id: int) -> bytes:  # type: ignore[no-untyped-def]
    with db.session() as s:
        data = batch.result_csv(s, vault=vault, job=s.get(CompareJob, job_id), actor=SYSTEM)
    assert data is not None
    return data


def test_every_row_registered_once_with_its_answer_across_chunks(db, world, vault):  # type: ignore[no-untyped-def]
    with db.session() as s:
        listed, listed_subject = subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"])
        red, red_subject = subject_with_status(s, vault, grade="AAA", lists=["red_volunteer"], clean_3y=True)
    unknown = new_id_number()
    rows = [f"{listed},王小明", f"{unknown},赵六", "12345,孙八", f"{red},王小明", f"{listed},李四", "", f"{red},"]
    job_id = _job(db, vault, world, "身份证号码,姓名\n" + "\n".join(rows) + "\n")
    seen: list[tuple[int, int]] = []
    job = batch.run_job(db, vault, job_id, chunk_size=2, on_progress=lambda d, t: seen.append((d, t)))
    assert job is not None and job.status == "done"
    assert seen == [(2, 6), (4, 6), (6, 6)]  # the blank line is not a row
    assert (job.rows_total, job.rows_done, job.matched, job.unknown, job.invalid) == (6, 6, 4, 1, 1)
    data = _result(db, vault, job_id)
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[1:]
    by_row = {int(r[0]): r for r in parsed}
    assert sorted(by_row) == [2, 3, 4, 5, 6, 8]  # numbered by the file's lines: the header is 1, line 7 blank
    with db.session() as s:
        regs = {c.check_id: c for c in s.scalars(select(Check).where(Check.job_id == job_id))}
        # no measures is SQL NULL, as the check API stores it (not JSON's null)
        null_measures = set(s.scalars(select(Check.check_id).where(Check.job_id == job_id, Check.measures.is_(None))))
        audits = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "checks.batch",
                                                         AuditEntry.object_id == str(job_id))))
    assert len(regs) == 6 and set(regs) == {r[8] for r in parsed}
    assert null_measures == {c for c, reg in regs.items() if reg.outcome == "refused"}
    for r in parsed:
        reg = regs[r[8]]
        assert reg.channel == "batch" and reg.department_id == world.dept_a.id and reg.scenario == "civil_service_hiring"
        if r[4].startswith("invalid"):
            assert (reg.outcome, reg.refusal, reg.subject_bidx, reg.grade, reg.measures) == \
                ("refused", "id_length", None, None, None)
            continue
        assert reg.outcome == "answered" and reg.refusal is None and reg.grade == r[5]
        assert reg.measures == [m.split(" ")[0] for m in r[7].split("；") if m]
        assert reg.subject_bidx == vault.lookup_key(
            {2: listed, 3: unknown, 5: red, 6: listed, 8: red}[int(r[0])])
    assert regs[by_row[2][8]].subject_id == listed_subject.id and regs[by_row[5][8]].subject_id == red_subject.id
    assert regs[by_row[3][8]].subject_id is None and by_row[3][4].startswith("unknown")
    assert "restrict_civil_service_hiring" in regs[by_row[2][8]].measures
    assert (by_row[2][3], by_row[6][3], by_row[5][3], by_row[8][3]) == ("是 yes", "否 no", "是 yes", "")
    assert sorted((a.details["first_row"], a.details["rows"]) for a in audits) == [(2, 2), (4, 2), (6, 2)]
    assert sum(a.details["matched"] for a in audits) == 4 and sum(a.details["invalid"] for a in audits) == 1
    for number in (listed, red, unknown):
        assert number not in data.decode("utf-8-sig")


def test_result_file_is_encoded_as_csv_writer_would(db, world, vault):  # type: ignore[no-untyped-def]
    """Fields are assembled by hand for speed: quoting must stay exactly csv.writer's."""
    good = new_id_number()
    rows = [f'{good},"王,小""明"', '"12,34",=cmd', f'{good},"张\n三"', f'"{good[:17]}""",+1']
    job_id = _job(db, vault, world, "身份证号码,姓名\n" + "\n".join(rows) + "\n")
    assert batch.run_job(db, vault, job_id, chunk_size=3).status == "done"  # type: ignore[union-attr]
    data = _result(db, vault, job_id)
    text = data.decode("utf-8-sig")
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    again = io.StringIO()
    csv.writer(again, lineterminator="\r\n").writerows(parsed)
    assert again.getvalue() == text
    by_row = {int(r[0]) if r[0].isdigit() else 0: r for r in parsed}
    assert by_row[2][2] == "王****" and by_row[4][2] == "张**"  # masked: the comma and quote go with the mask
    assert by_row[3][1] == "*****" and by_row[3][2] == "'=***"  # a formula cell stays text
    # (the row after the cell with a line break is the next row: a spreadsheet's row 5, the file's line 6)
    assert by_row[5][1] == good[:6] + "********" + good[14:17] + '"' and by_row[5][2] == "'+*"  # quoted field
    assert by_row[5][9].startswith("id_characters: ") and by_row[3][9].startswith("id_length: ")


def test_a_batch_row_reads_back_by_its_check_id(client, world, db, vault):  # type: ignore[no-untyped-def]
    with db.session() as s:
        listed, _ = subject_with_status(s, vault, grade="D", lists=["dishonest_debtor"])
    job_id = _job(db, vault, world, f"{listed}\n")
    assert batch.run_job(db, vault, job_id).status == "done"  # type: ignore[union-attr]
    cid = list(csv.reader(io.StringIO(_result(db, vault, job_id).decode("utf-8-sig"))))[1][8]
    r = client.get(f"/api/v1/checks/{cid}", headers=world.bearer(world.key_a))
    assert r.status_code == 200 and r.json()["check_id"] == cid
    # never signed on its own: nothing to verify (not "verified: false", which says an answer was altered)
    got = r.json()
    assert got["verified"] is None and got["channel"] == "batch" and got["job_id"] == job_id
    assert (got["outcome"], got["grade"]) == ("answered", "D") and "restrict_civil_service_hiring" in got["measure_codes"]
    assert "结果文件" in got["note"] and "result file" in got["note"]
    assert client.get(f"/api/v1/checks/{cid}", headers=world.bearer(world.key_b)).status_code == 403


def test_a_job_taken_over_stops_after_the_chunks_already_written(db, world, vault, monkeypatch):  # type: ignore[no-untyped-def]
    """The database thread runs: lookup 1, lookup 2, write 1, lookup 3, write 2 …; another runner takes
    the job during lookup 3 (in that thread: the test database is one connection), so write 2 fails."""
    job_id = _job(db, vault, world, "\n".join(new_id_number() for _ in range(6)) + "\n")
    lookups = []
    real_lookup = batch._lookup

    def lookup(db_, unique):  # type: ignore[no-untyped-def]
        lookups.append(len(unique))
        if len(lookups) == 3:
            with db.session() as s:
                s.execute(update(CompareJob).where(CompareJob.id == job_id).values(runner="someone-else"))
        return real_lookup(db_, unique)

    monkeypatch.setattr(batch, "_lookup", lookup)
    assert batch.run_job(db, vault, job_id, chunk_size=2) is None
    with db.session() as s:
        job = s.get(CompareJob, job_id)
        registered = len(list(s.scalars(select(Check.id).where(Check.job_id == job_id))))
    assert job is not None and job.rows_done == 2 and job.status == "running" and job.runner == "someone-else"
    assert registered == 2  # the first chunk only: nothing written after the job was lost


def test_the_lookup_finds_subjects_and_runs_without_plan_compilation_on_postgresql(db, vault):  # type: ignore[no-untyped-def]
    """The chunk lookup returns the known subjects among the blind indexes; on PostgreSQL its
    transaction first turns JIT compilation off (it cost ~7 ms a chunk for a once-a-row plan)."""
    from sqlalchemy import event

    with db.session() as s:
        known, subject = subject_with_status(s, vault, grade="B")
        subject_id = subject.id
    unique = sorted([vault.lookup_key(known), vault.lookup_key(new_id_number())])
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        found = batch._found(batch._lookup(db, unique))
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert list(found) == [vault.lookup_key(known)]
    assert found[vault.lookup_key(known)][1] == subject_id
    lookup = next(i for i, st in enumerate(statements) if "id_bidx" in st)
    if db.engine.dialect.name == "postgresql":
        assert statements[lookup - 1] == "SET LOCAL jit = off"
    else:
        assert not any("jit" in st for st in statements)
