"""Regression: a worker whose Redis lost the render stream (a restart without persistence) used to die with
NOGROUP; it now creates the group again and takes the next job."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from redis.asyncio import Redis

from bot.queue_redis import RedisJobQueue

pytestmark = [pytest.mark.slow, pytest.mark.redis]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def test_listen_survives_the_stream_and_group_being_lost() -> None:
    prefix = f"nxz-test-{uuid.uuid4().hex[:10]}"
    queue = RedisJobQueue(REDIS_URL, prefix=prefix, read_block_s=0.1)
    redis = Redis.from_url(REDIS_URL)
    try:
        await queue.startup()
        await redis.delete(queue.stream)  # what `redis-cli shutdown nosave` + restart leaves: no stream, no group
        messages = queue.broker.listen()
        first = asyncio.ensure_future(messages.__anext__())
        await asyncio.sleep(0.3)
        assert not first.done()  # still listening, not dead with NOGROUP
        await queue.enqueue(42)
        message = await asyncio.wait_for(first, 10)
        assert b"42" in message.data
        await message.ack()
        assert await queue.refresh_depth() == 0
        await messages.aclose()
    finally:
        await queue.aclose()
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
