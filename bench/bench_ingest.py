"""Ingestion benchmark (issue 3): service-level bulk ingestion and HTTP batches of 1,000, against a
bare executemany of the same rows in the same run (the limit).

    .venv/bin/python bench/bench_ingest.py [--records 200000] [--subjects 100000] [--pg URL]

Prints records/s and the ratio to the bare executemany. SQLite by default (a fresh file);
with --pg (or XINYONG_BENCH_PG) also PostgreSQL, on a schema of its own that is dropped after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import fmt_rate, records, subjects  # noqa: E402
from sqlalchemy import text  # noqa: E402

from xinyong import migrate  # noqa: E402
from xinyong.audit.service import Actor  # noqa: E402
from xinyong.auth import service as auth  # noqa: E402
from xinyong.catalog import service as catalog  # noqa: E402
from xinyong.db import Database  # noqa: E402
from xinyong.privacy.keys import KeyRing  # noqa: E402
from xinyong.privacy.vault import Vault  # noqa: E402
from xinyong.records import service as rsvc  # noqa: E402
from xinyong.records.models import Record  # noqa: E402

ACTOR = Actor.system("bench")


def fresh(url_base: str | None, workdir: Path) -> tuple[str, Database, callable]:
    if url_base is None:
        url = f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        migrate.upgrade(url)
        return url, Database(url), lambda: None
    schema = f"xy_bench_{uuid.uuid4().hex[:8]}"
    admin = Database(url_base)
    with admin.engine.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = url_base + ("&" if "?" in url_base else "?") + f"options=-csearch_path%3D{schema}"
    db = Database(url)
    with db.engine.begin() as c:
        migrate.upgrade(connection=c)

    def drop() -> None:
        db.dispose()
        with admin.engine.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url, db, drop


def setup(db: Database) -> tuple[rsvc.DepartmentRef, str]:
    with db.session() as s:
        dept = auth.add_department(s, code="scjgj", name="区市场监管局", actor=ACTOR)
        key, _ = auth.create_api_key(s, department=dept, name="bench", actor=ACTOR)
        catalog.load_default(s, actor=ACTOR)
        return rsvc.DepartmentRef(dept.id, dept.code), key


def bench_service(db: Database, vault: Vault, dept: rsvc.DepartmentRef, recs: list[dict]) -> float:
    with db.session() as s:
        items = catalog.current_items(s)
    t = time.perf_counter()
    for i in range(0, len(recs), 1000):
        with db.session() as s:
            out = rsvc.ingest(s, vault=vault, department=dept, records=recs[i : i + 1000], actor=ACTOR, items=items)
        bad = [o for o in out if o.status == "rejected"]
        assert not bad, bad[:3]
    return time.perf_counter() - t


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


def bench_http(url: str, keyfile: Path, api_key: str, recs: list[dict], workdir: Path) -> float:
    import httpx

    port = _free_port()
    env = {**os.environ, "XINYONG_DATABASE_URL": url, "XINYONG_KEY_FILE": str(keyfile),
           "XINYONG_AUDIT_SEAL_INTERVAL_SECONDS": "0"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "xinyong.app:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"], env=env, cwd=workdir)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {api_key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            t = time.perf_counter()
            for i in range(0, len(recs), 1000):
                r = client.post("/api/v1/records", json={"records": recs[i : i + 1000]})
                r.raise_for_status()
            return time.perf_counter() - t
    finally:
        server.terminate()
        server.wait(10)


def run(label: str, url_base: str | None, n_rec: int, n_subj: int, http: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="xybench-"))
    try:
        people = subjects(n_subj)
        recs = records(people, n_rec)
        ring = KeyRing.generate()
        keyfile = workdir / "keys.json"
        ring.save(keyfile)
        vault = Vault(ring)
        print(f"\n[{label}] {n_rec:,} records over {n_subj:,} subjects, batches of 1,000")

        url, db, drop = fresh(url_base, workdir)
        dept, _ = setup(db)
        t = bench_service(db, vault, dept, recs)
        with db.session() as s:
            stored = s.query(Record).count()
        assert stored == n_rec, stored
        n_bare, t_bare = bench_bare(db)
        svc_rate, bare_rate = n_rec / t, n_bare / t_bare
        print(f"  service ingest (validate, ID check, encrypt, blind index, revisions, audit): {fmt_rate(n_rec, t)}")
        print(f"  bare executemany of the same {n_bare:,} rows (the limit): {fmt_rate(n_bare, t_bare)}")
        print(f"  ratio service / bare: {svc_rate / bare_rate:.3f}")
        t0 = time.perf_counter()
        with db.session() as s:
            items = catalog.current_items(s)
        for i in range(0, len(recs), 1000):
            with db.session() as s:
                out = rsvc.ingest(s, vault=vault, department=dept, records=recs[i : i + 1000], actor=ACTOR, items=items)
            assert all(o.status == "unchanged" for o in out)
        print(f"  same batches again (all unchanged): {fmt_rate(n_rec, time.perf_counter() - t0)}")
        db.dispose()
        drop()

        if http:
            url, db, drop = fresh(url_base, workdir)
            _, key = setup(db)
            db.dispose()
            t = bench_http(url, keyfile, key, recs, workdir)
            print(f"  HTTP POST /api/v1/records, batches of 1,000, one client: {fmt_rate(n_rec, t)}")
            drop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--pg", default=os.environ.get("XINYONG_BENCH_PG"))
    ap.add_argument("--no-http", action="store_true")
    a = ap.parse_args()
    run("SQLite", None, a.records, a.subjects, not a.no_http)
    if a.pg:
        run("PostgreSQL", a.pg, a.records, a.subjects, not a.no_http)


if __name__ == "__main__":
    main()
