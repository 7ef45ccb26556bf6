"""The dispatcher alone, in process: a backlog of `/help` or `/credits` from many users, drained the way the
channels drain it (users in parallel, each user's events in order), on SQLite or PostgreSQL.

This is the profiling harness for the front end's hot path: no HTTP and no platform, only what every
inbound event costs us (rate limit, event claim, user, handler, commit). `--profile` writes a pyinstrument
report (text, top of the call tree) next to the numbers. Prints numbers; asserts nothing.

    .venv/bin/python bench/dispatch.py [--command help|credits] [--events 2000] [--users 100]
        [--postgres] [--profile out.txt]
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
from bot.app import build_router  # noqa: E402
from handlers import basics  # noqa: E402
from handlers.config import Config  # noqa: E402
from handlers.context import Services  # noqa: E402
from handlers.dispatcher import Dispatcher  # noqa: E402
from handlers.model import Channel, Inbound, Kind  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.limits import MemoryRateLimiter  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


async def fresh_postgres() -> str:
    import asyncpg

    name = f"nxz_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    finally:
        await conn.close()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name


async def drop_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


def backlog(command: str, events: int, users: int, first_id: int) -> dict[str, list[Inbound]]:
    by_user: dict[str, list[Inbound]] = {}
    for n in range(events):
        user = str(500_000 + n % users)
        event = Inbound(
            channel=Channel.TELEGRAM,
            user_id=user,
            chat_id=user,
            event_id=str(first_id + n),
            kind=Kind.COMMAND,
            text=f"/{command}",
            locale_hint="bn" if n % 2 else "en",
        )
        by_user.setdefault(user, []).append(event)
    return by_user


async def drain(dispatcher: Dispatcher, by_user: dict[str, list[Inbound]]) -> int:
    answered = 0

    async def one_user(events: list[Inbound]) -> None:
        nonlocal answered
        for event in events:
            replies = await dispatcher.dispatch(event)
            answered += bool(replies)

    await asyncio.gather(*(one_user(e) for e in by_user.values()))
    return answered


async def run(args: argparse.Namespace) -> None:
    print(f"{load_average()} (before)")
    with tempfile.TemporaryDirectory() as tmp:
        url = await fresh_postgres() if args.postgres else f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
        try:
            await migrate.upgrade_async(url)
            db = Database(url)
            services = Services(db=db, limiter=MemoryRateLimiter(), config=Config())
            dispatcher = Dispatcher(services, build_router(), basics.fallback)
            await drain(dispatcher, backlog(args.command, args.users, args.users, 1))  # sign-ups, warm-up
            work = backlog(args.command, args.events, args.users, 1_000_000)
            profiler = None
            if args.profile:
                from pyinstrument import Profiler

                profiler = Profiler(async_mode="disabled")
                profiler.start()
            cpu, began = time.process_time(), time.perf_counter()
            answered = await drain(dispatcher, work)
            took, cpu = time.perf_counter() - began, time.process_time() - cpu
            if profiler is not None:
                profiler.stop()
                report = profiler.output_text(unicode=False, color=False, show_all=False)
                await asyncio.to_thread(Path(args.profile).write_text, report)
            await db.dispose()
        finally:
            if args.postgres:
                await drop_postgres(url)
    print(
        f"{args.events} /{args.command} from {args.users} users on {'postgresql' if args.postgres else 'sqlite'}: "
        f"{args.events / took:.0f} events/s, {1000 * cpu / args.events:.2f} ms CPU per event in this process, "
        f"{answered} answered"
    )
    print(f"{load_average()} (after)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--command", choices=("help", "credits"), default="help")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--profile", help="write a pyinstrument text report to this file")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
