"""Issue #13 on WhatsApp and Messenger, through the Graph API emulator: the channel contract (only Refused
or Unavailable leave `send` and `fetch_media`), a failed reply never drops the ones after it, and the logs
carry keyed hashes instead of phone numbers and PSIDs."""

from __future__ import annotations

import logging

import pytest

from bot import logs
from bot.channels.base import MediaUnavailable, Refused, Unavailable
from bot.channels.whatsapp import WhatsAppChannel
from bot.settings import Settings
from handlers.model import Document, Text
from tests.meta.conftest import Harness, fb_envelope, fb_event, wa_status, wa_text

WA_USER = "8801712345678"
PSID = "24681357924680"


async def test_whatsapp_contract_unavailable_refused_and_the_rest_still_go(harness: Harness) -> None:
    await harness.post("whatsapp", wa_text(WA_USER, "hi"))
    harness.emulator.fail("server", times=50)  # Meta down for longer than the client's retries
    with pytest.raises(Unavailable):
        await harness.whatsapp.send(WA_USER, [Text(text="one")])
    harness.emulator._failures.clear()
    harness.emulator.fail("window", times=1)
    with pytest.raises(Refused):
        await harness.whatsapp.send(WA_USER, [Text(text="two")])
    big = Document(data=b"x" * (100 * 1024 * 1024 + 1), name="huge.png", mime="image/png")
    with pytest.raises(Refused):  # used to be skipped in silence, and the job marked delivered
        await harness.whatsapp.send(WA_USER, [big, Text(text="after the refused file")])
    assert harness.wa_texts(WA_USER)[-1] == "after the refused file"


async def test_whatsapp_media_contract(harness: Harness, meta_settings: Settings) -> None:
    with pytest.raises(MediaUnavailable):
        await harness.whatsapp.fetch_media("no-such-media")
    media_id = harness.emulator.add_media(b"\xff\xd8\xff jpeg", "image/jpeg")
    assert await harness.whatsapp.fetch_media(media_id) == b"\xff\xd8\xff jpeg"
    unreachable = WhatsAppChannel(
        meta_settings.model_copy(update={"graph_api_base": "http://127.0.0.1:1"}), harness.dispatcher
    )
    unreachable.graph.retries = 0
    try:
        with pytest.raises(Unavailable) as error:  # Meta unreachable is not "the photo is gone"
            await unreachable.fetch_media(media_id)
        assert not isinstance(error.value, Refused)
    finally:
        await unreachable.stop()


async def test_messenger_blocked_user_is_refused_and_marked(harness: Harness) -> None:
    await harness.post("messenger", fb_envelope(fb_event("Text Message", PSID, text="help")))
    harness.emulator.fail("blocked", times=1)
    with pytest.raises(Refused):
        await harness.messenger.send(PSID, [Text(text="one"), Text(text="two")])
    with pytest.raises(MediaUnavailable):
        await harness.messenger.fetch_media("not a url")


async def test_whatsapp_statuses_and_failures_log_pseudonyms_not_phone_numbers(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Case 10: WhatsApp phone numbers were logged at INFO on every status."""
    with caplog.at_level(logging.DEBUG, logger="bot.channels"):
        await harness.post("whatsapp", wa_text(WA_USER, "hi"))
        await harness.post("whatsapp", wa_status(WA_USER, "wamid.X1", "delivered"))
        await harness.post("whatsapp", wa_status(WA_USER, "wamid.X2", "failed", error_code=131047))
        harness.emulator.fail("server", times=50)
        await harness.post("whatsapp", wa_text(WA_USER, "credits"))
    assert logs.pseudonym(WA_USER) in caplog.text
    assert WA_USER not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and "delivered" in r.getMessage()]


async def test_database_errors_never_carry_their_parameters(harness: Harness) -> None:
    """Case 10: SQLAlchemy errors logged their bound parameters (names, phone numbers)."""
    from sqlalchemy import text

    with pytest.raises(Exception) as error:
        async with harness.services.db.transaction() as session:
            await session.execute(text("INSERT INTO no_such_table (phone) VALUES (:phone)"), {"phone": WA_USER})
    assert WA_USER not in str(error.value)
    assert "hidden due to hide_parameters" in str(error.value) or "no_such_table" in str(error.value)
