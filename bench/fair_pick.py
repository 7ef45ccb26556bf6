"""The fair queue's price: one `jobs.fairest` choice (round-robin across users) against a first-in-first-out
choice among the same queued ids (`id IN (...) ORDER BY id LIMIT 1`), on the same SQLite file.

History: `--users` sellers with `--done` delivered jobs each; queue: `--queued` accepted jobs spread over
them (one seller holds half, like an abuser's albums), `--rendering` of them claimed. Prints ms per choice
and the ratio; asserts nothing.

    .venv/bin/python bench/fair_pick.py [--users 200] [--done 50] [--queued 1000] [--rendering 2] [--picks 50]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sqlalchemy import insert, select  # noqa: E402
from sqlmodel import col  # noqa: E402

from storage import jobs, migrate  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import RenderJob, User  # noqa: E402


def job_row(user_id: int, state: str, attempts: int) -> dict[str, object]:
    return {
        "user_id": user_id,
        "channel": "web",
        "chat_id": f"c{user_id}",
        "batch_key": f"web:{user_id}",
        "style": "white",
        "size": "original",
        "state": state,
        "attempts": attempts,
    }


async def seed(db: Database, users: int, done: int, queued: int) -> list[int]:
    """`users` sellers with `done` delivered jobs each, and `queued` waiting jobs, half of them one seller's:
    the waiting jobs' ids, oldest first."""
    async with db.transaction() as s:
        await s.execute(insert(User), [{"channel": "web", "external_id": f"u{n}"} for n in range(users)])
        ids = [int(i) for i in (await s.execute(select(col(User.id)))).scalars()]
        await s.execute(insert(RenderJob), [job_row(u, jobs.DELIVERED, 1) for u in ids for _ in range(done)])
        abuser = [job_row(ids[0], jobs.ACCEPTED, 0) for _ in range(queued // 2)]
        others = [job_row(ids[1 + n % (users - 1)], jobs.ACCEPTED, 0) for n in range(queued - len(abuser))]
        await s.execute(insert(RenderJob), abuser + others)
        waiting = select(col(RenderJob.id)).where(col(RenderJob.state) == jobs.ACCEPTED).order_by(col(RenderJob.id))
        return [int(i) for i in (await s.execute(waiting)).scalars()]


async def main(users: int, done: int, queued: int, rendering: int, picks: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'fair.sqlite3'}"
        await migrate.upgrade_async(url)
        db = Database(url)
        candidates = await seed(db, users, done, queued)
        async with db.transaction() as s:
            for job_id in candidates[:rendering]:
                await jobs.claim(s, job_id, 300)
        queue = candidates[rendering:]

        async def fifo() -> None:
            async with db.transaction() as s:
                await s.scalar(select(col(RenderJob.id)).where(col(RenderJob.id).in_(queue)).order_by("id").limit(1))

        async def fair() -> None:
            async with db.transaction() as s:
                await jobs.fairest(s, queue)

        timings = {}
        for name, choose in (("fifo", fifo), ("fair", fair), ("fifo again", fifo)):
            await choose()  # warm
            start = time.perf_counter()
            for _ in range(picks):
                await choose()
            timings[name] = (time.perf_counter() - start) / picks * 1000
        await db.dispose()
    print(f"users={users} delivered={users * done} queued={len(queue)} rendering={rendering} picks={picks}")
    for name, ms in timings.items():
        print(f"  {name:<11} {ms:8.2f} ms per choice")
    print(f"  fair / fifo {timings['fair'] / timings['fifo']:8.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--done", type=int, default=50)
    parser.add_argument("--queued", type=int, default=1000)
    parser.add_argument("--rendering", type=int, default=2)
    parser.add_argument("--picks", type=int, default=50)
    a = parser.parse_args()
    asyncio.run(main(a.users, a.done, a.queued, a.rendering, a.picks))
