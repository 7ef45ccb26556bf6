"""The web chat across processes (REDIS_URL set): uploads, result files and late replies go through Redis.

Without Redis the web chat keeps uploads and result images in its own memory and pushes late replies to
the visitor's open event streams directly. With render workers in other processes (other machines), that
memory is out of reach, so `WebChat` is given a relay:

- an upload is stored in Redis for `ttl_s` (1 h) under a random key, so any worker can `fetch_media` it;
- a worker's `send` stores the images/documents of its replies in Redis (same TTL) and publishes the
  serialized replies on the visitor's pub/sub channel; image URLs stay `/webchat/media/<key>` and the
  front serves them from Redis (only to the visitor they were made for);
- every front process subscribes to the visitors' channels (one pattern subscription) and forwards what
  arrives to the event streams of the visitors connected to it; a visitor connected nowhere misses the
  live push, as without Redis (the results wait in /history).

Channel names carry a keyed hash of the visitor token, never the token (a cookie credential) itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

FILE_TTL_S = 3600
Kind = Literal["upload", "media"]
Deliver = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class RelayedFile:
    visitor: str
    mime: str
    name: str
    data: bytes


class WebChatRelay:
    def __init__(self, redis: Redis, *, prefix: str, key: bytes, ttl_s: int = FILE_TTL_S) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:webchat"
        self._key = key
        self._ttl_s = ttl_s
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

    def _file_key(self, kind: Kind, key: str) -> str:
        return f"{self._prefix}:{kind}:{key}"

    def _index_key(self, visitor: str) -> str:
        return f"{self._prefix}:files-of:{self.visitor_hash(visitor)}"

    # Files ----------------------------------------------------------------------------------------

    @staticmethod
    def new_key() -> str:
        return secrets.token_urlsafe(16)

    async def put_file(self, kind: Kind, item: RelayedFile, key: str | None = None) -> str:
        key = key or self.new_key()
        await self.put_files(kind, [(key, item)])
        return key

    async def put_files(self, kind: Kind, items: Iterable[tuple[str, RelayedFile]]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for key, item in items:
            name = self._file_key(kind, key)
            pipe.hset(name, mapping={"v": item.visitor, "m": item.mime, "n": item.name, "d": item.data})
            pipe.expire(name, self._ttl_s)
            index = self._index_key(item.visitor)
            pipe.sadd(index, name)
            pipe.expire(index, self._ttl_s)
        await pipe.execute()

    async def get_file(self, kind: Kind, key: str) -> RelayedFile | None:
        fields: dict[Any, Any] = await self._redis.hgetall(self._file_key(kind, key))  # type: ignore[misc]
        if not fields or b"d" not in fields:
            return None
        return RelayedFile(
            visitor=fields[b"v"].decode(), mime=fields[b"m"].decode(), name=fields[b"n"].decode(), data=fields[b"d"]
        )

    async def forget_visitor(self, visitor: str) -> None:
        index = self._index_key(visitor)
        names: set[Any] = await self._redis.smembers(index)  # type: ignore[misc]
        await self._redis.delete(index, *names)

    # Late replies ---------------------------------------------------------------------------------

    async def publish(self, visitor: str, item: dict[str, Any], files: Iterable[tuple[str, RelayedFile]] = ()) -> int:
        """Store the files the item links to, then publish it; returns how many fronts received it."""
        files = list(files)
        if files:
            await self.put_files("media", files)
        return int(await self._redis.publish(self.channel(visitor), json.dumps(item, ensure_ascii=False)))

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
        try:
            item = json.loads(message["data"])
        except (ValueError, TypeError):
            log.warning("web chat relay: an unreadable message on %s", channel)
            return
        if not isinstance(item, dict):
            return
        for visitor in list(visitors()):
            if hmac.compare_digest(self.visitor_hash(visitor), wanted):
                deliver(visitor, item)
