"""Render workers: take job ids from a queue, render in a process pool, store, deliver, refund on failure.

The job row is the truth. A worker claims it (a lease), renders, stores the outputs, delivers them and
marks the job delivered. A crash anywhere leaves the job claimable again once its lease runs out (the
sweeper re-queues it), the debit's idempotency key keeps the charge single, and outputs already stored are
delivered without rendering again.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot import logs, render_task
from bot.channels.base import Channel, MediaUnavailable
from bot.settings import Settings
from handlers.i18n import catalog
from handlers.model import ChatAction, Progress, Reply
from handlers.photos import batch_progress_key
from handlers.results import failure_reply, result_replies
from storage import jobs, ledger
from storage.blobs import BlobStore
from storage.db import Database
from storage.errors import is_transient
from storage.models import RenderJob, StoredFile, User
from storage.types import utcnow

if TYPE_CHECKING:
    from bot.metrics import Metrics

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
# Meta's customer-service window: free-form messages only within 24 hours of the user's last message.
WINDOWED_CHANNELS = frozenset({"whatsapp", "messenger"})
CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)
DELIVERY_RETRIES = 5
DELIVERY_BACKOFF_S = 1.0
SWEEP_INTERVAL_S = 30.0
TRANSIENT_RETRY_S = 1.0
ACCEPTED_GRACE_S = 60.0


class JobGone(Exception):
    """The job row vanished mid-render (the user ran /delete)."""


class MemoryJobQueue:
    """The embedded queue: job ids in process memory (the database row stays the truth)."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._queued: set[int] = set()

    async def enqueue(self, job_id: int) -> None:
        if job_id not in self._queued:
            self._queued.add(job_id)
            self._queue.put_nowait(job_id)

    async def take(self) -> int:
        job_id = await self._queue.get()
        self._queued.discard(job_id)
        return job_id

    def depth(self) -> int:
        return self._queue.qsize()


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
    def __init__(
        self,
        settings: Settings,
        db: Database,
        blobs: BlobStore,
        channels: Mapping[str, Channel],
        take: Callable[[], Awaitable[int]],
        enqueue: Callable[[int], Awaitable[None]],
        *,
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
        self._tasks: list[asyncio.Task[None]] = []
        self.in_flight: set[int] = set()  # job ids being processed by this runner now
        self._retries: set[asyncio.Task[None]] = set()

    async def start(self, *, consume: bool = True) -> None:
        """Queue the pending jobs, run the consumers and the sweeper. `consume=False` runs only the sweeper:
        a Redis worker (bot/queue_redis.py), whose queue is durable and whose messages taskiq delivers."""
        if consume:
            async with self.db.transaction() as session:
                pending = await jobs.all_pending(session)
            for job_id in pending:  # jobs accepted before a restart, or abandoned by a dead process
                await self.enqueue(job_id)
            self._tasks = [
                asyncio.create_task(self._consume(), name=f"render-{n}") for n in range(self.settings.render_workers)
            ]
        self._tasks.append(asyncio.create_task(self._sweep(), name="render-sweeper"))

    def alive(self) -> bool:
        """The consumers are running (what /readyz calls "the queue" in the embedded mode)."""
        return any(not task.done() for task in self._tasks)

    async def stop(self) -> None:
        for task in [*self._tasks, *self._retries]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._retries, return_exceptions=True)
        self._tasks = []
        self.pool.close()

    async def _consume(self) -> None:
        while True:
            job_id = await self.take()
            self.in_flight.add(job_id)
            try:
                await self.process(job_id)
            except asyncio.CancelledError:
                async with self.db.transaction() as session:
                    await jobs.release(session, job_id)  # hand it back: another worker or the next start renders it
                log.info("job %s: handed back (stopping)", job_id)
                if self.metrics is not None:
                    self.metrics.job_ended("handed_back")
                raise
            except Exception as error:
                if is_transient(error):  # the database or Redis blinked: try again soon, not after the lease
                    log.warning("job %s: %s; retrying shortly", job_id, error)
                    self._spawn(self._retry_later(job_id))
                else:
                    log.exception("job %s: unexpected error; it will be retried after its lease", job_id)
            finally:
                self.in_flight.discard(job_id)

    async def _retry_later(self, job_id: int) -> None:
        for attempt in range(1, 6):
            await asyncio.sleep(TRANSIENT_RETRY_S * attempt)
            try:
                async with self.db.transaction() as session:
                    await jobs.release(session, job_id)  # a claim that went through before the failure
            except Exception as error:
                if not is_transient(error):
                    raise
                continue
            await self.enqueue(job_id)
            return
        log.warning("job %s: still failing; the sweeper will pick it up", job_id)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            async with self.db.transaction() as session:
                stuck = await jobs.stuck(session, accepted_for_s=ACCEPTED_GRACE_S)
            for job_id in stuck:
                log.info("job %s: re-queued by the sweeper", job_id)
                await self.enqueue(job_id)

    async def process(self, job_id: int) -> None:
        with logs.scope(job=job_id):
            await self._process(job_id)

    async def _process(self, job_id: int) -> None:
        async with self.db.transaction() as session:
            job = await jobs.claim(session, job_id, self.settings.job_lease_seconds)
            user = await session.get(User, job.user_id) if job else None
        if job is None or user is None:
            return  # done, being rendered elsewhere, or its user was erased
        if job.attempts == 1 and self.metrics is not None:
            self.metrics.debited(job.cost)  # the photo handler debited it with the job row; this is its first claim
        channel = self.channels.get(job.channel)
        t = catalog(user.locale)
        if channel is None:
            log.error("job %s: channel %s is not running here; it waits for a process that has it", job_id, job.channel)
            async with self.db.transaction() as session:
                await jobs.release(session, job_id)
            return
        outputs = await self._stored_outputs(job)
        if not outputs:
            await self._send(
                channel,
                job,
                [
                    Progress(key=batch_progress_key(job.batch_key), text=t("photo-rendering")),
                    ChatAction(action="upload_photo"),
                ],
                quiet=True,
            )
            try:
                outputs = await self._render_and_store(job, channel)
            except BrokenProcessPool:
                await self._after_crash(job)
                return
            except JobGone:
                log.info("job %s: its user was erased during the render; nothing kept or sent", job_id)
                return
            except Exception as error:  # a typed render error, or media the channel cannot give us
                code = getattr(error, "code", None) or (
                    "media_unavailable" if isinstance(error, MediaUnavailable) else None
                )
                if code is None:
                    raise
                await self._fail(job, channel, code)
                return
        async with self.db.transaction() as session:
            balance = await ledger.balance(session, job.user_id)
            fresh = await jobs.get(session, job.id or 0)
            owner = await session.get(User, job.user_id, populate_existing=True)
        if fresh is None or owner is None:
            return  # erased meanwhile
        replies = result_replies(t, fresh, outputs, balance)
        delivered = self._window_open(job, owner) and await self._send(channel, job, replies)
        state = jobs.DELIVERED if delivered else jobs.UNDELIVERED
        async with self.db.transaction() as session:
            finished = await jobs.finish(session, job.id or 0, state)
        if finished and self.metrics is not None:
            self.metrics.job_ended(state)
        log.info("job %s: %s", job.id, "delivered" if delivered else "kept for /history (delivery refused)")

    def _window_open(self, job: RenderJob, user: User) -> bool:
        if job.channel not in WINDOWED_CHANNELS or utcnow() - user.last_seen_at < CUSTOMER_SERVICE_WINDOW:
            return True
        log.info("job %s: the user's 24-hour window is closed; the results wait in /history", job.id)
        return False

    async def _stored_outputs(self, job: RenderJob) -> list[tuple[StoredFile, bytes]]:
        async with self.db.transaction() as session:
            files = await jobs.files_of(session, job.id or 0, "output")
        return [(f, self.blobs.get(f.path)) for f in files]

    async def _render_and_store(self, job: RenderJob, channel: Channel) -> list[tuple[StoredFile, bytes]]:
        if job.source_job_id:
            async with self.db.transaction() as session:
                cutouts = await jobs.files_of(session, job.source_job_id, "cutout")
            if not cutouts:
                raise MediaUnavailable("the original cutout is gone (retention)")
            started = time.perf_counter()
            result = await self.pool.compose(self.blobs.get(cutouts[0].path), [job.style], job.size)
        else:
            upload = await channel.fetch_media(job.media_file_id)
            styles = [job.style] if job.style == "transparent" else [job.style, "transparent"]
            started = time.perf_counter()
            result = await self.pool.render_photo(upload, styles, job.size)
        if self.metrics is not None:
            self.metrics.render_time(time.perf_counter() - started)
        stored: list[tuple[StoredFile, bytes]] = []
        async with self.db.transaction() as session:
            fresh = await jobs.get(session, job.id or 0)
            if fresh is None:
                raise JobGone(job.id)  # the user erased their data while we rendered: keep nothing
            if result.get("upload"):
                mime, clean = result["upload"]
                await self._store(session, job, "upload", "original", mime, clean)
            if result.get("cutout"):
                await self._store(session, job, "cutout", "cutout.png", "image/png", result["cutout"])
            for name, mime, data in result["outputs"]:
                stored.append((await self._store(session, job, "output", name, mime, data), data))
            fresh.hard_photo = bool(result.get("hard_photo"))
            session.add(fresh)
        return stored

    async def _store(self, session: Any, job: RenderJob, kind: str, name: str, mime: str, data: bytes) -> StoredFile:
        path = self.blobs.put(data)
        return await jobs.add_file(
            session,
            StoredFile(user_id=job.user_id, job_id=job.id, kind=kind, name=name, mime=mime, path=path, bytes=len(data)),
        )

    async def _after_crash(self, job: RenderJob) -> None:
        if job.attempts >= MAX_ATTEMPTS:
            channel = self.channels.get(job.channel)
            if channel is not None:
                await self._fail(job, channel, "worker_crashed")
            return
        log.warning("job %s: the render process died (attempt %s); trying again", job.id, job.attempts)
        async with self.db.transaction() as session:
            await jobs.release(session, job.id or 0)
        await self.enqueue(job.id or 0)

    async def _fail(self, job: RenderJob, channel: Channel, code: str) -> None:
        assert job.id is not None
        async with self.db.transaction() as session:
            if not await jobs.finish(session, job.id, jobs.FAILED, error_code=code):
                return
            refunded = await ledger.refund(
                session,
                job.user_id,
                debit_key=jobs.debit_key(job.id),
                key=jobs.refund_key(job.id),
                reference="render failed",
            )
            user = await session.get(User, job.user_id)
        if self.metrics is not None:
            self.metrics.job_ended(jobs.FAILED)
            if refunded:
                self.metrics.refunded(job.cost)
        log.info("job %s failed: %s (refunded: %s)", job.id, code, refunded)
        await self._send(channel, job, [failure_reply(catalog(user.locale if user else "en"), code, refunded)])

    async def _send(self, channel: Channel, job: RenderJob, replies: Sequence[Reply], *, quiet: bool = False) -> bool:
        """Deliver with backoff; False when the platform keeps refusing (the results wait in /history)."""
        for attempt in range(1 if quiet else DELIVERY_RETRIES):
            try:
                await channel.send(job.chat_id, replies)
                return True
            except Exception as error:  # each channel raises its own; all are worth a bounded retry
                if quiet:
                    log.info("job %s: status update not delivered: %s", job.id, error)
                    return False
                log.warning("job %s: delivery attempt %s failed: %s", job.id, attempt + 1, error)
                await asyncio.sleep(DELIVERY_BACKOFF_S * 2**attempt)
        if self.metrics is not None:
            self.metrics.delivery_failed()
        return False
