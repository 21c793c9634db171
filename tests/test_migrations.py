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


def test_0010_makes_the_listed_for_dishonesty_not_clean(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The statuses stored by the earlier rule (clean_3y beside a dishonesty listing) are brought in
    line by the upgrade; the others are left as they were."""
    import uuid

    from sqlalchemy import text
    from tests.support import PG_URL

    url, db, drop = migrate.scratch_database(PG_URL, sqlite_file=tmp_path / "m10.db",
                                             schema=f"xy_m10_{uuid.uuid4().hex[:8]}", revision="0009")
    try:
        with db.engine.begin() as c:
            for sid, dishonest in ((1, True), (2, False)):
                c.execute(text("INSERT INTO subjects (id, id_bidx, id_cipher, name_cipher, key_id, birth_date, gender, "
                               "region_code, created_at, updated_at) VALUES (:id, :b, :x, :x, 'k1', '1980-01-01', "
                               "'M', '120101', '2026-11-01', '2026-11-01')"), {"id": sid, "b": f"m10-{sid}", "x": b"x"})
                c.execute(text("INSERT INTO subject_status (subject_id, score, grade, ruleset_version, lists, red, "
                               "dishonest, clean_3y, updated_at) VALUES (:id, 1000, 'A', 1, '[]', :f, :d, :t, "
                               "'2026-11-01')"), {"id": sid, "d": dishonest, "f": False, "t": True})
        if db.engine.dialect.name == "sqlite":
            migrate.upgrade(url)
        else:  # the schema is the connection's search path
            with db.engine.begin() as c:
                migrate.upgrade(connection=c)
        with db.engine.connect() as c:
            flags = dict(c.execute(text("SELECT subject_id, clean_3y FROM subject_status ORDER BY subject_id")).all())
            assert {k: bool(v) for k, v in flags.items()} == {1: False, 2: True}
            assert migrate.current_heads(c) == migrate.script_heads()
    finally:
        drop()


def test_0013_keeps_on_each_notified_entry_how_its_notice_counted_the_deadline(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Entries notified before the upgrade get ``defence_from`` and ``defence_days`` from their notice's
    audit entry (the day the person was told, the working days they were given); others stay empty."""
    import json
    import uuid
    from datetime import date

    from sqlalchemy import text
    from tests.support import PG_URL

    url, db, drop = migrate.scratch_database(PG_URL, sqlite_file=tmp_path / "m13.db",
                                             schema=f"xy_m13_{uuid.uuid4().hex[:8]}", revision="0012")
    try:
        with db.engine.begin() as c:
            c.execute(text("INSERT INTO subjects (id, id_bidx, id_cipher, name_cipher, key_id, birth_date, gender, "
                           "region_code, created_at, updated_at) VALUES (1, 'm13', :x, :x, 'k1', '1980-01-01', "
                           "'M', '120101', '2026-11-01', '2026-11-01')"), {"x": b"x"})
            for eid, code in ((1, "serious_dishonesty"), (2, "key_supervision")):
                c.execute(text("INSERT INTO list_entries (id, list_code, subject_id, status, source, reason, "
                               "proposed_at, updated_at) VALUES (:id, :code, 1, 'notified', "
                               "'decision', 'r', '2026-11-01', '2026-11-01')"), {"id": eid, "code": code})
            c.execute(text("INSERT INTO audit_entries (occurred_at, actor_type, action, object_type, object_id, "
                           "outcome, details) VALUES ('2026-11-02', 'user', 'list_entry.notify', 'list_entry', '1', "
                           "'ok', :d)"), {"d": json.dumps({"notified_on": "2026-10-30", "working_days": 5})})
        if db.engine.dialect.name == "sqlite":
            migrate.upgrade(url)
        else:
            with db.engine.begin() as c:
                migrate.upgrade(connection=c)
        with db.engine.connect() as c:
            got = {i: (f, d) for i, f, d in c.execute(text(
                "SELECT id, defence_from, defence_days FROM list_entries ORDER BY id")).all()}
            assert {i: (str(f) if f else None, d) for i, (f, d) in got.items()} == {
                1: (str(date(2026, 10, 30)), 5), 2: (None, None)}
            assert migrate.current_heads(c) == migrate.script_heads()
    finally:
        drop()
