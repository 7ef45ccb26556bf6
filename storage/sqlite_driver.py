"""SQLite under SQLAlchemy's aiosqlite dialect: a short transaction's statements run on the event loop itself,
anything that may wait runs on the connection's thread, one trip per statement.

aiosqlite runs every sqlite3 call on the connection's own thread. A trip there is a queue put, a thread
wake-up, a future resolved across threads and a wake-up of the event loop: about 0.3 ms of CPU on the 2-core
box, where sqlite3 itself answers an indexed look-up in a few microseconds (bench/sqlite_trips.py: a transaction
of four SELECTs costs 3.8 ms of CPU in trips, 1.9 ms on the event loop). Under load those trips were the largest
share of the front's CPU (bench/RESULTS.md, issue 17). So:

- The statements of a transaction that `storage.db` marks `on_loop` (look-ups and the front's short writes) run
  on the event loop, with SQLite's busy timeout at 0: such a statement never waits. If SQLite answers "busy"
  (another process holds the write lock, so `BEGIN IMMEDIATE` would wait), the same statement is sent to the
  thread, which waits with the full busy timeout while the event loop goes on (a statement answered busy did
  nothing, so running it again is safe). A transaction that may run long (the retention purge) stays on the
  thread throughout.
- On the thread, a statement is one trip: the cursor is made, the statement run, its rows read and the cursor
  closed together (SQLAlchemy's adapter makes four trips: cursor, execute, fetch, close).
- While a trip is still out (a task cancelled mid-statement), everything after it queues behind it on the thread:
  the connection is never used from both threads at once.
- A transaction on the event loop lets the other tasks run every `LOOP_SLICE_S` (a batch of 64 events is one
  transaction): the web chat's pages, the webhooks' answers and the event streams wait at most about that long.
- Ending a transaction that never began (the pool's reset of a connection it gets back) costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Generator, Iterable
from functools import partial
from typing import Any

import aiosqlite

ITER_CHUNK_SIZE = 64  # aiosqlite's default
LOOP_SLICE_S = 0.005  # a transaction on the event loop holds it at most this long between two chances for others
Settle = Callable[[asyncio.Future[Any], Any], None]


async def connect(database: str, *, busy_timeout_s: float) -> OneTripConnection:
    """SQLAlchemy's `async_creator`: a connection to the file `database`."""
    # check_same_thread=False: the connection is used from the event loop's thread and from its own, never both
    # at once (see the module's docstring).
    connector = partial(sqlite3.connect, database, timeout=busy_timeout_s, check_same_thread=False)
    connection = OneTripConnection(connector, ITER_CHUNK_SIZE, busy_timeout_ms=round(busy_timeout_s * 1000))
    thread: Any = getattr(connection, "_thread", connection)  # aiosqlite < 0.22: the connection is the thread
    thread.daemon = True  # as SQLAlchemy's own connect does: a forgotten connection never holds up the exit
    await connection
    return connection


class OneTripConnection(aiosqlite.Connection):
    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int, *, busy_timeout_ms: int):
        super().__init__(connector, iter_chunk_size)
        self.on_loop = False  # set by storage.db when a transaction begins, cleared when it ends
        self._busy_timeout_ms = busy_timeout_ms
        self._waits_ms = busy_timeout_ms  # SQLite's busy timeout as last set on this connection
        self._out = 0  # trips sent to the thread and not yet back (counted on the event loop's side)
        self._slice_began: float | None = None  # when this transaction last let the other tasks run

    def cursor(self) -> _Ready:  # type: ignore[override]
        """No trip: the sqlite3 cursor is made on the thread, with the first statement."""
        return _Ready(_OneTripCursor(self))

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Runs `fn` (a sqlite3 call) on the event loop when the transaction allows it and nothing is left on the
        thread, else on the thread."""
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if self.on_loop and not self._out:
            await self._take_turns()
            try:
                return self._without_waiting(fn, *args, **kwargs)
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:  # the primary code of an extended one
                    raise
                # Another process holds the lock: the statement did nothing; it waits on the thread instead.
        return await self._on_thread(partial(self._waiting, fn), *args, **kwargs)

    async def _take_turns(self) -> None:
        """The statements of a transaction on the event loop never suspend it: every `LOOP_SLICE_S`, the others'
        turn (no one else uses this connection meanwhile: it is checked out to this task)."""
        now = time.perf_counter()
        if self._slice_began is None:
            self._slice_began = now
        elif now - self._slice_began > LOOP_SLICE_S:
            await asyncio.sleep(0)
            self._slice_began = time.perf_counter()

    def _without_waiting(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self._wait_at_most(0)
        return fn(*args, **kwargs)

    def _waiting(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self._wait_at_most(self._busy_timeout_ms)
        return fn(*args, **kwargs)

    def _wait_at_most(self, milliseconds: int) -> None:
        if self._waits_ms != milliseconds:
            self._conn.execute(f"PRAGMA busy_timeout={milliseconds}").close()
            self._waits_ms = milliseconds

    async def commit(self) -> None:
        await self._end(self._conn.commit)

    async def rollback(self) -> None:
        await self._end(self._conn.rollback)

    async def _end(self, how: Callable[[], None]) -> None:
        try:
            if self._connection is not None and self._connection.in_transaction:
                await self._execute(how)
        finally:
            self.on_loop = False
            self._slice_began = None

    async def _on_thread(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """aiosqlite's trip, except that the answer finds no event loop when the statement outlived it.

        A task cancelled while its statement runs (at shutdown) leaves the statement running on the thread;
        when it ends, aiosqlite hands the answer to the task's event loop, and if that loop has closed in the
        meantime the thread dies with "Event loop is closed" (the intermittent error of CI runs). Here the
        answer is dropped instead: nobody is waiting for it.
        """
        loop = asyncio.get_running_loop()
        future = loop.create_future()

        def run() -> None:
            settle: Settle
            try:
                settle, outcome = _set_result, fn(*args, **kwargs)
            except BaseException as error:  # noqa: BLE001 (handed to the awaiting task, as aiosqlite does)
                settle, outcome = _set_exception, error
            with contextlib.suppress(RuntimeError):  # the loop has closed: no one waits any more
                loop.call_soon_threadsafe(self._back, settle, future, outcome)

        self._out += 1
        self._tx.put_nowait((None, run))
        return await future

    def _back(self, settle: Settle, future: asyncio.Future[Any], outcome: Any) -> None:
        """On the event loop: a trip came back (its task may have been cancelled meanwhile; it still counts)."""
        self._out -= 1
        settle(future, outcome)


def _set_result(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _set_exception(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


class _Ready:
    """What aiosqlite's `cursor()` returns: awaitable, and an async context manager closing the cursor."""

    def __init__(self, cursor: _OneTripCursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Generator[Any, None, _OneTripCursor]:
        yield from []
        return self._cursor

    async def __aenter__(self) -> _OneTripCursor:
        return self._cursor

    async def __aexit__(self, *_: object) -> None:
        await self._cursor.close()


class _OneTripCursor(aiosqlite.Cursor):
    def __init__(self, connection: OneTripConnection) -> None:
        super().__init__(connection, None)  # type: ignore[arg-type]
        self._rows: list[Any] = []
        self._size = 1  # DB-API's default arraysize

    def _run(self, method: str, sql: str, parameters: Any) -> tuple[sqlite3.Cursor, list[Any]]:
        """On the connection's thread: the whole statement."""
        cursor = self._conn._conn.cursor()
        try:
            getattr(cursor, method)(sql, parameters)
            return cursor, cursor.fetchall() if cursor.description else []
        finally:
            cursor.close()  # description, rowcount and lastrowid stay readable

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> _OneTripCursor:
        return await self._trip("execute", sql, [] if parameters is None else parameters)

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> _OneTripCursor:
        return await self._trip("executemany", sql, parameters)

    async def _trip(self, method: str, sql: str, parameters: Any) -> _OneTripCursor:
        connection: OneTripConnection = self._conn  # type: ignore[assignment]
        self._cursor, self._rows = await connection._execute(self._run, method, sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = size or self._size
        taken, self._rows = self._rows[:count], self._rows[count:]
        return taken

    async def fetchall(self) -> list[Any]:
        taken, self._rows = self._rows, []
        return taken

    async def close(self) -> None:
        self._rows = []  # the sqlite3 cursor was closed on its thread with its statement

    @property
    def arraysize(self) -> int:
        return self._size

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._size = value
