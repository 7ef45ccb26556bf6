"""Issue 14 (6): the rate limiter forgets exactly one key, keeps hour-long counters through clean-ups, and in
Redis honours REDIS_PREFIX and stores keyed hashes, never the ids inside the keys."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from storage import limits
from storage.limits import MemoryRateLimiter, RedisRateLimiter


async def test_forgetting_one_user_leaves_a_user_whose_id_starts_alike() -> None:
    limiter = MemoryRateLimiter()
    for key in ("msg:telegram:12", "msg:telegram:123"):
        await limiter.hit(key, limit=1, window_s=60)
    await limiter.forget("msg:telegram:12")
    assert not await limiter.exceeded("msg:telegram:12", limit=1, window_s=60)
    assert await limiter.exceeded("msg:telegram:123", limit=1, window_s=60)


async def test_a_cleanup_keeps_counters_whose_own_window_still_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_MEMORY_KEYS", 10)
    clock = [7_200.0]
    monkeypatch.setattr(limits, "clock", lambda: clock[0])
    limiter = MemoryRateLimiter()
    await limiter.hit("redeem-fail:x", limit=1, window_s=3600)
    clock[0] += 120  # two minutes later: the hour still runs, the minute-long counters roll over
    for n in range(20):
        await limiter.hit(f"msg:{n}", limit=30, window_s=60)
    assert await limiter.exceeded("redeem-fail:x", limit=1, window_s=3600)


@pytest.fixture
async def redis() -> AsyncIterator[object]:
    from redis.asyncio import Redis

    client = Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        yield client
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_redis_keys_carry_the_prefix_and_no_ids(redis: object) -> None:
    prefix = f"lim-{uuid.uuid4().hex[:8]}"
    limiter = RedisRateLimiter(redis, prefix=prefix, secret=b"s" * 32)
    await limiter.hit("msg:whatsapp:8801711223344", limit=5, window_s=60)
    await limiter.hit("msg:whatsapp:88017112233", limit=5, window_s=60)
    names = [name.decode() async for name in redis.scan_iter(match="*")]  # type: ignore[attr-defined]
    ours = [name for name in names if name.startswith(f"{prefix}:rl:")]
    assert len(ours) == 2
    assert not any("8801711" in name for name in names)
    await limiter.forget("msg:whatsapp:88017112233")
    assert await limiter.exceeded("msg:whatsapp:8801711223344", limit=1, window_s=60)
    assert not await limiter.exceeded("msg:whatsapp:88017112233", limit=1, window_s=60)
    await limiter.forget("msg:whatsapp:8801711223344")
