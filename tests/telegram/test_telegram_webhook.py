"""Webhook mode on the shared HTTP server: registration, the secret token, acknowledging only after the update
is recorded, redeliveries."""

from __future__ import annotations

import asyncio
import itertools
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.channels.telegram import WEBHOOK_PATH
from handlers.model import Inbound, Reply
from storage import users
from storage.users import Identity
from tests.emulators.telegram_api import TelegramAPIEmulator
from tests.telegram.telegram_harness import RecordingDispatcher, channel_with, running_app, telegram_settings

CHAT = 8080
_update_ids = itertools.count(500)
SECRET = "s3cret-Token_42"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _webhook_settings(tmp_path: Path, emulator: TelegramAPIEmulator) -> Any:
    port = _free_port()
    return telegram_settings(
        tmp_path,
        emulator,
        http_port=port,
        telegram_mode="webhook",
        public_base_url=f"http://127.0.0.1:{port}",
        telegram_webhook_secret=SECRET,
    )


async def _post(url: str, update: dict[str, Any], secret: str | None) -> int:
    update.setdefault("update_id", next(_update_ids))
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    async with aiohttp.ClientSession() as session, session.post(url, json=update, headers=headers) as response:
        return response.status


async def test_webhook_mode_registers_and_answers_updates_once(tmp_path: Path, emulator: TelegramAPIEmulator) -> None:
    settings = _webhook_settings(tmp_path, emulator)
    async with running_app(settings):
        (registered,) = emulator.calls_to("setWebhook", ok=True)
        assert registered.params["url"] == settings.public_base_url + WEBHOOK_PATH
        assert registered.params["secret_token"] == SECRET
        update = emulator.message(CHAT, "/help")
        first = emulator.push(update)
        await emulator.wait_for(lambda: emulator.texts(CHAT))
        emulator.push(dict(update))  # Telegram redelivers the same update (same update_id)
        await emulator.wait_for(lambda: len(emulator.webhook_deliveries) == 2)
        await asyncio.sleep(0.2)
        assert emulator.webhook_deliveries == [(first, 200), (first, 200)]
        assert len(emulator.texts(CHAT)) == 1
        assert emulator.calls_to("getUpdates") == []


async def test_a_wrong_or_missing_secret_is_refused_and_nothing_is_dispatched(
    tmp_path: Path, emulator: TelegramAPIEmulator
) -> None:
    settings = _webhook_settings(tmp_path, emulator)
    url = settings.public_base_url + WEBHOOK_PATH
    async with running_app(settings) as app:
        assert await _post(url, emulator.message(CHAT, "/start"), None) == 401
        assert await _post(url, emulator.message(CHAT, "/start"), "wrong") == 403
        assert await _post(url, emulator.message(CHAT, "/start"), SECRET[:-1]) == 403
        await asyncio.sleep(0.1)
        async with app.db.transaction() as session:
            assert await users.find(session, Identity("telegram", str(CHAT))) is None
        assert emulator.texts(CHAT) == []
        assert await _post(url, emulator.message(CHAT, "/start"), SECRET) == 200
        await emulator.wait_for(lambda: emulator.texts(CHAT))


async def test_the_webhook_answers_only_after_the_update_is_recorded(
    tmp_path: Path, emulator: TelegramAPIEmulator
) -> None:
    recorded: list[Inbound] = []

    class SlowDispatcher(RecordingDispatcher):
        async def dispatch(self, event: Inbound) -> list[Reply]:
            await asyncio.sleep(0.3)  # the database commit, taking its time
            recorded.append(event)
            return []

    settings = _webhook_settings(tmp_path, emulator)
    http = web.Application()
    async with channel_with(settings, SlowDispatcher(), start=False) as channel:
        channel.add_routes(http)
        runner = web.AppRunner(http)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", settings.http_port).start()
        try:
            status = await _post(settings.public_base_url + WEBHOOK_PATH, emulator.message(CHAT, "hi"), SECRET)
            assert status == 200 and len(recorded) == 1  # not answered first and processed later
            assert await _post(settings.public_base_url + WEBHOOK_PATH, {"nonsense": True}, SECRET) == 200
            assert len(recorded) == 1
        finally:
            await runner.cleanup()


async def test_polling_mode_has_no_webhook_route(tmp_path: Path, emulator: TelegramAPIEmulator) -> None:
    async with running_app(telegram_settings(tmp_path, emulator)) as app:
        url = f"http://127.0.0.1:{app.port}{WEBHOOK_PATH}"
        assert await _post(url, emulator.message(CHAT, "/start"), SECRET) in (404, 405)
        assert emulator.calls_to("deleteWebhook", ok=True)


async def test_polling_keeps_an_unrecorded_update_for_redelivery(
    tmp_path: Path, emulator: TelegramAPIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (fault suite, bug 3): a database outage must not confirm the update's offset."""
    from sqlalchemy.exc import OperationalError

    from storage import events

    real, calls = events.claim, []

    async def flaky(session, channel, event_id, **keys):  # type: ignore[no-untyped-def]
        calls.append(event_id)
        if len(calls) == 1:
            raise OperationalError("INSERT", {}, ConnectionResetError("connection lost"))
        return await real(session, channel, event_id, **keys)

    monkeypatch.setattr("handlers.dispatcher.events.claim", flaky)
    async with running_app(telegram_settings(tmp_path, emulator)):
        emulator.push(emulator.message(4242, "/help"))
        await emulator.wait_for(lambda: emulator.texts(4242), timeout=30)
        assert len(emulator.texts(4242)) == 1
        assert calls[0] == calls[1]  # the same update, delivered again after the outage
