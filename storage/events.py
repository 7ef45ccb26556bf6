"""Processed inbound events: the unique (channel, event id) row turns a platform's redelivery into a no-op."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import ProcessedEvent
from storage.sql import affected, insert_ignore
from storage.types import utcnow


async def claim(session: AsyncSession, channel: str, event_id: str) -> bool:
    """True the first time an event is seen; False for a redelivery (in the same or another process)."""
    result = await session.execute(
        insert_ignore(session, ProcessedEvent, {"channel": channel, "event_id": event_id, "created_at": utcnow()})
    )
    return bool(affected(result))


async def forget_older_than(session: AsyncSession, days: int) -> int:
    """Platforms redeliver for at most 7 days (WhatsApp); older rows only take space."""
    result = await session.execute(
        delete(ProcessedEvent).where(col(ProcessedEvent.created_at) < utcnow() - timedelta(days=days))
    )
    return affected(result)
