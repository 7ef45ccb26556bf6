"""One job, one place: a claimed render job becomes exactly one typed outcome, and the row is written once.

`JobProcessor.process(job_id)` claims the row (each claim counts an attempt), works on it under a lease that
a heartbeat keeps alive, and returns what happened:

- `Delivered`: the channel accepted every output.
- `Undelivered`: rendered and stored, but the platform refused it (blocked bot, closed 24-hour window):
  refunded, told where the channel allows; the images stay in /history.
- `Failed`: refunded with a localized reason (an unreadable photo, media the platform no longer has...).
- `RetryLater`: the infrastructure blinked (an explicit list: `storage.errors.is_transient`, a channel's
  `Unavailable`, a dead render process); the row is handed back, due again after `after_s`.
- `NotClaimed`: finished already, held by another worker, not due yet, its lease lost, or its user erased.

Past `MAX_ATTEMPTS` claims the job fails, refunded with a message, whatever the cause: nothing loops for
ever. The drivers (in-process queue and Redis stream, `bot.workers` and `bot.queue_redis`) only carry ids
and act on the outcome (schedule a retry, acknowledge a message); they never write the row themselves.
The shape follows arq's `run_job` with its `Retry(defer=...)` signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot import logs
from bot.channels.base import Channel, ChannelError, Refused, Unavailable
from bot.job_files import JobFiles
from bot.job_outcomes import (
    MAX_RETRY_DELAY_S,
    Delivered,
    Failed,
    JobGone,
    LeaseLost,
    NotClaimed,
    Outcome,
    RenderFailed,
    RetryLater,
    Undelivered,
    transient_delay,
)
from handlers.i18n import catalog
from handlers.model import Album, ChatAction, Document, Image, Progress, Reply
from handlers.photos import batch_progress_key
from handlers.results import failure_reply, result_replies, undelivered_reply
from storage import jobs, ledger
from storage.blobs import BlobStore
from storage.db import Database
from storage.errors import is_transient
from storage.models import RenderJob, User
from storage.types import utcnow

if TYPE_CHECKING:
    from bot.metrics import Metrics
    from bot.workers import RenderPool

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
WINDOWED_CHANNELS = frozenset({"whatsapp", "messenger"})  # Meta's 24-hour customer-service window
CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)
CHANNEL_MISSING_DELAY_S = 60.0


class JobProcessor:
    def __init__(
        self,
        settings: Any,
        db: Database,
        blobs: BlobStore,
        channels: Mapping[str, Channel],
        pool: RenderPool,
        enqueue: Callable[[int], Awaitable[None]],
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.blobs = blobs
        self.channels = channels
        self.pool = pool
        self.enqueue = enqueue
        self.metrics = metrics
        self.files = JobFiles(db, blobs, pool, metrics)
        self.max_attempts = MAX_ATTEMPTS

    @property
    def lease_s(self) -> float:
        return float(self.settings.job_lease_seconds)

    async def process(self, job_id: int) -> Outcome:
        with logs.scope(job=job_id):
            async with self.db.transaction() as session:
                job = await jobs.claim(session, job_id, self.lease_s)
                user = await session.get(User, job.user_id) if job else None
            if job is None or user is None:
                return NotClaimed("finished, held elsewhere, not due yet, or erased")
            if job.attempts == 1 and self.metrics is not None:
                self.metrics.debited(job.cost)  # debited with the job row; this is its first claim
            if job.attempts > self.max_attempts:
                return await self._settle(job, Failed("too_many_attempts"))
            lease_lost = asyncio.Event()
            heartbeat = asyncio.create_task(self._heartbeat(job, lease_lost), name=f"lease-{job_id}")
            try:
                outcome = await self._work(job, user, lease_lost)
            except asyncio.CancelledError:
                await asyncio.shield(self.hand_back(job))
                raise
            except LeaseLost:
                outcome = NotClaimed("lease lost")
            except JobGone:
                outcome = NotClaimed("erased during the render")
            except Exception as error:
                outcome = self._unexpected(job, error)
            finally:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await heartbeat
            return await self._settle(job, outcome)

    def _unexpected(self, job: RenderJob, error: Exception) -> Outcome:
        if is_transient(error):
            log.warning("job %s: %s: %s; trying again later", job.id, type(error).__name__, error)
            return RetryLater(transient_delay(job.attempts), "infrastructure")
        log.exception("job %s: unexpected error; the job fails and is refunded", job.id)
        return Failed("internal")

    async def hand_back(self, job: RenderJob) -> None:
        """The one hand-back (shutdown): release the row, due now, and queue it for whoever runs next."""
        assert job.id is not None
        try:
            async with self.db.transaction() as session:
                released = await jobs.release(session, job.id, claim_token=job.attempts)
            if released:
                await self.enqueue(job.id)
        except Exception as error:  # the lease runs out and the sweeper re-queues it
            log.warning("job %s: hand-back failed (%s); it is picked up after its lease", job.id, error)
            return
        if not released:
            return  # finished meanwhile, or no longer ours
        log.info("job %s: handed back (stopping)", job.id)
        if self.metrics is not None:
            self.metrics.job_ended("handed_back")

    async def _heartbeat(self, job: RenderJob, lost: asyncio.Event) -> None:
        assert job.id is not None
        while True:
            await asyncio.sleep(max(0.5, self.lease_s / 3))
            try:
                async with self.db.transaction() as session:
                    held = await jobs.extend_lease(session, job.id, job.attempts, self.lease_s)
            except Exception as error:  # the database blinked: the next beat tries again, the lease has slack
                log.warning("job %s: lease not extended: %s", job.id, error)
                continue
            if not held:
                log.warning("job %s: lease lost; another worker may hold it now", job.id)
                lost.set()
                return

    # The work ------------------------------------------------------------------------------------

    async def _work(self, job: RenderJob, user: User, lease_lost: asyncio.Event) -> Outcome:
        channel = self.channels.get(job.channel)
        if channel is None:
            log.error("job %s: channel %s is not running here; it waits for a process that has it", job.id, job.channel)
            return RetryLater(CHANNEL_MISSING_DELAY_S, "channel_missing")
        t = catalog(user.locale)
        outputs = await self.files.stored_outputs(job)
        if not outputs:
            if job.attempts == 1:  # one "working on it" per job, not one per try
                status = Progress(key=batch_progress_key(job.batch_key), text=t("photo-rendering"))
                await self._quietly(channel, job, [status, ChatAction(action="upload_photo")])
            try:
                outputs = await self.files.render_and_store(job, channel)
            except Refused as error:
                log.info("job %s: the channel cannot give the photo: %s", job.id, error)
                return Failed("media_unavailable")
            except Unavailable as error:
                return RetryLater(_channel_delay(error), "media_unavailable")
            except RenderFailed as error:
                return Failed(error.code)
            except BrokenProcessPool:
                log.warning("job %s: the render process died (attempt %s)", job.id, job.attempts)
                return RetryLater(0.0, "worker_crashed")
        if lease_lost.is_set():
            raise LeaseLost
        async with self.db.transaction() as session:
            if not await jobs.holds(session, job.id or 0, job.attempts):
                raise LeaseLost
            balance = await ledger.balance(session, job.user_id)
            fresh = await jobs.get(session, job.id or 0)
            owner = await session.get(User, job.user_id, populate_existing=True)
        if fresh is None or owner is None:
            raise JobGone(job.id)
        if not self._window_open(job, owner):
            return Undelivered("window_closed")
        replies = result_replies(t, fresh, outputs, balance)
        files = [r for r in replies if isinstance(r, Document | Image | Album)]
        try:
            await channel.send(job.chat_id, files)  # the caption ("ready", buttons) only once they are accepted
        except Refused as error:
            log.info("job %s: delivery refused: %s", job.id, error)
            return Undelivered("refused")
        except Unavailable as error:
            log.warning("job %s: delivery failed for now: %s", job.id, error)
            if self.metrics is not None:
                self.metrics.delivery_failed()
            return RetryLater(_channel_delay(error), "delivery_unavailable")
        await self._quietly(channel, job, [r for r in replies if r not in files])
        return Delivered()

    def _window_open(self, job: RenderJob, user: User) -> bool:
        if job.channel not in WINDOWED_CHANNELS or utcnow() - user.last_seen_at < CUSTOMER_SERVICE_WINDOW:
            return True
        log.info("job %s: the user's 24-hour window is closed; the results wait in /history", job.id)
        return False

    # The one place the row is written --------------------------------------------------------------

    async def _settle(self, job: RenderJob, outcome: Outcome) -> Outcome:
        assert job.id is not None
        if isinstance(outcome, RetryLater) and job.attempts >= self.max_attempts:
            log.warning("job %s: %s after %s attempts; giving up", job.id, outcome.reason, job.attempts)
            outcome = Failed(outcome.reason)
        if isinstance(outcome, NotClaimed):
            log.info("job %s: %s", job.id, outcome.reason)
            return outcome
        if isinstance(outcome, RetryLater):
            async with self.db.transaction() as session:
                released = await jobs.release(session, job.id, after_s=outcome.after_s, claim_token=job.attempts)
            log.info("job %s: %s; again in %.1f s (attempt %s)", job.id, outcome.reason, outcome.after_s, job.attempts)
            return outcome if released else NotClaimed("lease lost")
        if isinstance(outcome, Delivered):
            async with self.db.transaction() as session:
                finished = await jobs.finish(session, job.id, jobs.DELIVERED, claim_token=job.attempts)
            if finished and self.metrics is not None:
                self.metrics.job_ended(jobs.DELIVERED)
            log.info("job %s: delivered", job.id)
            return outcome if finished else NotClaimed("lease lost")
        if isinstance(outcome, Undelivered):
            state, code = jobs.UNDELIVERED, outcome.reason
        else:
            state, code = jobs.FAILED, outcome.code
        async with self.db.transaction() as session:
            if not await jobs.finish(session, job.id, state, error_code=code[:40], claim_token=job.attempts):
                return NotClaimed("lease lost")
            refunded = await ledger.refund(
                session,
                job.user_id,
                debit_key=jobs.debit_key(job.id),
                key=jobs.refund_key(job.id),
                reference="render failed" if state == jobs.FAILED else "not delivered",
            )
            returned = refunded or await ledger.has_entry(session, jobs.refund_key(job.id))  # a doubtful cutout's
            user = await session.get(User, job.user_id)
        if self.metrics is not None:
            self.metrics.job_ended(state)
            if refunded:
                self.metrics.refunded(job.cost)
        log.info("job %s: %s (%s; refunded: %s)", job.id, state, code, refunded)
        channel = self.channels.get(job.channel)
        if channel is not None and code != "window_closed":  # outside the window Meta refuses any message
            t = catalog(user.locale if user else "en")
            reply = undelivered_reply(t, returned) if state == jobs.UNDELIVERED else failure_reply(t, code, returned)
            await self._quietly(channel, job, [reply])
        return outcome

    async def _quietly(self, channel: Channel, job: RenderJob, replies: Sequence[Reply]) -> None:
        """A message that is nice to have (a status, a failure notice): one try, a refusal only logged."""
        try:
            await channel.send(job.chat_id, replies)
        except ChannelError as error:
            log.info("job %s: notice not delivered: %s", job.id, error)
        except Exception as error:  # a channel breaking its contract must not undo the settled row
            log.warning("job %s: notice not delivered (%s: %s)", job.id, type(error).__name__, error)


def _channel_delay(error: Unavailable) -> float:
    return float(min(max(error.retry_after, 0.0), MAX_RETRY_DELAY_S))
