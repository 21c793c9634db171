"""`xinyong records …` (`xinyong maintain` itself is in xinyong.cli: the daily upkeep of every domain)."""

from __future__ import annotations

import typer

from xinyong.audit.service import Actor

app = typer.Typer(help="信用记录 / credit records", no_args_is_help=True)


@app.command("recompute-display")
def recompute_display(item: str = typer.Argument(..., help="Catalog item code")) -> None:
    """按事项当前的公示规则重算已有记录（目录修改后）/ apply an item's current display rule to its existing records."""
    from xinyong.cli_support import fail, open_database
    from xinyong.records.service import RecordError, recompute_refused
    from xinyong.records.service import recompute_display as run

    with open_database() as db, db.session() as s:
        try:
            n = run(s, item_code=item, actor=Actor.system("cli"))
        except RecordError as exc:  # registered as the API's and the page's refusals are
            recompute_refused(s, Actor.system("cli"), item, exc, "cli")
            fail(exc.message)
    typer.echo(f"{item}: {n} 条记录已更新 / records updated")
