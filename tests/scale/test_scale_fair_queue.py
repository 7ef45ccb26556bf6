"""Issue 14: the Redis render queue serves users in turn, as the in-process queue does.

Real Redis and `python -m bot worker` processes: seller A's ten photos are queued, then seller B's one; B is
told "#2 in line" and B's result comes among the first two, with one worker and with two. Below that, the
swap itself: the worker's message carries the chosen job, every job keeps exactly one message (the
sweeper's `queued_ids`, the depth), the acknowledgement drops the record, and a dead worker's message is
redelivered with the job it carried.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Collection
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.queue_redis import RedisJobQueue
from bot.workers import fair_pick
from handlers.model import Progress
from tests.photos.photo_harness import product_photo
from tests.scale.scale_harness import REDIS_URL, scale_bot

pytestmark = pytest.mark.redis


@pytest.mark.parametrize("workers", [1, 2])
async def test_one_sellers_ten_photos_do_not_delay_another_seller(tmp_path: Path, workers: int) -> None:
    async with scale_bot(tmp_path, ["album-a", "single-b"], signup_credits=12) as bot:
        for n in range(10):
            await bot.photo("album-a", product_photo(colour=(20 * n, 40, 90)))
        told = await bot.photo("single-b", product_photo(colour=(30, 160, 60)))
        assert any(isinstance(r, Progress) and "#2 in line" in r.text for r in told)  # A's first, then B's
        assert await bot.queue.refresh_depth() == 11
        for _ in range(workers):
            bot.start_worker()
        await bot.settle(timeout=180)
        assert set((await bot.job_states()).values()) == {"delivered"}
        per_job = bot.results.count("album-a") // 10
        assert per_job >= 1 and bot.results.count("single-b") == per_job
        a_before_b = bot.results[: bot.results.index("single-b")].count("album-a") // per_job
        # B's job is taken first or second. With two workers, what is delivered before it also depends on how long
        # each render takes on a loaded machine (A's next photos can finish while B's renders): a few, where first
        # in, first out would give 9 or 10.
        bound = 1 if workers == 1 else 4
        assert a_before_b <= bound, f"{a_before_b} of A's 10 jobs went before B's one"
        assert await bot.balance("album-a") == 2 and await bot.balance("single-b") == 11
        assert await bot.drift() == []
        assert await bot.queue.refresh_depth() == 0
        assert await bot.redis.exists(bot.queue.broker.holds) == 0  # every record went with its ack


def chooses(job: int) -> object:
    async def pick(candidates: list[int], taken: Collection[int]) -> int | None:
        return job if job in candidates else None

    return pick


async def test_a_swap_keeps_one_message_per_job_and_survives_a_dead_worker() -> None:
    prefix = f"nxz-test-{uuid.uuid4().hex[:10]}"
    first = RedisJobQueue(REDIS_URL, prefix=prefix, redeliver_after_s=0.2, consumer_name="first", pick=chooses(4))  # type: ignore[arg-type]
    second = RedisJobQueue(REDIS_URL, prefix=prefix, redeliver_after_s=0.2, consumer_name="second")
    redis = Redis.from_url(REDIS_URL)
    try:
        for job in (1, 2, 3, 4, 5):
            await first.enqueue(job)
        reading = first.broker.listen()
        message = await anext(reading)
        assert json.loads(message.data)["args"] == [4]  # the oldest message now carries the chosen job
        assert await first.queued_ids() == {1, 2, 3, 4, 5} and await first.refresh_depth() == 5
        assert await redis.hlen(first.broker.holds) == 1
        # The first worker dies holding it: once idle, another worker takes the message over, with job 4.
        await second.startup()
        await asyncio.sleep(0.4)
        listening = second.broker.listen()
        taken_over = await anext(listening)
        assert json.loads(taken_over.data)["args"] == [4]
        await taken_over.ack()  # type: ignore[misc]
        assert await first.queued_ids() == {1, 2, 3, 5} and await first.refresh_depth() == 4
        assert await redis.hlen(first.broker.holds) == 0
        order = []
        for _ in range(4):  # no pick here: first in, first out, and the swap queued job 1 again behind 5
            got = await anext(listening)
            order.append(json.loads(got.data)["args"][0])
            await got.ack()  # type: ignore[misc]
        assert order == [2, 3, 5, 1]
        assert await first.refresh_depth() == 0
        await reading.aclose()
        await listening.aclose()
    finally:
        await first.aclose()
        await second.aclose()
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def test_a_job_another_worker_holds_counts_as_its_sellers_turn(tmp_path: Path) -> None:
    """Two workers read at once: the first one's message is pending, its job not claimed yet. The second
    worker counts it as A's rendering and serves B, not A's next photo."""
    async with scale_bot(tmp_path, ["held-a", "held-b"]) as bot:
        for n in range(3):
            await bot.photo("held-a", product_photo(colour=(20 * n, 40, 90)))
        await bot.photo("held-b", product_photo())
        prefix = bot.settings.redis_prefix
        workers = [RedisJobQueue(REDIS_URL, prefix=prefix, consumer_name=name, pick=fair_pick(bot.db)) for name in "xy"]
        readers = [worker.broker.listen() for worker in workers]
        try:
            jobs = [json.loads((await anext(reader)).data)["args"][0] for reader in readers]
            states = await bot.job_states()
            assert jobs == [1, 4] and states[1] == "accepted", "the second worker served A again"
        finally:
            for reader in readers:
                await reader.aclose()
            for worker in workers:
                await worker.aclose()
