"""AES-256-GCM field encryption and HMAC-SHA256 blind indexes.

Ciphertext layout: ``nonce (12 bytes) || ciphertext+tag``; the key id is stored in its own column
beside the ciphertext. The associated data binds a ciphertext to its table, column and row, so a
value copied to another row or column fails to decrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from xinyong.privacy.keys import KeyRing

NONCE_BYTES = 12
_BLOCK = 64  # SHA-256's block size, HMAC's key padding (RFC 2104)
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def hmac_pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC-SHA256's inner and outer hashes with the padded key already absorbed (RFC 2104).
    A MAC is then two copies and two updates: about 0.9 µs, against 2.5 µs for ``hmac.digest``,
    which sets up OpenSSL's HMAC for every call (a bulk file computes one per row)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return hashlib.sha256(key.translate(_IPAD)), hashlib.sha256(key.translate(_OPAD))


def same_secret(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two non-empty secrets (CSRF tokens), whatever characters they hold:
    compared as UTF-8 bytes, as ``hmac.compare_digest`` refuses ``str`` outside ASCII with a
    TypeError — a token sent as ``é`` (a header's bytes are read as Latin-1) was a server error
    instead of a wrong token."""
    if not a or not b:
        return False
    return hmac.compare_digest(str(a).encode("utf-8", "surrogatepass"), str(b).encode("utf-8", "surrogatepass"))


class DecryptionError(RuntimeError):
    pass


def aad_for(table: str, column: str, row: str) -> bytes:
    return f"xinyong|{table}|{column}|{row}".encode()


class Cipher:
    """Encrypts and decrypts with the key ring's keys; caches AESGCM objects per key id."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._aead: dict[str, AESGCM] = {}
        self._index_pads = {name: hmac_pads(key) for name, key in ring.index_keys.items()}

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

    def file_digest(self, data: bytes, index: str = "id_number") -> str:
        """A keyed digest of a file's bytes (HMAC-SHA256 under the index key, domain-separated from
        the blind indexes), for a file of ID numbers: unlike a plain SHA-256 it cannot be recomputed
        by guessing the numbers — a one-row file's hash would otherwise give its number away."""
        inner, outer = self._index_pads[index]
        h = inner.copy()
        h.update(b"file\x00")
        h.update(data)
        o = outer.copy()
        o.update(h.digest())
        return o.hexdigest()

    def blind_index(self, normalised: str, index: str = "id_number") -> str:
        """HMAC-SHA256 of ``normalised`` under the index key, in hex (the same as ``hmac.digest``)."""
        inner, outer = self._index_pads[index]
        h = inner.copy()  # copies: the prepared states are shared by every thread and never updated
        h.update(normalised.encode("utf-8"))
        o = outer.copy()
        o.update(h.digest())
        return o.hexdigest()
