"""Batch comparison (API, runner, CLI) and the demo's sample checks."""

from __future__ import annotations

import csv
import io
from datetime import date

from sqlalchemy import func, select
from tests.measures.measures_support import subject_with_status
from tests.support import SYSTEM, login, new_id_number

from xinyong.audit.models import AuditEntry
from xinyong.measures import batch, service
from xinyong.measures.models import Check, CheckFeedback, CompareFile, CompareJob


def _result_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_batch_file_answers_good_rows_and_lists_bad_ones(client, world, db, vault):  # type: ignore[no-untyped-def]
    with db.session() as s:
        listed, _ = subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"])
        red, _ = subject_with_status(s, vault, grade="AAA", lists=["red_volunteer"], clean_3y=True)
    unknown = new_id_number()
    bad = unknown[:-1] + ("0" if unknown[-1] != "0" else "1")
    content = ("身份证号码,姓名\n" + f"{listed},王小明\n{red},李四\n{unknown},赵六\n{bad},钱七\n12345,孙八\n").encode()
    r = client.post("/api/v1/checks/batch", data={"scenario": "civil_service_hiring"},
                    files={"file": ("招录名单.csv", content, "text/csv")}, headers=world.bearer(world.key_a))
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    client.app.state.compare_runner.wait()
    # named as a comparison job in thread dumps, like its pipeline's threads (compare-N-db_0 …)
    assert [t.name for t in client.app.state.compare_runner._threads] == [f"compare-{job_id}"]
    job = client.get(f"/api/v1/checks/batch/{job_id}", headers=world.bearer(world.key_a)).json()
    assert job["status"] == "done", job
    assert (job["rows_total"], job["rows_done"]) == (5, 5)
    assert job["counts"] == {"matched": 2, "unknown": 1, "invalid": 2}
    assert client.get(f"/api/v1/checks/batch/{job_id}", headers=world.bearer(world.key_b)).status_code == 404
    res = client.get(job["result_url"], headers=world.bearer(world.key_a))
    assert res.status_code == 200
    rows = _result_rows(res.content)
    assert rows[0][0].startswith("行号")
    by_row = {int(x[0]): x for x in rows[1:]}
    assert by_row[2][1] == listed[:6] + "********" + listed[-4:] and by_row[2][5] == "D"
    assert "serious_dishonesty" in by_row[2][6] and "restrict_civil_service_hiring" in by_row[2][7]
    assert by_row[2][3] == "是 yes"  # the name matches the subject's
    assert by_row[3][3] == "否 no" and by_row[3][7] == ""
    assert by_row[4][4].startswith("unknown")
    assert by_row[5][4].startswith("invalid") and by_row[5][9].startswith("id_checksum")
    assert by_row[6][9].startswith("id_length") and by_row[6][1] == "*****"
    text = res.content.decode("utf-8-sig")
    for n in (listed, red, unknown, bad):
        assert n not in text
    with db.session() as s:
        regs = list(s.scalars(select(Check).where(Check.job_id == job_id)))
        assert len(regs) == 5 and {c.channel for c in regs} == {"batch"}
        assert sorted(c.outcome for c in regs) == ["answered"] * 3 + ["refused"] * 2
        assert s.get(CompareFile, (job_id, "upload")) is None  # the raw upload is gone
        assert s.get(CompareFile, (job_id, "result")) is not None


def test_batch_name_matches_as_the_records_api_compares_names(client, world, db, vault):  # type: ignore[no-untyped-def]
    """A name written with a space between its characters (a full-width one aligns two-character names
    with three-character ones in Chinese lists), an invisible character or another middle dot is the
    registered name, as pushing a record with it is (``subjects.service.names_match``); another name
    is not."""
    with db.session() as s:
        number, _ = subject_with_status(s, vault, grade="A")
    names = ["王小明", "王\u3000小明", "王 小 明", "王小明\u200b", "王小红"]
    content = ("身份证号码,姓名\n" + "".join(f"{number},{n}\n" for n in names)).encode()
    r = client.post("/api/v1/checks/batch", data={"scenario": "awards"},
                    files={"file": ("名单.csv", content, "text/csv")}, headers=world.bearer(world.key_a))
    assert r.status_code == 202, r.text
    client.app.state.compare_runner.wait()
    res = client.get(f"/api/v1/checks/batch/{r.json()['id']}/result.csv", headers=world.bearer(world.key_a))
    by_row = {int(x[0]): x for x in _result_rows(res.content)[1:]}
    assert [by_row[n][3] for n in range(2, 7)] == ["是 yes"] * 4 + ["否 no"]


def test_batch_refusals(client, world, db):  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/checks/batch", data={"scenario": "nope"},
                    files={"file": ("a.csv", f"{new_id_number()}\n".encode(), "text/csv")},
                    headers=world.bearer(world.key_a))
    assert r.status_code == 422 and r.json()["code"] == "unknown_scenario" and "awards" in r.json()["message"]
    r = client.post("/api/v1/checks/batch", data={"scenario": "awards"},
                    files={"file": ("a.csv", b"\xef\xbb\xbf", "text/csv")}, headers=world.bearer(world.key_a))
    assert r.status_code == 422 and r.json()["code"] == "empty_file"
    r = client.post("/api/v1/checks/batch", data={"scenario": "awards"},
                    files={"file": ("a.csv", "编号,名字\n1,张三\n".encode(), "text/csv")},
                    headers=world.bearer(world.key_a))
    assert r.status_code == 422 and r.json()["code"] == "missing_columns"
    # a PDF; a zip; a workbook cut short (its entries under xl/: imports call it bad_xlsx): CSV only
    cut = b"PK\x03\x04" + b"\x00" * 22 + bytes([15, 0, 0, 0]) + b"xl/workbook.xml" + b"\x00" * 40
    for content in (b"%PDF-1.7\n", b"PK\x03\x04" + b"\x00" * 40, cut):
        r = client.post("/api/v1/checks/batch", data={"scenario": "awards"},
                        files={"file": ("a.csv", content, "text/csv")}, headers=world.bearer(world.key_a))
        assert r.status_code == 422 and r.json()["code"] == "unsupported_format", r.text
        assert "XLSX" not in r.json()["message"] and "CSV" in r.json()["message"]
    with db.session() as s:
        refused = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "checks.batch_create",
                                                          AuditEntry.outcome == "denied")))
        assert [e.details["code"] for e in refused] == ["unknown_scenario", "empty_file", "missing_columns",
                                                         "unsupported_format", "unsupported_format",
                                                         "unsupported_format"]
        assert s.scalar(select(func.count()).select_from(CompareJob)) == 0


def test_runner_in_chunks_without_header(db, world, vault):  # type: ignore[no-untyped-def]
    numbers = [new_id_number() for _ in range(25)] + ["bad"]
    data = "\n".join(numbers).encode()
    dept = world.dept_a
    caller = service.Caller(dept.id, dept.code, SYSTEM)
    with db.session() as s:
        job_id = batch.create_job(s, vault=vault, caller=caller, scenario="awards", filename="x.csv", data=data).id
    seen: list[tuple[int, int]] = []
    job = batch.run_job(db, vault, job_id, chunk_size=10, on_progress=lambda d, t: seen.append((d, t)))
    assert job is not None and job.status == "done"
    assert seen == [(10, 26), (20, 26), (26, 26)]
    assert (job.matched, job.unknown, job.invalid) == (0, 25, 1)
    assert batch.run_job(db, vault, job_id) is None  # done: cannot be claimed again


def test_cli_batch(tmp_path, fresh_db_url, monkeypatch):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from xinyong.auth import service as auth_service
    from xinyong.cli import app
    from xinyong.db import Database

    keys = tmp_path / "keys.json"
    monkeypatch.setenv("XINYONG_DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("XINYONG_KEY_FILE", str(keys))
    from xinyong.privacy.keys import KeyRing

    KeyRing.generate().save(keys)
    dbx = Database(fresh_db_url)
    with dbx.session() as s:
        auth_service.add_department(s, code="rsj", name="区人社局", actor=SYSTEM)
        auth_service.add_department(s, code="bank1", name="某银行", kind="institution", actor=SYSTEM)
    dbx.dispose()
    src = tmp_path / "list.csv"
    src.write_text("id_number,name\n" + f"{new_id_number(born=date(1990, 1, 2))},张三\nnot-an-id,李四\n",
                   encoding="utf-8")
    runner = CliRunner()
    r = runner.invoke(app, ["checks", "batch", str(src), "--scenario", "civil_service_hiring", "--dept", "rsj"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "list.csv.result.csv"
    rows = _result_rows(out.read_bytes())
    assert len(rows) == 3 and rows[2][4].startswith("invalid")
    r = runner.invoke(app, ["checks", "batch", str(src), "--scenario", "nope", "--dept", "rsj"])
    assert r.exit_code == 1 and "unknown scenario" in r.output
    # as the API: an institution runs no checks (its users and keys have no checks.run)
    r = runner.invoke(app, ["checks", "batch", str(src), "--scenario", "awards", "--dept", "bank1"])
    assert r.exit_code == 1 and "是机构" in r.output and "only departments run checks" in r.output
    r = runner.invoke(app, ["measures", "load"])
    assert r.exit_code == 0 and "created" in r.output


def test_demo_adds_checks_and_feedback(db, vault):  # type: ignore[no-untyped-def]
    from xinyong.demo import build_demo

    with db.session() as s:
        info = build_demo(s, vault=vault, people=60)
    assert info.extras["checks"]["checks"] > 0
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Check)) == info.extras["checks"]["checks"]
        assert s.scalar(select(func.count()).select_from(CheckFeedback)) == info.extras["checks"]["feedback"]
        assert service.feedback_stats(s)


def _abandoned_job(db, world, vault) -> int:  # type: ignore[no-untyped-def]
    """A comparison job whose runner died mid-way (its heartbeat 5 minutes old): interrupted."""
    from datetime import timedelta

    from sqlalchemy import update

    from xinyong.db import utcnow

    caller = service.Caller(world.dept_a.id, world.dept_a.code, SYSTEM)
    with db.session() as s:
        job_id = batch.create_job(s, vault=vault, caller=caller, scenario="awards", filename="x.csv",
                                  data=f"{new_id_number()}\n".encode()).id
        s.execute(update(CompareJob).where(CompareJob.id == job_id).values(
            status="running", runner="dead", heartbeat_at=utcnow() - timedelta(minutes=5)))
    return job_id


def test_an_interrupted_job_runs_again(client, world, db, vault):  # type: ignore[no-untyped-def]
    job_id = _abandoned_job(db, world, vault)
    h = world.bearer(world.key_a)
    assert client.get(f"/api/v1/checks/batch/{job_id}", headers=h).json()["status"] == "interrupted"
    r = client.post(f"/api/v1/checks/batch/{job_id}/resume", headers=h)
    assert r.status_code == 202
    # the 202 shows the job as resumed — waiting for its runner, from its first row —, not as interrupted
    assert (r.json()["status"], r.json()["rows_done"], r.json()["error"]) == ("pending", 0, None), r.json()
    client.app.state.compare_runner.wait()
    assert client.get(f"/api/v1/checks/batch/{job_id}", headers=h).json()["status"] == "done"
    assert client.post(f"/api/v1/checks/batch/{job_id}/resume", headers=h).status_code == 409


def test_a_job_resumed_once_is_not_resumed_again_before_it_runs(db, world, vault):  # type: ignore[no-untyped-def]
    """Two resumes of one interrupted job (two clicks, two systems): the second, before any runner
    took the job, is refused as not interrupted — not accepted and audited for a run that never comes."""
    import pytest

    job_id = _abandoned_job(db, world, vault)
    with db.session() as s:
        batch.resume(s, job=s.get(CompareJob, job_id), department_id=world.dept_a.id, actor=SYSTEM)
    with db.session() as s, pytest.raises(service.MeasuresError) as refused:
        batch.resume(s, job=s.get(CompareJob, job_id), department_id=world.dept_a.id, actor=SYSTEM)
    assert (refused.value.status, refused.value.code) == (409, "not_interrupted")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "checks.batch_resume", AuditEntry.object_id == str(job_id))) == 1


def _compared(client, world, content: bytes) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """Upload ``content`` for civil_service_hiring by department A's key; the job once it has run."""
    r = client.post("/api/v1/checks/batch", data={"scenario": "civil_service_hiring"},
                    files={"file": ("名单.csv", content, "text/csv")}, headers=world.bearer(world.key_a))
    assert r.status_code == 202, r.text
    client.app.state.compare_runner.wait()
    return client.get(f"/api/v1/checks/batch/{r.json()['id']}", headers=world.bearer(world.key_a)).json()


def test_row_numbers_are_the_files_lines_despite_blank_lines(client, world, db, vault):  # type: ignore[no-untyped-def]
    """A row is named by the line it is on in the file, as a spreadsheet shows it: blank lines are
    skipped, not renumbered over (before, the rows after one were named a line too early)."""
    with db.session() as s:
        listed, _ = subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"])
    unknown = new_id_number()
    content = f"身份证号码,姓名\n{listed},王小明\n\n{unknown},赵六\n \n\n12345,孙八\n".encode()
    job = _compared(client, world, content)
    assert job["status"] == "done" and job["rows_total"] == 3, job
    rows = _result_rows(client.get(job["result_url"], headers=world.bearer(world.key_a)).content)
    by_row = {int(x[0]): x for x in rows[1:]}
    assert sorted(by_row) == [2, 4, 7]
    assert by_row[2][5] == "D" and by_row[4][4].startswith("unknown") and by_row[7][4].startswith("invalid")
    assert by_row[4][1] == unknown[:6] + "********" + unknown[-4:]


def test_a_cell_spanning_two_lines_is_one_row_of_the_spreadsheet(client, world, db, vault):  # type: ignore[no-untyped-def]
    """Rows are numbered as a spreadsheet shows the file (and as imports number them): a record whose
    quoted cell holds a line break is one row, so the record after it is the next row, not one row
    further down; blank lines still keep their numbers."""
    with db.session() as s:
        listed, _ = subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"])
    unknown = new_id_number()
    content = f'身份证号码,姓名\n{listed},"王\n小明"\n{unknown},赵六\n\n12345,"孙\r\n八"\n{listed},李四\n'.encode()
    job = _compared(client, world, content)
    assert job["status"] == "done" and job["rows_total"] == 4, job
    rows = _result_rows(client.get(job["result_url"], headers=world.bearer(world.key_a)).content)
    by_row = {int(x[0]): x for x in rows[1:]}
    assert sorted(by_row) == [2, 3, 5, 6]
    assert by_row[2][5] == "D" and by_row[3][4].startswith("unknown") and by_row[5][4].startswith("invalid")
    assert by_row[6][5] == "D" and by_row[6][3] == "否 no"
    with db.session() as s:  # the check ids carry the same row numbers
        ids = set(s.scalars(select(Check.check_id).where(Check.job_id == job["id"])))
    assert {int(c[16:], 16) for c in ids} == {2, 3, 5, 6}


def test_title_lines_above_the_header_are_not_data(client, world, db, vault):  # type: ignore[no-untyped-def]
    """A recruitment list exported with a title line (with digits in it) above its header: the header
    is found below it and every row answered, numbered by its line; a file without any header
    still reads column 1 as the ID numbers."""
    with db.session() as s:
        listed, _ = subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"])
    content = f"2026年招录人员名单,\n,\n姓名,身份证号码\n王小明,{listed}\n".encode()
    job = _compared(client, world, content)
    assert (job["status"], job["rows_total"], job["counts"]) == ("done", 1, {"matched": 1, "unknown": 0, "invalid": 0}), job
    [_head, row] = _result_rows(client.get(job["result_url"], headers=world.bearer(world.key_a)).content)
    assert row[0] == "4" and row[3].startswith("是") and row[5] == "D"
    assert batch.layout_of([(listed, "王小明"), ("x",)]).first_row == 0


def test_feedback_statistics_count_batch_rows_apart_by_the_database(client, world, db, vault):  # type: ignore[no-untyped-def]
    """A batch comparison's rows count as answered checks, per channel: the single checks' feedback
    rate (单次核查反馈率) leaves them out, so one large screening does not drown it. A register row
    whose ``measures`` is not an array (none, JSON null) counts for nothing and breaks nothing."""
    from xinyong.db import utcnow

    with db.session() as s:
        listed, _ = subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"])
    h = world.bearer(world.key_a)
    singles = [client.post("/api/v1/checks", json={"id_number": listed, "scenario": "civil_service_hiring"},
                           headers=h).json() for _ in range(2)]
    measure = singles[0]["measures"][0]["code"]
    job = _compared(client, world, f"身份证号码\n{listed}\n{listed}\n{listed}\n".encode())
    assert job["status"] == "done", job
    with db.session() as s:
        batch_ids = list(s.scalars(select(Check.check_id).where(Check.job_id == job["id"])))
        s.add(Check(check_id="f" * 32, checked_at=utcnow(), department_id=world.dept_a.id, actor_type="system",
                    channel="api", scenario="awards", outcome="answered", measures=None))
    assert len(batch_ids) == 3
    for cid in (singles[0]["check_id"], batch_ids[0]):
        r = client.post(f"/api/v1/checks/{cid}/feedback", json={"measure": measure, "applied": True}, headers=h)
        assert r.status_code == 201, r.text
    login(client, "admin")
    stats = client.get("/api/v1/checks/feedback-stats").json()
    row = next(x for x in stats if x["department"] == world.dept_a.code and x["measure"] == measure)
    assert (row["answered"], row["feedback"], row["applied"]) == (5, 2, 2)
    assert row["feedback_rate"] == 0.4 and row["single_feedback_rate"] == 0.5
    assert row["by_channel"] == {"api": {"answered": 2, "feedback": 1, "applied": 1},
                                 "batch": {"answered": 3, "feedback": 1, "applied": 1}}
    page = client.get("/admin/checks/feedback")
    assert page.status_code == 200 and "其中名单比对" in page.text and "50.0%" in page.text
