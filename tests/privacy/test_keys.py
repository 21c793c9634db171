"""The key file."""

from __future__ import annotations

import contextlib
import json
import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyong.privacy.keys import KeyFileError, KeyRing


def test_save_writes_mode_0600_and_loads_back(tmp_path):
    ring = KeyRing.generate()
    path = tmp_path / "sub" / "keys.json"
    old = os.umask(0o000)  # even with a permissive umask
    try:
        ring.save(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.with_name("keys.json.tmp").exists()
    loaded = KeyRing.load(path)
    assert loaded.to_json() == ring.to_json()
    assert loaded.path == path
    assert loaded.audit_public_key_b64() == ring.audit_public_key_b64()
    assert json.loads(path.read_text())["format"] == "xinyong-keys/1"


def test_save_over_an_existing_file_keeps_0600(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text("old")
    path.chmod(0o644)
    KeyRing.generate().save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    KeyRing.load(path)


def test_load_or_create(tmp_path):
    path = tmp_path / "keys.json"
    ring, created = KeyRing.load_or_create(path)
    assert created and path.exists()
    again, created = KeyRing.load_or_create(path)
    assert not created and again.to_json() == ring.to_json()


def test_missing_file_names_xinyong_init(tmp_path):
    with pytest.raises(KeyFileError, match="xinyong init"):
        KeyRing.load(tmp_path / "absent.json")


def _valid_doc() -> dict:
    return json.loads(KeyRing.generate().to_json())


def _mutations():
    def drop(*path):
        def f(d):
            cur = d
            for p in path[:-1]:
                cur = cur[p]
            del cur[path[-1]]
            return d
        return f

    def setv(value, *path):
        def f(d):
            cur = d
            for p in path[:-1]:
                cur = cur[p]
            cur[path[-1]] = value
            return d
        return f

    return [
        setv("xinyong-keys/0", "format"),
        drop("encryption"),
        drop("index"),
        drop("session_secret"),
        drop("audit_signing_key"),
        setv("nope", "encryption", "active"),
        setv([], "encryption"),
        setv("!!!not base64!!!", "session_secret"),
        setv(5, "receipt_key"),
        setv({"a": 5}, "encryption", "keys"),
        setv("AAAA", "audit_signing_key"),  # wrong length for Ed25519
        setv({"id_number": "AAAA"}, "index"),  # 3-byte index key
        setv(None, "index"),
    ]


@pytest.mark.parametrize("mutate", _mutations())
def test_malformed_documents_raise_key_file_error(tmp_path, mutate):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(mutate(_valid_doc())))
    with pytest.raises(KeyFileError):
        KeyRing.load(path)


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b"null", b'"keys"', b"42", b"\xff\xfe\x00garbage"])
def test_malformed_files_raise_key_file_error(tmp_path, content):
    path = tmp_path / "keys.json"
    path.write_bytes(content)
    with pytest.raises(KeyFileError):
        KeyRing.load(path)


def test_unreadable_file_raises_key_file_error(tmp_path):
    path = tmp_path / "keys.json"
    path.mkdir()  # a directory where the file should be
    with pytest.raises(KeyFileError):
        KeyRing.load(path)


@settings(max_examples=150, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
                    max_leaves=10))
def test_any_json_raises_only_key_file_error(doc):
    with contextlib.suppress(KeyFileError):
        KeyRing.from_json(json.dumps(doc))


def test_cannot_retire_the_active_key():
    ring = KeyRing.generate()
    with pytest.raises(KeyFileError):
        ring.retire_encryption_key(ring.active_encryption_key)


def test_a_vault_adopts_the_key_file_a_rotation_wrote_and_nothing_else(tmp_path):
    """``Vault.refresh_keys`` (each server's sealer round): a rotated file's new key becomes the active
    one, the old stays readable in memory; a damaged file or another installation's is not adopted."""
    from xinyong.privacy.vault import Vault

    path = tmp_path / "keys.json"
    ring = KeyRing.generate()
    ring.save(path)
    vault = Vault(KeyRing.load(path))
    old = vault.ring.active_encryption_key
    sealed = vault.seal_subject("120101199001011234", "张三")
    assert vault.refresh_keys() is None  # unchanged

    rotated = KeyRing.load(path)
    new = rotated.add_encryption_key()
    rotated.retire_encryption_key(old)
    rotated.save(path)
    assert vault.refresh_keys() == new
    assert vault.seal_subject("120101199001011234", "张三").key_id == new
    assert vault.reveal_name(sealed.id_bidx, sealed.name_cipher, old) == "张三"  # still readable
    assert vault.refresh_keys() is None

    path.write_text("{damaged", encoding="utf-8")
    assert vault.refresh_keys() is None and vault.ring.active_encryption_key == new
    # a rotation's file the server could not read at first (left unreadable to it: run as another user,
    # say) is read once it is put right — which need not change the file's stamp (a chown or chmod
    # changes neither its size nor its time); here: damaged, then mended to the same size and time
    newer = rotated.add_encryption_key()
    rotated.save(path)
    raw = path.read_bytes()
    path.write_bytes(b"[" + raw[1:])
    assert vault.refresh_keys() is None and vault.ring.active_encryption_key == new
    damaged = path.stat()
    path.write_bytes(raw)
    os.utime(path, ns=(damaged.st_atime_ns, damaged.st_mtime_ns))
    assert vault.refresh_keys() == newer
    other = KeyRing.generate()  # another installation's file: its blind indexes would find nobody
    other.save(path)
    assert vault.refresh_keys() is None and vault.ring.active_encryption_key == newer
