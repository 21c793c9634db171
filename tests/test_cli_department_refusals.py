"""``xinyong import … --dept CODE`` and ``xinyong checks batch … --dept CODE`` refused for their
department — unknown, deactivated, or an institution — leave an audit entry, as the API's and the
pages' refused uploads do, and never echo or keep an ID number typed as the code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.support import SYSTEM, cli_database, new_id_number
from typer.testing import CliRunner

from xinyong.audit.models import AuditEntry
from xinyong.auth import service as auth_service
from xinyong.auth.models import Department
from xinyong.cli import app
from xinyong.config import reset_settings_cache
from xinyong.db import Database


@pytest.fixture
def env(fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    db = cli_database(fresh_db_url, tmp_path, monkeypatch)
    with db.session() as s:
        auth_service.add_department(s, code="old", name="已撤销的局", actor=SYSTEM)
        auth_service.add_department(s, code="bank1", name="某银行", kind="institution", actor=SYSTEM)
    with db.session() as s:
        old = s.scalar(select(Department).where(Department.code == "old"))
        auth_service.deactivate_department(s, department=old, reason="机构改革", actor=SYSTEM)
    yield db
    db.dispose()
    reset_settings_cache()


COMMANDS = {
    "import": (["import", "{file}", "--item", "admin_penalty", "--dept", "{dept}"], "imports.create"),
    "checks batch": (["checks", "batch", "{file}", "--scenario", "awards", "--dept", "{dept}"], "checks.batch_create"),
}
NUMBER = new_id_number()
CASES = {"nope": "unknown_department", "old": "department_inactive", "bank1": "department_required",
         NUMBER: "unknown_department"}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("dept", list(CASES), ids=["unknown", "inactive", "institution", "id-number"])
def test_a_refused_department_is_registered(env: Database, tmp_path: Path, command: str, dept: str) -> None:
    args, action = COMMANDS[command]
    f = tmp_path / "x.csv"
    f.write_text("id_number,name\n", encoding="utf-8")
    reset_settings_cache()
    r = CliRunner().invoke(app, [a.format(file=f, dept=dept) for a in args], catch_exceptions=False)
    assert r.exit_code == 1, r.output
    assert " / " in r.output and "Traceback" not in r.output
    assert NUMBER not in r.output  # a number typed as the code is masked in the message
    with env.session() as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))
    assert len(entries) == 1
    assert entries[0].outcome == "denied" and entries[0].details["code"] == CASES[dept]
    assert entries[0].details["filename"] == "x.csv" and entries[0].details["via"] == "cli"
    assert NUMBER not in str(entries[0].details)
