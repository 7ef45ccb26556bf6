"""Group commit for the dispatcher: events that arrive while a transaction runs are recorded together in the
next one, so a backlog costs one BEGIN/COMMIT, one claim and one user lookup per batch instead of per event.

Each event still gets its own answer only after the commit that recorded it. A batch holds at most one
event per user (a user's later events wait for the next batch), so per-user order is kept and every
handler sees its user's state exactly as a transaction of its own would. One event alone goes the
single-event way; so does every event of a batch that failed (see `Dispatcher`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from handlers.model import Inbound, Reply

log = logging.getLogger(__name__)

Outcome = list[Reply] | BaseException
One = Callable[[Inbound], Awaitable[list[Reply]]]
Many = Callable[[list[Inbound]], Awaitable[list[Outcome]]]

MAX_BATCH = 64  # a bound on one transaction's length (and on what one failure sends the single way)


async def outcome_of(work: Awaitable[list[Reply]]) -> Outcome:
    try:
        return await work
    except Exception as error:
        return error


class Batches:
    """A queue of events waiting for a transaction, and the one task that drains it."""

    def __init__(self, one: One, many: Many, *, size: int = MAX_BATCH) -> None:
        self._one, self._many, self._size = one, many, size
        self._waiting: list[tuple[Inbound, asyncio.Future[list[Reply]]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, event: Inbound) -> list[Reply]:
        future: asyncio.Future[list[Reply]] = asyncio.get_running_loop().create_future()
        self._waiting.append((event, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="dispatch-batches")
        return await future

    def _take(self) -> list[tuple[Inbound, asyncio.Future[list[Reply]]]]:
        """Up to `size` waiting events, the first of each user, in arrival order."""
        taken: list[tuple[Inbound, asyncio.Future[list[Reply]]]] = []
        rest: list[tuple[Inbound, asyncio.Future[list[Reply]]]] = []
        users: set[tuple[str, str]] = set()
        for item in self._waiting:
            user = (item[0].channel.value, item[0].user_id)
            if item[1].cancelled():
                continue  # its caller is gone: nothing recorded, the platform sends it again
            if len(taken) < self._size and user not in users:
                taken.append(item)
                users.add(user)
            else:
                rest.append(item)
        self._waiting = rest
        return taken

    async def _drain(self) -> None:
        batch: list[tuple[Inbound, asyncio.Future[list[Reply]]]] = []
        try:
            while self._waiting:
                batch = self._take()
                if not batch:
                    continue
                if len(batch) == 1:
                    outcomes = [await outcome_of(self._one(batch[0][0]))]
                else:
                    outcomes = await self._many([event for event, _ in batch])
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
                batch = []
        except BaseException:
            self._abandon(batch)  # stopping: no caller waits forever
            raise

    def _abandon(self, batch: list[tuple[Inbound, asyncio.Future[Any]]]) -> None:
        for _, future in [*batch, *self._waiting]:
            if not future.done():
                future.cancel()
        self._waiting = []
