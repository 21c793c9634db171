"""xinyong audit seal / verify, and tampering with the audit table behind the platform's back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from xinyong.privacy.keys import KeyRing

if TYPE_CHECKING:
    from conftest import CliEnv


@pytest.fixture
def sealed(initialised: CliEnv) -> CliEnv:
    """An initialised platform with a few audited changes, sealed with a checkpoint."""
    cli = initialised
    for code, name in [("fgw", "区发展改革委"), ("scjg", "区市场监管局"), ("gaj", "公安和平分局"),
                       ("jyj", "区教育局"), ("mzj", "区民政局")]:
        cli.ok("dept", "add", code, name)
    n = cli.count("audit_entries")
    assert n >= 6
    result = cli.ok("audit", "seal")
    assert f"sealed: {n} entries" in result.stdout
    assert f"seq: {n}\n" in result.stdout
    assert str(_checkpoint(cli)) in result.stdout
    head = cli.sql("SELECT entry_hash FROM audit_entries WHERE seq = ?", (n,))[0][0]
    assert head in result.stdout
    return cli


def _head(cli: CliEnv) -> int:
    return int(cli.sql("SELECT max(seq) FROM audit_entries")[0][0])


def _checkpoint(cli: CliEnv) -> Path:
    (path,) = cli.checkpoint_dir.glob("checkpoint-*.json")
    assert path.name == f"checkpoint-{cli.count('audit_entries'):012d}.json"
    return path


def test_seal_then_verify_is_intact(sealed: CliEnv) -> None:
    n = sealed.count("audit_entries")
    result = sealed.ok("audit", "verify")
    assert f"audit chain intact: {n} entries" in result.stdout
    assert "signature valid" in result.stdout
    assert sealed.count("audit_entries") == n  # verifying only reads


def test_verify_reports_pending_entries_and_a_second_seal_extends_the_chain(sealed: CliEnv) -> None:
    n = _head(sealed)
    sealed.ok("dept", "add", "tqw", "团区委")
    assert "pending (not yet sealed): 1" in sealed.ok("audit", "verify").stdout
    second = sealed.ok("audit", "seal")
    assert "sealed: 1 entries" in second.stdout and f"seq: {n + 1}\n" in second.stdout
    assert f"intact: {n + 1} entries" in sealed.ok("audit", "verify").stdout


def test_verify_without_any_checkpoint_warns_that_truncation_is_undetectable(initialised: CliEnv) -> None:
    result = initialised.ok("audit", "verify")
    assert "no checkpoint" in result.stdout


def test_altered_entry(sealed: CliEnv) -> None:
    sealed.sql("UPDATE audit_entries SET details = ? WHERE seq = 3", (json.dumps({"code": "evil"}),))
    result = sealed.fails("audit", "verify")
    assert result.exit_code == 1
    assert "altered" in result.stderr and "seq=3" in result.stderr


def test_removed_entry(sealed: CliEnv) -> None:
    sealed.sql("DELETE FROM audit_entries WHERE seq = 3")
    result = sealed.fails("audit", "verify")
    assert result.exit_code == 1
    assert "removed" in result.stderr and "seq=3" in result.stderr


def test_reordered_entries(sealed: CliEnv) -> None:
    sealed.script("""
        UPDATE audit_entries SET seq = -1 WHERE seq = 3;
        UPDATE audit_entries SET seq = 3 WHERE seq = 4;
        UPDATE audit_entries SET seq = 4 WHERE seq = -1;
    """)
    result = sealed.fails("audit", "verify")
    assert result.exit_code == 1
    assert "reordered" in result.stderr


def test_truncated_tail_is_caught_by_the_checkpoint(sealed: CliEnv) -> None:
    sealed.sql("DELETE FROM audit_entries WHERE seq >= ?", (_head(sealed) - 1,))
    result = sealed.fails("audit", "verify")
    assert result.exit_code == 1
    assert "truncated" in result.stderr
    # Deleting the checkpoint rows in the database does not help: the file outside it still knows.
    sealed.sql("DELETE FROM audit_checkpoints")
    assert "truncated" in sealed.fails("audit", "verify").stderr


def test_a_tail_cut_off_and_grown_again_is_caught_by_the_older_checkpoint(
        sealed: CliEnv, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The newest entries deleted, then new ones sealed onto the shortened chain past the old head,
    under a newer checkpoint: the newest checkpoint agrees with the chain, the older one does not."""
    n = _head(sealed)
    offsite = tmp_path_factory.mktemp("offsite")
    (offsite / _checkpoint(sealed).name).write_bytes(_checkpoint(sealed).read_bytes())
    sealed.sql("DELETE FROM audit_entries WHERE seq >= ?", (n - 1,))
    for code in ("tqw", "fl", "wjw"):
        sealed.ok("dept", "add", code, "部门" + code)
    assert f"seq: {n + 1}\n" in sealed.ok("audit", "seal").stdout  # a newer checkpoint past the old head
    result = sealed.fails("audit", "verify")
    assert "broken seq=" + str(n) in result.stderr
    assert "broken seq=" + str(n) in sealed.fails("audit", "verify", "--checkpoint", str(offsite)).stderr
    assert "broken" in sealed.fails("audit", "verify", "--checkpoint",
                                    str(offsite / f"checkpoint-{n:012d}.json")).stderr


def test_a_tail_cut_off_and_grown_back_to_the_same_seq_keeps_the_checkpoint_it_contradicts(
        sealed: CliEnv) -> None:
    """``audit seal`` named its file by seq alone and wrote over the one there: a tail cut off and
    grown again to exactly the old head's seq replaced the only checkpoint that proved it (and the
    cron's rsync would replace the off-host copy), so ``audit verify`` then found the chain intact."""
    n = _head(sealed)
    original = _checkpoint(sealed)
    evidence = original.read_bytes()
    sealed.sql("DELETE FROM audit_entries WHERE seq = ?", (n,))
    sealed.sql("DELETE FROM audit_checkpoints")
    sealed.ok("dept", "add", "tqw", "区退役军人局")  # one new entry: the chain is back at seq n
    result = sealed.fails("audit", "seal")
    assert f"seq: {n}\n" in result.stdout
    assert "the chain differs from the checkpoint already at seq" in result.stderr
    assert original.read_bytes() == evidence  # kept; the new one beside it
    assert len(list(sealed.checkpoint_dir.glob("checkpoint-*.json"))) == 2
    assert f"broken seq={n}" in sealed.fails("audit", "verify").stderr


def test_a_seal_with_nothing_new_keeps_the_checkpoint_file_as_signed(sealed: CliEnv) -> None:
    before = _checkpoint(sealed).read_bytes()
    assert "sealed: 0 entries" in sealed.ok("audit", "seal").stdout
    assert _checkpoint(sealed).read_bytes() == before
    sealed.ok("audit", "verify")


def test_verify_with_an_explicit_checkpoint_file(sealed: CliEnv,
                                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    copy = tmp_path_factory.mktemp("offsite") / "checkpoint.json"
    original = _checkpoint(sealed)
    copy.write_bytes(original.read_bytes())
    original.unlink()
    sealed.sql("DELETE FROM audit_entries WHERE seq = ?", (_head(sealed),))
    assert "no checkpoint" in sealed.ok("audit", "verify").stdout  # the local copy is gone …
    result = sealed.fails("audit", "verify", "--checkpoint", str(copy))  # … the off-host copy catches it
    assert "truncated" in result.stderr


def test_a_checkpoint_signed_by_another_key_is_refused(sealed: CliEnv) -> None:
    path = _checkpoint(sealed)
    doc = json.loads(path.read_text())
    doc["public_key"] = KeyRing.generate().audit_public_key_b64()
    path.write_text(json.dumps(doc))
    result = sealed.fails("audit", "verify")
    assert "not signed by this platform's key" in result.stderr


def test_a_missing_checkpoint_file_is_a_clean_error(sealed: CliEnv) -> None:
    result = sealed.fails("audit", "verify", "--checkpoint", str(sealed.root / "nope.json"))
    assert "unreadable checkpoint" in result.stderr


def test_seal_needs_the_key_file(sealed: CliEnv) -> None:
    sealed.ok("dept", "add", "tqw", "团区委")
    sealed.key_file.unlink()
    result = sealed.fails("audit", "seal")
    assert "key file not found" in result.stderr
    assert sealed.count("audit_entries", "seq IS NULL") == 1  # nothing sealed


def test_verify_works_on_a_backup_at_an_older_schema_revision(cli: CliEnv) -> None:
    from xinyong import migrate

    KeyRing.load_or_create(cli.key_file)
    migrate.upgrade(cli.url, revision="0001")
    assert "intact: 0 entries" in cli.ok("audit", "verify").stdout
    assert "db upgrade" in cli.fails("dept", "list").stderr  # other commands want the current schema
