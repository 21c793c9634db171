"""The workspace's import pages are audited as the records pages are: a job's page (``imports.read``,
``via: page``), the one progress poll that finds the job ended (``via: poll``) and the list of jobs
(``imports.list``) — not the polls of a running job, which show its progress only (see
docs/architecture.md, "Audit log") —, each with the officer, the department, the job and counts,
never an ID number."""

from __future__ import annotations

import pytest
from tests.records_web.records_web_support import HTMX
from tests.records_web.test_upload_pages import JOBS, penalty_csv
from tests.support import assert_no_id_number_in_audit, audit_entries

from xinyong.audit.service import Actor
from xinyong.imports import service as imports_service
from xinyong.imports.runner import run_job
from xinyong.records.service import DepartmentRef

pytestmark = pytest.mark.usefixtures("catalog_loaded")


def test_a_job_s_page_its_end_and_the_list_are_audited_but_not_its_progress_polls(client, world, login, db, vault):  # type: ignore[no-untyped-def]
    login(client, "officer_a")
    data, people = penalty_csv(2, bad=1, prefix="P")
    actor = Actor(type="user", id=str(world.users["officer"].id), label="officer_a", department_id=world.dept_a.id)
    with db.session() as s:
        job_id = imports_service.create_job(s, vault=vault, department=DepartmentRef(world.dept_a.id, "scjgj"),
                                            item_code="admin_penalty", filename="p.csv", data=data, actor=actor).id
    page = client.get(f"{JOBS}/{job_id}")
    assert page.status_code == 200 and 'hx-trigger="every 1s"' in page.text
    for _ in range(3):  # the job still waits: progress only, not audited
        assert 'hx-trigger="every 1s"' in client.get(f"{JOBS}/{job_id}", headers=HTMX).text
    assert len(audit_entries(db, "imports.read")) == 1
    run_job(db, vault, job_id)
    end = client.get(f"{JOBS}/{job_id}", headers=HTMX)
    assert "hx-trigger" not in end.text and "invalid_id_number" in end.text  # the outcome, the polling over
    assert f'href="{JOBS}/{job_id}"' in client.get(JOBS).text

    a = world.dept_a.id
    reads = [(e.outcome, e.actor_type, e.actor_label, e.department_id, e.object_type, e.object_id, e.details)
             for e in audit_entries(db, "imports.read")]
    assert reads == [
        ("ok", "user", "officer_a", a, "import_job", str(job_id),
         {"status": "pending", "rows_done": 0, "rows_total": None, "errors_shown": 0, "via": "page"}),
        ("ok", "user", "officer_a", a, "import_job", str(job_id),
         {"status": "done", "rows_done": 3, "rows_total": 3, "errors_shown": 1, "via": "poll"}),
    ], reads
    [listed] = audit_entries(db, "imports.list")
    assert (listed.actor_label, listed.department_id) == ("officer_a", a)
    assert listed.details == {"before_id": None, "limit": 50, "count": 1, "jobs": [job_id], "via": "page"}

    login(client, "officer_b")  # another department's job is not found, and the look registered
    assert client.get(f"{JOBS}/{job_id}").status_code == 404
    assert [(e.outcome, e.actor_label, e.details) for e in audit_entries(db, "imports.read")][-1] == (
        "denied", "officer_b", {"reason": "not_found"})
    assert_no_id_number_in_audit(db, people)
