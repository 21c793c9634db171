"""Lists API: permissions by role, department isolation, masked identities, every step and refusal."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from tests.lists.lists_support import debtor, push

from xinyong.audit.models import AuditEntry
from xinyong.lists.models import ListEntry

pytestmark = pytest.mark.usefixtures("lists_loaded")


def _propose(client, world, key=None, subject_id=None, code="key_supervision", **extra):  # type: ignore[no-untyped-def]
    body = {"subject_id": subject_id or world.citizen_subject.id, "reason": "组织电信诈骗", "category": "telecom_fraud",
            **extra}
    return client.post(f"/api/v1/lists/{code}/entries", json=body, headers=world.bearer(key or world.key_a))


def test_kinds_with_counts(client, world):  # type: ignore[no-untyped-def]
    assert _propose(client, world).status_code == 201
    r = client.get("/api/v1/lists", headers=world.bearer(world.key_a))
    assert r.status_code == 200
    kinds = {k["code"]: k for k in r.json()}
    assert set(kinds) == {"red_volunteer", "red_moral_model", "red_recommended", "serious_dishonesty",
                          "key_supervision", "dishonest_debtor", "clean_3y"}
    assert kinds["key_supervision"]["counts"] == {"proposed": 1}
    assert kinds["key_supervision"]["defence_working_days"] == 5 and len(kinds["key_supervision"]["categories"]) == 10
    # Department B sees only its own department's counts.
    other = {k["code"]: k for k in client.get("/api/v1/lists", headers=world.bearer(world.key_b)).json()}
    assert other["key_supervision"]["counts"] == {}


def test_propose_notify_defend_decide_remove_over_http(client, world, login, session):  # type: ignore[no-untyped-def]
    r = _propose(client, world)
    assert r.status_code == 201, r.text
    e = r.json()
    assert e["status"] == "proposed" and e["department"] == "scjgj"
    assert e["id_number_masked"].startswith("120101") and "*" in e["id_number_masked"]
    assert world.citizen_id_number not in r.text
    eid = e["id"]
    r = client.post(f"/api/v1/list-entries/{eid}/notify", json={"note": "直接送达"}, headers=world.bearer(world.key_a))
    assert r.status_code == 200 and r.json()["status"] == "notified" and r.json()["defence_deadline"]
    # The admin cannot list during the defence period without a defence.
    client.cookies.clear()
    csrf = login(client, "admin")
    r = client.post(f"/api/v1/list-entries/{eid}/decide", json={"decision": "list", "reason": "列入"},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 409 and r.json()["code"] == "defence_period_running"
    # The citizen states a defence for themself.
    client.cookies.clear()
    csrf = login(client, "zhangsan")
    assert client.get(f"/api/v1/list-entries/{eid}").status_code == 200
    r = client.post(f"/api/v1/list-entries/{eid}/defence", json={"defence": "本人系被冒用身份"},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    assert r.json()["defence"] == "本人系被冒用身份"
    client.cookies.clear()
    csrf = login(client, "admin")
    r = client.post(f"/api/v1/list-entries/{eid}/decide", json={"decision": "list", "reason": "申辩不成立"},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["status"] == "listed" and r.json()["published"] is False
    r = client.post(f"/api/v1/list-entries/{eid}/remove", json={"kind": "revocation", "reason": "认定被撤销"},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["removal_kind"] == "revocation"
    r = client.post(f"/api/v1/list-entries/{eid}/remove", json={"kind": "decision", "reason": "again"},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 409 and r.json()["code"] == "not_listed"
    assert r.json()["errors"][0]["field"] == "status"
    actions = [(a, o) for a, o in session.execute(
        select(AuditEntry.action, AuditEntry.outcome).where(AuditEntry.object_type == "list_entry",
                                                            AuditEntry.object_id == str(eid)).order_by(AuditEntry.id))]
    assert actions == [("list_entry.propose", "ok"), ("list_entry.notify", "ok"),
                       ("list_entry.decide", "failed"),  # during the defence period: refused, registered
                       ("list_entry.read", "ok"), ("list_entry.defend", "ok"), ("list_entry.decide", "ok"),
                       ("list_entry.remove", "ok"), ("list_entry.remove", "failed")]


def test_defence_after_deadline_over_http(client, world, session):  # type: ignore[no-untyped-def]
    eid = _propose(client, world).json()["id"]
    client.post(f"/api/v1/list-entries/{eid}/notify", json={}, headers=world.bearer(world.key_a))
    session.execute(ListEntry.__table__.update().where(ListEntry.id == eid).values(defence_deadline=date(2026, 1, 5)))
    session.commit()
    r = client.post(f"/api/v1/list-entries/{eid}/defence", json={"defence": "迟交"}, headers=world.bearer(world.key_a))
    assert r.status_code == 409 and r.json()["code"] == "defence_too_late"
    assert r.json()["message"].startswith("申辩期已于 2026-01-05 届满")


def test_department_isolation(client, world):  # type: ignore[no-untyped-def]
    eid = _propose(client, world).json()["id"]
    b = world.bearer(world.key_b)
    assert client.get(f"/api/v1/list-entries/{eid}", headers=b).status_code == 404
    assert client.post(f"/api/v1/list-entries/{eid}/notify", json={}, headers=b).status_code == 404
    assert client.get("/api/v1/lists/key_supervision/entries", headers=b).json()["items"] == []
    listed = client.get("/api/v1/lists/key_supervision/entries", headers=world.bearer(world.key_a)).json()["items"]
    assert [e["id"] for e in listed] == [eid]
    # A department may not propose in another department's name.
    r = _propose(client, world, key=world.key_b, subject_id=world.other_subject.id, department="scjgj")
    assert r.status_code == 403 and r.json()["code"] == "department_not_allowed"


@pytest.mark.parametrize(("user", "method", "path", "status"), [
    ("officer_a", "post", "/api/v1/list-entries/{eid}/decide", 403),
    ("officer_a", "post", "/api/v1/list-entries/{eid}/remove", 403),
    ("bank", "get", "/api/v1/lists", 403),
    ("bank", "get", "/api/v1/list-entries/{eid}", 403),
    ("zhangsan", "get", "/api/v1/lists", 403),
    ("zhangsan", "post", "/api/v1/list-entries/{eid}/notify", 403),
    ("auditor", "get", "/api/v1/list-entries/{eid}", 200),
    ("auditor", "post", "/api/v1/lists/key_supervision/entries", 403),
    ("officer_b", "post", "/api/v1/list-entries/{eid}/defence", 404),
])
def test_permissions(client, world, login, user, method, path, status):  # type: ignore[no-untyped-def]
    eid = _propose(client, world).json()["id"]
    csrf = login(client, user)
    body = {"decision": "reject", "reason": "x", "kind": "decision", "defence": "x"}
    if path.endswith("/decide"):
        body = {"decision": "reject", "reason": "x"}
    elif path.endswith("/remove"):
        body = {"kind": "decision", "reason": "x"}
    elif path.endswith("/defence"):
        body = {"defence": "x"}
    elif path.endswith("/entries"):
        body = {"subject_id": world.other_subject.id, "reason": "x", "category": "bribery"}
    elif path.endswith("/notify"):
        body = {}
    kwargs = {"headers": {"X-CSRF-Token": csrf}}
    if method == "post":
        kwargs["json"] = body
    r = getattr(client, method)(path.format(eid=eid), **kwargs)
    assert r.status_code == status, r.text


def test_citizen_sees_only_own_entries(client, world, login):  # type: ignore[no-untyped-def]
    mine = _propose(client, world).json()["id"]
    assert client.post(f"/api/v1/list-entries/{mine}/notify", json={},
                       headers=world.bearer(world.key_a)).status_code == 200
    theirs = _propose(client, world, subject_id=world.other_subject.id).json()["id"]
    login(client, "zhangsan")
    assert client.get(f"/api/v1/list-entries/{mine}").status_code == 200
    assert client.get(f"/api/v1/list-entries/{theirs}").status_code == 404


def test_citizen_api_shows_only_entries_they_were_told_of(client, world, login, session):  # type: ignore[no-untyped-def]
    """The API answers the citizen as /my/lists does: a proposal they were not told of yet (or one
    rejected before they were) is a 404, the same as another person's entry, and registered so; it
    was answered in full (reason, proposing department) before the notice that starts the procedure."""
    proposed = _propose(client, world).json()["id"]
    rejected = _propose(client, world, code="serious_dishonesty", category="harm_health_life").json()["id"]
    csrf = login(client, "admin")
    assert client.post(f"/api/v1/list-entries/{rejected}/decide", json={"decision": "reject", "reason": "证据不足"},
                       headers={"X-CSRF-Token": csrf}).status_code == 200
    client.cookies.clear()
    csrf = login(client, "zhangsan")
    for eid in (proposed, rejected):
        r = client.get(f"/api/v1/list-entries/{eid}")
        assert r.status_code == 404 and r.json()["code"] == "not_found", r.text
    r = client.post(f"/api/v1/list-entries/{proposed}/defence", json={"defence": "申辩"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 404, r.text
    refused = session.scalars(select(AuditEntry).where(AuditEntry.object_type == "list_entry",
                                                       AuditEntry.object_id == str(proposed),
                                                       AuditEntry.outcome == "denied")).all()
    assert {e.action for e in refused} == {"list_entry.read", "list_entry.defend"}
    # once told, the same entry is theirs to read and answer
    client.cookies.clear()
    assert client.post(f"/api/v1/list-entries/{proposed}/notify", json={},
                       headers=world.bearer(world.key_a)).status_code == 200
    csrf = login(client, "zhangsan")
    assert client.get(f"/api/v1/list-entries/{proposed}").status_code == 200
    r = client.post(f"/api/v1/list-entries/{proposed}/defence", json={"defence": "申辩"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text


def test_an_entry_not_found_names_the_entry_id(client, world, login):  # type: ignore[no-untyped-def]
    """A 404 for an entry names the path's ``entry_id`` (it named ``body``, which the request had none of)."""
    theirs = _propose(client, world, subject_id=world.other_subject.id).json()["id"]
    for headers in (world.bearer(world.key_b), {}):
        if not headers:
            headers = {"X-CSRF-Token": login(client, "zhangsan")}
        for r in (client.get(f"/api/v1/list-entries/{theirs}", headers=headers),
                  client.get("/api/v1/list-entries/987654321", headers=headers)):
            assert r.status_code == 404 and r.json()["errors"][0]["field"] == "entry_id", r.text


def test_red_lists_are_for_the_credit_office(client, world, login):  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/lists/red_recommended/entries", json={"subject_id": world.other_subject.id, "reason": "推荐"},
                    headers=world.bearer(world.key_a))
    assert r.status_code == 403 and r.json()["code"] == "red_list_by_credit_office"
    csrf = login(client, "admin")
    r = client.post("/api/v1/lists/red_recommended/entries", json={"subject_id": world.other_subject.id, "reason": "推荐"},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201 and r.json()["status"] == "listed" and r.json()["published"] is True
    r = client.post("/api/v1/lists/red_recommended/entries", json={"subject_id": world.other_subject.id, "reason": "推荐"},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 409 and r.json()["code"] == "already_on_list"
    # The credit office proposes a dishonesty listing naming the deciding department.
    r = client.post(
        "/api/v1/lists/serious_dishonesty/entries",
        json={"subject_id": world.other_subject.id, "reason": "x", "category": "harm_health_life"},
        headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and r.json()["code"] == "department_required"
    r = client.post("/api/v1/lists/serious_dishonesty/entries",
                    json={"subject_id": world.other_subject.id, "reason": "x", "category": "harm_health_life",
                          "department": "gaj"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201 and r.json()["department"] == "gaj"


@pytest.mark.parametrize(("code", "body", "status", "err"), [
    ("no_such_list", {}, 404, "unknown_list"),
    ("key_supervision", {"category": "jaywalking"}, 422, "unknown_category"),
    ("key_supervision", {"category": None}, 422, "missing"),
    ("dishonest_debtor", {"category": None}, 409, "catalog_fed"),
    ("key_supervision", {"status": "listed"}, 422, "validation_error"),
    ("key_supervision", {"subject_id": 999_999_999}, 404, "unknown_subject"),
])
def test_bad_proposals(client, world, code, body, status, err):  # type: ignore[no-untyped-def]
    r = _propose(client, world, code=code, **body)
    assert r.status_code == status, r.text
    assert r.json()["code"] == err
    assert " / " in r.json()["message"]


def test_already_on_list_over_http(client, world):  # type: ignore[no-untyped-def]
    assert _propose(client, world).status_code == 201
    r = _propose(client, world)
    assert r.status_code == 409 and r.json()["code"] == "already_on_list"
    assert r.json()["errors"][0]["field"] == "subject_id"


def test_catalog_fed_entries_and_clean_3y(client, world, login, session, vault):  # type: ignore[no-untyped-def]
    with session.begin_nested():
        push(session, vault, world.dept_a, [debtor(world.other_id_number, "欧阳娜娜")])
    session.commit()
    items = client.get("/api/v1/lists/dishonest_debtor/entries?status=listed",
                       headers=world.bearer(world.key_a)).json()["items"]
    assert [(e["subject_id"], e["source"], e["published"]) for e in items] == [(world.other_subject.id, "catalog", True)]
    assert world.other_id_number not in str(items)
    r = client.get("/api/v1/lists/clean_3y/entries", headers=world.bearer(world.key_a))
    assert r.status_code == 200
    body = r.json()
    # department A pushed a record only for the other subject, who now has a serious record
    assert body["list_code"] == "clean_3y" and body["items"] == []
    login(client, "auditor")
    body = client.get("/api/v1/lists/clean_3y/entries?limit=1").json()
    assert [i["subject_id"] for i in body["items"]] == [world.citizen_subject.id]
    assert body["items"][0]["id_number_masked"] != world.citizen_id_number
    assert body["next_before_id"] is None
    audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "list_entries.list")
                           .order_by(AuditEntry.id.desc()))
    assert audit.details["list"] == "clean_3y"


def test_paging(client, world, session, vault):  # type: ignore[no-untyped-def]
    from tests.lists.lists_support import person

    with session.begin_nested():
        people = [person(session, vault, name="测试") for _ in range(5)]
    session.commit()
    for p in people:
        assert _propose(client, world, subject_id=p.id).status_code == 201
    h = world.bearer(world.key_a)
    first = client.get("/api/v1/lists/key_supervision/entries?limit=3", headers=h).json()
    assert len(first["items"]) == 3 and first["next_before_id"]
    second = client.get(f"/api/v1/lists/key_supervision/entries?limit=3&before_id={first['next_before_id']}",
                        headers=h).json()
    assert len(second["items"]) == 2 and second["next_before_id"] is None
    assert client.get("/api/v1/lists/key_supervision/entries?status=bogus", headers=h).status_code == 422


def test_removal_by_rule_is_not_offered_over_http(client, world, login):  # type: ignore[no-untyped-def]
    """The issue's removals are by expiry, repair, revocation or decision; ``rule`` is the rule lists'
    own (refresh), so a listed entry removed by hand as "rule" would misstate why it ended."""
    csrf = login(client, "admin")
    r = client.post("/api/v1/lists/red_recommended/entries", json={"subject_id": world.citizen_subject.id,
                                                                  "reason": "协会推荐"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    eid = r.json()["id"]
    r = client.post(f"/api/v1/list-entries/{eid}/remove", json={"kind": "rule", "reason": "移出"},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "kind"
    assert client.get(f"/api/v1/list-entries/{eid}", headers={"X-CSRF-Token": csrf}).json()["status"] == "listed"


def test_an_empty_status_parameter_is_no_filter(client, world):  # type: ignore[no-untyped-def]
    h = world.bearer(world.key_a)
    blank = client.get("/api/v1/lists/key_supervision/entries?status=", headers=h)
    assert blank.status_code == 200, blank.text
    assert blank.json() == client.get("/api/v1/lists/key_supervision/entries", headers=h).json()
    assert client.get("/api/v1/lists/key_supervision/entries?status=alive!", headers=h).status_code == 422


def test_refused_steps_are_registered(client, world, login, db):  # type: ignore[no-untyped-def]
    """A step the lists refuse — out of order, during the defence period, a proposal the rules refuse —
    leaves a ``failed`` entry naming the step, the entry and why (it left none: the request's rollback
    took it); the refused step changes nothing."""
    eid = _propose(client, world).json()["id"]
    h = world.bearer(world.key_a)
    assert client.post(f"/api/v1/list-entries/{eid}/notify", json={}, headers=h).status_code == 200
    again = client.post(f"/api/v1/list-entries/{eid}/notify", json={}, headers=h)
    assert again.status_code == 409
    csrf = login(client, "admin")
    early = client.post(f"/api/v1/list-entries/{eid}/decide", json={"decision": "list", "reason": "列入"},
                        headers={"X-CSRF-Token": csrf})
    assert early.status_code == 409 and early.json()["code"] == "defence_period_running"
    client.cookies.clear()
    bad = _propose(client, world, category="no_such_category")
    assert bad.status_code == 422
    with db.session() as s:
        failed = [(e.action, e.object_id, e.details["code"], e.actor_type) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.outcome == "failed", AuditEntry.action.like("list_entry.%"))
            .order_by(AuditEntry.id))]
        assert failed == [("list_entry.notify", str(eid), again.json()["code"], "apikey"),
                          ("list_entry.decide", str(eid), "defence_period_running", "user"),
                          ("list_entry.propose", None, bad.json()["code"], "apikey")]
        assert s.get(ListEntry, eid).status == "notified"


def test_a_proposal_refused_for_its_department_is_registered(client, world, login, db):  # type: ignore[no-untyped-def]
    """A proposal in another department's name (403) or naming no such department (422) is a refused
    listing step too: registered under the step, with its code and field (it left no trace)."""
    assert _propose(client, world, department=world.dept_b.code).status_code == 403
    csrf = login(client, "admin")
    r = client.post("/api/v1/lists/key_supervision/entries", headers={"X-CSRF-Token": csrf},
                    json={"subject_id": world.citizen_subject.id, "reason": "组织电信诈骗", "category": "telecom_fraud",
                          "department": "nosuchdept"})
    assert r.status_code == 422 and r.json()["code"] == "unknown_department"
    with db.session() as s:
        refused = [(e.action, e.outcome, e.details["code"], e.details["field"], e.actor_type) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action == "list_entry.propose").order_by(AuditEntry.id))]
    assert refused == [("list_entry.propose", "denied", "department_not_allowed", "department", "apikey"),
                       ("list_entry.propose", "failed", "unknown_department", "department", "user")]


def test_a_proposal_for_an_unknown_list_is_registered(client, world, db):  # type: ignore[no-untyped-def]
    """``POST /api/v1/lists/{code}/entries`` for a list that does not exist (404) is a refused proposal:
    registered ``failed`` with its code and field, as the other refused steps are (it left no trace)."""
    r = client.post("/api/v1/lists/no_such_list/entries", headers=world.bearer(world.key_a),
                    json={"subject_id": world.citizen_subject.id, "reason": "组织电信诈骗", "category": "telecom_fraud"})
    assert r.status_code == 404 and r.json()["code"] == "unknown_list"
    with db.session() as s:
        refused = [(e.action, e.outcome, e.details["code"], e.details["field"], e.actor_type) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.action == "list_entry.propose").order_by(AuditEntry.id))]
    assert refused == [("list_entry.propose", "failed", "unknown_list", "list", "apikey")]


def test_an_old_session_confirms_the_password_before_adding_to_a_red_list(client, world, login, db):  # type: ignore[no-untyped-def]
    """Adding someone to a red list is the credit office's decision (``lists.decide``), a step-up
    action: a session whose password is older than the window is asked for it (403
    ``step_up_required``, registered), as deciding a proposed listing is; nothing is listed. A
    dishonesty proposal (``lists.propose``) needs none."""
    from datetime import timedelta

    from sqlalchemy import func, update

    from xinyong.auth.models import WebSession
    from xinyong.auth.permissions import STEP_UP_MINUTES
    from xinyong.db import utcnow

    csrf = login(client, "admin")
    with db.session() as s:  # the password was last entered before the step-up window
        s.execute(update(WebSession).where(WebSession.ended_at.is_(None))
                  .values(authenticated_at=utcnow() - timedelta(minutes=STEP_UP_MINUTES + 5)))
    r = client.post("/api/v1/lists/red_recommended/entries", json={"subject_id": world.other_subject.id, "reason": "推荐"},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and r.json()["code"] == "step_up_required", r.text
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ListEntry).where(ListEntry.list_code == "red_recommended")) == 0
        assert [e.details["permission"] for e in s.scalars(select(AuditEntry).where(
            AuditEntry.action == "auth.step_up_required"))] == ["lists.decide"]
    r = client.post("/api/v1/lists/key_supervision/entries", json={
        "subject_id": world.other_subject.id, "reason": "重点监管", "category": "telecom_fraud", "department": "scjgj"},
        headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
