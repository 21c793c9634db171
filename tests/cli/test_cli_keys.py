"""xinyong keys rotate / show."""

from __future__ import annotations

import base64
import json
import stat
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
