"""How a reply made later (a render result) reaches the page: pushed to the visitor's open event streams.

The reply itself is already kept (bot/channels/webchat_store.py): the push only saves the page a wait.
Two ways, one interface, chosen once in the composition root:

- `LocalPush` (no REDIS_URL): the render workers run in this process; hand the item to the streams here.
- `WebChatRelay` (REDIS_URL set): workers run in other processes or machines; a worker publishes the item
  on the visitor's pub/sub channel and every front forwards what arrives to the visitors connected to it.
  A visitor connected nowhere misses only the push: the page asks for what it missed when it reconnects.

Channel names carry a keyed hash of the visitor token, never the token (a cookie credential) itself, and
every message is sealed (AES-GCM, bot/redis_seal.py) with its channel name as associated data: Redis, its
replicas and anyone running `MONITOR` see no reply, and a message that does not open is dropped (the page
still gets the reply from /history).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.redis_seal import RedisSeal

log = logging.getLogger(__name__)

Deliver = Callable[[str, dict[str, Any]], None]


class Push(Protocol):
    """How a late reply reaches open pages: in this process, or through Redis (below)."""

    async def start(self, deliver: Deliver, visitors: Callable[[], Iterable[str]]) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, visitor: str, item: dict[str, Any]) -> None: ...


class LocalPush:
    """Without Redis: the worker that finished a job runs in this process, so deliver directly."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver, visitors: Callable[[], Iterable[str]]) -> None:
        self._deliver = deliver

    async def stop(self) -> None:
        self._deliver = None

    async def publish(self, visitor: str, item: dict[str, Any]) -> None:
        if self._deliver is not None:
            self._deliver(visitor, item)


class WebChatRelay:
    def __init__(self, redis: Redis, *, prefix: str, key: bytes) -> None:
        self._redis = redis
        self._seal = RedisSeal(key, purpose="webchat relay messages")  # HKDF: independent of the name hashes
        self._prefix = f"{prefix}:webchat"
        self._key = key
        self._hashes: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    # Names ----------------------------------------------------------------------------------------

    def visitor_hash(self, visitor: str) -> str:
        found = self._hashes.get(visitor)
        if found is None:
            found = hmac.new(self._key, visitor.encode(), hashlib.sha256).hexdigest()[:32]
            if len(self._hashes) > 100_000:
                self._hashes.clear()
            self._hashes[visitor] = found
        return found

    def channel(self, visitor: str) -> str:
        """The pub/sub channel of a visitor's late replies."""
        return f"{self._prefix}:to:{self.visitor_hash(visitor)}"

    def channel_pattern(self) -> str:
        """Every visitor's channel (what a front subscribes to)."""
        return f"{self._prefix}:to:*"

    # Late replies ---------------------------------------------------------------------------------

    def seal(self, channel: str, item: dict[str, Any]) -> bytes:
        return self._seal.seal(channel, json.dumps(item, ensure_ascii=False).encode())

    def open(self, channel: str, data: bytes) -> dict[str, Any] | None:
        """The item published on `channel`, or None when it does not open there or is not an item."""
        opened = self._seal.open(channel, data)
        if opened is None:
            return None
        try:
            item = json.loads(opened)
        except (ValueError, TypeError):
            return None
        return item if isinstance(item, dict) else None

    async def publish(self, visitor: str, item: dict[str, Any]) -> None:
        """Best effort: the item is kept in the database already, so a Redis hiccup only delays it."""
        try:
            channel = self.channel(visitor)
            await self._redis.publish(channel, self.seal(channel, item))
        except (RedisError, OSError) as error:
            log.warning("web chat relay: publish failed (%s); the page catches up when it reconnects", error)

    async def start(self, deliver: Deliver, visitors: Callable[[], Iterable[str]]) -> None:
        """Subscribe (front processes): `deliver(visitor, item)` for each item to a visitor connected here."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen(deliver, visitors), name="webchat-relay")
            waiter = asyncio.create_task(self.subscribed.wait())
            await asyncio.wait({waiter, self._task}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self.subscribed.clear()

    async def _listen(self, deliver: Deliver, visitors: Callable[[], Iterable[str]]) -> None:
        pattern = self.channel_pattern()
        backoff = 0.5
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(pattern)
                self.subscribed.set()
                backoff = 0.5
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30.0)
                    if message is not None and message.get("type") == "pmessage":
                        self._dispatch(message, deliver, visitors)
            except (RedisError, OSError) as error:
                self.subscribed.clear()
                log.warning("web chat relay: %s; subscribing again in %.1fs", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(pubsub.aclose())  # type: ignore[no-untyped-call]

    def _dispatch(self, message: dict[str, Any], deliver: Deliver, visitors: Callable[[], Iterable[str]]) -> None:
        channel = message["channel"].decode() if isinstance(message["channel"], bytes) else str(message["channel"])
        wanted = channel.rsplit(":", 1)[-1]
        data = message["data"]
        item = self.open(channel, data if isinstance(data, bytes) else str(data).encode())
        if item is None:  # tampered, moved from another channel, or sealed under another key: missing
            log.warning("web chat relay: dropped a message that did not open (%s bytes)", len(data))
            return
        for visitor in list(visitors()):
            if hmac.compare_digest(self.visitor_hash(visitor), wanted):
                deliver(visitor, item)
