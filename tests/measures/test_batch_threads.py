"""Batch comparison on a database with real connections. On PostgreSQL chunks are looked up on a
read thread while earlier chunks are written on a write thread; on SQLite (and on the tests'
one-connection ``db``, see test_batch_pipeline.py) one database thread does both. Either way every
row is registered once, chunks are written in order, and a job taken over stops after the chunks
already written."""

from __future__ import annotations

import threading

from sqlalchemy import func, select, update
from tests.measures.measures_support import subject_with_status
from tests.support import SYSTEM, committed_database, new_id_number

from xinyong.audit.models import AuditEntry
from xinyong.auth import service as auth_service
from xinyong.measures import batch, service
from xinyong.measures.models import Check, CompareJob
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault


def _job(db, vault: Vault, content: str) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        dept = auth_service.add_department(s, code="rsj", name="区人社局", actor=SYSTEM)
        caller = service.Caller(dept.id, dept.code, SYSTEM)
        return batch.create_job(s, vault=vault, caller=caller, scenario="civil_service_hiring", filename="x.csv",
                                data=content.encode()).id


def test_chunks_are_looked_up_while_earlier_ones_are_written(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    db, drop = committed_database(tmp_path, "batchthreads")
    try:
        pg = db.engine.dialect.name == "postgresql"
        vault = Vault(KeyRing.generate())
        with db.session() as s:
            listed, _ = subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"])
        rows = [listed if i % 3 == 0 else new_id_number() for i in range(7)] + ["12345"]
        job_id = _job(db, vault, "身份证号码\n" + "\n".join(rows) + "\n")
        third_lookup = threading.Event()
        threads: dict[str, set[str]] = {"lookup": set(), "write": set()}
        writes: list[int] = []
        real_lookup, real_write = batch._lookup, batch._write

        lookups: list[int] = []

        def lookup(db_, unique):  # type: ignore[no-untyped-def]
            threads["lookup"].add(threading.current_thread().name)
            lookups.append(len(unique))
            if len(lookups) == 3:
                third_lookup.set()
            return real_lookup(db_, unique)

        def write(db_, job, token, caller, payload, counts, pos, *rest):  # type: ignore[no-untyped-def]
            threads["write"].add(threading.current_thread().name)
            if pos == 0 and pg:  # the first write waits for the third chunk's lookup: one thread would deadlock
                assert third_lookup.wait(10), "chunk 3 was not looked up while chunk 1 was being written"
            writes.append(pos)
            return real_write(db_, job, token, caller, payload, counts, pos, *rest)

        monkeypatch.setattr(batch, "_lookup", lookup)
        monkeypatch.setattr(batch, "_write", write)
        seen: list[tuple[int, int]] = []
        job = batch.run_job(db, vault, job_id, chunk_size=2, on_progress=lambda d, t: seen.append((d, t)))
        assert job is not None and job.status == "done", job and (job.status, job.error_message)
        assert writes == [0, 2, 4, 6] and seen == [(2, 8), (4, 8), (6, 8), (8, 8)]
        if pg:
            assert threads == {"lookup": {f"compare-{job_id}-read_0"}, "write": {f"compare-{job_id}-write_0"}}
        else:
            assert threads == {"lookup": {f"compare-{job_id}-db_0"}, "write": {f"compare-{job_id}-db_0"}}
            assert third_lookup.is_set()
        assert (job.rows_done, job.matched, job.unknown, job.invalid) == (8, 3, 4, 1)
        with db.session(write=False) as s:
            ids = list(s.scalars(select(Check.check_id).where(Check.job_id == job_id)))
            chunks = sorted(a.details["first_row"] for a in s.scalars(
                select(AuditEntry).where(AuditEntry.action == "checks.batch", AuditEntry.object_id == str(job_id))))
        assert len(ids) == len(set(ids)) == 8 and chunks == [2, 4, 6, 8]
    finally:
        drop()


def test_a_job_taken_over_stops_after_the_chunks_already_written(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    db, drop = committed_database(tmp_path, "batchlost")
    try:
        vault = Vault(KeyRing.generate())
        job_id = _job(db, vault, "\n".join(new_id_number() for _ in range(8)) + "\n")
        writes: list[int] = []
        real_write = batch._write

        def write(db_, job, token, caller, payload, counts, pos, *rest):  # type: ignore[no-untyped-def]
            writes.append(pos)
            if pos == 2:  # another runner takes the job over before the second chunk's write
                with db.session() as s:
                    s.execute(update(CompareJob).where(CompareJob.id == job_id).values(runner="someone-else"))
            return real_write(db_, job, token, caller, payload, counts, pos, *rest)

        monkeypatch.setattr(batch, "_write", write)
        assert batch.run_job(db, vault, job_id, chunk_size=2) is None
        with db.session(write=False) as s:
            job = s.get(CompareJob, job_id)
            registered = s.scalar(select(func.count()).select_from(Check).where(Check.job_id == job_id))
        assert writes == [0, 2]  # nothing submitted after the failed write
        assert job is not None and job.rows_done == 2 and job.status == "running" and job.runner == "someone-else"
        assert registered == 2
    finally:
        drop()


def test_a_failed_lookup_interrupts_the_job_after_the_chunks_in_flight(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """The third chunk's lookup fails. The second chunk's write, submitted just before, either ran
    or was cancelled before it began (a race with the failure); nothing after it is written, what
    was written is counted, the job shows ``interrupted`` and runs again."""
    db, drop = committed_database(tmp_path, "batchfail")
    try:
        vault = Vault(KeyRing.generate())
        job_id = _job(db, vault, "\n".join(new_id_number() for _ in range(8)) + "\n")
        calls: list[int] = []
        writes: list[int] = []
        real_lookup, real_write = batch._lookup, batch._write

        def lookup(db_, unique):  # type: ignore[no-untyped-def]
            calls.append(len(unique))
            if len(calls) == 3:
                raise RuntimeError("the database went away")
            return real_lookup(db_, unique)

        def write(db_, job, token, caller, payload, counts, pos, *rest):  # type: ignore[no-untyped-def]
            writes.append(pos)
            return real_write(db_, job, token, caller, payload, counts, pos, *rest)

        monkeypatch.setattr(batch, "_lookup", lookup)
        monkeypatch.setattr(batch, "_write", write)
        job = batch.run_job(db, vault, job_id, chunk_size=2)
        assert job is not None and job.status == "interrupted" and job.error_code == "processing_error"
        assert writes in ([0], [0, 2]) and job.rows_done == 2 * len(writes)
        with db.session(write=False) as s:
            first = set(s.scalars(select(Check.check_id).where(Check.job_id == job_id)))
        assert len(first) == job.rows_done
        monkeypatch.setattr(batch, "_lookup", real_lookup)
        again = batch.run_job(db, vault, job_id, chunk_size=2)
        assert again is not None and again.status == "done" and again.rows_done == 8
        with db.session(write=False) as s:
            every = set(s.scalars(select(Check.check_id).where(Check.job_id == job_id)))
        assert len(every) == len(first) + 8 and first < every  # the first attempt's checks stay registered
    finally:
        drop()
