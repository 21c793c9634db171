"""``xinyong measures load`` refused — a shipped definition the rules refuse (a measure for a scenario
that does not exist) — keeps nothing of the load and registers the refusal as the API's and the
page's refused saves are (``measures.measure_save``, ``failed``, its code and field, ``via: cli``),
with a bilingual message naming the definition and the field, exit status 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.support import cli_database
from typer.testing import CliRunner

from xinyong.audit.models import AuditEntry
from xinyong.cli import app
from xinyong.config import reset_settings_cache
from xinyong.measures import service
from xinyong.measures.models import Measure, Scenario


def test_a_refused_load_is_registered_and_keeps_nothing(fresh_db_url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = service.read_default()
    bad = {**shipped["measures"][0], "scenarios": ["no_such_scenario"]}
    monkeypatch.setattr(service, "read_default", lambda: {"scenarios": shipped["scenarios"],
                                                          "measures": [bad, *shipped["measures"][1:]]})
    db = cli_database(fresh_db_url, tmp_path, monkeypatch)
    try:
        r = CliRunner().invoke(app, ["measures", "load"], catch_exceptions=False)
        assert r.exit_code == 1, r.output
        assert "未载入任何定义" in r.output and "nothing was loaded" in r.output and bad["code"] in r.output
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Scenario)) == 0
            assert s.scalar(select(func.count()).select_from(Measure)) == 0
            [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "measures.measure_save"))
        assert entry.outcome == "failed" and entry.object_id == bad["code"]
        assert entry.details["code"] == "invalid_measure" and entry.details["via"] == "cli"
        assert entry.details["field"]
    finally:
        db.dispose()
        reset_settings_cache()
