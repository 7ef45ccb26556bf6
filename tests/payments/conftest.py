"""Fixtures of the payment tests: the Telegram Bot API emulator (with Stars) and the bKash emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.emulators.bkash_api import BkashEmulator
from tests.emulators.telegram_api import TelegramAPIEmulator


@pytest.fixture
async def emulator() -> AsyncIterator[TelegramAPIEmulator]:
    emulator = TelegramAPIEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def bkash() -> AsyncIterator[BkashEmulator]:
    emulator = BkashEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()
