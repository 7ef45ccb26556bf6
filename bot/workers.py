"""Render workers: the in-process queue, the render process pool, and the driver that runs jobs.

The job row is the truth and `bot.job_processor` the one place that works on it. `JobRunner` only carries
ids: consumers take them from the in-process queue and process them; a "retry later" outcome is queued
again when it is due; the sweeper queues the jobs nobody holds (due and not queued, or rendering with an
expired lease), so a crash anywhere leaves nothing behind. The Redis driver (`bot.queue_redis`) uses the
same runner for its retries and its sweeper, and taskiq for consuming.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Awaitable, Callable, Collection, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from bot import render_task
from bot.channels.base import Channel
from bot.job_outcomes import Outcome, RetryLater
from bot.job_processor import JobProcessor
from bot.settings import Settings
from storage import jobs
from storage.blobs import BlobStore
from storage.db import Database

if TYPE_CHECKING:
    from bot.metrics import Metrics

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 30.0
SWEEP_RETRY_S = 2.0
Queued = Callable[[], Awaitable[set[int]]]


Pick = Callable[[list[int], Collection[int]], Awaitable[int | None]]


def fair_pick(db: Database) -> Pick:
    """The queue's choice among the ids it holds, made by the database (`jobs.fairest`): round-robin across
    users, so one seller's album does not delay everyone else. `taken`: ids handed to workers that may not
    have claimed them yet (the Redis queue's pending messages)."""

    async def pick(candidates: list[int], taken: Collection[int] = ()) -> int | None:
        async with db.transaction() as session:
            return await jobs.fairest(session, candidates, taken)

    return pick


class MemoryJobQueue:
    """The embedded queue: job ids in process memory (the database row stays the truth).

    Without `pick` it is first in, first out. With one, `take` hands out the id `pick` chooses among all
    the queued ones (`fair_pick`: the next user's turn); should `pick` fail or choose none, the oldest id
    goes, so an id is never stuck. Every id taken is processed as before: only the order changes.
    `in_hand` (the runner's ids in flight) counts as rendering in the choice: a consumer choosing while
    another's job is not claimed yet would otherwise serve that same user again."""

    def __init__(self, pick: Pick | None = None) -> None:
        self._ready: asyncio.Queue[None] = asyncio.Queue()  # one token per queued id
        self._queued: dict[int, None] = {}  # insertion-ordered: the oldest first
        self._pick = pick
        self._choosing = asyncio.Lock()  # two consumers never choose the same id
        self.in_hand: Callable[[], Collection[int]] = tuple

    async def enqueue(self, job_id: int) -> None:
        if job_id not in self._queued:
            self._queued[job_id] = None
            self._ready.put_nowait(None)

    async def take(self) -> int:
        await self._ready.get()
        async with self._choosing:
            job_id = next(iter(self._queued))
            if self._pick is not None and len(self._queued) > 1:
                try:
                    chosen = await self._pick(list(self._queued), set(self.in_hand()))
                except Exception as error:  # the database is down: first in, first out meanwhile
                    log.warning("queue: fair choice failed (%s); taking the oldest job", error)
                    chosen = None
                if chosen is not None and chosen in self._queued:
                    job_id = chosen
            del self._queued[job_id]
            return job_id

    def depth(self) -> int:
        return len(self._queued)

    async def queued_ids(self) -> set[int]:
        return set(self._queued)


class RenderPool:
    """A process pool for CPU work; re-created when one of its processes dies."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: ProcessPoolExecutor | None = None

    def _segmenter_args(self) -> tuple[str, str | None, str | None]:
        s = self._settings
        weights = str(s.segmenter_weights) if s.segmenter_weights else None
        return s.segmenter, str(s.effective_models_dir), weights

    def _get(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._settings.render_workers,
                mp_context=multiprocessing.get_context("spawn"),  # never fork a process holding sockets and threads
                initializer=render_task.lower_priority,
                initargs=(self._settings.render_niceness,),
            )
        return self._pool

    async def run(self, fn: Callable[..., render_task.RenderResult], *args: Any) -> render_task.RenderResult:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._get(), fn, *args)
        except BrokenProcessPool:
            self.discard()
            raise

    async def render_photo(self, data: bytes, styles: list[str], size: str) -> render_task.RenderResult:
        return await self.run(render_task.render_photo, data, styles, size, *self._segmenter_args())

    async def compose(self, cutout_png: bytes, styles: list[str], size: str) -> render_task.RenderResult:
        return await self.run(render_task.compose_from_cutout, cutout_png, styles, size)

    def processes(self) -> list[Any]:
        return list(getattr(self._pool, "_processes", {}).values()) if self._pool else []

    def discard(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class JobRunner:
    """Drives `JobProcessor` from a queue: consumers, due retries and the sweeper."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        blobs: BlobStore,
        channels: Mapping[str, Channel],
        take: Callable[[], Awaitable[int]],
        enqueue: Callable[[int], Awaitable[None]],
        *,
        queued: Queued | None = None,
        sweep_turn: Callable[[float], Awaitable[bool]] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.db = db
        self.blobs = blobs
        self.channels = channels
        self.take = take
        self.enqueue = enqueue
        self.pool = RenderPool(settings)
        self.processor = JobProcessor(settings, db, blobs, channels, self.pool, enqueue, metrics=metrics)
        self._queued = queued
        self._sweep_turn = sweep_turn  # several workers: only the one whose turn it is sweeps
        self._tasks: list[asyncio.Task[None]] = []
        self.in_flight: set[int] = set()  # job ids being processed by this runner now
        self._later: dict[int, asyncio.Task[None]] = {}  # job id -> its queued-again-when-due timer
        self.sweep_interval_s = SWEEP_INTERVAL_S

    async def start(self, *, consume: bool = True) -> None:
        """Run the consumers and the sweeper, whose first sweep (at once) queues the jobs accepted before a
        restart or abandoned by a dead process. `consume=False` runs only the sweeper: a Redis worker
        (bot/queue_redis.py), whose messages taskiq delivers."""
        if consume:
            self._tasks = [
                asyncio.create_task(self._consume(), name=f"render-{n}") for n in range(self.settings.render_workers)
            ]
        self._tasks.append(asyncio.create_task(self._sweeper(first_at_once=consume), name="render-sweeper"))

    def alive(self) -> bool:
        """The consumers are running (what /readyz calls "the queue" in the embedded mode)."""
        return any(not task.done() for task in self._tasks)

    async def stop(self) -> None:
        timers = list(self._later.values())
        for task in [*self._tasks, *timers]:
            task.cancel()
        await asyncio.gather(*self._tasks, *timers, return_exceptions=True)
        self._tasks = []
        self._later.clear()
        self.pool.close()

    async def process(self, job_id: int) -> Outcome:
        """Process one job; a "retry later" is queued again when it is due (by this process, or the sweeper)."""
        self.in_flight.add(job_id)
        try:
            outcome = await self.processor.process(job_id)
        finally:
            self.in_flight.discard(job_id)
        if isinstance(outcome, RetryLater):
            self.retry_when_due(job_id, outcome.after_s)
        return outcome

    def retry_when_due(self, job_id: int, after_s: float) -> None:
        if job_id in self._later:
            return

        async def later() -> None:
            try:
                await asyncio.sleep(after_s)
                await self.enqueue(job_id)
            except Exception as error:  # the queue is down: the sweeper queues it once it is back
                log.warning("job %s: could not be queued again (%s); the sweeper will", job_id, error)
            finally:
                self._later.pop(job_id, None)

        self._later[job_id] = asyncio.create_task(later(), name=f"retry-{job_id}")

    async def _consume(self) -> None:
        while True:
            job_id = await self.take()
            try:
                await self.process(job_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # the row could not be written (the database is down): its lease runs out
                log.exception("job %s: not settled; the sweeper picks it up after its lease", job_id)

    async def _sweeper(self, *, first_at_once: bool) -> None:
        wait = 0.0 if first_at_once else self.sweep_interval_s
        while True:
            await asyncio.sleep(wait)
            wait = self.sweep_interval_s
            try:
                if self._sweep_turn is None or await self._sweep_turn(self.sweep_interval_s):
                    await self.sweep()
            except Exception as error:  # the database or Redis is down: try again soon
                log.warning("sweep failed: %s", error)
                wait = min(SWEEP_RETRY_S, self.sweep_interval_s)

    async def sweep(self) -> list[int]:
        """Queue the jobs that are due and that nobody holds: not in the queue, not being processed here,
        not waiting for their retry here. Returns the ids queued."""
        async with self.db.transaction() as session:
            due = await jobs.due(session)
        if not due:
            return []
        held = set(self.in_flight) | set(self._later)
        if self._queued is not None:
            held |= await self._queued()
        requeued = [job_id for job_id in due if job_id not in held]
        for job_id in requeued:
            log.info("job %s: queued by the sweeper", job_id)
            await self.enqueue(job_id)
        return requeued
