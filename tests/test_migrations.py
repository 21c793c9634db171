"""The shipped migrations build exactly the schema the models describe, on both engines."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from xinyong import migrate
from xinyong.models import metadata


# SQLite's reflection has no expression indexes, so alembic skips comparing this one there (with
# these warnings); tests/measures/test_register_subject_index.py checks it on both engines.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index ix_checks_subject_key")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index 'ix_checks_subject_key'")
def test_migrations_match_the_models(engine):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == [], diff
        assert migrate.current_heads(conn) == migrate.script_heads()


def test_one_head_and_a_linear_history():
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(scripts.get_heads()) == 1
    revisions = list(scripts.walk_revisions())
    assert all(len(r._all_down_revisions) <= 1 for r in revisions)
    assert [r.revision for r in reversed(revisions)] == sorted(r.revision for r in revisions)
