"""Ingestion benchmark (issue 3): service-level bulk ingestion and HTTP batches of 1,000, against a
bare executemany of the same rows in the same run (the limit).

    .venv/bin/python bench/bench_ingest.py [--records 200000] [--subjects 100000] [--pg URL] [--rounds 2]
                                           [--no-http] [--http-departments 2] [--no-handlers-too]

Prints records/s and the ratio to the bare executemany; over HTTP, one client against one worker,
then ``--http-departments`` departments pushing at once against as many workers (one per core:
each checks its batch while another's is written, see docs/architecture.md). SQLite by default (a fresh file);
with --pg (or XINYONG_BENCH_PG) also PostgreSQL, on a schema of its own that is dropped after.
Each service round runs on a fresh database; the best round and the spread are printed (the
machine is shared, so single runs are noisy). Each service round also prints the CPU a record of this process and, on a
PostgreSQL server of this machine, of the server (``common.server_cpu_seconds``): steadier than a rate
on a shared machine, and the server's share of the work. ``--no-handlers-too`` adds rounds with the
``records_changed`` handlers (lists, scoring) switched off in this process, to show what they cost.

The harness's own input (200,000 record dicts) is moved out of the garbage collector's view with
``gc.freeze()`` once built: a server holds one batch at a time, not the whole data set, and
scanning it on every collection would be charged to ingestion.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import orjson  # noqa: E402
from common import add_runtime_option, apply_runtime, fmt_rate, records, server_cpu_seconds, subjects  # noqa: E402
from common import fresh_database as fresh  # noqa: E402
from sqlalchemy import text  # noqa: E402

from xinyong import events  # noqa: E402
from xinyong.audit.service import Actor  # noqa: E402
from xinyong.auth import service as auth  # noqa: E402
from xinyong.catalog import service as catalog  # noqa: E402
from xinyong.db import Database  # noqa: E402
from xinyong.lists import service as lists  # noqa: E402
from xinyong.privacy.keys import KeyRing  # noqa: E402
from xinyong.privacy.vault import Vault  # noqa: E402
from xinyong.records import service as rsvc  # noqa: E402
from xinyong.records.models import Record  # noqa: E402

ACTOR = Actor.system("bench")


def setup(db: Database) -> tuple[rsvc.DepartmentRef, str]:
    with db.session() as s:
        dept = auth.add_department(s, code="scjgj", name="区市场监管局", actor=ACTOR)
        key, _ = auth.create_api_key(s, department=dept, name="bench", actor=ACTOR)
        catalog.load_default(s, actor=ACTOR)
        # the list kinds, as on a running platform: the debtors' records feed their list, a volunteer's
        # hours or a penalty move the red lists (a database without them ran the lists handler idle)
        lists.load_default(s, actor=ACTOR)
        return rsvc.DepartmentRef(dept.id, dept.code), key


def bench_service(db: Database, vault: Vault, dept: rsvc.DepartmentRef, recs: list[dict]) -> float:
    """Wall-clock seconds; this process's CPU seconds are added to ``CPU`` (a load-independent view),
    and on a PostgreSQL server of this machine the server's to ``SERVER_CPU``."""
    with db.session() as s:
        items = catalog.current_items(s)
    server = server_cpu_seconds() if db.engine.dialect.name == "postgresql" else None
    c = time.process_time()
    t = time.perf_counter()
    for i in range(0, len(recs), 1000):
        with db.session() as s:
            out = rsvc.ingest(s, vault=vault, department=dept, records=recs[i : i + 1000], actor=ACTOR, items=items)
        bad = [o for o in out if o.status == "rejected"]
        assert not bad, bad[:3]
    CPU.append(time.process_time() - c)
    after = server_cpu_seconds() if server is not None else None
    SERVER_CPU.append(after - server if after is not None and server is not None else None)
    return time.perf_counter() - t


CPU: list[float] = []
SERVER_CPU: list[float | None] = []


def cpu_note(n: int) -> str:
    """This process's CPU a record in the last service round, and the server's when known."""
    server = SERVER_CPU[-1]
    return (f"{CPU[-1] * 1e6 / n:.1f} µs/record" + (f", PostgreSQL server {server * 1e6 / n:.1f} µs" if server is not None
                                                    else ""))


def bench_bare(db: Database) -> tuple[int, float]:
    """The limit: the same record rows, already built, by one executemany into a plain copy of the table."""
    with db.engine.begin() as c:
        dialect = c.dialect.name
        rows = c.execute(text("SELECT * FROM records")).all()
        cols = list(c.execute(text("SELECT * FROM records LIMIT 0")).keys())
        c.execute(text("CREATE TABLE bare_records AS SELECT * FROM records WHERE 1 = 0"))
    ph = ", ".join(["?" if dialect == "sqlite" else "%s"] * len(cols))
    sql = f"INSERT INTO bare_records ({', '.join(cols)}) VALUES ({ph})"
    if dialect == "sqlite":
        params = [tuple(r) for r in rows]
    else:
        from psycopg.types.json import Json

        params = [tuple(Json(v) if isinstance(v, dict) else v for v in r) for r in rows]
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        t = time.perf_counter()
        if dialect == "sqlite":
            cur.execute("BEGIN")  # the engine's connections run the driver in autocommit mode
        cur.executemany(sql, params)
        raw.commit()
        return len(params), time.perf_counter() - t
    finally:
        raw.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_http(url: str, keyfile: Path, api_keys: list[str], recs: list[dict], workdir: Path, workers: int = 1
               ) -> float:
    """Seconds to push ``recs`` in batches of 1,000 over HTTP: one client per key (each key a
    department of its own, sending every len(api_keys)-th batch, one at a time), against
    ``xinyong serve --workers N``."""
    import threading

    import httpx

    port = _free_port()
    env = {**os.environ, "XINYONG_DATABASE_URL": url, "XINYONG_KEY_FILE": str(keyfile),
           "XINYONG_AUDIT_SEAL_INTERVAL_SECONDS": "0"}
    # The server as `xinyong serve` runs it (its uvicorn factory configures logging and moves the
    # start-up heap out of the collector's sight: a plain create_app() served 5.0k against 5.4-6.0k
    # records/s).
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "xinyong"), "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--no-access-log"], env=env, cwd=workdir,
        stdout=(workdir / "http-server.log").open("wb"), stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        time.sleep(0.5 * workers)  # every worker up
        # The departments' clients have their batches ready: bodies are encoded before the clock
        # starts, so the figure is the server's (decode, validate, ingest, handlers, commit, respond).
        bodies = [orjson.dumps({"records": recs[i : i + 1000]}) for i in range(0, len(recs), 1000)]
        errors: list[BaseException] = []

        def department(k: int) -> None:
            headers = {"Authorization": f"Bearer {api_keys[k]}", "Content-Type": "application/json"}
            try:
                with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
                    for body in bodies[k :: len(api_keys)]:
                        r = client.post("/api/v1/records", content=body)
                        r.raise_for_status()
                        assert b'"rejected"' not in r.content, r.content[:300]
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=department, args=(k,)) for k in range(len(api_keys))]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t
        if errors:
            log = (workdir / "http-server.log").read_text(errors="replace")
            print("  server log (end):\n" + log[-4000:], file=sys.stderr)
            raise errors[0]
        return elapsed
    finally:
        server.terminate()
        server.wait(10)


def _service_round(url_base: str | None, workdir: Path, vault: Vault, recs: list[dict], handlers: bool,
                   bare: bool) -> tuple[float, float | None, float | None]:
    """One round on a fresh database: service ingest; then (optionally) the bare executemany of the
    rows it stored and the same batches pushed again. Returns (ingest s, bare rows/s, again s)."""
    saved = (list(events._handlers), list(events._lists_handlers))
    _url, db, drop = fresh(url_base, workdir)
    try:
        dept, _ = setup(db)
        if not handlers:
            events._ensure_wired()
            events._handlers.clear()
            events._lists_handlers.clear()
        t = bench_service(db, vault, dept, recs)
        with db.session() as s:
            stored = s.query(Record).count()
        assert stored == len(recs), stored
        if not bare:
            return t, None, None
        n_bare, t_bare = bench_bare(db)
        t0 = time.perf_counter()
        with db.session() as s:
            items = catalog.current_items(s)
        for i in range(0, len(recs), 1000):
            with db.session() as s:
                out = rsvc.ingest(s, vault=vault, department=dept, records=recs[i : i + 1000], actor=ACTOR, items=items)
            assert all(o.status == "unchanged" for o in out)
        return t, n_bare / t_bare, time.perf_counter() - t0
    finally:
        events._handlers[:], events._lists_handlers[:] = saved
        db.dispose()
        drop()


def _spread(rates: list[float]) -> str:
    return f"best {max(rates):,.0f}/s, spread {min(rates):,.0f}-{max(rates):,.0f}/s over {len(rates)} rounds"


def more_departments(db: Database, n: int) -> list[str]:
    """API keys of ``n`` more departments (the benchmark's items may be pushed by any department)."""
    keys = []
    with db.session() as s:
        for k in range(n):
            dept = auth.add_department(s, code=f"scjgj{k + 2}", name=f"区市场监管局{k + 2}", actor=ACTOR)
            keys.append(auth.create_api_key(s, department=dept, name="bench", actor=ACTOR)[0])
    return keys


def run(label: str, url_base: str | None, n_rec: int, n_subj: int, http: bool, rounds: int,
        no_handlers_too: bool, http_departments: int = 2) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="xybench-"))
    try:
        people = subjects(n_subj)
        recs = records(people, n_rec)
        gc.collect()
        gc.freeze()  # see the module docstring
        ring = KeyRing.generate()
        keyfile = workdir / "keys.json"
        ring.save(keyfile)
        vault = Vault(ring)
        print(f"\n[{label}] {n_rec:,} records over {n_subj:,} subjects, batches of 1,000; "
              f"handlers: {', '.join(events.registered()) or 'none'}")
        real: list[float] = []
        bare: list[float] = []
        plain: list[float] = []
        for r in range(rounds):
            t, bare_rate, again = _service_round(url_base, workdir, vault, recs, True, bare=True)
            real.append(n_rec / t)
            assert bare_rate is not None and again is not None
            bare.append(bare_rate)
            print(f"  round {r + 1}: service ingest {fmt_rate(n_rec, t)} [CPU: this process {cpu_note(n_rec)}]; "
                  f"bare executemany {bare_rate:,.0f}/s; "
                  f"ratio {n_rec / t / bare_rate:.3f}; same batches again (all unchanged) {fmt_rate(n_rec, again)}")
            if no_handlers_too:
                t, _b, _a = _service_round(url_base, workdir, vault, recs, False, bare=False)
                plain.append(n_rec / t)
                print(f"           without the records_changed handlers: {fmt_rate(n_rec, t)} [CPU: this process "
                      f"{cpu_note(n_rec)}]")
        best = max(range(rounds), key=lambda i: real[i])
        print(f"  service ingest (validate, ID check, encrypt, blind index, revisions, audit, handlers): "
              f"{_spread(real)}")
        print(f"  bare executemany of the same rows (the limit), same rounds: {_spread(bare)}")
        print(f"  ratio service / bare (best round): {real[best] / bare[best]:.3f}")
        if plain:
            print(f"  without handlers: {_spread(plain)}; the handlers take "
                  f"{1e6 / max(real) - 1e6 / max(plain):.1f} µs of each record's {1e6 / max(real):.1f} µs")

        if http:
            url, db, drop = fresh(url_base, workdir)
            _, key = setup(db)
            db.dispose()
            t = bench_http(url, keyfile, [key], recs, workdir)
            print(f"  HTTP POST /api/v1/records, batches of 1,000, one client, one worker: {fmt_rate(n_rec, t)}")
            drop()
            if http_departments > 1:
                url, db, drop = fresh(url_base, workdir)
                keys = [setup(db)[1], *more_departments(db, http_departments - 1)]
                db.dispose()
                t = bench_http(url, keyfile, keys, recs, workdir, workers=http_departments)
                print(f"  HTTP POST /api/v1/records, batches of 1,000, {http_departments} departments at once "
                      f"(one client each), {http_departments} workers: {fmt_rate(n_rec, t)}")
                drop()
    finally:
        gc.unfreeze()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--pg", default=os.environ.get("XINYONG_BENCH_PG"))
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--http-departments", type=int, default=2,
                    help="also push over HTTP from this many departments at once, against as many workers "
                         "(one per core; 1: only the one-client figure)")
    ap.add_argument("--no-handlers-too", action="store_true",
                    help="also run each round with the records_changed handlers switched off")
    add_runtime_option(ap)
    a = ap.parse_args()
    apply_runtime(a)
    run("SQLite", None, a.records, a.subjects, not a.no_http, a.rounds, a.no_handlers_too, a.http_departments)
    if a.pg:
        run("PostgreSQL", a.pg, a.records, a.subjects, not a.no_http, a.rounds, a.no_handlers_too,
            a.http_departments)


if __name__ == "__main__":
    main()
