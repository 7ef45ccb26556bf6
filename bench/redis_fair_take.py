"""The fair Redis queue's price: a worker's take (read, choose, acknowledge) with the fair choice against
first in, first out on the same stream and SQLite file; and "#N in line" under the fair rule against the
old count of smaller ids.

History: `--users` sellers with `--done` delivered jobs each; queue: `--queued` accepted jobs (one seller
holds half, like an abuser's albums), all on a Redis stream (127.0.0.1:6379, TEST_REDIS_URL, a fresh
prefix per run, deleted after). Each mode takes and acknowledges `--takes` messages. Prints ms per take
and per place counted; asserts nothing.

    .venv/bin/python bench/redis_fair_take.py [--users 200] [--done 50] [--queued 1000] [--takes 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from redis.asyncio import Redis  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlmodel import col  # noqa: E402

from bench.fair_pick import seed  # noqa: E402
from bot.queue_redis import RedisJobQueue  # noqa: E402
from bot.workers import fair_pick  # noqa: E402
from storage import jobs, migrate, queue_order  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import RenderJob  # noqa: E402

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def takes(db: Database, queued: list[int], count: int, *, fair: bool) -> float:
    prefix = f"nxz-bench-{uuid.uuid4().hex[:8]}"
    queue = RedisJobQueue(REDIS_URL, prefix=prefix, pick=fair_pick(db) if fair else None)
    redis = Redis.from_url(REDIS_URL)
    try:
        for job_id in queued:
            await queue.enqueue(job_id)
        reader = queue.broker.listen()
        start = time.perf_counter()
        for _ in range(count):
            message = await anext(reader)
            await message.ack()  # type: ignore[misc]
        elapsed = (time.perf_counter() - start) / count * 1000
        await reader.aclose()
        return elapsed
    finally:
        await queue.aclose()
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def places(db: Database, job_id: int, count: int, *, fair: bool) -> float:
    start = time.perf_counter()
    for _ in range(count):
        async with db.transaction() as s:
            if fair:
                await queue_order.position(s, job_id)
            else:
                pending = col(RenderJob.state).in_(jobs.PENDING)
                await s.scalar(select(func.count()).where(pending, col(RenderJob.id) <= job_id))
    return (time.perf_counter() - start) / count * 1000


async def main(users: int, done: int, queued: int, count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'fair.sqlite3'}"
        await migrate.upgrade_async(url)
        db = Database(url)
        line = await seed(db, users, done, queued)
        timings = {
            "take fifo": await takes(db, line, count, fair=False),
            "take fair": await takes(db, line, count, fair=True),
            "take fifo again": await takes(db, line, count, fair=False),
            "place by id": await places(db, line[-1], count, fair=False),
            "place fair": await places(db, line[-1], count, fair=True),
        }
        await db.dispose()
    print(f"users={users} delivered={users * done} queued={len(line)} takes={count}")
    for name, ms in timings.items():
        print(f"  {name:<16} {ms:8.2f} ms")
    print(f"  take fair / fifo   {timings['take fair'] / timings['take fifo']:6.1f}x")
    print(f"  place fair / by id {timings['place fair'] / timings['place by id']:6.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--done", type=int, default=50)
    parser.add_argument("--queued", type=int, default=1000)
    parser.add_argument("--takes", type=int, default=50)
    a = parser.parse_args()
    asyncio.run(main(a.users, a.done, a.queued, a.takes))
