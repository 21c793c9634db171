"""`xinyong rescore` and `xinyong scoring load|show|validate`."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import typer

from xinyong.audit.service import Actor

app = typer.Typer(help="诚信积分规则 / scoring rulesets", no_args_is_help=True)

TodayOpt = typer.Option(None, "--today", help="按此日期运行（YYYY-MM-DD），默认今天 / run as of this date; default today")


def _day(value: str | None) -> date:
    from xinyong import clock
    from xinyong.cli_support import fail

    if not value:
        return clock.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"日期格式应为 YYYY-MM-DD：{value[:20]} / dates are YYYY-MM-DD")


def _read(file: Path) -> str:
    from xinyong.cli_support import fail

    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"无法读取文件 {file} / cannot read {file}: {type(exc).__name__}")


def _refusal(exc: Exception) -> None:
    from xinyong.cli_support import fail
    from xinyong.scoring.ruleset import RulesetError

    if isinstance(exc, RulesetError):
        from xinyong.privacy.masking import mask_id_numbers_in

        for e in exc.errors:  # a key or value read from the file (an unknown key…): masked, as fail() masks
            typer.echo(mask_id_numbers_in(f"{e['field']}\t{e['message']}"), err=True)
        fail(exc.message)
    fail(str(exc))


def rescore(today: str = TodayOpt,
            allow_future: bool = typer.Option(False, "--allow-future", help="允许晚于今天的日期：仅用于在数据库副本上演练 / "
                                              "allow a day after today: only to rehearse on a copy of the database")
            ) -> None:
    """重算全部主体的积分、等级与状态（可重复运行）/ recompute every subject's score, grade and status (safe to repeat).
    A --today after the district's today is refused (audited) unless --allow-future: checks would answer
    the grades of a day not come until the next rescore."""
    from xinyong.cli import guard_day
    from xinyong.cli_support import open_database
    from xinyong.scoring import service

    day = _day(today)
    started = time.perf_counter()
    with open_database() as db:
        guard_day(db, day if today else None, allow_future=allow_future, action="scoring.rescore", given=today)
        with db.session() as s:
            n = service.rescore(s, today=day, actor=Actor.system("cli"))
            version = service.active_version(s, today=day)
    typer.echo(f"已重新计算 / rescored: {n} 个信用主体 / subjects, 规则版本 / ruleset v{version}, "
               f"{time.perf_counter() - started:.1f} s")


@app.command("load")
def load(file: Path = typer.Argument(None, help="Ruleset YAML (default: the shipped default, if none is stored)"),
         effective_from: str = typer.Option(None, "--effective-from", help="YYYY-MM-DD; default the file's or today"),
         note: str = typer.Option(None, "--note")) -> None:
    """将评分规则存为新版本（有误时指出行号与原因）/ store a ruleset as a new version (refused with line and reason)."""
    from xinyong.cli_support import open_database
    from xinyong.scoring import service
    from xinyong.scoring.ruleset import RulesetError

    day = _day(None)
    eff = _day(effective_from) if effective_from else None
    actor = Actor.system("cli")
    with open_database() as db, db.session() as s:
        try:
            if file is None:
                service.ensure_default(s, actor=actor)
                row = service.versions(s)[0]
            else:
                service.ensure_default(s, actor=actor)
                row = service.save_ruleset(s, text_=_read(file), actor=actor, effective_from=eff,
                                           today=day, note=note)
            version, effective = row.version, row.effective_from
        except (RulesetError, service.ScoringError) as exc:  # registered as the API's and the page's refusals are
            service.record_ruleset_refused(s, actor=actor, action="scoring.ruleset_create", code=exc.code,
                                           line=getattr(exc, "line", None), field=exc.field, via="cli")
            _refusal(exc)
    typer.echo(f"规则版本 / ruleset v{version}, 生效日期 / effective from {effective}")


@app.command("show")
def show(version: int = typer.Argument(None, help="Version (default: the active one)"),
         today: str = TodayOpt) -> None:
    """显示已存的评分规则（默认为现行版本），版本列表为注释 / print a stored ruleset (the active one by default), the versions as YAML comments."""
    from xinyong.cli_support import fail, open_database
    from xinyong.scoring import service

    day = _day(today)
    with open_database() as db, db.session() as s:
        service.ensure_default(s, actor=Actor.system("cli"))
        active = service.active_version(s, today=day)
        row = service.get_version(s, version or active or 0)
        if row is None:
            fail(f"没有评分规则版本 {version} / no ruleset version {version}")
        # the version list as YAML comments, so that the output is a file `scoring load` takes back
        for r in service.versions(s):
            mark = "*" if r.version == active else " "
            note = " ".join((r.note or "").splitlines())
            typer.echo(f"# {mark} v{r.version}\t{r.effective_from}\t{r.created_by or ''}\t{note}")
        typer.echo("#")
        typer.echo(row.source)


@app.command("validate")
def validate(file: Path = typer.Argument(..., help="Ruleset YAML")) -> None:
    """校验评分规则文件而不保存 / check a ruleset file against the catalog without storing it."""
    from xinyong.cli_support import open_database
    from xinyong.scoring import service
    from xinyong.scoring.ruleset import RulesetError

    try:
        with open_database() as db, db.session() as s:
            rs = service.validate(s, _read(file))
    except RulesetError as exc:
        _refusal(exc)
    typer.echo(f"有效 / valid: {len(rs.rules)} 条规则 / rules, {len(rs.bands)} 个等级 / grades")
