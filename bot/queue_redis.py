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

Fair turns (issue 14): a stream is first in, first out, so one seller's album would delay everyone. With a
`pick` (`bot.workers.fair_pick`, the rule the in-process queue uses), a worker that has read the oldest
message M (job a) asks the database which job is fairest among a and every message not delivered yet, the
jobs other workers hold counting as rendering. When that is another job f (message F), one Lua script
swaps them atomically: F is deleted, a's message is added again (a keeps waiting), and the hash
`<stream>:holds` records that M now carries f. The worker processes f and acknowledges M (which drops the
record); should it die, M is claimed again and the record says f. So every job keeps exactly one message
in the stream and the guarantees above are unchanged: acknowledgement after the outcome, redelivery, the
sweeper (`queued_ids` reads the records too), the depth. Only the order changes.
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

from bot.workers import JobRunner, Pick

log = logging.getLogger(__name__)

TASK_NAME = "nexoraz.render_job"
_CONTEXT: Context = TaskiqDepends()  # taskiq fills a parameter with this default with the message's Context
GROUP = "render"
LOOK_AHEAD = 5000  # messages read to choose the fairest; beyond MAX_QUEUE_DEPTH's default (2000)
SWAP_TRIES = 3  # another worker took the chosen message meanwhile: choose again, then take the oldest

# KEYS: stream, holds. ARGV: group, id of the message read (M), id of the chosen one (F), F's job, M's data.
# F must still wait (exist, and be pending with no worker); then F goes, M's job is queued again, M carries F's job.
_SWAP = """
if #redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3]) == 0 then return 0 end
if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1) > 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[3])
redis.call('XADD', KEYS[1], '*', 'data', ARGV[5])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
return 1
"""


# KEYS: stream, holds. ARGV: group, id of the message just read (left out), how many entries to read.
# Answers "id job,id job,..." for the entries the group has not delivered and "job,job,..." for those held.
_SNAPSHOT = """
local delivered = '0-0'
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, last
  for i = 1, #group, 2 do
    if group[i] == 'name' then name = group[i + 1] elseif group[i] == 'last-delivered-id' then last = group[i + 1] end
  end
  if name == ARGV[1] then delivered = last end
end
local dm, ds = string.match(delivered, '(%d+)-(%d+)')
dm, ds = tonumber(dm), tonumber(ds)
local waiting, taken = {}, {}
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[3])) do
  local id = entry[1]
  if id ~= ARGV[2] then
    local job = redis.call('HGET', KEYS[2], id)
    if not job then
      for i = 1, #entry[2], 2 do
        if entry[2][i] == 'data' then
          local ok, message = pcall(cjson.decode, entry[2][i + 1])
          if ok and type(message) == 'table' and type(message['args']) == 'table'
              and type(message['args'][1]) == 'number' then
            job = string.format('%d', message['args'][1])
          end
        end
      end
    end
    if job then
      local m, s = string.match(id, '(%d+)-(%d+)')
      m, s = tonumber(m), tonumber(s)
      if m > dm or (m == dm and s > ds) then table.insert(waiting, id .. ' ' .. job)
      else table.insert(taken, job) end
    end
  end
end
return {table.concat(waiting, ','), table.concat(taken, ',')}
"""


def stream_name(prefix: str) -> str:
    return f"{prefix}:render-jobs"


def holds_name(stream: str) -> str:
    """The hash of messages that carry another job than their data says (message id -> job id)."""
    return f"{stream}:holds"


class JobStreamBroker(RedisStreamBroker):
    """RedisStreamBroker that reclaims idle messages on every turn, reads one at a time, deletes on ack,
    and serves the fairest waiting job rather than the oldest (when given a `pick`)."""

    pick: Pick | None = None

    @property
    def holds(self) -> str:
        return holds_name(self.queue_name)

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
                    await redis.delete(self.holds)  # records of messages that are gone
                    continue
                entries = list(claimed[1]) if claimed else []
                gone = list(claimed[2]) if claimed and len(claimed) > 2 else []
                if gone:  # deleted under their pending records (Redis drops those records now)
                    await redis.hdel(self.holds, *gone)
                for msg_id, fields in entries:
                    if fields:  # None: the entry was deleted under its pending record
                        log.info("queue: message %s was idle too long; taking it over", _text(msg_id))
                        carried: Any = await redis.hget(self.holds, msg_id)
                        yield self._message(msg_id, _carrying(fields[b"data"], carried))
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
                        yield self._message(msg_id, await self._fairest(redis, msg_id, fields[b"data"]))

    def _message(self, msg_id: Any, data: bytes) -> AckableMessage:
        return AckableMessage(data=data, ack=self._ack_and_delete(msg_id))

    async def _fairest(self, redis: Redis, msg_id: bytes, data: bytes) -> bytes:
        """The data of the job to process under the message just read: its own, or the fairest waiting one's
        (swapped in atomically). Any failure leaves the order as it is: first in, first out."""
        job = _job_of(data)
        if self.pick is None or job is None:
            return data
        for _ in range(SWAP_TRIES):
            try:
                waiting, taken = await self._snapshot(redis, msg_id)
                if not waiting:
                    return data
                chosen = await self.pick([job, *waiting], taken)
                if chosen is None or chosen == job or chosen not in waiting:
                    return data
                keys_and_args: list[Any] = [self.queue_name, self.holds, self.consumer_group_name, msg_id]
                swapped: Any = await redis.eval(_SWAP, 2, *keys_and_args, waiting[chosen], chosen, data)
            except Exception as error:  # the database or Redis failed: this message's own job, in order
                log.warning("queue: fair choice failed (%s); taking the oldest job", type(error).__name__)
                return data
            if swapped:
                log.debug("queue: job %s goes before job %s (its user's turn)", chosen, job)
                return _carrying(data, str(chosen).encode())
        return data

    async def _snapshot(self, redis: Redis, msg_id: bytes) -> tuple[dict[int, bytes], set[int]]:
        """Jobs waiting (job -> its message, the oldest message of a job) and jobs held by workers, read in
        one script: parsing a thousand entries in redis-py took 50 ms a turn, the script's answer 1 ms."""
        found: Any = await redis.eval(
            _SNAPSHOT, 2, self.queue_name, self.holds, self.consumer_group_name, msg_id, LOOK_AHEAD
        )
        waiting: dict[int, bytes] = {}
        for pair in found[0].split(b",") if found[0] else []:
            entry_id, _, job = pair.partition(b" ")
            waiting.setdefault(int(job), entry_id)
        taken = {int(job) for job in found[1].split(b",")} if found[1] else set()
        return waiting, taken

    def _ack_and_delete(self, msg_id: Any) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            async with Redis(connection_pool=self.connection_pool) as redis:
                pipe = redis.pipeline(transaction=True)
                pipe.xack(self.queue_name, self.consumer_group_name, msg_id)
                pipe.xdel(self.queue_name, msg_id)
                pipe.hdel(self.holds, msg_id)
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
        pick: Pick | None = None,
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
        self.broker.pick = pick  # the worker's choice among waiting jobs (None: first in, first out)

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
        async with Redis(connection_pool=self.broker.connection_pool) as redis:
            pipe = redis.pipeline(transaction=True)  # a fair swap between the two reads would hide a job
            pipe.xrange(self.stream)
            pipe.hgetall(self.broker.holds)
            entries, holds = await pipe.execute()
        found = (_job_of(holds.get(msg_id) or fields.get(b"data", b"")) for msg_id, fields in entries or [])
        return {job for job in found if job is not None}

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


def _job_of(data: bytes) -> int | None:
    """The job id a message carries: a record's bare id, or the taskiq message's first argument."""
    with contextlib.suppress(KeyError, ValueError, TypeError, IndexError):
        if data.isdigit():
            return int(data)
        return int(json.loads(data)["args"][0])
    return None


def _carrying(data: bytes, job: bytes | None) -> bytes:
    """The taskiq message `data` with its job replaced by `job` (a swap's record), or as it is."""
    if job is None:
        return data
    message = json.loads(data)
    message["args"] = [int(job)]
    return json.dumps(message).encode()
