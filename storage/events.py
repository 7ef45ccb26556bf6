"""Processed inbound events: the unique (channel, event key) row turns a platform's redelivery into a no-op.

The key is the platform's event id prefixed with the receiving bot's id (Telegram bot id, WhatsApp phone
number id, Messenger page id): event ids are only unique per bot. Telegram starts `update_id` afresh after a
week without updates, and a DATA_DIR may be reused with another bot; neither may drop new messages. Rows
older than `KEEP_DAYS` are purged hourly (platforms redeliver for at most 7 days).

Only a keyed hash of that key is stored: some event ids name a person (a web visitor's id is part of its
message ids; Meta sends an m.me referral without a message id, so its id is built from the PSID), and these
rows are not the user's (no user id), so /delete could not find them. A keyed hash is as unique and names
no one: nothing here outlives an erasure.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import ProcessedEvent
from storage.sql import affected, insert_ignore
from storage.types import utcnow

KEEP_DAYS = 8
KEY_PREFIX = "h:"  # a keyed hash (rows from before it was, raw ids, were removed by migration e5c2a7d9b3f1)


def event_key(event_id: str, bot: str = "", *, key: bytes) -> str:
    """The stored form of an event's id: HMAC-SHA256 of `<bot>:<event id>` under `key` (66 characters)."""
    named = f"{bot}:{event_id}" if bot else event_id
    return KEY_PREFIX + hmac.new(key, b"event:" + named.encode(), hashlib.sha256).hexdigest()


async def claim(session: AsyncSession, channel: str, event_id: str, *, key: bytes, bot: str = "") -> bool:
    """True the first time `bot` sees an event; False for a redelivery (in the same or another process)."""
    values = {"channel": channel, "event_id": event_key(event_id, bot, key=key), "created_at": utcnow()}
    return bool(affected(await insert_ignore(session, ProcessedEvent, values)))


async def claim_many(session: AsyncSession, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Claim a batch of (channel, event key) at once: one INSERT ... ON CONFLICT DO NOTHING RETURNING; the
    keys it returns are new, the rest are redeliveries (a key twice in `keys` is returned once)."""
    if not keys:
        return set()
    now = utcnow()
    rows = [{"channel": channel, "event_id": key, "created_at": now} for channel, key in keys]
    table = ProcessedEvent.__table__  # type: ignore[attr-defined]
    added = await insert_ignore(session, ProcessedEvent, rows, returning=(table.c.channel, table.c.event_id))
    return {(str(channel), str(key)) for channel, key in added.all()}


async def forget_older_than(session: AsyncSession, days: int, *, now: datetime | None = None) -> int:
    """Platforms redeliver for at most 7 days (WhatsApp); older rows only take space (and index time)."""
    result = await session.execute(
        delete(ProcessedEvent).where(col(ProcessedEvent.created_at) < (now or utcnow()) - timedelta(days=days))
    )
    return affected(result)
