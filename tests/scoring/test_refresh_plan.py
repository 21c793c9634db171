"""A batch's refresh reads only that batch's subjects, records, list entries and stored statuses,
through their indexes, however many rows the tables hold and whether or not the planner has
statistics for them (a table filling up during a bulk load has none). Before, PostgreSQL read the
whole ``records`` and ``subject_status`` tables once per batch of 1,000 subjects (55 of the
statement's 85 ms at 200,000 records, growing with the table) and compiled the plan (JIT) for longer
than it ran; then, until the ninth session, the whole ``subjects`` table whenever its cost model
preferred that (5.6 of 22 ms at 30,000 subjects) and every listed entry of the platform."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import event, insert, select
from tests.scoring.scoring_support import TODAY, setup

from xinyong.lists.models import ListEntry
from xinyong.records.models import Record
from xinyong.scoring import service
from xinyong.scoring.models import SubjectStatus
from xinyong.subjects.models import Subject

N_SUBJECTS = 3000  # two records each: enough pages that reading the whole table is the planner's choice


def _fill(session: Any, department_id: int) -> list[int]:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    conn = session.connection()
    conn.execute(insert(Subject.__table__), [
        {"id_bidx": f"plan-{i:06d}", "id_cipher": b"x", "name_cipher": b"x", "key_id": "k1",
         "created_at": now, "updated_at": now}
        for i in range(N_SUBJECTS)])
    ids = list(session.scalars(select(Subject.id).where(Subject.id_bidx.like("plan-%")).order_by(Subject.id)))
    conn.execute(insert(Record.__table__), [
        {"department_id": department_id, "source_id": f"P{sid}-{k}", "subject_id": sid, "item_code": "admin_penalty",
         "item_id": 1, "category": "bad", "severity": "general", "decided_at": date(2026, 6, 1),
         "fields": {"decision_no": "1"}, "content_hash": f"{sid}-{k}", "revision": 1, "status": "active",
         "publish": True, "min_display_until": date(2026, 9, 1), "display_until": date(2027, 6, 1),
         "received_at": now, "updated_at": now, "change_kind": "push"}
        for sid in ids for k in range(2)])
    conn.execute(insert(SubjectStatus.__table__), [
        {"subject_id": sid, "score": 1000, "grade": "A", "ruleset_version": 1, "lists": [], "red": False,
         "dishonest": False, "clean_3y": True, "updated_at": now} for sid in ids])
    # every subject on a list: reading the listed entries by their status would read them all
    conn.execute(insert(ListEntry.__table__), [
        {"list_code": "key_supervision", "subject_id": sid, "status": "listed", "source": "decision",
         "reason": "plan", "proposed_at": now, "listed_on": date(2026, 7, 1), "updated_at": now} for sid in ids])
    return ids


KEYED = {"subjects": "id", "records": "subject_id", "list_entries": "subject_id", "subject_status": "subject_id"}


def _unkeyed_reads(conn: Any, statement: str, parameters: Any) -> dict[str, str]:
    """The reads, in a plan of ``statement`` (with these parameters' values), of the tables of
    :data:`KEYED` that are not a lookup by the subject (``table: how it is read``): a whole-table
    scan, or an index walked without the subject in its condition."""
    bad: dict[str, str] = {}
    if conn.dialect.name == "postgresql":
        [(plan,)] = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).all()

        def walk(node: dict[str, Any]) -> None:
            table = node.get("Relation Name")
            if table in KEYED:
                cond = node.get("Index Cond") or node.get("Recheck Cond") or ""
                key = KEYED[table]
                if node["Node Type"] == "Seq Scan" or f"{key} =" not in cond:
                    bad[table] = f"{node['Node Type']} {node.get('Index Name', '')} {cond}"
                if node["Node Type"] == "Bitmap Heap Scan" and node.get("Plans"):
                    return  # its bitmap index scan is the same read
            for child in node.get("Plans", []):
                walk(child)

        walk(plan[0]["Plan"])
        return bad
    for *_ids, detail in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all():
        words = detail.split()
        if len(words) > 1 and words[0] in ("SCAN", "SEARCH") and words[1] in KEYED:
            key = "rowid" if words[1] in ("subjects", "subject_status") else KEYED[words[1]]  # their primary keys
            if words[0] == "SCAN" or f"({key}=" not in detail:
                bad[words[1]] = detail
    return bad


def test_a_batch_refresh_reads_its_records_and_statuses_by_index(session) -> None:  # type: ignore[no-untyped-def]
    dept = setup(session)
    ids = _fill(session, dept.id)
    batch = ids[1000:2000]
    seen: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "mine" in statement and "subject_status" in statement:
            seen.append((statement, parameters))

    conn = session.connection()
    event.listen(conn.engine, "before_cursor_execute", capture)
    try:
        assert service.refresh(session, batch, today=TODAY) == len(batch)
    finally:
        event.remove(conn.engine, "before_cursor_execute", capture)
    [(statement, parameters)] = seen
    assert _unkeyed_reads(conn, statement, parameters) == {}
    if conn.dialect.name == "postgresql":
        # its estimate (before statistics) passes jit_above_cost: compiling cost more than running
        assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
    # and it computed what it read: two general penalties each, within the window
    statuses = dict(session.execute(select(SubjectStatus.subject_id, SubjectStatus.score)
                                    .where(SubjectStatus.subject_id.in_(batch[:5]))).all())
    assert len(set(statuses.values())) == 1 and statuses[batch[0]] < 1000
    lists = session.scalar(select(SubjectStatus.lists).where(SubjectStatus.subject_id == batch[0]))
    assert [e["code"] for e in lists] == ["key_supervision"]
