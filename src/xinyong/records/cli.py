"""`xinyong maintain` and `xinyong records …`."""

from __future__ import annotations

from datetime import date

import typer

from xinyong.audit.service import Actor

app = typer.Typer(help="信用记录 / credit records", no_args_is_help=True)


def maintain(today: str = typer.Option(None, "--today", help="Run as of this date (YYYY-MM-DD); default today")) -> None:
    """Daily upkeep: end display of records past their display period, archive those past retention.

    Safe to run twice: the second run finds nothing to do."""
    from xinyong.cli_support import open_database
    from xinyong.records.service import maintain as run

    day = date.fromisoformat(today) if today else None
    with open_database() as db, db.session() as s:
        res = run(s, actor=Actor.system("maintain"), today=day)
    typer.echo(f"展示期满 / display ended: {res.expired}")
    typer.echo(f"已归档 / archived: {res.archived}")


@app.command("recompute-display")
def recompute_display(item: str = typer.Argument(..., help="Catalog item code")) -> None:
    """Apply an item's current display rule to its existing records (after a catalog change)."""
    from xinyong.cli_support import fail, open_database
    from xinyong.records.service import RecordError
    from xinyong.records.service import recompute_display as run

    try:
        with open_database() as db, db.session() as s:
            n = run(s, item_code=item, actor=Actor.system("cli"))
    except RecordError as exc:
        fail(exc.message)
    typer.echo(f"{item}: {n} 条记录已更新 / records updated")
