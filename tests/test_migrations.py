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


def _subject(c, sid: int, bidx: str) -> None:  # type: ignore[no-untyped-def]
    """A bare subjects row, as every schema revision from 0001 to 0018 holds it (0019 dropped the birth
    date, gender and region code)."""
    from sqlalchemy import text

    c.execute(text("INSERT INTO subjects (id, id_bidx, id_cipher, name_cipher, key_id, birth_date, gender, "
                   "region_code, created_at, updated_at) VALUES (:id, :b, :x, :x, 'k1', '1980-01-01', "
                   "'M', '120101', '2026-11-01', '2026-11-01')"), {"id": sid, "b": bidx, "x": b"x"})


def _upgrade(url: str, db) -> None:  # type: ignore[no-untyped-def]
    """Upgrade a scratch database to the head (on PostgreSQL the schema is the connection's search path)."""
    if db.engine.dialect.name == "sqlite":
        migrate.upgrade(url)
    else:
        with db.engine.begin() as c:
            migrate.upgrade(connection=c)


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
                _subject(c, sid, f"m10-{sid}")
                c.execute(text("INSERT INTO subject_status (subject_id, score, grade, ruleset_version, lists, red, "
                               "dishonest, clean_3y, updated_at) VALUES (:id, 1000, 'A', 1, '[]', :f, :d, :t, "
                               "'2026-11-01')"), {"id": sid, "d": dishonest, "f": False, "t": True})
        _upgrade(url, db)
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
            _subject(c, 1, 'm13')
            for eid, code in ((1, "serious_dishonesty"), (2, "key_supervision")):
                c.execute(text("INSERT INTO list_entries (id, list_code, subject_id, status, source, reason, "
                               "proposed_at, updated_at) VALUES (:id, :code, 1, 'notified', "
                               "'decision', 'r', '2026-11-01', '2026-11-01')"), {"id": eid, "code": code})
            c.execute(text("INSERT INTO audit_entries (occurred_at, actor_type, action, object_type, object_id, "
                           "outcome, details) VALUES ('2026-11-02', 'user', 'list_entry.notify', 'list_entry', '1', "
                           "'ok', :d)"), {"d": json.dumps({"notified_on": "2026-10-30", "working_days": 5})})
        _upgrade(url, db)
        with db.engine.connect() as c:
            got = {i: (f, d) for i, f, d in c.execute(text(
                "SELECT id, defence_from, defence_days FROM list_entries ORDER BY id")).all()}
            assert {i: (str(f) if f else None, d) for i, (f, d) in got.items()} == {
                1: (str(date(2026, 10, 30)), 5), 2: (None, None)}
            assert migrate.current_heads(c) == migrate.script_heads()
    finally:
        drop()


def test_0015_masks_the_id_numbers_quoted_in_stored_record_fields(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Records and revisions stored before ingestion masked quoted ID numbers get them masked, with
    their content hash counted again; a decision number of 18 digits that is no ID number is kept."""
    import json
    import uuid

    from sqlalchemy import text
    from tests.support import PG_URL, new_id_number

    from xinyong.records.service import content_hash

    number, kept = new_id_number(), "110105202403050002"
    masked = f"{number[:6]}********{number[-4:]}"
    before = {"violation": f"冒用{number}", "decision_no": kept, "amount": 100}
    url, db, drop = migrate.scratch_database(PG_URL, sqlite_file=tmp_path / "m15.db",
                                             schema=f"xy_m15_{uuid.uuid4().hex[:8]}", revision="0014")
    try:
        with db.engine.begin() as c:
            _subject(c, 1, 'm15')
            c.execute(text("INSERT INTO catalog_items (id, code, version, is_current, name, name_en, category, "
                           "visibility, spec, created_at) VALUES (7, 'admin_penalty', 1, :t, '行政处罚', 'penalty', "
                           "'bad', 'public', :spec, '2026-11-01')"), {"t": True, "spec": "{}"})
            c.execute(text("INSERT INTO departments (id, code, name, kind, active, created_at) "
                           "VALUES (1, 'scjgj', '市场监管', 'department', :t, '2026-11-01')"), {"t": True})
            for rid, fields in ((1, before), (2, {"violation": "未按规定公示", "decision_no": kept})):
                c.execute(text(
                    "INSERT INTO records (id, department_id, source_id, subject_id, item_code, item_id, category, "
                    "severity, decided_at, fields, content_hash, revision, status, publish, min_display_until, "
                    "display_until, received_at, updated_at, change_kind) VALUES (:id, 1, :sid, 1, 'admin_penalty', "
                    "7, 'bad', 'general', '2026-03-02', :f, 'old', 2, 'active', :t, '2026-06-02', '2027-03-02', "
                    "'2026-11-01', '2026-11-01', 'push')"),
                    {"id": rid, "sid": f"P-{rid}", "f": json.dumps(fields, ensure_ascii=False), "t": True})
            c.execute(text(
                "INSERT INTO record_revisions (id, record_id, revision, kind, subject_id, item_id, severity, "
                "decided_at, fields, content_hash, status, publish, display_until, created_at, superseded_at) "
                "VALUES (1, 1, 1, 'push', 1, 7, 'general', '2026-03-02', :f, 'old', 'active', :t, '2027-03-02', "
                "'2026-10-01', '2026-11-01')"), {"f": json.dumps(before, ensure_ascii=False), "t": True})
        _upgrade(url, db)
        with db.engine.connect() as c:
            def load(v):  # type: ignore[no-untyped-def]
                return v if isinstance(v, dict) else json.loads(v)

            recs = {i: (load(f), h) for i, f, h in c.execute(text("SELECT id, fields, content_hash FROM records"))}
            want = {"violation": f"冒用{masked}", "decision_no": kept, "amount": 100}
            assert recs[1][0] == want
            from datetime import date

            assert recs[1][1] == content_hash("admin_penalty", 1, "general", date(2026, 3, 2), want)
            assert recs[2] == ({"violation": "未按规定公示", "decision_no": kept}, "old")  # nothing to mask: untouched
            [(rev_fields, rev_hash)] = c.execute(text("SELECT fields, content_hash FROM record_revisions")).all()
            assert load(rev_fields) == want and rev_hash == recs[1][1]
            assert migrate.current_heads(c) == migrate.script_heads()
    finally:
        drop()


def test_0017_masks_the_id_numbers_written_in_stored_ruleset_notes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Ruleset versions saved before their notes were masked get them masked as a save now masks them
    (``mask_id_numbers_in``): an ID number alone, one with a lower-case ``x``, one in full-width digits,
    one glued to a word; a note without one, and none, stay as they were."""
    import uuid

    from sqlalchemy import text
    from tests.support import PG_URL, new_id_number

    from xinyong.privacy.masking import contains_id_number, mask_id_numbers_in

    plain = new_id_number()
    with_x = next(n for n in iter(new_id_number, None) if n.endswith("X"))
    wide = new_id_number()
    glued = new_id_number()
    notes = {
        1: "default ruleset",
        2: f"按投诉人{plain}的意见调整",
        3: f"复核 {with_x[:-1]}x 一案",
        4: "全角" + wide.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")),
        5: f"sfz{glued}",
        6: None,
        7: "决定书编号 2026-17 号，扣分 20",
    }
    url, db, drop = migrate.scratch_database(PG_URL, sqlite_file=tmp_path / "m17.db",
                                             schema=f"xy_m17_{uuid.uuid4().hex[:8]}", revision="0016")
    try:
        with db.engine.begin() as c:
            for version, note in notes.items():
                c.execute(text("INSERT INTO scoring_rulesets (version, effective_from, base, spec, source, created_at, "
                               "created_by, note) VALUES (:v, '2026-01-01', 1000, '{}', 'base: 1000', '2026-11-01', "
                               "'admin', :n)"), {"v": version, "n": note})
        _upgrade(url, db)
        with db.engine.connect() as c:
            got = dict(c.execute(text("SELECT version, note FROM scoring_rulesets ORDER BY version")).all())
            assert migrate.current_heads(c) == migrate.script_heads()
    finally:
        drop()
    assert got == {v: (None if n is None else mask_id_numbers_in(n)) for v, n in notes.items()}
    assert got[2] == f"按投诉人{plain[:6]}********{plain[-4:]}的意见调整"
    assert got[1] == notes[1] and got[6] is None and got[7] == notes[7]
    for version in (2, 3, 4, 5):
        assert got[version] != notes[version] and not contains_id_number(got[version])


def test_0018_masks_the_id_numbers_written_in_stored_catalog_change_notes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Catalog item versions saved before their change notes were masked get them masked as an edit
    now masks them (``mask_id_numbers_in``); a note without one, and none, stay as they were."""
    import uuid

    from sqlalchemy import text
    from tests.support import PG_URL, new_id_number

    from xinyong.privacy.masking import mask_id_numbers_in

    plain, glued = new_id_number(), new_id_number()
    notes = {1: None, 2: f"应当事人{plain}的申请更正", 3: f"ref:{glued}", 4: "按2026年新规调整公示期限为 12 个月"}
    url, db, drop = migrate.scratch_database(PG_URL, sqlite_file=tmp_path / "m18.db",
                                             schema=f"xy_m18_{uuid.uuid4().hex[:8]}", revision="0017")
    try:
        with db.engine.begin() as c:
            for version, note in notes.items():
                c.execute(text("INSERT INTO catalog_items (code, version, is_current, name, name_en, category, "
                               "visibility, spec, created_at, change_note) VALUES ('admin_penalty', :v, :cur, "
                               "'行政处罚', 'Administrative penalty', 'bad', 'public', '{}', '2026-11-01', :n)"),
                          {"v": version, "cur": version == 4, "n": note})
        _upgrade(url, db)
        with db.engine.connect() as c:
            got = dict(c.execute(text("SELECT version, change_note FROM catalog_items ORDER BY version")).all())
            assert migrate.current_heads(c) == migrate.script_heads()
    finally:
        drop()
    assert got == {v: (None if n is None else mask_id_numbers_in(n)) for v, n in notes.items()}
    assert got[2] == f"应当事人{plain[:6]}********{plain[-4:]}的申请更正" and plain not in str(got)
    assert glued not in str(got) and got[1] is None and got[4] == notes[4]


def _migrate_down(url: str, db, revision: str, **kw) -> None:  # type: ignore[no-untyped-def]
    if db.engine.dialect.name == "sqlite":
        migrate.downgrade(revision, url, **kw)
    else:
        with db.engine.begin() as c:
            migrate.downgrade(revision, connection=c, **kw)


def test_0019_drops_what_the_id_number_says_from_subjects_and_a_downgrade_decrypts_it_back(tmp_path, monkeypatch
                                                                                           ) -> None:  # type: ignore[no-untyped-def]
    """Birth date, gender and region code (15 of the number's 18 digits) leave ``subjects`` with the
    region's index; people, their ciphertexts and the rows referring to them stay. A downgrade brings
    the three back by decrypting the numbers with the key ring; without a key, or with the wrong one,
    it stops with a message and changes nothing."""
    import uuid
    from datetime import date

    from sqlalchemy import inspect, text
    from tests.support import PG_URL

    from xinyong.privacy.identity import make_id_number
    from xinyong.privacy.keys import KeyRing
    from xinyong.privacy.vault import Vault

    ring = KeyRing.generate()
    vault = Vault(ring)
    people = {1: make_id_number("120101", date(1980, 5, 17), 321), 2: make_id_number("110105", date(2001, 2, 3), 44)}
    url, db, drop = migrate.scratch_database(PG_URL, sqlite_file=tmp_path / "m19.db",
                                             schema=f"xy_m19_{uuid.uuid4().hex[:8]}", revision="0018")

    def columns() -> set[str]:
        with db.engine.connect() as c:
            return {col["name"] for col in inspect(c).get_columns("subjects")}

    def indexes() -> set[str]:
        with db.engine.connect() as c:
            return {i["name"] for i in inspect(c).get_indexes("subjects")}

    try:
        with db.engine.begin() as c:
            for sid, number in people.items():
                s = vault.seal_subject(number, "张三")
                c.execute(text("INSERT INTO subjects (id, id_bidx, id_cipher, name_cipher, key_id, birth_date, gender, "
                               "region_code, created_at, updated_at) VALUES (:id, :b, :ic, :nc, :k, :born, :g, :r, "
                               "'2026-11-01', '2026-11-01')"),
                          {"id": sid, "b": s.id_bidx, "ic": s.id_cipher, "nc": s.name_cipher, "k": s.key_id,
                           "born": date(int(number[6:10]), int(number[10:12]), int(number[12:14])),
                           "g": "M" if int(number[16]) % 2 else "F", "r": number[:6]})
                # a row referring to the person: SQLite's batch copy of the table failed on it
                c.execute(text("INSERT INTO subject_status (subject_id, score, grade, ruleset_version, lists, red, "
                               "dishonest, clean_3y, updated_at) VALUES (:id, 1000, 'A', 1, '[]', :f, :f, :f, "
                               "'2026-11-01')"), {"id": sid, "f": False})
        _upgrade(url, db)
        assert columns() == {"id", "id_bidx", "id_cipher", "name_cipher", "key_id", "created_at", "updated_at"}
        assert "ix_subjects_region_code" not in indexes()
        with db.engine.connect() as c:
            rows = c.execute(text("SELECT id, id_bidx, id_cipher, key_id FROM subjects ORDER BY id")).all()
            assert {sid: vault.reveal_id(b, bytes(ic), k) for sid, b, ic, k in rows} == people
            assert c.execute(text("SELECT count(*) FROM subject_status")).scalar() == 2
            assert migrate.current_heads(c) == migrate.script_heads()

        # no key to be had (the configured key file is missing), then the wrong one: nothing changes
        monkeypatch.setenv("XINYONG_KEY_FILE", str(tmp_path / "no-such-keys.json"))
        with pytest.raises(RuntimeError, match="XINYONG_KEY_FILE"):
            _migrate_down(url, db, "0018")
        with pytest.raises(RuntimeError, match="cannot be decrypted") as info:
            _migrate_down(url, db, "0018", key_ring=KeyRing.generate())
        assert all(n not in str(info.value) for n in people.values())
        assert "birth_date" not in columns()
        with db.engine.connect() as c:
            assert migrate.current_heads(c) == migrate.script_heads()

        _migrate_down(url, db, "0018", key_ring=ring)
        assert {"birth_date", "gender", "region_code"} <= columns() and "ix_subjects_region_code" in indexes()
        with db.engine.connect() as c:
            got = {sid: (str(born), g, r) for sid, born, g, r in c.execute(text(
                "SELECT id, birth_date, gender, region_code FROM subjects ORDER BY id"))}
            assert migrate.current_heads(c) == {"0018"}
        assert got == {1: ("1980-05-17", "M", "120101"), 2: ("2001-02-03", "F", "110105")}
        if db.engine.dialect.name != "sqlite":  # NOT NULL again, as 0018 had them (SQLite: nullable, all filled)
            with db.engine.connect() as c:
                assert not [col for col in inspect(c).get_columns("subjects")
                            if col["name"] in ("birth_date", "gender", "region_code") and col["nullable"]]
        _upgrade(url, db)  # and up again
        assert "birth_date" not in columns()
    finally:
        drop()


def test_a_database_holding_records_goes_down_past_0008_and_up_again_with_every_row(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """0008 rebuilds ``records`` on SQLite (batch mode copies the table and drops the old one); with
    foreign keys enforced, that drop failed as soon as a revision referred to a record. The migrations
    now run with enforcement off and check every reference before committing. Both engines: records,
    revisions and people survive a downgrade to 0007 and the upgrade back."""
    import uuid

    from sqlalchemy import text
    from tests.support import PG_URL, new_id_number

    from xinyong.audit.service import Actor
    from xinyong.auth import service as auth
    from xinyong.catalog import service as catalog
    from xinyong.privacy.keys import KeyRing
    from xinyong.privacy.vault import Vault
    from xinyong.records import service as rsvc

    actor = Actor.system("test")
    ring = KeyRing.generate()
    vault = Vault(ring)
    url, db, drop = migrate.scratch_database(PG_URL, sqlite_file=tmp_path / "m8.db",
                                             schema=f"xy_m8_{uuid.uuid4().hex[:8]}")
    tables = ("subjects", "records", "record_revisions")
    try:
        with db.session() as s:
            dept = auth.add_department(s, code="scjgj", name="区市场监管局", actor=actor)
            catalog.load_default(s, actor=actor)
            ref = rsvc.DepartmentRef(dept.id, dept.code)
        batch = [{"item": "admin_license", "id_number": new_id_number(), "name": "张三", "source_id": f"L{i}",
                  "decided_at": "2026-01-05", "fields": {"license_no": f"JY{i}", "license_type": "普通",
                                                         "content": "食品经营许可"}} for i in range(3)]
        for content in ("食品经营许可", "食品经营许可（变更）"):  # created, then updated: a second revision each
            for r in batch:
                r["fields"]["content"] = content
            with db.session() as s:
                out = rsvc.ingest(s, vault=vault, department=ref, records=batch, actor=actor)
            assert {o.status for o in out} == ({"created"} if content == "食品经营许可" else {"updated"})

        def counts() -> dict[str, int]:
            with db.engine.connect() as c:
                return {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in tables}

        before = counts()
        assert before["subjects"] == before["records"] == 3 and before["record_revisions"] >= 3
        _migrate_down(url, db, "0007", key_ring=ring)
        with db.engine.connect() as c:
            assert migrate.current_heads(c) == {"0007"}
        assert counts() == before
        _upgrade(url, db)
        assert counts() == before
        with db.engine.connect() as c:
            assert migrate.current_heads(c) == migrate.script_heads()
            if db.engine.dialect.name == "sqlite":
                assert c.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
                assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # enforcement back on
    finally:
        drop()


def test_migrations_refuse_to_commit_a_broken_reference_on_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With enforcement off while they run, the migrations check every reference before committing:
    a row left referring to nothing fails the run with the table named, and nothing is migrated."""
    import sqlite3

    db_file = tmp_path / "broken.db"
    url = f"sqlite:///{db_file}"
    migrate.upgrade(url, revision="0018")
    raw = sqlite3.connect(db_file)
    raw.execute("PRAGMA foreign_keys=OFF")
    raw.execute("INSERT INTO subject_status (subject_id, score, grade, ruleset_version, lists, red, dishonest, "
                "clean_3y, updated_at) VALUES (424242, 1000, 'A', 1, '[]', 0, 0, 0, '2026-11-01')")
    raw.commit()
    with pytest.raises(RuntimeError, match="subject_status"):
        migrate.upgrade(url)
    assert raw.execute("SELECT version_num FROM alembic_version").fetchall() == [("0018",)]
    assert "birth_date" in {row[1] for row in raw.execute("PRAGMA table_info(subjects)")}
    raw.close()


def test_0021_masks_the_id_numbers_in_stored_memberships_and_enrolments(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Key-group memberships and adult students' enrolments stored before their texts were checked get
    any ID number in them masked (``mask_id_numbers_in``); other values stay as they were."""
    import uuid

    from sqlalchemy import text
    from tests.support import PG_URL, new_id_number

    from xinyong.privacy.masking import mask_id_numbers_in

    a, b, c_, d = (new_id_number() for _ in range(4))
    url, db, drop = migrate.scratch_database(PG_URL, sqlite_file=tmp_path / "m21.db",
                                             schema=f"xy_m21_{uuid.uuid4().hex[:8]}", revision="0020")
    groups = {1: (a, f"和平医院（{b}）"), 2: ("110000123", "和平医院"), 3: (None, None)}
    students = {1: (f"天津大学{c_}", f"G{d}"), 2: ("南开大学", "2021123456789012345")}
    try:
        with db.engine.begin() as c:
            c.execute(text("INSERT INTO subjects (id, id_bidx, id_cipher, name_cipher, key_id, created_at, "
                           "updated_at) VALUES (1, 'b1', :x, :x, 'k1', '2026-11-01', '2026-11-01')"), {"x": b"x"})
            for i, (q, e) in groups.items():
                c.execute(text("INSERT INTO subject_group_memberships (id, subject_id, group_code, qualification_no, "
                               "employer, created_at) VALUES (:i, 1, 'physician', :q, :e, '2026-11-01')"),
                          {"i": i, "q": q, "e": e})
            for i, (s, n) in students.items():
                c.execute(text("INSERT INTO student_statuses (id, subject_id, school, student_no, enrolled_on, "
                               "created_at) VALUES (:i, 1, :s, :n, '2021-09-01', '2026-11-01')"), {"i": i, "s": s, "n": n})
        _upgrade(url, db)
        with db.engine.connect() as c:
            got_g = {r[0]: (r[1], r[2]) for r in c.execute(text(
                "SELECT id, qualification_no, employer FROM subject_group_memberships ORDER BY id"))}
            got_s = {r[0]: (r[1], r[2]) for r in c.execute(text(
                "SELECT id, school, student_no FROM student_statuses ORDER BY id"))}
            assert migrate.current_heads(c) == migrate.script_heads()
    finally:
        drop()
    m = lambda v: None if v is None else mask_id_numbers_in(v)  # noqa: E731
    assert got_g == {i: (m(q), m(e)) for i, (q, e) in groups.items()}
    assert got_s == {i: (m(s), m(n)) for i, (s, n) in students.items()}
    assert not any(x in str((got_g, got_s)) for x in (a, b, c_, d))
    assert got_g[2] == groups[2] and got_s[2] == students[2] and got_s[1][1] == f"G{d[:6]}********{d[-4:]}"


def test_0022_masks_the_id_numbers_in_stored_measures_scenarios_and_their_history(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Measures' and scenarios' texts and the history's data and reasons saved before they were masked
    get any ID number masked; other values stay as they were."""
    import json
    import uuid

    from sqlalchemy import text
    from tests.support import PG_URL, new_id_number

    a, b, c_ = (new_id_number() for _ in range(3))
    m = lambda v: v[:6] + "********" + v[14:]  # noqa: E731
    url, db, drop = migrate.scratch_database(PG_URL, sqlite_file=tmp_path / "m22.db",
                                             schema=f"xy_m22_{uuid.uuid4().hex[:8]}", revision="0021")
    data = {"code": "green_channel", "basis": f"依据 {a}", "applies_to": ["red_volunteer"], "active": True}
    try:
        with db.engine.begin() as c:
            c.execute(text("INSERT INTO measures (id, code, name_zh, name_en, kind, applies_to, scenarios, department, "
                           "basis, active, version, updated_at) VALUES (1, 'green_channel', '绿色通道', 'Green', "
                           "'incentive', '[]', '[]', '区政务服务办', :b, true, 2, '2026-11-01')"), {"b": f"依据 {a}"})
            c.execute(text("INSERT INTO check_scenarios (id, code, name_zh, name_en, active, version, updated_at) "
                           "VALUES (1, 'awards', '评优', :n, true, 1, '2026-11-01')"), {"n": f"Awards {b}"})
            for i, (d, r) in enumerate(((data, f"应{c_}投诉"), ({"code": "awards", "name_en": "Awards"}, "default")), 1):
                c.execute(text("INSERT INTO measure_changes (id, object_type, code, version, data, reason, changed_at) "
                               "VALUES (:i, 'measure', 'x', 1, :d, :r, '2026-11-01')"),
                          {"i": i, "d": json.dumps(d, ensure_ascii=False), "r": r})
        _upgrade(url, db)
        with db.engine.connect() as c:
            basis = c.execute(text("SELECT basis FROM measures")).scalar()
            name = c.execute(text("SELECT name_en FROM check_scenarios")).scalar()
            history = [(json.loads(d) if isinstance(d, str) else d, r) for d, r in
                       c.execute(text("SELECT data, reason FROM measure_changes ORDER BY id"))]
            assert migrate.current_heads(c) == migrate.script_heads()
    finally:
        drop()
    assert basis == f"依据 {m(a)}" and name == f"Awards {m(b)}"
    assert history == [({**data, "basis": f"依据 {m(a)}"}, f"应{m(c_)}投诉"),
                       ({"code": "awards", "name_en": "Awards"}, "default")]


def test_0025_masks_the_id_numbers_written_in_stored_catalog_item_texts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Catalog item versions saved before their texts were masked get their names, legal basis,
    fields' Chinese names and enum labels masked, in their columns and their ``spec``, as an edit now
    masks them; a version without one stays as it was."""
    import json
    import uuid

    from sqlalchemy import text
    from tests.support import PG_URL, new_id_number

    number = new_id_number()
    shown = number[:6] + "*" * 8 + number[-4:]

    def spec(name: str, basis: str, field_zh: str, label: str) -> dict:  # type: ignore[type-arg]
        return {"code": "honor", "name": name, "name_en": "Honour", "category": "good", "visibility": "public",
                "departments": ["*"], "legal_basis": basis, "display": {},
                "fields": [{"name": "title", "name_zh": field_zh, "type": "string", "required": True},
                           {"name": "level", "name_zh": "级别", "type": "enum", "required": True,
                            "allowed": ["national"], "labels": {"national": label}}]}

    rows = {1: ("表彰奖励信息", "《目录》", "荣誉名称", "国家级"),
            2: (f"表彰{number}", f"依据{number}的申请", f"名称{number}", f"国家级{number}")}
    url, db, drop = migrate.scratch_database(PG_URL, sqlite_file=tmp_path / "m25.db",
                                             schema=f"xy_m25_{uuid.uuid4().hex[:8]}", revision="0024")
    try:
        with db.engine.begin() as c:
            for version, (name, basis, field_zh, label) in rows.items():
                c.execute(text("INSERT INTO catalog_items (code, version, is_current, name, name_en, category, "
                               "visibility, legal_basis, spec, created_at) VALUES ('honor', :v, :cur, :n, 'Honour', "
                               "'good', 'public', :b, :s, '2026-11-01')"),
                          {"v": version, "cur": version == 2, "n": name, "b": basis,
                           "s": json.dumps(spec(name, basis, field_zh, label), ensure_ascii=False)})
        _upgrade(url, db)
        with db.engine.connect() as c:
            got = {v: (n, b, s if isinstance(s, dict) else json.loads(s)) for v, n, b, s in c.execute(
                text("SELECT version, name, legal_basis, spec FROM catalog_items ORDER BY version")).all()}
            assert migrate.current_heads(c) == migrate.script_heads()
    finally:
        drop()
    assert got[1] == (*rows[1][:2], spec(*rows[1]))
    assert number not in str(got) and number[6:14] not in str(got[2])
    assert got[2] == (f"表彰{shown}", f"依据{shown}的申请",
                      spec(f"表彰{shown}", f"依据{shown}的申请", f"名称{shown}", f"国家级{shown}"))


def test_0024_gives_the_citizen_accounts_bound_before_their_numbers_blind_index(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An account bound to a person before 0024 takes the person's blind index (what makes one account a
    person now); the other accounts get none; a second account for that number is refused after."""
    import uuid

    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError
    from tests.support import PG_URL

    url, db, drop = migrate.scratch_database(PG_URL, sqlite_file=tmp_path / "m24.db",
                                             schema=f"xy_m24_{uuid.uuid4().hex[:8]}", revision="0023")
    try:
        with db.engine.begin() as c:
            c.execute(text("INSERT INTO subjects (id, id_bidx, id_cipher, name_cipher, key_id, created_at, "
                           "updated_at) VALUES (1, 'b1', :x, :x, 'k1', '2026-11-01', '2026-11-01')"), {"x": b"x"})
            for uid, name, role, subject in ((1, "zhangsan", "citizen", 1), (2, "admin", "admin", None)):
                c.execute(text("INSERT INTO users (id, username, password_hash, role, subject_id, active, "
                               "failed_logins, created_at) VALUES (:i, :n, 'h', :r, :s, :t, 0, '2026-11-01')"),
                          {"i": uid, "n": name, "r": role, "s": subject, "t": True})
        _upgrade(url, db)
        with db.engine.connect() as c:
            got = c.execute(text("SELECT id, id_bidx, id_masked FROM users ORDER BY id")).all()
            assert migrate.current_heads(c) == migrate.script_heads()
        assert [tuple(r) for r in got] == [(1, "b1", None), (2, None, None)]
        with pytest.raises(IntegrityError), db.engine.begin() as c:
            c.execute(text("INSERT INTO users (id, username, password_hash, role, id_bidx, active, failed_logins, "
                           "created_at) VALUES (3, 'zhangsan2', 'h', 'citizen', 'b1', :t, 0, '2026-11-01')"), {"t": True})
    finally:
        drop()


def test_a_downgrade_below_0024_links_the_accounts_whose_person_was_registered_since(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A citizen account bound to a number before the platform held the person is linked to them lazily
    (its next sign-in). A downgrade below 0024 drops the binding: it links first the accounts whose
    person is registered by then, which the older release and the upgrade back then find bound."""
    import uuid

    from sqlalchemy import text
    from tests.support import PG_URL

    url, db, drop = migrate.scratch_database(PG_URL, sqlite_file=tmp_path / "m24d.db",
                                             schema=f"xy_m24d_{uuid.uuid4().hex[:8]}")
    try:
        with db.engine.begin() as c:
            c.execute(text("INSERT INTO subjects (id, id_bidx, id_cipher, name_cipher, key_id, created_at, "
                           "updated_at) VALUES (1, 'b1', :x, :x, 'k1', '2026-11-01', '2026-11-01')"), {"x": b"x"})
            for uid, name, bidx in ((1, "zhangsan", "b1"), (2, "nobody", "b2")):
                c.execute(text("INSERT INTO users (id, username, password_hash, role, id_bidx, id_masked, active, "
                               "failed_logins, created_at) VALUES (:i, :n, 'h', 'citizen', :b, 'm', :t, 0, "
                               "'2026-11-01')"), {"i": uid, "n": name, "b": bidx, "t": True})
        _migrate_down(url, db, "0023")
        with db.engine.connect() as c:
            down = c.execute(text("SELECT id, subject_id FROM users ORDER BY id")).all()
        _upgrade(url, db)
        with db.engine.connect() as c:
            up = c.execute(text("SELECT id, subject_id, id_bidx FROM users ORDER BY id")).all()
            assert migrate.current_heads(c) == migrate.script_heads()
    finally:
        drop()
    assert [tuple(r) for r in down] == [(1, 1), (2, None)]
    assert [tuple(r) for r in up] == [(1, 1, "b1"), (2, None, None)]


def test_0026_masks_the_id_numbers_written_in_stored_ruleset_texts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Ruleset versions saved before their YAML was masked get any ID number in it masked (a
    comment's), as a save now masks it; a version without one stays byte for byte."""
    import uuid

    from sqlalchemy import text
    from tests.support import PG_URL, new_id_number

    number = new_id_number()
    sources = {1: "# 默认规则\nbase: 1000\n", 2: f"# 依据投诉人 {number} 的意见调整\nbase: 990\n"}
    url, db, drop = migrate.scratch_database(PG_URL, sqlite_file=tmp_path / "m26.db",
                                             schema=f"xy_m26_{uuid.uuid4().hex[:8]}", revision="0025")
    try:
        with db.engine.begin() as c:
            for version, source in sources.items():
                c.execute(text("INSERT INTO scoring_rulesets (version, effective_from, base, spec, source, created_at, "
                               "created_by) VALUES (:v, '2026-01-01', 1000, '{}', :s, '2026-11-01', 'admin')"),
                          {"v": version, "s": source})
        _upgrade(url, db)
        with db.engine.connect() as c:
            got = dict(c.execute(text("SELECT version, source FROM scoring_rulesets ORDER BY version")).all())
            assert migrate.current_heads(c) == migrate.script_heads()
    finally:
        drop()
    assert got[1] == sources[1]
    assert got[2] == f"# 依据投诉人 {number[:6]}********{number[-4:]} 的意见调整\nbase: 990\n"
