"""Fluent catalogs (`locales/<lang>/*.ftl`) with the project's rules: no bidi isolation marks, CLDR plurals,
and Bengali digits for Bengali readers (Babel formats `bn` numbers with Latin digits)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from fluent.runtime import FluentBundle, FluentResource
from fluent.runtime.resolver import CurrentEnvironment, ResolverEnvironment
from fluent.runtime.types import FluentInt, FluentNone
from fluent.runtime.utils import native_to_fluent
from fluent.syntax.ast import Junk

from locales import LOCALES_DIR

log = logging.getLogger(__name__)

SUPPORTED = ("en", "bn")
DEFAULT = "en"

_BENGALI_DIGITS = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")
_TO_ASCII_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")


def to_bengali_digits(text: str) -> str:
    return text.translate(_BENGALI_DIGITS)


def to_ascii_digits(text: str) -> str:
    return text.translate(_TO_ASCII_DIGITS)


def locale_from_hint(hint: str | None) -> str:
    """`bn`, `bn-BD`, `bn_IN`... -> Bengali; anything else -> English."""
    if hint and hint.strip().lower().replace("_", "-").split("-")[0] == "bn":
        return "bn"
    return DEFAULT


class _BengaliInt(FluentInt):
    """An integer that Fluent selects plurals on as usual but prints with Bengali digits."""

    def format(self, locale: Locale) -> str:
        return to_bengali_digits(super().format(locale))


class _BengaliBundle(FluentBundle):
    """Integers become `_BengaliInt`: the stock `format_pattern` would turn them back into plain FluentInt."""

    def format_pattern(
        self, pattern: Any, args: dict[str, Any] | None = None
    ) -> tuple[str | FluentNone, list[Exception]]:
        fluent_args = {
            name: _BengaliInt(value)
            if isinstance(value, int) and not isinstance(value, bool)
            else native_to_fluent(value)
            for name, value in (args or {}).items()
        }
        errors: list[Exception] = []
        env = ResolverEnvironment(context=self, current=CurrentEnvironment(args=fluent_args), errors=errors)
        try:
            result = pattern(env)
        except ValueError as exc:
            errors.append(exc)
            result = "{???}"
        return result, errors


class Catalog:
    """One language's messages.

    Formatted messages are memoised by (key, arguments): most replies (/help, menus, errors) are the same
    few texts with the same numbers, and Fluent's resolver costs more than the rest of a /help. The memo
    is bounded and cleared whole when full (no per-entry bookkeeping on the hot path).
    """

    MEMO_SIZE = 4096

    def __init__(self, lang: str, sources: Mapping[str, str]) -> None:
        self.lang = lang
        bundle_class = _BengaliBundle if lang == "bn" else FluentBundle
        self.bundle = bundle_class([lang], use_isolating=False)
        self.errors: list[str] = []
        for name, text in sorted(sources.items()):
            resource = FluentResource(text)
            for entry in resource.body:
                if isinstance(entry, Junk):
                    self.errors.append(f"{lang}/{name}: syntax error near {(entry.content or '')[:60]!r}")
            self.bundle.add_resource(resource)
        self._memo: dict[tuple[Any, ...], str] = {}

    def has(self, key: str) -> bool:
        return self.bundle.has_message(key)

    def __call__(self, key: str, **args: Any) -> str:
        try:
            memo_key = (key, *((name, type(value), value) for name, value in sorted(args.items())))
            return self._memo[memo_key]
        except KeyError:
            pass
        except TypeError:  # an unhashable argument: format it every time
            return self._format(key, args)
        text = self._format(key, args)
        if len(self._memo) >= self.MEMO_SIZE:
            self._memo.clear()
        self._memo[memo_key] = text
        return text

    def _format(self, key: str, args: dict[str, Any]) -> str:
        if not self.bundle.has_message(key):
            log.error("missing locale key %s/%s", self.lang, key)
            return key
        message = self.bundle.get_message(key)
        if message.value is None:
            log.error("locale key %s/%s has no value", self.lang, key)
            return key
        text, errors = self.bundle.format_pattern(message.value, args)
        for error in errors:
            log.error("locale %s/%s: %s", self.lang, key, error)
        return str(text)

    def attribute(self, key: str, attribute: str, **args: Any) -> str:
        message = self.bundle.get_message(key)
        pattern = message.attributes.get(attribute)
        if pattern is None:
            return key
        text, _ = self.bundle.format_pattern(pattern, args)
        return str(text)


def read_sources(lang: str, root: Path = LOCALES_DIR) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted((root / lang).glob("*.ftl"))}


@cache
def catalog(lang: str) -> Catalog:
    lang = lang if lang in SUPPORTED else DEFAULT
    return Catalog(lang, read_sources(lang))


def translate(lang: str, key: str, **args: Any) -> str:
    return catalog(lang)(key, **args)
