"""A process killed mid-import (kill -9) leaves whole chunks or nothing; the resumed job converges to
exactly the intended rows: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from tests.imports.imports_support import ZH_HEADER, csv_bytes, penalty_rows
from tests.support import SYSTEM

from xinyong.auth import service as auth_service
from xinyong.catalog.service import load_default
from xinyong.db import Database, utcnow
from xinyong.imports import service
from xinyong.imports.models import ImportJob
from xinyong.imports.runner import run_job
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault
from xinyong.records.service import DepartmentRef

WORKER = Path(__file__).with_name("crash_worker.py")


def _one(path: Path, sql: str, params: tuple = ()):  # type: ignore[no-untyped-def,type-arg]
    conn = sqlite3.connect(path, timeout=10)
    try:
        return conn.execute(sql, params).fetchone()
    finally:
        conn.close()


def _gone(pid: int, within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a child of this process that ended is a zombie until waited for
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs kill -9")
@pytest.mark.parametrize("helper", [False, True], ids=["in-process", "helper"])
def test_killed_mid_import_then_resumed(fresh_db_url: str, tmp_path: Path, helper: bool) -> None:
    """With the helper process too (``imports.prepare``): it and its fork server end with the runner,
    not left waiting with the file's rows in memory."""
    db_path = Path(fresh_db_url.split("///", 1)[1])
    ring = KeyRing.generate()
    key_file = tmp_path / "keys.json"
    ring.save(key_file)
    vault = Vault(ring)
    rows = penalty_rows(600, prefix="K")
    bad = {7, 250, 431}  # rejected rows, in different chunks
    for i in bad:
        rows[i][0] = "not-an-id"
    data = csv_bytes(ZH_HEADER, rows)

    db = Database(fresh_db_url)
    try:
        with db.session() as s:
            load_default(s, actor=SYSTEM)
            dept = auth_service.add_department(s, code="scjgj", name="区市场监管局", actor=SYSTEM)
            ref = DepartmentRef(id=dept.id, code=dept.code)
        with db.session() as s:
            job_id = service.create_job(s, vault=vault, department=ref, item_code="admin_penalty",
                                        filename="kill.csv", data=data, actor=SYSTEM).id

        pids = tmp_path / "helper-pids"
        proc = subprocess.Popen([sys.executable, str(WORKER), fresh_db_url, str(key_file), str(job_id), "25",
                                 str(pids) if helper else ""], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        done = 0
        while time.monotonic() < deadline:
            done = _one(db_path, "SELECT rows_done FROM import_jobs WHERE id = ?", (job_id,))[0]
            if done >= 100 or proc.poll() is not None:
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        if helper:
            helper_pid, server_pid = (int(x) for x in pids.read_text().split())
            assert _gone(helper_pid) and _gone(server_pid)

        status, done, created, rejected = _one(
            db_path, "SELECT status, rows_done, created, rejected FROM import_jobs WHERE id = ?", (job_id,))
        assert status == "running" and 0 < done < 600 and done % 25 == 0  # whole chunks only
        n_records = _one(db_path, "SELECT count(*) FROM records WHERE source_id LIKE 'K%'")[0]
        n_errors = _one(db_path, "SELECT count(*) FROM import_row_errors WHERE job_id = ?", (job_id,))[0]
        assert n_records == created and created + rejected == done  # committed work = what the job says
        assert n_errors == rejected

        with db.session() as s:
            job = service.get_job(s, job_id=job_id, department_id=ref.id)
            with pytest.raises(service.ImportsError) as exc:  # the heartbeat is still fresh
                service.resume_job(s, job=job, actor=SYSTEM)
            assert exc.value.code == "job_running"
        with db.session() as s:  # a minute without a heartbeat
            s.execute(update(ImportJob).where(ImportJob.id == job_id)
                      .values(heartbeat_at=utcnow() - timedelta(seconds=90)))
        with db.session() as s:
            job = service.get_job(s, job_id=job_id, department_id=ref.id)
            assert service.effective_status(job) == "interrupted"
            service.resume_job(s, job=job, actor=SYSTEM)
        final = run_job(db, vault, job_id, chunk_size=25)
        assert final is not None and final.status == "done"
        assert (final.rows_total, final.rows_done) == (600, 600)
        assert (final.created, final.updated, final.unchanged, final.rejected) == (597, 0, 0, 3)

        assert _one(db_path, "SELECT count(*), count(DISTINCT source_id) FROM records WHERE source_id LIKE 'K%'") \
            == (597, 597)
        assert _one(db_path, "SELECT count(*) FROM subjects")[0] == 597
        errs = _one(db_path, "SELECT group_concat(row_number) FROM import_row_errors WHERE job_id = ?", (job_id,))[0]
        assert sorted(int(x) for x in errs.split(",")) == sorted(i + 2 for i in bad)
        assert _one(db_path, "SELECT count(*) FROM import_files")[0] == 0
        assert _one(db_path, "SELECT attempts FROM import_jobs WHERE id = ?", (job_id,))[0] == 2
    finally:
        db.dispose()
