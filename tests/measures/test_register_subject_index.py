"""The check register is indexed by a prefix of the subject's blind index (``ix_checks_subject_key``):
the index is there on both engines, :func:`register_of_subject` reads through it, and a row whose
blind index merely shares the prefix is not returned."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from tests.support import SYSTEM

from xinyong import bulk
from xinyong.db import utcnow
from xinyong.measures import service
from xinyong.measures.models import SUBJECT_KEY_CHARS, Check

PREFIX = "ab" * (SUBJECT_KEY_CHARS // 2)
MINE = PREFIX + "0" * (64 - SUBJECT_KEY_CHARS)
TWIN = PREFIX + "1" * (64 - SUBJECT_KEY_CHARS)  # same prefix, another person
OTHER = "cd" * 32


def _register(session, world, bidxs: list[str]) -> None:  # type: ignore[no-untyped-def]
    caller = service.Caller(world.dept_a.id, world.dept_a.code, SYSTEM)
    now = utcnow()
    rows = [service._register_row(caller, check_id=f"{i:032x}", checked_at=now + timedelta(seconds=i), channel="api",
                                  scenario="awards", bidx=b, subject_id=None, outcome="answered", grade="B")
            for i, b in enumerate(bidxs)]
    bulk.insert_rows(session, Check.__table__, rows)


def test_the_index_holds_the_prefix_on_both_engines(session):  # type: ignore[no-untyped-def]
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'ix_checks_subject_key'").scalar()
        assert sql is not None and f"substr(subject_bidx, 1, {SUBJECT_KEY_CHARS})" in sql
    else:
        sql = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_checks_subject_key' "
                                "AND schemaname = current_schema()")).scalar()
        assert sql is not None and f"substr((subject_bidx)::text, 1, {SUBJECT_KEY_CHARS})" in sql
    names = {r[0] for r in conn.execute(text(
        "SELECT name FROM sqlite_master WHERE type = 'index'" if conn.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE tablename = 'checks' AND schemaname = current_schema()"))}
    assert "ix_checks_subject" not in names  # the whole-blind-index index is gone


def test_a_persons_rows_come_newest_first_without_their_prefix_twins(session, world):  # type: ignore[no-untyped-def]
    _register(session, world, [MINE, TWIN, OTHER, MINE, TWIN, MINE])
    got = service.register_of_subject(session, MINE)
    assert [c.check_id for c in got] == [f"{i:032x}" for i in (5, 3, 0)]
    assert {c.subject_bidx for c in got} == {MINE}
    page = service.register_of_subject(session, MINE, limit=2)
    assert [c.check_id for c in page] == [f"{i:032x}" for i in (5, 3)]
    rest = service.register_of_subject(session, MINE, limit=2, before_id=page[-1].id)
    assert [c.check_id for c in rest] == [f"{0:032x}"]
    assert service.register_of_subject(session, "ef" * 32) == []


def test_the_reader_uses_the_index(session, world):  # type: ignore[no-untyped-def]
    _register(session, world, [MINE, OTHER])
    conn = session.connection()
    q = service.register_query(MINE)
    compiled = q.compile(dialect=conn.dialect)
    params = compiled.params
    if conn.dialect.name == "sqlite":
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}",
                                                                 tuple(params[k] for k in compiled.positiontup)))
    else:
        conn.execute(text("SET LOCAL enable_seqscan = off"))  # a handful of rows: a scan would win otherwise
        sql = q.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        plan = " ".join(r[0] for r in conn.execute(text(f"EXPLAIN {sql}")))
    assert "ix_checks_subject_key" in plan, plan
