"""Replies going out through `TelegramChannel.send`: formats, limits, 429 storms, blocked users, downloads."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import logs
from bot.channels.base import MediaUnavailable, Refused
from bot.channels.telegram import TelegramChannel
from handlers.config import Config
from handlers.context import Services
from handlers.model import Album, Button, ChatAction, Choice, Document, Image, Progress, Text
from storage import users
from storage.db import Database
from storage.limits import MemoryRateLimiter
from storage.users import Identity
from tests.emulators.telegram_api import TelegramAPIEmulator
from tests.helpers import make_dispatcher
from tests.telegram.telegram_harness import channel_with, telegram_settings

CHAT = 777


@pytest.fixture
async def services(sqlite_url: str) -> AsyncIterator[Services]:
    db = Database(sqlite_url)
    yield Services(db=db, limiter=MemoryRateLimiter(), config=Config(identity_key=b"k" * 32))
    await db.dispose()


@pytest.fixture
async def channel(tmp_path: Path, emulator: TelegramAPIEmulator, services: Services) -> AsyncIterator[TelegramChannel]:
    settings = telegram_settings(tmp_path, emulator, telegram_bot_username="NexorazTestBot")
    async with channel_with(settings, make_dispatcher(services), start=False) as channel:
        yield channel


async def test_a_429_storm_delays_but_loses_nothing_and_keeps_the_order(
    emulator: TelegramAPIEmulator, channel: TelegramChannel
) -> None:
    emulator.fail("sendMessage", retry_after=1, times=2, chat_id=CHAT)
    emulator.fail("sendMessage", retry_after=1, times=3)  # then every chat, for a moment
    started = time.monotonic()
    await asyncio.gather(
        channel.send(str(CHAT), [Text(text=f"message {i}") for i in range(6)]),
        channel.send("778", [Text(text="other chat")]),
        channel.send("779", [Text(text="third chat")]),
    )
    assert emulator.texts(CHAT) == [f"message {i}" for i in range(6)]
    assert emulator.texts(778) == ["other chat"] and emulator.texts(779) == ["third chat"]
    assert len(emulator.calls_to("sendMessage", ok=False)) == 5
    assert time.monotonic() - started >= 1.0


async def test_a_blocked_user_is_marked_unreachable_and_not_written_to_again(
    emulator: TelegramAPIEmulator, channel: TelegramChannel, services: Services
) -> None:
    async with services.db.transaction() as session:
        await users.get_or_create(session, Identity("telegram", str(CHAT)), locale="bn", display_name="R")
    emulator.block(CHAT)
    with pytest.raises(Refused):  # the channel contract: a refusal is said, never delivered in silence
        await channel.send(str(CHAT), [Text(text="one"), Text(text="two")])
    with pytest.raises(Refused):
        await channel.send(str(CHAT), [Text(text="three")])
    assert len(emulator.calls_to("sendMessage")) == 1  # the first 403 stops the rest
    async with services.db.transaction() as session:
        user = await users.find(session, Identity("telegram", str(CHAT)))
        assert user is not None and user.unreachable


async def test_a_400_is_logged_with_the_method_and_ids_but_not_the_words(
    emulator: TelegramAPIEmulator, channel: TelegramChannel, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.fail("sendMessage", status=400, description="Bad Request: chat not found")
    with caplog.at_level(logging.WARNING, logger="bot.channels.telegram_send"), pytest.raises(Refused):
        await channel.send(str(CHAT), [Text(text="secret words"), Text(text="next")])
    logged = caplog.text
    assert "sendMessage" in logged and f"chat={logs.pseudonym(str(CHAT))}" in logged and "chat not found" in logged
    assert "secret words" not in logged and f"chat_id={CHAT}" not in logged  # chats appear as keyed hashes
    assert emulator.texts(CHAT) == ["next"]


async def test_long_text_is_split_at_lines_and_never_inside_a_character(
    emulator: TelegramAPIEmulator, channel: TelegramChannel
) -> None:
    lines = "\n".join(f"line {i}: " + "x" * 60 for i in range(200))  # ~14,000 characters
    bengali = "ক্ষমা" * 1000  # conjuncts and vowel signs, no spaces: cut between graphemes
    await channel.send(str(CHAT), [Text(text=lines), Text(text=bengali)])
    texts = emulator.texts(CHAT)
    assert all(len(t.encode("utf-16-le")) // 2 <= 4096 for t in texts)
    split_at = next(i for i, t in enumerate(texts) if t.startswith("ক"))
    assert "\n".join(texts[:split_at]) == lines
    assert all(t.startswith("line ") for t in texts[:split_at])
    assert "".join(texts[split_at:]) == bengali and all(t.startswith("ক্ষ") for t in texts[split_at:])


async def test_html_special_characters_arrive_as_typed(emulator: TelegramAPIEmulator, channel: TelegramChannel) -> None:
    typed = '<b>5 < 6 & 7 > 2</b> "quoted" &amp; done'
    await channel.send(
        str(CHAT), [Text(text=typed), Document(data=b"x", name="a.png", mime="image/png", caption=typed)]
    )
    assert emulator.texts(CHAT) == [typed, typed]
    assert emulator.calls_to("sendMessage")[0].params["parse_mode"] == "HTML"


async def test_choice_becomes_an_inline_keyboard_without_unfit_payloads(
    emulator: TelegramAPIEmulator, channel: TelegramChannel
) -> None:
    buttons = (
        Button(label="White", payload="st:white"),
        Button(label="Shadow", payload="st:shadow"),
        Button(label="Bad", payload="x" * 65),
    )
    await channel.send(str(CHAT), [Choice(text="Pick one", buttons=buttons)])
    rows = emulator.last_message(CHAT)["reply_markup"]["inline_keyboard"]
    assert [b["callback_data"] for row in rows for b in row] == ["st:white", "st:shadow"]


async def test_progress_is_one_message_edited_in_place(emulator: TelegramAPIEmulator, channel: TelegramChannel) -> None:
    await channel.send(str(CHAT), [Progress(key="job:1", text="You are #2 in the queue")])
    await channel.send(str(CHAT), [Progress(key="job:1", text="Rendering…"), Progress(key="job:1", text="Rendering…")])
    await channel.send(str(CHAT), [Progress(key="job:2", text="You are #1")])
    assert emulator.texts(CHAT) == ["Rendering…", "You are #1"]
    assert len(emulator.calls_to("editMessageText", ok=True)) == 1


async def test_results_go_as_documents_and_previews_as_photos(
    emulator: TelegramAPIEmulator, channel: TelegramChannel
) -> None:
    jpeg, png = b"\xff\xd8jpeg", b"\x89PNGdata"
    await channel.send(
        str(CHAT),
        [
            ChatAction(action="upload_photo"),
            Image(data=jpeg, name="preview.jpg", mime="image/jpeg", caption="p" * 2000),
            Image(data=png, name="cut.png", mime="image/png"),
            Document(data=png, name="studio.png", mime="image/png"),
        ],
    )
    assert [c.method for c in emulator.calls] == ["sendChatAction", "sendPhoto", "sendDocument", "sendDocument"]
    caption = emulator.texts(CHAT)[0]
    assert len(caption) <= 1024 and caption.endswith("…")
    assert emulator.calls_to("sendChatAction")[0].params["action"] == "upload_photo"


async def test_albums_use_media_groups_of_2_to_10(emulator: TelegramAPIEmulator, channel: TelegramChannel) -> None:
    docs = tuple(Document(data=b"png%d" % i, name=f"{i}.png", mime="image/png") for i in range(12))
    photos = tuple(Image(data=b"jpg%d" % i, name=f"{i}.jpg", mime="image/jpeg") for i in range(3))
    await channel.send(str(CHAT), [Album(items=docs), Album(items=photos + docs[:1]), Album(items=docs[:1])])
    groups = emulator.calls_to("sendMediaGroup", ok=True)
    assert [len(c.params["media"]) for c in groups] == [6, 6, 3]
    assert {m["type"] for m in groups[2].params["media"]} == {"photo"}
    assert len(emulator.calls_to("sendDocument", ok=True)) == 2  # the lone document after the photos, and the last
    assert [c for c in emulator.calls if c.status != 200] == []


async def test_fetch_media_downloads_and_refuses_files_over_20_mb(
    emulator: TelegramAPIEmulator, channel: TelegramChannel
) -> None:
    small = emulator.add_file(b"\xff\xd8 a photo")
    assert await channel.fetch_media(small) == b"\xff\xd8 a photo"
    huge = emulator.add_file(size=25 * 1024 * 1024)
    with pytest.raises(MediaUnavailable):
        await channel.fetch_media(huge)
    with pytest.raises(MediaUnavailable):
        await channel.fetch_media("no-such-file")


async def test_sends_build_no_pydantic_models_once_the_channel_exists(
    emulator: TelegramAPIEmulator, channel: TelegramChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiogram reads every answer through `Response[<type>]`; pydantic kept those models only weakly, so after
    a garbage collection each send built one again (a tenth of the front's CPU under load)."""
    from pydantic._internal import _generics

    built: list[object] = []
    real = _generics.create_generic_submodel

    def counting(*args: object, **kwargs: object) -> object:
        built.append(args[0])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_generics, "create_generic_submodel", counting)
    for _ in range(3):
        gc.collect()
        replies = [
            Text(text="ping"),
            ChatAction(action="typing"),
            Choice(text="pick", buttons=(Button(label="a", payload="a"),)),
        ]
        await channel.send(str(CHAT), replies)
    assert built == []
    assert emulator.texts(CHAT)[:3] == ["ping", "pick", "ping"]
