"""Fixed-window rate limits: in process for the embedded default, in Redis when REDIS_URL is set."""

from __future__ import annotations

import time
from typing import Any, Protocol


class RateLimiter(Protocol):
    async def hit(self, key: str, *, limit: int, window_s: int) -> bool:
        """Count one attempt; False once `limit` attempts fall in the current window."""

    async def exceeded(self, key: str, *, limit: int, window_s: int) -> bool:
        """True when `limit` hits already fall in the current window (counts nothing)."""

    async def forget(self, prefix: str) -> None:
        """Drop every counter whose key starts with `prefix` (used when a user is erased)."""


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int]] = {}

    async def hit(self, key: str, *, limit: int, window_s: int) -> bool:
        window = int(time.monotonic() // window_s)
        start, count = self._counts.get(key, (window, 0))
        if start != window:
            count = 0
        count += 1
        self._counts[key] = (window, count)
        if len(self._counts) > 100_000:  # keep memory bounded: forget finished windows
            self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
        return count <= limit

    async def exceeded(self, key: str, *, limit: int, window_s: int) -> bool:
        window = int(time.monotonic() // window_s)
        start, count = self._counts.get(key, (window, 0))
        return start == window and count >= limit

    async def forget(self, prefix: str) -> None:
        for key in [k for k in self._counts if k.startswith(prefix)]:
            del self._counts[key]


class RedisRateLimiter:
    def __init__(self, redis: Any, namespace: str = "nexoraz:rl:") -> None:
        self._redis = redis
        self._ns = namespace

    async def hit(self, key: str, *, limit: int, window_s: int) -> bool:
        window = int(time.time() // window_s)
        name = f"{self._ns}{key}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, window_s * 2)
            count, _ = await pipe.execute()
        return int(count) <= limit

    async def exceeded(self, key: str, *, limit: int, window_s: int) -> bool:
        window = int(time.time() // window_s)
        count = await self._redis.get(f"{self._ns}{key}:{window}")
        return int(count or 0) >= limit

    async def forget(self, prefix: str) -> None:
        async for name in self._redis.scan_iter(match=f"{self._ns}{prefix}*"):
            await self._redis.delete(name)
