"""Fixed-window rate limits: in process for the embedded default, in Redis when REDIS_URL is set.

Keys name a person (`msg:telegram:123`, `mydata:whatsapp:8801...`). `forget(key)` drops exactly that key's
counters: erasing `telegram:12` must not reset `telegram:123`. In Redis the key is stored only as a keyed hash
under the deployment's `REDIS_PREFIX`, so Redis never holds a phone number, PSID or chat id.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any, Protocol

MAX_MEMORY_KEYS = 100_000
clock = time.monotonic  # the in-process windows' clock (a test moves it without moving the event loop's)


class RateLimiter(Protocol):
    async def hit(self, key: str, *, limit: int, window_s: int) -> bool:
        """Count one attempt; False once `limit` attempts fall in the current window."""

    async def exceeded(self, key: str, *, limit: int, window_s: int) -> bool:
        """True when `limit` hits already fall in the current window (counts nothing)."""

    async def forget(self, key: str) -> None:
        """Drop every counter of exactly `key` (used when a user is erased)."""


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int, int]] = {}  # key -> (window length, window number, count)

    async def hit(self, key: str, *, limit: int, window_s: int) -> bool:
        window = int(clock() // window_s)
        _length, start, count = self._counts.get(key, (window_s, window, 0))
        count = count + 1 if start == window else 1
        self._counts[key] = (window_s, window, count)
        if len(self._counts) > MAX_MEMORY_KEYS:
            self._forget_finished()
        return count <= limit

    async def exceeded(self, key: str, *, limit: int, window_s: int) -> bool:
        window = int(clock() // window_s)
        _length, start, count = self._counts.get(key, (window_s, window, 0))
        return start == window and count >= limit

    async def forget(self, key: str) -> None:
        self._counts.pop(key, None)

    def _forget_finished(self) -> None:
        """Keep memory bounded: drop counters whose own window has ended (an hour-long counter is kept
        while its hour runs, whatever minute-long counters do)."""
        now = clock()
        self._counts = {k: v for k, v in self._counts.items() if v[1] == int(now // v[0])}


class RedisRateLimiter:
    def __init__(self, redis: Any, *, prefix: str, secret: bytes) -> None:
        self._redis = redis
        self._ns = f"{prefix}:rl:"
        self._secret = secret

    def _base(self, key: str) -> str:
        digest = hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{self._ns}{digest}:"

    async def hit(self, key: str, *, limit: int, window_s: int) -> bool:
        name = f"{self._base(key)}{window_s}:{int(time.time() // window_s)}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, window_s * 2)
            count, _ = await pipe.execute()
        return int(count) <= limit

    async def exceeded(self, key: str, *, limit: int, window_s: int) -> bool:
        count = await self._redis.get(f"{self._base(key)}{window_s}:{int(time.time() // window_s)}")
        return int(count or 0) >= limit

    async def forget(self, key: str) -> None:
        # The hex digest and the colon after it contain no glob characters: this matches this key only.
        async for name in self._redis.scan_iter(match=f"{self._base(key)}*"):
            await self._redis.delete(name)
