"""What the front's hot path asks of the database (issue #17): statements SQLAlchemy can serve from its compiled
cache, user look-ups that search an index, and no write a first message does not need."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlmodel import col

from handlers.context import Services
from handlers.model import Channel
from storage import users
from storage.db import Database
from storage.models import User
from storage.users import Identity
from tests.conftest import inbound
from tests.helpers import make_dispatcher, say, statements

SAVEPOINTS = ("SAVEPOINT", "RELEASE", "ROLLBACK")


async def test_batches_of_first_messages_are_compiled_once(services: Services) -> None:
    """A batch's claims, newcomers and sign-up grants went in as INSERTs with their rows written in: no cache
    key, so SQLAlchemy compiled each batch's statements again (about 0.4 ms each on a 2-core box)."""
    bot = make_dispatcher(services)
    dialect = services.db.engine.dialect
    with statements(services.db) as seen:
        for wave, size in enumerate((5, 9, 3)):  # batches of several sizes
            crowd = [inbound("/start", user=f"w{wave}-{n}", event_id=f"w{wave}-{n}") for n in range(size)]
            replies = await asyncio.gather(*(say(bot, e) for e in crowd))
            assert all("Welcome to Nexoraz" in r for r in replies)
    uncached = [sql for sql, hit in seen if hit == dialect.NO_CACHE_KEY and not sql.startswith(SAVEPOINTS)]
    assert not uncached, uncached
    assert any(sql.startswith("INSERT INTO processed_events") for sql, _ in seen)


async def test_a_first_message_writes_the_policy_seen_with_the_new_row(services: Services) -> None:
    """The privacy policy's version a new user is shown goes into the INSERT, not an UPDATE right after."""
    bot = make_dispatcher(services)
    with statements(services.db) as seen:
        assert "Welcome to Nexoraz" in await say(bot, inbound("/start", user="newcomer"))
    assert not [sql for sql, _ in seen if sql.startswith("UPDATE users")], seen
    async with services.db.read() as session:
        seen_version = await session.scalar(
            select(col(User.policy_version_seen)).where(col(User.external_id) == "newcomer")
        )
    assert seen_version == services.config.policy_version
    # and a returning user is told nothing about the policy
    assert "privacy policy" not in await say(bot, inbound("/help", user="newcomer"))


async def test_a_batch_of_users_is_found_through_the_index(sqlite_url: str) -> None:
    """`(channel, external_id) IN (VALUES ...)` made SQLite walk the whole users index once a batch had two
    users (15 ms a batch at 50,000 users); each channel's ids are searched in the index now."""
    database = Database(sqlite_url)
    try:
        mix = [Identity(c, f"{c}-{n}") for c in ("telegram", "web", "whatsapp") for n in range(3)]
        async with database.transaction() as session:
            await users.create_many(session, [(i, "en", None) for i in mix[:-1]])
        with statements(database) as seen:
            async with database.read() as session:
                found = await users.find_many(session, mix)
        assert set(found) == set(mix[:-1])  # the last has never written (nor been linked)
        lookups = [sql for sql, _ in seen if sql.startswith("SELECT")]
        assert len(lookups) == 2  # its own rows, then the linked identities for the one not found
        async with database.read() as session:
            connection = await session.connection()
            for sql in lookups:
                placeholders = ("x",) * sql.count("?")  # the plan does not depend on the values
                plan = (await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, placeholders)).all()
                details = [str(row[-1]) for row in plan]
                assert not [d for d in details if d.startswith("SCAN users") or d.startswith("SCAN linked")], details
    finally:
        await database.dispose()


def test_channels_are_the_ones_identities_name() -> None:
    assert set(users.CHANNELS) == {c.value for c in Channel}
