"""Processed events keep only a keyed hash of an event's id (issue #14, erasure that reaches everything): a web
visitor's id is part of its message ids and an m.me referral's id is built from the PSID, and these rows have
no user id, so /delete could not find them. Rows from before, with raw ids, go with the migration."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, text
from sqlmodel import col

from storage import events, migrate
from storage.db import Database
from storage.models import ProcessedEvent

KEY = b"k" * 32
VISITOR = "yjpV-MpQWDRwAuMQW3JGKQypw9VyF8mTVnGwyzyMq4A"
PSID = "7350128864523391"


async def test_an_event_id_is_stored_only_as_its_keyed_hash(database: Database) -> None:
    ids = [("web", f"{VISITOR}:client-0001", ""), ("messenger", f"referral:{PSID}:1795715521939", "682498302938465")]
    async with database.transaction() as session:
        for channel, event_id, bot in ids:
            assert await events.claim(session, channel, event_id, key=KEY, bot=bot)
            assert not await events.claim(session, channel, event_id, key=KEY, bot=bot)  # a redelivery
        assert await events.claim(session, "web", "x" * 500, key=KEY)  # any length fits the column
        kept = list((await session.execute(select(col(ProcessedEvent.event_id)))).scalars())
    assert len(kept) == 3 and all(k.startswith("h:") and len(k) == 66 for k in kept)
    assert not any(VISITOR in k or PSID in k for k in kept)
    # Keyed: whoever knows a PSID cannot tell whether it wrote to us without the key.
    assert events.event_key("m_1", "page", key=KEY) != events.event_key("m_1", "page", key=b"other" * 8)
    assert events.event_key("m_1", "page", key=KEY) != events.event_key("m_1", "other-page", key=KEY)


async def test_the_migration_removes_the_raw_ids_kept_before(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
    await migrate.upgrade_async(url, "e5f1a7c3d9b2")  # the revision before it
    db = Database(url)
    try:
        async with db.transaction() as session:
            for event_id in (f"{VISITOR}:client-0001", f"682498302938465:referral:{PSID}:1"):
                statement = "INSERT INTO processed_events (channel, event_id, created_at) VALUES ('web', :e, :t)"
                await session.execute(text(statement), {"e": event_id, "t": "2026-11-26 10:00:00"})
            assert await events.claim(session, "web", "new-0001", key=KEY)
        await migrate.upgrade_async(url)
        async with db.transaction() as session:
            kept = list((await session.execute(select(col(ProcessedEvent.event_id)))).scalars())
            assert kept == [events.event_key("new-0001", key=KEY)]
            assert not await events.claim(session, "web", "new-0001", key=KEY)
    finally:
        await db.dispose()
