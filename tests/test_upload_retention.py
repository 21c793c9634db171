"""An unfinished job's upload (raw ID numbers, kept sealed only so that the job can be resumed) is
deleted by the daily upkeep once the job has been left alone for 30 days — imports and batch
comparisons alike — and the job then says its file is gone; a job touched since keeps its file."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from tests.imports.imports_support import ZH_HEADER, csv_bytes, penalty_rows
from tests.support import SYSTEM, new_id_number

from xinyong.audit.models import AuditEntry
from xinyong.db import utcnow
from xinyong.imports import service as imports
from xinyong.imports.models import ImportFile, ImportJob
from xinyong.maintenance import run_daily
from xinyong.measures import batch
from xinyong.measures import service as measures
from xinyong.measures.models import CompareFile, CompareJob
from xinyong.records.service import DepartmentRef


def _jobs(db, world, vault):  # type: ignore[no-untyped-def]
    """(import job ids, comparison job ids): one left 31 days ago, one touched 29 days ago, of each;
    plus a comparison job done 40 days ago, whose result file (masked) stays."""
    from xinyong.catalog.service import load_default

    dept = DepartmentRef(id=world.dept_a.id, code=world.dept_a.code)
    caller = measures.Caller(world.dept_a.id, world.dept_a.code, SYSTEM)
    now = utcnow()
    with db.session() as s:
        load_default(s, actor=SYSTEM)
        measures.load_default(s, actor=SYSTEM)
        imp, cmp = [], []
        for n, (status, age) in enumerate((("interrupted", 31), ("running", 29))):
            jid = imports.create_job(s, vault=vault, department=dept, item_code="admin_penalty", filename="a.csv",
                                     data=csv_bytes(ZH_HEADER, penalty_rows(3, prefix=f"R{n}")), actor=SYSTEM).id
            s.execute(update(ImportJob).where(ImportJob.id == jid).values(status=status,
                                                                          heartbeat_at=now - timedelta(days=age)))
            imp.append(jid)
            cid = batch.create_job(s, vault=vault, caller=caller, scenario="awards", filename="x.csv",
                                   data=new_id_number().encode()).id
            s.execute(update(CompareJob).where(CompareJob.id == cid).values(status=status,
                                                                            heartbeat_at=now - timedelta(days=age)))
            cmp.append(cid)
        done = batch.create_job(s, vault=vault, caller=caller, scenario="awards", filename="d.csv",
                                data=new_id_number().encode()).id
        s.execute(update(CompareJob).where(CompareJob.id == done).values(status="done",
                                                                         heartbeat_at=now - timedelta(days=40)))
        s.add(CompareFile(job_id=done, kind="result", key_id="k", content=b"masked"))
    return imp, cmp, done


def test_the_upkeep_deletes_uploads_of_jobs_left_for_30_days(db, world, vault, client):  # type: ignore[no-untyped-def]
    imp, cmp, done = _jobs(db, world, vault)
    out = run_daily(db)["files"]
    assert out == {"imports": 1, "comparisons": 1}
    with db.session() as s:
        old, recent = (s.get(ImportJob, j) for j in imp)
        assert s.get(ImportFile, imp[0]) is None and s.get(ImportFile, imp[1]) is not None
        assert (old.status, old.error_code) == ("interrupted", "file_expired") and " / " in old.error_message
        assert recent.status == "running" and recent.error_code is None
        uploads = set(s.scalars(select(CompareFile.job_id).where(CompareFile.kind == "upload")))
        assert cmp[0] not in uploads and cmp[1] in uploads
        assert s.get(CompareJob, cmp[0]).error_code == "file_expired"
        assert s.get(CompareFile, (done, "result")) is not None  # masked results stay for download
        entries = {(e.action, e.object_type, e.object_id): e.details for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action.in_(("imports.expire_files", "checks.batch_expire_files"))))}
        assert entries == {("imports.expire_files", "import_job", str(imp[0])): {"days": 30},  # each job's own trail
                           ("checks.batch_expire_files", "compare_job", str(cmp[0])): {"days": 30}}
    # the department is told why it cannot resume
    r = client.post(f"/api/v1/imports/{imp[0]}/resume", headers=world.bearer(world.key_a))
    assert r.status_code == 409 and r.json()["code"] == "file_missing", r.text
    assert run_daily(db)["files"] == {"imports": 0, "comparisons": 0}  # a second run changes nothing


def test_a_comparison_whose_upload_expired_is_not_run_again(db, world, vault, client):  # type: ignore[no-untyped-def]
    """Running an expired comparison again is refused at once, saying its file is gone (as an import's
    resume is): it was accepted, audited as a resume, and the job then failed as ``file_missing``."""
    _imp, cmp, _done = _jobs(db, world, vault)
    run_daily(db)
    r = client.post(f"/api/v1/checks/batch/{cmp[0]}/resume", headers=world.bearer(world.key_a))
    assert r.status_code == 409 and r.json()["code"] == "file_missing", r.text
    with db.session() as s:
        job = s.get(CompareJob, cmp[0])
        assert (job.status, job.error_code) == ("interrupted", "file_expired")
        assert not list(s.scalars(select(AuditEntry).where(AuditEntry.action == "checks.batch_resume")))


def test_the_upkeep_run_for_a_later_day_keeps_the_uploads_of_jobs_touched_since(db, world, vault):  # type: ignore[no-untyped-def]
    """``maintain --today --allow-future`` a day ahead (a rehearsal) counts the 30 days to now at most: a job running this moment
    (fresh heartbeat) keeps its runner and its file."""
    from xinyong import clock

    imp, cmp, _done = _jobs(db, world, vault)
    with db.session() as s:
        for model, ids in ((ImportJob, imp), (CompareJob, cmp)):
            s.execute(update(model).where(model.id == ids[1]).values(heartbeat_at=utcnow(), runner="live"))
    assert run_daily(db, today=clock.today() + timedelta(days=40), allow_future=True)["files"] == {"imports": 1, "comparisons": 1}
    with db.session() as s:
        assert s.get(ImportFile, imp[1]) is not None and s.get(ImportJob, imp[1]).runner == "live"
        assert s.get(CompareFile, (cmp[1], "upload")) is not None and s.get(CompareJob, cmp[1]).status == "running"
