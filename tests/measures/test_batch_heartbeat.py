"""A comparison job's heartbeat stays fresh while one chunk takes long (a cold page cache made the
first lookup of 20,000 rows last about a minute): otherwise the job shows ``interrupted`` while it
runs. On a database with real connections: the heartbeat is written by a thread of its own."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from tests.support import SYSTEM, committed_database, new_id_number

from xinyong.auth import service as auth_service
from xinyong.imports.service import effective_status
from xinyong.measures import batch, service
from xinyong.measures.models import CompareJob
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault


def _pending_job(db, rows: int) -> tuple[Vault, int]:  # type: ignore[no-untyped-def]
    """A department and a pending comparison job of ``rows`` valid ID numbers."""
    vault = Vault(KeyRing.generate())
    with db.session() as s:
        dept = auth_service.add_department(s, code="rsj", name="区人社局", actor=SYSTEM)
        caller = service.Caller(dept.id, dept.code, SYSTEM)
        data = "\n".join(new_id_number() for _ in range(rows)).encode()
        return vault, batch.create_job(s, vault=vault, caller=caller, scenario="civil_service_hiring",
                                       filename="x.csv", data=data).id


@pytest.mark.parametrize(("every", "kept_fresh"), [(0.05, True), (60.0, False)])
def test_the_heartbeat_is_written_while_a_slow_chunk_is_looked_up(tmp_path, monkeypatch, every, kept_fresh):  # type: ignore[no-untyped-def]
    db, drop = committed_database(tmp_path, "heartbeat")
    try:
        vault, job_id = _pending_job(db, rows=3)
        seen: list[tuple[datetime, int, str]] = []  # (heartbeat, rows done, status shown) during the lookup
        real_lookup = batch._lookup

        def slow_lookup(db_, unique):  # type: ignore[no-untyped-def]
            deadline = time.monotonic() + 0.6
            while time.monotonic() < deadline:
                with db.session(write=False) as s:
                    job = s.get(CompareJob, job_id)
                    assert job is not None
                    seen.append((job.heartbeat_at, job.rows_done, job.status))
                time.sleep(0.05)
            return real_lookup(db_, unique)

        monkeypatch.setattr(batch, "_lookup", slow_lookup)
        job = batch.run_job(db, vault, job_id, heartbeat_every=every)
        assert job is not None and job.status == "done" and job.rows_done == 3
        beats = sorted({beat for beat, _done, _status in seen})
        assert {(done, status) for _beat, done, status in seen} == {(0, "running")}  # all within the one chunk
        assert (len(beats) > 1) is kept_fresh, beats
        if kept_fresh:  # the beats came about every 0.05 s: a 60 s threshold never sees this job as stale
            with db.session(write=False) as s:
                stored = s.get(CompareJob, job_id)
                assert stored is not None
            assert effective_status(stored) == "done"  # type: ignore[arg-type]
    finally:
        drop()


def test_the_heartbeat_stops_once_the_job_is_another_runners(tmp_path):  # type: ignore[no-untyped-def]
    db, drop = committed_database(tmp_path, "heartbeat")
    try:
        _vault, job_id = _pending_job(db, rows=1)
        token = batch.claim(db, job_id)
        assert token is not None
        with batch.KeepAlive(db, job_id, token, every=0.02) as alive:
            deadline = time.monotonic() + 2
            while alive.beats < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert alive.beats >= 2
            with db.session() as s:  # resumed elsewhere: another runner's token
                s.get(CompareJob, job_id).runner = "someone-else"  # type: ignore[union-attr]
            time.sleep(0.2)
            after = alive.beats
            time.sleep(0.2)
            assert alive.beats == after  # it wrote nothing for a job no longer its own, and stopped
        with db.session(write=False) as s:
            assert s.get(CompareJob, job_id).runner == "someone-else"  # type: ignore[union-attr]
    finally:
        drop()
