"""The async engine and transactions.

SQLite (the embedded default) runs in WAL mode and opens every transaction with `BEGIN IMMEDIATE`, so two
writers never both read a row and then both fail to upgrade their lock: they queue on `busy_timeout`.
PostgreSQL is used as it is; the ledger's conditional UPDATEs keep it correct under concurrency.

SQLite allows one writer at a time, so this process queues its own transactions on an asyncio lock (first
come, first served) instead of letting them race for the file lock: a loser of that race sleeps in SQLite's
busy handler (1 ms, 2 ms, ... up to 100 ms a try) while the lock sits free, which made a backlog crawl.
`busy_timeout` still arbitrates between processes (the CLI, a second front on the same file).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from storage import sqlite_driver

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "nexoraz_read_only"  # execution option: the transaction only reads (`Database.read`)
ON_THREAD = "nexoraz_on_thread"  # execution option: the transaction may run long (`Database.transaction(long=True)`)
SCRUB_WAIT_MS = 1_000
# PostgreSQL connections kept open per process, and made for a peak beyond them (closed again when returned).
# With 10 kept, a front under load (50 requests in flight, each a few short transactions) kept making and
# closing overflow connections: a TCP connect, a TLS handshake, asyncpg's set-up and every statement prepared
# again, ~13% of the front's CPU (bench/RESULTS.md, issue 17; still ~6% with 20 kept). At most 40 per process:
# two fronts and a few workers (whose pools grow only to their own few transactions at a time) stay under
# PostgreSQL's default max_connections (100).
POSTGRES_POOL_SIZE = 30
POSTGRES_POOL_OVERFLOW = 10


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    if url.startswith("sqlite"):
        timeout = SQLITE_BUSY_TIMEOUT_MS / 1000
        file = make_url(url)
        if file.database and file.database != ":memory:" and not file.query:  # a plain file: one trip a statement
            creator = partial(sqlite_driver.connect, file.database, busy_timeout_s=timeout)
            engine = create_async_engine(url, echo=echo, hide_parameters=True, async_creator=creator)
        else:
            engine = create_async_engine(url, echo=echo, hide_parameters=True, connect_args={"timeout": timeout})
        _configure_sqlite(engine)
        return engine
    # hide_parameters: an error's text never carries the bound values (names, phone numbers) into a log.
    return create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=POSTGRES_POOL_SIZE,
        max_overflow=POSTGRES_POOL_OVERFLOW,
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see `_on_begin`).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Deleted rows are overwritten, not left in free pages of the file: an erased user stays erased in
        # a copy or backup of DATA_DIR (see `Database.scrub` for the write-ahead log).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A writer takes SQLite's write lock at once (no upgrade from a read lock that could fail as busy);
        # a reader (`Database.read`) reads a snapshot beside the writer (WAL) and never takes it.
        options = connection.get_execution_options()
        reads_only = options.get(READ_ONLY, False)
        driver = connection.connection.driver_connection
        if isinstance(driver, sqlite_driver.OneTripConnection):  # short transactions run on the event loop
            driver.on_loop = not options.get(ON_THREAD, False)
        # Straight to the driver's cursor: through `exec_driver_sql` the BEGIN cost as much as the transaction's
        # own statement (an execution context, events, a result), about 90 us on every transaction.
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.execute("BEGIN DEFERRED" if reads_only else "BEGIN IMMEDIATE")
        finally:
            cursor.close()


class Database:
    """The engine plus a session factory; one per process, built in the composition root."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = create_engine(url, echo=echo)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        reader = self.engine.execution_options(**{READ_ONLY: True})
        self._read_sessions = async_sessionmaker(reader, class_=AsyncSession, expire_on_commit=False)
        slow = self.engine.execution_options(**{ON_THREAD: True})
        self._long_sessions = async_sessionmaker(slow, class_=AsyncSession, expire_on_commit=False)
        self._writer = asyncio.Lock() if self.engine.dialect.name == "sqlite" else None
        self._writer_task: asyncio.Task[Any] | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self, *, long: bool = False) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on any error.

        On SQLite a transaction's statements run on the event loop (storage/sqlite_driver.py): the front's
        transactions are a few indexed statements, far cheaper than a trip to another thread. `long=True` for
        one that may take long (a purge over every user's rows): it runs on SQLite's thread, and the event loop
        goes on serving meanwhile.

        A task that opens a second transaction inside its first passes the lock (SQLite begins lazily, at
        the first statement, so that worked before the lock and still does; it waits on SQLite's own lock
        only when the outer transaction has already written).
        """
        task = asyncio.current_task()
        sessions = self._long_sessions if long else self._sessions
        if self._writer is None or self._writer_task is task:
            async with sessions() as session, session.begin():
                yield session
            return
        async with self._writer:
            self._writer_task = task
            try:
                async with sessions() as session, session.begin():
                    yield session
            finally:
                self._writer_task = None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for look-ups only: on SQLite it neither waits for this process's writers nor holds them
        up (a snapshot read beside the write-ahead log), so a page's or a webhook's look-up does not queue
        behind a busy writer. Writing through it is a bug (SQLite would take the write lock mid-transaction)."""
        if self._writer is None:
            async with self.transaction() as session:
                yield session
            return
        async with self._read_sessions() as session, session.begin():
            yield session

    async def scrub(self) -> None:
        """After an erasure: SQLite's write-ahead log still holds the pages as they were before it (with the
        erased rows); checkpoint them into the file (where `secure_delete` zeroed the rows) and truncate the
        log. Best effort: a reader in the middle of a transaction keeps the log until the next checkpoint.
        PostgreSQL reclaims deleted rows itself (autovacuum)."""
        if self._writer is None:
            return
        async with self._writer, self.engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection  # outside any transaction, as it must
            assert raw is not None
            # Waiting for another process's readers holds this process's writers up: a second at most.
            await (await raw.execute(f"PRAGMA busy_timeout={SCRUB_WAIT_MS}")).close()
            try:
                await (await raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")).close()
            except Exception as error:  # busy: the next checkpoints get there
                log.warning("after an erasure the write-ahead log was not truncated (%s)", type(error).__name__)
            finally:
                await (await raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")).close()

    async def dispose(self) -> None:
        await self.engine.dispose()
