"""Fixtures of the fault tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.emulators.telegram_api import TelegramAPIEmulator


@pytest.fixture
async def emulator() -> AsyncIterator[TelegramAPIEmulator]:
    emulator = TelegramAPIEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()
