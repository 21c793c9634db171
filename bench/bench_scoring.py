"""Scoring benchmark (issue 4): a full rescore of 1,000,000 subjects and 5,000,000 records, and the
per-record cost the scoring handler adds to ingestion.

    .venv/bin/python bench/bench_scoring.py [--subjects 1000000] [--records 5000000] [--db-url URL]

The large data set is generated with bulk SQL (INSERT … SELECT over a generated series), NOT through
the ingestion service (which would take hours at this size): synthetic subjects with fake blind
indexes and ciphertexts, and a record mix like bench/common.py's (penalties of every severity,
licences, honours of several levels, cumulative volunteering hours, debtors) spread over four years.
Then:

* ``rescore``: one full recomputation (``scoring.service.rescore``) in one transaction, timed;
* incremental: batches of 1,000 records for 1,000 existing (real, ingested) subjects through
  ``records.service.ingest``, alternately with and without the scoring handler registered; the
  difference per record is what scoring adds.

SQLite by default (a fresh file); ``--db-url postgresql+psycopg://…`` (or XINYONG_BENCH_PG, or
--pg) for PostgreSQL on a schema of its own, dropped afterwards. The machine may be shared and noisy:
figures are single runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import fresh_database, subjects  # noqa: E402

from xinyong import events  # noqa: E402
from xinyong.audit.service import Actor  # noqa: E402
from xinyong.auth import service as auth  # noqa: E402
from xinyong.catalog import service as catalog  # noqa: E402
from xinyong.db import Database  # noqa: E402
from xinyong.privacy.keys import KeyRing  # noqa: E402
from xinyong.privacy.vault import Vault  # noqa: E402
from xinyong.records import service as rsvc  # noqa: E402
from xinyong.scoring import service as scoring  # noqa: E402

ACTOR = Actor.system("bench")
TODAY = date(2026, 11, 26)


# Per record i (1-based): kind = (i*7919) % 100 → <45 penalty (severity i%3), <75 licence, <88 honour
# (level i%6), <97 volunteering ((i*31) % 2000 cumulative hours), else dishonest debtor. Decided
# (i*104729) % 1460 days before 2026-11-01. Subject ((i*2654435761) % N) + 1.
_KIND = "((n.i * 7919) % 100)"
_ITEM = (f"CASE WHEN {_KIND} < 45 THEN 'admin_penalty' WHEN {_KIND} < 75 THEN 'admin_license' "
         f"WHEN {_KIND} < 88 THEN 'honor' WHEN {_KIND} < 97 THEN 'volunteer_service' ELSE 'dishonest_debtor' END")
_SEV = f"CASE WHEN {_KIND} < 45 THEN (CASE n.i % 3 WHEN 0 THEN 'minor' WHEN 1 THEN 'general' ELSE 'serious' END) END"
_CAT = f"CASE WHEN {_KIND} < 45 THEN 'bad' WHEN {_KIND} < 75 THEN 'basic' WHEN {_KIND} < 97 THEN 'good' ELSE 'serious' END"
_MONTHS = (f"CASE WHEN {_KIND} < 45 THEN (CASE n.i % 3 WHEN 0 THEN 3 WHEN 1 THEN 12 ELSE 36 END) "
           f"WHEN {_KIND} < 75 THEN 36 WHEN {_KIND} < 88 THEN 60 WHEN {_KIND} < 97 THEN 36 ELSE 24 END")
_LEVEL = ("CASE n.i % 6 WHEN 0 THEN 'national' WHEN 1 THEN 'provincial' WHEN 2 THEN 'city' WHEN 3 THEN 'district' "
          "WHEN 4 THEN 'street' ELSE 'community' END")


def _sql(dialect: str, n_subj: int, n_rec: int, dept_id: int) -> list[str]:
    if dialect == "sqlite":
        series = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {N})"
        decided = "date('2026-11-01', '-' || ((n.i * 104729) % 1460) || ' days')"
        until = f"date({decided}, '+' || ({_MONTHS}) || ' months')"
        obj = "json_object"
        now = "'2026-11-26 00:00:00.000000'"
        blob = "X'00'"
    else:
        series = "WITH n(i) AS (SELECT generate_series(1, {N})::bigint)"
        decided = "(DATE '2026-11-01' - ((n.i::bigint * 104729) % 1460)::int)"
        until = f"({decided} + make_interval(months => ({_MONTHS})))::date"
        obj = "json_build_object"
        now = "now()"
        blob = "'\\x00'::bytea"
    fields = (f"CASE WHEN {_KIND} < 45 THEN {obj}('decision_no', 'B' || n.i, 'violation', '未按规定公示', 'penalty_type', '罚款') "
              f"WHEN {_KIND} < 75 THEN {obj}('license_no', 'L' || n.i, 'license_type', '普通', 'content', '食品经营') "
              f"WHEN {_KIND} < 88 THEN {obj}('title', '优秀', 'level', {_LEVEL}, 'awarded_by', '文明办') "
              f"WHEN {_KIND} < 97 THEN {obj}('organisation', '志愿者协会', 'hours', (n.i * 31) % 2000) "
              f"ELSE {obj}('case_no', 'C' || n.i, 'court', '和平区人民法院', 'obligation', '给付', 'circumstance', '拒不履行') END")
    subj = ("INSERT INTO subjects (id, id_bidx, id_cipher, name_cipher, key_id, "
            f"created_at, updated_at) {series.format(N=n_subj)} SELECT n.i, 'bench' || n.i, {blob}, {blob}, 'bench', "
            f"{now}, {now} FROM n")
    rec = ("INSERT INTO records (department_id, source_id, subject_id, item_code, item_id, category, severity, "
           "decided_at, fields, content_hash, revision, status, publish, min_display_until, display_until, retain_until, "
           "received_at, updated_at, change_kind) "
           f"{series.format(N=n_rec)} SELECT {dept_id}, 'B' || n.i, ((n.i * 2654435761) % {n_subj}) + 1, {_ITEM}, "
           f"(SELECT c.id FROM catalog_items c WHERE c.code = {_ITEM} AND c.is_current), {_CAT}, {_SEV}, {decided}, "
           f"{fields}, 'h' || n.i, 1, CASE WHEN {until} > '2026-11-26' THEN 'active' ELSE 'expired' END, true, "
           f"{decided}, {until}, {until}, {now}, {now}, 'push' FROM n")
    if dialect != "sqlite":
        rec = rec.replace("> '2026-11-26'", "> DATE '2026-11-26'")
    return [subj, rec]


def generate(db: Database, n_subj: int, n_rec: int, dept_id: int) -> float:
    t = time.perf_counter()
    with db.engine.begin() as c:
        # secondary indexes of records: dropped for the load, rebuilt after (faster than maintaining them)
        if c.dialect.name == "sqlite":
            ddl = [r[0] for r in c.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'index' AND "
                                                   "tbl_name = 'records' AND name LIKE 'ix_%'")]
        else:
            ddl = [r[0] for r in c.exec_driver_sql("SELECT indexdef FROM pg_indexes WHERE tablename = 'records' "
                                                   "AND schemaname = current_schema() AND indexname LIKE 'ix_%%'")]
        for stmt in ddl:
            c.exec_driver_sql("DROP INDEX " + stmt.split(" INDEX ", 1)[1].split(" ON ", 1)[0])
        for sql in _sql(c.dialect.name, n_subj, n_rec, dept_id):
            c.exec_driver_sql(sql if c.dialect.name == "sqlite" else sql.replace("%", "%%"))
        for stmt in ddl:
            c.exec_driver_sql(stmt)
        if c.dialect.name == "postgresql":
            c.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('subjects', 'id'), {n_subj})")
    with db.engine.begin() as c:
        c.exec_driver_sql("ANALYZE")
    return time.perf_counter() - t


def _batch(people: list[tuple[str, str]], tag: str) -> list[dict]:
    return [{"item": "admin_penalty", "severity": "general", "id_number": n, "name": nm, "source_id": f"{tag}-{k}",
             "decided_at": "2026-10-01", "fields": {"decision_no": f"{tag}{k}", "violation": "未按规定公示",
                                                    "penalty_type": "罚款"}} for k, (n, nm) in enumerate(people)]


def incremental(db: Database, vault: Vault, dept: rsvc.DepartmentRef, rounds: int) -> tuple[float, float, int]:
    """Seconds per record without and with the scoring handler (alternating batches of 1,000 for 1,000
    existing subjects: each batch adds one penalty to each)."""
    people = subjects(1000, seed=99)
    with db.session() as s:
        items = catalog.current_items(s)
        rsvc.ingest(s, vault=vault, department=dept, records=_batch(people, "warm"), actor=ACTOR, items=items)
    saved = list(events._handlers)
    without = [(n, h) for n, h in saved if n != "scoring"]
    t_with = t_without = 0.0
    try:
        for r in range(rounds):
            for mode in ("without", "with"):
                events._handlers[:] = without if mode == "without" else saved
                t = time.perf_counter()
                with db.session() as s:
                    out = rsvc.ingest(s, vault=vault, department=dept, records=_batch(people, f"{mode}{r}"),
                                      actor=ACTOR, items=items)
                dt = time.perf_counter() - t
                assert all(o.status == "created" for o in out), [o.errors for o in out if o.errors][:3]
                if mode == "with":
                    t_with += dt
                else:
                    t_without += dt
    finally:
        events._handlers[:] = saved
    n = rounds * 1000
    return t_without / n, t_with / n, n


def run(label: str, url_base: str | None, n_subj: int, n_rec: int, rounds: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="xybench-"))
    try:
        print(f"\n[{label}] {n_subj:,} subjects, {n_rec:,} records")
        _url, db, drop = fresh_database(url_base, workdir)
        with db.session() as s:
            d = auth.add_department(s, code="scjgj", name="区市场监管局", actor=ACTOR)
            catalog.load_default(s, actor=ACTOR)
            scoring.ensure_default(s, actor=ACTOR)
            dept = rsvc.DepartmentRef(d.id, d.code)
        t = generate(db, n_subj, n_rec, dept.id)
        print(f"  data generated with bulk SQL (not the ingestion service): {t:.1f} s")
        # process CPU time: SQLite runs inside this process, so on a busy machine it shows what the
        # rescore itself costs (PostgreSQL works in its server process: client CPU only)
        t, cpu = time.perf_counter(), time.process_time()
        with db.session() as s:
            n = scoring.rescore(s, today=TODAY, actor=ACTOR)
        t_full, cpu_full = time.perf_counter() - t, time.process_time() - cpu
        print(f"  full rescore (set-based, one transaction, first run: every status row inserted): {t_full:.1f} s "
              f"wall, {cpu_full:.1f} s CPU of this process, for {n:,} subjects (target ≤ 60 s)")
        t, cpu = time.perf_counter(), time.process_time()
        with db.session() as s:
            scoring.rescore(s, today=date(2026, 11, 27), actor=ACTOR)
        print(f"  full rescore again the next day (rows updated only where changed): {time.perf_counter() - t:.1f} s "
              f"wall, {time.process_time() - cpu:.1f} s CPU of this process")
        print(f"  load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores, shared)")
        with db.session() as s:
            dist = scoring.distribution(s, today=TODAY)
        print("  grades: " + ", ".join(f"{g['grade']} {g['count']:,}" for g in dist["grades"]))
        vault = Vault(KeyRing.generate())
        per_without, per_with, n_inc = incremental(db, vault, dept, rounds)
        print(f"  ingestion of {n_inc:,} records in batches of 1,000 (existing subjects): "
              f"{per_without * 1000:.3f} ms/record without the scoring handler, {per_with * 1000:.3f} ms/record with it")
        print(f"  scoring adds {(per_with - per_without) * 1000:.3f} ms per record (target ≤ 2 ms)")
        db.dispose()
        drop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--records", type=int, default=None, help="default: 5 per subject")
    ap.add_argument("--rounds", type=int, default=5, help="incremental batches of 1,000 per mode")
    ap.add_argument("--db-url", "--pg", dest="db_url", default=os.environ.get("XINYONG_BENCH_PG"),
                    help="also run on this PostgreSQL database")
    ap.add_argument("--no-sqlite", action="store_true")
    a = ap.parse_args()
    n_rec = a.records if a.records is not None else 5 * a.subjects
    print("Shared, noisy machine (2 cores): single runs, read the figures as indications.")
    if not a.no_sqlite:
        run("SQLite", None, a.subjects, n_rec, a.rounds)
    if a.db_url:
        run("PostgreSQL", a.db_url, a.subjects, n_rec, a.rounds)


if __name__ == "__main__":
    main()
