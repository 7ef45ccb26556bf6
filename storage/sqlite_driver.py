"""SQLite under SQLAlchemy's aiosqlite dialect, with one trip to the connection's thread per statement.

aiosqlite runs every sqlite3 call on the connection's own thread, and SQLAlchemy's adapter makes four such
calls per statement: make a cursor, execute, fetch the rows, close the cursor. Each trip is a queue put, a
thread wake-up, a future resolved across threads and a wake-up of the event loop; under load those trips were
the largest share of the front's CPU (bench/RESULTS.md, issue 17). Here a statement is one trip: the cursor is
made, the statement run, its rows read and the cursor closed together, and SQLAlchemy reads the rows from
memory. Everything still runs on aiosqlite's thread (the event loop never waits for SQLite's lock or disk),
and transactions, `commit`, `rollback` and the rest are aiosqlite's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Generator, Iterable
from functools import partial
from typing import Any

import aiosqlite

ITER_CHUNK_SIZE = 64  # aiosqlite's default


async def connect(database: str, *, busy_timeout_s: float) -> OneTripConnection:
    """SQLAlchemy's `async_creator`: a connection to the file `database`."""
    connection = OneTripConnection(partial(sqlite3.connect, database, timeout=busy_timeout_s), ITER_CHUNK_SIZE)
    thread: Any = getattr(connection, "_thread", connection)  # aiosqlite < 0.22: the connection is the thread
    thread.daemon = True  # as SQLAlchemy's own connect does: a forgotten connection never holds up the exit
    await connection
    return connection


class OneTripConnection(aiosqlite.Connection):
    def cursor(self) -> _Ready:  # type: ignore[override]
        """No trip: the sqlite3 cursor is made on the thread, with the first statement."""
        return _Ready(_OneTripCursor(self))

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """aiosqlite's trip, except that the answer finds no event loop when the statement outlived it.

        A task cancelled while its statement runs (at shutdown) leaves the statement running on the thread;
        when it ends, aiosqlite hands the answer to the task's event loop, and if that loop has closed in the
        meantime the thread dies with "Event loop is closed" (the intermittent error of CI runs). Here the
        answer is dropped instead: nobody is waiting for it.
        """
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()

        def run() -> None:
            settle: Callable[[asyncio.Future[Any], Any], None]
            try:
                settle, outcome = _set_result, fn(*args, **kwargs)
            except BaseException as error:  # noqa: BLE001 (handed to the awaiting task, as aiosqlite does)
                settle, outcome = _set_exception, error
            with contextlib.suppress(RuntimeError):  # the loop has closed: no one waits any more
                loop.call_soon_threadsafe(settle, future, outcome)

        self._tx.put_nowait((None, run))
        return await future


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
