"""Records API: every status and error, idempotency, revisions, revocation, isolation."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, update
from tests.records.records_support import penalty
from tests.support import SYSTEM, deactivated_once_authenticated, login

from xinyong.audit.models import AuditEntry
from xinyong.records.models import Record, RecordRevision, Rejection
from xinyong.subjects.models import Subject

pytestmark = pytest.mark.usefixtures("catalog_loaded")


def push(client, world, records, key=None):  # type: ignore[no-untyped-def]
    # json.dumps escapes what is not ASCII ("\\ud800" for a lone surrogate, as a client's JSON may hold it)
    r = client.post("/api/v1/records", content=json.dumps({"records": records}),
                    headers={**world.bearer(key or world.key_a), "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()["results"]


def test_created_unchanged_updated(client, world, person, session):  # type: ignore[no-untyped-def]
    idn, name = person
    [r] = push(client, world, [penalty(idn, name)])
    assert r["status"] == "created" and r["errors"] == [] and r["record_id"]
    [again] = push(client, world, [penalty(idn, name)])
    assert again == {**r, "status": "unchanged"}
    [upd] = push(client, world, [penalty(idn, name, amount=5000)])
    assert upd["status"] == "updated" and upd["record_id"] == r["record_id"]
    rec = session.get(Record, r["record_id"])
    assert rec.revision == 2 and rec.fields["amount"] == 5000
    history = session.scalars(select(RecordRevision).where(RecordRevision.record_id == rec.id)).all()
    assert [(h.revision, h.fields["amount"]) for h in history] == [(1, 2000)]
    body = client.get(f"/api/v1/records/{rec.id}", headers=world.bearer(world.key_a)).json()
    assert [(v["revision"], v["fields"]["amount"]) for v in body["revisions"]] == [(1, 2000), (2, 5000)]


def test_each_revision_shows_its_own_display_dates(client, world, person, session):  # type: ignore[no-untyped-def]
    """A severity corrected from minor (not published) to serious (published for years): the history
    shows what each revision's display was, the last one the record's own."""
    idn, name = person
    [r] = push(client, world, [penalty(idn, name, severity="minor")])
    [upd] = push(client, world, [penalty(idn, name, severity="serious")])
    assert upd["status"] == "updated"
    body = client.get(f"/api/v1/records/{r['record_id']}", headers=world.bearer(world.key_a)).json()
    first, last = body["revisions"]
    assert (first["severity"], first["publish"]) == ("minor", False)
    assert (last["severity"], last["publish"], last["display_until"]) == ("serious", True, body["display_until"])
    assert first["display_until"] < last["display_until"]
    stored = session.scalars(select(RecordRevision).where(RecordRevision.record_id == r["record_id"])).one()
    assert first["display_until"] == stored.display_until.isoformat()
    login(client, "admin")
    page = client.get(f"/workspace/records/{r['record_id']}")
    assert page.status_code == 200
    rows = page.text.split('id="revisions"')[1].split("</table>")[0]
    assert first["display_until"] in rows and last["display_until"] in rows


def test_same_batch_twice_changes_nothing(client, world, session):  # type: ignore[no-untyped-def]
    from tests.support import new_id_number

    batch = [penalty(new_id_number(), "王五", source_id=f"B{i}") for i in range(20)]
    first = push(client, world, batch)
    assert {r["status"] for r in first} == {"created"}
    counts = [session.scalar(select(func.count()).select_from(t)) for t in (Record, RecordRevision, Subject)]
    second = push(client, world, batch)
    assert {r["status"] for r in second} == {"unchanged"}
    assert [r["record_id"] for r in second] == [r["record_id"] for r in first]
    assert [session.scalar(select(func.count()).select_from(t)) for t in (Record, RecordRevision, Subject)] == counts


@pytest.mark.parametrize(("mutate", "field", "code"), [
    (lambda r: r.update(item="no_such_item"), "item", "unknown_item"),
    (lambda r: r.pop("item"), "item", "missing"),
    (lambda r: r.update(item=5), "item", "wrong_type"),
    (lambda r: r.update(item=["admin_penalty"]), "item", "wrong_type"),
    (lambda r: r["fields"].pop("decision_no"), "fields.decision_no", "missing"),
    (lambda r: r["fields"].update(amount="lots"), "fields.amount", "wrong_type"),
    (lambda r: r["fields"].update(amount=-1), "fields.amount", "out_of_range"),
    (lambda r: r["fields"].update(penalty_type="鞭刑"), "fields.penalty_type", "not_allowed"),
    (lambda r: r["fields"].update(colour="red"), "fields.colour", "unknown_field"),
    (lambda r: r.update(severity="apocalyptic"), "severity", "not_allowed"),
    (lambda r: r.pop("severity"), "severity", "missing"),
    (lambda r: r.update(id_number="12010119800506123"), "id_number", "invalid_id_number"),
    (lambda r: r.update(decided_at="2999-01-01"), "decided_at", "future_date"),
    (lambda r: r.update(decided_at="02/03/2026"), "decided_at", "wrong_type"),
    (lambda r: r.update(decided_at="1980-05-05"), "decided_at", "out_of_range"),  # the day before the person's birth
    (lambda r: r.update(source_id=""), "source_id", "missing"),
    (lambda r: r.update(source_id="S" * 65), "source_id", "too_long"),
    (lambda r: r.update(source_id=["S-1"]), "source_id", "wrong_type"),
    (lambda r: r.update(source_id="S\ud800"), "source_id", "invalid_characters"),
    (lambda r: r.update(name="王\udfff"), "name", "invalid_characters"),
    (lambda r: r.update(name="王" * 65), "name", "too_long"),
    # a rare character a system's GBK conversion lost ("?", U+FFFD): never a name, never stored as one
    (lambda r: r.update(name="王?明"), "name", "invalid_characters"),
    (lambda r: r.update(name="王\ufffd明"), "name", "invalid_characters"),
    (lambda r: r.update(id_number=120101198005061010), "id_number", "invalid_id_number"),
    (lambda r: r["fields"].update(violation="a\ud800b"), "fields.violation", "invalid_characters"),
    (lambda r: r.update({"k\ud800": 1}), "k?", "unknown_field"),
    (lambda r: r["fields"].update(amount=12345678901234567890123), "fields.amount", "out_of_range"),
    (lambda r: r["fields"].update(amount=1e308), "fields.amount", "out_of_range"),
    (lambda r: r["fields"].update(amount="1_000"), "fields.amount", "wrong_type"),
    (lambda r: r["fields"].update(amount="2,00,0"), "fields.amount", "wrong_type"),
    (lambda r: r["fields"].update(amount="nan"), "fields.amount", "wrong_type"),
    (lambda r: r.pop("name"), "name", "missing"),
    (lambda r: r.update(status="active"), "status", "unknown_field"),
    (lambda r: r.update(department="gaj"), "department", "unknown_field"),
    (lambda r: r["fields"].update(violation="a\x00b"), "fields.violation", "invalid_characters"),
    (lambda r: r.update({"bad\x00key": 1}), "bad?key", "unknown_field"),
])
def test_rejections_name_field_and_reason(client, world, person, session, mutate, field, code):  # type: ignore[no-untyped-def]
    idn, name = person
    good = penalty(idn, name, source_id="GOOD")
    bad = penalty(idn, name, source_id="BAD")
    mutate(bad)
    results = push(client, world, [bad, good])
    assert results[1]["status"] == "created"  # a bad record never blocks a good one
    assert results[0]["status"] == "rejected" and results[0]["record_id"] is None
    errors = {(e["field"], e["code"]) for e in results[0]["errors"]}
    assert (field, code) in errors
    assert all(" / " in e["message"] for e in results[0]["errors"])  # Chinese / English
    assert session.scalar(select(func.count()).select_from(Record).where(Record.source_id == "BAD")) == 0
    assert session.scalar(select(func.count()).select_from(Rejection).where(Rejection.code.is_not(None))) >= 1


def test_invalid_id_number_says_why(client, world):  # type: ignore[no-untyped-def]
    [r] = push(client, world, [penalty("120101199902301234", "赵六")])
    [err] = [e for e in r["errors"] if e["field"] == "id_number"]
    assert err["reason"] == "id_birth_date"


def test_name_mismatch(client, world, person):  # type: ignore[no-untyped-def]
    idn, name = person
    push(client, world, [penalty(idn, name)])
    [r] = push(client, world, [penalty(idn, "另一个人", source_id="P-2")])
    assert r["status"] == "rejected" and r["errors"][0]["code"] == "name_mismatch"


def test_item_not_allowed_for_department(client, world, person, db):  # type: ignore[no-untyped-def]
    from xinyong.audit.service import Actor
    from xinyong.catalog.service import get_current, update_item
    from xinyong.catalog.spec import to_data

    with db.session() as s:
        spec = to_data(get_current(s, "tax_violation").spec)
        spec["departments"] = ["gaj"]
        update_item(s, code="tax_violation", data=spec, actor=Actor.system("t"))
    idn, name = person
    rec = {"item": "tax_violation", "id_number": idn, "name": name, "source_id": "T1", "decided_at": "2026-01-05",
           "severity": "general", "fields": {"case_no": "T-1", "violation": "偷税"}}
    [r] = push(client, world, [rec])
    assert r["errors"][0]["code"] == "item_not_allowed"
    [ok] = push(client, world, [rec], key=world.key_b)
    assert ok["status"] == "created"

    def listed(key: str, pushable: bool) -> set[str]:
        r = client.get(f"/api/v1/catalog/items{'?pushable=true' if pushable else ''}", headers=world.bearer(key))
        return {i["code"] for i in r.json()}

    assert "tax_violation" in listed(world.key_a, False)  # the catalog, whole
    assert "tax_violation" not in listed(world.key_a, True) and "admin_penalty" in listed(world.key_a, True)
    assert "tax_violation" in listed(world.key_b, True)


def test_batch_limits_and_malformed_body(client, world, person):  # type: ignore[no-untyped-def]
    idn, name = person
    h = world.bearer(world.key_a)
    too_many = client.post("/api/v1/records", json={"records": [penalty(idn, name)] * 1001}, headers=h)
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["code"] == "batch_too_large"
    empty = client.post("/api/v1/records", json={"records": []}, headers=h)
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "records"
    bad_json = client.post("/api/v1/records", content=b"{nope", headers={**h, "content-type": "application/json"})
    assert bad_json.status_code == 422
    [err] = bad_json.json()["errors"]  # the body, not a character position, is the field
    assert (err["field"], err["code"]) == ("body", "json_invalid") and "JSON 格式错误" in err["message"]
    # bytes that are not UTF-8: 422 in the same shape (was a 400 in English only, without errors)
    not_utf8 = client.post("/api/v1/records", content=b'{"records": [{"item": "\xff\xfe"}]}',
                           headers={**h, "content-type": "application/json"})
    assert not_utf8.status_code == 422 and not_utf8.json()["code"] == "validation_error"
    assert [(e["field"], e["code"]) for e in not_utf8.json()["errors"]] == [("body", "body_unreadable")]
    # a multipart upload without its boundary; one cut short (its parts missing, so named)
    bad_form = client.post("/api/v1/imports", content=b"--x\r\n", headers={**h, "content-type": "multipart/form-data"})
    assert bad_form.status_code == 422 and bad_form.json()["errors"][0]["field"] == "body", bad_form.text
    cut = client.post("/api/v1/imports", content=b"--xyz\r\nContent-Disposition: form-data; name",
                      headers={**h, "content-type": "multipart/form-data; boundary=xyz"})
    assert cut.status_code == 422 and {e["field"] for e in cut.json()["errors"]} <= {"body", "file", "item"}, cut.text
    not_list = client.post("/api/v1/records", json={"records": "x"}, headers=h)
    assert not_list.status_code == 422 and not_list.json()["errors"][0]["field"] == "records"
    junk = push(client, world, ["not an object", 7, None])
    assert [r["status"] for r in junk] == ["rejected"] * 3


def test_duplicate_source_id_in_one_batch(client, world, person):  # type: ignore[no-untyped-def]
    idn, name = person
    results = push(client, world, [penalty(idn, name), penalty(idn, name), penalty(idn, name, amount=1)])
    assert [r["status"] for r in results] == ["created", "unchanged", "rejected"]
    assert results[0]["record_id"] == results[1]["record_id"]
    assert results[2]["errors"][0]["code"] == "duplicate_in_batch"


def test_repeats_of_a_stored_record_in_one_batch(client, world, person, session):  # type: ignore[no-untyped-def]
    """A source id repeated in a batch is compared with its first occurrence in the batch, stored
    record or not: the same content again is unchanged, other content is refused — never reported
    unchanged while something else is stored."""
    idn, name = person
    [first] = push(client, world, [penalty(idn, name, source_id="DUP", amount=1)])
    a = push(client, world, [penalty(idn, name, source_id="DUP", amount=2), penalty(idn, name, source_id="DUP", amount=1)])
    assert [(r["status"], r["errors"][0]["code"] if r["errors"] else None) for r in a] == [
        ("updated", None), ("rejected", "duplicate_in_batch")]
    b = push(client, world, [penalty(idn, name, source_id="DUP", amount=3), penalty(idn, name, source_id="DUP", amount=3)])
    assert [r["status"] for r in b] == ["updated", "unchanged"] and b[1]["record_id"] == first["record_id"]
    c = push(client, world, [penalty(idn, name, source_id="DUP", amount=3), penalty(idn, name, source_id="DUP", amount=4)])
    assert [r["status"] for r in c] == ["unchanged", "rejected"]
    rec = session.get(Record, first["record_id"])
    session.refresh(rec)
    assert rec.fields["amount"] == 3 and rec.revision == 3


@pytest.mark.parametrize("again", [2000.0, "2000", "2,000", " 2000 ", "２，０００", "2e3"])
def test_a_number_sent_another_way_is_the_same_content(client, world, person, again):  # type: ignore[no-untyped-def]
    """2000, 2000.0 and the text of a spreadsheet cell are one amount: sending it another way (another
    system, a file) is unchanged, not a new revision."""
    idn, name = person
    [r] = push(client, world, [penalty(idn, name, source_id="NUM", amount=2000)])
    [same] = push(client, world, [penalty(idn, name, source_id="NUM", amount=again)])
    assert (same["status"], same["record_id"]) == ("unchanged", r["record_id"])
    [half] = push(client, world, [penalty(idn, name, source_id="NUM", amount=2000.5)])
    assert half["status"] == "updated"


def test_revoke_keeps_record_and_adds_revision(client, world, person, session):  # type: ignore[no-untyped-def]
    idn, name = person
    [r] = push(client, world, [penalty(idn, name)])
    h = world.bearer(world.key_a)
    rv = client.post(f"/api/v1/records/{r['record_id']}/revoke", json={"reason": "处罚决定被依法撤销"}, headers=h)
    assert rv.status_code == 200
    body = rv.json()
    assert body["status"] == "revoked" and body["revision"] == 2
    assert [v["kind"] for v in body["revisions"]] == ["push", "revoke"]
    again = client.post(f"/api/v1/records/{r['record_id']}/revoke", json={"reason": "x"}, headers=h)
    assert again.status_code == 409
    no_reason = client.post(f"/api/v1/records/{r['record_id']}/revoke", json={"reason": ""}, headers=h)
    assert no_reason.status_code == 422
    # re-sending the same content is harmless; changed content for a revoked record is refused
    [same] = push(client, world, [penalty(idn, name)])
    assert same["status"] == "unchanged"
    [changed] = push(client, world, [penalty(idn, name, amount=9)])
    assert changed["status"] == "rejected" and changed["errors"][0]["code"] == "revoked"
    assert session.get(Record, r["record_id"]).status == "revoked"


def test_department_isolation(client, world, person, db):  # type: ignore[no-untyped-def]
    idn, name = person
    [r] = push(client, world, [penalty(idn, name)])
    hb = world.bearer(world.key_b)
    assert client.get(f"/api/v1/records/{r['record_id']}", headers=hb).status_code == 404
    assert client.post(f"/api/v1/records/{r['record_id']}/revoke", json={"reason": "x"}, headers=hb).status_code == 404
    missing = r["record_id"] + 1000
    assert client.get(f"/api/v1/records/{missing}", headers=hb).status_code == 404
    # each refused read or revocation is registered (as the lists API registers its 404s): another
    # department's record and one that does not exist alike
    with db.session() as s:
        got = [(e.action, e.outcome, e.object_type, e.object_id, e.details.get("reason"))
               for e in s.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied").order_by(AuditEntry.id))]
    rid = str(r["record_id"])
    assert got == [("record.read", "denied", "record", rid, "not_found"),
                   ("record.revoke", "denied", "record", rid, "not_found"),
                   ("record.read", "denied", "record", str(missing), "not_found")], got
    listed = client.get("/api/v1/records", headers=hb).json()["items"]
    assert all(i["department"] == "gaj" for i in listed)
    # the same source_id in another department is another record
    [other] = push(client, world, [penalty(idn, name)], key=world.key_b)
    assert other["status"] == "created" and other["record_id"] != r["record_id"]


def test_responses_mask_identity(client, world, person):  # type: ignore[no-untyped-def]
    idn, name = person
    [r] = push(client, world, [penalty(idn, name)])
    body = client.get(f"/api/v1/records/{r['record_id']}", headers=world.bearer(world.key_a)).text
    assert idn not in body and name not in body
    assert idn[:6] + "********" + idn[-4:] in body


def test_push_needs_a_department_and_permission(client, world, person):  # type: ignore[no-untyped-def]
    idn, name = person
    assert client.post("/api/v1/records", json={"records": [penalty(idn, name)]}).status_code == 401


def test_a_push_or_upload_without_an_active_department_is_refused_and_the_refusal_audited(client, world, person, db, monkeypatch):  # type: ignore[no-untyped-def]
    """Records are pushed and files uploaded by a department (its key or officer). The admin (no
    department) and an officer of a deactivated department are refused 403, and the refusal is
    audited (``auth.forbidden``) as the check API's ``caller_of`` audits the same refusal."""

    idn, name = person
    csrf = login(client, "admin")
    r = client.post("/api/v1/records", json={"records": [penalty(idn, name)]}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and r.json()["code"] == "department_required", r.text
    r = client.post("/api/v1/imports", data={"item": "admin_penalty"}, headers={"X-CSRF-Token": csrf},
                    files={"file": ("a.csv", b"x\n", "text/csv")})
    assert r.status_code == 403 and r.json()["code"] == "department_required", r.text
    client.cookies.clear()
    csrf = login(client, "officer_a")
    # deactivated after the officer's session was accepted (later sessions are refused: test_departments.py)
    deactivated_once_authenticated(monkeypatch, world.dept_a.id)
    r = client.post("/api/v1/records", json={"records": [penalty(idn, name)]}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and r.json()["code"] == "department_inactive", r.text
    with db.session() as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "auth.forbidden")
                                 .order_by(AuditEntry.id)))
        assert [(e.actor_label, e.outcome, e.details.get("permission"), e.details.get("reason"))
                for e in entries] == [("admin", "denied", "records.push", "department_required"),
                                      ("admin", "denied", "imports.use", "department_required"),
                                      ("officer_a", "denied", "records.push", "department_inactive")]
        assert s.scalar(select(func.count()).select_from(Record)) == 0


def test_a_batch_checked_before_its_department_was_deactivated_is_not_written(client, world, person, db,  # type: ignore[no-untyped-def]
                                                                             monkeypatch):
    """A push is checked outside its write transaction (records.api.push): a deactivation committed
    meanwhile is seen when the write takes the department's turn, and the batch is refused whole,
    403 ``department_inactive``, audited as the other refusals of a deactivated department — not
    written for a department stopped while it was checked."""
    from xinyong.auth.models import Department
    from xinyong.records import service

    idn, name = person
    checking = service.check_batch

    def deactivated_while_checked(*args, **kwargs):  # type: ignore[no-untyped-def]
        out = checking(*args, **kwargs)
        with db.session() as s:  # the administrator's deactivation, committed meanwhile
            s.execute(update(Department).where(Department.id == world.dept_a.id).values(active=False))
        return out

    monkeypatch.setattr(service, "check_batch", deactivated_while_checked)
    r = client.post("/api/v1/records", json={"records": [penalty(idn, name)]},
                    headers={"Authorization": f"Bearer {world.key_a}"})
    assert r.status_code == 403 and r.json()["code"] == "department_inactive", r.text
    assert "部门已停用" in r.json()["message"] and "push" in r.json()["message"]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 0
        assert not list(s.scalars(select(AuditEntry).where(AuditEntry.action == "records.push")))
        [e] = s.scalars(select(AuditEntry).where(AuditEntry.action == "auth.forbidden"))
        assert (e.outcome, e.details.get("permission"), e.details.get("reason")) == (
            "denied", "records.push", "department_inactive")


def test_an_officer_of_a_deactivated_department_cannot_revoke(client, world, person, db, monkeypatch):  # type: ignore[no-untyped-def]
    """A deactivated department changes nothing any more: its keys stop, its officers are logged
    out, and a revocation that waited for the department's turn while it was being deactivated is
    refused by ``records.service.revoke`` itself (403 ``department_inactive``, audited as before), on
    the API and on the page alike; the record stays as it was."""
    from xinyong.auth.models import Department
    from xinyong.records import service

    idn, name = person
    [r] = push(client, world, [penalty(idn, name)])
    csrf = login(client, "officer_a")
    h = {"X-CSRF-Token": csrf}
    assert client.get(f"/api/v1/records/{r['record_id']}", headers=h).status_code == 200
    taking_turn = service.lock_department

    def deactivated_meanwhile(session, department_id):  # type: ignore[no-untyped-def]
        # the administrator's deactivation held the department's row: it committed first
        session.execute(update(Department).where(Department.id == department_id).values(active=False))
        return taking_turn(session, department_id)

    monkeypatch.setattr(service, "lock_department", deactivated_meanwhile)
    got = client.post(f"/api/v1/records/{r['record_id']}/revoke", json={"reason": "撤销"}, headers=h)
    assert got.status_code == 403 and got.json()["code"] == "department_inactive", got.text
    assert "部门已停用" in got.json()["message"] and "inactive" in got.json()["message"]
    page = client.post(f"/workspace/records/{r['record_id']}/revoke", data={"csrf_token": csrf, "reason": "撤销"})
    assert page.status_code == 403 and "部门已停用" in page.text and ">撤销</textarea>" in page.text
    with db.session() as s:
        assert s.get(Record, r["record_id"]).status == "active"
        assert s.get(Department, world.dept_a.id).active  # the refusal's rollback: this test's stand-in is undone
        assert [(e.actor_label, e.details.get("permission"), e.details.get("reason")) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action == "auth.forbidden").order_by(AuditEntry.id))] == [
            ("officer_a", "records.push", "department_inactive"), ("officer_a", "records.push", "department_inactive")]
        assert not list(s.scalars(select(AuditEntry).where(AuditEntry.action == "record.revoke")))


def test_every_push_is_audited_once(client, world, person, session):  # type: ignore[no-untyped-def]
    idn, name = person
    before = session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "records.push"))
    [r] = push(client, world, [penalty(idn, name), penalty(idn, "错名", source_id="X")])[:1]
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "records.push")
                              .order_by(AuditEntry.id.desc())).all()
    assert len(entries) == before + 1
    details = entries[0].details
    assert details["created"] == 1 and details["rejected"] == 1
    assert details["records"][0][0] == r["record_id"]
    assert idn not in str(details)


def test_catalog_lists_items_with_fields(client, world):  # type: ignore[no-untyped-def]
    items = client.get("/api/v1/catalog/items", headers=world.bearer(world.key_a)).json()
    codes = {i["code"] for i in items}
    assert {"admin_license", "admin_penalty", "dishonest_debtor", "tax_violation", "traffic_violation",
            "credit_commitment", "professional_qualification", "student_misconduct", "honor", "moral_model",
            "volunteer_service", "blood_donation", "charity_donation"} <= codes
    penalty_item = next(i for i in items if i["code"] == "admin_penalty")
    assert penalty_item["severities"] == ["minor", "general", "serious"]
    assert {f["name"] for f in penalty_item["fields"]} >= {"decision_no", "penalty_type"}
    honor = next(i for i in items if i["code"] == "honor")
    level = next(f for f in honor["fields"] if f["name"] == "level")
    assert level["allowed"] == ["national", "provincial", "city", "district", "street", "community"]


def test_quality_statistics(client, world, person, db):  # type: ignore[no-untyped-def]
    idn, name = person
    push(client, world, [penalty(idn, name, decided_at="2026-01-05"), penalty(idn, "错名", source_id="Z")])
    login_as_admin = world.users["admin"]
    from xinyong.records.quality import department_quality

    with db.session() as s:
        rows = {q.code: q for q in department_quality(s)}
    q = rows["scjgj"]
    assert q.pushed == 1 and q.rejected == 1 and q.rejected_by_reason == {"name_mismatch": 1}
    assert q.with_deadline == 1 and q.late == 1 and q.max_delay_working_days > 7
    assert login_as_admin is not None
    mine = client.get("/api/v1/quality", headers=world.bearer(world.key_a)).json()
    assert [m["code"] for m in mine] == ["scjgj"]


def test_large_batches_take_the_bulk_path_and_stay_idempotent(client, world, session):  # type: ignore[no-untyped-def]
    """1,000 records (the PostgreSQL COPY path starts at 100 rows), half of them on new subjects,
    then the same batch again, then every record changed."""
    from tests.support import new_id_number

    people = [(new_id_number(), f"张{i}") for i in range(500)]
    batch = [penalty(people[i % 500][0], people[i % 500][1], source_id=f"L{i}") for i in range(1000)]
    first = push(client, world, batch)
    assert [r["status"] for r in first] == ["created"] * 1000
    assert len({r["record_id"] for r in first}) == 1000
    ids = sorted(r["record_id"] for r in first)
    assert ids[-1] - ids[0] == 999  # no id skipped: the staging table consumes no sequence values
    assert [r["status"] for r in push(client, world, batch)] == ["unchanged"] * 1000
    changed = [{**b, "fields": {**b["fields"], "amount": 1}} for b in batch]
    assert [r["status"] for r in push(client, world, changed)] == ["updated"] * 1000
    assert session.scalar(select(func.count()).select_from(RecordRevision)) == 1000
    assert session.scalar(select(func.count()).select_from(Subject)) == 500 + 2  # + the world's citizens


def test_catalog_edit_refuses_control_characters(client, world, db):  # type: ignore[no-untyped-def]
    from xinyong.audit.service import Actor
    from xinyong.catalog.service import CatalogError, get_current, update_item
    from xinyong.catalog.spec import to_data

    with db.session() as s:
        spec = to_data(get_current(s, "honor").spec)
        with pytest.raises(CatalogError) as err:
            update_item(s, code="honor", data={**spec, "legal_basis": "a\x00b"}, actor=Actor.system("t"))
        assert "legal_basis" in str(err.value.field)
        assert get_current(s, "honor").version == 1
    # over the API: the refusal's message says it once, in Chinese then English (it was said twice)
    csrf = login(client, "admin")
    r = client.put("/api/v1/catalog/items/honor", json={"spec": {**spec, "category": "weird"}},
                   headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and r.json()["code"] == "invalid_spec"
    message = r.json()["message"]
    assert message.count("honor.category") == 2 and message.count(" / ") == 1, message
    zh, en = message.split(" / ")
    assert zh.startswith("honor.category: ") and en.startswith("honor.category: ") and zh != en


def test_empty_query_parameters_are_no_filter(client, world, person, db):  # type: ignore[no-untyped-def]
    """The guide's listing template sent as it is (every parameter empty) lists like no parameter;
    a value that is there is still checked."""
    idn, name = person
    [r] = push(client, world, [penalty(idn, name)])
    h = world.bearer(world.key_a)
    blank = client.get("/api/v1/records?item=&status=&decided_from=&decided_to=&before_id=&limit=", headers=h)
    assert blank.status_code == 200, blank.text
    assert [i["id"] for i in blank.json()["items"]] == [i["id"] for i in
                                                        client.get("/api/v1/records", headers=h).json()["items"]]
    assert r["record_id"] in [i["id"] for i in blank.json()["items"]]
    # what was asked is registered, as the records page registers it
    got = client.get("/api/v1/records?item=admin_penalty&decided_from=2026-01-01&decided_to=2026-12-31&before_id=99"
                     "&limit=5", headers=h)
    assert got.status_code == 200
    with db.session() as s:
        last = s.scalars(select(AuditEntry).where(AuditEntry.action == "records.list").order_by(AuditEntry.id.desc())
                         ).first()
        assert {k: last.details.get(k) for k in ("item", "decided_from", "decided_to", "before_id", "limit")} == {
            "item": "admin_penalty", "decided_from": "2026-01-01", "decided_to": "2026-12-31", "before_id": 99,
            "limit": 5}
    for bad in ("status=alive", "decided_from=2026-13-01", "limit=0"):
        got = client.get(f"/api/v1/records?{bad}", headers=h)
        assert got.status_code == 422 and got.json()["errors"][0]["field"] == bad.split("=")[0], got.text


def test_a_reversed_date_range_is_refused_not_an_empty_answer(client, world, person):  # type: ignore[no-untyped-def]
    """A range whose start is after its end is a caller's mistake (swapped parameters): answered 422
    naming the end parameter, as the pages say the range is reversed, not with an empty list or
    zeros that read as "nothing there". A one-day range is a range."""
    idn, name = person
    push(client, world, [penalty(idn, name)])
    h = world.bearer(world.key_a)
    for path, lo, hi in (("/api/v1/records", "decided_from", "decided_to"), ("/api/v1/quality", "since", "until")):
        got = client.get(f"{path}?{lo}=2026-03-02&{hi}=2026-03-01", headers=h)
        assert got.status_code == 422, got.text
        body = got.json()
        assert body["code"] == "invalid_range" and [e["field"] for e in body["errors"]] == [hi], body
        assert " / " in body["message"] and body["message"].index("/") > 0
        assert client.get(f"{path}?{lo}=2026-03-01&{hi}=2026-03-01", headers=h).status_code == 200


def test_an_id_number_in_the_wrong_field_is_neither_echoed_nor_stored(client, world, person, session):  # type: ignore[no-untyped-def]
    """A sender that swapped fields or used the ID number as its own record id: the number is
    refused in source_id (stored and shown as it is, it would be an ID number in the clear), and
    masked wherever a refused value is echoed or logged (the message, the rejection log)."""
    from tests.support import new_id_number

    idn, name = person
    other = new_id_number()
    results = push(client, world, [penalty(idn, name, source_id=f"P-{other}"),
                                   {**penalty(idn, name, source_id="P-9"), "item": other}])
    assert [r["status"] for r in results] == ["rejected", "rejected"]
    assert results[0]["errors"][0]["field"] == "source_id"
    assert results[0]["errors"][0]["code"] == "contains_id_number"
    assert results[1]["errors"][0]["code"] == "unknown_item"
    assert other not in json.dumps(results, ensure_ascii=False)
    assert other[:6] + "********" + other[-4:] in results[1]["errors"][0]["message"]
    logged = session.scalars(select(Rejection)).all()
    assert logged and all(other not in f"{r.source_id} {r.item_code}" for r in logged)


def test_a_revocation_reason_quoting_an_id_number_keeps_it_masked(client, world, person, session):  # type: ignore[no-untyped-def]
    idn, name = person
    [r] = push(client, world, [penalty(idn, name)])
    rv = client.post(f"/api/v1/records/{r['record_id']}/revoke", json={"reason": f"当事人 {idn} 已申请撤销"},
                     headers=world.bearer(world.key_a))
    assert rv.status_code == 200 and idn not in rv.text
    rec = session.get(Record, r["record_id"])
    session.refresh(rec)
    assert rec.status_reason == f"当事人 {idn[:6]}********{idn[-4:]} 已申请撤销"
    assert not any(idn in (v or "") for v in session.scalars(select(RecordRevision.reason)))


@pytest.mark.parametrize(("change", "path"), [
    ({"retention": None}, "admin_penalty.retention.years"),  # a bad item kept for ever
    ({"retention": 5}, "admin_penalty.retention"),  # not a mapping: was dropped without a word
    ({"retention": {"yeras": 5}}, "admin_penalty.retention.yeras"),
])
def test_catalog_edit_refuses_a_negative_item_without_a_retention_period(db, change, path):  # type: ignore[no-untyped-def]
    """Bad and serious records are kept 5 years after the act, then archived (征信业管理条例 Art. 16):
    an edit that drops the retention, or spells it so that it was silently ignored, is refused with
    its path instead of making a version whose records are never archived."""
    from tests.support import SYSTEM

    from xinyong.catalog.service import CatalogError, get_current, update_item
    from xinyong.catalog.spec import to_data

    with db.session() as s:
        spec = to_data(get_current(s, "admin_penalty").spec)
        with pytest.raises(CatalogError) as err:
            update_item(s, code="admin_penalty", data={**spec, **change}, actor=SYSTEM)
        assert err.value.field == path and err.value.code == "invalid_spec"
        zh, en = err.value.message.split(" / ")
        assert zh.startswith(path + ": ") and en.startswith(path + ": ") and zh != en
        assert get_current(s, "admin_penalty").version == 1
        # a good item needs none (kept while shown); one with a retention keeps it
        honor = to_data(get_current(s, "honor").spec)
        assert update_item(s, code="honor", data={**honor, "retention": {"years": 3}}, actor=SYSTEM).spec.retention_years == 3


def test_catalog_api_edit_refuses_an_unknown_department(client, world, db):  # type: ignore[no-untyped-def]
    """``PUT /api/v1/catalog/items/{code}`` checks the departments as the admin page does: a code
    that is no department (a typo) would shut every real department out of pushing the item."""
    from xinyong.catalog.service import get_current
    from xinyong.catalog.spec import to_data

    with db.session() as s:
        spec = to_data(get_current(s, "honor").spec)
    csrf = login(client, "admin")
    r = client.put("/api/v1/catalog/items/honor", json={"spec": {**spec, "departments": ["scjgj", "scjgjj"]}},
                   headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and r.json()["code"] == "unknown_department", r.text
    assert r.json()["errors"][0]["field"] == "departments"
    assert r.json()["message"] == "未知部门：scjgjj / unknown department: scjgjj"
    with db.session() as s:
        assert get_current(s, "honor").version == 1
    ok = client.put("/api/v1/catalog/items/honor", json={"spec": {**spec, "departments": ["scjgj", "gaj"]}},
                    headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and ok.json()["departments"] == ["scjgj", "gaj"]


@pytest.mark.parametrize(("change", "path"), [
    ({"name": ""}, "honor.name"),  # an item without its Chinese name: blank on every page and template
    ({"name": "  "}, "honor.name"),
    ({"name": "名" * 129}, "honor.name"),  # the columns' widths: a 500 from PostgreSQL (value too long)
    ({"name_en": "e" * 129}, "honor.name_en"),
    ({"key_field": "领" * 33}, "honor.key_field"),
])
def test_catalog_api_edit_refuses_a_blank_or_over_long_name(client, world, db, change, path):  # type: ignore[no-untyped-def]
    """An item's names and key field are kept in columns of their own: an edit naming the item with
    nothing, or with more than its column holds, is refused (422, naming the path) on both engines,
    not a 500 from PostgreSQL (and a value stored past the column's width on SQLite)."""
    from xinyong.catalog.service import get_current
    from xinyong.catalog.spec import to_data

    with db.session() as s:
        spec = to_data(get_current(s, "honor").spec)
    csrf = login(client, "admin")
    r = client.put("/api/v1/catalog/items/honor", json={"spec": {**spec, **change}}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_spec" and r.json()["errors"][0]["field"] == path
    zh, en = r.json()["message"].split(" / ")
    assert zh.startswith(path + ": ") and en.startswith(path + ": ") and zh != en
    with db.session() as s:
        assert get_current(s, "honor").version == 1
    # at the limits, accepted
    ok = client.put("/api/v1/catalog/items/honor", headers={"X-CSRF-Token": csrf},
                    json={"spec": {**spec, "name": "名" * 128, "name_en": "e" * 128, "key_field": "领" * 32}})
    assert ok.status_code == 200 and ok.json()["name"] == "名" * 128, ok.text


@pytest.mark.parametrize("note", ["a\x00b", "line\x1bbreak"])
def test_catalog_api_edit_refuses_control_characters_in_the_note(client, world, db, note):  # type: ignore[no-untyped-def]
    """The change note is kept with the version and in the audit entry: a control character is
    refused with its field, as on the admin page (a NUL was a 500 from PostgreSQL, and stored on SQLite)."""
    from xinyong.catalog.service import get_current
    from xinyong.catalog.spec import to_data

    with db.session() as s:
        spec = to_data(get_current(s, "honor").spec)
    csrf = login(client, "admin")
    r = client.put("/api/v1/catalog/items/honor", json={"spec": {**spec, "legal_basis": "新依据"}, "note": note},
                   headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and r.json()["code"] == "invalid_characters", r.text
    assert r.json()["errors"][0]["field"] == "note"
    with db.session() as s:
        assert get_current(s, "honor").version == 1
    ok = client.put("/api/v1/catalog/items/honor", json={"spec": {**spec, "legal_basis": "新依据"},
                                                         "note": "第一行\n第二行\t说明"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and ok.json()["version"] == 2


@pytest.mark.parametrize(("change", "path"), [
    ({"general": {"publish": True, "min_month": 6, "max_months": 12}}, "admin_penalty.display.by_severity.general.min_month"),
    ({"general": {"publish": True, "min_months": 3, "max_months": 12, "retain": 60}},
     "admin_penalty.display.by_severity.general.retain"),
])
def test_catalog_edit_refuses_a_misspelt_display_setting(db, change, path):  # type: ignore[no-untyped-def]
    """A misspelt period setting was dropped without a word: ``min_month: 6`` left the minimum at 0
    (repair could end display at once). It is refused with its path, in both languages."""
    from tests.support import SYSTEM

    from xinyong.catalog.service import CatalogError, get_current, update_item
    from xinyong.catalog.spec import to_data

    with db.session() as s:
        spec = to_data(get_current(s, "admin_penalty").spec)
        spec["display"]["by_severity"].update(change)
        with pytest.raises(CatalogError) as err:
            update_item(s, code="admin_penalty", data=spec, actor=SYSTEM)
        assert err.value.field == path and err.value.code == "invalid_spec"
        zh, en = err.value.message.split(" / ")
        assert zh.startswith(path + ": ") and en.startswith(path + ": ") and zh != en
        honor = to_data(get_current(s, "honor").spec)
        honor["display"]["defualt"] = honor["display"].pop("default")
        honor["display"]["by_severity"] = {}
        with pytest.raises(CatalogError) as err:
            update_item(s, code="honor", data=honor, actor=SYSTEM)
        assert err.value.field == "honor.display.defualt"
        assert get_current(s, "admin_penalty").version == get_current(s, "honor").version == 1


@pytest.mark.parametrize(("code", "change", "path"), [
    # government-only information would have become visible to authorized queries (the default)
    ("dishonest_debtor", {"visiblity": "government"}, "dishonest_debtor.visiblity"),
    ("honor", {"fields": [{"name": "title", "name_zh": "荣誉名称", "type": "string", "requried": True}]},
     "honor.fields[0].requried"),
])
def test_catalog_edit_refuses_a_misspelt_item_or_field_setting(db, code, change, path):  # type: ignore[no-untyped-def]
    from tests.support import SYSTEM

    from xinyong.catalog.service import CatalogError, get_current, update_item
    from xinyong.catalog.spec import to_data

    with db.session() as s:
        spec = to_data(get_current(s, code).spec)
        spec.pop("visibility")
        with pytest.raises(CatalogError) as err:
            update_item(s, code=code, data={**spec, **change}, actor=SYSTEM)
        assert err.value.field == path and err.value.code == "invalid_spec"
        zh, en = err.value.message.split(" / ")
        assert zh.startswith(path + ": ") and en.startswith(path + ": ") and zh != en
        assert get_current(s, code).version == 1


def test_a_body_key_holding_an_id_number_is_echoed_masked(client, world, person):  # type: ignore[no-untyped-def]
    """An unknown top-level key of a body (a field the caller misplaced) is named in ``errors``:
    an ID number in it is masked there, as in a record's own unknown keys."""
    idn, name = person
    h = {**world.bearer(world.key_a), "Content-Type": "application/json"}
    pushed = client.post("/api/v1/records", content=json.dumps({"records": [penalty(idn, name)], idn: 1}), headers=h)
    [r] = push(client, world, [penalty(idn, name)])
    revoked = client.post(f"/api/v1/records/{r['record_id']}/revoke", content=json.dumps({"reason": "x", idn: 1}),
                          headers=h)
    for answer in (pushed, revoked):
        assert answer.status_code == 422
        body = answer.json()
        assert body["code"] == "validation_error"
        assert idn not in answer.text
        assert [e["field"] for e in body["errors"]] == [f"{idn[:6]}********{idn[-4:]}"]




def test_a_revoked_record_revoked_again_is_a_409_without_a_field(client, world, person):  # type: ignore[no-untyped-def]
    """A state conflict concerns no field: docs/integration.md promises ``errors`` empty for a 409,
    as the imports API's 409s (``already_done`` …) answer."""
    idn, name = person
    [r] = push(client, world, [penalty(idn, name)])
    h = world.bearer(world.key_a)
    assert client.post(f"/api/v1/records/{r['record_id']}/revoke", json={"reason": "撤销"}, headers=h).status_code == 200
    again = client.post(f"/api/v1/records/{r['record_id']}/revoke", json={"reason": "撤销"}, headers=h)
    assert again.status_code == 409
    body = again.json()
    assert (body["code"], body["errors"]) == ("already_revoked", [])
    assert " / " in body["message"]
    # a refused reason still names its field
    blank = client.post(f"/api/v1/records/{r['record_id']}/revoke", json={"reason": " "}, headers=h)
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "reason"


@pytest.mark.parametrize("blank", ["", "   "])
def test_an_empty_id_number_is_missing_as_in_a_file(client, world, person, blank):  # type: ignore[no-untyped-def]
    """An empty ID number is ``missing`` (as an empty source_id or name, and as an empty cell of a
    file's ID-number column), not an ``invalid_id_number`` with a reason the guide does not list."""
    idn, name = person
    [r] = push(client, world, [penalty(blank, name)])
    assert r["status"] == "rejected"
    assert [(e["field"], e["code"]) for e in r["errors"]] == [("id_number", "missing")]
    assert " / " in r["errors"][0]["message"]


def test_catalog_api_never_echoes_an_id_number_sent_as_an_item_or_department_code(client, world, db):  # type: ignore[no-untyped-def]
    """An ID number where a code belongs (a path segment, a department of the rule) is refused
    without repeating it: masked as ``GET /api/v1/imports/templates/{item}.csv`` masks it."""
    from xinyong.catalog.service import get_current
    from xinyong.catalog.spec import to_data

    idn = world.other_id_number
    masked = idn[:6] + "********" + idn[-4:]
    r = client.get(f"/api/v1/catalog/items/{idn}", headers=world.bearer(world.key_a))
    assert r.status_code == 404 and r.json()["code"] == "unknown_item"
    assert idn not in r.text and masked in r.json()["message"]
    with db.session() as s:
        spec = to_data(get_current(s, "honor").spec)
    csrf = login(client, "admin")
    r = client.put(f"/api/v1/catalog/items/{idn}", json={"spec": spec}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 404 and idn not in r.text and masked in r.json()["message"]
    r = client.put("/api/v1/catalog/items/honor", json={"spec": {**spec, "departments": ["scjgj", idn]}},
                   headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and r.json()["code"] == "unknown_department"
    assert idn not in r.text and masked in r.json()["message"]


def test_an_id_number_quoted_in_a_text_field_is_stored_and_shown_masked(client, world, person, session):  # type: ignore[no-untyped-def]
    """A penalty's facts may quote another person's ID number (冒用他人身份证): kept, but never in
    the clear — not stored in a column that is not encrypted, not shown (as a revocation reason)."""
    from tests.support import new_id_number

    idn, name = person
    other = new_id_number()
    masked = f"{other[:6]}********{other[-4:]}"
    rec = penalty(idn, name, violation=f"冒用他人身份证（{other}）办理业务", decision_no=other)
    [r] = push(client, world, [rec])
    assert r["status"] == "created"
    stored = session.get(Record, r["record_id"])
    assert stored.fields["violation"] == f"冒用他人身份证（{masked}）办理业务"
    assert stored.fields["decision_no"] == masked
    assert push(client, world, [rec])[0]["status"] == "unchanged"  # the same record sent again
    # a record stored before ingestion masked its fields is shown masked too, with its revisions
    session.execute(update(Record).where(Record.id == stored.id).values(fields={**stored.fields, "basis": other}))
    session.commit()
    assert push(client, world, [{**rec, "fields": {**rec["fields"], "amount": 9}}])[0]["status"] == "updated"
    body = client.get(f"/api/v1/records/{stored.id}", headers=world.bearer(world.key_a))
    assert body.status_code == 200 and other not in body.text
    assert [v["fields"].get("basis") for v in body.json()["revisions"]] == [masked, None]


def test_an_item_withdrawn_from_every_department_is_refused_to_all_and_its_records_kept(client, world, person, db):  # type: ignore[no-untyped-def]
    """停止归集: an empty department list is a rule too (it was refused: an item could not be
    withdrawn, only handed to some department). Nobody may push it; what was pushed stays."""
    from xinyong.catalog.service import get_current
    from xinyong.catalog.spec import to_data

    idn, name = person
    [before] = push(client, world, [penalty(idn, name)])
    with db.session() as s:
        spec = to_data(get_current(s, "admin_penalty").spec)
    csrf = login(client, "admin")
    r = client.put("/api/v1/catalog/items/admin_penalty", json={"spec": {**spec, "departments": []}},
                   headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["departments"] == [] and r.json()["version"] == 2, r.text
    page = client.get("/admin/catalog/admin_penalty")
    assert page.status_code == 200 and "已停止归集" in page.text
    for key in (world.key_a, world.key_b):
        [refused] = push(client, world, [penalty(idn, name, source_id="P-2")], key=key)
        assert refused["status"] == "rejected" and refused["errors"][0]["code"] == "item_not_allowed"
    kept = client.get(f"/api/v1/records/{before['record_id']}", headers=world.bearer(world.key_a)).json()
    assert kept["status"] == "active" and kept["item_version"] == 1
    back = client.put("/api/v1/catalog/items/admin_penalty", json={"spec": {**spec, "departments": ["*"]}},
                      headers={"X-CSRF-Token": csrf})
    assert back.status_code == 200
    assert push(client, world, [penalty(idn, name, source_id="P-2")])[0]["status"] == "created"


@pytest.mark.parametrize(("where", "value"), [("decided_at", "2026-02-30"), ("decided_at", "2025-13-01"),
                                              ("fields.valid_from", "2026-02-30")])
def test_a_date_that_does_not_exist_is_not_called_a_format_error(client, world, person, where, value):  # type: ignore[no-untyped-def]
    """2026-02-30 is written YYYY-MM-DD: the rejection says the day does not exist, not that the
    format is wrong (the department's developer would look for a formatting bug that is not there)."""
    idn, name = person
    rec = {"item": "admin_license", "id_number": idn, "name": name, "source_id": "L-1", "decided_at": "2026-01-05",
           "fields": {"license_no": "津食许2026001", "license_type": "普通", "content": "食品经营"}}
    if where == "decided_at":
        rec["decided_at"] = value
    else:
        rec["fields"]["valid_from"] = value
    [r] = push(client, world, [rec])
    [err] = r["errors"]
    assert (err["field"], err["code"]) == (where, "wrong_type")
    assert "YYYY-MM-DD" not in err["message"] and value in err["message"]
    assert "不存在" in err["message"] and "no such" in err["message"]


def test_a_refused_record_registers_no_one(client, world, person, session):  # type: ignore[no-untyped-def]
    """A subject is created by the first valid record naming them: a record refused once its
    stored namesake was read (a repeat with other content, a revoked record's source id) left the
    person it named registered — "known" to checks, and its name (perhaps the very mistake) then
    refusing every later record as name_mismatch."""
    from tests.support import new_id_number

    idn, name = person
    stranger, late = new_id_number(), new_id_number()
    before = session.scalar(select(func.count()).select_from(Subject))
    first, dup = push(client, world, [penalty(idn, name, source_id="D"), penalty(stranger, "错名", source_id="D")])
    assert first["status"] == "created" and dup["errors"][0]["code"] == "duplicate_in_batch"
    [r] = push(client, world, [penalty(idn, name, source_id="R")])
    assert client.post(f"/api/v1/records/{r['record_id']}/revoke", json={"reason": "撤销"},
                       headers=world.bearer(world.key_a)).status_code == 200
    [rev] = push(client, world, [penalty(late, "另一人", source_id="R")])
    assert rev["errors"][0]["code"] == "revoked"
    assert session.scalar(select(func.count()).select_from(Subject)) == before + 1  # the person of the good one
    # the one refused named nobody: the same number with its right name is a new person, not a mismatch
    [ok] = push(client, world, [penalty(stranger, "王真名", source_id="S-2")])
    assert ok["status"] == "created", ok
    push_entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "records.push")
                                 .order_by(AuditEntry.id)).all()
    assert [len(e.details["subjects_created"]) for e in push_entry] == [1, 0, 0, 1]


def test_a_refused_record_names_no_one_for_the_rest_of_its_batch(client, world, person, session, vault):  # type: ignore[no-untyped-def]
    """The same within one batch: a new person's name is the one of their first record that is
    accepted. A record refused for its source id (a repeat with other content, a revoked record's
    id) before it in the batch named no one, so a later record of the same person under another name
    is no name_mismatch (found by tests/records/test_ingest_stateful.py: the bad record blocked the
    good one)."""
    from tests.support import new_id_number

    idn, name = person
    stranger, late = new_id_number(), new_id_number()
    first, dup, ok = push(client, world, [penalty(idn, name, source_id="D"), penalty(stranger, "错名", source_id="D"),
                                          penalty(stranger, "王真名", source_id="D-2")])
    assert first["status"] == "created" and dup["errors"][0]["code"] == "duplicate_in_batch"
    assert ok["status"] == "created", ok
    [r] = push(client, world, [penalty(idn, name, source_id="R")])
    assert client.post(f"/api/v1/records/{r['record_id']}/revoke", json={"reason": "撤销"},
                       headers=world.bearer(world.key_a)).status_code == 200
    rev, ok2, again = push(client, world, [penalty(late, "另一人", source_id="R"), penalty(late, "李真名", source_id="R-2"),
                                           penalty(late, "另一人", source_id="R-3")])
    assert rev["errors"][0]["code"] == "revoked"
    assert ok2["status"] == "created", ok2
    assert again["errors"][0]["code"] == "name_mismatch"  # judged by the accepted record's name
    for number, registered in ((stranger, "王真名"), (late, "李真名")):
        subj = session.get(Subject, session.get(Record, push(client, world, [
            penalty(number, registered, source_id=f"N-{registered}")])[0]["record_id"]).subject_id)
        assert vault.reveal_name(subj.id_bidx, subj.name_cipher, subj.key_id) == registered


def test_invisible_characters_pasted_into_a_name_are_dropped(client, world, person, session, db):  # type: ignore[no-untyped-def]
    """A name copied from a web page or a document may carry a zero-width space, a byte-order mark
    or a bidirectional override: invisible, they made the same person a name_mismatch (and were
    kept in the name registered)."""
    from tests.support import new_id_number

    from xinyong.privacy.vault import Vault

    idn, name = person
    push(client, world, [penalty(idn, name, source_id="N-1")])
    [same] = push(client, world, [penalty(idn, f"\ufeff{name[0]}\u200b{name[1:]}\u202e", source_id="N-2")])
    assert same["status"] == "created", same
    fresh = new_id_number()
    [new] = push(client, world, [penalty(fresh, "\u200b王\u2060五\u200d", source_id="N-3")])
    assert new["status"] == "created"
    subject = session.scalar(select(Subject).where(Subject.id == session.get(Record, new["record_id"]).subject_id))
    vault: Vault = world.vault
    assert vault.reveal_name(subject.id_bidx, subject.name_cipher, subject.key_id) == "王五"
    [blank] = push(client, world, [penalty(new_id_number(), "\u200b\ufeff", source_id="N-4")])
    assert blank["errors"][0]["field"] == "name" and blank["errors"][0]["code"] == "missing"


def test_a_severity_sent_with_spaces_is_trimmed_as_an_enum_value_is(client, world, person):  # type: ignore[no-untyped-def]
    idn, name = person
    [r] = push(client, world, [penalty(idn, name, severity=" serious ")])
    assert r["status"] == "created", r
    body = client.get(f"/api/v1/records/{r['record_id']}", headers=world.bearer(world.key_a)).json()
    assert body["severity"] == "serious"


def test_an_id_number_typed_in_full_width_is_the_same_person(client, world, person, session):  # type: ignore[no-untyped-def]
    idn, name = person
    [first] = push(client, world, [penalty(idn, name, source_id="W-1")])
    wide = "".join(chr(ord(c) + 0xFEE0) for c in idn)
    [again] = push(client, world, [penalty(wide, name, source_id="W-2")])
    assert again["status"] == "created", again
    assert session.get(Record, again["record_id"]).subject_id == session.get(Record, first["record_id"]).subject_id
    found = client.post("/api/v1/subjects/lookup", json={"id_number": wide}, headers=world.bearer(world.key_a))
    assert found.status_code == 200 and found.json()["subject_id"] == session.get(Record, first["record_id"]).subject_id


def test_a_filter_date_that_names_no_day_says_so(client, world):  # type: ignore[no-untyped-def]
    r = client.get("/api/v1/records?decided_from=2026-02-30", headers=world.bearer(world.key_a))
    assert r.status_code == 422
    [err] = r.json()["errors"]
    assert err["field"] == "decided_from" and "日期不存在：2026-02-30" in err["message"] and "no such date" in err["message"]
    assert "格式应为" not in err["message"]


def test_an_18_digit_number_that_is_no_id_number_is_stored_as_sent(client, world, person, session):  # type: ignore[no-untyped-def]
    """Only ID numbers are masked in kept text: a decision number (region, date, serial) or an
    individual business's unified social credit code written in 18 digits is the record's content,
    and masked once stored it could never be read again."""
    from tests.support import new_id_number

    idn, name = person
    other = new_id_number()
    uscc = "921101050000123456"  # 92 (individual business) + region + organisation: no ID number
    rec = penalty(idn, name, violation=f"经营者（统一社会信用代码 {uscc}）冒用 {other}", decision_no="110105202403050002")
    [r] = push(client, world, [rec])
    assert r["status"] == "created", r
    stored = session.get(Record, r["record_id"])
    assert stored.fields["violation"] == f"经营者（统一社会信用代码 {uscc}）冒用 {other[:6]}********{other[-4:]}"
    assert stored.fields["decision_no"] == "110105202403050002"
    body = client.get(f"/api/v1/records/{stored.id}", headers=world.bearer(world.key_a)).json()
    assert body["fields"]["decision_no"] == "110105202403050002" and uscc in body["fields"]["violation"]


def test_a_refused_revocation_is_audited_with_its_code(client, db, world, person):  # type: ignore[no-untyped-def]
    """A revocation the rules refuse leaves one ``record.revoke`` entry naming the code and field —
    ``denied`` for a record already revoked (409), ``failed`` for a blank reason (422) — as a look at
    another department's record does (``not_found``); such a refusal left no trace. The reason typed
    is not kept in the entry."""
    idn, name = person
    [r] = push(client, world, [penalty(idn, name)])
    h = world.bearer(world.key_a)
    rid = r["record_id"]
    assert client.post(f"/api/v1/records/{rid}/revoke", json={"reason": " "}, headers=h).status_code == 422
    assert client.post(f"/api/v1/records/{rid}/revoke", json={"reason": "撤销"}, headers=h).status_code == 200
    assert client.post(f"/api/v1/records/{rid}/revoke", json={"reason": "再撤销"}, headers=h).status_code == 409
    with db.session() as s:
        entries = [(e.outcome, e.object_id, e.details)
                   for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "record.revoke")
                                      .order_by(AuditEntry.id))]
    assert entries[0] == ("failed", str(rid), {"code": "missing", "field": "reason"})
    assert entries[1][0] == "ok"
    assert entries[2] == ("denied", str(rid), {"code": "already_revoked", "field": None})
    assert len(entries) == 3


def test_a_key_with_a_name_of_128_characters_pushes_revokes_and_uploads(client, app, world, person, db):  # type: ignore[no-untyped-def]
    """A key acts as ``<department>:<key name>``, written into the records' ``changed_by``, revisions' and
    audit entries' ``actor_label`` and import jobs' ``created_by`` (128 characters each). A name may
    have 128 characters: every push and upload of such a key was a 500 on PostgreSQL (value too long).
    The label is cut to the columns' width, the key still named exactly by its id."""
    from xinyong.auth import service as auth_service
    from xinyong.auth.models import Department
    from xinyong.imports.api import runner_of

    idn, name = person
    with db.session() as s:
        dept = s.get(Department, world.dept_a.id)
        key, row = auth_service.create_api_key(s, department=dept, name="系" * 128, actor=SYSTEM)
    [r] = push(client, world, [penalty(idn, name)], key=key)
    assert r["status"] == "created", r
    revoked = client.post(f"/api/v1/records/{r['record_id']}/revoke", json={"reason": "撤销"}, headers=world.bearer(key))
    assert revoked.status_code == 200, revoked.text
    labels = [v["actor_label"] for v in revoked.json()["revisions"]]
    assert all(len(label) == 128 and label.startswith("scjgj:系") and label.endswith("…") for label in labels), labels
    # a name that fits keeps its label whole
    with db.session() as s:
        dept = s.get(Department, world.dept_a.id)
        short, _ = auth_service.create_api_key(s, department=dept, name="系" * 122, actor=SYSTEM)
    [again] = push(client, world, [penalty(idn, name, source_id="P-2")], key=short)
    got = client.get(f"/api/v1/records/{again['record_id']}", headers=world.bearer(short)).json()
    assert got["revisions"][-1]["actor_label"] == "scjgj:" + "系" * 122
    header = "身份证号码,姓名,来源编号,决定日期,严重程度,处罚决定书文号,违法行为类型,处罚类别\n"
    upload = client.post("/api/v1/imports", headers=world.bearer(key), data={"item": "admin_penalty"},
                         files={"file": ("a.csv", (header + f"{idn},{name},F-1,2026-03-02,一般,D,v,罚款\n").encode())})
    assert upload.status_code == 202, upload.text
    assert upload.json()["created_by"] == labels[0]
    runner_of(app).wait()
    job = client.get(f"/api/v1/imports/{upload.json()['id']}", headers=world.bearer(key)).json()
    assert job["status"] == "done" and job["counts"]["created"] == 1, job
    with db.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.actor_id == str(row.id))).all()
        assert entries and all(e.actor_label == labels[0] for e in entries)


def test_an_unknown_item_filter_is_refused_not_an_empty_list(client, world, person, db):  # type: ignore[no-untyped-def]
    """``?item=`` naming no catalog item is a 422 naming ``item`` (as the records page refuses it),
    registered as a refused read without the value; an empty list would read as "none of that item"."""
    idn, name = person
    push(client, world, [penalty(idn, name)])
    h = world.bearer(world.key_a)
    got = client.get("/api/v1/records?item=no_such_item", headers=h)
    assert got.status_code == 422, got.text
    assert (got.json()["code"], got.json()["errors"][0]["field"]) == ("unknown_item", "item")
    assert "no_such_item" not in got.text
    with db.session() as s:
        last = s.scalars(select(AuditEntry).where(AuditEntry.action == "records.list").order_by(AuditEntry.id.desc())
                         ).first()
        assert (last.outcome, last.details) == ("failed", {"code": "unknown_item", "field": "item", "errors": 1})
    assert client.get("/api/v1/records?item=admin_penalty", headers=h).status_code == 200


def test_a_source_id_keeps_its_item(client, world, person, db):  # type: ignore[no-untyped-def]
    """(department, source_id) identifies one record of one item for good: a record of another item
    under a source_id in use (a department whose penalty and licence numbers overlap) is rejected
    naming ``item``, not taken as an update that would replace the penalty by a licence."""
    idn, name = person
    [first] = push(client, world, [penalty(idn, name, source_id="2026-001")])
    licence = {"item": "admin_license", "id_number": idn, "name": name, "source_id": "2026-001",
               "decided_at": "2026-03-05", "fields": {"license_no": "JY2026001", "license_type": "普通",
                                                      "content": "食品经营许可"}}
    [out] = push(client, world, [licence])
    assert out["status"] == "rejected" and out["record_id"] is None
    [err] = out["errors"]
    assert (err["field"], err["code"]) == ("item", "item_changed") and "admin_penalty" in err["message"]
    got = client.get(f"/api/v1/records/{first['record_id']}", headers=world.bearer(world.key_a)).json()
    assert (got["item"], len(got["revisions"])) == ("admin_penalty", 1)
    # the same penalty again is unchanged, a changed one an update, and the licence goes under its own id
    assert push(client, world, [penalty(idn, name, source_id="2026-001")])[0]["status"] == "unchanged"
    assert push(client, world, [penalty(idn, name, source_id="2026-001", amount=3000)])[0]["status"] == "updated"
    assert push(client, world, [dict(licence, source_id="L-2026-001")])[0]["status"] == "created"


def test_catalog_item_read_then_sent_back_round_trips(client, world, db):  # type: ignore[no-untyped-def]
    """What ``GET /api/v1/catalog/items/{code}`` answers can be edited and sent back: its ``spec`` is
    the definition in the shape ``PUT`` takes (the list's fields — ``retention_years``, ``display`` by
    period — are not, and were all a client had to start from)."""
    from xinyong.catalog.service import get_current

    csrf = login(client, "admin")
    got = client.get("/api/v1/catalog/items/admin_penalty")
    assert got.status_code == 200, got.text
    spec = got.json()["spec"]
    same = client.put("/api/v1/catalog/items/admin_penalty", json={"spec": spec}, headers={"X-CSRF-Token": csrf})
    assert same.status_code == 200, same.text
    assert same.json()["version"] == got.json()["version"]  # the same definition is no new version
    spec["display"]["by_severity"]["general"]["max_months"] = 6
    changed = client.put("/api/v1/catalog/items/admin_penalty", json={"spec": spec}, headers={"X-CSRF-Token": csrf})
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == got.json()["version"] + 1
    assert changed.json()["display"]["general"]["max_months"] == 6
    with db.session() as s:
        assert get_current(s, "admin_penalty").spec.period("general").max_months == 6
    listed = client.get("/api/v1/catalog/items").json()
    assert listed and all("spec" not in i for i in listed)  # the list keeps its shape
