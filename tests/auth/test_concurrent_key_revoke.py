"""Two revocations of one API key at the same moment (two admins, a double click on two tabs, a
client that retried): the first revokes, the second waits for it and is answered as a revocation of
a revoked key is — the API's ``409 already_revoked``, the page's "done" — with one ``apikey.revoke``
entry ``ok`` and one ``denied``. Before, on PostgreSQL, the second read the key before the first
committed and revoked it again: both answered 200 and both wrote ``apikey.revoke`` (ok).

On SQLite the second request already waited for the first at its ``BEGIN IMMEDIATE`` (a writing
request takes the write lock before it reads the key), so the same test holds there unchanged."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from tests.support import PASSWORD, SYSTEM, committed_database, login, wait_until_blocked

from xinyong.app import create_app
from xinyong.audit.models import AuditEntry
from xinyong.auth import service as auth_service
from xinyong.auth.models import ApiKey
from xinyong.config import Settings
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault


@pytest.mark.parametrize("via", ["api", "page"])
def test_a_key_revoked_twice_at_once_is_revoked_once(tmp_path, via: str) -> None:  # type: ignore[no-untyped-def]
    db, drop = committed_database(tmp_path, "keyrevoke")
    try:
        with db.session() as s:
            dept = auth_service.add_department(s, code="gaj", name="公安和平分局", actor=SYSTEM)
            _secret, key = auth_service.create_api_key(s, department=dept, name="业务系统", actor=SYSTEM)
            auth_service.add_user(s, username="officer", password=PASSWORD, role="officer",
                                  department_id=dept.id, actor=SYSTEM)
            kid, prefix = key.id, key.prefix
        settings = Settings(database_url=db.url, key_file=tmp_path / "keys.json",
                            checkpoint_dir=tmp_path / "checkpoints", audit_seal_interval_seconds=0)
        app = create_app(settings, database=db, vault=Vault(KeyRing.generate()))
        with TestClient(app, base_url="https://testserver") as client:
            csrf = login(client, "officer")
            answers: list[Any] = []

            def second() -> None:  # the officer's own revocation, sent while the first is being written
                if via == "api":
                    answers.append(client.post(f"/api/v1/apikeys/{kid}/revoke", headers={"X-CSRF-Token": csrf}))
                else:
                    answers.append(client.post(f"/workspace/apikeys/{kid}/revoke", data={"csrf_token": csrf},
                                               follow_redirects=False))

            thread = threading.Thread(target=second)
            request_pids: set[int] = set()  # PostgreSQL: the server processes the request's connections use
            if db.engine.dialect.name == "postgresql":
                main = threading.get_ident()

                @event.listens_for(db.engine, "checkout")
                def _seen(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
                    if threading.get_ident() != main:
                        request_pids.add(dbapi_conn.info.backend_pid)
            with db.session() as s1:  # the first revocation (another admin's, the CLI's …), not yet committed
                auth_service.revoke_api_key(s1, key=s1.get(ApiKey, kid), actor=SYSTEM)
                s1.flush()
                thread.start()
                if db.engine.dialect.name == "postgresql":
                    assert wait_until_blocked(db, lambda: request_pids), \
                        "the second revocation never waited for the first"
                else:  # SQLite: the request waits for the write lock at BEGIN IMMEDIATE
                    thread.join(0.3)
                    assert thread.is_alive(), "the second revocation did not wait for the first"
            thread.join(30)
            assert not thread.is_alive()
        [r] = answers
        if via == "api":
            assert r.status_code == 409, r.text
            assert r.json()["code"] == "already_revoked"
        else:  # a second click: answered as done
            assert r.status_code == 303 and r.headers["location"] == "/workspace/apikeys"
        with db.session() as s:
            revokes = s.scalars(select(AuditEntry).where(AuditEntry.action == "apikey.revoke")
                                .order_by(AuditEntry.id)).all()
            assert [(e.outcome, e.actor_type) for e in revokes] == [("ok", "system"), ("denied", "user")]
            assert revokes[1].details == {"reason": "already_revoked", "prefix": prefix,
                                          **({"via": "page"} if via == "page" else {})}
            assert s.scalar(select(ApiKey.revoked_at).where(ApiKey.id == kid)) is not None
    finally:
        drop()
