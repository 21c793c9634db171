"""Print the Alembic operations that would bring a database at revision REV up to the models.

    .venv/bin/python scripts/migration_diff.py 0004

Builds a throw-away SQLite database at REV, compares it with ``xinyong.models.metadata`` and
prints upgrade and downgrade code (batch mode) to paste into that revision's migration file.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.autogenerate import produce_migrations, render_python_code
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from xinyong import migrate
from xinyong.models import metadata


def main(rev: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'diff.db'}")
        with engine.begin() as conn:
            cfg = migrate.alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, rev)
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn)
            ops = produce_migrations(ctx, metadata)
            opts = {"render_as_batch": True, "user_module_prefix": "xinyong.db."}
            print("def upgrade() -> None:")
            print(render_python_code(ops.upgrade_ops, **opts))
            print("\n\ndef downgrade() -> None:")
            print(render_python_code(ops.downgrade_ops, **opts))
        engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "head")
