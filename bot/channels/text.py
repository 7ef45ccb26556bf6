"""Cutting text to a platform's limits without breaking what a reader sees as one character.

Every channel has length limits (Telegram counts UTF-16 units, Meta counts code points); a cut must never
fall inside a Bengali conjunct, a vowel sign, or an emoji sequence.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Callable

Length = Callable[[str], int]


def utf16_len(text: str) -> int:
    """Telegram counts message length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def graphemes(text: str) -> list[str]:
    """User-perceived characters, close enough for cutting: combining marks, Bengali conjuncts (virama +
    consonant), ZWJ/ZWNJ sequences, skin tones, variation selectors and flags stay with their base."""
    clusters: list[str] = []
    for char in text:
        if clusters and _joins_previous(clusters[-1], char):
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


def _joins_previous(cluster: str, char: str) -> bool:
    code = ord(char)
    last = cluster[-1]
    if unicodedata.category(char) == "Cc":  # line breaks and tabs stand alone, even after a joiner
        return last == "\r" and char == "\n"
    if unicodedata.category(char) in ("Mn", "Mc", "Me") or code in (0x200C, 0x200D) or 0xFE00 <= code <= 0xFE0F:
        return True
    if 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:  # skin tones, tag sequences
        return True
    if last == "\u200d":
        return True
    if unicodedata.combining(last) == 9 and unicodedata.category(char) == "Lo":  # a conjunct: virama + consonant
        return True
    regional = 0x1F1E6 <= code <= 0x1F1FF
    return regional and len(cluster) == 1 and 0x1F1E6 <= ord(last) <= 0x1F1FF


def truncate(text: str, limit: int, length: Length = len) -> str:
    """At most `limit` units, cut between graphemes, with an ellipsis when something was cut."""
    if length(text) <= limit:
        return text
    kept: list[str] = []
    used = 1  # the ellipsis
    for cluster in graphemes(text):
        size = length(cluster)
        if used + size > limit:
            break
        kept.append(cluster)
        used += size
    return "".join(kept).rstrip() + "…"


def split_text(text: str, limit: int, length: Length = len) -> list[str]:
    """Pieces of at most `limit` units: cut after a line break where one is near, else after a space, else
    between graphemes; never inside a character or a Bengali conjunct."""
    pieces: list[str] = []
    rest = text
    while length(rest) > limit:
        clusters = graphemes(rest)
        size, cut = 0, 0
        for index, cluster in enumerate(clusters):
            size += length(cluster)
            if size > limit:
                break
            cut = index + 1
        if cut == 0:  # one absurdly long cluster: cut it by code points rather than loop forever
            clusters = list(rest)
            cut = max(1, next(i for i in range(len(rest) + 1) if length(rest[: i + 1]) > limit))
        head = "".join(clusters[:cut])
        ends = list(itertools.accumulate(len(c) for c in clusters[:cut]))
        for separator in ("\n\n", "\n", " "):
            at = next((e for e in reversed(ends) if e >= len(head) // 2 and head[:e].endswith(separator)), None)
            if at is not None:
                head = head[:at]
                break
        pieces.append(head.rstrip("\n") or head)
        rest = rest[len(head) :]
    if rest.strip() or not pieces:
        pieces.append(rest)
    return [p for p in pieces if p] or [text]
