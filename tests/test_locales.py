"""The catalogs: same keys and placeholders in English and Bengali, no syntax errors, every key used exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fluent.syntax import FluentParser, ast, visitor

from handlers.i18n import SUPPORTED, Catalog, catalog, locale_from_hint, read_sources

ROOT = Path(__file__).resolve().parent.parent


class _Placeables(visitor.Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def visit_VariableReference(self, node: ast.VariableReference) -> None:  # noqa: N802
        self.names.add(node.id.name)
        self.generic_visit(node)


def _messages(lang: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, text in read_sources(lang).items():
        resource = FluentParser().parse(text)
        for entry in resource.body:
            assert not isinstance(entry, ast.Junk), f"{lang}/{name}: syntax error: {entry.annotations}"
            if isinstance(entry, ast.Message | ast.Term):
                key = ("-" if isinstance(entry, ast.Term) else "") + entry.id.name
                assert key not in found, f"{lang}: {key} defined twice"
                collector = _Placeables()
                collector.visit(entry)
                found[key] = collector.names
    return found


def test_english_and_bengali_have_the_same_keys_and_placeholders() -> None:
    en, bn = _messages("en"), _messages("bn")
    assert sorted(set(en) - set(bn)) == [], "keys missing in bn"
    assert sorted(set(bn) - set(en)) == [], "keys missing in en"
    differing = {key: (en[key], bn[key]) for key in en if en[key] != bn[key]}
    assert differing == {}


def test_catalogs_load_without_errors() -> None:
    for lang in SUPPORTED:
        assert Catalog(lang, read_sources(lang)).errors == []


def test_a_syntax_error_is_detected() -> None:
    assert Catalog("en", {"bad.ftl": "good = fine\nbroken = { $x\n"}).errors


def test_every_key_used_in_code_exists_in_both_languages() -> None:
    pattern = re.compile(
        r"""\b(?:t|catalog\([^)]*\))\(\s*"([a-z][a-z0-9-]+)"|key = "([a-z][a-z0-9-]+)"|"(web-[a-z]+)"|f"web-\{key\}"""
    )
    used: set[str] = set()
    for path in [*ROOT.glob("handlers/**/*.py"), *ROOT.glob("bot/**/*.py")]:
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            used.update(g for g in match.groups() if g)
    used.update(re.findall(r'"(fallback-[a-z-]+|button-stale)"', (ROOT / "handlers/basics.py").read_text()))
    assert len(used) > 15
    for lang in SUPPORTED:
        missing = sorted(k for k in used if not catalog(lang).has(k))
        assert missing == [], f"{lang} lacks {missing}"


def test_no_bidi_isolation_marks() -> None:
    text = catalog("bn")("credits-balance", balance=5, cost=1)
    assert "\u2068" not in text and "\u2069" not in text


@pytest.mark.parametrize(("n", "expected"), [(0, "০টি"), (1, "১টি"), (5, "৫টি"), (12345, "১২,৩৪৫টি")])
def test_bengali_numbers_use_bengali_digits(n: int, expected: str) -> None:
    assert expected in catalog("bn")("credits-balance", balance=n, cost=1)


def test_bengali_zero_is_plural_one_as_cldr_says() -> None:
    bn = Catalog("bn", {"t.ftl": "n = { $n ->\n    [one] ONE\n   *[other] OTHER\n}\n"})
    assert [bn("n", n=k) for k in (0, 1, 2)] == ["ONE", "ONE", "OTHER"]
    en = Catalog("en", {"t.ftl": "n = { $n ->\n    [one] ONE\n   *[other] OTHER\n}\n"})
    assert [en("n", n=k) for k in (0, 1, 2)] == ["OTHER", "ONE", "OTHER"]


def test_english_plurals() -> None:
    assert "You have 1 credit." in catalog("en")("credits-balance", balance=1, cost=1)
    assert "You have 0 credits." in catalog("en")("credits-balance", balance=0, cost=1)


@pytest.mark.parametrize(
    ("hint", "lang"),
    [("bn", "bn"), ("bn-BD", "bn"), ("BN_in", "bn"), ("en", "en"), ("hi", "en"), (None, "en"), ("", "en")],
)
def test_locale_from_platform_hint(hint: str | None, lang: str) -> None:
    assert locale_from_hint(hint) == lang


def test_missing_key_returns_the_key_not_a_crash() -> None:
    assert catalog("en")("no-such-key") == "no-such-key"
