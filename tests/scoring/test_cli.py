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
    r = run("rescore", "--today", "2099-01-02")  # a day not come: checks would answer its grades
    assert r.exit_code == 1 and "晚于本区今天" in r.output and "--allow-future" in r.output, r.output
    db = sqlite3.connect(fresh_db_url.removeprefix("sqlite:///"))
    try:
        assert db.execute("SELECT kind FROM scoring_runs").fetchall() == []
        assert db.execute("SELECT outcome FROM audit_entries WHERE action = 'scoring.rescore'").fetchall() == [
            ("failed",)]
    finally:
        db.close()
    r = run("rescore", "--today", "2099-01-02", "--allow-future")  # the rehearsal
    assert r.exit_code == 0 and "v2" in r.output
    db = sqlite3.connect(fresh_db_url.removeprefix("sqlite:///"))
    try:
        assert db.execute("SELECT kind, ruleset_version FROM scoring_runs").fetchall() == [("rescore", 2)]
    finally:
        db.close()


def test_show_prints_a_file_load_takes_back(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``xinyong scoring show > r.yaml``, edit, ``xinyong scoring load r.yaml``: what ``show`` prints is
    the stored YAML, its version list as YAML comments. The list was printed as plain lines before the
    YAML, so the file it gave was refused (``yaml_syntax``, line 1) and the round trip failed."""
    import yaml

    r = run("scoring", "show")
    assert r.exit_code == 0 and "* v1" in r.output
    assert yaml.safe_load(r.output)["base"] == 1000
    edited = tmp_path / "edited.yaml"
    edited.write_text(r.output.replace("base: 1000", "base: 995"), encoding="utf-8")
    assert run("scoring", "validate", str(edited)).exit_code == 0
    r = run("scoring", "load", str(edited), "--effective-from", "2099-01-01")
    assert r.exit_code == 0 and "v2" in r.output
    r = run("scoring", "show", "2")
    assert r.exit_code == 0 and "  v2\t2099-01-01" in r.output and yaml.safe_load(r.output)["base"] == 995


def test_a_refused_load_is_registered(run, tmp_path: Path, fresh_db_url: str) -> None:  # type: ignore[no-untyped-def]
    """``xinyong scoring load`` of a ruleset it refuses leaves the entry the API's and the page's
    refusals leave (``scoring.ruleset_create``, ``failed``, code and line, ``via: cli``), as a refused
    ``records recompute-display`` does; nothing is stored."""
    import json

    bad = tmp_path / "bad.yaml"
    text = service.default_text().replace("  honor:", "  honour:")
    bad.write_text(text, encoding="utf-8")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("  honour:"))
    assert run("scoring", "load", str(bad), "--effective-from", "2099-01-01").exit_code == 1
    good = tmp_path / "good.yaml"
    good.write_text(service.default_text(), encoding="utf-8")
    assert run("scoring", "load", str(good), "--effective-from", "2020-01-01").exit_code == 1
    db = sqlite3.connect(fresh_db_url.removeprefix("sqlite:///"))
    try:
        rows = db.execute("SELECT actor_label, details FROM audit_entries WHERE action = 'scoring.ruleset_create' "
                          "AND outcome = 'failed' ORDER BY id").fetchall()
        assert db.execute("SELECT count(*) FROM scoring_rulesets WHERE version > 1").fetchone() == (0,)
    finally:
        db.close()
    assert [(label, json.loads(d)) for label, d in rows] == [
        ("cli", {"code": "unknown_item", "line": line, "field": "items.honour", "via": "cli"}),
        ("cli", {"code": "effective_in_past", "line": None, "field": "effective_from", "via": "cli"})]


def test_a_refused_ruleset_file_s_errors_show_no_id_number_in_the_clear(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A ruleset refused by ``scoring validate`` / ``scoring load`` lists each error (field and message):
    an ID number written as a key is named in them masked, as the API's and the page's refusals are."""
    from tests.support import new_id_number

    from xinyong.privacy.masking import mask_id_number

    number = new_id_number()
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"{number}: 1\n" + service.default_text(), encoding="utf-8")
    for args in (("scoring", "validate", str(bad)), ("scoring", "load", str(bad), "--effective-from", "2099-01-01")):
        r = run(*args)
        assert r.exit_code == 1 and mask_id_number(number) in r.output, r.output
        assert number not in r.output and number[6:14] not in r.output, args
