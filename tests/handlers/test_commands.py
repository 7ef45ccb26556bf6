"""Issue 18: each command is declared once (name, aliases, argument, menu, limiter keys) and the rest is derived:
the alias table, /help, Telegram's menu, the keys /delete erases. A missed edit fails here, not silently."""

from __future__ import annotations

import pytest

from bot.app import build_router
from handlers.commands import CommandSpec, CommandTable
from handlers.i18n import catalog

BENGALI = range(0x0980, 0x0A00)


def _bengali(word: str) -> bool:
    return any(ord(ch) in BENGALI for ch in word)


def test_every_routed_command_is_declared_with_words_and_help_in_both_languages() -> None:
    router = build_router()
    assert set(router.commands) == set(router.table.specs)
    for spec in router.table.specs.values():
        assert any(_bengali(alias) for alias in spec.aliases), f"{spec.name} has no Bengali alias"
        assert any(alias.isascii() for alias in (spec.name, *spec.aliases))
        for lang in ("en", "bn"):
            assert catalog(lang).has(f"command-{spec.name}"), (lang, spec.name)


def test_every_alias_reaches_its_command() -> None:
    table = build_router().table
    for spec in table.specs.values():
        for word in (spec.name, f"/{spec.name}", *spec.aliases):
            parsed = table.parse(word)
            assert parsed is not None and parsed.known and parsed.name == spec.name, word


def test_arguments_follow_any_alias_of_a_command_that_takes_one() -> None:
    table = build_router().table
    for text in ("redeem NX7K-3P9Q", "রিডিম NX7K-3P9Q", "কোড NX7K-3P9Q", "/redeem NX7K-3P9Q"):
        parsed = table.parse(text)
        assert parsed is not None and (parsed.name, parsed.argument.upper()) == ("redeem", "NX7K-3P9Q"), text
    assert table.parse("help me with this photo") is None  # a sentence is not a command


def test_two_commands_claiming_one_word_fail_at_start_up() -> None:
    with pytest.raises(ValueError, match="alias of both"):
        CommandTable([CommandSpec("credits", ("balance",)), CommandSpec("buy", ("Balance",))])
    with pytest.raises(ValueError, match="declared twice"):
        CommandTable([CommandSpec("credits"), CommandSpec("credits")])
    with pytest.raises(ValueError, match="lower-case ASCII"):
        CommandTable([CommandSpec("ক্রেডিট")])


def test_limiter_keys_come_from_the_declarations() -> None:
    prefixes = build_router().table.limiter_prefixes
    assert "mydata:" in prefixes
    assert "redeem-fail:" not in prefixes  # kept through /delete, or erasing would reset the guess limit
