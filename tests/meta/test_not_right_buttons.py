"""The result's buttons, "not right?" among them, reach WhatsApp and Messenger within their limits (the Graph API
emulator validates every call against the platforms' specs). Telegram: tests/telegram/test_telegram_full_journey.py;
the refund itself: tests/photos/test_not_right.py."""

from __future__ import annotations

from handlers.i18n import catalog
from handlers.model import Choice
from handlers.results import result_replies
from storage.models import RenderJob
from tests.meta.conftest import Harness, fb_envelope, fb_event, wa_text

BD = "8801712345678"
PSID = "6123456789012345"
bn = catalog("bn")


def result_choice() -> Choice:
    job = RenderJob(id=42, user_id=1, channel="whatsapp", chat_id=BD, batch_key="b", style="white", size="original")
    (choice,) = [r for r in result_replies(bn, job, [], balance=2) if isinstance(r, Choice)]
    return choice


async def test_whatsapp_lists_not_right_with_the_other_options(harness: Harness) -> None:
    await harness.post("whatsapp", wa_text(BD, "help"))
    await harness.whatsapp.send(BD, [result_choice()])
    rows = [
        row
        for message in harness.emulator.sent("whatsapp")
        if message.get("type") == "interactive" and message["interactive"]["type"] == "list"
        for section in message["interactive"]["action"]["sections"]
        for row in section["rows"]
    ]
    assert any(r["id"] == "nr:42" and r["title"] == bn("not-right-button") for r in rows)
    assert harness.emulator.rejections == []


async def test_messenger_offers_not_right_as_a_quick_reply(harness: Harness) -> None:
    await harness.post("messenger", fb_envelope(fb_event("Text Message", PSID, text="hello")))
    await harness.messenger.send(PSID, [result_choice()])
    quick = {q["payload"]: q["title"] for q in harness.emulator.sent("messenger")[-1]["message"]["quick_replies"]}
    assert quick["nr:42"] == bn("not-right-button")
    assert harness.emulator.rejections == []
