"""AES-GCM field encryption, blind indexes, the vault and key rotation."""

from __future__ import annotations

import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinyong.privacy.crypto import NONCE_BYTES, Cipher, DecryptionError, aad_for, hmac_pads
from xinyong.privacy.keys import KeyFileError, KeyRing
from xinyong.privacy.vault import Vault

NUMBER = "11010519491231002X"


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.generate()


@pytest.fixture
def cipher(ring: KeyRing) -> Cipher:
    return Cipher(ring)


def test_round_trip(cipher):
    aad = aad_for("subjects", "name", "row1")
    for text in ("张三丰", NUMBER, "", "a" * 1000):
        blob = cipher.encrypt(text, aad)
        assert cipher.decrypt(blob, aad, cipher.active_key_id) == text
        assert text.encode() not in blob or not text


def test_fresh_nonce_per_value(cipher):
    aad = aad_for("subjects", "id_number", "row1")
    blobs = [cipher.encrypt(NUMBER, aad) for _ in range(20)]
    assert len(set(blobs)) == 20
    assert len({b[:NONCE_BYTES] for b in blobs}) == 20
    assert all(len(b) == NONCE_BYTES + len(NUMBER) + 16 for b in blobs)


def test_ciphertext_moved_to_another_row_or_column_fails(cipher):
    kid = cipher.active_key_id
    blob = cipher.encrypt(NUMBER, aad_for("subjects", "id_number", "row1"), kid)
    for aad in (aad_for("subjects", "id_number", "row2"), aad_for("subjects", "name", "row1"),
                aad_for("other", "id_number", "row1"), b""):
        with pytest.raises(DecryptionError):
            cipher.decrypt(blob, aad, kid)


def test_tampered_byte_fails(cipher):
    aad = aad_for("subjects", "name", "r")
    blob = cipher.encrypt("欧阳娜娜", aad)
    for i in (0, NONCE_BYTES, len(blob) - 1):  # nonce, ciphertext, tag
        bad = bytearray(blob)
        bad[i] ^= 0x01
        with pytest.raises(DecryptionError):
            cipher.decrypt(bytes(bad), aad, cipher.active_key_id)
    with pytest.raises(DecryptionError):
        cipher.decrypt(blob[:NONCE_BYTES + 15], aad, cipher.active_key_id)


def test_unknown_key_id_fails(cipher):
    aad = aad_for("subjects", "name", "r")
    blob = cipher.encrypt("张三", aad)
    with pytest.raises(DecryptionError, match="knope"):
        cipher.decrypt(blob, aad, "knope")


def test_another_key_ring_cannot_decrypt(cipher):
    aad = aad_for("subjects", "name", "r")
    blob = cipher.encrypt("张三", aad)
    other = KeyRing.generate()
    other.encryption_keys = {cipher.active_key_id: other.encryption_keys[other.active_encryption_key]}
    other.active_encryption_key = cipher.active_key_id
    with pytest.raises(DecryptionError):
        Cipher(other).decrypt(blob, aad, cipher.active_key_id)


def test_blind_index_deterministic_normalised_and_keyed(ring):
    v = Vault(ring)
    a = v.lookup_key(NUMBER)
    assert a == v.lookup_key(NUMBER)
    assert a == v.lookup_key(NUMBER.lower())
    assert a == v.lookup_key(f"  {NUMBER.lower()}\t")
    assert len(a) == 64 and int(a, 16) >= 0
    assert a != v.lookup_key("110105194912310021")
    assert NUMBER not in a
    other = Vault(KeyRing.generate())
    assert other.lookup_key(NUMBER) != a
    # separate keys per index: the same value under the name index differs
    assert v.cipher.blind_index(NUMBER, "name") != a


def test_keys_are_separate(ring):
    keys = [*ring.encryption_keys.values(), *ring.index_keys.values(), ring.session_secret, ring.receipt_key]
    assert len(set(keys)) == len(keys)
    assert ring.index_keys["id_number"] != ring.index_keys["name"]


def test_vault_seals_and_reveals_bound_to_the_row(ring):
    v = Vault(ring)
    sealed = v.seal_subject(NUMBER.lower(), "欧阳娜娜")
    assert sealed.id_bidx == v.lookup_key(NUMBER)
    assert sealed.key_id == ring.active_encryption_key
    assert v.reveal_id(sealed.id_bidx, sealed.id_cipher, sealed.key_id) == NUMBER
    assert v.reveal_name(sealed.id_bidx, sealed.name_cipher, sealed.key_id) == "欧阳娜娜"
    assert v.masked_id(sealed.id_bidx, sealed.id_cipher, sealed.key_id) == "110105********002X"
    assert v.masked_name(sealed.id_bidx, sealed.name_cipher, sealed.key_id) == "欧阳**"
    # the name ciphertext cannot be revealed as the ID number, nor under another row's index
    with pytest.raises(DecryptionError):
        v.reveal_id(sealed.id_bidx, sealed.name_cipher, sealed.key_id)
    other = v.seal_subject("120101198503091234", "张三")
    with pytest.raises(DecryptionError):
        v.reveal_name(other.id_bidx, sealed.name_cipher, sealed.key_id)


def test_rotation_reencrypts_then_retires_the_old_key(ring):
    v = Vault(ring)
    old = v.seal_subject(NUMBER, "张三")
    old_kid = old.key_id
    new_kid = ring.add_encryption_key()
    assert new_kid != old_kid and ring.active_encryption_key == new_kid
    v = Vault(ring)
    fresh = v.reseal(old.id_bidx, old.id_cipher, old.name_cipher, old.key_id)
    assert fresh.key_id == new_kid and fresh.id_bidx == old.id_bidx
    with pytest.raises(KeyFileError):
        ring.retire_encryption_key(new_kid)
    ring.retire_encryption_key(old_kid)
    v = Vault(ring)
    assert v.reveal_id(fresh.id_bidx, fresh.id_cipher, fresh.key_id) == NUMBER
    assert v.reveal_name(fresh.id_bidx, fresh.name_cipher, fresh.key_id) == "张三"
    with pytest.raises(DecryptionError):
        v.reveal_id(old.id_bidx, old.id_cipher, old_kid)
    # the blind index does not depend on the encryption key
    assert v.lookup_key(NUMBER) == old.id_bidx


@settings(max_examples=300, deadline=None)
@given(key=st.binary(min_size=0, max_size=200), message=st.text(max_size=80))
def test_hmac_pads_give_the_standard_hmac_sha256(key, message):
    """The blind index's prepared pads are RFC 2104 HMAC-SHA256, for keys shorter and longer than
    the block: the same bytes as the standard library's ``hmac.digest``."""
    inner, outer = hmac_pads(key)
    h = inner.copy()
    h.update(message.encode("utf-8"))
    o = outer.copy()
    o.update(h.digest())
    assert o.digest() == hmac.digest(key, message.encode("utf-8"), "sha256")


def test_blind_index_is_hmac_of_the_index_key_and_leaves_the_prepared_state_unchanged(ring):
    cipher = Cipher(ring)
    key = ring.index_keys["id_number"]
    first = cipher.blind_index(NUMBER)
    assert first == hmac.digest(key, NUMBER.encode(), "sha256").hex()
    cipher.blind_index("other")
    assert cipher.blind_index(NUMBER) == first  # the shared pads were copied, not updated


def test_a_file_digest_is_keyed_and_apart_from_the_blind_indexes(ring):
    """A batch comparison's upload is recorded by a keyed digest: no one without the index key can
    recompute it by guessing the ID numbers in a small file (a plain SHA-256 could be), and it never
    equals the blind index of a file's only number."""
    import hashlib

    cipher = Cipher(ring)
    data = NUMBER.encode()
    digest = cipher.file_digest(data)
    assert digest == hmac.digest(ring.index_keys["id_number"], b"file\x00" + data, "sha256").hex()
    assert digest == cipher.file_digest(data) and len(digest) == 64
    assert digest not in (hashlib.sha256(data).hexdigest(), cipher.blind_index(NUMBER))
    assert Cipher(KeyRing.generate()).file_digest(data) != digest
