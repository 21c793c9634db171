"""Helpers for the domains' CLI commands: the same database checks as the root CLI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer

from xinyong.db import Database


@contextmanager
def open_database() -> Iterator[Database]:
    """The configured database, reachable and migrated to head (see :func:`xinyong.cli.database`)."""
    from xinyong.cli import database, settings

    with database(settings()) as db:
        yield db


def open_vault():  # type: ignore[no-untyped-def]
    from xinyong.cli import load_ring, settings
    from xinyong.privacy.vault import Vault, set_vault

    vault = Vault(load_ring(settings()))
    set_vault(vault)
    return vault


def vault_context() -> tuple[Any, Any, Any]:
    """(settings, the vault of the configured key file, the CLI's audit actor), for commands that
    encrypt or index."""
    from xinyong.cli import cli_actor, settings

    return settings(), open_vault(), cli_actor()


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` (it may echo what the operator typed: any ID number in it masked) and exit."""
    from xinyong.privacy.masking import mask_id_numbers_in

    typer.echo(mask_id_numbers_in(message), err=True)
    raise typer.Exit(code)
