"""`xinyong calendar show|import|set|unset`: the holiday table (see xinyong.holidays.service)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

app = typer.Typer(help="节假日安排（工作日计算）/ the holiday table (working days)", no_args_is_help=True)


def _day(value: str) -> date:
    from xinyong.cli_support import fail

    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        fail("日期格式应为 YYYY-MM-DD / the day must be YYYY-MM-DD", 2)


def _refused(exc: Exception) -> None:
    from xinyong.cli_support import fail
    from xinyong.holidays.service import HolidayError

    assert isinstance(exc, HolidayError)
    fail("\n".join(e["message"] for e in exc.api_errors()))


@app.command("show")
def show(year: int = typer.Option(None, "--year", help="只列出这一年 / only this year")) -> None:
    """年份覆盖情况与管理员录入的日期 / the years covered, and the days entered."""
    from xinyong import clock, workdays
    from xinyong.cli_support import open_database
    from xinyong.holidays import service

    with open_database() as db, db.session(write=False) as s:
        cover = service.coverage(s)
        days = service.days_of(s, year)
    for c in cover:
        if year is not None and c["year"] != year:
            continue
        source = "表 / table" if c["table"] else "chinesecalendar"
        extra = f"\t放假 / holidays {c['holidays']}\t上班 / workdays {c['workdays']}" if c["table"] else ""
        typer.echo(f"{c['year']}\t{source}{extra}")
    for d in days:
        zh, en = service.KIND_NAMES[d.kind]
        typer.echo(f"{d.day.isoformat()}\t{d.kind}\t{zh} / {en}\t{d.name}")
    for y in workdays.uncovered_years(clock.today()):
        typer.echo(f"警告：{y} 年的节假日安排尚未录入，按周一至周五计算工作日（xinyong calendar import） / warning: "
                   f"{y}'s holiday schedule is not entered; working days are counted Monday-Friday", err=True)


@app.command("import")
def import_(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                help="安排文件（UTF-8 或 GBK）：每行 日期[..日期] holiday|workday [名称] / a schedule file"),
    note: str = typer.Option("", "--note", help="依据（如国务院办公厅通知文号）/ the basis (the notice)"),
) -> None:
    """导入一年（或几年）的节假日安排，整体替换这些年份 / import a schedule, replacing the years it names."""
    from xinyong.cli import cli_actor
    from xinyong.cli_support import open_database
    from xinyong.holidays import service

    data = file.read_bytes()
    text: str | None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:  # Notepad's "ANSI" and Excel's CSV on Chinese Windows: GBK, as the imports read a file
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            text = None
    actor = cli_actor()
    with open_database() as db:
        try:
            if text is None:
                raise service.HolidayError([("schedule", "wrong_encoding", "文件应为 UTF-8 或 GBK 编码的文本",
                                             "the file must be UTF-8 or GBK text")])
            days = service.parse_schedule(text)
            with db.session() as s:
                out = service.import_schedule(s, days=days, actor=actor, note=note)
        except service.HolidayError as exc:
            with db.session() as s:  # refused: nothing changed, and the attempt registered, as the page does
                service.record_import_refusal(s, actor=actor, error=exc)
            _refused(exc)
        extended = service.apply(db, actor=actor)
    years = ", ".join(map(str, out["years"]))  # type: ignore[call-overload]
    added = out["added_before"]
    typer.echo(f"{years}: 放假 / holidays {out['holidays']}, 上班 / workdays {out['workdays']} "
               f"(替换 / replaced {out['replaced']})"
               + (f"; 加入上一年 / added to the year before: {', '.join(added)}" if added else ""))  # type: ignore[call-overload]
    if extended:
        typer.echo(f"申辩期限已顺延 / defence deadlines extended: {extended}")


@app.command("set")
def set_(
    day: str = typer.Argument(..., help="YYYY-MM-DD"),
    kind: str = typer.Argument(..., help="holiday | workday"),
    name: str = typer.Option("", "--name", help="名称 / name, e.g. 元旦"),
) -> None:
    """更正一天（该年已有安排）/ correct one day of a year already covered."""
    from xinyong.cli import cli_actor
    from xinyong.cli_support import open_database
    from xinyong.holidays import service

    try:
        with open_database() as db:
            with db.session() as s:
                service.set_day(s, day=_day(day), kind=kind, name=name, actor=cli_actor())
            extended = service.apply(db, actor=cli_actor())
    except service.HolidayError as exc:
        _refused(exc)
    typer.echo(f"{day}\t{kind}\t{name}")
    if extended:
        typer.echo(f"申辩期限已顺延 / defence deadlines extended: {extended}")


@app.command("unset")
def unset(day: str = typer.Argument(..., help="YYYY-MM-DD")) -> None:
    """删除一天的录入 / remove one day's entry."""
    from xinyong.cli import cli_actor
    from xinyong.cli_support import open_database
    from xinyong.holidays import service

    with open_database() as db:
        with db.session() as s:
            found = service.unset_day(s, day=_day(day), actor=cli_actor())
        # removing a weekend day worked (or a library day's correction) can lengthen open periods too
        extended = service.apply(db, actor=cli_actor()) if found else 0
    typer.echo(f"{day}\t{'已删除 / removed' if found else '无此录入 / no such entry'}")
    if extended:
        typer.echo(f"申辩期限已顺延 / defence deadlines extended: {extended}")
