"""Refusals of ``xinyong import`` and ``xinyong checks batch`` that used to leave no audit entry — a
file that cannot be read, a ``--resume`` whose item or file is not its job's or whose job does not
exist, a batch job another runner claimed first — are registered as the commands' other refusals
are, with ``via: cli`` (and so are the ``--dept`` refusals, ``tests/test_cli_department_refusals.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.imports.imports_support import ZH_HEADER, csv_bytes, penalty_rows
from tests.support import SYSTEM, cli_database
from typer.testing import CliRunner

from xinyong.audit.models import AuditEntry
from xinyong.auth import service as auth_service
from xinyong.cli import app
from xinyong.config import reset_settings_cache
from xinyong.db import Database


@pytest.fixture
def env(fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    db = cli_database(fresh_db_url, tmp_path, monkeypatch)
    yield db
    db.dispose()
    reset_settings_cache()


def run(*args: str):  # type: ignore[no-untyped-def]
    reset_settings_cache()
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def entries(db: Database, action: str) -> list[AuditEntry]:
    with db.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_an_unreadable_file_is_registered(env: Database, tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    r = run("import", str(missing), "--item", "admin_penalty", "--dept", "scjgj")
    assert r.exit_code == 1 and "cannot read" in r.output
    [e] = entries(env, "imports.create")
    assert e.outcome == "denied" and e.actor_label.startswith("cli:")
    assert e.details == {"item": "admin_penalty", "filename": "missing.csv", "size": 0, "code": "file_unreadable",
                         "via": "cli"}
    r = run("import", str(missing), "--item", "admin_penalty", "--dept", "scjgj", "--resume", "7")
    assert r.exit_code == 1 and "cannot read" in r.output
    [e] = entries(env, "imports.resume")
    assert (e.outcome, e.object_id, e.details) == ("denied", "7", {"code": "file_unreadable", "via": "cli"})


def test_a_resume_that_is_not_its_jobs_is_registered(env: Database, tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_bytes(csv_bytes(ZH_HEADER, penalty_rows(3)))
    assert run("import", str(f), "--item", "admin_penalty", "--dept", "scjgj").exit_code == 0
    other = tmp_path / "other.csv"
    other.write_bytes(csv_bytes(ZH_HEADER, penalty_rows(2)))
    r = run("import", str(f), "--item", "admin_license", "--dept", "scjgj", "--resume", "1")
    assert r.exit_code == 1 and "imports item admin_penalty" in r.output
    r = run("import", str(other), "--item", "admin_penalty", "--dept", "scjgj", "--resume", "1")
    assert r.exit_code == 1 and "differs" in r.output
    r = run("import", str(f), "--item", "admin_penalty", "--dept", "scjgj", "--resume", "99")
    assert r.exit_code == 1 and "not found" in r.output
    r = run("imports", "resume", "98")
    assert r.exit_code == 1 and "not found" in r.output
    got = [(e.outcome, e.object_id, e.details) for e in entries(env, "imports.resume")]
    assert got == [("denied", "1", {"code": "item_mismatch", "via": "cli"}),
                   ("denied", "1", {"code": "file_mismatch", "via": "cli"}),
                   ("denied", "99", {"reason": "not_found", "via": "cli"}),
                   ("denied", "98", {"reason": "not_found", "via": "cli"})]


def test_a_batch_job_another_runner_claimed_is_registered(env: Database, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from xinyong.measures import batch

    with env.session() as s:
        auth_service.add_department(s, code="rsj", name="区人社局", actor=SYSTEM)
    real_claim = batch.claim

    def another_runner_first(db, job_id):  # type: ignore[no-untyped-def]
        assert real_claim(db, job_id) is not None  # (the real claim, on the real database: the other runner's)
        return real_claim(db, job_id)

    monkeypatch.setattr(batch, "claim", another_runner_first)
    src = tmp_path / "list.csv"
    src.write_text("id_number,name\nnot-an-id,李四\n", encoding="utf-8")
    r = run("checks", "batch", str(src), "--scenario", "civil_service_hiring", "--dept", "rsj")
    assert r.exit_code == 1 and "not claimed" in r.output
    ok, refused = entries(env, "checks.batch_create")
    assert ok.outcome == "ok" and refused.outcome == "denied" and refused.object_id == ok.object_id
    assert refused.details == {"scenario": "civil_service_hiring", "filename": "list.csv", "size": len(src.read_bytes()),
                               "code": "not_claimed", "via": "cli"}
