"""CLI harness: each test gets a fresh SQLite file, key file and checkpoint directory in tmp_path,
handed to the commands through the ``XINYONG_`` environment variables (as an operator would)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from xinyong.cli import app
from xinyong.config import reset_settings_cache
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault

PASSWORD = "correct-horse-battery"


@dataclass
class CliEnv:
    password = PASSWORD
    root: Path
    db_path: Path
    key_file: Path
    checkpoint_dir: Path
    runner: CliRunner

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db_path}"

    def run(self, *args: str, input: str | None = None) -> Result:
        """Invoke ``xinyong ARGS``; an exception escaping the CLI fails the test (no tracebacks allowed)."""
        reset_settings_cache()
        try:
            return self.runner.invoke(app, list(args), input=input, catch_exceptions=False)
        finally:
            reset_settings_cache()

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self.run(*args, input=input)
        assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.output}"
        return result

    def fails(self, *args: str, input: str | None = None) -> Result:
        result = self.run(*args, input=input)
        assert result.exit_code != 0, f"{args} should fail:\n{result.output}"
        assert "Traceback" not in result.output
        return result

    # ---- direct access for assertions and tampering --------------------------------------
    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.db_path)
        try:
            rows = conn.execute(statement, params).fetchall()
            conn.commit()
            return rows
        finally:
            conn.close()

    def script(self, statements: str) -> None:
        conn = sqlite3.connect(self.db_path)
        try:
            conn.executescript(statements)
            conn.commit()
        finally:
            conn.close()

    def count(self, table: str, where: str = "1=1") -> int:
        return int(self.sql(f"SELECT count(*) FROM {table} WHERE {where}")[0][0])

    def ring(self) -> KeyRing:
        return KeyRing.load(self.key_file)

    def vault(self) -> Vault:
        return Vault(self.ring())

    @staticmethod
    def last_line(text: str) -> str:
        return text.rstrip("\n").splitlines()[-1]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliEnv]:
    var = tmp_path / "var"
    env = CliEnv(root=tmp_path, db_path=var / "xinyong.db", key_file=var / "keys.json",
                 checkpoint_dir=var / "checkpoints", runner=CliRunner())
    monkeypatch.chdir(tmp_path)  # no .env file or ./var of the repository is picked up
    monkeypatch.setenv("XINYONG_DATABASE_URL", env.url)
    monkeypatch.setenv("XINYONG_KEY_FILE", str(env.key_file))
    monkeypatch.setenv("XINYONG_CHECKPOINT_DIR", str(env.checkpoint_dir))
    reset_settings_cache()
    yield env
    reset_settings_cache()


@pytest.fixture
def initialised(cli: CliEnv) -> CliEnv:
    cli.ok("init", "--admin-password-stdin", input=PASSWORD + "\n")
    return cli
