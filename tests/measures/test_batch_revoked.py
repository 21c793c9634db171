"""A batch comparison runs as its caller: revoking that caller's key, disabling the officer or
deactivating the department stops the job at its next chunk (the rows already answered stay
registered), and a resume by another authorised caller of the department goes on as that caller."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from tests.support import SYSTEM, login, new_id_number

from xinyong.audit.models import AuditEntry
from xinyong.auth import service as auth_service
from xinyong.auth.models import ApiKey, Department, User
from xinyong.db import utcnow
from xinyong.measures import batch, service
from xinyong.measures.models import Check, CompareFile, CompareJob

_real_lookup = batch._lookup


def _second_key(db, dept) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    """Another API key of ``dept``: its secret and id."""
    with db.session() as s:
        secret, row = auth_service.create_api_key(s, department=s.get(Department, dept.id), name="业务系统A2",
                                                  actor=SYSTEM)
        return secret, row.id


def _key_caller(db, dept, key_secret: str) -> service.Caller:  # type: ignore[no-untyped-def]
    with db.session() as s:
        principal, _key = auth_service.principal_for_api_key(s, secret=key_secret)
    assert principal is not None
    return service.Caller(dept.id, dept.code, principal.actor)


def _job(db, vault, caller: service.Caller, rows: int) -> int:  # type: ignore[no-untyped-def]
    content = "身份证号码\n" + "\n".join(new_id_number() for _ in range(rows)) + "\n"
    with db.session() as s:
        return batch.create_job(s, vault=vault, caller=caller, scenario="awards", filename="x.csv",
                                data=content.encode()).id


def _registered(db, job_id: int) -> list[Check]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return list(s.scalars(select(Check).where(Check.job_id == job_id).order_by(Check.id)))


def _revoke_at_lookup(monkeypatch, db, n: int, revoke) -> None:  # type: ignore[no-untyped-def]
    """Call ``revoke(session)`` when the ``n``-th chunk is looked up. On the tests' one-connection
    database one thread looks up and writes, in the order lookup 1, lookup 2, write 1, lookup 3,
    write 2 …: revoking during lookup 3 lets chunk 1 in and stops the job at chunk 2."""
    calls: list[int] = []
    real = batch._lookup

    def lookup(db_, unique):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == n:
            with db.session() as s:
                revoke(s)
        return real(db_, unique)

    monkeypatch.setattr(batch, "_lookup", lookup)


def test_revoking_the_key_stops_the_job_and_another_key_resumes_it_as_itself(client, world, db, vault, monkeypatch):  # type: ignore[no-untyped-def]
    dept = world.dept_a
    second, second_id = _second_key(db, dept)
    caller = _key_caller(db, dept, world.key_a)
    revoked_id = int(caller.actor.id)  # type: ignore[arg-type]
    job_id = _job(db, vault, caller, 8)

    def revoke(s):  # type: ignore[no-untyped-def]
        auth_service.revoke_api_key(s, key=s.get(ApiKey, revoked_id), actor=SYSTEM)

    _revoke_at_lookup(monkeypatch, db, 3, revoke)
    job = batch.run_job(db, vault, job_id, chunk_size=2)
    assert job is not None
    assert (job.status, job.error_code) == ("interrupted", "key_revoked"), (job.status, job.error_code)
    assert "吊销" in job.error_message and "revoked" in job.error_message  # type: ignore[operator]
    assert job.rows_done == 2  # chunk 1, written before the revocation
    with db.session() as s:
        revoked_at = s.get(ApiKey, revoked_id).revoked_at  # type: ignore[union-attr]
        assert s.get(CompareFile, (job_id, "upload")) is not None  # kept: the job can run again
        stop = s.scalar(select(AuditEntry).where(AuditEntry.action == "checks.batch_interrupt",
                                                 AuditEntry.object_id == str(job_id)))
        assert stop is not None and stop.details["error"] == "key_revoked"
    first = _registered(db, job_id)
    assert len(first) == 2 and all(c.checked_at <= revoked_at for c in first)
    assert {(c.actor_type, c.actor_id) for c in first} == {("apikey", str(revoked_id))}
    # the revoked key itself: refused at the door
    r = client.post(f"/api/v1/checks/batch/{job_id}/resume", headers=world.bearer(world.key_a))
    assert r.status_code == 401 and r.json()["code"] == "key_revoked"

    monkeypatch.setattr(batch, "_lookup", _real_lookup)
    r = client.post(f"/api/v1/checks/batch/{job_id}/resume", headers=world.bearer(second))
    assert r.status_code == 202, r.text
    client.app.state.compare_runner.wait()
    done = client.get(f"/api/v1/checks/batch/{job_id}", headers=world.bearer(second)).json()
    assert done["status"] == "done" and done["rows_done"] == 8, done
    every = _registered(db, job_id)
    again = [c for c in every if c.id not in {f.id for f in first}]
    assert len(again) == 8
    assert {(c.actor_type, c.actor_id, c.actor_label) for c in again} == {("apikey", str(second_id), "scjgj:业务系统A2")}
    assert not [c for c in every if c.actor_id == str(revoked_id) and c.checked_at > revoked_at]
    with db.session() as s:
        resumed = s.scalar(select(AuditEntry).where(AuditEntry.action == "checks.batch_resume",
                                                    AuditEntry.object_id == str(job_id)))
        finished = s.scalar(select(AuditEntry).where(AuditEntry.action == "checks.batch_finish",
                                                     AuditEntry.object_id == str(job_id)))
    assert resumed is not None and (resumed.actor_type, resumed.actor_id) == ("apikey", str(second_id))
    assert resumed.details["previous_error"] == "key_revoked" and resumed.details["created_by"] == caller.actor.label
    assert finished is not None and (finished.actor_type, finished.actor_id) == ("apikey", str(second_id))


def test_a_job_of_a_killed_server_resumed_by_another_key_is_credited_to_it(client, world, db, vault):  # type: ignore[no-untyped-def]
    """The server died mid-job (stale heartbeat), then the creating key was revoked: another key of
    the department runs it again and every row of the new attempt is its own, none the revoked key's."""
    dept = world.dept_a
    second, second_id = _second_key(db, dept)
    caller = _key_caller(db, dept, world.key_a)
    job_id = _job(db, vault, caller, 5)
    with db.session() as s:
        s.execute(update(CompareJob).where(CompareJob.id == job_id).values(
            status="running", runner="dead", heartbeat_at=utcnow() - timedelta(minutes=5)))
        auth_service.revoke_api_key(s, key=s.get(ApiKey, int(caller.actor.id)), actor=SYSTEM)  # type: ignore[arg-type]
    r = client.post(f"/api/v1/checks/batch/{job_id}/resume", headers=world.bearer(second))
    assert r.status_code == 202, r.text
    client.app.state.compare_runner.wait()
    job = client.get(f"/api/v1/checks/batch/{job_id}", headers=world.bearer(second)).json()
    assert job["status"] == "done", job
    regs = _registered(db, job_id)
    assert len(regs) == 5 and {(c.actor_type, c.actor_id) for c in regs} == {("apikey", str(second_id))}
    # resumed by nobody else: another department answers 404, the admin (no department) 403
    assert client.post(f"/api/v1/checks/batch/{job_id}/resume", headers=world.bearer(world.key_b)).status_code == 404


def test_a_resume_needs_a_caller_of_the_jobs_department(client, world, db, vault):  # type: ignore[no-untyped-def]
    caller = _key_caller(db, world.dept_a, world.key_a)
    job_id = _job(db, vault, caller, 2)
    with db.session() as s:
        s.execute(update(CompareJob).where(CompareJob.id == job_id).values(
            status="running", runner="dead", heartbeat_at=utcnow() - timedelta(minutes=5)))
    assert client.post(f"/api/v1/checks/batch/{job_id}/resume", headers=world.bearer(world.key_b)).status_code == 404
    csrf = login(client, "admin")  # reads every department's jobs, checks as none
    r = client.post(f"/api/v1/checks/batch/{job_id}/resume", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and r.json()["code"] == "department_required", r.text
    with db.session() as s:
        assert s.get(CompareJob, job_id).attempts == 0  # type: ignore[union-attr]
        # no resume happened; the other department's try is registered as a refused look (not_found)
        assert [(e.outcome, e.department_id, e.details) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action == "checks.batch_resume"))] == [
            ("denied", world.dept_b.id, {"reason": "not_found"})]


def test_deactivating_the_department_fails_the_job_at_its_next_chunk(db, world, vault, monkeypatch):  # type: ignore[no-untyped-def]
    caller = _key_caller(db, world.dept_a, world.key_a)
    job_id = _job(db, vault, caller, 8)

    def deactivate(s):  # type: ignore[no-untyped-def]
        s.execute(update(Department).where(Department.id == world.dept_a.id).values(active=False))

    _revoke_at_lookup(monkeypatch, db, 3, deactivate)
    job = batch.run_job(db, vault, job_id, chunk_size=2)
    assert job is not None and (job.status, job.error_code, job.rows_done) == ("failed", "department_inactive", 2)
    assert len(_registered(db, job_id)) == 2
    with db.session() as s:
        assert s.get(CompareFile, (job_id, "upload")) is None  # failed: the raw upload goes


def test_disabling_the_officer_stops_the_job_and_a_colleague_resumes_it_from_the_page(client, world, db, vault, monkeypatch):  # type: ignore[no-untyped-def]
    from xinyong.audit.service import Actor

    dept = world.dept_a
    officer = world.users["officer"]
    with db.session() as s:
        colleague = auth_service.add_user(s, username="officer_a2", password="correct-horse-battery", role="officer",
                                          department_id=dept.id, actor=SYSTEM)
        colleague_id = colleague.id
    caller = service.Caller(dept.id, dept.code, Actor(type="user", id=str(officer.id), label=officer.username,
                                                      department_id=dept.id))
    job_id = _job(db, vault, caller, 6)

    def disable(s):  # type: ignore[no-untyped-def]
        auth_service.set_user_active(s, user=s.get(User, officer.id), active=False, actor=SYSTEM)

    _revoke_at_lookup(monkeypatch, db, 3, disable)
    job = batch.run_job(db, vault, job_id, chunk_size=2)
    assert job is not None and (job.status, job.error_code, job.rows_done) == ("interrupted", "user_disabled", 2)
    monkeypatch.setattr(batch, "_lookup", _real_lookup)
    csrf = login(client, "officer_a2")
    page = client.get(f"/workspace/checks/batch/{job_id}")
    assert page.status_code == 200 and "user_disabled" in page.text and 'id="resume"' in page.text
    r = client.post(f"/workspace/checks/batch/{job_id}/resume", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    client.app.state.compare_runner.wait()
    regs = _registered(db, job_id)
    assert len(regs) == 2 + 6
    assert {(c.actor_type, c.actor_id) for c in regs[2:]} == {("user", str(colleague_id))}
    with db.session() as s:
        assert s.get(CompareJob, job_id).status == "done"  # type: ignore[union-attr]


def test_a_job_whose_key_was_revoked_before_it_started_is_interrupted_not_run(db, world, vault):  # type: ignore[no-untyped-def]
    caller = _key_caller(db, world.dept_a, world.key_a)
    job_id = _job(db, vault, caller, 3)
    with db.session() as s:
        auth_service.revoke_api_key(s, key=s.get(ApiKey, int(caller.actor.id)), actor=SYSTEM)  # type: ignore[arg-type]
    job = batch.run_job(db, vault, job_id)
    assert job is not None and (job.status, job.error_code, job.rows_done) == ("interrupted", "key_revoked", 0)
    assert _registered(db, job_id) == []


def test_a_key_revoked_by_another_connection_stops_the_pipeline(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """With real connections (on PostgreSQL a read and a write thread): the revocation, committed by
    another transaction between two chunks' writes, stops the job before the next chunk is in."""
    from tests.support import committed_database

    from xinyong.privacy.keys import KeyRing
    from xinyong.privacy.vault import Vault

    db, drop = committed_database(tmp_path, "batchrevoked")
    try:
        vault = Vault(KeyRing.generate())
        with db.session() as s:
            dept = auth_service.add_department(s, code="rsj", name="区人社局", actor=SYSTEM)
            secret, key = auth_service.create_api_key(s, department=dept, name="招录系统", actor=SYSTEM)
            dept_id, key_id = dept.id, key.id
        with db.session(write=False) as s:
            dept = s.get(Department, dept_id)
        caller = _key_caller(db, dept, secret)
        job_id = _job(db, vault, caller, 8)
        real_write = batch._write

        def write(db_, job, token, caller_, payload, counts, pos, *rest):  # type: ignore[no-untyped-def]
            if pos == 4:
                with db.session() as s:
                    auth_service.revoke_api_key(s, key=s.get(ApiKey, key_id), actor=SYSTEM)
            return real_write(db_, job, token, caller_, payload, counts, pos, *rest)

        monkeypatch.setattr(batch, "_write", write)
        job = batch.run_job(db, vault, job_id, chunk_size=2)
        assert job is not None and (job.status, job.error_code, job.rows_done) == ("interrupted", "key_revoked", 4)
        with db.session(write=False) as s:
            revoked_at = s.get(ApiKey, key_id).revoked_at  # type: ignore[union-attr]
            regs = list(s.scalars(select(Check).where(Check.job_id == job_id)))
            chunks = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "checks.batch",
                                                             AuditEntry.object_id == str(job_id))))
        assert len(regs) == 4 and all(c.checked_at <= revoked_at for c in regs)
        assert len(chunks) == 2  # the stopped chunk's entry went with its rows
    finally:
        drop()


def test_a_job_whose_scenario_was_retired_before_it_ran_fails_instead_of_answering_without_measures(db, vault, world):  # type: ignore[no-untyped-def]
    """A single check in a retired scenario is refused (unknown_scenario). A comparison job uploaded
    for a scenario the credit office retires before the job runs (or before it is resumed) answered
    every row with no measure at all — a dishonest-debtor's row "answered", with none of its
    punishments —, registered as checks. It fails instead, naming the scenarios in force, and
    registers nothing."""
    from tests.measures.measures_support import subject_with_status

    with db.session() as s:
        number, _ = subject_with_status(s, vault, grade="D", lists=["dishonest_debtor"])
    caller = _key_caller(db, world.dept_a, world.key_a)
    with db.session() as s:
        job_id = batch.create_job(s, vault=vault, caller=caller, scenario="awards", filename="x.csv",
                                  data=f"身份证号码\n{number}\n".encode()).id
    with db.session() as s:
        service.ensure_loaded(s, actor=SYSTEM)
        service.save_scenario(s, data={"code": "awards", "name_zh": "评优评先", "name_en": "Awards and honours",
                                       "active": False}, actor=SYSTEM)
    job = batch.run_job(db, vault, job_id)
    assert job is not None and (job.status, job.error_code) == ("failed", "unknown_scenario")
    assert "subsidies" in (job.error_message or "")
    assert _registered(db, job_id) == []
