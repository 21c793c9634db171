"""The ingestion fast paths say exactly what the general code says: compiled field checkers against
``coerce_field``, the bulk sealing calls against the vault's ordinary ones, numbered inserts against
the ids the database stored."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import ARRAY, String, cast, literal, select
from sqlalchemy.exc import IntegrityError
from tests.records.records_support import penalty
from tests.support import SYSTEM, new_id_number

from xinyong import bulk
from xinyong.auth.service import add_department
from xinyong.catalog.service import load_default
from xinyong.catalog.spec import FieldSpec, _parse_date_text, coerce_field, compile_field, parse_date
from xinyong.db import utcnow
from xinyong.privacy import identity
from xinyong.records import service as rsvc
from xinyong.records.models import Record
from xinyong.records.service import DepartmentRef, content_hash, ingest
from xinyong.subjects.models import Subject
from xinyong.subjects.service import register

FIELDS = [
    FieldSpec("a", "a", "integer", min=0, max=100),
    FieldSpec("b", "b", "number"),
    FieldSpec("c", "c", "number", min=-1.5, max=2),
    FieldSpec("d", "d", "string", max_length=5),
    FieldSpec("e", "e", "text"),
    FieldSpec("f", "f", "enum", allowed=("x", "1")),
]
VALUES = st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.text(max_size=8),
                   st.sampled_from(["1,000", " 4 ", "x", "a\tb", "a\x00b", "\u3000x", "1e3"]))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FIELDS), VALUES)
def test_compiled_checkers_agree_with_coerce_field(f: FieldSpec, v: object) -> None:
    fast, slow = compile_field(f)(v), coerce_field(f, v, f"fields.{f.name}")
    assert fast[1] == slow[1]
    if slow[1] is None:
        assert fast[0] == slow[0] and type(fast[0]) is type(slow[0])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_parse_date_memo_gives_the_same_answer_twice(s: str) -> None:
    first = parse_date(s)
    assert parse_date(s) == first == _parse_date_text(s)


def test_content_hash_is_unchanged_by_the_date_encoding() -> None:
    import hashlib

    import orjson

    fields = {"b": 1, "a": "x"}
    old = hashlib.sha256(orjson.dumps(["honor", 7, None, "2024-01-05", fields], option=orjson.OPT_SORT_KEYS))
    assert content_hash("honor", 7, None, date(2024, 1, 5), fields) == old.hexdigest()


def test_bulk_sealing_equals_the_vault_s_ordinary_calls(vault) -> None:  # type: ignore[no-untyped-def]
    number = new_id_number()
    facts = identity.check(number)
    bidx = vault.lookup_key_checked(facts)
    assert bidx == vault.lookup_key(number) == vault.lookup_key(number.lower() + " ")
    sealed = vault.seal_checked(facts, "李四", bidx)
    assert sealed.id_bidx == bidx and sealed.key_id == vault.cipher.active_key_id
    assert vault.reveal_id(bidx, sealed.id_cipher, sealed.key_id) == number
    assert vault.reveal_name(bidx, sealed.name_cipher, sealed.key_id) == "李四"
    assert sealed.id_cipher[:12] != sealed.name_cipher[:12]  # two nonces


def test_numbered_inserts_return_the_stored_ids(session, vault) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    rows = []
    for _ in range(3):
        s = vault.seal_subject(new_id_number(), "王五")
        rows.append((s.id_bidx, s.id_cipher, s.name_cipher, s.key_id, now, now))
    cols = ("id_bidx", "id_cipher", "name_cipher", "key_id", "created_at", "updated_at")
    got = bulk.insert_tuples(session, Subject.__table__, cols, rows, returning=("id", "id_bidx"))
    stored = {b: i for b, i in session.execute(
        select(Subject.id_bidx, Subject.id).where(Subject.id_bidx.in_([r[0] for r in rows])))}
    assert {b: i for i, b in got} == stored and len(stored) == 3


ODD_SOURCE_IDS = ["a,b", 'c"d', "e\\f", "{h}", "NULL", "x'y", "中文 编号", "1", "%s"]


def test_repeat_pushes_find_records_by_any_source_id(session, vault) -> None:  # type: ignore[no-untyped-def]
    """The batch lookups bind their keys as one array (PostgreSQL: array text, quoted by
    ``bulk.pg_array``): a source id with commas, quotes, backslashes or braces is found again."""
    load_default(session, actor=SYSTEM)
    d = add_department(session, code="fastpath", name="区市场监管局", actor=SYSTEM)
    dept = DepartmentRef(d.id, d.code)
    number = new_id_number()
    batch = [penalty(number, source_id=s) for s in ODD_SOURCE_IDS]
    first = ingest(session, vault=vault, department=dept, records=batch, actor=SYSTEM)
    assert [o.status for o in first] == ["created"] * len(batch)
    again = ingest(session, vault=vault, department=dept, records=batch, actor=SYSTEM)
    assert [(o.status, o.record_id) for o in again] == [("unchanged", o.record_id) for o in first]


def test_pg_array_quotes_every_element(session) -> None:  # type: ignore[no-untyped-def]
    values = [*ODD_SOURCE_IDS, None]
    text = bulk.pg_array(values)
    assert bulk.pg_array([3, 1, 2]) == "{3,1,2}"
    if session.get_bind().dialect.name == "postgresql":
        assert session.scalar(select(cast(literal(text), ARRAY(String)))) == values
    else:
        assert text.startswith('{"a,b","c\\"d","e\\\\f",') and text.endswith(",NULL}")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wanted=st.lists(st.sampled_from([*ODD_SOURCE_IDS, "", "x" * 64, "甲乙", "1", "01"]), max_size=12),
       ids=st.lists(st.integers(min_value=-3, max_value=40), max_size=30))
def test_in_values_selects_exactly_the_values_given(session, wanted, ids) -> None:  # type: ignore[no-untyped-def]
    """``bulk.in_values`` binds its values as ONE parameter (a JSON array read by ``json_each`` on
    SQLite, an array on PostgreSQL) and selects what a Python ``in`` would, for text and integers."""
    rows = [(i + 1, s) for i, s in enumerate([*ODD_SOURCE_IDS, "", "x" * 64, "甲乙", "1", "01", "2"])]
    t = sa.table("xy_in_values", sa.column("id", sa.Integer), sa.column("name", sa.String))
    session.execute(sa.text("CREATE TEMPORARY TABLE xy_in_values (id integer primary key, name varchar(64))"))
    try:
        session.execute(sa.insert(t), [{"id": i, "name": s} for i, s in rows])
        by_name = set(session.scalars(select(t.c.id).where(bulk.in_values(session, t.c.name, wanted))))
        assert by_name == {i for i, s in rows if s in wanted}
        by_id = set(session.scalars(select(t.c.id).where(bulk.in_values(session, t.c.id, ids))))
        assert by_id == {i for i, _s in rows if i in ids}
        # one bound value, nothing expanded per execution (a compiled statement SQLAlchemy's cache can serve)
        compiled = select(t.c.id).where(bulk.in_values(session, t.c.id, ids)).compile(session.get_bind())
        assert len(compiled.construct_params()) == 1 and not compiled.post_compile_params
    finally:
        session.execute(sa.text("DROP TABLE xy_in_values"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wanted=st.lists(st.sampled_from([*ODD_SOURCE_IDS, "", "x" * 64, "甲乙", "01", "zz"]), max_size=15))
def test_fetch_in_gives_each_matching_row_once(session, wanted) -> None:  # type: ignore[no-untyped-def]
    """``bulk.fetch_in`` returns every row whose key is among the values, once however often a value
    is repeated, and every row of a key that several rows share."""
    names = [*ODD_SOURCE_IDS, "", "x" * 64, "甲乙", "01", "1"]
    rows = [(i + 1, s) for i, s in enumerate(names)] + [(100, "甲乙"), (101, "a,b")]
    t = sa.Table("xy_fetch_in", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("name", sa.String(64), index=True), prefixes=["TEMPORARY"])
    t.create(session.connection())
    try:
        session.execute(sa.insert(t), [{"id": i, "name": s} for i, s in rows])
        got = sorted(tuple(r) for r in bulk.fetch_in(session, t, ("id", "name"), "name", wanted))
        assert got == sorted((i, s) for i, s in rows if s in wanted)
    finally:
        t.drop(session.connection())


def test_fetch_in_probes_the_index_of_a_table_without_statistics(session, vault) -> None:  # type: ignore[no-untyped-def]
    """1,000 blind indexes are looked up by the unique index, one probe each, on a table the planner
    has no statistics for (a new platform's first loads, before autovacuum analyses it). PostgreSQL
    with ``id_bidx = ANY(array)`` read all 100,000 subjects instead, 19 ms a batch; SQLite reads
    ``json_each``'s values through the index."""
    now = utcnow()
    rows = [(f"{i:064x}", b"c", b"n", "k1", now, now) for i in range(20_000)]
    bulk.insert_tuples(session, Subject.__table__, ("id_bidx", "id_cipher", "name_cipher", "key_id", "created_at",
                                                   "updated_at"), rows)
    conn = session.connection()
    sql = bulk.fetch_in_sql(conn.dialect, Subject.__table__, ("id", "id_bidx"), "id_bidx")
    wanted = [f"{i:064x}" for i in range(0, 20_000, 20)]
    if conn.dialect.name == "postgresql":
        plan = conn.exec_driver_sql("EXPLAIN " + sql, (bulk.pg_array(wanted),)).scalars().all()
        assert not [line for line in plan if "Seq Scan on subjects" in line], plan
    else:
        import orjson

        plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, (orjson.dumps(wanted).decode(),))]
        assert any(line.startswith("SEARCH subjects USING") and "id_bidx=?" in line for line in plan), plan
        assert not [line for line in plan if line.startswith("SCAN subjects")], plan
    assert len(list(bulk.fetch_in(session, Subject.__table__, ("id",), "id_bidx", wanted))) == 1000


def test_a_batch_runs_without_jit_on_postgresql(session) -> None:  # type: ignore[no-untyped-def]
    """A batch's statements are short: compiling one (estimated far above ``jit_above_cost`` before
    the planner has statistics) took 170 ms for a 1-ms lookup. The department lock that opens every
    batch's writing switches JIT off for the rest of its transaction."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("JIT compilation is PostgreSQL's")
    d = add_department(session, code="nojit", name="区市场监管局", actor=SYSTEM)
    session.execute(sa.text("SET LOCAL jit = on"))
    rsvc.lock_department(session, d.id)
    assert session.execute(sa.text("SHOW jit")).scalar() == "off"


def test_staging_tables_are_emptied_between_uses(session, vault, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Several bulk inserts through one staging table in one transaction (PostgreSQL: COPY, then
    DELETE or, past the threshold, TRUNCATE) store every row exactly once."""
    monkeypatch.setattr(bulk, "STAGE_TRUNCATE_ROWS", 2 * bulk.COPY_THRESHOLD)
    now = utcnow()
    cols = ("id_bidx", "id_cipher", "name_cipher", "key_id", "created_at", "updated_at")
    seen: list[str] = []
    for _ in range(3):
        rows = [(f"{len(seen) + i:064x}", b"c", b"n", "k", now, now)
                for i in range(bulk.COPY_THRESHOLD)]
        got = bulk.insert_tuples(session, Subject.__table__, cols, rows, returning=("id", "id_bidx"))
        assert sorted(b for _i, b in got) == sorted(r[0] for r in rows)
        seen.extend(r[0] for r in rows)
    stored = session.scalars(select(Subject.id_bidx).where(Subject.id_bidx.in_(seen))).all()
    assert sorted(stored) == sorted(seen)


def test_a_batch_checked_ahead_is_stored_as_if_checked_in_ingest(session, vault) -> None:  # type: ignore[no-untyped-def]
    """The records API checks its batch before its write transaction (``check_batch``) and hands it to
    ``ingest``: the outcomes are those of checking inside ``ingest``, and a checked batch is used once,
    with its own records and department."""
    import pytest

    from xinyong.catalog.service import current_items
    from xinyong.records.service import check_batch

    load_default(session, actor=SYSTEM)
    one = add_department(session, code="ahead", name="区市场监管局", actor=SYSTEM)
    two = add_department(session, code="inside", name="区市场监管局", actor=SYSTEM)
    number = new_id_number()
    batch = [penalty(number, source_id="A1"), penalty(number, source_id="A2", amount="lots"),
             penalty("110105194912310021", source_id="A3"), penalty(number, source_id="A1")]
    ref = DepartmentRef(one.id, one.code)
    checked = check_batch(batch, items=current_items(session), department=ref, vault=vault)
    assert [o.index for o in checked.outcomes if o.errors] == [1, 2]
    ahead = ingest(session, vault=vault, department=ref, records=batch, actor=SYSTEM, checked=checked)
    inside = ingest(session, vault=vault, department=DepartmentRef(two.id, two.code), records=batch, actor=SYSTEM)
    assert [(o.status, o.errors) for o in ahead] == [(o.status, o.errors) for o in inside]
    assert [o.status for o in ahead] == ["created", "rejected", "rejected", "unchanged"]
    with pytest.raises(ValueError, match="once"):  # used already
        ingest(session, vault=vault, department=ref, records=batch, actor=SYSTEM, checked=checked)
    fresh = check_batch(batch, items=current_items(session), department=ref, vault=vault)
    with pytest.raises(ValueError, match="once"):  # another department's batch
        ingest(session, vault=vault, department=DepartmentRef(two.id, two.code), records=batch, actor=SYSTEM,
               checked=fresh)


@pytest.mark.parametrize("n", [3, bulk.COPY_THRESHOLD])  # a multi-row INSERT; on PostgreSQL also COPY
def test_a_conflict_target_skips_only_that_constraint(session, n) -> None:  # type: ignore[no-untyped-def]
    """Subjects are created with ``ON CONFLICT (id_bidx) DO NOTHING`` where a concurrent transaction
    may create the same person: that conflict is skipped (not returned), but any other — here the
    primary key, as a sequence left behind explicit ids would cause — fails the statement rather
    than leaving a record without its subject."""
    now = utcnow()
    cols = ("id_bidx", "id_cipher", "name_cipher", "key_id", "created_at", "updated_at")
    first = [(f"{i:064x}", b"c", b"n", "k", now, now) for i in range(n)]
    got = bulk.insert_tuples(session, Subject.__table__, cols, first, returning=("id", "id_bidx"),
                             ignore_conflicts=True, conflict_target=("id_bidx",))
    assert len(got) == n
    again = [*first[:2], (f"{n:064x}", b"c", b"n", "k", now, now)]
    again += [(f"{n + 1 + i:064x}", b"c", b"n", "k", now, now)
              for i in range(n - len(again))]
    got = bulk.insert_tuples(session, Subject.__table__, cols, again, returning=("id", "id_bidx"),
                             ignore_conflicts=True, conflict_target=("id_bidx",))
    assert sorted(b for _i, b in got) == sorted(r[0] for r in again[2:])  # the two known ones skipped
    taken = got[0][0]
    with_id = ("id", *cols)
    clash = [(taken, f"{10 * n:064x}", b"c", b"n", "k", now, now)]
    with pytest.raises(IntegrityError), session.begin_nested():
        bulk.insert_tuples(session, Subject.__table__, with_id, clash, ignore_conflicts=True,
                           conflict_target=("id_bidx",))
    with session.begin_nested():  # without a target every unique conflict is skipped, the key's too
        assert bulk.insert_tuples(session, Subject.__table__, with_id, clash, returning=("id",),
                                  ignore_conflicts=True) == []


def test_a_subject_created_meanwhile_is_used_not_duplicated(session, vault, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Another transaction may create the same person between the batch's subject lookup and its
    insert (here: the lookup is made to miss a subject that exists). PostgreSQL skips that one
    conflict (``ON CONFLICT (id_bidx)``) and attaches the record to the existing subject; SQLite,
    whose writer holds the write lock, cannot meet the case and fails the batch rather than guess."""
    load_default(session, actor=SYSTEM)
    d = add_department(session, code="meanwhile", name="区市场监管局", actor=SYSTEM)
    number = new_id_number()
    existing, _ = register(session, vault=vault, id_number=number, name="李四", actor=SYSTEM)
    session.flush()
    real = rsvc.bulk.fetch_in

    def blind_to_subjects(session_, table, columns, key, values):  # type: ignore[no-untyped-def]
        return iter(()) if table is Subject.__table__ else real(session_, table, columns, key, values)

    monkeypatch.setattr(rsvc.bulk, "fetch_in", blind_to_subjects)
    batch = [penalty(number, source_id="MW-1")]
    if session.get_bind().dialect.name == "postgresql":
        [out] = ingest(session, vault=vault, department=DepartmentRef(d.id, d.code), records=batch, actor=SYSTEM)
        assert out.status == "created"
        subject_ids = session.scalars(select(Subject.id).where(Subject.id_bidx == vault.lookup_key(number))).all()
        assert subject_ids == [existing.id]
        assert session.get(Record, out.record_id).subject_id == existing.id  # type: ignore[union-attr]
    else:
        with pytest.raises(IntegrityError), session.begin_nested():
            ingest(session, vault=vault, department=DepartmentRef(d.id, d.code), records=batch, actor=SYSTEM)


_blob_depts = iter(range(10**6))


# one transaction for every example (the rows of each stay apart by their own job ids)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=0, max_size=3000))
def test_a_sealed_file_reads_back_byte_for_byte(session, content: bytes) -> None:  # type: ignore[no-untyped-def]
    """``bulk.sealed_blob`` (binary result format on PostgreSQL) gives back exactly what was stored."""
    from xinyong.imports.models import ImportFile, ImportJob

    dept = add_department(session, code=f"blob{next(_blob_depts)}", name="区档案局", actor=SYSTEM)
    job = ImportJob(department_id=dept.id, item_code="admin_license", filename="x.csv", sha256="0" * 64,
                    size=len(content), format="csv", status="pending", actor_type="system", created_by="t")
    session.add(job)
    session.flush()
    session.add(ImportFile(job_id=job.id, key_id="k1", content=content))
    session.flush()
    assert bulk.sealed_blob(session, ImportFile.__table__, {"job_id": job.id}) == (content, "k1")
    assert bulk.sealed_blob(session, ImportFile.__table__, {"job_id": job.id + 1000}) is None


def test_an_ingested_person_is_stored_without_what_the_number_says(session, vault) -> None:  # type: ignore[no-untyped-def]
    """A push creating a person writes the ciphertexts and the blind index only: no birth date, gender
    or region code (15 of the 18 digits) in the row. The decision date is still checked against the
    birth date the number being pushed gives, for a person the platform knows as for a new one."""
    load_default(session, actor=SYSTEM)
    d = add_department(session, code="minimal", name="区市场监管局", actor=SYSTEM)
    dept = DepartmentRef(d.id, d.code)
    number = new_id_number(region="110105", born=date(1990, 7, 14))
    [out] = ingest(session, vault=vault, department=dept, records=[penalty(number, source_id="MIN-1")], actor=SYSTEM)
    assert out.status == "created"
    row = session.execute(sa.text("SELECT * FROM subjects WHERE id_bidx = :b"),
                          {"b": vault.lookup_key(number)}).mappings().one()
    assert set(row) == {"id", "id_bidx", "id_cipher", "name_cipher", "key_id", "created_at", "updated_at"}
    for value in row.values():
        blob = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
        for said in (number, "110105", "19900714", "1990-07-14"):
            assert said.encode() not in blob
    assert vault.reveal_id(row["id_bidx"], bytes(row["id_cipher"]), row["key_id"]) == number
    # the person is known now: the check reads the pushed number, not the table
    [out] = ingest(session, vault=vault, department=dept, records=[penalty(number, source_id="MIN-2",
                                                                           decided_at="1990-07-13")], actor=SYSTEM)
    assert out.status == "rejected" and [(e["field"], e["code"]) for e in out.errors] == [
        ("decided_at", "out_of_range")]
