"""Subjects over the API: lookup by ID number in the body, masked reads, object-level access, audit."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.support import SYSTEM

from xinyong import clock
from xinyong.audit.models import AuditEntry
from xinyong.auth import service as auth_service
from xinyong.auth.deps import SESSION_COOKIE
from xinyong.auth.models import User
from xinyong.privacy.identity import make_id_number
from xinyong.subjects.models import GroupMembership
from xinyong.subjects.service import register


def sign_in(client: TestClient, db, user: User) -> dict[str, str]:
    with db.session() as s:
        token, ws = auth_service.start_session(s, user=s.get(User, user.id), hours=1)
    client.cookies.set(SESSION_COOKIE, token)
    return {"X-CSRF-Token": ws.csrf_token}


class Audit:
    """Counts the entries a request leaves."""

    def __init__(self, db) -> None:
        self.db = db
        self.mark = self._max()

    def _max(self) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.coalesce(func.max(AuditEntry.id), 0)))

    def new(self) -> list[AuditEntry]:
        with self.db.session() as s:
            rows = list(s.scalars(select(AuditEntry).where(AuditEntry.id > self.mark).order_by(AuditEntry.id)))
        self.mark = max([self.mark, *(r.id for r in rows)])
        return rows

    def one(self) -> AuditEntry:
        rows = self.new()
        assert len(rows) == 1, [(r.action, r.outcome) for r in rows]
        return rows[0]


@pytest.fixture
def as_role(client, db, world):
    """``as_role("officer")`` → headers for a request as that role (API key for "key")."""
    def _as(role: str) -> dict[str, str]:
        client.cookies.clear()
        if role == "key":
            return world.bearer(world.key_a)
        return sign_in(client, db, world.users[role])
    return _as


def _no_raw_numbers(r, world) -> None:
    for n in (world.citizen_id_number, world.other_id_number):
        assert n not in r.text and n.lower() not in r.text and n[6:14] not in r.text


# ---- lookup ----------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["admin", "auditor", "officer", "key"])
def test_staff_look_up_a_subject_by_id_number(client, db, world, as_role, role):
    h = as_role(role)
    audit = Audit(db)
    r = client.post("/api/v1/subjects/lookup", json={"id_number": world.other_id_number.lower()}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {"subject_id": world.other_subject.id}
    _no_raw_numbers(r, world)
    e = audit.one()
    assert (e.action, e.outcome, e.object_type, e.object_id) == ("subject.lookup", "ok", "subject",
                                                                 str(world.other_subject.id))
    assert world.other_id_number not in str(e.details)


def test_citizen_looks_up_only_themself(client, db, world, as_role):
    h = as_role("citizen")
    audit = Audit(db)
    r = client.post("/api/v1/subjects/lookup", json={"id_number": world.citizen_id_number}, headers=h)
    assert r.status_code == 200 and r.json()["subject_id"] == world.citizen_subject.id
    assert audit.one().outcome == "ok"
    r = client.post("/api/v1/subjects/lookup", json={"id_number": world.other_id_number}, headers=h)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    _no_raw_numbers(r, world)
    e = audit.one()
    # registered as a refusal (a citizen may look up only themself): probing, not a typo
    assert (e.action, e.outcome, e.object_id, e.details["reason"]) == ("subject.lookup", "denied", None, "not_own")
    # indistinguishable from a number nobody holds
    unknown = make_id_number("120101", date(1970, 1, 1), 555)
    r2 = client.post("/api/v1/subjects/lookup", json={"id_number": unknown}, headers=h)
    assert r2.status_code == 404 and r2.json()["message"] == r.json()["message"]
    e = audit.one()
    assert (e.outcome, e.details["reason"]) == ("denied", "not_found")


def test_lookup_of_an_unknown_or_invalid_number(client, db, world, as_role):
    h = as_role("officer")
    audit = Audit(db)
    unknown = make_id_number("310104", date(1970, 1, 1), 556)
    r = client.post("/api/v1/subjects/lookup", json={"id_number": unknown}, headers=h)
    assert r.status_code == 404 and unknown not in r.text
    assert audit.one().details == {"reason": "not_found"}
    bad = world.other_id_number[:-1] + ("1" if world.other_id_number[-1] != "1" else "2")
    r = client.post("/api/v1/subjects/lookup", json={"id_number": bad}, headers=h)
    assert r.status_code == 422 and bad not in r.text
    assert r.json()["errors"][0]["field"] == "id_number" and r.json()["code"] == "id_checksum"
    e = audit.one()
    assert (e.outcome, e.details) == ("failed", {"reason": "id_checksum"})


@pytest.mark.parametrize("body", [{}, {"id_number": ""}, {"id_number": "1" * 40}, {"id_number": 120101},
                                  {"id_number": "x", "name": "张三"}])
def test_lookup_body_is_validated(client, db, world, as_role, body):
    h = as_role("officer")
    audit = Audit(db)
    r = client.post("/api/v1/subjects/lookup", json=body, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["errors"]
    # registered as the lookup's other refusals are (issue 2: bad input leaves an entry where an
    # actor is known), with the code and field only: never the number typed
    e = audit.one()
    assert (e.action, e.outcome, e.actor_id) == ("subject.lookup", "failed", str(world.users["officer"].id))
    assert set(e.details) == {"code", "field"} and e.details["field"] in {"body", "id_number", "name"}
    assert "1" * 40 not in str(e.details) and "120101" not in str(e.details)


def test_id_number_is_not_accepted_in_the_query_string(client, world, as_role):
    h = as_role("officer")
    r = client.get("/api/v1/subjects/lookup", params={"id_number": world.other_id_number}, headers=h)
    assert r.status_code in (404, 405, 422)
    _no_raw_numbers(r, world)


@pytest.mark.parametrize("role", ["institution"])
def test_roles_without_subject_access_are_forbidden_and_audited(client, db, world, as_role, role):
    h = as_role(role)
    audit = Audit(db)
    r = client.post("/api/v1/subjects/lookup", json={"id_number": world.other_id_number}, headers=h)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    e = audit.one()
    assert (e.action, e.outcome) == ("auth.forbidden", "denied")
    r = client.get(f"/api/v1/subjects/{world.other_subject.id}", headers=h)
    assert r.status_code == 403
    assert audit.one().outcome == "denied"


def test_unauthenticated(client, world):
    r = client.post("/api/v1/subjects/lookup", json={"id_number": world.other_id_number})
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    assert client.get(f"/api/v1/subjects/{world.other_subject.id}").status_code == 401


# ---- reading a subject -----------------------------------------------------------------------

@pytest.mark.parametrize("role", ["admin", "auditor", "officer", "key"])
def test_subject_is_shown_masked(client, db, world, as_role, role):
    h = as_role(role)
    audit = Audit(db)
    r = client.get(f"/api/v1/subjects/{world.citizen_subject.id}", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id_number_masked"] == "120101********" + world.citizen_id_number[-4:]
    assert body["name_masked"] == "张**"
    assert (body["birth_date"], body["gender"], body["region_code"]) == (
        None, "M" if int(world.citizen_id_number[16]) % 2 else "F", "120101")  # (see the next test)
    assert body["groups"] == [] and body["students"] == []
    assert "张三丰" not in r.text
    _no_raw_numbers(r, world)
    e = audit.one()
    assert (e.action, e.outcome, e.object_type, e.object_id) == ("subject.read", "ok", "subject",
                                                                 str(world.citizen_subject.id))


@pytest.mark.parametrize("role", ["admin", "auditor", "officer", "key"])
def test_a_subject_read_by_id_never_completes_the_masked_number(client, db, world, as_role, role):
    """The mask hides the eight digits of the birth date (``120101********1234``): a birth date beside it
    gave the whole number back — region, birth date and the last four were all in one response, and
    any department's key could read every subject by counting ids. Staff, keys and the auditor get
    no birth date; gender and region say nothing the mask does not already show."""
    from tests.support import new_id_number

    from xinyong.subjects.models import Subject

    numbers = [world.citizen_id_number, world.other_id_number]
    with db.session() as s:
        for n in range(5):
            numbers.append(new_id_number())
            register(s, vault=world.vault, id_number=numbers[-1], name="王五", actor=SYSTEM)
    h = as_role(role)
    with db.session() as s:
        ids = list(s.scalars(select(Subject.id).order_by(Subject.id)))
    seen = []
    for subject_id in ids:
        r = client.get(f"/api/v1/subjects/{subject_id}", headers=h)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["birth_date"] is None
        masked = body["id_number_masked"]
        seen.append(masked)
        text = r.text.replace("-", "")
        for number in numbers:
            assert number not in text and not (masked == number[:6] + "*" * 8 + number[-4:] and number[6:14] in text)
    assert sorted(seen) == sorted(n[:6] + "*" * 8 + n[-4:] for n in numbers)


def test_the_citizen_sees_their_own_birth_date(client, world, as_role):
    r = client.get(f"/api/v1/subjects/{world.citizen_subject.id}", headers=as_role("citizen"))
    assert r.status_code == 200 and r.json()["birth_date"] == "1985-03-09"


def test_compound_surname_is_masked(client, world, as_role):
    r = client.get(f"/api/v1/subjects/{world.other_subject.id}", headers=as_role("officer"))
    assert r.json()["name_masked"] == "欧阳**"


def test_citizen_reads_only_themself(client, db, world, as_role):
    h = as_role("citizen")
    audit = Audit(db)
    r = client.get(f"/api/v1/subjects/{world.citizen_subject.id}", headers=h)
    assert r.status_code == 200 and r.json()["id"] == world.citizen_subject.id
    assert audit.one().action == "subject.read"
    r = client.get(f"/api/v1/subjects/{world.other_subject.id}", headers=h)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert "欧阳" not in r.text
    _no_raw_numbers(r, world)
    e = audit.one()
    assert (e.action, e.outcome, e.object_id) == ("subject.read", "denied", str(world.other_subject.id))
    r = client.get("/api/v1/subjects/999999999", headers=h)
    assert r.status_code == 404
    assert audit.one().outcome == "denied"


def test_reading_a_missing_subject(client, db, world, as_role):
    h = as_role("officer")
    audit = Audit(db)
    r = client.get("/api/v1/subjects/999999999", headers=h)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert audit.one().outcome == "denied"
    assert client.get("/api/v1/subjects/abc", headers=h).status_code == 422


# ---- key groups and students -----------------------------------------------------------------

def test_key_group_membership_is_added_and_shown(client, db, world, as_role):
    h = as_role("key")
    audit = Audit(db)
    r = client.post(f"/api/v1/subjects/{world.other_subject.id}/groups",
                    json={"group_code": "physician", "qualification_no": "110000123", "employer": "和平医院",
                          "valid_from": "2020-01-01"}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["group_name"] == "执业医师" and r.json()["group_code"] == "physician"
    e = audit.one()
    assert (e.action, e.object_id, e.department_id) == ("subject.group_add", str(world.other_subject.id),
                                                        world.dept_a.id)
    r = client.get(f"/api/v1/subjects/{world.other_subject.id}", headers=h)
    assert [g["group_code"] for g in r.json()["groups"]] == ["physician"]
    assert audit.one().action == "subject.read"


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"group_code": "astronaut"}, "unknown_group", "group_code"),
    ({"group_code": "teacher", "valid_from": "2020-01-02", "valid_to": "2020-01-01"}, "invalid_dates", "valid_to"),
    ({"group_code": "teacher", "status": "approved"}, "validation_error", "status"),
    ({"group_code": "teacher", "subject_id": 1}, "validation_error", "subject_id"),
    ({"group_code": "teacher", "valid_from": "yesterday"}, "validation_error", "valid_from"),
])
def test_key_group_refusals(client, db, world, as_role, body, code, field):
    h = as_role("officer")
    audit = Audit(db)
    r = client.post(f"/api/v1/subjects/{world.other_subject.id}/groups", json=body, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code and field in [e["field"] for e in r.json()["errors"]]
    # nothing added, and the refusal registered (issue 2: bad input leaves an entry where an actor is
    # known): the action, failed, its code and field, never a value typed
    e = audit.one()
    assert (e.action, e.outcome, e.object_type, e.object_id) == (
        "subject.group_add", "failed", "subject", str(world.other_subject.id))
    first = r.json()["errors"][0]  # the first error's code (the schema's own, e.g. extra_forbidden) and field
    assert (e.details["code"], e.details["field"]) == (first["code"], field) and set(e.details) == {"code", "field"}
    with db.session() as s:
        assert not s.scalars(select(GroupMembership).where(
            GroupMembership.subject_id == world.other_subject.id)).all()


def test_adult_student(client, db, world, as_role):
    h = as_role("officer")
    audit = Audit(db)
    r = client.post(f"/api/v1/subjects/{world.citizen_subject.id}/students",
                    json={"school": "天津大学", "enrolled_on": "2021-09-01", "level": "adult"}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["school"] == "天津大学" and r.json()["left_on"] is None
    assert audit.one().action == "subject.student_add"


def test_minor_student_is_refused(client, db, world, as_role):
    today = clock.today()
    born = today.replace(year=today.year - 17) if (today.month, today.day) != (2, 29) else date(today.year - 17, 3, 1)
    with db.session() as s:
        minor, _ = register(s, vault=world.vault, id_number=make_id_number("120101", born, 77), name="小明",
                            actor=SYSTEM)
    h = as_role("officer")
    audit = Audit(db)
    r = client.post(f"/api/v1/subjects/{minor.id}/students",
                    json={"school": "南开中学", "enrolled_on": str(today - timedelta(days=30))}, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "not_adult"
    e = audit.one()  # no enrolment, the refusal registered
    assert (e.action, e.outcome, e.object_id, e.details["code"]) == ("subject.student_add", "failed", str(minor.id),
                                                                      "not_adult")


@pytest.mark.parametrize("body", [{"school": "x", "enrolled_on": "2020-01-01", "level": "kindergarten"},
                                  {"school": "", "enrolled_on": "2020-01-01"},
                                  {"school": "x"},
                                  {"school": "x", "enrolled_on": "2020-01-01", "left_on": "2021-01-01"}])
def test_student_body_is_validated(client, db, world, as_role, body):
    h = as_role("officer")
    audit = Audit(db)
    r = client.post(f"/api/v1/subjects/{world.citizen_subject.id}/students", json=body, headers=h)
    assert r.status_code == 422, r.text
    e = audit.one()
    assert (e.action, e.outcome, e.object_id) == ("subject.student_add", "failed", str(world.citizen_subject.id))
    assert set(e.details) == {"code", "field"}


@pytest.mark.parametrize("role", ["citizen", "auditor", "institution"])
def test_writes_need_subjects_write(client, db, world, as_role, role):
    h = as_role(role)
    audit = Audit(db)
    r = client.post(f"/api/v1/subjects/{world.citizen_subject.id}/groups", json={"group_code": "teacher"},
                    headers=h)
    assert r.status_code == 403
    (e,) = audit.new()
    assert e.outcome == "denied"
    r = client.post(f"/api/v1/subjects/{world.citizen_subject.id}/students",
                    json={"school": "x", "enrolled_on": "2020-01-01"}, headers=h)
    assert r.status_code == 403
    assert [x.outcome for x in audit.new()] == ["denied"]


# ---- no ID number in the clear, no control character, in a membership's or an enrolment's text -----

def _stored_texts(db, subject_id: int) -> list[str]:
    from xinyong.subjects.models import StudentStatus

    with db.session() as s:
        rows = [*s.scalars(select(GroupMembership).where(GroupMembership.subject_id == subject_id)),
                *s.scalars(select(StudentStatus).where(StudentStatus.subject_id == subject_id))]
    return [str(v) for r in rows for v in vars(r).values() if isinstance(v, str)]


@pytest.mark.parametrize(("path", "body", "field"), [
    # a qualification number that is the person's ID number (a driving licence's is), or the national
    # student number (全国学籍号: "G" and the ID number): stored and shown as sent, it was one in the clear
    ("groups", {"group_code": "physician", "qualification_no": "{id}"}, "qualification_no"),
    ("students", {"school": "天津大学", "enrolled_on": "2021-09-01", "student_no": "G{id}"}, "student_no"),
])
def test_identifiers_holding_an_id_number_are_refused(client, db, world, as_role, path, body, field):
    h = as_role("key")
    audit = Audit(db)
    body = {k: v.format(id=world.citizen_id_number) for k, v in body.items()}
    r = client.post(f"/api/v1/subjects/{world.citizen_subject.id}/{path}", json=body, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "contains_id_number" and [e["field"] for e in r.json()["errors"]] == [field]
    assert world.citizen_id_number not in r.text
    e = audit.one()  # nothing added; the refusal registered with its code and field, never the value
    assert (e.outcome, e.details) == ("failed", {"code": "contains_id_number", "field": field})
    assert _stored_texts(db, world.citizen_subject.id) == []


@pytest.mark.parametrize(("path", "body", "field"), [
    ("groups", {"group_code": "physician", "employer": "和平医院（法人 {id}）"}, "employer"),
    ("students", {"school": "天津大学 {id}", "enrolled_on": "2021-09-01"}, "school"),
])
def test_free_text_is_kept_with_the_id_number_masked(client, db, world, as_role, path, body, field):
    h = as_role("key")
    number = world.citizen_id_number
    body = {k: v.format(id=number) for k, v in body.items()}
    r = client.post(f"/api/v1/subjects/{world.citizen_subject.id}/{path}", json=body, headers=h)
    assert r.status_code == 201, r.text
    masked = number[:6] + "********" + number[14:]
    assert r.json()[field] == body[field].replace(number, masked)
    shown = client.get(f"/api/v1/subjects/{world.citizen_subject.id}", headers=h).text
    stored = _stored_texts(db, world.citizen_subject.id)
    assert number not in r.text and number not in shown and not any(number in v for v in stored)
    assert any(masked in v for v in stored)


@pytest.mark.parametrize(("path", "field", "base"), [
    ("groups", "qualification_no", {"group_code": "physician"}),
    ("groups", "employer", {"group_code": "physician"}),
    ("students", "student_no", {"school": "天津大学", "enrolled_on": "2021-09-01"}),
    ("students", "school", {"school": "天津大学", "enrolled_on": "2021-09-01"}),
])
@pytest.mark.parametrize("bad", ["a\x00b", "a\nb", "a\x1bb"])
def test_control_characters_are_refused(client, db, world, as_role, path, field, base, bad):
    """A NUL cannot be stored on PostgreSQL (it was a 500 there), a line break or an escape forges
    what a page or a log line shows: refused, naming the field, nothing stored."""
    h = as_role("officer")
    audit = Audit(db)
    r = client.post(f"/api/v1/subjects/{world.citizen_subject.id}/{path}", json={**base, field: bad}, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_characters" and [e["field"] for e in r.json()["errors"]] == [field]
    e = audit.one()
    assert (e.outcome, e.details) == ("failed", {"code": "invalid_characters", "field": field})
    assert _stored_texts(db, world.citizen_subject.id) == []
