"""Shared pieces of the Telegram tests: the emulator, settings pointing at it, the whole app, a recording
dispatcher for the boundary (what the adapter hands to the handlers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import app as app_module
from bot.channels.telegram import TelegramChannel
from bot.settings import Settings
from handlers.model import Inbound, Reply
from handlers.router import Router
from tests.emulators.telegram_api import TOKEN, TelegramAPIEmulator


def telegram_settings(tmp_path: Path, emulator: TelegramAPIEmulator, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "http_port": 0,
        "telegram_bot_token": TOKEN,
        "telegram_api_base": emulator.url,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[app_module.App]:
    """The whole bot (`bot.app`), with a short long-polling wait so that stopping is quick."""
    app = app_module.create_app(settings)
    channel = app.channel("telegram")
    assert isinstance(channel, TelegramChannel)
    channel.poll_timeout_s = 1
    await app_module.start(app)
    try:
        yield app
    finally:
        await app_module.stop(app)


@dataclass
class RecordingDispatcher:
    """Stands in for `handlers.dispatcher.Dispatcher` where a test asserts on the events the adapter builds."""

    services: Any = None
    router: Router = field(default_factory=app_module.build_router)  # the menu is derived from its declared commands
    events: list[Inbound] = field(default_factory=list)
    answer: Callable[[Inbound], list[Reply]] = lambda event: []

    async def dispatch(self, event: Inbound) -> list[Reply]:
        self.events.append(event)
        return self.answer(event)


@asynccontextmanager
async def channel_with(settings: Settings, dispatcher: Any, *, start: bool = True) -> AsyncIterator[TelegramChannel]:
    channel = TelegramChannel(settings, dispatcher)
    channel.poll_timeout_s = 1
    if start:
        await channel.start()
    try:
        yield channel
    finally:
        await channel.stop()
