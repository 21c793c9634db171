"""Reads of an import job over the API are audited as record reads are: its status (``imports.read``),
the department's list (``imports.list``) and the report of rejected rows (``imports.report``), each
with the actor, the department, the job and counts — never an ID number of the file — and a refused
look as ``reason: not_found`` under the same action, the 404 unchanged."""

from __future__ import annotations

from tests.imports.imports_support import ZH_HEADER, csv_bytes, penalty_rows
from tests.support import assert_no_id_number_in_audit, audit_entries


def test_a_job_its_report_and_the_list_read_over_the_api_are_audited(upload, wait, client, world, db):  # type: ignore[no-untyped-def]
    rows = penalty_rows(3, prefix="A")
    good = rows[0][0]
    bad = good[:-1] + ("1" if good[-1] != "1" else "2")  # a wrong check character: rejected, its row reported
    rows.append([bad, *rows[0][1:3], "2026-03-02", "一般", "和市监罚〔2026〕9号", "未按规定公示", "罚款", "9"])
    rows[3][2] = "A9"
    job = upload(csv_bytes(ZH_HEADER, rows), filename="处罚.csv", wait=False)
    wait()
    jid = job["id"]
    mine, other = world.bearer(world.key_a), world.bearer(world.key_b)

    got = client.get(f"/api/v1/imports/{jid}", headers=mine)
    assert got.status_code == 200 and got.json()["status"] == "done" and got.json()["counts"]["rejected"] == 1
    report = client.get(f"/api/v1/imports/{jid}/errors.csv", headers=mine)
    assert report.status_code == 200
    listing = client.get("/api/v1/imports?limit=10", headers=mine)
    assert [j["id"] for j in listing.json()["items"]] == [jid]
    refused = client.get(f"/api/v1/imports/{jid}", headers=other)
    assert refused.status_code == 404 and refused.json()["code"] == "not_found"  # the contract, unchanged

    a, b = world.dept_a.id, world.dept_b.id
    reads = [(e.outcome, e.actor_type, e.department_id, e.object_type, e.object_id, e.details)
             for e in audit_entries(db, "imports.read")]
    assert reads == [
        ("ok", "apikey", a, "import_job", str(jid),
         {"status": "done", "rows_done": 4, "rows_total": 4, "errors_shown": 1, "via": "api"}),
        ("denied", "apikey", b, "import_job", str(jid), {"reason": "not_found"}),
    ], reads
    [rep] = audit_entries(db, "imports.report")
    assert (rep.outcome, rep.department_id, rep.object_id, rep.details) == ("ok", a, str(jid), {"rows": 1})
    [lst] = audit_entries(db, "imports.list")
    assert (lst.outcome, lst.actor_type, lst.department_id) == ("ok", "apikey", a)
    assert lst.details == {"before_id": None, "limit": 10, "count": 1, "jobs": [jid], "via": "api"}
    assert_no_id_number_in_audit(db, [r[0] for r in rows])
