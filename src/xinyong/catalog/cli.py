"""`xinyong catalog …`: load the shipped default catalog, list items."""

from __future__ import annotations

import typer

from xinyong.audit.service import Actor

app = typer.Typer(help="信息目录 / the information catalog", no_args_is_help=True)


def _db():  # type: ignore[no-untyped-def]
    from xinyong.cli_support import open_database

    return open_database()


@app.command("load")
def load(update: bool = typer.Option(False, "--update", help="Add new versions for items whose default changed")) -> None:
    """载入内置的信息目录（可重复运行）/ load the default catalog shipped with xinyong (safe to run twice)."""
    from xinyong.catalog.service import load_default

    with _db() as db, db.session() as s:
        outcome = load_default(s, actor=Actor.system("cli"), update_existing=update)
    for code, what in outcome.items():
        typer.echo(f"{code}\t{what}")


@app.command("list")
def list_items() -> None:
    """列出当前的目录事项 / list the current catalog items."""
    from xinyong.catalog.service import current_items

    with _db() as db, db.session() as s:
        for code, item in current_items(s).items():
            sev = ",".join(item.spec.severities or ())
            typer.echo(f"{code}\tv{item.version}\t{item.spec.category}\t{item.spec.visibility}\t{item.spec.name}\t{sev}")
