"""CSV/XLSX import benchmark (issue 3: CSV import ≥ 20,000 rows/s on SQLite).

    .venv/bin/python bench/bench_imports.py [--rows 50000] [--subjects 25000] [--chunk 5000] [--rounds 2]
                                            [--pg URL] [--xlsx] [--no-handlers-too]

Measures, on the same admin_penalty file:
  1. parsing alone: type sniffing, decoding, CSV reading, header check (rows/s);
  2. parsing + mapping every row to a record dict (what the runner adds on top of ingestion);
  3. ingestion alone: records.service.ingest over the same records, chunk by chunk, one transaction
     per chunk (a fresh database) — the floor the import cannot beat;
  4. the whole import: create_job + run_job (parse, map, ingest, row errors, progress) on a fresh
     database — end to end, as `xinyong import` does it, with the file prepared by a helper process
     (``imports.prepare``, what ``XINYONG_IMPORT_HELPER=auto`` gives a file this size on 2 cores);
  5. the same without the helper (everything in the runner's process), for the comparison.

Steps 3-5 run ``--rounds`` times each, alternating (best and spread printed). ``--no-handlers-too`` repeats
them with the ``records_changed`` handlers (lists, scoring) switched off in this process, to show
what they cost. The harness's own copies of the data (steps 1-2) are moved out of the garbage
collector's view (``gc.freeze()``); the import in step 4 parses the file again and carries its rows.
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import add_runtime_option, apply_runtime, fmt_rate, subjects  # noqa: E402
from common import fresh_database as fresh  # noqa: E402

from xinyong import events  # noqa: E402
from xinyong.audit.service import Actor  # noqa: E402
from xinyong.auth import service as auth  # noqa: E402
from xinyong.catalog import service as catalog  # noqa: E402
from xinyong.imports import parsers, service  # noqa: E402
from xinyong.imports.runner import CHUNK_SIZE, run_job  # noqa: E402
from xinyong.lists import service as lists  # noqa: E402
from xinyong.privacy.keys import KeyRing  # noqa: E402
from xinyong.privacy.vault import Vault  # noqa: E402
from xinyong.records import service as rsvc  # noqa: E402

ACTOR = Actor.system("bench")
HEADER = ["身份证号码", "姓名", "来源编号", "决定日期", "严重程度", "处罚决定书文号", "违法行为类型", "处罚类别",
          "罚款金额（元）"]


def penalty_file(n: int, n_subjects: int) -> tuple[bytes, list[list[str]]]:
    people = subjects(n_subjects)
    rows = []
    for i in range(n):
        number, name = people[i % len(people)]
        rows.append([number, name, f"B{i:08d}", f"202{4 + i % 2}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                     ("轻微", "一般", "严重")[i % 3], f"和市监罚〔2025〕{i}号", "未按规定公示信息",
                     ("警告", "罚款", "通报批评")[i % 3], str(i % 50000)])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEADER)
    w.writerows(rows)
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"), rows


def setup(db) -> rsvc.DepartmentRef:  # type: ignore[no-untyped-def]
    with db.session() as s:
        catalog.load_default(s, actor=ACTOR)
        # the list kinds, as on a running platform: the debtors' records feed their list, a volunteer's
        # hours or a penalty move the red lists (a database without them ran the lists handler idle)
        lists.load_default(s, actor=ACTOR)
        d = auth.add_department(s, code="scjgj", name="区市场监管局", actor=ACTOR)
        return rsvc.DepartmentRef(id=d.id, code=d.code)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--subjects", type=int, default=25_000)
    ap.add_argument("--chunk", type=int, default=CHUNK_SIZE, help="rows per chunk (default: the runner's)")
    ap.add_argument("--pg", default=os.environ.get("XINYONG_BENCH_PG"))
    ap.add_argument("--xlsx", action="store_true", help="also time reading the same rows from an XLSX file")
    ap.add_argument("--rounds", type=int, default=2, help="runs of 3 and 4 (best kept)")
    ap.add_argument("--no-handlers-too", action="store_true",
                    help="also run 3 and 4 with the records_changed handlers switched off")
    add_runtime_option(ap)
    args = ap.parse_args()
    apply_runtime(args)
    vault = Vault(KeyRing.generate())
    data, rows = penalty_file(args.rows, args.subjects)
    spec = {s.code: s for s in catalog.read_yaml()}["admin_penalty"]
    print(f"file: {len(data) / 1e6:.1f} MB, {args.rows:,} rows, {args.subjects:,} subjects, chunk {args.chunk}")

    t = time.perf_counter()
    pf = parsers.parse(data, spec)
    t_parse = time.perf_counter() - t
    print(f"1. parse (sniff, decode, CSV, header):       {fmt_rate(len(pf.rows), t_parse)}")
    t = time.perf_counter()
    mapper = parsers.RowMapper("admin_penalty", spec, pf.header)
    recs = [mapper.convert(c)[0] for _n, c in pf.rows]
    t_map = time.perf_counter() - t
    print(f"2. parse + map to record dicts:              {fmt_rate(len(recs), t_parse + t_map)}")
    if args.xlsx:
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet()
        ws.append(HEADER)
        for r in rows:
            ws.append(r)
        b = io.BytesIO()
        wb.save(b)
        t = time.perf_counter()
        px = parsers.parse(b.getvalue(), spec)
        print(f"   XLSX parse (openpyxl read-only):          {fmt_rate(len(px.rows), time.perf_counter() - t)}")

    gc.collect()
    gc.freeze()  # see the module docstring
    targets = [("SQLite", None)] + ([("PostgreSQL", args.pg)] if args.pg else [])
    with tempfile.TemporaryDirectory() as tmp:
        for label, base in targets:
            for handlers in (True, False) if args.no_handlers_too else (True,):
                ingest_s, all_s, alone_s = [], [], []
                for _round in range(args.rounds):  # alternate; a shared machine is noisy
                    ingest_s.append(_ingest_alone(base, Path(tmp), vault, recs, args.chunk, handlers))
                    all_s.append(_whole_import(base, Path(tmp), vault, data, args.rows, args.chunk, handlers, True))
                    alone_s.append(_whole_import(base, Path(tmp), vault, data, args.rows, args.chunk, handlers,
                                                 False))
                best_ingest, best_all = min(ingest_s), min(all_s)
                tag = f"[{label}{'' if handlers else ', handlers off'}]"
                print(f"3. {tag} ingest alone, chunks of {args.chunk}:   {fmt_rate(len(recs), best_ingest)}"
                      f"  (spread {len(recs) / max(ingest_s):,.0f}-{len(recs) / best_ingest:,.0f}/s)")
                print(f"4. {tag} whole import, helper process:   {fmt_rate(args.rows, best_all)}"
                      f"  (spread {args.rows / max(all_s):,.0f}-{args.rows / best_all:,.0f}/s)"
                      f"  — overhead over ingest: {best_all - best_ingest:+.2f} s "
                      f"({100 * (best_all - best_ingest) / best_all:.0f}% of the import)")
                print(f"5. {tag} whole import, no helper process: {fmt_rate(args.rows, min(alone_s))}"
                      f"  (spread {args.rows / max(alone_s):,.0f}-{args.rows / min(alone_s):,.0f}/s)"
                      f"  — the helper's gain: {min(alone_s) / best_all:.2f}×")
    gc.unfreeze()


class _Handlers:
    """Switch the records_changed handlers off for a block (and back on after)."""

    def __init__(self, on: bool) -> None:
        self.on = on

    def __enter__(self) -> None:
        events._ensure_wired()
        self.saved = (list(events._handlers), list(events._lists_handlers))
        if not self.on:
            events._handlers.clear()
            events._lists_handlers.clear()

    def __exit__(self, *_exc: object) -> None:
        events._handlers[:], events._lists_handlers[:] = self.saved


def _ingest_alone(base: str | None, tmp: Path, vault: Vault, recs: list[dict], chunk: int, handlers: bool) -> float:
    _url, db, drop = fresh(base, tmp)
    try:
        dept = setup(db)
        items = catalog.current_items(db.sessionmaker())
        with _Handlers(handlers):
            t = time.perf_counter()
            for i in range(0, len(recs), chunk):
                with db.session() as s:
                    rsvc.ingest(s, vault=vault, department=dept, records=recs[i : i + chunk],
                                actor=ACTOR, channel="file", items=items)
            return time.perf_counter() - t
    finally:
        db.dispose()
        drop()


def _whole_import(base: str | None, tmp: Path, vault: Vault, data: bytes, n_rows: int, chunk: int,
                  handlers: bool, helper: bool) -> float:
    _url, db, drop = fresh(base, tmp)
    try:
        dept = setup(db)
        with _Handlers(handlers):
            t = time.perf_counter()
            with db.session() as s:
                job_id = service.create_job(s, vault=vault, department=dept, item_code="admin_penalty",
                                            filename="bench.csv", data=data, actor=ACTOR).id
            p = run_job(db, vault, job_id, chunk_size=chunk, helper=helper)
            elapsed = time.perf_counter() - t
        assert p is not None and p.status == "done" and p.created == n_rows, p
        return elapsed
    finally:
        db.dispose()
        drop()


if __name__ == "__main__":
    main()
