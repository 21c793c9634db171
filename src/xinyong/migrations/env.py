"""Alembic environment, shipped inside the package; driven by ``xinyong.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from xinyong.db import make_engine
from xinyong.models import metadata

config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    engine = make_engine(url, poolclass=pool.NullPool) if url.startswith("sqlite") else make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    """Run the migrations on ``connection``. On SQLite, batch mode rebuilds a table by copying it and
    dropping the old one, which foreign-key enforcement (on for every connection, ``xinyong.db``)
    refuses as soon as another table's row refers to it. So enforcement is off while the migrations
    run, as SQLite's documented procedure for altering tables says, and ``PRAGMA foreign_key_check``
    before the commit fails the whole run (rolled back) if a reference was broken."""
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _foreign_keys(connection, on=False)
    try:
        _migrate(connection)
    finally:
        if sqlite:
            _foreign_keys(connection, on=True)


def _foreign_keys(connection, *, on: bool) -> None:  # type: ignore[no-untyped-def]
    """SQLite's ``PRAGMA foreign_keys`` is a no-op inside a transaction: a connection handed over in
    one (a caller's ``engine.begin()``) keeps enforcement on, and batch mode's copy may then fail."""
    if connection.in_transaction():
        return
    # on the driver's connection: SQLAlchemy's autobegin would wrap the pragma in a BEGIN (xinyong.db)
    connection.connection.driver_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _migrate(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds tables
        compare_type=True,
        version_table_schema=config.attributes.get("schema"),
        # SQLite's DDL is transactional too (Alembic assumes not, and commits each migration on its
        # own): one transaction for the run, so that a failed step or reference check leaves nothing
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(
                    f"迁移后有 {len(broken)} 行外键引用不存在的行（首个：表 {broken[0][0]}，第 {broken[0][1]} 行），"
                    f"已回滚 / after the migrations {len(broken)} rows refer to rows that do not exist (first: "
                    f"table {broken[0][0]}, row {broken[0][1]}); rolled back")


if context.is_offline_mode():  # pragma: no cover
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
