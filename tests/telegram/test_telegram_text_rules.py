"""Cutting text for Telegram: by UTF-16 length, between graphemes (Bengali conjuncts, emoji), at lines first."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.app import build_router
from bot.channels.telegram_convert import escape, split_text, truncate
from bot.channels.telegram_menu import commands
from bot.channels.text import graphemes, utf16_len
from handlers.i18n import catalog


def _boundaries(text: str) -> set[int]:
    found, at = {0}, 0
    for cluster in graphemes(text):
        at += len(cluster)
        found.add(at)
    return found


def test_graphemes_keep_conjuncts_vowel_signs_and_emoji_sequences_whole() -> None:
    assert graphemes("ক্ষমা") == ["ক্ষ", "মা"]
    assert graphemes("👩🏽‍💻!") == ["👩🏽‍💻", "!"]
    assert graphemes("🇧🇩🇬🇧") == ["🇧🇩", "🇬🇧"]
    assert graphemes("e\u0301x") == ["e\u0301", "x"]


def test_truncate_counts_utf16_and_adds_an_ellipsis() -> None:
    assert truncate("short", 10) == "short"
    cut = truncate("😀" * 600, 1024)  # 2 UTF-16 units each
    assert utf16_len(cut) <= 1024 and cut.endswith("…") and cut[:-1] == "😀" * 511
    assert truncate("ক্ষ" * 10, 8) == "ক্ষক্ষ…"


def test_split_prefers_line_breaks() -> None:
    text = "a" * 3000 + "\n" + "b" * 3000
    assert split_text(text) == ["a" * 3000, "b" * 3000]


def test_escape_leaves_nothing_for_the_html_parser() -> None:
    assert escape('<a href="x">&</a>') == '&lt;a href="x"&gt;&amp;&lt;/a&gt;'


alphabet = st.sampled_from(["a", " ", "\n", "ক", "্", "ষ", "া", "😀", "\u200d", "🏽", "é", "।"])


@settings(max_examples=60, deadline=None)
@given(st.lists(alphabet, min_size=1, max_size=400), st.integers(min_value=8, max_value=64))
def test_split_pieces_fit_and_lose_only_line_breaks_at_the_cuts(chars: list[str], limit: int) -> None:
    text = "".join(chars)
    pieces = split_text(text, limit)
    allowed = _boundaries(text) if all(utf16_len(g) <= limit for g in graphemes(text)) else set(range(len(text) + 1))
    at = 0
    for piece in pieces:
        assert utf16_len(piece) <= limit
        start = text.index(piece, at)
        assert text[at:start].strip("\n") == "" and start in allowed and start + len(piece) in allowed
        at = start + len(piece)
    assert text[at:].strip() == ""


def test_the_menu_has_every_command_in_both_languages() -> None:
    table = build_router().table
    names = {command.command for command in commands(table, "en")}
    assert names >= {"start", "help", "credits", "redeem", "style", "history", "lang", "privacy"}
    for lang in ("en", "bn"):
        for command in commands(table, lang):
            assert catalog(lang).has(f"command-{command.command}")
            assert 0 < len(command.description) <= 256
        for key in ("tg-description", "tg-short-description"):
            assert catalog(lang).has(key)
    assert len(catalog("bn")("tg-short-description")) <= 120 and len(catalog("bn")("tg-description")) <= 512
    assert len(catalog("en")("tg-short-description")) <= 120 and len(catalog("en")("tg-description")) <= 512
