"""AES-256-GCM field encryption and HMAC-SHA256 blind indexes.

Ciphertext layout: ``nonce (12 bytes) || ciphertext+tag``; the key id is stored in its own column
beside the ciphertext. The associated data binds a ciphertext to its table, column and row, so a
value copied to another row or column fails to decrypt.
"""

from __future__ import annotations

import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from xinyong.privacy.keys import KeyRing

NONCE_BYTES = 12


class DecryptionError(RuntimeError):
    pass


def aad_for(table: str, column: str, row: str) -> bytes:
    return f"xinyong|{table}|{column}|{row}".encode()


class Cipher:
    """Encrypts and decrypts with the key ring's keys; caches AESGCM objects per key id."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._aead: dict[str, AESGCM] = {}
        self._index_keys = dict(ring.index_keys)

    def _get(self, kid: str) -> AESGCM:
        aead = self._aead.get(kid)
        if aead is None:
            key = self.ring.encryption_keys.get(kid)
            if key is None:
                raise DecryptionError(f"encryption key {kid!r} is not in the key file")
            aead = self._aead[kid] = AESGCM(key)
        return aead

    @property
    def active_key_id(self) -> str:
        return self.ring.active_encryption_key

    def encrypt(self, plaintext: str, aad: bytes, kid: str | None = None) -> bytes:
        kid = kid or self.ring.active_encryption_key
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._get(kid).encrypt(nonce, plaintext.encode("utf-8"), aad)

    def encrypt_pair(self, first: str, first_aad: bytes, second: str, second_aad: bytes, kid: str) -> tuple[bytes, bytes]:
        """Two :meth:`encrypt` calls in one (one read of the system's randomness for both nonces)."""
        aead = self._get(kid)
        nonces = os.urandom(2 * NONCE_BYTES)
        n1, n2 = nonces[:NONCE_BYTES], nonces[NONCE_BYTES:]
        return (n1 + aead.encrypt(n1, first.encode("utf-8"), first_aad),
                n2 + aead.encrypt(n2, second.encode("utf-8"), second_aad))

    def decrypt(self, blob: bytes, aad: bytes, kid: str) -> str:
        if len(blob) < NONCE_BYTES + 16:
            raise DecryptionError("ciphertext too short")
        try:
            return self._get(kid).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad).decode("utf-8")
        except InvalidTag as exc:
            raise DecryptionError("ciphertext does not authenticate (wrong key, row or column)") from exc

    def encrypt_bytes(self, plaintext: bytes, aad: bytes, kid: str | None = None) -> bytes:
        kid = kid or self.ring.active_encryption_key
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._get(kid).encrypt(nonce, plaintext, aad)

    def decrypt_bytes(self, blob: bytes, aad: bytes, kid: str) -> bytes:
        if len(blob) < NONCE_BYTES + 16:
            raise DecryptionError("ciphertext too short")
        try:
            return self._get(kid).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise DecryptionError("ciphertext does not authenticate (wrong key, row or column)") from exc

    def blind_index(self, normalised: str, index: str = "id_number") -> str:
        return hmac.digest(self._index_keys[index], normalised.encode("utf-8"), "sha256").hex()
