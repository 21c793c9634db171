"""The vault: the one object through which raw ID numbers and names are sealed and revealed.

Subjects store ``id_bidx`` (keyed HMAC of the normalised ID number), ``id_cipher`` and
``name_cipher`` (AES-GCM, associated data = table, column and the row's blind index) and
``key_id``. Other modules call :meth:`Vault.lookup_key` to find a subject and never keep the
raw number longer than the call that received it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from xinyong.privacy import identity
from xinyong.privacy.crypto import Cipher, aad_for
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.masking import mask_id_number, mask_name

SUBJECT_TABLE = "subjects"

log = logging.getLogger("xinyong")


@dataclass(frozen=True, slots=True)
class Sealed:
    id_bidx: str
    id_cipher: bytes
    name_cipher: bytes
    key_id: str


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class Vault:
    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self.cipher = Cipher(ring)
        self._stamp = _file_stamp(ring.path) if ring.path is not None else None
        self._unreadable: tuple[int, int, int] | None = None  # the changed file last found unreadable

    @classmethod
    def from_file(cls, path: Path) -> Vault:
        return cls(KeyRing.load(path))

    def refresh_keys(self) -> str | None:
        """Adopt the encryption keys of the key file this vault was loaded from, if the file changed
        (``xinyong keys rotate`` writes the new key, active, before re-encrypting anything): the new
        keys are added, the file's active key becomes this process's, and the keys the file no longer
        holds stay in memory (rows still under them can be read). A server that kept encrypting under
        the old key after a rotation would write rows nobody could read once it restarted. A file that
        cannot be read, or whose blind-index keys differ (another installation's), is not adopted.
        Returns the newly active key id, or ``None`` when nothing changed. The servers call it on each
        audit-sealer round."""
        path = self.ring.path
        if path is None:
            return None
        stamp = _file_stamp(path)
        if stamp is None or stamp == self._stamp:
            return None
        try:
            ring = KeyRing.load(path)
        except Exception as exc:  # noqa: BLE001 - keep the keys in memory, say why once, try again next round
            # not taken as seen: a file the server cannot read yet (a rotation run as another user left
            # it theirs) is read once its owner or mode is put right, which changes no stamp field
            if stamp != self._unreadable:
                self._unreadable = stamp
                log.warning("key file %s changed but cannot be read, keys kept (tried again each round): %s",
                            path, exc)
            return None
        self._stamp, self._unreadable = stamp, None
        if ring.index_keys != self.ring.index_keys:
            log.warning("key file %s changed to other blind-index keys (another installation's?): not adopted",
                        path)
            return None
        if ring.active_encryption_key == self.ring.active_encryption_key:
            return None
        self.ring.encryption_keys.update(ring.encryption_keys)  # the keys first, then the active one
        self.ring.active_encryption_key = ring.active_encryption_key
        log.info("key file %s changed: encrypting under key %s from now on", path, ring.active_encryption_key)
        return ring.active_encryption_key

    # ---- blind index ----------------------------------------------------------------
    def lookup_key(self, id_number: str) -> str:
        """Blind index of a (validated or not) ID number, on its normalised form."""
        return self.cipher.blind_index(identity.normalise(id_number), "id_number")

    def lookup_key_checked(self, facts: identity.IdFacts) -> str:
        """:meth:`lookup_key` of a number that :func:`identity.check` accepted (already normalised)."""
        return self.cipher.blind_index(facts.number, "id_number")

    # ---- sealing ---------------------------------------------------------------------
    def seal_subject(self, id_number: str, name: str) -> Sealed:
        number = identity.normalise(id_number)
        bidx = self.cipher.blind_index(number, "id_number")
        kid = self.cipher.active_key_id
        return Sealed(
            id_bidx=bidx,
            id_cipher=self.cipher.encrypt(number, aad_for(SUBJECT_TABLE, "id_number", bidx), kid),
            name_cipher=self.cipher.encrypt(name, aad_for(SUBJECT_TABLE, "name", bidx), kid),
            key_id=kid,
        )

    def seal_checked(self, facts: identity.IdFacts, name: str, bidx: str) -> Sealed:
        """:meth:`seal_subject` for the bulk path: the number was checked and its blind index
        (``bidx``, from :meth:`lookup_key_checked`) is already known."""
        kid = self.cipher.active_key_id
        id_cipher, name_cipher = self.cipher.encrypt_pair(
            facts.number, aad_for(SUBJECT_TABLE, "id_number", bidx), name, aad_for(SUBJECT_TABLE, "name", bidx), kid)
        return Sealed(id_bidx=bidx, id_cipher=id_cipher, name_cipher=name_cipher, key_id=kid)

    def seal_name(self, bidx: str, name: str, kid: str) -> bytes:
        return self.cipher.encrypt(name, aad_for(SUBJECT_TABLE, "name", bidx), kid)

    def reveal_id(self, bidx: str, id_cipher: bytes, kid: str) -> str:
        return self.cipher.decrypt(id_cipher, aad_for(SUBJECT_TABLE, "id_number", bidx), kid)

    def reveal_name(self, bidx: str, name_cipher: bytes, kid: str) -> str:
        return self.cipher.decrypt(name_cipher, aad_for(SUBJECT_TABLE, "name", bidx), kid)

    def masked_id(self, bidx: str, id_cipher: bytes, kid: str) -> str:
        return mask_id_number(self.reveal_id(bidx, id_cipher, kid))

    def masked_name(self, bidx: str, name_cipher: bytes, kid: str) -> str:
        return mask_name(self.reveal_name(bidx, name_cipher, kid))

    # ---- other sealed content (uploaded files hold raw ID numbers) --------------------
    def seal_blob(self, data: bytes, table: str, column: str, row: str) -> tuple[bytes, str]:
        """Encrypt arbitrary bytes bound to (table, column, row); returns (ciphertext, key id)."""
        kid = self.cipher.active_key_id
        return self.cipher.encrypt_bytes(data, aad_for(table, column, row), kid), kid

    def reveal_blob(self, blob: bytes, table: str, column: str, row: str, kid: str) -> bytes:
        return self.cipher.decrypt_bytes(blob, aad_for(table, column, row), kid)

    # ---- rotation ------------------------------------------------------------------
    def reseal(self, bidx: str, id_cipher: bytes, name_cipher: bytes, kid: str) -> Sealed:
        """Decrypt under the old key and encrypt under the active one (key rotation)."""
        number = self.reveal_id(bidx, id_cipher, kid)
        name = self.reveal_name(bidx, name_cipher, kid)
        new_kid = self.cipher.active_key_id
        return Sealed(
            id_bidx=bidx,
            id_cipher=self.cipher.encrypt(number, aad_for(SUBJECT_TABLE, "id_number", bidx), new_kid),
            name_cipher=self.cipher.encrypt(name, aad_for(SUBJECT_TABLE, "name", bidx), new_kid),
            key_id=new_kid,
        )


_vault: Vault | None = None


def set_vault(vault: Vault | None) -> None:
    global _vault
    _vault = vault


def get_vault() -> Vault:
    """The process's vault (set by the app factory or the CLI)."""
    if _vault is None:
        raise RuntimeError("vault not configured")
    return _vault
