"""/credits and /redeem as a seller uses them, through the dispatcher on a real database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handlers import codes
from handlers.context import Services
from storage import giveaways, ledger, users
from storage.types import utcnow
from storage.users import Identity
from tests.conftest import inbound
from tests.helpers import make_dispatcher, say


async def _code(
    services: Services, code: str, *, credits: int = 5, max_uses: int = 10, expires_in: float | None = None
) -> None:
    expires = utcnow() + timedelta(days=expires_in) if expires_in is not None else None
    async with services.db.transaction() as s:
        await giveaways.create(
            s,
            code_hash=codes.code_hash(codes.normalize(code) or "", services.config.identity_key),
            hint="x",
            credits=credits,
            max_uses=max_uses,
            expires_at=expires,
        )


async def _balance(services: Services, user: str) -> int:
    async with services.db.transaction() as s:
        found = await users.find(s, Identity("telegram", user))
        return await ledger.balance(s, found.id or 0) if found else -1


@pytest.mark.parametrize(
    "typed",
    [
        "redeem EID7K3",
        "/redeem eid7k3",
        "redeem eid-7k-3",
        "redeem  E I D 7 K 3",
        "রিডিম EID৭K৩",
        "redeem ＥＩＤ７Ｋ３",
        "code EID7K3",
    ],
)
async def test_codes_are_normalised_however_they_are_typed(services: Services, typed: str) -> None:
    await _code(services, "EID7K3")
    bot = make_dispatcher(services)
    reply = await say(bot, inbound(typed, user="s1"))
    assert "Code accepted" in reply and "5 credits added" in reply, reply
    assert await _balance(services, "s1") == 8


async def test_a_code_works_once_per_user_and_wrong_and_used_codes_get_the_same_answer(services: Services) -> None:
    await _code(services, "ONCE1")
    bot = make_dispatcher(services)
    await say(bot, inbound("redeem ONCE1", user="s2"))
    used = await say(bot, inbound("redeem ONCE1", user="s2"))
    wrong = await say(bot, inbound("redeem WRONG1", user="s2"))
    assert used == wrong and "not valid" in used
    assert await _balance(services, "s2") == 8


async def test_max_uses_and_expiry(services: Services) -> None:
    await _code(services, "TWOUSES", max_uses=2)
    await _code(services, "OLDCODE", expires_in=-1)
    bot = make_dispatcher(services)
    for user in ("a", "b", "c"):
        await say(bot, inbound("redeem TWOUSES", user=user))
    assert [await _balance(services, u) for u in ("a", "b", "c")] == [8, 8, 3]
    assert "not valid" in await say(bot, inbound("redeem OLDCODE", user="d"))
    assert await _balance(services, "d") == 3


async def test_malformed_codes_get_a_clear_answer(services: Services) -> None:
    bot = make_dispatcher(services)
    assert "does not look like a giveaway code" in await say(bot, inbound("redeem !!", user="m"))
    assert "Send your giveaway code like this" in await say(bot, inbound("redeem", user="m"))


async def test_brute_force_is_rate_limited_even_for_the_right_code(services: Services) -> None:
    await _code(services, "RIGHT1")
    bot = make_dispatcher(services)
    for n in range(5):
        assert "not valid" in await say(bot, inbound(f"redeem GUESS{n}", user="bf"))
    assert "Too many wrong codes" in await say(bot, inbound("redeem RIGHT1", user="bf"))
    assert await _balance(services, "bf") == 3


async def test_delete_does_not_reset_the_wrong_code_limit(services: Services) -> None:
    """Issue 14 (6): 4 rounds of wrong guesses and /delete got 20 guesses past a limit of 5 an hour."""
    await _code(services, "RIGHT2")
    bot = make_dispatcher(services)
    for n in range(5):
        assert "not valid" in await say(bot, inbound(f"redeem GUESS{n}", user="del-bf"))
    await say(bot, inbound("/delete", user="del-bf"))
    assert "erased" in await say(bot, inbound(payload="del:yes", user="del-bf"))
    assert "Too many wrong codes" in await say(bot, inbound("redeem RIGHT2", user="del-bf"))


async def test_deep_link_start_redeems(services: Services) -> None:
    await _code(services, "LINK42")
    bot = make_dispatcher(services)
    reply = await say(bot, inbound("/start LINK42", user="dl", lang="bn"))
    assert "স্বাগতম" in reply and "কোড গ্রহণ করা হয়েছে" in reply and "৫টি ক্রেডিট" in reply
    assert await _balance(services, "dl") == 8


async def test_redelivered_redeem_event_credits_once(services: Services) -> None:
    await _code(services, "REDEL1")
    bot = make_dispatcher(services)
    await say(bot, inbound("redeem REDEL1", user="rd", event_id="wamid.1"))
    assert await say(bot, inbound("redeem REDEL1", user="rd", event_id="wamid.1")) == ""
    assert await _balance(services, "rd") == 8


async def test_credits_shows_balance_movements_and_how_to_get_more(services: Services) -> None:
    await _code(services, "SHOW1", credits=2)
    bot = make_dispatcher(services)
    await say(bot, inbound("redeem SHOW1", user="c1"))
    reply = await say(bot, inbound("balance", user="c1"))
    assert "You have 5 credits. Each photo costs 1 credit." in reply
    assert "+3 welcome gift" in reply and "+2 giveaway code" in reply
    assert "facebook.com/nexoraz" in reply and "nexoraz.pro/pricing" in reply
    bn = await say(bot, inbound("ব্যালেন্স", user="c2", lang="bn"))
    assert "আপনার কাছে ৩টি ক্রেডিট আছে" in bn and "+৩ স্বাগতম উপহার" in bn


async def test_credits_shows_the_plan_when_one_is_held(services: Services) -> None:
    from storage.models import CreditAccount

    bot = make_dispatcher(services)
    await say(bot, inbound("hi", user="pro", lang="bn"))
    async with services.db.transaction() as s:
        user = await users.find(s, Identity("telegram", "pro"))
        account = await s.get(CreditAccount, user.id)  # type: ignore[union-attr]
        account.plan, account.plan_expires_at = "Pro", utcnow().replace(year=2027, month=1, day=31)  # type: ignore[union-attr]
    reply = await say(bot, inbound("credits", user="pro", lang="bn"))
    assert "আপনার প্ল্যান: Pro, মেয়াদ ৩১ জানু ২০২৭ পর্যন্ত।" in reply
