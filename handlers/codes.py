"""Giveaway codes: generated with `secrets`, typed back by people in any script and case.

A seller may type `nx7k 3p9q`, `NX7K-3P9Q`, full-width `ＮＸ７Ｋ`, or the digits in Bengali (`৭`, `৯`):
all normalise to the same code, and only its keyed hash is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: codes are read off a Facebook post
GENERATED_LENGTH = 10
_VALID = re.compile(r"^[A-Z0-9]{4,32}$")
_SEPARATORS = re.compile(r"[\s\-_.·–—]+")


def generate() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(GENERATED_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def normalize(text: str) -> str | None:
    """The canonical form of a typed code, or None when it cannot be one."""
    clean = "".join(
        str(unicodedata.decimal(c)) if c.isdecimal() else c for c in unicodedata.normalize("NFKC", text)
    )  # Bengali (and any other script's) digits become ASCII
    clean = _SEPARATORS.sub("", clean).upper()
    return clean if _VALID.match(clean) else None


def code_hash(code: str, key: bytes) -> str:
    return hmac.new(key, b"giveaway:" + code.encode(), hashlib.sha256).hexdigest()


def hint(code: str) -> str:
    return code[:3] + "…"
