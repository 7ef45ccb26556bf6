"""storage/sqlite_driver.py: statements run on the event loop, or in one trip to SQLite's thread, must read and
write exactly what aiosqlite's four trips did: rows, streamed rows, counts, ids, errors, and a connection still
usable after one; and whatever has to wait for a lock waits on the thread, never on the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError

from storage import migrate, sqlite_driver
from storage.db import Database
from storage.models import User
from storage.sqlite_driver import OneTripConnection


@pytest.fixture
async def both(tmp_path: Path) -> AsyncIterator[tuple[Database, Database]]:
    """The same file through the one-trip driver and through SQLAlchemy's own aiosqlite path."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'both.sqlite3'}"
    await migrate.upgrade_async(url)
    ours, theirs = Database(url), Database(url + "?timeout=30")
    try:
        yield ours, theirs
    finally:
        await ours.dispose()
        await theirs.dispose()


async def test_the_one_trip_driver_is_the_one_in_use(both: tuple[Database, Database]) -> None:
    ours, theirs = both
    async with ours.transaction() as session:
        raw = (await (await session.connection()).get_raw_connection()).driver_connection
        assert isinstance(raw, OneTripConnection)
    async with theirs.transaction() as session:
        raw = (await (await session.connection()).get_raw_connection()).driver_connection
        assert not isinstance(raw, OneTripConnection)


async def test_rows_counts_ids_and_streams_are_as_aiosqlite_gives_them(both: tuple[Database, Database]) -> None:
    ours, theirs = both
    rows = [{"channel": "web", "external_id": f"v{n}", "locale": "bn"} for n in range(150)]
    async with ours.transaction() as session:
        first = await session.execute(insert(User).values(channel="web", external_id="first", locale="en"))
        assert first.inserted_primary_key is not None and first.inserted_primary_key[0] == 1  # lastrowid
        await session.execute(insert(User), rows)  # executemany
        updated = await session.execute(text("UPDATE users SET locale = 'en' WHERE external_id LIKE 'v1%'"))
        assert updated.rowcount == 61  # v1, v10-v19, v100-v149
    query = text("SELECT id, external_id, locale FROM users ORDER BY id")
    seen = {}
    for name, db in (("ours", ours), ("theirs", theirs)):
        async with db.transaction() as session:
            everything = (await session.execute(query)).all()
            one = (await session.execute(text("SELECT count(*) FROM users"))).scalar_one()
            few = (await session.execute(query)).fetchmany(3)
            streamed = [row async for row in await session.stream(query)]  # the server-side cursor path
            nothing = (await session.execute(text("SELECT id FROM users WHERE id < 0"))).all()
        assert one == 151 and len(everything) == 151 and few == everything[:3] and nothing == []
        seen[name] = (everything, streamed)
    assert seen["ours"] == seen["theirs"]
    assert seen["ours"][0] == seen["ours"][1]


async def test_an_error_rolls_back_and_the_connection_goes_on(both: tuple[Database, Database]) -> None:
    ours, _ = both
    async with ours.transaction() as session:
        await session.execute(insert(User).values(channel="web", external_id="same", locale="en"))
    with pytest.raises(IntegrityError):
        async with ours.transaction() as session:
            await session.execute(insert(User).values(channel="telegram", external_id="kept?", locale="en"))
            await session.execute(insert(User).values(channel="web", external_id="same", locale="en"))
    for _ in range(20):  # every pooled connection still answers
        async with ours.read() as session:
            found = (await session.execute(text("SELECT external_id FROM users ORDER BY id"))).scalars().all()
            assert found == ["same"]  # the first insert of the failed transaction was rolled back too


@asynccontextmanager
async def heartbeat(*, every_s: float) -> AsyncIterator[list[float]]:
    """A task noting the time every `every_s` (0: at every turn of the event loop) while the block runs."""
    beats: list[float] = []
    stop = asyncio.Event()

    async def beat() -> None:
        while not stop.is_set():
            beats.append(time.monotonic())
            await asyncio.sleep(every_s)

    beating = asyncio.create_task(beat())
    try:
        yield beats
    finally:
        stop.set()
        await beating


def longest_pause(beats: list[float], began: float, ended: float) -> float:
    """The longest the event loop went without a beat between `began` and `ended`."""
    seen = [began, *(b for b in beats if began < b < ended), ended]
    return max(b - a for a, b in zip(seen, seen[1:], strict=False))


async def _thread_running(db: Database, *, long: bool = False, read: bool = False) -> int:
    """The thread on which the transaction's statements ran."""
    async with db.read() if read else db.transaction(long=long) as session:
        raw = (await (await session.connection()).get_raw_connection()).driver_connection
        raw._conn.create_function("thread_id", 0, threading.get_ident)
        return int((await session.execute(text("SELECT thread_id()"))).scalar_one())


async def test_short_transactions_run_on_the_event_loop_and_long_ones_on_the_thread(
    both: tuple[Database, Database],
) -> None:
    ours, _ = both
    loop_thread = threading.get_ident()
    assert await _thread_running(ours) == loop_thread
    assert await _thread_running(ours, read=True) == loop_thread
    assert await _thread_running(ours, long=True) != loop_thread  # a purge: the event loop goes on meanwhile


async def test_a_writer_that_must_wait_for_another_process_waits_on_the_thread(
    both: tuple[Database, Database], tmp_path: Path
) -> None:
    """Another process (the CLI, a worker) holds SQLite's write lock: our writer waits for it with the full busy
    timeout, on the connection's thread; the event loop keeps serving, and reads go on beside the lock (WAL)."""
    ours, _ = both
    async with ours.transaction() as session:  # the pool has a connection in the on-loop state already
        await session.execute(insert(User).values(channel="web", external_id="before", locale="en"))
    other = sqlite3.connect(tmp_path / "both.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE users SET locale = 'bn' WHERE external_id = 'before'")

    async def write() -> None:
        async with ours.transaction() as session:
            await session.execute(insert(User).values(channel="web", external_id="after", locale="en"))

    async with heartbeat(every_s=0.01) as beats:
        began = time.monotonic()
        writer = asyncio.create_task(write())
        await asyncio.sleep(0.6)
        assert not writer.done()  # waiting for the other process's lock
        async with ours.read() as session:  # a look-up meanwhile: answered from the last committed state
            locale = (await session.execute(text("SELECT locale FROM users WHERE external_id = 'before'"))).scalar()
            assert locale == "en"
        other.execute("COMMIT")
        other.close()
        await asyncio.wait_for(writer, 10)
    assert longest_pause(beats, began, time.monotonic()) < 0.3  # the event loop never stood still
    async with ours.read() as session:
        found = (await session.execute(text("SELECT external_id, locale FROM users ORDER BY id"))).all()
    assert [tuple(row) for row in found] == [("before", "bn"), ("after", "en")]
    assert await _thread_running(ours) == threading.get_ident()  # and the next transaction is on the loop again


async def test_a_long_transaction_on_the_event_loop_lets_the_others_run(both: tuple[Database, Database]) -> None:
    """A transaction's statements on the event loop never suspend it; a long one (a batch of 64 events) must still
    let the other tasks (a page, a webhook's answer) run every `LOOP_SLICE_S`, not only after its commit."""
    ours, _ = both
    async with ours.transaction() as session:  # the pooled connection is made (its set-up goes to the thread)
        await session.execute(text("SELECT 1"))
    async with heartbeat(every_s=0) as beats:
        await asyncio.sleep(0.01)
        async with ours.transaction() as session:
            began = time.monotonic()
            while time.monotonic() - began < 0.3:  # statement after statement for 0.3 s
                await session.execute(text("SELECT count(*) FROM users"))
            ended = time.monotonic()
    assert longest_pause(beats, began, ended) < 0.1  # 0.3 s without a beat before


def test_a_statement_that_outlives_its_event_loop_ends_quietly(tmp_path: Path) -> None:
    """A task cancelled while its statement runs (at shutdown), the loop closed before the statement ends: the
    connection's thread used to die with "Event loop is closed" (the intermittent error of CI runs; aiosqlite's
    own `_execute` in place of ours makes this test fail)."""
    died: list[BaseException | None] = []
    hook, threading.excepthook = threading.excepthook, lambda args: died.append(args.exc_value)
    started, finished = threading.Event(), threading.Event()

    async def cut_short() -> OneTripConnection:
        connection = await sqlite_driver.connect(str(tmp_path / "late.sqlite3"), busy_timeout_s=1)
        query = asyncio.ensure_future(connection._execute(_slow, connection, started, finished))
        while not started.is_set():
            await asyncio.sleep(0.01)
        query.cancel()
        return connection  # the loop closes with the statement still running on the connection's thread

    try:
        connection = asyncio.run(cut_short())
        assert not finished.is_set(), "the statement ended before the loop did: nothing was tested"
        assert finished.wait(30)
        time.sleep(0.3)  # the thread hands the answer over (or dies trying)
        connection.stop()
    finally:
        threading.excepthook = hook
    assert died == []


def _slow(connection: OneTripConnection, started: threading.Event, finished: threading.Event) -> object:
    started.set()
    try:
        return connection._conn.execute(SLOW).fetchone()
    finally:
        finished.set()


SLOW = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000000) SELECT count(*) FROM n"
