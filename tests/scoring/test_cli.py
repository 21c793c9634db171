"""`xinyong rescore` and `xinyong scoring validate|load|show` against a fresh database file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from xinyong.cli import app
from xinyong.config import reset_settings_cache
from xinyong.scoring import service


@pytest.fixture
def run(fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XINYONG_DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("XINYONG_KEY_FILE", str(tmp_path / "keys.json"))

    def invoke(*args: str) -> Result:
        reset_settings_cache()
        try:
            return CliRunner().invoke(app, list(args), catch_exceptions=False)
        finally:
            reset_settings_cache()

    return invoke


def test_validate_load_show_and_rescore(run, tmp_path: Path, fresh_db_url: str) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "good.yaml"
    good.write_text(service.default_text().replace("base: 1000", "base: 990"), encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(service.default_text().replace("      city: {points: 10", "      town: {points: 10"), encoding="utf-8")
    r = run("scoring", "validate", str(good))
    assert r.exit_code == 0 and "valid" in r.output
    r = run("scoring", "validate", str(bad))
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "town:" in t)
    assert r.exit_code == 1 and f"line {line}" in r.output and "Traceback" not in r.output
    r = run("scoring", "load", str(bad), "--effective-from", "2099-01-01")
    assert r.exit_code == 1
    r = run("scoring", "load", str(good), "--effective-from", "2099-01-01", "--note", "cli")
    assert r.exit_code == 0 and "v2" in r.output
    r = run("scoring", "show")
    assert r.exit_code == 0 and "* v1" in r.output and "  v2\t2099-01-01" in r.output
    r = run("rescore", "--today", "2099-01-02")
    assert r.exit_code == 0 and "v2" in r.output
    db = sqlite3.connect(fresh_db_url.removeprefix("sqlite:///"))
    try:
        assert db.execute("SELECT kind, ruleset_version FROM scoring_runs").fetchall() == [("rescore", 2)]
    finally:
        db.close()
