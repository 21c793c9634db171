"""``xinyong import FILE --item CODE --dept CODE [--resume JOB_ID]``; ``xinyong imports list|resume|report``.

Thin: the job is created and run by the same service and runner the API uses, in this process.
Wiring (in ``xinyong/cli.py``)::

    from xinyong.imports.cli import app as imports_app, import_command
    app.command("import")(import_command)
    app.add_typer(imports_app, name="imports")

Exit status: 0 when the job is done (rejected rows are in its report), 1 on a file-level error or
an interrupted job (the message says how to resume), 2 on usage errors.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from xinyong.cli_support import vault_context
from xinyong.imports.runner import CHUNK_SIZE, Progress

app = typer.Typer(help="批量文件导入 / bulk-file imports", no_args_is_help=True)


def _fail(zh: str, en: str, details: list[dict[str, str]] | None = None) -> NoReturn:
    from xinyong.logging_setup import sanitize

    typer.echo(f"错误 / error: {sanitize(f'{zh} / {en}')}", err=True)
    for e in (details or [])[:20]:
        if e.get("field") != "file":
            typer.echo(f"  {sanitize(e.get('field', ''))}: {sanitize(e.get('message', ''))}", err=True)
    raise typer.Exit(1)


def _department(session: Any, code: str) -> Any:
    from sqlalchemy import select

    from xinyong.auth.models import Department
    from xinyong.auth.service import acting_department_refusal
    from xinyong.imports.service import ImportsError, shown_code
    from xinyong.records.service import DepartmentRef

    dept = session.scalar(select(Department).where(Department.code == code))
    refused = acting_department_refusal(dept)
    shown = shown_code(code)  # as typed, but never an ID number or a control character echoed
    if refused == "department_required":  # institutions report nothing; departments push what they decided
        raise ImportsError(403, refused, f"{shown} 是机构，不能报送信用信息",
                           f"{shown!r} is an institution: only departments push records", field="dept")
    if refused is not None:
        raise ImportsError(404 if dept is None else 409, refused,
                           f"部门 {shown} 不存在或已停用", f"department {shown!r} does not exist or is inactive",
                           field="dept")
    return DepartmentRef(id=dept.id, code=dept.code)


def _printer() -> Any:
    last = [0.0]

    def show(p: Progress) -> None:
        now = time.monotonic()
        if now - last[0] < 1.0 and p.rows_done != p.rows_total:
            return
        last[0] = now
        total = p.rows_total or 0
        pct = f" ({100 * p.rows_done // total}%)" if total else ""
        typer.echo(f"已处理 / processed {p.rows_done}/{total}{pct}")

    return show


def _run_and_report(db: Any, vault: Any, job_id: int, chunk_size: int) -> None:
    """Run the job here and print how it went; the rate is this run's rows (a resumed job's earlier rows
    are not counted) over this run's time."""
    from xinyong.imports import service
    from xinyong.imports.models import ImportJob
    from xinyong.imports.runner import run_job
    from xinyong.logging_setup import sanitize

    with db.session() as s:  # a resumed job starts from the rows done before: they are not this run's
        job = s.get(ImportJob, job_id)
        before = job.rows_done if job is not None else 0
    started = time.monotonic()
    result = run_job(db, vault, job_id, chunk_size=chunk_size, on_progress=_printer())
    elapsed = time.monotonic() - started
    if result is None:
        _fail(f"导入任务 {job_id} 正由其他进程处理或已结束",
              f"import job {job_id} is held by another process or finished")
    typer.echo(f"导入任务 / import job {job_id}: {result.status}")
    with db.session() as s:  # the notes as the run left them (a hidden column with no value is no longer noted)
        job = s.get(ImportJob, job_id)
        notes = service.job_notes(job) if job is not None else []
    done_now = max(0, result.rows_done - before)
    rate = done_now / elapsed if elapsed > 0 else 0
    speed = f"{rate:,.0f} 行每秒 / rows/s" if rate else ""
    if before and speed:
        speed = f"本次 this run {done_now}, {speed}"
    typer.echo(f"行数 / rows: {result.rows_done}/{result.rows_total or 0}" + (f"  ({speed})" if speed else ""))
    typer.echo(f"新增 created {result.created}  更新 updated {result.updated}  "
               f"未变 unchanged {result.unchanged}  拒绝 rejected {result.rejected}")
    for note in notes:  # the columns ignored (序号, 备注 …)
        typer.echo(f"注意 / note: {sanitize(str(note.get('message') or ''))}")
    if result.rejected:
        with db.session() as s:
            first = service.row_errors(s, job_id=job_id, limit=10)
        typer.echo("被拒绝的行（前10条） / first rejected rows:")
        for e in first:
            col = f"{e.header} " if e.header else ""
            typer.echo(f"  第{e.row_number}行 row {e.row_number}  {col}({e.field}) {e.code}: {e.message}")
        typer.echo(f"完整报告 / full report: xinyong imports report {job_id} --output report.csv "
                   f"(API: GET /api/v1/imports/{job_id}/errors.csv)")
    # The job's own message is bilingual already: it goes on a line of its own under the headline.
    if result.status == "failed":
        _fail("文件无法导入", f"the file cannot be imported ({result.error_code})", _why(result.error_message))
    if result.status != "done":
        _fail(f"导入中断，可用 `xinyong imports resume {job_id}` 继续",
              f"the import stopped; continue it with `xinyong imports resume {job_id}`", _why(result.error_message))


def _why(message: str | None) -> list[dict[str, str]]:
    return [{"field": "原因 reason", "message": message}] if message else []


def import_command(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="CSV（UTF-8 或 GBK）或 XLSX 文件 / "
                                                             "CSV (UTF-8 or GBK) or XLSX file")],
    item: Annotated[str, typer.Option("--item", metavar="CODE", help="信息事项代码 / catalog item code")],
    dept: Annotated[str, typer.Option("--dept", metavar="CODE", help="报送部门代码 / department code")],
    resume: Annotated[int | None, typer.Option(
        "--resume", metavar="JOB_ID", help="继续一个中断的导入任务 / resume an interrupted job")] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1, max=20_000, hidden=True)] = CHUNK_SIZE,
) -> None:
    """导入一个批量文件（一个信息事项） / import a bulk file of one catalog item."""
    from xinyong.audit.service import record_not_found
    from xinyong.cli import database
    from xinyong.imports import service
    from xinyong.imports.parsers import FileError

    cfg, vault, actor = vault_context()
    try:
        data = file.read_bytes()
    except OSError as exc:
        unreadable = FileError("file_unreadable", f"无法读取文件 {file}：{exc.strerror or exc}",
                               f"cannot read {file}: {exc.strerror or exc}")
        with database(cfg) as db, db.session() as s:  # registered, as the command's other refusals are
            if resume is None:
                service.record_refusal(s, actor=actor, item_code=item, filename=file.name, size=0,
                                       error=unreadable, via="cli")
            else:
                service.record_resume_refusal(s, actor=actor, job_id=resume, error=unreadable, via="cli")
        _fail(unreadable.zh, unreadable.en)
    with database(cfg) as db:
        try:
            with db.session() as s:
                department = _department(s, dept)
                if resume is None:
                    job = service.create_job(s, vault=vault, department=department, item_code=item,
                                             filename=file.name, data=data, actor=actor,
                                             max_bytes=cfg.max_request_bytes)
                else:
                    job = service.get_job(s, job_id=resume, department_id=department.id)
                    mismatch = None
                    if job.item_code != item:
                        mismatch = service.ImportsError(
                            409, "item_mismatch", f"任务 {resume} 的事项是 {job.item_code}",
                            f"job {resume} imports item {job.item_code}", field="item")
                    elif job.sha256 != hashlib.sha256(data).hexdigest():
                        mismatch = service.ImportsError(
                            409, "file_mismatch", f"文件与任务 {resume} 上传的文件不同",
                            f"the file differs from the one job {resume} imports", field="file")
                    if mismatch is not None:  # registered (and committed) before the command fails
                        service.record_resume_refusal(s, actor=actor, job_id=resume, error=mismatch, via="cli")
                        _fail(mismatch.zh, mismatch.en)
                    try:
                        service.resume_job(s, job=job, actor=actor)
                    except service.ImportsError as exc:
                        service.record_resume_refusal(s, actor=actor, job_id=resume, error=exc, via="cli")
                        raise
                job_id = job.id
        except (FileError, service.ImportsError) as exc:
            with db.session() as s:  # a refused upload or resume is registered, as the API's and the page's are
                if resume is None:
                    service.record_refusal(s, actor=actor, item_code=item, filename=file.name, size=len(data),
                                           error=exc, via="cli")
                elif isinstance(exc, service.ImportsError) and exc.field == "dept":  # the job's own refusals are
                    service.record_resume_refusal(s, actor=actor, job_id=resume, error=exc,  # registered above
                                                  via="cli")
                elif isinstance(exc, service.ImportsError) and exc.code == "not_found":  # as the API's
                    record_not_found(s, actor=actor, action="imports.resume", object_type="import_job",
                                     object_id=resume, details={"via": "cli"})
            _fail(exc.zh, exc.en, exc.errors)
        fmt = f"{job.format}" + (f", {job.encoding}" if job.encoding else "")
        typer.echo(f"导入任务 / import job {job_id}: {job.filename} ({fmt}, {job.size} bytes) "
                   f"→ {job.item_code}")
        _run_and_report(db, vault, job_id, chunk_size)


@app.command("list")
def list_command(
    dept: Annotated[str | None, typer.Option("--dept", metavar="CODE",
                                             help="只看某部门 / one department")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
) -> None:
    """列出导入任务 / list import jobs, newest first."""
    from xinyong.cli import cli_actor, database, settings
    from xinyong.imports import service

    with database(settings()) as db, db.session() as s:
        try:
            dept_id = _department(s, dept).id if dept else None
        except service.ImportsError as exc:
            _fail(exc.zh, exc.en)
        jobs = service.list_jobs(s, department_id=dept_id, any_department=dept is None, limit=limit)
        service.record_list(s, actor=cli_actor(), jobs=jobs, before_id=None, limit=limit, via="cli")
        for j in jobs:
            typer.echo(f"{j.id}\t{service.effective_status(j)}\t{j.item_code}\t"
                       f"{j.rows_done}/{j.rows_total or '?'}\t"
                       f"+{j.created} ~{j.updated} ={j.unchanged} x{j.rejected}\t{j.filename}\t"
                       f"{j.created_at:%Y-%m-%d %H:%M}")
        if not jobs:
            typer.echo("没有导入任务 / no import jobs")


@app.command("resume")
def resume_command(
    job_id: Annotated[int, typer.Argument(metavar="JOB_ID")],
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1, max=20_000, hidden=True)] = CHUNK_SIZE,
) -> None:
    """继续一个中断的导入任务 / resume an interrupted import job."""
    from xinyong.audit.service import record_not_found
    from xinyong.cli import database
    from xinyong.imports import service

    cfg, vault, actor = vault_context()
    with database(cfg) as db:
        try:
            with db.session() as s:
                job = service.get_job(s, job_id=job_id, department_id=None, any_department=True)
                try:
                    service.resume_job(s, job=job, actor=actor)
                except service.ImportsError as exc:
                    service.record_resume_refusal(s, actor=actor, job_id=job_id, error=exc, via="cli")
                    raise
        except service.ImportsError as exc:
            if exc.code == "not_found":  # registered as the API's is
                with db.session() as s:
                    record_not_found(s, actor=actor, action="imports.resume", object_type="import_job",
                                     object_id=job_id, details={"via": "cli"})
            _fail(exc.zh, exc.en)
        _run_and_report(db, vault, job_id, chunk_size)


@app.command("report")
def report_command(
    job_id: Annotated[int, typer.Argument(metavar="JOB_ID")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="写入文件（默认标准输出） / write to a file (default: stdout)")] = None,
) -> None:
    """导出被拒绝行的报告（CSV） / write the report of rejected rows (CSV)."""
    from xinyong.cli import cli_actor, database, settings
    from xinyong.imports import service

    with database(settings()) as db:
        try:
            with db.session() as s:
                job = service.get_job(s, job_id=job_id, department_id=None, any_department=True)
                body = service.report_csv(s, job=job, actor=cli_actor())
        except service.ImportsError as exc:
            _fail(exc.zh, exc.en)
    if output is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        output.write_bytes(body)
        typer.echo(f"报告已写入 / report written: {output}")
