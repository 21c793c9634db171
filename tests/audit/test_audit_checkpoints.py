"""Signed checkpoint files."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.support import SYSTEM

from xinyong.audit import service
from xinyong.audit.models import AuditCheckpoint
from xinyong.audit.service import CheckpointError, load_checkpoint, write_checkpoint
from xinyong.privacy.keys import KeyRing


@pytest.fixture
def checkpoint(session, keyring, tmp_path):
    for i in range(3):
        service.record(session, actor=SYSTEM, action="test.cp", details={"i": i})
    session.commit()
    service.seal_pending(session)
    doc = write_checkpoint(session, ring=keyring, directory=tmp_path)
    session.commit()
    return doc


def test_checkpoint_is_written_signed_and_loaded(checkpoint, keyring, session, tmp_path):
    path = service.latest_checkpoint_file(tmp_path)
    assert str(path) == checkpoint["path"]
    doc = load_checkpoint(path, ring=keyring)
    assert doc["seq"] == 3 and doc["head_hash"] == service._head(session)[1]
    assert doc["public_key"] == keyring.audit_public_key_b64()
    stored = session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()))
    assert (stored.seq, stored.head_hash, stored.signature) == (3, doc["head_hash"], doc["signature"])


def _rewrite(path, **changes):
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


def test_bad_signature(checkpoint, keyring):
    path = Path(checkpoint["path"])
    sig = bytearray(base64.b64decode(checkpoint["signature"]))
    sig[0] ^= 1
    _rewrite(path, signature=base64.b64encode(bytes(sig)).decode())
    with pytest.raises(CheckpointError, match="signature"):
        load_checkpoint(path, ring=keyring)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


@pytest.mark.parametrize("field,value", [("seq", 2), ("seq", 99), ("head_hash", "0" * 64),
                                         ("created_at", "2000-01-01T00:00:00.000000Z"),
                                         ("signature", "not base64!"), ("public_key", "AAAA")])
def test_edited_checkpoint_is_refused(checkpoint, keyring, field, value):
    path = Path(checkpoint["path"])
    _rewrite(path, **{field: value})
    with pytest.raises(CheckpointError):
        load_checkpoint(path, ring=keyring if field != "public_key" else None)


def test_checkpoint_signed_by_another_key(session, tmp_path, keyring):
    other = KeyRing.generate()
    doc = write_checkpoint(session, ring=other, directory=tmp_path)
    with pytest.raises(CheckpointError, match="key"):
        load_checkpoint(Path(doc["path"]), ring=keyring)
    # a forger who swaps in their own public key is caught only against our key — hence ring=
    assert load_checkpoint(Path(doc["path"]), ring=other)["seq"] == doc["seq"]


@pytest.mark.parametrize("content", ["", "{", "[]", '"x"', '{"seq": 1}', '{"seq": "a", "head_hash": 1}'])
def test_unreadable_checkpoint(tmp_path, content):
    path = tmp_path / "checkpoint-000000000001.json"
    path.write_text(content)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "nope.json")
    assert service.latest_checkpoint_file(tmp_path / "absent") is None


def test_latest_checkpoint_file_is_the_highest_seq(tmp_path):
    for seq in (9, 120, 15):
        (tmp_path / f"checkpoint-{seq:012d}.json").write_text("{}")
    assert service.latest_checkpoint_file(tmp_path).name == "checkpoint-000000000120.json"
