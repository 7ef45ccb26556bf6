"""The render queue at scale: job ids on a Redis stream through taskiq, consumed by `python -m bot worker`.

The front process only `enqueue`s (a taskiq `kiq` of the job id: one XADD). Worker processes read the
stream in one consumer group (each message goes to one worker), run `JobRunner.process(job_id)` (the one
job processor, `bot.job_processor`) and acknowledge the message by hand (taskiq's MANUAL acknowledgement)
once the processor has returned its outcome: the row says the rest. A "retry later" is queued again when
it is due (by that worker, or by the sweeper if it died meanwhile); a job held by another worker is that
worker's (its heartbeat keeps the lease; if it dies, the lease runs out and the sweeper queues the job).
An acknowledged message is also deleted from the stream, so the stream holds exactly the work not done yet
and its length is the queue depth.

A message that is not acknowledged (its worker died: SIGKILL, a lost machine) stays pending in the group.
When it has been idle for `redeliver_after_s` (QUEUE_REDELIVER_SECONDS, 60 s by default) any live worker
claims it (XAUTOCLAIM) and processes it again. The sweeper adds a message only for a due job that has none
in the stream (`queued_ids`), and only one worker sweeps per interval (a Redis lock).

taskiq-redis's own `listen` only looks for idle messages right after it has read new ones, so a dead
worker's message would wait for the next photo; `JobStreamBroker` claims idle messages on every turn,
reads one message at a time (a worker never holds work that it cannot start), and deletes on ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from taskiq import AckableMessage, Context, TaskiqDepends
from taskiq_redis import RedisStreamBroker

from bot.workers import JobRunner

log = logging.getLogger(__name__)

TASK_NAME = "nexoraz.render_job"
_CONTEXT: Context = TaskiqDepends()  # taskiq fills a parameter with this default with the message's Context
GROUP = "render"


def stream_name(prefix: str) -> str:
    return f"{prefix}:render-jobs"


class JobStreamBroker(RedisStreamBroker):
    """RedisStreamBroker that reclaims idle messages on every turn, reads one at a time, deletes on ack."""

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                try:
                    claimed = await redis.xautoclaim(
                        self.queue_name,
                        self.consumer_group_name,
                        self.consumer_name,
                        min_idle_time=self.idle_timeout,
                        start_id="0-0",
                        count=1,
                    )
                except ResponseError as error:
                    if "NOGROUP" not in str(error):
                        raise
                    # Redis lost the stream (restarted without persistence, or the key was deleted): create
                    # the group again instead of dying; the sweeper re-queues the jobs whose messages were lost.
                    log.warning("queue: stream %s or its group is gone; creating it again", self.queue_name)
                    with contextlib.suppress(ResponseError):  # BUSYGROUP: another worker was first
                        await redis.xgroup_create(self.queue_name, self.consumer_group_name, id="0", mkstream=True)
                    continue
                entries = list(claimed[1]) if claimed else []
                for msg_id, fields in entries:
                    if fields:  # None: the entry was deleted under its pending record
                        log.info("queue: message %s was idle too long; taking it over", _text(msg_id))
                        yield self._message(msg_id, fields)
                if entries:
                    continue
                fetched: Any = await redis.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    {self.queue_name: ">"},
                    count=1,
                    block=self.block,
                    noack=False,
                )
                for _stream, messages in fetched or []:
                    for msg_id, fields in messages:
                        yield self._message(msg_id, fields)

    def _message(self, msg_id: Any, fields: Any) -> AckableMessage:
        return AckableMessage(data=fields[b"data"], ack=self._ack_and_delete(msg_id))

    def _ack_and_delete(self, msg_id: Any) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            async with Redis(connection_pool=self.connection_pool) as redis:
                pipe = redis.pipeline(transaction=True)
                pipe.xack(self.queue_name, self.consumer_group_name, msg_id)
                pipe.xdel(self.queue_name, msg_id)
                await pipe.execute()

        return ack


class RedisJobQueue:
    """The `JobQueue` of the front (enqueue, depth) and the message handler of the workers."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "nexoraz",
        redeliver_after_s: float = 60.0,
        read_block_s: float = 1.0,
        consumer_name: str | None = None,
    ) -> None:
        self.stream = stream_name(prefix)
        self.redeliver_after_s = redeliver_after_s
        self.broker = JobStreamBroker(
            url,
            queue_name=self.stream,
            consumer_group_name=GROUP,
            consumer_name=consumer_name,
            consumer_id="0",  # a group created after messages were added still sees them
            idle_timeout=int(redeliver_after_s * 1000),
            xread_block=int(read_block_s * 1000),
            xread_count=1,
            unacknowledged_batch_size=1,
        )

        async def render_job(job_id: int, context: Context = _CONTEXT) -> None:
            await self.handle(job_id, context)

        self.task = self.broker.register_task(render_job, task_name=TASK_NAME)
        self._runner: JobRunner | None = None
        self._started = False
        self._start_lock = asyncio.Lock()
        self._depth = 0
        self.in_flight: dict[int, asyncio.Task[Any]] = {}

    # The front: JobQueue protocol -----------------------------------------------------------------

    async def enqueue(self, job_id: int) -> None:
        await self.startup()
        await self.task.kiq(job_id)
        await self.refresh_depth()

    def depth(self) -> int:
        """Messages not acknowledged yet, as of this process's last enqueue or `refresh_depth`."""
        return self._depth

    async def queued_ids(self) -> set[int]:
        """The job ids that have a message in the stream (waiting, or pending with a worker)."""
        ids: set[int] = set()
        async with Redis(connection_pool=self.broker.connection_pool) as redis:
            entries: Any = await redis.xrange(self.stream)
        for _msg_id, fields in entries or []:
            with contextlib.suppress(KeyError, ValueError, TypeError, IndexError):
                args = json.loads(fields[b"data"])["args"]
                ids.add(int(args[0]))
        return ids

    async def sweep_turn(self, interval_s: float) -> bool:
        """True for the one worker that sweeps in this interval (SET NX with an expiry)."""
        async with Redis(connection_pool=self.broker.connection_pool) as redis:
            return bool(await redis.set(f"{self.stream}:sweeper", "1", nx=True, px=max(1, int(interval_s * 900))))

    async def refresh_depth(self) -> int:
        async with Redis(connection_pool=self.broker.connection_pool) as redis:
            self._depth = int(await redis.xlen(self.stream))
        return self._depth

    async def startup(self) -> None:
        """Create the stream and its consumer group (idempotent); `enqueue` calls it on first use."""
        async with self._start_lock:
            if not self._started:
                await self.broker.startup()
                self._started = True

    async def aclose(self) -> None:
        if self._started:
            await self.broker.shutdown()
            self._started = False
        else:
            await self.broker.connection_pool.disconnect()

    # The worker: the taskiq task ----------------------------------------------------------------

    def attach(self, runner: JobRunner) -> None:
        """Messages received in this process are processed by `runner` (the worker command)."""
        self._runner = runner

    async def handle(self, job_id: int, context: Context) -> None:
        """Process one job and acknowledge its message: the outcome is in the row (and a retry is queued
        again when due). Cancelled (shutdown): the processor handed the job back and queued it anew."""
        runner = self._runner
        if runner is None:
            log.error("queue: job %s received by a process without a JobRunner; left for another worker", job_id)
            return
        task = asyncio.current_task()
        if task is not None:
            self.in_flight[job_id] = task
        try:
            try:
                await runner.process(job_id)
            except asyncio.CancelledError:
                await asyncio.shield(context.ack())
                return
            except Exception:  # the row could not be written: the message comes back after its idle time
                log.exception("job %s: not settled; its message comes back later", job_id)
                return
            await context.ack()
        finally:
            self.in_flight.pop(job_id, None)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
