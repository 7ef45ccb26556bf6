"""/privacy in the user's language, and the policy-change notice: once per version, in their language."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from handlers.context import Services
from handlers.model import Choice, Text
from storage import users
from storage.users import Identity
from tests.conftest import inbound
from tests.helpers import make_dispatcher, say, texts

MESSENGER_LIMIT = 2000


async def test_privacy_summary_in_english(services: Services) -> None:
    services.config = replace(services.config, privacy_url="https://nexoraz.pro/privacy")
    bot = make_dispatcher(services)
    replies = await bot.dispatch(inbound("/privacy", user="600"))
    summary = next(r for r in replies if isinstance(r, Choice))
    for expected in (
        "October 15, 2025",
        "support@nexoraz.pro",
        "https://nexoraz.pro/privacy",
        "/optin",
        "/optout",
        "/mydata",
        "/delete",
        "30 days",
        "90 days",
        "do not sell",
        "once per chat account",
    ):
        assert expected in summary.text, expected
    full = await bot.dispatch(inbound(payload=summary.buttons[0].payload, user="600"))
    assert len(full) == 2 and all(isinstance(r, Text) and len(r.text) <= MESSENGER_LIMIT for r in full)
    assert "keyed hash" in texts(full) and "EXIF/GPS" in texts(full)
    assert texts(await bot.dispatch(inbound("/privacy full", user="600"))) == texts(full)


async def test_privacy_summary_in_bengali_with_bengali_digits(services: Services) -> None:
    bot = make_dispatcher(services)
    replies = await bot.dispatch(inbound("গোপনীয়তা", user="601", lang="bn"))
    summary = next(r for r in replies if isinstance(r, Choice))
    assert "১৫ অক্টোবর, ২০২৫" in summary.text
    assert "৩০ দিন" in summary.text and "৯০ দিন" in summary.text
    assert "support@nexoraz.pro" in summary.text and "একমুখী ছাপ" in summary.text
    assert summary.buttons[0].label == "পুরো নীতি"
    full = await bot.dispatch(inbound(payload=summary.buttons[0].payload, user="601", lang="bn"))
    assert "৭. যোগাযোগ" in texts(full) and all(len(r.text) <= MESSENGER_LIMIT for r in full if isinstance(r, Text))


async def test_help_lists_the_privacy_commands(services: Services) -> None:
    bot = make_dispatcher(services)
    for lang in ("en", "bn"):
        reply = await say(bot, inbound("/help", user=f"602{lang}", lang=lang))
        for command in ("/privacy", "/mydata", "/optin", "/optout", "/delete"):
            assert command in reply, (lang, command)


async def test_policy_change_is_announced_once_per_version_in_each_language(services: Services) -> None:
    bot = make_dispatcher(services)
    await say(bot, inbound("hi", user="610", lang="en"))
    await say(bot, inbound("hi", user="611", lang="bn"))
    assert "updated our privacy policy" not in await say(bot, inbound("/credits", user="610"))  # nothing new yet

    services.config = replace(services.config, policy_version=date(2026, 3, 1))
    bot = make_dispatcher(services)
    first = await bot.dispatch(inbound("/credits", user="610"))
    assert isinstance(first[0], Text) and "updated our privacy policy on March 1, 2026" in first[0].text
    assert "credits" in texts(first[1:])  # the message itself is still answered
    assert "updated our privacy policy" not in await say(bot, inbound("/credits", user="610"))

    bengali = await say(bot, inbound("ক্রেডিট", user="611", lang="bn"))
    assert "১ মার্চ, ২০২৬ তারিখে হালনাগাদ" in bengali
    assert "হালনাগাদ" not in await say(bot, inbound("ক্রেডিট", user="611", lang="bn"))

    # A newcomer accepts the current version on arrival: no notice.
    assert "updated our privacy policy" not in await say(bot, inbound("hi", user="612"))
    async with services.db.transaction() as s:
        for external in ("610", "611", "612"):
            user = await users.find(s, Identity("telegram", external))
            assert user is not None and user.policy_version_seen == date(2026, 3, 1)

    services.config = replace(services.config, policy_version=date(2026, 6, 1))
    assert "June 1, 2026" in await say(make_dispatcher(services), inbound("hi", user="610"))
