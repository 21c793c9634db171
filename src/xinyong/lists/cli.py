"""`xinyong lists load|refresh|expire`."""

from __future__ import annotations

from datetime import date

import typer

app = typer.Typer(help="守信红名单与失信名单 / red lists and dishonesty lists", no_args_is_help=True)

TodayOption = typer.Option(None, "--today", help="按此日期运行（YYYY-MM-DD），默认今天；不得晚于今天 / run as of this date; "
                                                  "default today; not after today")
FutureOption = typer.Option(False, "--allow-future", help="允许晚于今天的日期：仅用于在数据库副本上演练 / allow a day after "
                                                          "today: only to rehearse on a copy of the database")


def _day(value: str | None) -> date | None:
    from xinyong.cli_support import fail

    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail("日期格式应为 YYYY-MM-DD / --today must be YYYY-MM-DD", 2)


@app.command("load")
def load(update: bool = typer.Option(False, "--update", help="Add new versions of kinds whose default changed")) -> None:
    """载入内置的名单种类（可重复运行）/ load the list kinds shipped with xinyong (safe to run twice)."""
    from xinyong.cli import cli_actor
    from xinyong.cli_support import fail, open_database
    from xinyong.lists.service import ListError, load_default

    try:
        with open_database() as db, db.session() as s:
            outcome = load_default(s, actor=cli_actor(), update_existing=update)
    except ListError as exc:
        fail(exc.message)
    for code, what in outcome.items():
        typer.echo(f"{code}\t{what}")


@app.command("refresh")
def refresh(today: str = TodayOption, allow_future: bool = FutureOption) -> None:
    """重算按规则认定的红名单（列入符合者，移出不再符合者）/ recompute the rule-based red lists."""
    from xinyong.cli import cli_actor, guard_day
    from xinyong.cli_support import open_database
    from xinyong.lists.service import refresh as run

    day = _day(today)
    with open_database() as db:
        guard_day(db, day, allow_future=allow_future, action="lists.refresh", given=today)
        with db.session() as s:
            out = run(s, today=day, actor=cli_actor())
    for code, counts in out.items():
        typer.echo(f"{code}\t列入 / added: {counts['added']}\t移出 / removed: {counts['removed']}")


@app.command("expire")
def expire(today: str = TodayOption, allow_future: bool = FutureOption) -> None:
    """移出名单期限已届满的条目 / remove listed entries whose listing period has ended."""
    from xinyong.cli import cli_actor, guard_day
    from xinyong.cli_support import open_database
    from xinyong.lists.service import expire as run

    day = _day(today)
    with open_database() as db:
        guard_day(db, day, allow_future=allow_future, action="lists.expire", given=today)
        with db.session() as s:
            n = run(s, today=day, actor=cli_actor())
    typer.echo(f"到期移出 / expired: {n}")
