"""An audit entry never holds a raw ID number, and a failed audit write fails the change."""

from __future__ import annotations

import json
from datetime import date

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.exc import StatementError
from tests.support import SYSTEM

from xinyong.audit import service
from xinyong.audit.models import AuditEntry
from xinyong.audit.service import Actor, record
from xinyong.auth import service as auth_service
from xinyong.auth.deps import SESSION_COOKIE
from xinyong.auth.models import Department, User
from xinyong.privacy.identity import make_id_number

RAW = make_id_number("120101", date(1985, 3, 9), 123)
RAW_X = next(n for n in (make_id_number("110105", date(1949, 12, 31), i) for i in range(1000)) if n.endswith("X"))


def _all_text(session, entry_id: int) -> str:
    """Every column of the stored row, as the database holds it."""
    row = session.execute(text("SELECT * FROM audit_entries WHERE id = :i"), {"i": entry_id}).mappings().one()
    return json.dumps({k: str(v) for k, v in row.items()}, ensure_ascii=False)


def _assert_absent(blob: str, *numbers: str) -> None:
    for n in numbers:
        assert n not in blob and n.lower() not in blob, blob
        assert n[6:14] not in blob, blob


def test_details_never_hold_a_raw_id_number(session):
    e = record(
        session,
        actor=Actor(type="user", id="1", label=f"clerk {RAW}"),
        action="test.scrub",
        object_type="subject",
        object_id=RAW,
        details={
            "plain": RAW,
            "sentence": f"查询了身份证{RAW}的记录",
            "glued": f"sfz{RAW_X.lower()}abc",
            "lower": RAW_X.lower(),
            "nested": {"list": [RAW, {"deep": (RAW_X,)}]},
            RAW: "as a key",
            "number": int(RAW),
        },
    )
    session.flush()
    blob = _all_text(session, e.id)
    _assert_absent(blob, RAW, RAW_X)
    assert "120101********" + RAW[-4:] in blob  # masked, still useful to a reader
    session.expire_all()
    stored = session.get(AuditEntry, e.id)
    assert stored.object_id == "120101********" + RAW[-4:]
    assert stored.details["plain"] == "120101********" + RAW[-4:]


def test_non_id_values_are_kept(session):
    details = {"count": 123456789012345678 + 10**18, "hash": "e3b0c44298fc1c149afbf4c8996fb924",
               "ok": True, "n": 17, "ratio": 0.5, "none": None, "code": "12345678901234567"}
    e = record(session, actor=SYSTEM, action="test.keep", details=details)
    session.flush()
    session.expire_all()
    assert session.get(AuditEntry, e.id).details == details


_ids = st.builds(lambda r, b, s: make_id_number(r, b, s),
                 st.sampled_from(["120101", "110105", "310104", "440305"]),
                 st.dates(date(1900, 1, 1), date(2020, 12, 31)), st.integers(0, 999))
_noise = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)


@settings(max_examples=200, deadline=None)
@given(_ids, _noise, _noise, st.booleans(), st.sampled_from(["value", "key", "list", "int"]))
def test_scrub_masks_an_id_number_wherever_it_is(number, before, after, lower, where):
    shown = number.lower() if lower else number
    s = f"{before}{shown}{after}"
    doc = {"value": {"k": s}, "key": {s: 1}, "list": {"k": [1, [s]]},
           "int": {"k": int(number) if number[-1] != "X" else s}}[where]
    out = json.dumps(service._scrub(doc), ensure_ascii=False)
    assert number not in out.upper()


def test_rolled_back_entry_and_change_together(db):
    with pytest.raises(RuntimeError), db.session() as s:
        auth_service.add_department(s, code="tmpdept", name="临时", actor=SYSTEM)
        raise RuntimeError
    with db.session() as s:
        assert s.scalar(select(Department).where(Department.code == "tmpdept")) is None
        assert s.scalar(select(func.count()).where(AuditEntry.action == "department.create",
                                                   AuditEntry.details["code"].as_string() == "tmpdept")) == 0


def test_unserialisable_audit_details_fail_the_whole_unit_of_work(db):
    with pytest.raises((StatementError, TypeError)), db.session() as s:
        auth_service.add_department(s, code="willvanish", name="将消失", actor=SYSTEM)
        record(s, actor=SYSTEM, action="test.bad", details={"when": object()})
    with db.session() as s:
        assert s.scalar(select(Department).where(Department.code == "willvanish")) is None
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "test.bad")) == 0


def _sign_in(client: TestClient, db, user: User) -> dict[str, str]:
    with db.session() as s:
        token, ws = auth_service.start_session(s, user=s.get(User, user.id), hours=1)
    client.cookies.set(SESSION_COOKIE, token)
    return {"X-CSRF-Token": ws.csrf_token}


def test_api_change_fails_when_its_audit_insert_fails(app, db, world):
    """The database refuses the audit insert (table gone): the request fails, the change is absent."""
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        headers = _sign_in(client, db, world.users["admin"])
        db.connection.execute(text("ALTER TABLE audit_entries RENAME TO audit_entries_gone"))
        try:
            r = client.post("/api/v1/departments", json={"code": "noaudit", "name": "无审计部门"}, headers=headers)
        finally:
            db.connection.execute(text("ALTER TABLE audit_entries_gone RENAME TO audit_entries"))
    assert r.status_code >= 500, r.text
    body = r.json()
    assert body["request_id"] and "Traceback" not in r.text and "audit_entries" not in r.text
    with db.session() as s:
        assert s.scalar(select(Department).where(Department.code == "noaudit")) is None
        # and the same request with the audit table in place succeeds
    with TestClient(app, base_url="https://testserver") as client:
        headers = _sign_in(client, db, world.users["admin"])
        r = client.post("/api/v1/departments", json={"code": "noaudit", "name": "无审计部门"}, headers=headers)
        assert r.status_code == 201, r.text


def test_audit_api_for_auditors_only(client, db, world):
    from xinyong.audit.service import seal_pending

    with db.session() as s:
        seal_pending(s)
    headers = _sign_in(client, db, world.users["auditor"])
    r = client.post("/api/v1/audit/verify", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True and r.json()["checked"] > 0
    r = client.get("/api/v1/audit/entries", params={"action": "subject.create"}, headers=headers)
    assert r.status_code == 200 and len(r.json()) == 2
    _assert_absent(r.text, world.citizen_id_number, world.other_id_number)
    r = client.get("/api/v1/audit/entries", headers=world.bearer(world.key_a))
    assert r.status_code == 403
    client.cookies.clear()
    headers = _sign_in(client, db, world.users["officer"])
    assert client.get("/api/v1/audit/entries", headers=headers).status_code == 403
