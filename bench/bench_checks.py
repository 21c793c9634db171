"""Check API benchmark (issue 5): single checks under 32 concurrent connections, against a bare
FastAPI endpoint measured in the same run, the workers' resident memory, and batch comparison end to end.

    .venv/bin/python bench/bench_checks.py [--subjects 1000000] [--db-url postgresql+psycopg://…]
        [--duration 20] [--requests 200000] [--connections 32] [--batch-rows 200000] [--batch-runs 3]

1. A fresh database (SQLite file, or a new schema on the given PostgreSQL server) built by the
   migrations; ``--subjects`` subjects written with bulk SQL (multi-row INSERT / COPY through
   ``xinyong.bulk``; real blind indexes and AES-GCM ciphertexts), a precomputed ``subject_status``
   for 25 % of them (every grade; 3 % on a list), a department, its API key, the default measures.
2. The real server, ``xinyong serve --workers 2 --no-access-log`` (one worker per core, audit sealer
   running; ``--serve-option`` changes the options) with ``XINYONG_RATE_LIMITS=off`` (one key sends
   the whole load; ``--rate-limits`` to keep a limit), and a bare FastAPI app (``POST`` returning a
   constant JSON) with the same uvicorn options (uvloop + httptools, as installed), 2 workers.
3. wrk from this (separate) process over loopback, 32 connections, bounded by ``--duration`` and by
   ``--requests`` (a Lua ``response`` hook stops each thread at its share), POST bodies rotating
   over 5,000 ID numbers (90 % known, 10 % unknown to the platform) and the 7 scenarios.
   Falls back to an asyncio/httpx load generator if wrk is missing (said in the output).
4. Every check registered: the ``checks`` table grows by at least the number of answers.
5. RSS of the two workers after the load; the server log scanned for raw ID numbers.
6. Batch comparison: upload a CSV of ``--batch-rows`` ID numbers (1 % invalid) through the API, poll
   until done, download the result; rows/s from the upload to the downloaded file. ``--batch-runs``
   uploads (3) one after another; each figure, the best and the spread are printed (this machine is
   shared with other work: one upload after a saturating load measured 37,000-57,000 rows/s on
   PostgreSQL on the same database minutes apart).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import httpx  # noqa: E402
from common import each_engine  # noqa: E402
from common import fresh_database as fresh  # noqa: E402
from sqlalchemy import text  # noqa: E402

from xinyong import bulk  # noqa: E402
from xinyong.audit.service import Actor  # noqa: E402
from xinyong.auth import service as auth  # noqa: E402
from xinyong.db import utcnow  # noqa: E402
from xinyong.measures import service as measures  # noqa: E402
from xinyong.privacy.identity import make_id_number  # noqa: E402
from xinyong.privacy.keys import KeyRing  # noqa: E402
from xinyong.privacy.vault import Vault  # noqa: E402
from xinyong.scoring.models import SubjectStatus  # noqa: E402
from xinyong.subjects.models import Subject  # noqa: E402

ACTOR = Actor.system("bench")
VENV_BIN = Path(sys.executable).parent
SCENARIOS = ("admin_licensing", "civil_service_hiring", "awards", "subsidies", "public_procurement", "financing",
             "public_services")
GRADES = (("AAA", 1060), ("AA", 1035), ("A", 1000), ("B", 900), ("C", 700), ("D", 500))
LISTS = ("serious_dishonesty", "dishonest_debtor", "key_supervision", "red_volunteer", "red_moral_model")

BARE_APP = '''
from fastapi import FastAPI
app = FastAPI()
@app.post("/bare")
async def bare():
    return {"ok": True, "grade": "A", "lists": [], "measures": []}
'''

LUA = r'''
local bodies = {%(bodies)s}
local n = #bodies
local limit = %(limit)d
local count = 0
local idx = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
function init(args) idx = math.random(n) end
function request() idx = idx %% n + 1; return wrk.format(nil, "%(path)s", nil, bodies[idx]) end
function response(status, headers, body)
  count = count + 1
  if count >= limit then wrk.thread:stop() end
end
function done(summary, latency, requests)
  io.write(string.format('RESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"status_errors": %%d, "connect_errors": %%d, "read_errors": %%d, "timeouts": %%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.timeout))
end
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def people(n: int) -> list[str]:
    """``n`` distinct valid ID numbers (Heping District), deterministic."""
    base = date(1950, 1, 1)
    return [make_id_number("120101", base + timedelta(days=i // 1000), i % 1000) for i in range(n)]


def build(db, vault: Vault, n: int) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    numbers = people(n)
    t = time.perf_counter()
    chunk = 50_000
    now = utcnow()
    for i in range(0, n, chunk):
        rows = []
        for j, number in enumerate(numbers[i:i + chunk], start=i):
            sealed = vault.seal_subject(number, "王小明")
            rows.append({"id": j + 1, "id_bidx": sealed.id_bidx, "id_cipher": sealed.id_cipher,
                         "name_cipher": sealed.name_cipher, "key_id": sealed.key_id,
                         "created_at": now, "updated_at": now})
        with db.session() as s:
            bulk.insert_rows(s, Subject.__table__, rows)
    rnd = random.Random(5)
    status = []
    for sid in range(1, n + 1, 4):
        grade, score = GRADES[rnd.randrange(len(GRADES))]
        lists = []
        if rnd.random() < 0.12:
            code = rnd.choice(LISTS)
            lists = [{"code": code, "since": "2026-03-01"}]
            if not code.startswith("red_"):
                grade, score = "D", 500
        status.append({"subject_id": sid, "score": score, "grade": grade, "ruleset_version": 1, "lists": lists,
                       "red": any(x["code"].startswith("red_") for x in lists),
                       "dishonest": any(not x["code"].startswith("red_") for x in lists),
                       "clean_3y": rnd.random() < 0.5, "updated_at": now})
    for i in range(0, len(status), chunk):
        with db.session() as s:
            bulk.insert_rows(s, SubjectStatus.__table__, status[i:i + chunk])
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as c:
            # the ids above were given explicitly: move the sequence past them for later inserts
            c.execute(text("SELECT setval(pg_get_serial_sequence('subjects', 'id'), (SELECT max(id) FROM subjects))"))
        # What autovacuum does after a bulk load on a production server (this machine's runs without
        # it): statistics, and every row's commit status noted on its page (hint bits) with the
        # visibility map set. Without it the first reads of the just-written 10^6 rows paid for that
        # (the first comparison after the load: ~37,000 rows/s, the next ones ~50,000).
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM (ANALYZE) subjects")), c.execute(text("VACUUM (ANALYZE) subject_status"))
    print(f"   {n:,} subjects + {len(status):,} status rows with bulk SQL in {time.perf_counter() - t:.1f} s")
    with db.session() as s:
        dept = auth.add_department(s, code="rsj", name="区人力资源和社会保障局", actor=ACTOR)
        key, _ = auth.create_api_key(s, department=dept, name="bench", actor=ACTOR)
        measures.load_default(s, actor=ACTOR)
        try:
            from xinyong.catalog.service import load_default as load_catalog
            from xinyong.lists.service import load_default as load_lists

            load_catalog(s, actor=ACTOR)
            load_lists(s, actor=ACTOR)
        except ImportError:
            pass
    return key, numbers


def start(cmd: list[str], env: dict[str, str], log: Path, port: int) -> subprocess.Popen:  # type: ignore[type-arg]
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                time.sleep(1.5)  # both workers up
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()[-2000:]}") from None
            time.sleep(0.3)
    raise RuntimeError("server did not start")


def stop(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            kids = [int(k) for k in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            kids = []
        out.extend(kids)
        todo.extend(kids)
    return out


def worker_rss(pid: int) -> list[tuple[int, int]]:
    """(pid, RSS in KiB) of every descendant of ``pid`` (uvicorn's workers)."""
    out = []
    for k in descendants(pid):
        try:
            for line in Path(f"/proc/{k}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out.append((k, int(line.split()[1])))
        except OSError:
            pass
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its descendants so far (the server's workers): per check, a
    figure that the machine's other load disturbs far less than the rate."""
    ticks = 0
    for p in (pid, *descendants(pid)):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def bodies(numbers: list[str], unknown: list[str], count: int = 5000) -> list[str]:
    rnd = random.Random(9)
    out = []
    for i in range(count):
        number = rnd.choice(unknown) if i % 10 == 9 else rnd.choice(numbers)
        out.append(json.dumps({"id_number": number, "scenario": SCENARIOS[i % len(SCENARIOS)]}))
    return out


def run_wrk(port: int, path: str, key: str, body_list: list[str], *, duration: int, requests: int,
            connections: int, threads: int, workdir: Path) -> dict[str, float]:
    script = workdir / f"load-{path.strip('/').replace('/', '_')}.lua"
    script.write_text(LUA % {"bodies": ",".join("[[" + b + "]]" for b in body_list), "limit": max(1, requests // threads),
                             "key": key, "path": path})
    res = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", "10s",
                          "-s", str(script), f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                         timeout=duration + 60)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(res.stdout + res.stderr)
    r = json.loads(line[len("RESULT "):])
    r["rate"] = r["requests"] / (r["duration_us"] / 1e6)
    return r


def run_httpx(port: int, path: str, key: str, body_list: list[str], *, duration: int, requests: int,
              connections: int, **_: object) -> dict[str, float]:
    import asyncio

    lat: list[float] = []
    errors = 0

    async def main() -> float:
        nonlocal errors
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                     headers={"Authorization": f"Bearer {key}",
                                              "Content-Type": "application/json"}) as c:
            end = time.perf_counter() + duration
            counter = iter(range(requests))

            async def one() -> None:
                nonlocal errors
                for i in counter:
                    if time.perf_counter() > end:
                        return
                    t = time.perf_counter()
                    r = await c.post(path, content=body_list[i % len(body_list)])
                    lat.append(time.perf_counter() - t)
                    errors += r.status_code >= 400

            t0 = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(connections)))
            return time.perf_counter() - t0

    secs = asyncio.run(main())
    lat.sort()
    return {"requests": len(lat), "rate": len(lat) / secs, "p50_us": lat[len(lat) // 2] * 1e6,
            "p99_us": lat[int(len(lat) * 0.99)] * 1e6, "status_errors": errors}


def batch_file(numbers: list[str], unknown: list[str], rows: int) -> bytes:
    """The comparison file: 90 % known ID numbers, 9 % unknown to the platform, 1 % invalid, a name on each row."""
    rnd = random.Random(3)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["身份证号码", "姓名"])
    for i in range(rows):
        if i % 100 == 99:
            w.writerow(["12010119800230123X", "坏号"])
        else:
            w.writerow([rnd.choice(unknown) if i % 10 == 9 else rnd.choice(numbers), "王小明"])
    return buf.getvalue().encode()


def batch_end_to_end(port: int, key: str, numbers: list[str], unknown: list[str], rows: int) -> tuple[float, dict]:
    data = batch_file(numbers, unknown, rows)
    h = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=h, timeout=120) as c:
        t = time.perf_counter()
        r = c.post("/api/v1/checks/batch", data={"scenario": "civil_service_hiring"},
                   files={"file": ("batch.csv", data, "text/csv")})
        r.raise_for_status()
        job = r.json()
        while job["status"] in ("pending", "running"):
            time.sleep(0.05)
            job = c.get(f"/api/v1/checks/batch/{job['id']}").json()
        if job["status"] != "done":
            raise RuntimeError(job)
        result = c.get(job["result_url"])
        result.raise_for_status()
        secs = time.perf_counter() - t
    text_ = result.content.decode("utf-8-sig")
    assert not any(n in text_ for n in numbers[:1000]), "a raw ID number in the result file"
    return rows / secs, job


def bench(label: str, base_url: str | None, args: argparse.Namespace, workdir: Path) -> None:
    print(f"== {label}")
    ring = KeyRing.generate()
    keyfile = workdir / f"keys-{label}.json"
    ring.save(keyfile)
    vault = Vault(ring)
    url, db, drop = fresh(base_url, workdir)
    try:
        key, numbers = build(db, vault, args.subjects)
        unknown = [make_id_number("120102", date(1980, 1, 1) + timedelta(days=i), 1) for i in range(2000)]
        body_list = bodies(numbers, unknown)
        env = {**os.environ, "XINYONG_DATABASE_URL": url, "XINYONG_KEY_FILE": str(keyfile),
               "XINYONG_RATE_LIMITS": args.rate_limits}
        port, bare_port = free_port(), free_port()
        bare_dir = workdir / "bare"
        bare_dir.mkdir(exist_ok=True)
        (bare_dir / "bare_app.py").write_text(BARE_APP)
        server_log, bare_log = workdir / f"server-{label}.log", workdir / f"bare-{label}.log"
        serve = [str(VENV_BIN / "xinyong"), "serve", "--workers", "2", "--port", str(port), *args.serve_option]
        if os.environ.get("BENCH_SERVER_CMD"):
            serve = os.environ["BENCH_SERVER_CMD"].format(port=port).split()
        server = start(serve, env, server_log, port)
        bare = start([str(VENV_BIN / "python"), "-m", "uvicorn", "bare_app:app", "--workers", "2", "--port",
                      str(bare_port), "--app-dir", str(bare_dir),
                      *(["--no-access-log"] if "--no-access-log" in args.serve_option else [])],
                     env, bare_log, bare_port)
        print(f"   server: {' '.join(serve[1:])}; XINYONG_RATE_LIMITS={args.rate_limits} (the check API's "
              f"per-key limit, lifted for the load); uvicorn picks uvloop + httptools (installed with "
              f"uvicorn[standard]) for both servers")
        try:
            load = run_wrk if shutil.which("wrk") and not args.httpx else run_httpx
            kw = {"connections": args.connections, "threads": 2, "workdir": workdir}
            load(port, "/api/v1/checks", key, body_list, duration=3, requests=5000, **kw)  # warm-up
            load(bare_port, "/bare", key, body_list, duration=3, requests=5000, **kw)
            with db.engine.connect() as c:
                before = c.execute(text("SELECT count(*) FROM checks")).scalar_one()
            print(f"   load: {'wrk' if load is run_wrk else 'asyncio/httpx (wrk unavailable)'}, {args.connections} "
                  f"connections, at most {args.requests:,} requests or {args.duration} s; "
                  f"load average before: {os.getloadavg()[0]:.2f}")
            cpu0 = cpu_seconds(server.pid)
            chk = load(port, "/api/v1/checks", key, body_list, duration=args.duration, requests=args.requests, **kw)
            cpu1 = cpu_seconds(server.pid)
            time.sleep(0.5)
            with db.engine.connect() as c:
                after = c.execute(text("SELECT count(*) FROM checks")).scalar_one()
            # The ceiling must not stop at the checks' request bound: wrk divides by the whole duration.
            ceil = load(bare_port, "/bare", key, body_list, duration=args.duration, requests=10 * args.requests, **kw)
            rss = worker_rss(server.pid)
            print(f"   checks:  {chk['rate']:,.0f}/s  p50 {chk['p50_us'] / 1000:.1f} ms  p99 {chk['p99_us'] / 1000:.1f} ms"
                  f"  ({chk['requests']:,} answers, {chk.get('status_errors', 0)} non-2xx)")
            print(f"   server CPU: {1e6 * (cpu1 - cpu0) / max(1, chk['requests']):,.0f} µs a check (both workers, "
                  f"the database server's own not included)")
            print(f"   bare:    {ceil['rate']:,.0f}/s  p50 {ceil['p50_us'] / 1000:.1f} ms  p99 {ceil['p99_us'] / 1000:.1f} ms")
            print(f"   ratio checks/bare: {chk['rate'] / ceil['rate']:.2f}")
            print(f"   registered: {after - before:,} new register rows for {chk['requests']:,} answers "
                  f"({'every answer registered' if after - before >= chk['requests'] else 'MISSING ROWS'})")
            print("   worker RSS: " + ", ".join(f"{kb / 1024:.0f} MB" for _pid, kb in rss)
                  + f" (max {max((kb for _p, kb in rss), default=0) / 1024:.0f} MB)")
            rates = []
            for run in range(args.batch_runs):
                rate, job = batch_end_to_end(port, key, numbers, unknown, args.batch_rows)
                rates.append(rate)
                print(f"   batch comparison, upload {run + 1}: {rate:,.0f} rows/s end to end "
                      f"({args.batch_rows:,} rows: {job['counts']})")
            if len(rates) > 1:
                print(f"   batch comparison: best {max(rates):,.0f} rows/s, spread {min(rates):,.0f}-{max(rates):,.0f} "
                      f"over {len(rates)} uploads (each adds its rows to the register)")
            print(f"   load average after: {os.getloadavg()[0]:.2f}")
        finally:
            stop(server)
            stop(bare)
        log_text = server_log.read_text(errors="replace")
        if args.show_log:
            print("\n".join(ln for ln in log_text.splitlines() if "HTTP/1.1\" 200" not in ln)[:6000])
        leaked = [n for n in body_list[:200] if json.loads(n)["id_number"] in log_text]
        print(f"   server log: {len(log_text.splitlines()):,} lines, raw ID numbers found: {len(leaked)}")
    finally:
        db.dispose()
        drop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--db-url", default=os.environ.get("XINYONG_BENCH_PG"),
                    help="also run on this PostgreSQL server (a fresh schema, dropped after)")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--batch-rows", type=int, default=200_000)
    ap.add_argument("--batch-runs", type=int, default=3,
                    help="comparison files uploaded one after another (the machine is shared: best and spread)")
    ap.add_argument("--show-log", action="store_true", help="print the end of the server log")
    ap.add_argument("--rate-limits", default="off",
                    help="XINYONG_RATE_LIMITS for the server (default off: one key sends the whole load)")
    ap.add_argument("--serve-option", action="append", default=None,
                    help="extra option for `xinyong serve` (repeatable; default --no-access-log, for both servers)")
    ap.add_argument("--httpx", action="store_true", help="use the asyncio/httpx load generator even if wrk exists")
    args = ap.parse_args()
    if args.serve_option is None:
        args.serve_option = ["--no-access-log"]
    each_engine(bench, args)


if __name__ == "__main__":
    main()
