"""Reads of a comparison job are audited as record reads are — its result file holds the answers for
many people: the job's status (``checks.batch_read``), the result file (``checks.batch_result``) and
the department's list of jobs (``checks.batch_list``), each with the actor, the department, the job
and counts, never an ID number; a look at another department's job, or at none, is registered as
``reason: not_found`` under the action tried, its 404 unchanged. The page's polls of a running job
are not audited, the one that finds it ended is (docs/architecture.md, "Audit log")."""

from __future__ import annotations

from tests.measures.measures_support import subject_with_status
from tests.support import assert_no_id_number_in_audit, audit_entries, login, new_id_number

from xinyong.audit.service import Actor
from xinyong.measures import batch, service

HTMX = {"HX-Request": "true"}
ACTIONS = ("checks.batch_read", "checks.batch_result", "checks.batch_resume", "checks.batch_list")


def _people(db, vault) -> tuple[list[str], bytes]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        listed, _ = subject_with_status(s, vault, grade="D", lists=["serious_dishonesty"])
    unknown = new_id_number()
    bad = unknown[:-1] + ("0" if unknown[-1] != "0" else "1")
    return [listed, unknown, bad], f"身份证号码,姓名\n{listed},王小明\n{unknown},赵六\n{bad},钱七\n".encode()


def test_a_job_and_its_result_read_over_the_api_are_audited(client, world, db, vault):  # type: ignore[no-untyped-def]
    people, content = _people(db, vault)
    mine, other = world.bearer(world.key_a), world.bearer(world.key_b)
    r = client.post("/api/v1/checks/batch", data={"scenario": "civil_service_hiring"},
                    files={"file": ("名单.csv", content, "text/csv")}, headers=mine)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    client.app.state.compare_runner.wait()

    assert client.get(f"/api/v1/checks/batch/{job_id}", headers=mine).json()["status"] == "done"
    assert client.get(f"/api/v1/checks/batch/{job_id}/result.csv", headers=mine).status_code == 200
    for method, path in (("GET", f"/api/v1/checks/batch/{job_id}"), ("GET", f"/api/v1/checks/batch/{job_id}/result.csv"),
                         ("POST", f"/api/v1/checks/batch/{job_id}/resume"), ("GET", "/api/v1/checks/batch/999999999")):
        refused = client.request(method, path, headers=other)
        assert refused.status_code == 404 and refused.json()["code"] == "not_found", refused.text  # unchanged

    a, b = world.dept_a.id, world.dept_b.id
    got = [(e.action, e.outcome, e.actor_type, e.department_id, e.object_type, e.object_id, e.details)
           for e in audit_entries(db, *ACTIONS)]
    assert got == [
        ("checks.batch_read", "ok", "apikey", a, "compare_job", str(job_id),
         {"status": "done", "rows_done": 3, "rows_total": 3, "matched": 1, "unknown": 1, "invalid": 1, "via": "api"}),
        ("checks.batch_result", "ok", "apikey", a, "compare_job", str(job_id), {"rows": 3}),
        ("checks.batch_read", "denied", "apikey", b, "compare_job", str(job_id), {"reason": "not_found"}),
        ("checks.batch_result", "denied", "apikey", b, "compare_job", str(job_id), {"reason": "not_found"}),
        ("checks.batch_resume", "denied", "apikey", b, "compare_job", str(job_id), {"reason": "not_found"}),
        ("checks.batch_read", "denied", "apikey", b, "compare_job", "999999999", {"reason": "not_found"}),
    ], got
    assert_no_id_number_in_audit(db, people)


def test_the_job_page_its_end_and_the_list_are_audited_but_not_its_progress_polls(client, world, db, vault):  # type: ignore[no-untyped-def]
    people, content = _people(db, vault)
    officer = world.users["officer"]
    actor = Actor(type="user", id=str(officer.id), label="officer_a", department_id=world.dept_a.id)
    with db.session() as s:
        job_id = batch.create_job(s, vault=vault, caller=service.Caller(world.dept_a.id, "scjgj", actor),
                                  scenario="civil_service_hiring", filename="名单.csv", data=content).id
    login(client, "officer_a")
    assert f"/workspace/checks/batch/{job_id}" in client.get("/workspace/checks").text
    page = client.get(f"/workspace/checks/batch/{job_id}")
    assert page.status_code == 200 and 'hx-trigger="every 1s"' in page.text
    for _ in range(3):  # the job still waits: progress only, not audited
        assert 'hx-trigger="every 1s"' in client.get(f"/workspace/checks/batch/{job_id}", headers=HTMX).text
    batch.run_job(db, vault, job_id)
    end = client.get(f"/workspace/checks/batch/{job_id}", headers=HTMX)
    assert "hx-trigger" not in end.text and 'id="download"' in end.text  # the outcome, the polling over

    a = world.dept_a.id
    got = [(e.action, e.outcome, e.actor_type, e.actor_label, e.department_id, e.object_id, e.details)
           for e in audit_entries(db, *ACTIONS)]
    assert got == [
        ("checks.batch_list", "ok", "user", "officer_a", a, None, {"count": 1, "jobs": [job_id], "via": "page"}),
        ("checks.batch_read", "ok", "user", "officer_a", a, str(job_id),
         {"status": "pending", "rows_done": 0, "rows_total": 3, "matched": 0, "unknown": 0, "invalid": 0,
          "via": "page"}),
        ("checks.batch_read", "ok", "user", "officer_a", a, str(job_id),
         {"status": "done", "rows_done": 3, "rows_total": 3, "matched": 1, "unknown": 1, "invalid": 1,
          "via": "poll"}),
    ], got

    csrf = login(client, "officer_b")  # another department's job is not found, and the look registered
    assert client.get(f"/workspace/checks/batch/{job_id}").status_code == 404
    assert client.post(f"/workspace/checks/batch/{job_id}/resume", data={"csrf_token": csrf}).status_code == 404
    refused = [(e.action, e.outcome, e.actor_label, e.department_id, e.object_id, e.details)
               for e in audit_entries(db, *ACTIONS) if e.outcome == "denied"]
    b = world.dept_b.id
    assert refused == [("checks.batch_read", "denied", "officer_b", b, str(job_id), {"reason": "not_found"}),
                       ("checks.batch_resume", "denied", "officer_b", b, str(job_id), {"reason": "not_found"})]
    assert_no_id_number_in_audit(db, people)
