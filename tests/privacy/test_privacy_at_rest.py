"""Privacy at rest and in responses, against a real SQLite file with real commits."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient
from tests.support import PASSWORD, SYSTEM

from xinyong.app import create_app
from xinyong.audit.service import seal_pending, verify
from xinyong.auth import service as auth_service
from xinyong.auth.deps import SESSION_COOKIE
from xinyong.config import Settings
from xinyong.db import Database
from xinyong.privacy.identity import make_id_number
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault
from xinyong.subjects.service import register

PEOPLE = {  # ID number -> full name
    make_id_number("120101", date(1975, 6, 30), 417): "司马相如",
    next(n for n in (make_id_number("110105", date(1988, 12, 1), i) for i in range(1000)) if n.endswith("X")):
        "欧阳修文",
    make_id_number("440305", date(1969, 2, 14), 250): "黄飞鸿",
}


def _needles() -> list[bytes]:
    out = []
    for number, name in PEOPLE.items():
        out += [number.encode(), number.lower().encode(), name.encode("utf-8"), name.encode("utf-16-le"),
                number[6:14].encode()]  # the birth-date-and-sequence middle alone is identifying too
    return out


def test_nothing_identifying_is_stored_in_plain_or_returned_to_others(fresh_db_url, tmp_path, caplog):
    ring = KeyRing.generate()
    ring.save(tmp_path / "keys.json")
    vault = Vault.from_file(tmp_path / "keys.json")
    numbers = list(PEOPLE)
    (owner_number, other_number, spare_number) = numbers

    setup = Database(fresh_db_url)
    with setup.session() as s:
        subjects = {n: register(s, vault=vault, id_number=n, name=PEOPLE[n], actor=SYSTEM)[0].id for n in numbers}
        dept = auth_service.add_department(s, code="scjgj", name="区市场监管局", actor=SYSTEM)
        key, _ = auth_service.create_api_key(s, department=dept, name="业务系统", actor=SYSTEM)
        admin = auth_service.add_user(s, username="admin", password=PASSWORD, role="admin", actor=SYSTEM)
        officer = auth_service.add_user(s, username="officer", password=PASSWORD, role="officer",
                                        department_id=dept.id, actor=SYSTEM)
        auditor = auth_service.add_user(s, username="auditor", password=PASSWORD, role="auditor", actor=SYSTEM)
    setup.dispose()

    settings = Settings(database_url=fresh_db_url, key_file=tmp_path / "keys.json",
                        checkpoint_dir=tmp_path / "checkpoints", audit_seal_interval_seconds=0)
    app = create_app(settings, vault=vault)
    db = app.state.db

    def session_for(user) -> tuple[dict[str, str], dict[str, str]]:
        with db.session() as s:
            token, ws = auth_service.start_session(s, user=s.get(type(user), user.id), hours=1)
        return {SESSION_COOKIE: token}, {"X-CSRF-Token": ws.csrf_token}

    responses = []
    with caplog.at_level(logging.DEBUG), TestClient(app, base_url="https://testserver") as c:
        # the admin binds a citizen account to a person: the number travels only in the body
        cookies, h = session_for(admin)
        c.cookies.update(cookies)
        r = c.post("/api/v1/users", json={"username": "owner", "password": PASSWORD, "role": "citizen",
                                          "id_number": owner_number.lower()}, headers=h)
        assert r.status_code == 201, r.text
        responses.append(r)
        responses.append(c.post("/api/v1/users", json={"username": "bad", "password": PASSWORD, "role": "citizen",
                                                       "id_number": spare_number[:-1] + "0"}, headers=h))
        responses.append(c.get("/api/v1/users", headers=h))
        responses.append(c.get("/api/v1/audit/entries", params={"limit": 500}, headers=h))
        c.cookies.clear()

        # staff and a department system look people up and read them (masked)
        for who in (officer, auditor):
            cookies, h = session_for(who)
            c.cookies.update(cookies)
            for number in numbers:
                r = c.post("/api/v1/subjects/lookup", json={"id_number": number}, headers=h)
                assert r.status_code == 200
                responses += [r, c.get(f"/api/v1/subjects/{r.json()['subject_id']}", headers=h)]
            c.cookies.clear()
        bearer = {"Authorization": f"Bearer {key}"}
        for number in numbers:
            responses.append(c.post("/api/v1/subjects/lookup", json={"id_number": number}, headers=bearer))
            responses.append(c.post(f"/api/v1/subjects/{subjects[number]}/groups",
                                    json={"group_code": "teacher"}, headers=bearer))
        responses.append(c.post("/api/v1/subjects/lookup", json={"id_number": "999999" + other_number[6:]},
                                headers=bearer))

        # the citizen: their own record is masked too; anyone else's is simply not found
        with db.session() as s:
            from sqlalchemy import select

            from xinyong.auth.models import User

            owner = s.scalar(select(User).where(User.username == "owner"))
        cookies, h = session_for(owner)
        c.cookies.update(cookies)
        own = c.get(f"/api/v1/subjects/{subjects[owner_number]}", headers=h)
        assert own.status_code == 200 and own.json()["id_number_masked"].startswith("120101********")
        responses.append(own)
        for number in (other_number, spare_number):
            r = c.post("/api/v1/subjects/lookup", json={"id_number": number}, headers=h)
            assert r.status_code == 404
            responses += [r, c.get(f"/api/v1/subjects/{subjects[number]}", headers=h)]

        # everything is sealed into the chain, and the chain holds
        with db.session() as s:
            assert seal_pending(s) > 0
        with db.session() as s:
            assert verify(s).ok

        needles = _needles()
        for r in responses:
            raw = r.content + str(r.headers).encode() + str(r.request.url).encode()
            for needle in needles:
                assert needle not in raw, (r.request.method, r.request.url, r.status_code)

        files = [Path(fresh_db_url.removeprefix("sqlite:///"))]
        files += [files[0].with_name(files[0].name + suffix) for suffix in ("-wal", "-shm", "-journal")]
        present = [f for f in files if f.exists()]
        assert files[0] in present and any(f.name.endswith("-wal") for f in present)
        for f in present:
            blob = f.read_bytes()
            for needle in needles:
                assert needle not in blob, (f.name, needle)

    for rec in caplog.records:
        text = rec.getMessage()
        for number in numbers:
            assert number not in text and number.lower() not in text, rec.name

    db.dispose()  # checkpoints the WAL into the main file: still nothing in plain
    blob = files[0].read_bytes()
    for needle in _needles():
        assert needle not in blob
