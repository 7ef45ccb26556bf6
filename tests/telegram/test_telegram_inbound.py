"""Updates -> `Inbound`, as the handlers receive them: long polling the emulator, a recording dispatcher at the
boundary (the photo flow itself is tested on its own)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from handlers.model import Channel, Inbound, Kind, Reply, Text
from tests.emulators.telegram_api import TelegramAPIEmulator
from tests.telegram.telegram_harness import RecordingDispatcher, channel_with, telegram_settings

CHAT = 4242
MB = 1024 * 1024


@pytest.fixture
async def recorder(tmp_path: Path, emulator: TelegramAPIEmulator) -> AsyncIterator[RecordingDispatcher]:
    recorder = RecordingDispatcher()
    settings = telegram_settings(tmp_path, emulator, telegram_bot_username="NexorazTestBot")
    async with channel_with(settings, recorder):
        yield recorder


async def _events(emulator: TelegramAPIEmulator, recorder: RecordingDispatcher, count: int) -> list[Inbound]:
    await emulator.wait_for(lambda: len(recorder.events) >= count)
    await asyncio.sleep(0.05)
    assert len(recorder.events) == count
    return recorder.events


async def test_text_and_commands_keep_their_text_and_carry_the_person(
    emulator: TelegramAPIEmulator, recorder: RecordingDispatcher
) -> None:
    first = emulator.push(emulator.message(CHAT, "/help@NexorazTestBot", lang="bn-BD"))
    emulator.push(emulator.message(CHAT, "/start EID7K3"))
    emulator.push(emulator.message(CHAT, "ক্রেডিট"))
    help_, start, text = await _events(emulator, recorder, 3)
    assert help_.channel is Channel.TELEGRAM and help_.kind is Kind.COMMAND
    assert (help_.text, help_.event_id, help_.locale_hint) == ("/help@NexorazTestBot", str(first), "bn-BD")
    assert (help_.user_id, help_.chat_id, help_.display_name) == (str(CHAT), str(CHAT), "Rahim")
    assert start.text == "/start EID7K3" and start.kind is Kind.COMMAND
    assert text.kind is Kind.TEXT and text.text == "ক্রেডিট"


async def test_a_photo_is_passed_as_its_largest_size(
    emulator: TelegramAPIEmulator, recorder: RecordingDispatcher
) -> None:
    file_id = emulator.add_file(b"\xff\xd8" * 1000)
    emulator.push(emulator.photo(CHAT, file_id, caption="my shoe"))
    (event,) = await _events(emulator, recorder, 1)
    assert event.kind is Kind.PHOTO and event.text == "my shoe" and event.album_key is None
    (media,) = event.media
    assert (media.file_id, media.mime, media.size) == (file_id, "image/jpeg", 2000)


async def test_a_huge_file_is_passed_with_its_declared_size(
    emulator: TelegramAPIEmulator, recorder: RecordingDispatcher
) -> None:
    file_id = emulator.add_file(size=25 * MB)
    emulator.push(emulator.photo(CHAT, file_id))
    (event,) = await _events(emulator, recorder, 1)
    assert event.media[0].size == 25 * MB
    assert emulator.calls_to("getFile") == []  # nothing is downloaded on receipt


async def test_an_album_of_three_photos_gives_three_items_with_one_key(
    emulator: TelegramAPIEmulator, recorder: RecordingDispatcher
) -> None:
    for i in range(3):
        emulator.push(emulator.photo(CHAT, emulator.add_file(b"p%d" % i), media_group_id="13579"))
    events = await _events(emulator, recorder, 3)
    assert [e.kind for e in events] == [Kind.ALBUM_ITEM] * 3
    assert {e.album_key for e in events} == {"13579"}
    assert len({e.media[0].file_id for e in events}) == 3


async def test_an_image_sent_as_a_file_is_a_document_and_other_files_are_not_photos(
    emulator: TelegramAPIEmulator, recorder: RecordingDispatcher
) -> None:
    png = {
        "file_id": "doc-1",
        "file_unique_id": "d1",
        "file_name": "shoe.png",
        "mime_type": "image/png",
        "file_size": 9,
    }
    heic = {"file_id": "doc-2", "file_unique_id": "d2", "file_name": "IMG_1.HEIC", "file_size": 9}
    pdf = {"file_id": "doc-3", "file_unique_id": "d3", "file_name": "a.pdf", "mime_type": "application/pdf"}
    for document in (png, heic, pdf):
        emulator.push(emulator.message(CHAT, document=document))
    emulator.push(
        emulator.message(
            CHAT,
            sticker={
                "file_id": "s",
                "file_unique_id": "s",
                "type": "regular",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
            },
        )
    )
    emulator.push(emulator.message(CHAT, location={"latitude": 23.8, "longitude": 90.4}))
    emulator.push(emulator.message(CHAT, voice={"file_id": "v", "file_unique_id": "v", "duration": 2}))
    events = await _events(emulator, recorder, 6)
    assert [e.kind for e in events] == [Kind.DOCUMENT, Kind.DOCUMENT] + [Kind.UNSUPPORTED] * 4
    assert events[0].media[0].mime == "image/png" and events[0].media[0].name == "shoe.png"


async def test_a_button_press_is_answered_and_passed_with_its_payload(
    emulator: TelegramAPIEmulator, recorder: RecordingDispatcher
) -> None:
    emulator.seed_bot_message(CHAT, "Choose", {"inline_keyboard": [[{"text": "বাংলা", "callback_data": "lang:bn"}]]})
    emulator.push(emulator.press(CHAT, "lang:bn", lang="bn"))
    (event,) = await _events(emulator, recorder, 1)
    assert event.kind is Kind.BUTTON and event.payload == "lang:bn" and event.chat_id == str(CHAT)
    await emulator.wait_for(lambda: emulator.answered_queries)


async def test_bad_updates_and_failing_handlers_never_stop_polling(
    emulator: TelegramAPIEmulator, recorder: RecordingDispatcher
) -> None:
    def answer(event: Inbound) -> list[Reply]:
        if event.text == "boom":
            raise RuntimeError("a handler bug")
        return [Text(text="ok: " + event.text)]

    recorder.answer = answer
    emulator.push({"message": {"message_id": 1, "date": 0, "chat": "not a chat", "text": "broken"}})
    emulator.push(emulator.message(CHAT, "boom"))
    emulator.push({"edited_message": emulator.message(CHAT, "edited")["message"]})
    emulator.push(emulator.message(CHAT, "still here"))
    await emulator.wait_for(lambda: emulator.texts(CHAT) == ["ok: still here"])
    assert [e.text for e in recorder.events] == ["boom", "still here"]


async def test_each_update_is_dispatched_once_and_confirmed(
    emulator: TelegramAPIEmulator, recorder: RecordingDispatcher
) -> None:
    for i in range(5):
        emulator.push(emulator.message(CHAT + i, f"hello {i}"))
    await _events(emulator, recorder, 5)
    await emulator.wait_for(lambda: len(emulator.calls_to("getUpdates")) >= 3)
    assert sorted(e.text for e in recorder.events) == [f"hello {i}" for i in range(5)]
