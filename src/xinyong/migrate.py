"""Run the shipped Alembic migrations programmatically (``xinyong init``, ``xinyong db upgrade``, tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from xinyong.db import Database
    from xinyong.privacy.keys import KeyRing

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(url: str | None = None, connection: Connection | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url, connection), revision)


def downgrade(revision: str, url: str | None = None, connection: Connection | None = None,
              key_ring: KeyRing | None = None) -> None:
    """Migrate down to ``revision``. A downgrade that brings back what the platform no longer stores
    in the clear (0019: subjects' birth date, gender and region) decrypts it with ``key_ring``, or
    the configured key file if none is given."""
    cfg = alembic_config(url, connection)
    if key_ring is not None:
        cfg.attributes["key_ring"] = key_ring
    command.downgrade(cfg, revision)


def current_heads(connection: Connection) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    return set(MigrationContext.configure(connection).get_current_heads())


def script_heads() -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def scratch_database(pg_url: str | None, *, sqlite_file: Path, schema: str, revision: str = "head"
                     ) -> tuple[str, Database, Callable[[], None]]:
    """A new database built by the migrations (up to ``revision``), for the test suite's and the
    benchmarks' runs: the SQLite file ``sqlite_file`` (its folder the caller's to remove), or, given
    ``pg_url``, the new schema ``schema`` on that PostgreSQL server. Returns its URL, the database,
    and ``drop()``, which disposes of the database and removes the schema."""
    from sqlalchemy import text

    from xinyong.db import Database, with_search_path

    if pg_url is None:
        url = f"sqlite:///{sqlite_file}"
        upgrade(url, revision=revision)
        db = Database(url)
        return url, db, db.dispose
    admin = Database(pg_url)
    with admin.engine.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = with_search_path(pg_url, schema)
    db = Database(url)
    with db.engine.begin() as c:
        upgrade(connection=c, revision=revision)

    def drop() -> None:
        db.dispose()
        with admin.engine.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url, db, drop
