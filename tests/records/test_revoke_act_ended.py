"""A revocation that records the end of the act (``POST /api/v1/records/{id}/revoke`` with
``act_ended_on``, and the workspace page's revoke form): a dishonest debtor who performs is removed
by the court, and that is when the act ended — retention counts five years from it (catalog
``retention.from_field``). Stored with the revocation's own revision (the revision before keeps the
fields as they were), ``retain_until`` computed again, audited; refused naming ``act_ended_on`` when
the date cannot be read or is after today, or the item has no such rule (a date before the decision is
taken, as on a push). The ``{"reason"}``-only call is as it was."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from tests.support import login

from xinyong import clock
from xinyong.audit.models import AuditEntry
from xinyong.records.display import add_months
from xinyong.records.models import Record, RecordRevision

pytestmark = pytest.mark.usefixtures("catalog_loaded")
DECIDED = date(2025, 6, 30)


def _debtor(idn: str, name: str, source_id: str = "D1", **fields: object) -> dict:
    return {"item": "dishonest_debtor", "id_number": idn, "name": name, "source_id": source_id,
            "decided_at": DECIDED.isoformat(), "fields": {"case_no": "(2025)津0101执1号", "court": "和平区人民法院",
                                                          "obligation": "给付", "circumstance": "拒不履行", **fields}}


def _licence(idn: str, name: str) -> dict:
    return {"item": "admin_license", "id_number": idn, "name": name, "source_id": "L1", "decided_at": "2026-03-02",
            "fields": {"license_no": "L-1", "license_type": "普通", "content": "食品经营"}}


def _push(client, world, record: dict) -> int:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/records", json={"records": [record]}, headers=world.bearer(world.key_a))
    assert r.status_code == 200, r.text
    [out] = r.json()["results"]
    assert out["status"] == "created", out
    return out["record_id"]


def _revokes(session, rid: int) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == "record.revoke",
                                                         AuditEntry.object_id == str(rid)).order_by(AuditEntry.id)))


def test_a_revocation_records_the_end_of_the_act_and_retention_counts_from_it(client, world, person, session):  # type: ignore[no-untyped-def]
    idn, name = person
    rid = _push(client, world, _debtor(idn, name))
    before = session.get(Record, rid)
    assert before.retain_until == add_months(DECIDED, 60) and "act_ended_on" not in before.fields
    old_hash, display_until = before.content_hash, before.display_until
    ended = clock.today() - timedelta(days=3)
    r = client.post(f"/api/v1/records/{rid}/revoke", json={"reason": "被执行人已履行义务，法院决定删除",
                                                           "act_ended_on": ended.isoformat()},
                    headers=world.bearer(world.key_a))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["revision"]) == ("revoked", 2)
    assert body["fields"]["act_ended_on"] == ended.isoformat()
    assert body["retain_until"] == add_months(ended, 60).isoformat()
    assert body["display_until"] == display_until.isoformat()  # the display rule does not read it
    # one new revision: the one before keeps the fields as they were (nothing overwritten in place)
    assert [(v["revision"], v["kind"], "act_ended_on" in v["fields"]) for v in body["revisions"]] == [
        (1, "push", False), (2, "revoke", True)]
    [kept] = session.scalars(select(RecordRevision).where(RecordRevision.record_id == rid)).all()
    assert (kept.revision, kept.kind, kept.status, kept.content_hash) == (1, "push", "active", old_hash)
    assert "act_ended_on" not in kept.fields
    rec = session.get(Record, rid)
    session.refresh(rec)
    assert rec.retain_until == add_months(ended, 60)
    # the department's re-send of the record as it pushed it is nothing new (its nightly full
    # export): unchanged, not refused as revoked for the date the revocation added
    again = client.post("/api/v1/records", json={"records": [_debtor(idn, name)]}, headers=world.bearer(world.key_a))
    assert again.json()["results"][0]["status"] == "unchanged", again.text
    [entry] = _revokes(session, rid)
    assert entry.outcome == "ok"
    assert entry.details["act_ended_on"] == ended.isoformat()
    assert entry.details["retain_until"] == add_months(ended, 60).isoformat()
    assert entry.details["retain_until_before"] == add_months(DECIDED, 60).isoformat()
    assert (entry.details["previous_status"], entry.details["revision"]) == ("active", 2)


@pytest.mark.parametrize("given", [{}, {"act_ended_on": None}, {"act_ended_on": ""}])
def test_a_revocation_with_only_its_reason_is_as_it_was(client, world, person, session, given):  # type: ignore[no-untyped-def]
    idn, name = person
    rid = _push(client, world, _debtor(idn, name))
    before = session.get(Record, rid)
    fields, chash, retain = dict(before.fields), before.content_hash, before.retain_until
    r = client.post(f"/api/v1/records/{rid}/revoke", json={"reason": "撤销", **given},
                    headers=world.bearer(world.key_a))
    assert r.status_code == 200, r.text
    rec = session.get(Record, rid)
    session.refresh(rec)
    assert (rec.status, rec.revision, rec.fields, rec.content_hash, rec.retain_until) == (
        "revoked", 2, fields, chash, retain)
    [entry] = _revokes(session, rid)
    assert entry.details == {"reason": "撤销", "previous_status": "active", "revision": 2}


def test_an_end_of_the_act_before_the_decision_is_taken_as_on_a_push(client, world, person, session):  # type: ignore[no-untyped-def]
    """A debtor who had performed before being listed is revoked with that day, as a push takes a
    penalty's act ended before its decision: retention counts from it, never ending before display."""
    idn, name = person
    rid = _push(client, world, _debtor(idn, name))
    display_until = session.get(Record, rid).display_until
    ended = DECIDED - timedelta(days=20)
    r = client.post(f"/api/v1/records/{rid}/revoke", json={"reason": "列入前已履行", "act_ended_on": ended.isoformat()},
                    headers=world.bearer(world.key_a))
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["act_ended_on"] == ended.isoformat()
    assert r.json()["retain_until"] == max(add_months(ended, 60), display_until).isoformat()


def _cases() -> list[tuple[str, str, str]]:
    today = clock.today()
    return [
        ((today + timedelta(days=1)).isoformat(), "future_date", "不能晚于今天"),
        ("2026/10/15", "wrong_type", "日期格式应为 YYYY-MM-DD"),
        ("2026-02-30", "wrong_type", "日期不存在"),
    ]


@pytest.mark.parametrize(("value", "code", "says"), _cases(), ids=["future", "format", "no_such_day"])
def test_an_end_of_the_act_that_cannot_be_is_refused_naming_its_field(client, world, person, session,  # type: ignore[no-untyped-def]
                                                                      value, code, says):
    idn, name = person
    rid = _push(client, world, _debtor(idn, name))
    r = client.post(f"/api/v1/records/{rid}/revoke", json={"reason": "撤销", "act_ended_on": value},
                    headers=world.bearer(world.key_a))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == code and set(body) == {"code", "message", "errors", "request_id"}
    [err] = body["errors"]
    assert (err["field"], err["code"]) == ("act_ended_on", code)
    zh, _, en = err["message"].partition(" / ")  # Chinese first, then English naming the field
    assert says in zh and "违法失信行为终止日期" in zh and "act_ended_on" in en
    rec = session.get(Record, rid)
    session.refresh(rec)
    assert (rec.status, rec.revision) == ("active", 1) and "act_ended_on" not in rec.fields
    [entry] = _revokes(session, rid)  # the refusal registered: its code and field, never the value
    assert entry.outcome == "failed" and entry.details == {"code": code, "field": "act_ended_on"}


def test_an_item_whose_retention_does_not_count_from_the_end_of_the_act_refuses_it(client, world, person,  # type: ignore[no-untyped-def]
                                                                                   session):
    idn, name = person
    rid = _push(client, world, _licence(idn, name))
    r = client.post(f"/api/v1/records/{rid}/revoke", json={"reason": "撤销", "act_ended_on": "2026-10-15"},
                    headers=world.bearer(world.key_a))
    assert r.status_code == 422, r.text
    [err] = r.json()["errors"]
    assert (err["field"], err["code"]) == ("act_ended_on", "not_allowed")
    zh, _, en = err["message"].partition(" / ")
    assert "终止日期" in zh and "act_ended_on is not allowed" in en
    assert session.get(Record, rid).status == "active"
    # the reason alone revokes it, as ever
    ok = client.post(f"/api/v1/records/{rid}/revoke", json={"reason": "撤销"}, headers=world.bearer(world.key_a))
    assert ok.status_code == 200 and ok.json()["status"] == "revoked"


def test_the_workspace_revoke_form_takes_the_end_of_the_act_where_the_item_has_the_rule(client, world, person,  # type: ignore[no-untyped-def]
                                                                                      session):
    idn, name = person
    debtor, licence = _push(client, world, _debtor(idn, name)), _push(client, world, _licence(idn, name))
    csrf = login(client, "officer_a")
    page = client.get(f"/workspace/records/{debtor}")
    assert page.status_code == 200 and 'name="act_ended_on"' in page.text
    assert 'name="act_ended_on"' not in client.get(f"/workspace/records/{licence}").text
    refused = client.post(f"/workspace/records/{debtor}/revoke",
                          data={"csrf_token": csrf, "reason": "已履行", "act_ended_on": "2026/10/15"})
    assert refused.status_code == 422 and "日期格式应为 YYYY-MM-DD" in refused.text
    assert 'name="act_ended_on" value="2026/10/15"' in refused.text and 'aria-invalid="true"' in refused.text
    assert session.get(Record, debtor).status == "active"
    ended = clock.today() - timedelta(days=1)
    done = client.post(f"/workspace/records/{debtor}/revoke",
                       data={"csrf_token": csrf, "reason": "已履行", "act_ended_on": ended.isoformat()},
                       follow_redirects=False)
    assert done.status_code == 303, done.text[:300]
    rec = session.get(Record, debtor)
    session.refresh(rec)
    assert (rec.status, rec.fields["act_ended_on"], rec.retain_until) == ("revoked", ended.isoformat(),
                                                                          add_months(ended, 60))
    # an empty box is no date: the reason alone, as the API's reason-only call
    plain = client.post(f"/workspace/records/{licence}/revoke",
                        data={"csrf_token": csrf, "reason": "撤销", "act_ended_on": ""}, follow_redirects=False)
    assert plain.status_code == 303


@pytest.mark.parametrize(("lang", "untrue", "says"), [("zh", "不早于决定日期", "可早于决定日期"),
                                                      ("en", "not before the decision", "it may be before the decision")])
def test_the_revoke_form_s_hint_says_what_the_rule_takes(client, world, person, session, lang, untrue, says):  # type: ignore[no-untyped-def]
    """The box's hint, in either language, says what the revocation takes: an end of the act before
    the decision is taken (as on a push), so the hint must not tell the officer it is refused."""
    idn, name = person
    rid = _push(client, world, _debtor(idn, name))
    csrf = login(client, "officer_a")
    client.cookies.set("lang", lang)
    page = client.get(f"/workspace/records/{rid}").text
    assert 'name="act_ended_on"' in page and untrue not in page and says in page
    ended = DECIDED - timedelta(days=20)  # what the hint used to say the form refuses
    done = client.post(f"/workspace/records/{rid}/revoke",
                       data={"csrf_token": csrf, "reason": "列入前已履行", "act_ended_on": ended.isoformat()},
                       follow_redirects=False)
    assert done.status_code == 303, done.text[:300]
    rec = session.get(Record, rid)
    session.refresh(rec)
    assert (rec.status, rec.fields["act_ended_on"]) == ("revoked", ended.isoformat())


def test_a_refused_revoke_form_shows_its_reason_back_with_no_id_number_in_the_clear(client, world, person,  # type: ignore[no-untyped-def]
                                                                                    session):
    """A revoke form refused for its end-of-act date shows the reason typed back; an ID number in it
    (the debtor's, quoted in the reason) is shown masked, as the reason is stored, never in the clear."""
    from tests.support import new_id_number

    from xinyong.privacy.masking import mask_id_number

    idn, name = person
    rid = _push(client, world, _debtor(idn, name))
    csrf = login(client, "officer_a")
    number = new_id_number()
    refused = client.post(f"/workspace/records/{rid}/revoke",
                          data={"csrf_token": csrf, "reason": f"被执行人 {number} 已履行", "act_ended_on": "2026/10/15"})
    assert refused.status_code == 422 and "日期格式应为 YYYY-MM-DD" in refused.text
    assert number not in refused.text and number[6:14] not in refused.text
    assert f"被执行人 {mask_id_number(number)} 已履行</textarea>" in refused.text
    assert session.get(Record, rid).status == "active"
