"""Batch comparison (名单比对, issue 5) in process: the job's phases timed one by one.

    .venv/bin/python bench/bench_batch.py [--subjects 1000000] [--rows 200000] [--db-url postgresql+psycopg://…]
        [--no-sqlite] [--reuse NAME] [--runs 1] [--batch-module saved/batch.py]

The same work as ``POST /api/v1/checks/batch`` → runner → ``GET …/result.csv``, without HTTP:

1. A database built like ``bench_checks.py`` builds it (its ``build``: ``--subjects`` subjects with real
   blind indexes and ciphertexts, a precomputed status for 25 % of them, the default measures): a new
   SQLite file or a new PostgreSQL schema (``--db-url``), dropped after. ``--reuse NAME`` keeps the
   database (``/tmp/NAME.db`` or schema ``NAME``) and its key file, and reuses them when they exist: the
   build of 10^6 subjects takes minutes, an iteration seconds; each run's register rows are deleted
   after it (and its sealed result file), so that runs (and versions: ``--batch-module`` times a saved
   copy of ``batch.py``) meet a register and a file of the same size.
2. A CSV like ``bench_checks.batch_end_to_end`` sends (header ``身份证号码,姓名``; 90 % known ID numbers,
   9 % unknown to the platform, 1 % invalid; every row with a name, so every matched row compares it).
3. Timed phases: ``create`` (``batch.create_job`` from the file bytes and its commit: sniffing, parsing,
   sealing the upload), ``run`` (``batch.run_job``: claim, every chunk's answers, register rows, audit
   entry and counts, the sealed result), ``result`` (``batch.result_csv``: the audited download, revealed).
   Rows/s per phase and end to end (the sum); for ``run``, the CPU a row of this process and, on a
   PostgreSQL server of this machine, of the server (steadier than the rate on a shared machine). The result is checked: one line per row, every row
   registered, no raw ID number in it.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import re
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_checks import batch_file, build  # noqa: E402
from common import add_runtime_option, apply_runtime, each_engine, fmt_rate, server_cpu_seconds  # noqa: E402
from common import fresh_database as fresh  # noqa: E402
from sqlalchemy import delete, func, select, text  # noqa: E402

from xinyong import migrate  # noqa: E402
from xinyong.audit.service import Actor  # noqa: E402
from xinyong.auth.models import Department  # noqa: E402
from xinyong.config import Settings  # noqa: E402
from xinyong.db import Database, with_search_path  # noqa: E402
from xinyong.measures import batch, service  # noqa: E402
from xinyong.measures.models import Check, CompareFile, CompareJob  # noqa: E402
from xinyong.privacy.identity import make_id_number  # noqa: E402
from xinyong.privacy.keys import KeyRing  # noqa: E402
from xinyong.privacy.vault import Vault  # noqa: E402
from xinyong.subjects.models import Subject  # noqa: E402

SCENARIO = "civil_service_hiring"


def unknown_numbers() -> list[str]:
    return [make_id_number("120102", date(1980, 1, 1) + timedelta(days=i), 1) for i in range(2000)]


def open_database(args: argparse.Namespace, base_url: str | None, workdir: Path):  # type: ignore[no-untyped-def]
    """(db, vault, numbers, drop): a fresh database, or the kept one of ``--reuse`` (built if missing)."""
    if args.reuse is None:
        ring = KeyRing.generate()
        vault = Vault(ring)
        _url, db, drop = fresh(base_url, workdir)
        _key, numbers = build(db, vault, args.subjects)
        return db, vault, numbers, drop
    keyfile = Path(tempfile.gettempdir()) / f"{args.reuse}-{'pg' if base_url else 'sqlite'}-keys.json"
    if base_url is None:
        path = Path(tempfile.gettempdir()) / f"{args.reuse}.db"
        url = f"sqlite:///{path}"
        exists = path.exists() and keyfile.exists()
        if not exists:
            path.unlink(missing_ok=True)
            migrate.upgrade(url)
    else:
        admin = Database(base_url)
        with admin.engine.begin() as c:
            exists = bool(c.execute(text("SELECT count(*) FROM information_schema.schemata WHERE schema_name = :s"),
                                    {"s": args.reuse}).scalar()) and keyfile.exists()
            if not exists:
                c.execute(text(f'DROP SCHEMA IF EXISTS "{args.reuse}" CASCADE'))
                c.execute(text(f'CREATE SCHEMA "{args.reuse}"'))
        admin.dispose()
        url = with_search_path(base_url, args.reuse)
    db = Database(url)
    if not exists:
        if base_url is not None:
            with db.engine.begin() as c:
                migrate.upgrade(connection=c)
        ring = KeyRing.generate()
        ring.save(keyfile)
        vault = Vault(ring)
        _key, numbers = build(db, vault, args.subjects)
    else:
        vault = Vault(KeyRing.load(keyfile))
        from bench_checks import people

        with db.session(write=False) as s:
            n = s.scalar(select(func.count()).select_from(Subject))
        numbers = people(int(n or 0))
        print(f"   reusing {n:,} subjects ({url.split('?')[0]}{' schema ' + args.reuse if base_url else ''})")
    return db, vault, numbers, db.dispose


def one_run(db: Database, vault: Vault, numbers: list[str], data: bytes, rows: int, keep_size: bool) -> float:
    with db.session(write=False) as s:
        dept = s.scalar(select(Department).where(Department.code == "rsj"))
        assert dept is not None
        caller = service.Caller(dept.id, dept.code, Actor(type="system", id=None, label="bench-batch",
                                                          department_id=dept.id))
    limit = Settings().max_request_bytes
    t0 = time.perf_counter()
    with db.session() as s:
        job_id = batch.create_job(s, vault=vault, caller=caller, scenario=SCENARIO, filename="batch.csv", data=data,
                                  max_bytes=limit).id
    pg = db.engine.dialect.name == "postgresql"
    server0 = server_cpu_seconds() if pg else None
    cpu0 = time.process_time()
    t1 = time.perf_counter()
    job = batch.run_job(db, vault, job_id)
    t2 = time.perf_counter()
    cpu = (time.process_time() - cpu0) * 1e6 / rows
    server1 = server_cpu_seconds() if server0 is not None else None
    assert job is not None and job.status == "done", job and (job.status, job.error_code, job.error_message)
    with db.session() as s:
        result = batch.result_csv(s, vault=vault, job=s.get(CompareJob, job_id), actor=caller.actor)
    t3 = time.perf_counter()
    assert result is not None
    text_ = result.decode("utf-8-sig")
    lines = text_.count("\r\n")
    assert lines == rows + 1, (lines, rows)
    assert not re.search(r"(?<![0-9A-Za-z])[0-9]{17}[0-9X](?![0-9A-Za-z])", text_), "a raw ID number in the result file"
    with db.session(write=False) as s:
        registered = s.scalar(select(func.count()).select_from(Check).where(Check.job_id == job_id))
    assert registered == rows, (registered, rows)
    if keep_size:  # a kept database stays the same size from run to run (comparable runs)
        with db.session() as s:
            s.execute(delete(Check).where(Check.job_id == job_id))
            s.execute(delete(CompareFile).where(CompareFile.job_id == job_id))  # the sealed result, ~20 MB
        if db.engine.dialect.name == "postgresql":
            # … and the same shape: this machine's server runs without autovacuum, and a register of
            # dead rows (4 million after 20 runs) made each run's inserts and lookups slower than the last
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                for table in ("checks", "compare_files", "compare_jobs"):
                    c.exec_driver_sql(f"VACUUM {table}")
    print(f"   job {job_id}: {job.rows_total:,} rows — matched {job.matched:,}, unknown {job.unknown:,}, "
          f"invalid {job.invalid:,}; {registered:,} register rows; result {len(result) / 1e6:.1f} MB")
    print(f"     create  {fmt_rate(rows, t1 - t0)}")
    print(f"     run     {fmt_rate(rows, t2 - t1)} [CPU a row: this process {cpu:.1f} µs"
          + (f", the PostgreSQL server {(server1 - server0) * 1e6 / rows:.1f} µs" if server1 is not None and
             server0 is not None else "") + "]")
    print(f"     result  {fmt_rate(rows, t3 - t2)}")
    print(f"     end to end {fmt_rate(rows, t3 - t0)}")
    return rows / (t3 - t0)


def bench(label: str, base_url: str | None, args: argparse.Namespace, workdir: Path) -> None:
    print(f"== {label}")
    db, vault, numbers, drop = open_database(args, base_url, workdir)
    try:
        data = batch_file(numbers, unknown_numbers(), args.rows)
        # The harness's own data (10^6 ID numbers, the file) and the modules leave the collector's
        # sight, as ``xinyong serve`` freezes a worker's start-up heap: a list of 10^6 strings
        # otherwise adds ~30 ms to each of the job's full collections, charged to the job.
        gc.collect()
        gc.freeze()
        print(f"   file: {args.rows:,} rows, {len(data) / 1e6:.1f} MB; chunk {batch.CHUNK_SIZE:,} rows; "
              f"load average {os.getloadavg()[0]:.2f}")
        rates = [one_run(db, vault, numbers, data, args.rows, args.reuse is not None) for _ in range(args.runs)]
        if len(rates) > 1:
            print(f"   best end to end: {max(rates):,.0f}/s over {len(rates)} runs")
    finally:
        gc.unfreeze()
        drop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--db-url", default=os.environ.get("XINYONG_BENCH_PG"),
                    help="also run on this PostgreSQL server (a fresh schema, dropped after)")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--reuse", help="keep the database under this name and reuse it next time")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--batch-module", type=Path,
                    help="time this copy of xinyong/measures/batch.py instead (A/B against a saved version)")
    add_runtime_option(ap)
    args = ap.parse_args()
    apply_runtime(args)
    if args.batch_module is not None:
        global batch
        spec = importlib.util.spec_from_file_location("xinyong.measures.batch_under_test", args.batch_module)
        assert spec is not None and spec.loader is not None
        batch = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(batch)
        print(f"batch module: {args.batch_module}")
    each_engine(bench, args)


if __name__ == "__main__":
    main()
