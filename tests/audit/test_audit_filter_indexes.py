"""The audit log's filters (the ``/audit`` page and ``GET /api/v1/audit/entries``, both through
``audit.service.list_entries``) are served by indexes (migration 0020), on both engines: a filtered
page of a year's log must not read the whole table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, text

from xinyong.audit import service

T0 = datetime(2026, 3, 1, tzinfo=UTC)
T1 = datetime(2026, 3, 8, tzinfo=UTC)


def _plan(session, **filters) -> str:  # type: ignore[no-untyped-def]
    """The plan of the statement ``list_entries`` runs with ``filters`` (PostgreSQL's with sequential
    scans priced out, so that the plan shows which indexes it could use on a large table)."""
    seen: list[tuple[str, object]] = []
    conn = session.connection()

    def grab(_conn, _cursor, statement, parameters, _context, _many):  # type: ignore[no-untyped-def]
        if "audit_entries" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", grab)
    try:
        service.list_entries(session, limit=51, **filters)
    finally:
        event.remove(conn, "before_cursor_execute", grab)
    statement, parameters = seen[-1]
    cursor = conn.connection.driver_connection.cursor()
    if conn.dialect.name == "sqlite":
        cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
        return "\n".join(str(r[-1]) for r in cursor.fetchall())
    conn.execute(text("SET LOCAL enable_seqscan = off"))
    cursor = conn.connection.driver_connection.cursor()
    cursor.execute("EXPLAIN " + statement, parameters)
    return "\n".join(str(r[0]) for r in cursor.fetchall())


@pytest.mark.parametrize(("filters", "indexes"), [
    ({"occurred_from": T0, "occurred_before": T1}, ["ix_audit_entries_occurred_at"]),
    ({"occurred_from": T0}, ["ix_audit_entries_occurred_at"]),
    ({"occurred_before": T1}, ["ix_audit_entries_occurred_at"]),
    ({"actor": "clerk_x"}, ["ix_audit_entries_actor_label", "ix_audit_entries_actor_id"]),
    ({"action": "records.push"}, ["ix_audit_entries_action"]),
])
def test_each_filter_is_read_through_its_index(session, filters, indexes):
    plan = _plan(session, **filters)
    for name in indexes:
        assert name in plan, plan
    assert "SCAN audit_entries\n" not in plan + "\n", plan  # SQLite: no walk of the whole table
    assert "pk_audit_entries" not in plan, plan  # PostgreSQL: no backward walk of the primary key


def test_0020_goes_down_and_up_again(tmp_path):
    """The downgrade drops the filters' indexes and brings back the actor's old one; the upgrade again."""
    import uuid

    from sqlalchemy import inspect
    from tests.support import PG_URL

    from xinyong import migrate

    def indexes(db) -> set[str]:  # type: ignore[no-untyped-def]
        with db.engine.connect() as c:
            return {i["name"] for i in inspect(c).get_indexes("audit_entries")}

    new = {"ix_audit_entries_occurred_at", "ix_audit_entries_actor_label", "ix_audit_entries_actor_id",
           "ix_audit_entries_action"}
    url, db, drop = migrate.scratch_database(PG_URL, sqlite_file=tmp_path / "m20.db",
                                             schema=f"xy_m20_{uuid.uuid4().hex[:8]}")
    try:
        assert new <= indexes(db) and "ix_audit_entries_actor" not in indexes(db)
        if db.engine.dialect.name == "sqlite":
            migrate.downgrade("0019", url)
        else:
            with db.engine.begin() as c:
                migrate.downgrade("0019", connection=c)
        assert not new & indexes(db) and "ix_audit_entries_actor" in indexes(db)
        if db.engine.dialect.name == "sqlite":
            migrate.upgrade(url)
        else:
            with db.engine.begin() as c:
                migrate.upgrade(connection=c)
        assert new <= indexes(db) and "ix_audit_entries_actor" not in indexes(db)
    finally:
        drop()
