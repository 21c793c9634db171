"""``xinyong checks batch FILE --scenario S --dept CODE [--out RESULT.csv]``;
``xinyong measures load [--update]`` and ``xinyong measures list``.

Thin: the batch job is created and run by the same service and runner as
``POST /api/v1/checks/batch``, in this process. Exit status: 0 when the job is done (invalid rows
are listed in the result file), 1 on a refused file or scenario or a stopped job, 2 on usage errors.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from xinyong.cli_support import vault_context

checks_app = typer.Typer(help="联合奖惩核查 / joint reward and punishment checks", no_args_is_help=True)
measures_app = typer.Typer(help="联合奖惩措施清单 / the measures list", no_args_is_help=True)


def _fail(zh: str, en: str) -> NoReturn:
    from xinyong.logging_setup import sanitize

    typer.echo(f"错误 / error: {sanitize(f'{zh} / {en}')}", err=True)
    raise typer.Exit(1)


@checks_app.command("batch")
def batch_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV 文件 / CSV file")],
    scenario: Annotated[str, typer.Option("--scenario", help="场景代码 / scenario code")],
    dept: Annotated[str, typer.Option("--dept", help="部门代码 / department code")],
    out: Annotated[Path | None, typer.Option("--out", help="结果文件 / result file (default: FILE.result.csv)")] = None,
) -> None:
    """名单比对：核查文件中的每个身份证号码 / check every ID number of a CSV file in a scenario."""
    from sqlalchemy import select

    from xinyong.audit.service import Actor
    from xinyong.auth.models import Department
    from xinyong.auth.service import acting_department_refusal
    from xinyong.cli import database
    from xinyong.imports.parsers import FileError
    from xinyong.imports.service import shown_code
    from xinyong.measures import batch, service

    cfg, vault, actor = vault_context()
    data = file.read_bytes()
    with database(cfg) as db:
        with db.session() as s:
            d = s.scalar(select(Department).where(Department.code == dept))
            refused = acting_department_refusal(d)  # as the API: only a department (its officers, its system)
            if refused is not None:  # checks; registered as a refused upload
                batch.record_refusal(s, actor=actor, scenario=scenario, filename=file.name, size=len(data),
                                     code=refused, via="cli")
                s.commit()
                shown = shown_code(dept)  # as typed, but never an ID number or a control character echoed
                if refused == "department_required":
                    _fail(f"{shown} 是机构，不能核查联合奖惩", f"{shown!r} is an institution: only departments run checks")
                _fail(f"部门 {shown} 不存在或已停用", f"department {shown!r} does not exist or is inactive")
            caller = service.Caller(d.id, d.code, Actor(type=actor.type, id=actor.id, label=actor.label,
                                                                department_id=d.id))
        try:
            with db.session() as s:
                job_id = batch.create_job(s, vault=vault, caller=caller, scenario=scenario, filename=file.name,
                                          data=data, max_bytes=None).id
        except (FileError, service.MeasuresError) as exc:
            with db.session() as s:
                batch.record_refusal(s, actor=actor, scenario=scenario, filename=file.name, size=len(data),
                                     code=exc.code, via="cli")
            _fail(exc.message.split(" / ")[0], exc.message.split(" / ")[-1])
        started = time.perf_counter()
        job = batch.run_job(db, vault, job_id,
                            on_progress=lambda done, total: typer.echo(f"\r{done}/{total}", nl=False, err=True))
        typer.echo("", err=True)
        if job is None:  # another runner took it (it goes on there): this command's run is refused, registered
            with db.session() as s:
                batch.record_refusal(s, actor=actor, scenario=scenario, filename=file.name, size=len(data),
                                     code="not_claimed", via="cli", job_id=job_id)
        if job is None or job.status != "done":
            _fail(f"比对任务 {job_id} 未完成：{job.error_message if job else ''}",
                  f"comparison job {job_id} did not finish ({job.status if job else 'not claimed'})")
        with db.session() as s:
            result = batch.result_csv(s, vault=vault, job=s.get(batch.CompareJob, job_id), actor=actor)
    target = out or file.with_name(file.name + ".result.csv")
    target.write_bytes(result or b"")
    secs = time.perf_counter() - started
    typer.echo(f"任务 / job {job_id}: {job.rows_total} 行 rows — 命中 matched {job.matched}, 未知 unknown "
               f"{job.unknown}, 无效 invalid {job.invalid}; {secs:.2f} s → {target}")
    sys.stdout.flush()


@measures_app.command("load")
def load_command(update: Annotated[bool, typer.Option("--update", help="已有项也改回交付的定义（管理员的修改留在历史中） / put existing ones back to the shipped definition (an admin's edit stays in the history)")] = False) -> None:
    """载入内置的场景和措施 / load the shipped scenarios and measures."""
    from xinyong.cli import database
    from xinyong.measures import service

    cfg, _vault, actor = vault_context()
    with database(cfg) as db:
        try:
            with db.session() as s:
                outcome = service.load_default(s, actor=actor, update_existing=update)
        except service.MeasuresError as exc:  # nothing of the load is kept; the refusal is registered, as
            kind, code = getattr(exc, "refused", ("measure", None))  # the API's and the page's saves are
            with db.session() as s:
                service.record_save_error(s, actor=actor, kind=kind, code=code, exc=exc, via="cli")
            errors = exc.errors or []
            where = f" ({kind} {code}: {errors[0].get('field')})" if errors else f" ({kind} {code})"
            _fail(f"{exc.zh}{where}，未载入任何定义", f"{exc.en}{where}; nothing was loaded")
    counts: dict[str, int] = {}
    for what in outcome.values():
        counts[what] = counts.get(what, 0) + 1
    typer.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


@measures_app.command("list")
def list_command() -> None:
    """列出措施 / list the measures."""
    from xinyong.cli import database
    from xinyong.measures import service

    cfg, _vault, _actor = vault_context()
    with database(cfg) as db, db.session(write=False) as s:
        _scenarios, measures = service.definitions(s)
    for m in measures:
        typer.echo(f"{m['code']}\t{m['kind']}\tv{m['version']}\t{m['name_zh']} / {m['name_en']}\t"
                   f"{','.join(m['applies_to'])}\t{','.join(m['scenarios'])}")
