"""The key file: encryption keys (with ids, for rotation), blind-index keys and signing keys.

The file is JSON, created with fresh random keys by ``xinyong init`` if absent, mode 0600.
Separate keys for encryption, each blind index, sessions, receipts and the audit checkpoints.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat


class KeyFileError(RuntimeError):
    """The key file is missing, unreadable or malformed."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass
class KeyRing:
    encryption_keys: dict[str, bytes]
    active_encryption_key: str
    index_keys: dict[str, bytes]
    session_secret: bytes
    receipt_key: bytes
    audit_signing_key: Ed25519PrivateKey
    path: Path | None = field(default=None, compare=False)

    # ---- construction -------------------------------------------------------------
    @classmethod
    def generate(cls) -> KeyRing:
        kid = "k" + secrets.token_hex(4)
        return cls(
            encryption_keys={kid: secrets.token_bytes(32)},
            active_encryption_key=kid,
            index_keys={"id_number": secrets.token_bytes(32), "name": secrets.token_bytes(32)},
            session_secret=secrets.token_bytes(32),
            receipt_key=secrets.token_bytes(32),
            audit_signing_key=Ed25519PrivateKey.generate(),
        )

    def to_json(self) -> str:
        signing = self.audit_signing_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return json.dumps(
            {
                "format": "xinyong-keys/1",
                "encryption": {
                    "active": self.active_encryption_key,
                    "keys": {k: _b64(v) for k, v in self.encryption_keys.items()},
                },
                "index": {k: _b64(v) for k, v in self.index_keys.items()},
                "session_secret": _b64(self.session_secret),
                "receipt_key": _b64(self.receipt_key),
                "audit_signing_key": _b64(signing),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, path: Path | None = None) -> KeyRing:
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != "xinyong-keys/1":
                raise KeyFileError("unknown key file format")
            enc = data["encryption"]
            keys = {k: _unb64(v) for k, v in enc["keys"].items()}
            if enc["active"] not in keys:
                raise KeyFileError("active encryption key id is not in the key file")
            ring = cls(
                encryption_keys=keys,
                active_encryption_key=enc["active"],
                index_keys={k: _unb64(v) for k, v in data["index"].items()},
                session_secret=_unb64(data["session_secret"]),
                receipt_key=_unb64(data["receipt_key"]),
                audit_signing_key=Ed25519PrivateKey.from_private_bytes(_unb64(data["audit_signing_key"])),
                path=path,
            )
        except KeyFileError:
            raise
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            # AttributeError: a list, number or null where an object or a string belongs
            raise KeyFileError(f"malformed key file: {type(exc).__name__}") from exc
        for name, key in {**ring.encryption_keys, **ring.index_keys}.items():
            if len(key) != 32:
                raise KeyFileError(f"key {name!r} must be 32 bytes")
        return ring

    # ---- files --------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path) -> KeyRing:
        if not path.exists():
            raise KeyFileError(
                f"密钥文件不存在：{path}；请检查 XINYONG_KEY_FILE 或从备份恢复（新安装请运行 `xinyong init`） / "
                f"key file not found: {path}: check XINYONG_KEY_FILE or restore it from its backup (a new "
                "installation: run `xinyong init`)"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeyFileError(f"密钥文件无法读取 / cannot read key file {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise KeyFileError(f"密钥文件不是 UTF-8 文本 / key file {path} is not UTF-8 text") from exc
        return cls.from_json(text, path=path)

    def save(self, path: Path) -> None:
        """Write atomically with mode 0600."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(self.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        self.path = path

    @classmethod
    def load_or_create(cls, path: Path) -> tuple[KeyRing, bool]:
        if path.exists():
            return cls.load(path), False
        ring = cls.generate()
        ring.save(path)
        return ring, True

    # ---- rotation -----------------------------------------------------------------
    def add_encryption_key(self) -> str:
        kid = "k" + secrets.token_hex(4)
        self.encryption_keys[kid] = secrets.token_bytes(32)
        self.active_encryption_key = kid
        return kid

    def retire_encryption_key(self, kid: str) -> None:
        if kid == self.active_encryption_key:
            raise KeyFileError("cannot retire the active encryption key")
        self.encryption_keys.pop(kid, None)

    @property
    def receipt_signing_key(self) -> Ed25519PrivateKey:
        """Ed25519 key signing check receipts: the key file's 32-byte ``receipt_key`` is its seed."""
        return Ed25519PrivateKey.from_private_bytes(self.receipt_key)

    @property
    def audit_public_key(self) -> Ed25519PublicKey:
        return self.audit_signing_key.public_key()

    def audit_public_key_b64(self) -> str:
        return _b64(self.audit_public_key.public_bytes(Encoding.Raw, PublicFormat.Raw))
