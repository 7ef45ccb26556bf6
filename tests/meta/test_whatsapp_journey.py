"""WhatsApp end to end: signed webhooks in, spec-validated Graph API calls out, a real database behind."""

from __future__ import annotations

import logging

import pytest

from bot.channels.base import MediaUnavailable
from handlers.i18n import catalog, to_bengali_digits
from handlers.model import Button, Choice, Image, Kind, Text
from storage import ledger, users
from storage.users import Identity
from tests.meta.conftest import Harness, create_giveaway, wa_button, wa_message, wa_status, wa_text

BD = "8801712345678"
bn = catalog("bn")


async def test_bengali_journey_help_credits_redeem_and_language(harness: Harness) -> None:
    code = await create_giveaway(harness.services, credits=5)
    typed = to_bengali_digits(code.lower())

    for text in ("সাহায্য", "ক্রেডিট", f"redeem {typed}"):
        response = await harness.post("whatsapp", wa_text(BD, text))
        assert response.status_code == 200
    said = "\n".join(harness.wa_texts(BD))
    assert bn("help", cost=1).splitlines()[0] in said
    assert bn("credits-balance", balance=3, cost=1) in said
    assert bn("redeem-ok", credits=5, balance=8) in said

    await harness.post("whatsapp", wa_text(BD, "ভাষা"))
    choice = harness.emulator.sent("whatsapp")[-1]
    assert choice["type"] == "interactive" and choice["interactive"]["type"] == "button"
    buttons = {b["reply"]["title"]: b["reply"]["id"] for b in choice["interactive"]["action"]["buttons"]}
    await harness.post("whatsapp", wa_button(BD, buttons["English"], "English"))
    assert harness.wa_texts(BD)[-1] == catalog("en")("lang-set")

    async with harness.services.db.transaction() as session:
        user = await users.find(session, Identity("whatsapp", BD))
        assert user is not None and user.locale == "en" and user.display_name == "Sheena Nelson"
        assert await ledger.balance(session, user.id or 0) == 8
    reads = [c.body for c in harness.emulator.calls if isinstance(c.body, dict) and c.body.get("status") == "read"]
    assert len(reads) == 5 and all(r["typing_indicator"] == {"type": "text"} for r in reads)
    assert harness.emulator.rejections == []


async def test_a_business_scoped_user_id_keys_the_user_and_the_number_stays_the_chat(harness: Harness) -> None:
    await harness.post("whatsapp", wa_text("16505551234", "help", bsuid="US.13491208655302741918"))
    event = harness.events[-1]
    assert event.user_id == "US.13491208655302741918" and event.chat_id == "16505551234"
    assert event.locale_hint is None
    assert harness.emulator.sent("whatsapp")[-1]["to"] == "16505551234"
    # A username-only user: no phone number in the payload, the BSUID is both user and chat.
    payload = wa_text("0", "help", bsuid="BD.9876543210")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["from"]
    payload["entry"][0]["changes"][0]["value"]["contacts"][0].pop("wa_id")
    await harness.post("whatsapp", payload)
    event = harness.events[-1]
    assert event.user_id == event.chat_id == "BD.9876543210" and event.locale_hint == "bn"


async def test_a_redelivered_webhook_is_answered_once(harness: Harness) -> None:
    payload = wa_text(BD, "help", wamid="wamid.SAME")
    for _ in range(3):
        assert (await harness.post("whatsapp", payload)).status_code == 200
    assert len(harness.wa_texts(BD)) == 1


async def test_a_batch_with_several_entries_dispatches_each(harness: Harness) -> None:
    first, second = wa_text(BD, "help"), wa_text("8801811111111", "credits")
    first["entry"] += second["entry"]
    await harness.post("whatsapp", first)
    assert [e.user_id for e in harness.events] == [BD, "8801811111111"]


async def test_outside_the_24_hour_window_nothing_is_sent(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    await harness.post("whatsapp", wa_text(BD, "help"))
    before = len(harness.emulator.sent("whatsapp"))
    now = harness.whatsapp.window._clock()
    harness.whatsapp.window._clock = lambda: now + 25 * 3600
    with pytest.raises(Exception, match="24 hours"), caplog.at_level(logging.INFO):
        await harness.whatsapp.send(BD, [Text(text="your photos are ready")])
    assert "outside the 24-hour window" in caplog.text
    assert len(harness.emulator.sent("whatsapp")) == before


async def test_a_failed_status_131047_closes_the_window(harness: Harness) -> None:
    await harness.post("whatsapp", wa_text(BD, "help"))
    assert harness.whatsapp.window.is_open(BD)
    for state in ("sent", "delivered", "read"):
        assert (await harness.post("whatsapp", wa_status(BD, "wamid.X", state))).status_code == 200
    assert harness.whatsapp.window.is_open(BD)
    await harness.post("whatsapp", wa_status(BD, "wamid.X", "failed", error_code=131047))
    assert not harness.whatsapp.window.is_open(BD)


async def test_a_6_mb_png_goes_as_a_document_and_a_small_one_as_an_image(harness: Harness) -> None:
    await harness.post("whatsapp", wa_text(BD, "help"))
    big = Image(data=b"\x89PNG" + b"\0" * (6 * 1024 * 1024), name="shoe-white.png", mime="image/png", caption="সাদা")
    small = Image(data=b"\x89PNG" + b"\0" * 1000, name="preview.png", mime="image/png")
    webp = Image(data=b"RIFF" + b"\0" * 1000, name="shoe.webp", mime="image/webp")
    await harness.whatsapp.send(BD, [big, small, webp])
    sent = harness.emulator.sent("whatsapp")[-3:]
    assert [s["type"] for s in sent] == ["document", "image", "document"]
    assert sent[0]["document"]["filename"] == "shoe-white.png" and sent[0]["document"]["caption"] == "সাদা"
    assert len(harness.emulator.uploaded(sent[0]["document"]["id"]).data) == len(big.data)
    assert harness.emulator.rejections == []


async def test_long_titles_fall_back_to_a_list_cut_between_graphemes(harness: Harness) -> None:
    await harness.post("whatsapp", wa_text(BD, "help"))
    long_title = "সাদা ব্যাকগ্রাউন্ড, নরম ছায়া সহ"  # 32 code points, conjuncts included
    await harness.whatsapp.send(
        BD, [Choice(text="একটি ব্যাকগ্রাউন্ড বেছে নিন", buttons=(Button(label=long_title, payload="bg:white"),))]
    )
    listing = harness.emulator.sent("whatsapp")[-1]["interactive"]
    assert listing["type"] == "list" and listing["action"]["button"] == bn("meta-list-button")
    row = listing["action"]["sections"][0]["rows"][0]
    assert len(row["title"]) <= 24 and row["title"].endswith("…") and row["description"] == long_title
    assert row["title"][-2:-1] != "্"  # never cut after a virama (mid-conjunct)
    assert harness.emulator.rejections == []


async def test_more_than_ten_options_become_several_lists(harness: Harness) -> None:
    await harness.post("whatsapp", wa_text(BD, "help"))
    buttons = tuple(Button(label=f"Option {i}", payload=f"opt:{i}") for i in range(23))
    await harness.whatsapp.send(BD, [Choice(text="Pick one", buttons=buttons)])
    lists = harness.emulator.sent("whatsapp")[-3:]
    assert [len(m["interactive"]["action"]["sections"][0]["rows"]) for m in lists] == [10, 10, 3]
    assert lists[0]["interactive"]["action"]["button"] == "Options"
    assert harness.emulator.rejections == []


async def test_long_text_is_split_under_4096(harness: Harness) -> None:
    await harness.post("whatsapp", wa_text(BD, "help"))
    await harness.whatsapp.send(BD, [Text(text="লাইন\n" * 2000)])
    chunks = harness.wa_texts(BD)[-3:]
    assert all(len(c) <= 4096 for c in chunks) and sum(c.count("লাইন") for c in chunks) == 2000


async def test_a_rate_limit_storm_then_success(harness: Harness) -> None:
    await harness.post("whatsapp", wa_text(BD, "help"))
    harness.emulator.fail("rate", times=2)
    harness.emulator.fail("server", times=1)
    await harness.whatsapp.send(BD, [Text(text="done")])
    assert harness.wa_texts(BD)[-1] == "done"
    assert [c.status for c in harness.emulator.calls[-4:]] == [429, 429, 500, 200]


async def test_a_rate_limit_that_does_not_end_gives_up(harness: Harness) -> None:
    await harness.post("whatsapp", wa_text(BD, "help"))
    harness.emulator.fail("rate", times=10)
    with pytest.raises(Exception, match="Rate limit"):
        await harness.whatsapp.send(BD, [Text(text="done")])


async def test_a_photo_arrives_as_a_media_ref_and_is_fetched_with_the_token(harness: Harness) -> None:
    media_id = harness.emulator.add_media(b"\xff\xd8\xff jpeg bytes", "image/jpeg")
    image = {"caption": "জুতা", "mime_type": "image/jpeg", "sha256": "x", "id": media_id}
    await harness.post("whatsapp", wa_message("Image Message", BD, image=image))
    event = harness.events[-1]
    assert event.kind is Kind.PHOTO and event.text == "জুতা" and event.locale_hint == "bn"
    assert event.media[0].file_id == media_id and event.media[0].mime == "image/jpeg"
    assert await harness.whatsapp.fetch_media(media_id) == b"\xff\xd8\xff jpeg bytes"


async def test_media_over_20_mb_is_refused_before_downloading(harness: Harness) -> None:
    media_id = harness.emulator.add_media(b"tiny", "image/jpeg", declared_size=25 * 1024 * 1024)
    with pytest.raises(MediaUnavailable):
        await harness.whatsapp.fetch_media(media_id)
    assert not [c for c in harness.emulator.calls if c.platform == "download"]
    with pytest.raises(MediaUnavailable):
        await harness.whatsapp.fetch_media("404404")


@pytest.mark.parametrize(
    ("example", "fields"),
    [
        ("Location Message", {}),
        ("Unsupported Message", {}),
        ("Text Message", {"type": "sticker", "sticker": {"id": "1", "mime_type": "image/webp"}}),
        ("Text Message", {"type": "audio", "audio": {"id": "2", "mime_type": "audio/ogg"}}),
    ],
)
async def test_stickers_voice_and_locations_are_unsupported(harness: Harness, example: str, fields: dict) -> None:
    await harness.post("whatsapp", wa_message(example, BD, **fields))
    assert harness.events[-1].kind is Kind.UNSUPPORTED
    assert "ছবি" in harness.wa_texts(BD)[-1]


async def test_reactions_and_system_messages_need_no_answer(harness: Harness) -> None:
    await harness.post("whatsapp", wa_message("Reaction Message", BD))
    system = wa_message("Text Message", BD, type="system", system={"body": "changed", "type": "user_changed_number"})
    await harness.post("whatsapp", system)
    assert harness.events == [] and harness.emulator.sent("whatsapp") == []


async def test_document_and_list_reply(harness: Harness) -> None:
    media_id = harness.emulator.add_media(b"%PDF", "application/pdf")
    document = {"id": media_id, "mime_type": "image/png", "filename": "shoe.png"}
    await harness.post("whatsapp", wa_message("Text Message", BD, type="document", document=document))
    assert harness.events[-1].kind is Kind.DOCUMENT and harness.events[-1].media[0].name == "shoe.png"
    reply = {"type": "list_reply", "list_reply": {"id": "lang:bn", "title": "বাংলা"}}
    await harness.post("whatsapp", wa_message("Interactive List Reply Message", BD, interactive=reply))
    assert harness.events[-1].kind is Kind.BUTTON and harness.events[-1].payload == "lang:bn"
