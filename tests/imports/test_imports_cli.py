"""``xinyong import FILE --item CODE --dept CODE [--resume JOB_ID]`` and ``xinyong imports …``, wired into
a Typer app here the way the root CLI wires them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from sqlalchemy import func, select, update
from tests.imports.imports_support import ZH_HEADER, csv_bytes, penalty_rows
from tests.support import SYSTEM, cli_database
from typer.testing import CliRunner

from xinyong.auth import service as auth_service
from xinyong.config import reset_settings_cache
from xinyong.db import Database, utcnow
from xinyong.imports.cli import app as imports_app
from xinyong.imports.cli import import_command
from xinyong.imports.models import ImportJob
from xinyong.privacy.keys import KeyRing
from xinyong.records.models import Record

cli = typer.Typer()
cli.command("import")(import_command)
cli.add_typer(imports_app, name="imports")


@pytest.fixture
def env(fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    db = cli_database(fresh_db_url, tmp_path, monkeypatch)
    yield db
    db.dispose()
    reset_settings_cache()


def run(*args: str):  # type: ignore[no-untyped-def]
    reset_settings_cache()
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_import_prints_progress_and_summary(env: Database, tmp_path: Path) -> None:
    rows = penalty_rows(30)
    rows[4][0] = "bad"
    f = tmp_path / "罚款.csv"
    f.write_bytes(csv_bytes(ZH_HEADER, rows, encoding="gbk"))
    r = run("import", str(f), "--item", "admin_penalty", "--dept", "scjgj")
    assert r.exit_code == 0, r.output
    assert "已处理 / processed 30/30 (100%)" in r.output
    assert "新增 created 29" in r.output and "拒绝 rejected 1" in r.output
    assert "第6行 row 6" in r.output and "invalid_id_number" in r.output
    assert "xinyong imports report" in r.output
    with env.session() as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 29
    again = run("import", str(f), "--item", "admin_penalty", "--dept", "scjgj")
    assert again.exit_code == 0 and "未变 unchanged 29" in again.output

    listing = run("imports", "list")
    assert listing.exit_code == 0 and listing.output.count("\tdone\t") == 2
    out = tmp_path / "report.csv"
    rep = run("imports", "report", "1", "--output", str(out))
    assert rep.exit_code == 0, rep.output
    body = out.read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    report = list(csv.reader(io.StringIO(body[3:].decode())))
    assert report[1][:4] == ["6", "身份证号码", "id_number", "invalid_id_number"]


def test_import_names_the_columns_it_ignored(env: Database, tmp_path: Path) -> None:
    """A file with 序号 and 备注 columns is imported; the summary says they were ignored."""
    rows = [[str(i + 1), *r, "备考"] for i, r in enumerate(penalty_rows(3))]
    f = tmp_path / "序号.csv"
    f.write_bytes(csv_bytes(["序号", *ZH_HEADER, "备注"], rows))
    r = run("import", str(f), "--item", "admin_penalty", "--dept", "scjgj")
    assert r.exit_code == 0, r.output
    assert "新增 created 3" in r.output
    assert "注意 / note: 已忽略的列：“序号”、“备注”" in r.output and "columns ignored: '序号', '备注'" in r.output


def test_import_names_the_hidden_columns_it_imported(env: Database, tmp_path: Path) -> None:
    """A column of the item that the workbook hides is imported, and the summary says so, with its letter."""
    from tests.imports.imports_support import with_cols, xlsx_bytes

    f = tmp_path / "隐藏列.xlsx"
    f.write_bytes(with_cols(xlsx_bytes(ZH_HEADER, penalty_rows(2)), '<cols><col min="9" max="9" hidden="1"/></cols>'))
    r = run("import", str(f), "--item", "admin_penalty", "--dept", "scjgj")
    assert r.exit_code == 0, r.output
    assert "新增 created 2" in r.output
    assert "注意 / note: 已导入隐藏的列：“罚款金额（元）”（隐藏的I列）" in r.output, r.output
    assert "hidden columns imported: '罚款金额（元）' (hidden column I)" in r.output
    # a hidden column that holds no value is not said: the summary shows the notes as the run left them
    g = tmp_path / "隐藏空列.xlsx"
    rows = [[*row, None] for row in penalty_rows(2, prefix="E")]
    g.write_bytes(with_cols(xlsx_bytes([*ZH_HEADER, "处罚依据"], rows), '<cols><col min="10" max="10" hidden="1"/></cols>'))
    r = run("import", str(g), "--item", "admin_penalty", "--dept", "scjgj")
    assert r.exit_code == 0 and "新增 created 2" in r.output, r.output
    assert "隐藏的" not in r.output and "hidden column" not in r.output and "注意" not in r.output, r.output


@pytest.mark.parametrize(("content", "code_zh"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "只支持 CSV 或 XLSX 文件"),
    (csv_bytes(ZH_HEADER[1:], [r[1:] for r in penalty_rows(1)]), "缺少必需的列"),
    (b"", "文件为空"),
])
def test_file_errors_exit_non_zero_with_a_bilingual_message(env, tmp_path, content, code_zh) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "x.csv"
    f.write_bytes(content)
    r = run("import", str(f), "--item", "admin_penalty", "--dept", "scjgj")
    assert r.exit_code == 1
    assert code_zh in r.output and " / " in r.output and "Traceback" not in r.output


def test_unknown_department_item_and_missing_file(env: Database, tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_bytes(csv_bytes(ZH_HEADER, penalty_rows(1)))
    r = run("import", str(f), "--item", "admin_penalty", "--dept", "nope")
    assert r.exit_code == 1 and "nope" in r.output
    with env.session() as s:
        auth_service.add_department(s, code="bank1", name="某银行", kind="institution", actor=SYSTEM)
    r = run("import", str(f), "--item", "admin_penalty", "--dept", "bank1")
    assert r.exit_code == 1 and "是机构" in r.output and "only departments push records" in r.output
    r = run("import", str(f), "--item", "nope", "--dept", "scjgj")
    assert r.exit_code == 1 and "unknown catalog item" in r.output
    r = run("import", str(tmp_path / "missing.csv"), "--item", "admin_penalty", "--dept", "scjgj")
    assert r.exit_code == 1 and "cannot read" in r.output
    r = run("import", str(f), "--item", "admin_penalty")
    assert r.exit_code == 2  # usage error


def test_resume_option(env: Database, tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_bytes(csv_bytes(ZH_HEADER, penalty_rows(10)))
    assert run("import", str(f), "--item", "admin_penalty", "--dept", "scjgj").exit_code == 0
    with env.session() as s:  # pretend the process died before its last chunk
        s.execute(update(ImportJob).where(ImportJob.id == 1).values(
            status="running", rows_done=0, created=0, heartbeat_at=utcnow() - timedelta(minutes=5)))
        from xinyong.imports.models import ImportFile
        from xinyong.privacy.vault import Vault

        vault = Vault(KeyRing.load(tmp_path / "keys.json"))
        blob, kid = vault.seal_blob(f.read_bytes(), "import_files", "content", "1")
        s.add(ImportFile(job_id=1, key_id=kid, content=blob))
    other = tmp_path / "other.csv"
    other.write_bytes(csv_bytes(ZH_HEADER, penalty_rows(2)))
    r = run("import", str(other), "--item", "admin_penalty", "--dept", "scjgj", "--resume", "1")
    assert r.exit_code == 1 and "differs" in r.output
    r = run("import", str(f), "--item", "admin_penalty", "--dept", "scjgj", "--resume", "1")
    assert r.exit_code == 0, r.output
    assert "未变 unchanged 10" in r.output  # the rows were already there: nothing doubled
    r = run("imports", "resume", "1")
    assert r.exit_code == 1 and "already done" in r.output
    from xinyong.audit.models import AuditEntry

    with env.session() as s:  # refused, and registered as the API's and the page's refusals are
        got = [(e.object_id, e.details) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action == "imports.resume", AuditEntry.outcome == "denied")
            .order_by(AuditEntry.id))]
        assert got == [("1", {"code": "file_mismatch", "via": "cli"}), ("1", {"code": "already_done", "via": "cli"})]


def test_a_truncated_workbook_is_bad_xlsx(env: Database, tmp_path: Path) -> None:
    from tests.imports.imports_support import xlsx_bytes

    f = tmp_path / "处罚.xlsx"
    f.write_bytes(xlsx_bytes(ZH_HEADER, penalty_rows(20))[:100])
    r = run("import", str(f), "--item", "admin_penalty", "--dept", "scjgj")
    assert r.exit_code == 1 and "工作簿已损坏" in r.output and "the workbook is damaged" in r.output, r.output
    assert "只支持 CSV 或 XLSX" not in r.output


def test_resume_waits_out_an_inactive_department(env: Database, tmp_path: Path) -> None:
    """A department deactivated while its job was interrupted: `imports resume` failed the job for good
    and deleted its file. It exits 1 saying why, the job stays interrupted with its file, and it resumes
    once the department is active again."""
    from xinyong.auth.models import Department
    from xinyong.imports.models import ImportFile

    f = tmp_path / "d.csv"
    f.write_bytes(csv_bytes(ZH_HEADER, penalty_rows(10, prefix="D")))
    with env.session() as s:  # a job that was interrupted before its first chunk, its file kept
        from xinyong.imports import service
        from xinyong.privacy.vault import Vault
        from xinyong.records.service import DepartmentRef

        vault = Vault(KeyRing.load(tmp_path / "keys.json"))
        dept = s.scalar(select(Department).where(Department.code == "scjgj"))
        jid = service.create_job(s, vault=vault, department=DepartmentRef(id=dept.id, code=dept.code),
                                 item_code="admin_penalty", filename="d.csv", data=f.read_bytes(), actor=SYSTEM).id
        s.execute(update(ImportJob).where(ImportJob.id == jid).values(status="interrupted"))
        dept.active = False
    r = run("imports", "resume", str(jid))
    assert r.exit_code == 1, r.output
    assert "部门不存在或已停用" in r.output and "once the department is active again" in r.output
    with env.session() as s:
        assert s.get(ImportJob, jid).status == "interrupted" and s.get(ImportFile, jid) is not None
        s.execute(update(Department).where(Department.code == "scjgj").values(active=True))
    r = run("imports", "resume", str(jid))
    assert r.exit_code == 0 and "新增 created 10" in r.output, r.output


def test_rate_after_a_resume_counts_this_runs_rows(env: Database, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """After resuming at 55,000 rows the CLI said 34,601 rows/s: the rows done before the resume were
    counted in this run's rate."""
    import re

    from xinyong.imports import runner

    f = tmp_path / "rate.csv"
    f.write_bytes(csv_bytes(ZH_HEADER, penalty_rows(10, prefix="R")))
    assert run("import", str(f), "--item", "admin_penalty", "--dept", "scjgj").exit_code == 0
    with env.session() as s:  # the process died after 8 rows
        s.execute(update(ImportJob).where(ImportJob.id == 1).values(
            status="interrupted", rows_done=8, created=8))
        from xinyong.imports.models import ImportFile
        from xinyong.privacy.vault import Vault

        vault = Vault(KeyRing.load(tmp_path / "keys.json"))
        blob, kid = vault.seal_blob(f.read_bytes(), "import_files", "content", "1")
        s.add(ImportFile(job_id=1, key_id=kid, content=blob))
    real = runner.run_job

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        import time

        time.sleep(1.0)  # this run takes at least a second for its 2 rows: at most 2 rows/s
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "run_job", slow)
    r = run("imports", "resume", "1")
    assert r.exit_code == 0, r.output
    m = re.search(r"行数 / rows: 10/10  \(本次 this run 2, ([\d,.]+) 行每秒 / rows/s\)", r.output)
    assert m is not None, r.output
    assert float(m.group(1).replace(",", "")) <= 2


def test_listing_the_jobs_is_audited_as_the_api_and_the_page_are(env: Database, tmp_path: Path) -> None:
    """`xinyong imports list` reads the jobs as `GET /api/v1/imports` and /workspace/imports do: one
    `imports.list` entry (the operator, the jobs shown, counts), no ID number of the file in it."""
    from xinyong.audit.models import AuditEntry

    rows = penalty_rows(2)
    f = tmp_path / "p.csv"
    f.write_bytes(csv_bytes(ZH_HEADER, rows))
    assert run("import", str(f), "--item", "admin_penalty", "--dept", "scjgj").exit_code == 0
    assert run("imports", "list", "--limit", "5").exit_code == 0
    with env.session() as s:
        [e] = s.scalars(select(AuditEntry).where(AuditEntry.action == "imports.list"))
        job_id = s.scalar(select(ImportJob.id))
        assert (e.actor_type, e.actor_label.startswith("cli:"), e.outcome) == ("system", True, "ok")
        assert e.details == {"before_id": None, "limit": 5, "count": 1, "jobs": [job_id], "via": "cli"}
        for entry in s.scalars(select(AuditEntry)):
            assert not any(r[0] in str(entry.details) for r in rows)


def test_a_refused_file_is_audited_as_the_api_and_the_page_audit_it(env: Database, tmp_path: Path) -> None:
    """`xinyong import` of a file refused whole (not a CSV, an unknown item, an item the department may
    not push) leaves one `imports.create` entry, `denied`, with the code — as `POST /api/v1/imports`
    and the upload page do ("every refused upload is in the audit log", docs/imports.md § 6)."""
    from xinyong.audit.models import AuditEntry

    png = tmp_path / "x.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    good = tmp_path / "p.csv"
    good.write_bytes(csv_bytes(ZH_HEADER, penalty_rows(1)))
    assert run("import", str(png), "--item", "admin_penalty", "--dept", "scjgj").exit_code == 1
    assert run("import", str(good), "--item", "nope", "--dept", "scjgj").exit_code == 1
    with env.session() as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "imports.create")
                                 .order_by(AuditEntry.id)))
        assert [(e.outcome, e.details["code"], e.details["item"], e.details["filename"]) for e in entries] == [
            ("denied", "unsupported_file", "admin_penalty", "x.csv"), ("denied", "unknown_item", "nope", "p.csv")]
        assert all(e.actor_label.startswith("cli:") for e in entries)
        assert s.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_a_failed_job_prints_its_reason_once_under_a_bilingual_headline(env: Database, tmp_path: Path) -> None:
    """A job that fails reading the whole file exits 1 with `文件无法导入 / the file cannot be imported (code)`
    and, on a line of its own, the job's bilingual reason; it printed the reason (Chinese and English)
    inside the Chinese half of the headline, then the English half."""
    lines = csv_bytes(ZH_HEADER, penalty_rows(6)).decode().splitlines()
    lines[4] = lines[4].replace(",", ',"', 1)  # row 5: a quote never closed
    f = tmp_path / "q.csv"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = run("import", str(f), "--item", "admin_penalty", "--dept", "scjgj")
    assert r.exit_code == 1
    err = [line for line in r.output.splitlines() if line.startswith(("错误 / error:", "  原因 reason:"))]
    assert err[0] == "错误 / error: 文件无法导入 / the file cannot be imported (malformed_csv)"
    assert err[1].startswith("  原因 reason: CSV 格式错误：第5行") and err[1].count(" / ") == 1
