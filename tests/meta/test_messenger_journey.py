"""Messenger end to end: page webhooks in, Send API calls out through the emulator, a real database behind."""

from __future__ import annotations

import pytest

from bot.channels.base import MediaUnavailable
from handlers.i18n import catalog, to_bengali_digits
from handlers.model import Button, Choice, Document, Image, Kind, Text
from storage import ledger, users
from storage.users import Identity
from tests.meta.conftest import Harness, create_giveaway, fb_envelope, fb_event

PSID = "24012345678901234"
bn, en = catalog("bn"), catalog("en")


async def test_bengali_journey_with_quick_replies_and_postbacks(harness: Harness) -> None:
    code = await create_giveaway(harness.services, credits=4)
    await harness.post("messenger", fb_envelope(fb_event("Postback", PSID, payload="GET_STARTED", title="Get Started")))
    await harness.post("messenger", fb_envelope(fb_event("Text Message", PSID, text="বাংলা")))
    for text in ("সাহায্য", "ক্রেডিট", f"রিডিম {to_bengali_digits(code)}"):
        await harness.post("messenger", fb_envelope(fb_event("Text Message", PSID, text=text)))
    said = "\n".join(harness.fb_texts())
    assert (
        en("welcome", credits=3, page="https://facebook.com/nexoraz", video="https://nexoraz.pro/how-to")[:20] in said
    )
    assert bn("credits-balance", balance=3, cost=1) in said
    assert bn("redeem-ok", credits=4, balance=7) in said

    await harness.post("messenger", fb_envelope(fb_event("Text Message", PSID, text="/lang")))
    last = harness.emulator.sent("messenger")[-1]
    assert last["messaging_type"] == "RESPONSE"
    quick = {q["title"]: q["payload"] for q in last["message"]["quick_replies"]}
    tapped = fb_event("Text Message", PSID, text="English", quick_reply={"payload": quick["English"]})
    await harness.post("messenger", fb_envelope(tapped))
    assert harness.events[-1].kind is Kind.BUTTON and harness.fb_texts()[-1] == en("lang-set")

    menu = fb_event("Postback", PSID, payload="cmd:credits", title="My credits")
    await harness.post("messenger", fb_envelope(menu))
    assert harness.fb_texts()[-1].startswith(en("credits-balance", balance=7, cost=1))
    seen = [c.body for c in harness.emulator.calls if isinstance(c.body, dict) and c.body.get("sender_action")]
    assert seen and all(s["sender_action"] == "mark_seen" for s in seen)
    assert harness.emulator.rejections == []


async def test_an_m_me_referral_redeems_a_giveaway_code(harness: Harness) -> None:
    code = await create_giveaway(harness.services, credits=5)
    new_user = fb_event("Postback", PSID, payload="GET_STARTED", title="Get Started")
    new_user["postback"]["referral"] = {"ref": code, "source": "SHORTLINK", "type": "OPEN_THREAD"}
    await harness.post("messenger", fb_envelope(new_user))
    assert harness.events[-1].text == f"/start {code}"
    assert en("redeem-ok", credits=5, balance=8) in harness.fb_texts()
    # An existing conversation gets the referral alone; a second use by the same person is refused.
    existing = {
        "sender": {"id": PSID},
        "recipient": {"id": "682498302938465"},
        "timestamp": 1_700_000_000_000,
        "referral": {"ref": code, "source": "SHORTLINK", "type": "OPEN_THREAD"},
    }
    await harness.post("messenger", fb_envelope(existing))
    assert harness.fb_texts()[-1] == en("redeem-rejected")
    async with harness.services.db.transaction() as session:
        user = await users.find(session, Identity("messenger", PSID))
        assert user is not None and await ledger.balance(session, user.id or 0) == 8


async def test_the_profile_has_get_started_and_menus_in_both_languages(harness: Harness) -> None:
    profile = harness.emulator.profile
    assert profile["get_started"] == {"payload": "GET_STARTED"}
    menus = {m["locale"]: [a["title"] for a in m["call_to_actions"]] for m in profile["persistent_menu"]}
    assert menus["default"][0] == en("meta-menu-help") and menus["bn_IN"][0] == bn("meta-menu-help")
    assert {g["locale"] for g in profile["greeting"]} == {"default", "bn_IN"}


async def test_a_redelivered_message_is_answered_once_and_echoes_are_ignored(harness: Harness) -> None:
    event = fb_event("Text Message", PSID, text="help")
    for _ in range(2):
        await harness.post("messenger", fb_envelope(event))
    echo = fb_event("Message echo", PSID)
    echo["sender"], echo["recipient"] = echo["recipient"], echo["sender"]
    await harness.post("messenger", fb_envelope(echo))
    assert len(harness.fb_texts()) == 1 and len(harness.events) == 2  # the echo is not dispatched


async def test_image_attachments_and_fetching_their_expiring_urls(harness: Harness) -> None:
    url = harness.emulator.add_attachment_url(b"\xff\xd8\xff photo")
    event = fb_event("Message with attachment (entry)", PSID)
    event = event["messaging"][0]
    event["sender"] = {"id": PSID}
    event["message"]["attachments"][0]["payload"]["url"] = url
    await harness.post("messenger", fb_envelope(event))
    inbound = harness.events[-1]
    assert inbound.kind is Kind.PHOTO and inbound.media[0].file_id == url
    assert await harness.messenger.fetch_media(url) == b"\xff\xd8\xff photo"
    harness.emulator.expire_attachments()
    with pytest.raises(MediaUnavailable):
        await harness.messenger.fetch_media(url)
    big = harness.emulator.add_attachment_url(b"\0" * (21 * 1024 * 1024))
    with pytest.raises(MediaUnavailable):
        await harness.messenger.fetch_media(big)


async def test_several_images_in_one_message_are_an_album_and_stickers_are_unsupported(harness: Harness) -> None:
    urls = [harness.emulator.add_attachment_url(bytes([i]) * 10) for i in range(3)]
    attachments = [{"type": "image", "payload": {"url": u}} for u in urls]
    await harness.post("messenger", fb_envelope(fb_event("Text Message", PSID, attachments=attachments)))
    album = harness.events[-3:]
    assert {e.kind for e in album} == {Kind.ALBUM_ITEM} and len({e.album_key for e in album}) == 1
    assert len({e.event_id for e in album}) == 3
    sticker = [{"type": "image", "payload": {"url": urls[0], "sticker_id": 369239263222822}}]
    event = fb_event("Text Message", PSID, attachments=sticker)
    del event["message"]["text"]
    await harness.post("messenger", fb_envelope(event))
    assert harness.events[-1].kind is Kind.UNSUPPORTED


async def test_results_are_uploaded_as_attachments(harness: Harness) -> None:
    await harness.post("messenger", fb_envelope(fb_event("Text Message", PSID, text="help")))
    png = Document(data=b"\x89PNG" + b"\0" * (6 * 1024 * 1024), name="shoe.png", mime="image/png", caption="সাদা")
    await harness.messenger.send(PSID, [Image(data=b"\xff\xd8\xff", name="p.jpg", mime="image/jpeg"), png])
    sent = harness.emulator.sent("messenger")[-3:]
    kinds = [s["message"].get("attachment", {}).get("type") for s in sent]
    assert kinds == ["image", "file", None] and sent[-1]["message"]["text"] == "সাদা"
    file_id = sent[1]["message"]["attachment"]["payload"]["attachment_id"]
    assert len(harness.emulator.uploaded(file_id).data) == len(png.data)
    assert harness.emulator.rejections == []


async def test_long_text_many_buttons_and_long_titles_fit_messenger(harness: Harness) -> None:
    await harness.post("messenger", fb_envelope(fb_event("Text Message", PSID, text="help")))
    await harness.messenger.send(PSID, [Text(text="শব্দ " * 1000)])
    assert all(len(t) <= 2000 for t in harness.fb_texts()[-3:])
    long_title = "সাদা ব্যাকগ্রাউন্ড, নরম ছায়া সহ"
    few = (Button(label=long_title, payload="bg:white"), Button(label="Other", payload="bg:other"))
    await harness.messenger.send(PSID, [Choice(text="বেছে নিন", buttons=few)])
    title = harness.emulator.sent("messenger")[-1]["message"]["quick_replies"][0]["title"]
    assert len(title) <= 20 and title.endswith("…") and long_title.startswith(title[:-1])
    many = tuple(Button(label=f"Style {i}", payload=f"st:{i}") for i in range(14))
    await harness.messenger.send(PSID, [Choice(text="বেছে নিন", buttons=many)])
    templates = harness.emulator.sent("messenger")[-5:]
    assert [len(t["message"]["attachment"]["payload"]["buttons"]) for t in templates] == [3, 3, 3, 3, 2]
    assert templates[0]["message"]["attachment"]["payload"]["text"] == bn("meta-more-options")
    assert harness.emulator.rejections == []


async def test_outside_the_window_and_a_blocked_user(harness: Harness) -> None:
    harness.messenger.window.close("999")  # Meta said so earlier (or the window ran out here)
    with pytest.raises(Exception, match="24 hours"):
        await harness.messenger.send("999", [Text(text="hello")])
    await harness.post("messenger", fb_envelope(fb_event("Text Message", PSID, text="help")))
    harness.emulator.fail("window")
    with pytest.raises(Exception, match="Outside of allowed window"):
        await harness.messenger.send(PSID, [Text(text="late")])
    harness.emulator.fail("blocked")
    with pytest.raises(Exception, match="isn't available"):
        await harness.messenger.send(PSID, [Text(text="late")])
    async with harness.services.db.transaction() as session:
        user = await users.find(session, Identity("messenger", PSID))
        assert user is not None and user.unreachable


async def test_a_rate_limit_storm_then_success(harness: Harness) -> None:
    await harness.post("messenger", fb_envelope(fb_event("Text Message", PSID, text="help")))
    harness.emulator.fail("rate", times=3)
    await harness.messenger.send(PSID, [Text(text="done")])
    assert harness.fb_texts()[-1] == "done"
