"""Storage on real SQLite and PostgreSQL: migrations, users, processed events, SQLite's locking mode."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, text

from storage import events, migrate, users, webchat
from storage.db import Database
from storage.models import LinkedIdentity, ProcessedEvent
from storage.users import Identity


async def test_users_are_one_row_per_channel_identity(database: Database) -> None:
    async with database.transaction() as s:
        a, created_a = await users.get_or_create(s, Identity("telegram", "1"), locale="bn", display_name="Rina")
        b, created_b = await users.get_or_create(s, Identity("telegram", "1"), locale="en", display_name=None)
        c, _ = await users.get_or_create(s, Identity("whatsapp", "1"), locale="en", display_name=None)
    assert created_a and not created_b
    assert a.id == b.id != c.id
    assert b.locale == "bn" and b.display_name == "Rina"
    assert b.created_at.tzinfo is not None


async def test_an_account_id_is_found_by_its_own_identity_or_a_linked_one(database: Database) -> None:
    """`users.find_id` (the web chat's look-up on every message) reaches what `users.find` reaches."""
    async with database.transaction() as s:
        owner, _ = await users.get_or_create(s, Identity("telegram", "42"), locale="bn", display_name=None)
        other, _ = await users.get_or_create(s, Identity("web", "someone-else"), locale="en", display_name=None)
        s.add(LinkedIdentity(user_id=owner.id, channel="web", external_id="joined-later"))
    async with database.read() as s:
        for identity, expected in [
            (Identity("telegram", "42"), owner.id),
            (Identity("web", "joined-later"), owner.id),
            (Identity("web", "someone-else"), other.id),
            (Identity("web", "never-seen"), None),
            (Identity("telegram", "joined-later"), None),  # the same id on another channel is another person
        ]:
            assert await users.find_id(s, identity) == expected
            found = await users.find(s, identity)
            assert (found.id if found else None) == expected


async def test_concurrent_creation_makes_one_row(database: Database) -> None:
    async def create() -> tuple[int | None, bool]:
        async with database.transaction() as s:
            user, created = await users.get_or_create(s, Identity("web", "same"), locale="en", display_name=None)
            return user.id, created

    results = await asyncio.gather(*(create() for _ in range(20)))
    assert len({r[0] for r in results}) == 1
    assert sum(r[1] for r in results) == 1


KEY = b"e" * 32


async def test_events_are_claimed_once(database: Database) -> None:
    async with database.transaction() as s:
        assert await events.claim(s, "whatsapp", "wamid.A", key=KEY)
        assert not await events.claim(s, "whatsapp", "wamid.A", key=KEY)
        assert await events.claim(s, "messenger", "wamid.A", key=KEY)


async def test_old_events_are_forgotten(database: Database) -> None:
    async with database.transaction() as s:
        old = events.event_key("old", key=KEY)
        s.add(ProcessedEvent(channel="web", event_id=old, created_at=datetime.now(UTC) - timedelta(days=9)))
        await events.claim(s, "web", "new", key=KEY)
    async with database.transaction() as s:
        assert await events.forget_older_than(s, 8) == 1
        assert await events.claim(s, "web", "old", key=KEY)


async def test_a_busy_front_reuses_its_postgres_connections(database: Database) -> None:
    """Many short transactions at once (a front under load): each connection is made once and kept, not made and
    closed again around every peak (a TCP connect, a TLS handshake and every statement prepared again)."""
    if database.dialect != "postgresql":
        pytest.skip("SQLite's connections are files opened once")
    made: list[object] = []
    event.listen(database.engine.sync_engine, "connect", lambda *_: made.append(1))

    async def short() -> None:
        async with database.transaction() as s:
            await s.execute(text("SELECT 1"))
            await asyncio.sleep(0.01)  # held for a moment, as a handler's statements hold it

    for _ in range(5):
        await asyncio.gather(*(short() for _ in range(25)))
    assert len(made) <= 25


async def test_rolled_back_transaction_leaves_nothing(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction() as s:
            await events.claim(s, "web", "doomed", key=KEY)
            raise RuntimeError
    async with database.transaction() as s:
        assert await events.claim(s, "web", "doomed", key=KEY)


async def test_migrations_are_current_after_upgrade(db_url: str) -> None:
    await migrate.require_current(db_url)
    await migrate.upgrade_async(db_url)  # repeating is harmless


async def test_an_unmigrated_database_is_refused_with_the_fix(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(migrate.SchemaOutOfDate, match="python -m bot db upgrade"):
        await migrate.require_current(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")


async def test_sqlite_runs_in_wal_with_immediate_transactions(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        async with db.transaction() as s:
            assert (await s.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await s.execute(text("PRAGMA foreign_keys"))).scalar() == 1

        # Two writers interleaving: with BEGIN IMMEDIATE the second waits instead of failing to upgrade a lock.
        async def writer(n: int) -> None:
            async with db.transaction() as s:
                await events.claim(s, "web", f"w{n}", key=KEY)
                await asyncio.sleep(0.01)
                await events.claim(s, "web", f"w{n}b", key=KEY)

        await asyncio.gather(*(writer(n) for n in range(10)))
    finally:
        await db.dispose()


async def test_a_look_up_does_not_wait_for_a_busy_writer(database: Database) -> None:
    """`Database.read`: a page's or a webhook's look-up runs beside a writer that is in the middle of its
    transaction (on SQLite every transaction used to queue on the one writer), and sees only what was committed."""
    async with database.transaction() as s:
        await users.get_or_create(s, Identity("web", "before"), locale="en", display_name=None)
    writing, release = asyncio.Event(), asyncio.Event()

    async def slow_writer() -> None:
        async with database.transaction() as s:
            await users.get_or_create(s, Identity("web", "during"), locale="en", display_name=None)
            writing.set()
            await release.wait()

    writer = asyncio.create_task(slow_writer())
    await writing.wait()
    async with asyncio.timeout(5):  # before: waited for the writer, which waits for us: the test's timeout
        async with database.read() as s:
            assert await users.find(s, Identity("web", "before")) is not None
            assert await users.find(s, Identity("web", "during")) is None  # not committed yet
    release.set()
    await writer
    async with database.read() as s:
        assert await users.find(s, Identity("web", "during")) is not None


async def test_a_turn_with_a_new_message_id_is_not_read_back(database: Database) -> None:
    """`webchat.keep_entry` with the page's id: a new id's row comes back from its INSERT (and, reserving no
    place, it has none to fill); only an id kept before is read back (a retry gets the first answer, whose id
    and body stand)."""
    async with database.transaction() as session:
        user, _ = await users.get_or_create(session, Identity("web", "turns"), locale="en", display_name=None)
    said: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        said.append(statement.split()[0].upper())

    event.listen(database.engine.sync_engine, "before_cursor_execute", note)
    try:
        async with database.transaction() as session:
            first = await webchat.keep_entry(session, user.id or 0, {"replies": ["one"]}, "page-id-0001")
        new_id = list(said)
        said.clear()
        async with database.transaction() as session:
            again = await webchat.keep_entry(session, user.id or 0, {"replies": ["two"]}, "page-id-0001")
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", note)
    assert first[0] > 0 and first[1] == {"replies": ["one"]}
    assert again == first  # the first answer stands
    reads = {"new": new_id.count("SELECT"), "again": said.count("SELECT")}
    ordering = 1 if database.dialect == "postgresql" else 0  # PostgreSQL's FOR NO KEY UPDATE on the user's row
    assert reads == {"new": ordering, "again": ordering + 1}, (new_id, said)
    assert new_id.count("INSERT") == 1 and "UPDATE" not in new_id, new_id  # no reserved place to fill
