"""The dispatcher end to end on a real database: dedupe, users, locales, routing, bad input."""

from __future__ import annotations

import asyncio

from handlers.context import Services
from handlers.model import Channel, Choice, Kind, MediaRef
from storage import ledger, users
from storage.users import Identity
from tests.conftest import inbound
from tests.helpers import make_dispatcher, say


async def test_first_message_creates_user_with_signup_credits_and_welcome(services: Services) -> None:
    bot = make_dispatcher(services)
    reply = await say(bot, inbound("/start", user="42", lang="en-US"))
    assert "Welcome to Nexoraz" in reply
    assert "3 free credits" in reply
    assert "https://facebook.com/nexoraz" in reply and "https://nexoraz.pro/how-to" in reply
    async with services.db.transaction() as s:
        user = await users.find(s, Identity("telegram", "42"))
        assert user is not None and user.locale == "en"
        assert await ledger.balance(s, user.id or 0) == 3


async def test_credits_are_called_free_only_while_every_one_was_given(services: Services) -> None:
    """`ledger.all_given` decides the welcome's wording: a bought credit makes the balance no longer "free"."""
    bot = make_dispatcher(services)
    assert "3 free credits" in await say(bot, inbound("/start", user="44", event_id="a", lang="en"))
    async with services.db.transaction() as s:
        user_id = await users.find_id(s, Identity("telegram", "44"))
        assert user_id is not None
        await ledger.credit(s, user_id, 10, kind=ledger.EntryKind.PURCHASE, key="stars:charge-1")
    reply = await say(bot, inbound("/start", user="44", event_id="b", lang="en"))
    assert "You have 13 credits." in reply and "welcome gift" not in reply


async def test_bengali_hint_gives_bengali_with_bengali_digits(services: Services) -> None:
    bot = make_dispatcher(services)
    reply = await say(bot, inbound("/start", user="43", lang="bn"))
    assert "স্বাগতম" in reply
    assert "৩টি ফ্রি ক্রেডিট" in reply
    assert "3টি" not in reply


async def test_redelivered_event_is_a_no_op(services: Services) -> None:
    bot = make_dispatcher(services)
    first = await bot.dispatch(inbound("/help", event_id="same"))
    again = await bot.dispatch(inbound("/help", event_id="same"))
    assert first and again == []


async def test_concurrent_first_messages_create_one_user_and_one_signup_grant(services: Services) -> None:
    bot = make_dispatcher(services)
    await asyncio.gather(*(bot.dispatch(inbound("hi", user="77")) for _ in range(8)))
    async with services.db.transaction() as s:
        user = await users.find(s, Identity("telegram", "77"))
        assert user is not None
        assert await ledger.balance(s, user.id or 0) == 3
        assert len(await ledger.recent(s, user.id or 0, 10)) == 1


async def test_commands_work_with_slash_without_slash_in_bengali_and_romanised(services: Services) -> None:
    bot = make_dispatcher(services)
    for text in ("/help", "help", "HELP", "সাহায্য", "sahajjo", "/help@NexorazBot", "  help  ", "ｈｅｌｐ"):
        assert "/credits" in await say(bot, inbound(text)), text


async def test_lang_buttons_switch_and_the_choice_is_remembered(services: Services) -> None:
    bot = make_dispatcher(services)
    replies = await bot.dispatch(inbound("/lang", user="9"))
    choice = next(r for r in replies if isinstance(r, Choice))
    labels = {b.label: b.payload for b in choice.buttons}
    assert set(labels) == {"English", "বাংলা"}
    assert "বাংলায়" in await say(bot, inbound(payload=labels["বাংলা"], user="9"))
    # An English platform hint no longer overrides the explicit choice.
    assert "সাহায্য" in await say(bot, inbound("help", user="9", lang="en"))
    assert "English" in await say(bot, inbound(payload=labels["English"], user="9"))
    assert "Here is what I can do" in await say(bot, inbound("help", user="9", lang="bn"))


async def test_typing_bangla_switches_directly(services: Services) -> None:
    bot = make_dispatcher(services)
    assert "বাংলায়" in await say(bot, inbound("bangla", user="10"))
    assert "বাংলায়" in await say(bot, inbound("বাংলা", user="11"))


async def test_support_shows_contacts(services: Services) -> None:
    bot = make_dispatcher(services)
    reply = await say(bot, inbound("support"))
    assert "+8801711000000" in reply and "support@nexoraz.pro" in reply and "facebook.com/nexoraz" in reply


async def test_bad_input_gets_useful_localized_answers(services: Services) -> None:
    bot = make_dispatcher(services)
    await say(bot, inbound("/start", user="5"))
    assert "do not know that command" in await say(bot, inbound("/frobnicate", user="5"))
    assert "did not quite get that" in await say(bot, inbound("what is this?", user="5"))
    assert "did not quite get that" in await say(bot, inbound("   ", user="5"))
    assert "too long" in await say(bot, inbound("x" * 10_000, user="5"))
    assert "only work with photos and text" in await say(bot, inbound(kind=Kind.UNSUPPORTED, user="5"))
    assert "no longer active" in await say(bot, inbound(payload="nonsense:1", user="5"))
    assert "no longer active" in await say(bot, inbound(payload="lang:xx", user="5"))
    await say(bot, inbound("/start", user="6", lang="bn"))
    assert "কমান্ডটা আমি চিনি না" in await say(bot, inbound("/frobnicate", user="6", lang="bn"))


async def test_a_sentence_starting_with_a_command_word_is_not_a_command(services: Services) -> None:
    bot = make_dispatcher(services)
    await say(bot, inbound("/start"))
    assert "did not quite get that" in await say(bot, inbound("help me sell my shoes"))


async def test_flooding_is_rate_limited_with_one_notice(services: Services) -> None:
    bot = make_dispatcher(services)
    answers = [await say(bot, inbound("help", user="flood")) for _ in range(35)]
    limited = [a for a in answers if "very quickly" in a]
    assert len(limited) == 1
    assert answers[-1] == ""


async def test_an_unexpected_error_is_answered_and_rolls_back(services: Services) -> None:
    bot = make_dispatcher(services)

    async def broken(event, ctx, argument):  # type: ignore[no-untyped-def]
        await ledger.credit(ctx.session, ctx.user_id, 100, kind=ledger.EntryKind.GRANT, key="boom", reference="")
        raise RuntimeError("boom")

    bot.router.commands["help"] = broken
    assert "something went wrong" in await say(bot, inbound("help", user="err", event_id="err-1"))
    async with services.db.transaction() as s:
        assert await users.find(s, Identity("telegram", "err")) is None  # rolled back whole
    bot.router.commands.pop("help")
    # ...so the platform's redelivery of the same event is processed, not ignored.
    assert "do not know" in await say(bot, inbound("help", user="err", event_id="err-1"))


async def test_a_photo_kind_without_photo_handler_is_answered(services: Services) -> None:
    bot = make_dispatcher(services)
    bot.router.media = None
    media = (MediaRef(file_id="f", mime="image/jpeg", size=10),)
    assert await say(bot, inbound(kind=Kind.PHOTO, media=media, channel=Channel.WEB))
