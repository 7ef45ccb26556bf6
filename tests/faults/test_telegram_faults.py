"""Issue #13 on Telegram, against the Bot API emulator with a proxy's HTML pages and a failing file server:
the channel contract, honest delivery, polling that never dies, start-up errors in one line."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot import app as app_module
from bot.channels import telegram as telegram_module
from bot.channels.base import MediaUnavailable, Refused, Unavailable
from bot.channels.telegram import TelegramChannel
from bot.errors import OperatorError
from handlers.model import Text
from storage import jobs
from tests.emulators.telegram_api import TOKEN
from tests.faults.hostile_telegram import HostileTelegram
from tests.faults.stack import small_jpeg
from tests.telegram.telegram_harness import RecordingDispatcher, running_app, telegram_settings

CHAT = 4242
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def hostile() -> AsyncIterator[HostileTelegram]:
    emulator = HostileTelegram()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def channel(tmp_path: Path, hostile: HostileTelegram) -> AsyncIterator[TelegramChannel]:
    settings = telegram_settings(tmp_path, hostile, telegram_bot_username="NexorazTestBot")
    channel = TelegramChannel(settings, RecordingDispatcher())  # type: ignore[arg-type]
    yield channel
    await channel.stop()


@pytest.mark.parametrize(("status", "description"), [(401, "Unauthorized"), (404, "Not Found"), (409, "Conflict")])
async def test_an_odd_refusal_never_drops_the_replies_after_it(
    hostile: HostileTelegram, channel: TelegramChannel, status: int, description: str
) -> None:
    """Case 6: a 401/404/409 escaped the sender and the whole batch was lost (the two-part policy arrived as
    nothing). Now the reply is refused, the ones after it go, and `send` says the delivery was not whole."""
    hostile.fail("sendMessage", status=status, description=description, times=1)
    with pytest.raises(Refused):
        await channel.send(str(CHAT), [Text(text="policy, part one"), Text(text="policy, part two")])
    assert hostile.texts(CHAT) == ["policy, part two"]


async def test_a_non_json_answer_is_unavailable_and_the_rest_still_go(
    hostile: HostileTelegram, channel: TelegramChannel
) -> None:
    hostile.html("sendMessage", times=3)  # every try of the first reply meets the proxy's page
    with pytest.raises(Unavailable):
        await channel.send(str(CHAT), [Text(text="one"), Text(text="two")])
    assert hostile.texts(CHAT) == ["two"]


async def test_file_server_502_is_unavailable_403_is_refused_and_no_token_is_said(
    hostile: HostileTelegram, channel: TelegramChannel, caplog: pytest.LogCaptureFixture
) -> None:
    """Case 3: aiohttp's ClientResponseError has a `code` (the HTTP status): a transient 502 failed the job
    for good, and its text (with the file URL, holding the bot token) reached the log."""
    file_id = hostile.add_file(small_jpeg(64, 48))
    hostile.fail_downloads(502)
    with pytest.raises(Unavailable) as unavailable:
        await channel.fetch_media(file_id)
    assert not isinstance(unavailable.value, Refused)
    assert TOKEN not in str(unavailable.value) and TOKEN.split(":")[1] not in str(unavailable.value)
    assert await channel.fetch_media(file_id) == small_jpeg(64, 48)  # the next try works
    hostile.fail_downloads(404)
    with pytest.raises(MediaUnavailable):
        await channel.fetch_media(file_id)
    with pytest.raises(MediaUnavailable):
        await channel.fetch_media("no-such-file")


async def test_polling_survives_html_answers_and_readyz_says_when_it_is_stale(
    tmp_path: Path, hostile: HostileTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 5: one HTML "502 Bad Gateway" answer to getUpdates ended polling in silence; /readyz stayed 200."""
    monkeypatch.setattr(telegram_module, "POLL_STALE_S", 1.0)
    monkeypatch.setattr(telegram_module, "POLL_BACKOFF_S", 0.2)
    async with running_app(telegram_settings(tmp_path, hostile)) as app:
        url = f"http://127.0.0.1:{app.port}/readyz"
        await hostile.wait_for(lambda: hostile.calls_to("getUpdates"))
        hostile.html("getUpdates", times=1000)  # the proxy in front of the Bot API answers HTML for a while
        await hostile.wait_for(lambda: hostile.html_answers >= 3, timeout=30)
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # stale after poll timeout (1 s) + POLL_STALE_S
                async with http.get(url) as r:
                    status, body = r.status, await r.text()
                if status == 503:
                    break
                await asyncio.sleep(0.1)
            assert status == 503 and "telegram" in body
            hostile._html["getUpdates"].clear()  # the proxy recovers
            hostile.push(hostile.message(CHAT, "/start"))
            await hostile.wait_for(lambda: hostile.texts(CHAT), timeout=60)
            for _ in range(100):
                async with http.get(url) as r:
                    status = r.status
                if status == 200:
                    break
                await asyncio.sleep(0.1)
            assert status == 200


async def test_a_refused_document_is_undelivered_refunded_and_the_chat_keeps_talking(
    tmp_path: Path, hostile: HostileTelegram
) -> None:
    """Case 4: every sendDocument refused, yet the job was `delivered`, the user read "ready" and got nothing,
    the credit kept; meanwhile that chat's other replies waited about 2 minutes."""
    settings = telegram_settings(tmp_path, hostile, segmenter="classical")
    async with running_app(settings) as app:
        hostile.fail("sendDocument", status=400, description="Bad Request: file is too big", times=10, chat_id=CHAT)
        hostile.fail("sendMediaGroup", status=400, description="Bad Request: file is too big", times=10, chat_id=CHAT)
        hostile.push(hostile.photo(CHAT, hostile.add_file(small_jpeg(320, 240))))

        async def finished() -> bool:
            async with app.db.transaction() as s:
                job = await jobs.get(s, 1)
            return job is not None and job.state not in jobs.PENDING

        for _ in range(600):
            if await finished():
                break
            await asyncio.sleep(0.1)
        async with app.db.transaction() as s:
            job = await jobs.get(s, 1)
        assert job is not None and (job.state, job.error_code) == ("undelivered", "refused")
        texts = "\n".join(hostile.texts(CHAT))
        assert "ready" not in texts and "could not send your studio images" in texts
        assert "credit has been returned" in texts
        hostile.push(hostile.message(CHAT, "/credits"))
        await hostile.wait_for(lambda: "3" in hostile.texts(CHAT)[-1], timeout=15)  # refunded: 3 again


async def test_start_up_html_answers_warn_and_the_bot_goes_on(tmp_path: Path, hostile: HostileTelegram) -> None:
    """Case 9: a Bot API server answering getMe or setMyCommands unexpectedly crashed `run` with a traceback."""
    hostile.html("getMe")
    hostile.html("setMyCommands", times=2)
    async with running_app(telegram_settings(tmp_path, hostile)) as app:
        hostile.push(hostile.message(CHAT, "/start"))
        await hostile.wait_for(lambda: hostile.texts(CHAT), timeout=30)
        assert not app.services.config.telegram_bot_username


async def test_start_up_webhook_refused_is_one_line(tmp_path: Path, hostile: HostileTelegram) -> None:
    hostile.html("setWebhook")
    settings = telegram_settings(tmp_path, hostile, telegram_mode="webhook", public_base_url="https://bot.example")
    app = app_module.create_app(settings)
    with pytest.raises(OperatorError, match="setWebhook") as error:
        await app_module.start(app)
    assert "\n" not in str(error.value) and TOKEN not in str(error.value)
    await app_module.stop(app)


async def test_run_prints_one_line_when_setwebhook_fails(tmp_path: Path, hostile: HostileTelegram) -> None:
    """Case 9, as an operator sees it: `python -m bot run` exits 2 with one line naming the step."""
    hostile.html("setWebhook", status=500)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
        "PYTHONPATH": str(REPO),
        "DATA_DIR": str(tmp_path / "data"),
        "HTTP_PORT": "0",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": hostile.url,
        "TELEGRAM_MODE": "webhook",
        "PUBLIC_BASE_URL": "https://bot.example",
        "LOG_LEVEL": "ERROR",
        "SEGMENTER": "classical",  # chosen on purpose: `run` refuses the fallback by accident
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert process.returncode == 2, err.decode()
    assert len(lines) == 1 and "setWebhook" in lines[0] and "Traceback" not in err.decode()


async def test_giveaway_create_reads_the_username_with_getme(tmp_path: Path, hostile: HostileTelegram) -> None:
    """Case 12: with only the token set, `giveaway create` printed no t.me link."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
        "PYTHONPATH": str(REPO),
        "DATA_DIR": str(tmp_path / "data"),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": hostile.url,
    }
    env.pop("TELEGRAM_BOT_USERNAME", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "giveaway", "create", "--credits", "2", "--code", "GETME42", cwd=tmp_path,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    assert "https://t.me/NexorazTestBot?start=GETME42" in out.decode()
    assert len(hostile.calls_to("getMe")) == 1


async def test_logs_hide_the_token_of_a_real_aiohttp_error(
    hostile: HostileTelegram, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case 10: the bot token inside the URL of an aiohttp error (ClientResponseError) reached the log."""
    from bot import logs

    hostile.fail_downloads(502)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure("INFO", key=b"k" * 32, secrets=(TOKEN,))
    try:
        async with aiohttp.ClientSession() as http:
            try:
                async with http.get(f"{hostile.url}/file/bot{TOKEN}/photos/x.jpg", raise_for_status=True):
                    pass
            except aiohttp.ClientResponseError as error:
                assert TOKEN in str(error)  # the real error does carry it
                logging.getLogger("tests.redaction").exception("download failed: %s", error)
                logging.getLogger("tests.redaction").warning("again: %r", error)
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    err = capsys.readouterr().err
    assert "download failed" in err and "again" in err and logs.REDACTED in err
    assert TOKEN not in err and TOKEN.split(":")[1] not in err
