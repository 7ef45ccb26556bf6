"""The blob store: files under DATA_DIR/files, encrypted at rest with AES-GCM.

Names are random (never taken from user input). Each file is `NXZ1 | nonce(12) | ciphertext+tag`; the
header is authenticated too, so a file from another key or a tampered one is an error, never garbage.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"NXZ1"


class BlobKeyError(Exception):
    """The file cannot be decrypted with this key (a wrong or changed FILES_KEY, or a tampered file)."""


class BlobStore:
    def __init__(self, data_dir: Path, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the file key must be 32 bytes")
        self.data_dir = data_dir
        self.root = data_dir / "files"
        self._aead = AESGCM(key)

    def put(self, data: bytes) -> str:
        """Encrypt and store `data`; returns its path relative to DATA_DIR."""
        name = secrets.token_hex(16)
        relative = Path("files") / name[:2] / f"{name}.bin"
        target = self.data_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        nonce = os.urandom(12)
        sealed = MAGIC + nonce + self._aead.encrypt(nonce, data, MAGIC)
        temporary = target.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(sealed)
        temporary.replace(target)
        return relative.as_posix()

    def get(self, relative: str) -> bytes:
        sealed = self._path(relative).read_bytes()
        if not sealed.startswith(MAGIC) or len(sealed) < len(MAGIC) + 12 + 16:
            raise BlobKeyError(f"{relative} is not a Nexoraz encrypted file")
        nonce = sealed[len(MAGIC) : len(MAGIC) + 12]
        try:
            return self._aead.decrypt(nonce, sealed[len(MAGIC) + 12 :], MAGIC)
        except InvalidTag:
            raise BlobKeyError(f"{relative} cannot be decrypted: wrong FILES_KEY, or the file was altered") from None

    def delete(self, relative: str) -> bool:
        try:
            self._path(relative).unlink()
        except FileNotFoundError:
            return False
        return True

    def _path(self, relative: str) -> Path:
        path = (self.data_dir / relative).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"{relative} is outside the blob store")
        return path
