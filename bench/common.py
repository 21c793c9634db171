"""Shared benchmark data: deterministic synthetic subjects and records (no Faker: it is slow at 10^5)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from xinyong import migrate
from xinyong.db import Database
from xinyong.privacy.identity import make_id_number

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国志文斌宇浩凯"


def subjects(n: int, seed: int = 7) -> list[tuple[str, str]]:
    rnd = random.Random(seed)
    out, seen = [], set()
    base = date(1950, 1, 1)
    while len(out) < n:
        born = base + timedelta(days=rnd.randrange(0, 365 * 55))
        number = make_id_number("120101", born, rnd.randrange(0, 1000))
        if number in seen:
            continue
        seen.add(number)
        out.append((number, rnd.choice(SURNAMES) + "".join(rnd.choice(GIVEN) for _ in range(rnd.choice((1, 2))))))
    return out


def records(people: list[tuple[str, str]], n: int, seed: int = 11, prefix: str = "R") -> list[dict]:
    """A realistic mix: penalties (all severities), licences, honours, volunteering, debtors."""
    rnd = random.Random(seed)
    out = []
    today = date(2026, 11, 1)
    for i in range(n):
        number, name = people[i % len(people)]
        decided = (today - timedelta(days=rnd.randrange(0, 365 * 4))).isoformat()
        kind = rnd.random()
        if kind < 0.45:
            rec = {"item": "admin_penalty", "severity": rnd.choice(("minor", "general", "serious")),
                   "fields": {"decision_no": f"和市监罚〔2025〕{i}号", "violation": "未按规定公示信息",
                              "penalty_type": rnd.choice(("警告", "罚款", "通报批评")), "amount": rnd.randrange(0, 50000)}}
        elif kind < 0.75:
            rec = {"item": "admin_license", "fields": {"license_no": f"JY{i:010d}", "license_type": "普通",
                                                        "content": "食品经营许可"}}
        elif kind < 0.88:
            rec = {"item": "honor", "fields": {"title": "优秀志愿者", "level": rnd.choice(("district", "city", "street")),
                                                "awarded_by": "和平区文明办"}}
        elif kind < 0.97:
            rec = {"item": "volunteer_service", "fields": {"organisation": "和平区志愿者协会",
                                                            "hours": rnd.randrange(1, 2000)}}
        else:
            rec = {"item": "dishonest_debtor", "fields": {"case_no": f"(2025)津0101执{i}号", "court": "和平区人民法院",
                                                           "obligation": "给付货款", "circumstance": "有履行能力而拒不履行"}}
        rec.update(id_number=number, name=name, source_id=f"{prefix}{i:08d}", decided_at=decided)
        out.append(rec)
    return out


def fmt_rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s ({n:,} in {seconds:.2f} s)"


def fresh_database(url_base: str | None, workdir: Path) -> tuple[str, Database, Callable[[], None]]:
    """A new database built by the migrations: a SQLite file in ``workdir``, or a new schema on the
    PostgreSQL server ``url_base`` (``drop()`` removes it)."""
    tag = uuid.uuid4().hex[:8]
    return migrate.scratch_database(url_base, sqlite_file=workdir / f"bench-{tag}.db", schema=f"xy_bench_{tag}")


def each_engine(bench: Callable[..., None], args: Any) -> None:
    """``bench(label, base_url, args, workdir)`` on SQLite (unless ``args.no_sqlite``), then on the
    PostgreSQL server of ``args.db_url`` if given, in one temporary work folder."""
    import os
    import tempfile

    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_sqlite:
            bench("SQLite", None, args, Path(tmp))
        if args.db_url:
            bench("PostgreSQL", args.db_url, args, Path(tmp))


def add_runtime_option(ap: Any) -> None:
    ap.add_argument("--python-gc-defaults", action="store_true",
                    help="CPython's garbage-collector thresholds instead of xinyong.runtime's, here and in the "
                         "servers started (A/B)")


def apply_runtime(args: Any) -> None:
    """The runtime settings ``xinyong serve``'s workers and the CLI run with (``xinyong.runtime``),
    so that what is timed in process is what they run; ``--python-gc-defaults`` keeps CPython's, in
    this process and (through ``XINYONG_GC_THRESHOLD0``) in the servers it starts."""
    import gc
    import os

    from xinyong import runtime

    if args.python_gc_defaults:
        os.environ[runtime.GC_THRESHOLD0_ENV] = str(gc.get_threshold()[0])
    runtime.configure_gc()
    print(f"garbage collector thresholds: {gc.get_threshold()}"
          f"{' (CPython defaults)' if args.python_gc_defaults else ' (xinyong.runtime, as the server and CLI)'}")


def server_cpu_seconds() -> float | None:
    """CPU seconds used so far by a PostgreSQL server running on this machine (its postmaster, the
    children it has reaped, and the live ones: backends, WAL writer, checkpointer), read from
    /proc; None when there is no such server to read (another machine, another user's files).

    On a shared, noisy machine the CPU a row — this process's and the server's — is steadier than
    a rate: subtracting two readings around a run gives the server's share of the work."""
    import contextlib
    import glob
    import os

    for pid_file in sorted(glob.glob("/var/run/postgresql/*.pid")) + sorted(glob.glob("/var/lib/postgresql/*/*/postmaster.pid")):
        try:
            with open(pid_file) as f:
                pid = int(f.readline())
            ticks = sum(int(x) for x in _proc_stat(pid)[13:17])  # utime, stime, cutime, cstime
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                children = [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
        for child in children:
            with contextlib.suppress(OSError, ValueError):  # ended meanwhile: its time moves to cutime
                ticks += sum(int(x) for x in _proc_stat(child)[13:15])
        return ticks / os.sysconf("SC_CLK_TCK")
    return None


def _proc_stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat, indexed from 0 as proc(5) numbers them from 1 (the command
    name, which may hold spaces, as one field)."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    return [text[: text.index(" ")], text[text.index("(") : text.rindex(")") + 1], *text[text.rindex(")") + 2 :].split()]
