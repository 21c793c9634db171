"""xinyong keys rotate / show."""

from __future__ import annotations

import base64
import json
import stat
import time
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from xinyong.audit.service import Actor
from xinyong.db import Database
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault
from xinyong.subjects.service import find_by_id_number

if TYPE_CHECKING:
    from conftest import CliEnv


@pytest.fixture(autouse=True)
def _short_seal_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    """``keys rotate`` waits two sealer rounds (and a second) for running servers to read the new key."""
    monkeypatch.setenv("XINYONG_AUDIT_SEAL_INTERVAL_SECONDS", "0.1")


def _plaintexts(cli: CliEnv, vault: Vault) -> dict[int, tuple[str, str]]:
    rows = cli.sql("SELECT id, id_bidx, id_cipher, name_cipher, key_id FROM subjects ORDER BY id")
    return {sid: (vault.reveal_id(bidx, ic, kid), vault.reveal_name(bidx, nc, kid))
            for sid, bidx, ic, nc, kid in rows}


def test_rotate_reencrypts_everything_and_retires_the_old_key(initialised: CliEnv) -> None:
    cli = initialised
    cli.ok("demo", "--no-serve", "--people", "40")
    old_ring = cli.ring()
    old_kid = old_ring.active_encryption_key
    old_material = base64.b64encode(old_ring.encryption_keys[old_kid]).decode()
    before = _plaintexts(cli, Vault(old_ring))
    assert len(before) == 40
    updated_before = cli.sql("SELECT id, updated_at FROM subjects ORDER BY id")

    result = cli.ok("keys", "rotate", "--batch-size", "7")
    assert "re-encrypted: 40 subjects" in result.stdout
    assert f"retired from the key file: {old_kid}" in result.stdout

    new_ring = cli.ring()
    assert old_kid not in new_ring.encryption_keys
    assert list(new_ring.encryption_keys) == [new_ring.active_encryption_key]
    assert old_material not in cli.key_file.read_text()
    assert stat.S_IMODE(cli.key_file.stat().st_mode) == 0o600
    # Index keys and the audit signing key are unchanged: lookups and checkpoints keep working.
    assert new_ring.index_keys == old_ring.index_keys
    assert new_ring.audit_public_key_b64() == old_ring.audit_public_key_b64()

    used = {kid for (kid,) in cli.sql("SELECT DISTINCT key_id FROM subjects")}
    assert used == {new_ring.active_encryption_key}
    assert _plaintexts(cli, Vault(new_ring)) == before
    # A key rotation is not a change of content: updated_at stays.
    assert cli.sql("SELECT id, updated_at FROM subjects ORDER BY id") == updated_before
    db = Database(cli.url)
    try:
        with db.session() as s:
            some_id = next(iter(before.values()))[0]
            assert find_by_id_number(s, vault=Vault(new_ring), id_number=some_id) is not None
    finally:
        db.dispose()

    (details,) = cli.sql("SELECT details FROM audit_entries WHERE action = 'keys.rotate'")[0]
    details = json.loads(details)
    assert details["subjects"] == 40 and details["by_key"] == {old_kid: 40}
    assert details["new_key"] == new_ring.active_encryption_key

    # Everything else still works with the rotated file.
    cli.ok("audit", "seal")
    cli.ok("audit", "verify")


def test_rotate_on_an_empty_platform_and_twice(initialised: CliEnv) -> None:
    cli = initialised
    first = cli.ok("keys", "rotate")
    assert "re-encrypted: 0 subjects" in first.stdout
    kid1 = cli.ring().active_encryption_key
    cli.ok("keys", "rotate")
    ring = cli.ring()
    assert list(ring.encryption_keys) == [ring.active_encryption_key] != [kid1]
    assert cli.count("audit_entries", "action = 'keys.rotate'") == 2


def test_rotate_with_an_unreachable_database_leaves_the_key_file_alone(
        initialised: CliEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    cli = initialised
    before = cli.key_file.read_bytes()
    monkeypatch.setenv("XINYONG_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/x")
    result = cli.fails("keys", "rotate")
    assert "cannot reach the database" in result.stderr
    assert cli.key_file.read_bytes() == before


def test_keys_show_prints_ids_never_material(initialised: CliEnv) -> None:
    cli = initialised
    ring: KeyRing = cli.ring()
    out = cli.ok("keys", "show").stdout
    assert ring.active_encryption_key in out and "active" in out
    assert "id_number" in out and "name" in out
    secrets = [*ring.encryption_keys.values(), *ring.index_keys.values(), ring.session_secret,
               ring.receipt_key]
    for raw in secrets:
        assert base64.b64encode(raw).decode() not in out
    assert ring.audit_public_key_b64() not in out  # only a fingerprint of the public key


def test_keys_show_without_a_key_file(cli: CliEnv) -> None:
    result = cli.fails("keys", "show")
    assert "密钥文件不存在" in result.stderr and "key file not found" in result.stderr
    # what to do, in both languages: a database with data needs the file back, not a new one from init
    assert "从备份恢复" in result.stderr and "restore it from its backup" in result.stderr
    assert "XINYONG_KEY_FILE" in result.stderr


def test_rotate_reseals_kept_import_files(initialised: CliEnv) -> None:
    """An unfinished import job keeps its (encrypted) file; rotation must re-encrypt it before the
    old key leaves the key file, or the job could never be resumed."""
    from xinyong.audit.service import Actor
    from xinyong.auth.service import get_department
    from xinyong.imports.service import create_job, load_file
    from xinyong.records.service import DepartmentRef

    cli = initialised
    cli.ok("dept", "add", "scjg", "区市场监管局")
    data = "身份证号码,姓名,来源编号,决定日期,许可证号,许可类别,许可内容\n120101198005061028,李四,L1,2026-01-05,X1,普通,食品经营\n"
    db = Database(cli.url)
    try:
        with db.session() as s:
            dept = get_department(s, "scjg")
            job = create_job(s, vault=Vault(cli.ring()), department=DepartmentRef(dept.id, dept.code),
                             item_code="admin_license", filename="a.csv", data=data.encode(), actor=Actor.system("t"))
            job_id = job.id
        old_kid = cli.ring().active_encryption_key
        cli.ok("keys", "rotate")
        ring = cli.ring()
        assert old_kid not in ring.encryption_keys
        with db.session() as s:
            assert load_file(s, vault=Vault(ring), job_id=job_id) == data.encode()
    finally:
        db.dispose()


def test_rotate_reseals_comparison_results_and_kept_uploads(initialised: CliEnv) -> None:
    """A batch comparison's result file and an interrupted job's upload are sealed files too: after
    a rotation and a restart (a new app and vault from the rotated key file) the result downloads and
    the interrupted job runs again; the old key left the key file because nothing uses it."""
    from datetime import timedelta

    from fastapi.testclient import TestClient
    from sqlalchemy import update
    from tests.support import new_id_number

    from xinyong.app import create_app
    from xinyong.auth import service as auth_service
    from xinyong.auth.models import Department
    from xinyong.config import Settings
    from xinyong.db import utcnow
    from xinyong.measures import batch, service
    from xinyong.measures.models import CompareJob

    cli = initialised
    cli.ok("dept", "add", "rsj", "区人社局")
    numbers = [new_id_number() for _ in range(3)]
    data = ("身份证号码\n" + "\n".join(numbers) + "\n").encode()
    db = Database(cli.url)
    try:
        vault = cli.vault()
        with db.session() as s:
            dept = s.scalar(select(Department).where(Department.code == "rsj"))
            secret, _key = auth_service.create_api_key(s, department=dept, name="招录系统", actor=Actor.system("t"))
            principal, _ = auth_service.principal_for_api_key(s, secret=secret)
            caller = service.Caller(dept.id, dept.code, principal.actor)  # type: ignore[union-attr]
            done_id = batch.create_job(s, vault=vault, caller=caller, scenario="awards", filename="a.csv", data=data).id
            stuck_id = batch.create_job(s, vault=vault, caller=caller, scenario="awards", filename="b.csv", data=data).id
        assert batch.run_job(db, vault, done_id).status == "done"  # type: ignore[union-attr]
        with db.session() as s:  # the other one's process died mid-way: its upload is kept
            s.execute(update(CompareJob).where(CompareJob.id == stuck_id).values(
                status="running", runner="dead", heartbeat_at=utcnow() - timedelta(minutes=5)))
        old_kid = cli.ring().active_encryption_key
        assert {k for (k,) in cli.sql("SELECT key_id FROM compare_files")} == {old_kid}

        cli.ok("keys", "rotate")
        ring = cli.ring()
        assert old_kid not in ring.encryption_keys
        assert {k for (k,) in cli.sql("SELECT key_id FROM compare_files")} == {ring.active_encryption_key}
        (details,) = cli.sql("SELECT details FROM audit_entries WHERE action = 'keys.rotate'")[0]
        assert json.loads(details)["compare_files"] == 2  # one result, one kept upload

        settings = Settings(database_url=cli.url, key_file=cli.key_file, checkpoint_dir=cli.checkpoint_dir,
                            audit_seal_interval_seconds=0)
        app = create_app(settings, database=db, vault=Vault(KeyRing.load(cli.key_file)))
        with TestClient(app, base_url="https://testserver") as client:
            h = {"Authorization": f"Bearer {secret}"}
            r = client.get(f"/api/v1/checks/batch/{done_id}/result.csv", headers=h)
            assert r.status_code == 200 and r.content.decode("utf-8-sig").count("\r\n") == 4, r.text
            r = client.post(f"/api/v1/checks/batch/{stuck_id}/resume", headers=h)
            assert r.status_code == 202, r.text
            client.app.state.compare_runner.wait()
            job = client.get(f"/api/v1/checks/batch/{stuck_id}", headers=h).json()
            assert job["status"] == "done" and job["counts"]["unknown"] == 3, job
            assert client.get(job["result_url"], headers=h).status_code == 200
    finally:
        db.dispose()


def test_every_command_that_loads_the_key_file_warns_when_others_may_read_it(initialised: CliEnv) -> None:
    # operations.md: "Commands warn when the mode is wider" — only init, serve and keys show did;
    # audit seal, keys rotate, user add of a citizen … read the keys without a word
    cli = initialised
    cli.key_file.chmod(0o644)
    for args in (("audit", "seal"), ("audit", "verify"), ("keys", "show")):
        result = cli.ok(*args)
        assert result.stderr.count("should be 600") == 1, (args, result.stderr)
    cli.key_file.chmod(0o600)
    assert "should be 600" not in cli.ok("audit", "seal").stderr


def test_a_server_left_running_during_a_rotation_writes_under_the_new_key(initialised: CliEnv) -> None:
    """operations.md says to stop the servers while rotating; one left running (a forgotten worker,
    another host) kept encrypting new people under the key the rotation retired from the key file, so
    after its restart their ID numbers and names could be read by nobody (a push naming them: 500).
    The servers now read the changed key file on their sealer round, and the rotation waits for it."""
    from fastapi.testclient import TestClient
    from tests.support import new_id_number

    from xinyong.app import create_app
    from xinyong.config import Settings

    cli = initialised
    cli.ok("dept", "add", "scjg", "区市场监管局")
    key = cli.last_line(cli.ok("apikey", "create", "--dept", "scjg", "--name", "业务系统").stdout)
    settings = Settings(database_url=cli.url, key_file=cli.key_file, checkpoint_dir=cli.checkpoint_dir,
                        audit_seal_interval_seconds=0.1)
    db = Database(cli.url)
    old_kid = cli.ring().active_encryption_key
    numbers = [new_id_number() for _ in range(2)]

    def push(client: TestClient, number: str, source_id: str) -> dict:  # type: ignore[type-arg]
        r = client.post("/api/v1/records", headers={"Authorization": f"Bearer {key}"}, json={"records": [{
            "item": "honor", "id_number": number, "name": "王某某", "source_id": source_id,
            "decided_at": "2025-05-01", "fields": {"title": "优秀志愿者", "level": "district", "awarded_by": "区文明办"}}]})
        assert r.status_code == 200, r.text
        return r.json()["results"][0]  # type: ignore[no-any-return]

    try:
        app = create_app(settings, database=db, vault=Vault(KeyRing.load(cli.key_file)))
        with TestClient(app, base_url="https://testserver") as client:
            assert push(client, numbers[0], "A-1")["status"] == "created"
            cli.ok("keys", "rotate")  # the server is not stopped
            assert push(client, numbers[1], "A-2")["status"] == "created"  # a new person, after the rotation
        ring = cli.ring()
        assert old_kid not in ring.encryption_keys
        assert {kid for (kid,) in cli.sql("SELECT DISTINCT key_id FROM subjects")} == {ring.active_encryption_key}
        # Restarted with the rotated key file: both people are read and found.
        app = create_app(settings, database=db, vault=Vault(KeyRing.load(cli.key_file)))
        with TestClient(app, base_url="https://testserver") as client:
            assert push(client, numbers[0], "A-3")["status"] == "created"
            assert push(client, numbers[1], "A-4")["status"] == "created"
        assert len(_plaintexts(cli, Vault(ring))) == 2
    finally:
        db.dispose()


def test_a_server_left_running_reads_every_person_throughout_a_rotation(initialised: CliEnv,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The rotation waits for the running servers to read the new key before it re-encrypts anyone
    under it. It waited after: between its commit and a server's next sealer round, that server could
    read no one (the new key not in its memory yet: 500 for every person's page)."""
    import threading

    from fastapi.testclient import TestClient
    from tests.support import new_id_number

    from xinyong.app import create_app
    from xinyong.config import Settings

    monkeypatch.setenv("XINYONG_AUDIT_SEAL_INTERVAL_SECONDS", "0.5")
    cli = initialised
    cli.ok("dept", "add", "scjg", "区市场监管局")
    key = cli.last_line(cli.ok("apikey", "create", "--dept", "scjg", "--name", "业务系统").stdout)
    settings = Settings(database_url=cli.url, key_file=cli.key_file, checkpoint_dir=cli.checkpoint_dir,
                        audit_seal_interval_seconds=0.5)
    db = Database(cli.url)
    auth = {"Authorization": f"Bearer {key}"}
    try:
        app = create_app(settings, database=db, vault=Vault(KeyRing.load(cli.key_file)))
        with TestClient(app, base_url="https://testserver") as client:
            r = client.post("/api/v1/records", headers=auth, json={"records": [{
                "item": "honor", "id_number": new_id_number(), "name": "王某某", "source_id": "A-1",
                "decided_at": "2025-05-01", "fields": {"title": "优秀志愿者", "level": "district", "awarded_by": "区文明办"}}]})
            assert r.status_code == 200, r.text
            rid = r.json()["results"][0]["record_id"]
            sid = client.get(f"/api/v1/records/{rid}", headers=auth).json()["subject_id"]
            statuses: list[int] = []
            done = threading.Event()

            def read() -> None:  # someone reading the person's page all along
                while not done.is_set():
                    try:
                        statuses.append(client.get(f"/api/v1/subjects/{sid}", headers=auth).status_code)
                    except Exception:  # noqa: BLE001 - the test client raises a server's 500
                        statuses.append(500)

            reader = threading.Thread(target=read)
            reader.start()
            try:
                cli.ok("keys", "rotate")  # the server is not stopped
                time.sleep(1.5)  # its next rounds
            finally:
                done.set()
                reader.join(30)
        assert statuses and set(statuses) == {200}, sorted(set(statuses))
    finally:
        db.dispose()
