"""Issue #13, case 7 in Redis mode: every worker's sweeper re-added every `accepted` job older than 60 s on
every sweep (20 waiting jobs became 200 stream entries in 5 s). Now a sweep adds a message only for a due job
that has none in the stream, and one worker sweeps per interval."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bot.queue_redis import RedisJobQueue
from bot.workers import JobRunner
from tests.faults.stack import REDIS_URL
from tests.photos.photo_harness import photo_bot, product_photo

pytestmark = pytest.mark.redis


async def test_sweeps_add_only_the_missing_messages_and_one_worker_sweeps(tmp_path: Path) -> None:
    prefix = f"nxz-sweep-{uuid.uuid4().hex[:8]}"
    queue = RedisJobQueue(REDIS_URL, prefix=prefix)
    async with photo_bot(tmp_path) as bot:
        await bot.runner.stop()  # no worker consumes: twenty photos wait
        for n in range(20):
            await bot.dispatcher.dispatch(bot.photo(f"s{n}", product_photo(160, 120)))
        runner = JobRunner(
            bot.runner.settings,
            bot.services.db,
            bot.runner.blobs,
            {},
            bot.queue.take,
            queue.enqueue,
            queued=queue.queued_ids,
            sweep_turn=queue.sweep_turn,
        )
        try:
            await queue.startup()
            assert len(await runner.sweep()) == 20  # none was in the stream yet
            for _ in range(5):
                assert await runner.sweep() == []
            assert await queue.refresh_depth() == 20
            from redis.asyncio import Redis

            async with Redis.from_url(REDIS_URL) as redis:
                entries = await redis.xrange(queue.stream, count=5)
                await redis.xdel(queue.stream, *[msg_id for msg_id, _ in entries])  # five messages lost
            assert await queue.refresh_depth() == 15
            assert len(await runner.sweep()) == 5
            assert await runner.sweep() == []
            assert await queue.refresh_depth() == 20
            assert await queue.queued_ids() == set(range(1, 21))
            assert await queue.sweep_turn(30.0) is True
            assert await queue.sweep_turn(30.0) is False  # another worker's sweeper waits for the next turn
        finally:
            from redis.asyncio import Redis

            async with Redis.from_url(REDIS_URL) as redis:
                keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
                if keys:
                    await redis.delete(*keys)
            await queue.aclose()
