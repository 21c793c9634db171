"""Small helpers shared by the domains' CLI commands (the root CLI is xinyong.cli)."""

from __future__ import annotations

from typing import NoReturn

import typer

from xinyong.config import get_settings
from xinyong.db import Database


def open_database() -> Database:
    return Database(get_settings().database_url)


def open_vault():  # type: ignore[no-untyped-def]
    from xinyong.privacy.vault import Vault, set_vault

    vault = Vault.from_file(get_settings().key_file)
    set_vault(vault)
    return vault


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)
