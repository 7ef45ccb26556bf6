"""Issue 18 (5): contacts and links the operator did not configure are left out, never invented."""

from __future__ import annotations

from dataclasses import replace

from bot.settings import Settings
from handlers.config import Config
from handlers.context import Services
from tests.conftest import inbound
from tests.helpers import make_dispatcher, say

INVENTED = (
    "+8801700000000",
    "facebook.com/nexoraz",
    "nexoraz.pro/pricing",
    "nexoraz.pro/how-to",
    "nexoraz.pro/privacy",
)


def unconfigured(services: Services) -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    services.config = replace(
        services.config,
        support_whatsapp=defaults.support_whatsapp,
        facebook_page_url=defaults.facebook_page_url,
        upgrade_url=defaults.upgrade_url,
        tutorial_video_url=defaults.tutorial_video_url,
        privacy_url=defaults.privacy_url,
    )


async def test_unset_contacts_leave_their_sentences_out(services: Services) -> None:
    unconfigured(services)
    bot = make_dispatcher(services)
    for lang, texts in (("en", ("/start", "support", "credits", "privacy")), ("bn", ("শুরু", "যোগাযোগ", "ক্রেডিট"))):
        for n, text in enumerate(texts):
            reply = await say(bot, inbound(text, user=f"{lang}-{n}", lang=lang))
            assert not any(made_up in reply for made_up in INVENTED), reply
            for label in ("WhatsApp:", "Facebook page:", "Facebook পেজ:", "How-to video:"):
                assert label not in reply, (label, reply)
            assert not any(line.endswith(": ") for line in reply.splitlines()), reply  # a label with no value
    support = await say(bot, inbound("support", user="s-1", lang="en"))
    assert "E-mail: support@nexoraz.pro" in support  # the one contact that is always configured


async def test_configured_contacts_each_get_their_line(services: Services) -> None:
    services.config = replace(services.config, support_whatsapp="+8801911111111", facebook_page_url="")
    bot = make_dispatcher(services)
    support = await say(bot, inbound("support", user="c-1", lang="en"))
    assert "WhatsApp: +8801911111111" in support and "Facebook page" not in support
    credits = await say(bot, inbound("credits", user="c-1", lang="en"))
    assert "Prices and packs: https://nexoraz.pro/pricing" in credits and "giveaway codes" not in credits


def test_settings_leave_contacts_empty_by_default_and_require_an_email() -> None:
    import pytest

    from bot.errors import OperatorError
    from bot.settings import load_settings

    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert not any(
        (defaults.support_whatsapp, defaults.facebook_page_url, defaults.upgrade_url, defaults.tutorial_video_url)
    )
    assert Config().support_email == defaults.support_email
    with pytest.raises(OperatorError, match="SUPPORT_EMAIL"):
        load_settings(support_email=" ", _env_file=None)
