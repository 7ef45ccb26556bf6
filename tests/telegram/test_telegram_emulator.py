"""The Bot API emulator itself: it must refuse what Telegram refuses, or the other tests prove nothing."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto

from tests.emulators.telegram_api import TOKEN, TelegramAPIEmulator


async def _raw(emulator: TelegramAPIEmulator, method: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{emulator.url}/bot{TOKEN}/{method}", **kwargs) as response,
    ):
        return response.status, await response.json()


@pytest.fixture
async def bot(emulator: TelegramAPIEmulator) -> Any:
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(emulator.url)))
    yield bot
    await bot.session.close()


@pytest.mark.parametrize(
    ("method", "body", "status", "fragment"),
    [
        ("sendMessag", {"chat_id": 1, "text": "hi"}, 404, "Not Found"),
        ("sendMessage", {"chat_id": 1, "text": "hi", "colour": "red"}, 400, "unknown parameter 'colour'"),
        ("sendMessage", {"chat_id": 1}, 400, "'text' is required"),
        ("sendMessage", {"chat_id": 1.5, "text": "hi"}, 400, "chat_id"),
        ("sendMessage", {"chat_id": 1, "text": "hi", "disable_notification": "yes"}, 400, "Boolean"),
        ("sendMessage", {"chat_id": 1, "text": "x" * 4097}, 400, "too long"),
        ("sendMessage", {"chat_id": 1, "text": "<b>hi", "parse_mode": "HTML"}, 400, "end tag"),
        ("sendMessage", {"chat_id": 1, "text": "a < b", "parse_mode": "HTML"}, 400, "can't parse entities"),
        ("sendMessage", {"chat_id": 1, "text": "<blink>x</blink>", "parse_mode": "HTML"}, 400, "Unsupported start tag"),
        (
            "sendMessage",
            {"chat_id": 1, "text": "hi", "reply_markup": {"inline_keyboard": [[{"text": "b", "colour": 1}]]}},
            400,
            "unknown field 'colour'",
        ),
        (
            "sendMessage",
            {
                "chat_id": 1,
                "text": "hi",
                "reply_markup": {"inline_keyboard": [[{"text": "b", "callback_data": "x" * 65}]]},
            },
            400,
            "BUTTON_DATA_INVALID",
        ),
        ("setMyCommands", {"commands": [{"command": "Start", "description": "x"}]}, 400, "BOT_COMMAND_INVALID"),
        ("setMyCommands", {"commands": [{"command": "start"}]}, 400, "requires 'description'"),
        ("setMyCommands", {"commands": [], "scope": {"type": "everyone"}}, 400, "not a valid BotCommandScope"),
        ("sendChatAction", {"chat_id": 1, "action": "dancing"}, 400, "action"),
        ("getFile", {"file_id": "nope"}, 400, "invalid file_id"),
    ],
)
async def test_bad_calls_are_refused_like_telegram_does(
    emulator: TelegramAPIEmulator, method: str, body: dict[str, Any], status: int, fragment: str
) -> None:
    got, answer = await _raw(emulator, method, json=body)
    assert got == status and answer["ok"] is False and answer["error_code"] == status
    assert fragment in answer["description"], answer


async def test_form_fields_are_typed_from_strings(emulator: TelegramAPIEmulator) -> None:
    markup = json.dumps({"inline_keyboard": [[{"text": "ok", "callback_data": "a:1"}]]})
    status, answer = await _raw(emulator, "sendMessage", data={"chat_id": "7", "text": "hi", "reply_markup": markup})
    assert status == 200 and answer["result"]["chat"]["id"] == 7
    status, answer = await _raw(emulator, "sendMessage", data={"chat_id": "7", "text": "hi", "reply_markup": "{"})
    assert status == 400 and "can't parse JSON" in answer["description"]


async def test_a_wrong_token_is_unauthorized(emulator: TelegramAPIEmulator) -> None:
    async with aiohttp.ClientSession() as session, session.post(f"{emulator.url}/bot1:x/getMe") as response:
        assert response.status == 401


async def test_limits_through_the_real_client(emulator: TelegramAPIEmulator, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.send_document(1, BufferedInputFile(b"x", "a.png"), caption="c" * 1025)
    assert (await bot.send_document(1, BufferedInputFile(b"x", "a.png"), caption="c" * 1024)).document
    with pytest.raises(TelegramBadRequest, match="photo is too big"):
        await bot.send_photo(1, BufferedInputFile(b"x" * (10 * 1024 * 1024 + 1), "a.jpg"))
    one = [InputMediaPhoto(media=BufferedInputFile(b"x", "a.jpg"))]
    with pytest.raises(TelegramBadRequest, match="2-10 items"):
        await bot.send_media_group(1, media=one)
    with pytest.raises(TelegramBadRequest, match="2-10 items"):
        await bot.send_media_group(1, media=one * 11)
    sent = await bot.send_media_group(1, media=one * 3)
    assert len(sent) == 3 and len({m.media_group_id for m in sent}) == 1
    long_bengali = "ক্ষ" * 1366  # 3 code units each: 4098 > 4096
    with pytest.raises(TelegramBadRequest, match="too long"):
        await bot.send_message(1, long_bengali)
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="b", callback_data="é" * 33)]])
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):  # 66 bytes in UTF-8
        await bot.send_message(1, "hi", reply_markup=keyboard)


async def test_uploads_are_kept_and_downloadable(emulator: TelegramAPIEmulator, bot: Bot) -> None:
    message = await bot.send_document(
        3, BufferedInputFile(b"PNGDATA", "cut.png"), caption="a &amp; b", parse_mode="HTML"
    )
    assert message.caption == "a & b" and message.document is not None
    upload = next(iter(emulator.calls_to("sendDocument")[-1].uploads.values()))
    assert (upload.filename, upload.data) == ("cut.png", b"PNGDATA")
    file = await bot.get_file(message.document.file_id)
    data = await bot.download_file(file.file_path or "")
    assert data is not None and data.read() == b"PNGDATA"


async def test_get_file_refuses_files_over_20_mb(emulator: TelegramAPIEmulator, bot: Bot) -> None:
    file_id = emulator.add_file(size=25 * 1024 * 1024)
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(file_id)


async def test_faults_429_with_retry_after_and_403_for_a_blocked_chat(emulator: TelegramAPIEmulator, bot: Bot) -> None:
    emulator.fail("sendMessage", retry_after=3, chat_id=5)
    await bot.send_message(6, "other chat is fine")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(5, "hi")
    assert caught.value.retry_after == 3
    await bot.send_message(5, "then it works")
    emulator.block(9)
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(9, "hi")


async def test_get_updates_long_polls_and_confirms_with_offset(emulator: TelegramAPIEmulator, bot: Bot) -> None:
    assert await bot.get_updates(timeout=0) == []
    first = emulator.push(emulator.message(1, "one"))
    emulator.push(emulator.message(1, "two"))
    updates = await bot.get_updates(timeout=1)
    assert [u.update_id for u in updates] == [first, first + 1]
    assert len(await bot.get_updates(offset=first + 1, timeout=0)) == 1
    assert await bot.get_updates(offset=first + 2, timeout=0) == []
    await bot.set_webhook("http://127.0.0.1:1/hook", secret_token="s")
    with pytest.raises(Exception, match="webhook is active"):
        await bot.get_updates(timeout=0)


async def test_callback_queries_are_answered_once(emulator: TelegramAPIEmulator, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="b", callback_data="lang:bn")]])
    await bot.send_message(4, "pick", reply_markup=keyboard)
    query = emulator.press(4, "lang:bn")["callback_query"]
    assert await bot.answer_callback_query(query["id"])
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query["id"])
