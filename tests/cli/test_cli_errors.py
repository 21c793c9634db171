"""Operator-facing failures: one bilingual line on stderr, non-zero exit, no traceback, nothing changed.
Also the installed ``xinyong`` console script, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import CliEnv

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/x"


@pytest.mark.parametrize("args", [
    ("dept", "list"),
    ("dept", "add", "scjg", "区市场监管局"),
    ("apikey", "list"),
    ("db", "current"),
    ("db", "upgrade"),
    ("audit", "verify"),
    ("init",),
])
def test_unreachable_database(initialised: CliEnv, monkeypatch: pytest.MonkeyPatch,
                              args: tuple[str, ...]) -> None:
    monkeypatch.setenv("XINYONG_DATABASE_URL", UNREACHABLE)
    result = initialised.fails(*args)
    assert result.exit_code == 1
    assert "无法连接数据库" in result.stderr and "cannot reach the database" in result.stderr
    assert "127.0.0.1:1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_a_refusal_by_the_database_is_not_called_unreachable(cli: CliEnv) -> None:
    # A migration that broke a foreign key was reported as "cannot reach the database … FOREIGN KEY
    # constraint failed", sending the operator to check the network.
    import sqlite3

    from sqlalchemy.exc import IntegrityError, OperationalError

    from xinyong.cli import describe_error

    refused = describe_error(IntegrityError("DROP TABLE records", {}, sqlite3.IntegrityError(
        "FOREIGN KEY constraint failed")))
    assert "cannot reach" not in refused and "database error" in refused and "数据库出错" in refused
    assert "FOREIGN KEY constraint failed" in refused
    down = describe_error(OperationalError("SELECT 1", {}, sqlite3.OperationalError("unable to open database file")))
    assert "cannot reach the database" in down and "无法连接数据库" in down


def test_password_in_the_database_url_is_not_printed(cli: CliEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINYONG_DATABASE_URL", "postgresql://someone:s3cret-pw@127.0.0.1:1/x")
    result = cli.fails("db", "current")
    assert "s3cret-pw" not in result.output and "***" in result.stderr


def test_invalid_database_url_and_settings(cli: CliEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINYONG_DATABASE_URL", "nonsense://")
    assert "invalid database URL" in cli.fails("dept", "list").stderr
    monkeypatch.setenv("XINYONG_DATABASE_URL", cli.url)
    monkeypatch.setenv("XINYONG_SESSION_HOURS", "many")
    assert "XINYONG_SESSION_HOURS" in cli.fails("dept", "list").stderr


@pytest.mark.parametrize("url", ["mysql://someone@127.0.0.1/x", "postgresql+psycopg2://someone@127.0.0.1/x",
])
def test_unsupported_database_driver_is_an_invalid_url(cli: CliEnv, monkeypatch: pytest.MonkeyPatch,
                                                       url: str) -> None:
    # a driver SQLAlchemy knows but xinyong does not run on: the operator is told what to write, not
    # shown an "unexpected error" about a missing Python module
    monkeypatch.setenv("XINYONG_DATABASE_URL", url)
    for args in (("dept", "list"), ("init",), ("db", "upgrade")):
        result = cli.fails(*args)
        assert result.exit_code == 1
        assert "invalid database URL" in result.stderr and "postgresql+psycopg://" in result.stderr, result.stderr
        assert "unexpected error" not in result.stderr


@pytest.mark.parametrize(("variable", "value"), [
    ("XINYONG_SESSION_HOURS", "0"), ("XINYONG_LOGIN_MAX_FAILURES", "0"), ("XINYONG_LOGIN_LOCKOUT_MINUTES", "-1"),
    ("XINYONG_AUDIT_SEAL_INTERVAL_SECONDS", "-1"), ("XINYONG_MAX_REQUEST_BYTES", "0"),
    ("XINYONG_RATE_LIMITS", "garbage"), ("XINYONG_RATE_LIMITS", "checks=abc/s"), ("XINYONG_RATE_LIMITS", "checks=10/d"),
    ("XINYONG_RATE_LIMITS", "checks=10/s:0"),
])
def test_settings_that_make_no_sense_stop_every_command_naming_the_variable(
        initialised: CliEnv, monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    # A zero or negative number was taken as given (sessions ending at once, every failed password
    # locking the account); a malformed XINYONG_RATE_LIMITS let `serve` print "listening" and then
    # die with "unexpected error: ValueError" in English alone.
    monkeypatch.setenv(variable, value)
    result = initialised.fails("dept", "list")
    assert result.exit_code == 1
    assert "invalid configuration" in result.stderr and variable in result.stderr, result.stderr
    assert "unexpected error" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_rate_limits_off_and_a_zero_seal_interval_are_settings(initialised: CliEnv,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINYONG_RATE_LIMITS", "off")
    monkeypatch.setenv("XINYONG_AUDIT_SEAL_INTERVAL_SECONDS", "0")
    initialised.ok("dept", "list")


def test_malformed_key_file(initialised: CliEnv) -> None:
    initialised.key_file.write_text("{not json")
    result = initialised.fails("keys", "show")
    assert "invalid key file" in result.stderr


def test_usage_errors_exit_2(cli: CliEnv) -> None:
    for args in (("dept", "add"), ("no-such-command",), ("user", "add", "x", "--role")):
        result = cli.run(*args)
        assert result.exit_code == 2, result.output
        assert "unexpected error" not in result.output


def _script() -> Path:
    return Path(sys.executable).parent / "xinyong"


def _run(cli: CliEnv, *args: str, input: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "XINYONG_DATABASE_URL": cli.url, "XINYONG_KEY_FILE": str(cli.key_file),
               "XINYONG_CHECKPOINT_DIR": str(cli.checkpoint_dir), **env}
    return subprocess.run([str(_script()), *args], input=input, capture_output=True, text=True, env=environ,
                          cwd=cli.root, timeout=120, check=False)


def test_console_script(cli: CliEnv) -> None:
    # `make` installs the package, console script included: a missing script is a broken install.
    assert _script().exists(), f"{_script()} is missing: run `make install`"
    init = _run(cli, "init", "--admin-password-stdin", input=cli.password + "\n")
    assert init.returncode == 0, init.stderr
    assert "administrator created: admin" in init.stdout
    key = _run(cli, "dept", "add", "scjg", "区市场监管局")
    assert key.returncode == 0, key.stderr
    created = _run(cli, "apikey", "create", "--dept", "scjg", "--name", "系统")
    assert created.returncode == 0 and created.stdout.rstrip("\n").splitlines()[-1].startswith("xy_")

    dup = _run(cli, "dept", "add", "scjg", "区市场监管局")
    assert dup.returncode == 1
    assert dup.stderr.strip() == "错误 / error: 部门代码 scjg 已存在 / department code scjg already exists"

    down = _run(cli, "dept", "list", XINYONG_DATABASE_URL=UNREACHABLE)
    assert down.returncode == 1
    assert "Traceback" not in down.stderr and "cannot reach the database" in down.stderr

    nokey = _run(cli, "serve", "--port", "1", XINYONG_KEY_FILE=str(cli.root / "missing.json"))
    assert nokey.returncode == 1 and "key file not found" in nokey.stderr and "Traceback" not in nokey.stderr
