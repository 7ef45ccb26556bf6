"""Sealing what the project puts in Redis: AES-GCM, so a Redis dump, a replica or `MONITOR` shows no payload.

The key is derived with HKDF-SHA256 from the application's secret (FILES_KEY or DATA_DIR/files.key, through
`Settings.secret_key`), one key per purpose (`info`), so a relay key never opens anything else. Every payload
gets a fresh random 96-bit nonce, and the Redis name it is stored under or published on (a key or a pub/sub
channel) is the associated data: a payload copied to another key or channel does not open there. A payload
that does not open (tampered, moved, another deployment's key) is `None`: the caller treats it as missing.

Format: `NXR1 | nonce(12) | ciphertext+tag`; the header is authenticated with the name.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"NXR1"
NONCE_BYTES = 12
_OVERHEAD = len(MAGIC) + NONCE_BYTES + 16  # header, nonce, GCM tag


class RedisSeal:
    def __init__(self, secret: bytes, *, purpose: str) -> None:
        if len(secret) < 32:
            raise ValueError("the Redis seal needs a secret of at least 32 bytes")
        info = f"nexoraz redis payload: {purpose}".encode()
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)
        self._aead = AESGCM(key)

    def seal(self, name: str, data: bytes) -> bytes:
        """`data` encrypted for the Redis key or channel `name` (and only for it)."""
        nonce = os.urandom(NONCE_BYTES)
        return MAGIC + nonce + self._aead.encrypt(nonce, data, MAGIC + name.encode())

    def open(self, name: str, sealed: bytes) -> bytes | None:
        """The payload stored under `name`, or None when it does not open there (tampered, moved, foreign)."""
        if len(sealed) < _OVERHEAD or not sealed.startswith(MAGIC):
            return None
        nonce = sealed[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, sealed[len(MAGIC) + NONCE_BYTES :], MAGIC + name.encode())
        except InvalidTag:
            return None
