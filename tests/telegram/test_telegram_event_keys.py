"""Regression (issue #13, item 8): deduplication keyed by the bot as well as the platform's event id, and
processed events purged after 8 days.

Before: the processed-events row was (channel, update_id) and never purged, so a DATA_DIR reused with
another bot, or Telegram numbering update_id afresh (it does after a week without updates), dropped new
messages as "redeliveries".
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from pathlib import Path

from storage import retention
from storage.blobs import BlobStore
from storage.types import utcnow
from tests.emulators.telegram_api import TelegramAPIEmulator
from tests.telegram.telegram_harness import running_app, telegram_settings

CHAT = 4242
OTHER_TOKEN = "654321:" + "B" * 35


async def _answers_to(tmp_path: Path, emulator: TelegramAPIEmulator, update_id: int, token: str | None = None) -> int:
    """Run the bot on `tmp_path/data` against `emulator`, push /help with `update_id`; the texts it got."""
    overrides = {"telegram_bot_token": token} if token else {}
    settings = telegram_settings(tmp_path, emulator, **overrides)
    async with running_app(settings):
        before = len(emulator.texts(CHAT))
        emulator.push(emulator.message(CHAT, "/help") | {"update_id": update_id})
        with contextlib.suppress(AssertionError):  # the emulator's "timed out": nothing was answered
            await emulator.wait_for(lambda: len(emulator.texts(CHAT)) > before, timeout=5)
        await asyncio.sleep(0.2)
        return len(emulator.texts(CHAT)) - before


async def test_a_data_dir_reused_with_another_bot_answers_its_update_ids(
    tmp_path: Path, emulator: TelegramAPIEmulator
) -> None:
    assert await _answers_to(tmp_path, emulator, 10_000) == 1
    other = TelegramAPIEmulator(token=OTHER_TOKEN)  # another bot: its own numbering, the same ids
    await other.start()
    try:
        assert await _answers_to(tmp_path, other, 10_000, token=OTHER_TOKEN) == 1
    finally:
        await other.stop()
    assert await _answers_to(tmp_path, emulator, 10_000) == 0  # the first bot's redelivery is still a no-op


async def test_update_ids_numbered_afresh_after_a_quiet_week_are_answered(
    tmp_path: Path, emulator: TelegramAPIEmulator
) -> None:
    assert await _answers_to(tmp_path, emulator, 20_000) == 1
    settings = telegram_settings(tmp_path, emulator)
    async with running_app(settings) as app:
        blobs = BlobStore(settings.data_dir, settings.secret_key("files"))
        week = await retention.purge(
            app.db, blobs, uploads_days=30, outputs_days=90, now=utcnow() + timedelta(days=7, hours=23)
        )
        assert week.events == 0  # inside Telegram's and WhatsApp's redelivery windows: kept
        later = await retention.purge(app.db, blobs, uploads_days=30, outputs_days=90, now=utcnow() + timedelta(days=9))
        assert later.events >= 1
    assert await _answers_to(tmp_path, emulator, 20_000) == 1  # Telegram started again from the same number
