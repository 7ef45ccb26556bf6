"""A front in the test process (dispatcher + RedisJobQueue + web chat relay) and `python -m bot worker` processes.

Everything is real: Redis at 127.0.0.1:6379 (keys under a unique prefix, deleted afterwards), a SQLite
file shared by the processes, worker subprocesses that render with the classical segmenter. Deliveries are
observed the way a front observes them: on the visitors' pub/sub channels of the web chat relay.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select

from bot.channels.webchat_relay import WebChatRelay
from bot.queue_redis import RedisJobQueue
from bot.settings import Settings
from handlers.config import Config
from handlers.context import Services
from handlers.dispatcher import Dispatcher
from handlers.model import Channel, Inbound, Kind, MediaRef
from storage import ledger, migrate, users
from storage.blobs import BlobStore
from storage.db import Database
from storage.limits import MemoryRateLimiter
from storage.models import RenderJob
from storage.users import Identity
from tests.helpers import make_dispatcher

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REPO = Path(__file__).resolve().parents[2]
FILES_KEY = "scale-test-files-key-0123456789abcdef"


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path

    def kill(self) -> None:
        """SIGKILL the worker and its render processes (a machine lost)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class ScaleBot:
    tmp_path: Path
    settings: Settings
    env: dict[str, str]
    db: Database
    redis: Redis
    queue: RedisJobQueue
    relay: WebChatRelay
    dispatcher: Dispatcher
    visitors: list[str]
    workers: list[Worker] = field(default_factory=list)
    received: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    published: list[bytes] = field(default_factory=list)  # every relay message as Redis carried it
    results: list[str] = field(default_factory=list)  # the visitor of each message with results, in order
    counter: int = 0

    def start_worker(self, *extra: str, env: dict[str, str] | None = None) -> Worker:
        n = len(self.workers)
        log_path = self.tmp_path / f"worker-{n}.log"
        with log_path.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot", "worker", "--grace", "10", *extra],
                cwd=self.tmp_path,
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: SIGKILL takes its render processes too
            )
        worker = Worker(process, log_path)
        self.workers.append(worker)
        return worker

    async def photo(self, visitor: str, data: bytes) -> list[Any]:
        """The visitor sends a photo through the front: sealed in the blob store, job created, charged, queued."""
        self.counter += 1
        key = BlobStore(self.settings.data_dir, self.settings.secret_key("files")).put(data)
        event = Inbound(
            channel=Channel.WEB,
            user_id=visitor,
            chat_id=visitor,
            event_id=f"{visitor}:photo-{self.counter}",
            kind=Kind.PHOTO,
            locale_hint="en",
            media=(MediaRef(file_id=key, mime="image/jpeg", size=len(data)),),
        )
        return await self.dispatcher.dispatch(event)

    def documents(self, visitor: str) -> list[dict[str, Any]]:
        return [
            reply
            for item in self.received[visitor]
            for reply in item.get("replies", [])
            if reply.get("type") == "document"
        ]

    async def balance(self, visitor: str) -> int:
        async with self.db.transaction() as s:
            found = await users.find(s, Identity("web", visitor))
            assert found is not None
            return await ledger.balance(s, found.id or 0)

    async def job_states(self) -> dict[int, str]:
        async with self.db.transaction() as s:
            rows = await s.execute(select(RenderJob))
            return {job.id or 0: job.state for job in rows.scalars()}

    async def settle(self, timeout: float = 60) -> None:
        """Wait until every job has reached an end state."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(state in ("accepted", "rendering") for state in (await self.job_states()).values()):
            if loop.time() > deadline:
                logs = "\n".join(w.log()[-3000:] for w in self.workers)
                raise TimeoutError(f"jobs still pending: {await self.job_states()}\n{logs}")
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # the last pub/sub messages are on their way

    async def wait_for(self, predicate: Any, timeout: float = 30, what: str = "condition") -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await predicate():
            if loop.time() > deadline:
                logs = "\n".join(w.log()[-3000:] for w in self.workers)
                raise TimeoutError(f"{what} not met in {timeout}s\n{logs}")
            await asyncio.sleep(0.05)

    async def drift(self) -> list[Any]:
        async with self.db.transaction() as s:
            return list(await ledger.drift(s))


async def _listen(bot: ScaleBot, ready: asyncio.Event) -> None:
    """Collect every late reply published to any visitor of this prefix (as a front's subscription would)."""
    pubsub = bot.redis.pubsub()
    await pubsub.psubscribe(bot.relay.channel_pattern())
    ready.set()
    try:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                continue
            channel = message["channel"].decode()
            bot.published.append(message["data"])
            item = bot.relay.open(channel, message["data"])  # sealed for its channel (bot/redis_seal.py)
            assert item is not None, "a relay message that does not open"
            for visitor in bot.visitors:
                if bot.relay.visitor_hash(visitor) == channel.rsplit(":", 1)[-1]:
                    bot.received[visitor].append(item)
                    if any(r.get("type") == "document" for r in item.get("replies", [])):
                        bot.results.append(visitor)
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]


@asynccontextmanager
async def scale_bot(
    tmp_path: Path,
    visitors: list[str],
    *,
    redeliver_s: float = 60.0,
    lease_s: int = 300,
    signup_credits: int = 3,
    redis_url: str = REDIS_URL,
) -> AsyncIterator[ScaleBot]:
    prefix = f"nxz-test-{uuid.uuid4().hex[:10]}"
    data_dir = tmp_path / "data"
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'scale.sqlite3'}"
    await migrate.upgrade_async(database_url)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))},
        "PYTHONPATH": str(REPO),
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": prefix,
        "FILES_KEY": FILES_KEY,
        "SEGMENTER": "classical",
        "RENDER_WORKERS": "1",
        "QUEUE_REDELIVER_SECONDS": str(redeliver_s),
        "JOB_LEASE_SECONDS": str(lease_s),
        "SIGNUP_CREDITS": str(signup_credits),
        "WEB_VISITOR_CREDITS": str(signup_credits),  # about rendering, not who gets credits
        "LOG_LEVEL": "INFO",
    }
    settings = Settings(  # type: ignore[call-arg]
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=prefix,
        files_key=FILES_KEY,
        segmenter="classical",
        web_visitor_credits=3,  # about rendering, not who gets credits (test_webchat_linking.py)
        _env_file=None,
    )
    db = Database(database_url)
    redis = Redis.from_url(redis_url)
    queue = RedisJobQueue(redis_url, prefix=prefix, redeliver_after_s=redeliver_s)
    relay = WebChatRelay(redis, prefix=prefix, key=settings.secret_key("webchat-relay"))
    services = Services(
        db=db,
        limiter=MemoryRateLimiter(),
        config=Config(
            identity_key=settings.secret_key("identity"),
            signup_credits=signup_credits,
            web_visitor_credits=signup_credits,  # about rendering at scale, not who gets credits
        ),
        blobs=BlobStore(data_dir, settings.secret_key("files")),
        jobs=queue,
    )
    bot = ScaleBot(tmp_path, settings, env, db, redis, queue, relay, make_dispatcher(services), visitors)
    ready = asyncio.Event()
    listener = asyncio.create_task(_listen(bot, ready))
    await asyncio.wait_for(ready.wait(), 5)
    try:
        yield bot
    finally:
        for worker in bot.workers:
            worker.kill()
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await queue.aclose()
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        await db.dispose()
