"""The message memo (handlers/i18n.py): a memoised text is the one Fluent would give for those arguments."""

from __future__ import annotations

from handlers.i18n import Catalog, catalog, read_sources


def test_memoised_messages_follow_their_arguments_and_language() -> None:
    fresh = Catalog("bn", read_sources("bn"))
    bn = catalog("bn")
    for balance in (0, 1, 2, 5, 1, 0):  # again and again: the memo answers the repeats
        assert bn("credits-balance", balance=balance, cost=1) == fresh("credits-balance", balance=balance, cost=1)
    assert bn("credits-balance", balance=2, cost=1) != bn("credits-balance", balance=3, cost=1)
    assert "৩" in bn("credits-balance", balance=3, cost=1)
    assert catalog("en")("credits-balance", balance=3, cost=1) != bn("credits-balance", balance=3, cost=1)


def test_equal_but_different_typed_arguments_are_not_confused() -> None:
    en = catalog("en")
    assert en("credits-balance", balance=1, cost=1) == Catalog("en", read_sources("en"))(
        "credits-balance", balance=1, cost=1
    )
    as_text = en("credits-balance", balance="1", cost=1)  # a str "1" is not the int 1 (no Bengali digits, no plural)
    assert as_text == Catalog("en", read_sources("en"))("credits-balance", balance="1", cost=1)


def test_a_full_memo_starts_afresh_and_still_answers() -> None:
    small = Catalog("en", read_sources("en"))
    small.MEMO_SIZE = 3
    texts = [small("credits-balance", balance=n, cost=1) for n in range(10)]
    assert len(set(texts)) == 10
    assert len(small._memo) <= 3
