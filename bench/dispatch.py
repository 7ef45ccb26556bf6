"""The dispatcher alone, in process: a backlog of `/help` or `/credits` from many users, drained the way the
channels drain it (users in parallel, each user's events in order), on SQLite or PostgreSQL.

This is the profiling harness for the front end's hot path: no HTTP and no platform, only what every
inbound event costs us (rate limit, event claim, user, handler, commit). `--profile` writes a pyinstrument
report (text, top of the call tree) next to the numbers. Prints numbers; asserts nothing.

    .venv/bin/python bench/dispatch.py [--command help|credits] [--events 2000] [--users 100]
        [--postgres] [--fronts 1,2] [--profile out.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

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


def backlog(
    command: str, events: int, users: int, first_id: int, first_user: int = 500_000
) -> dict[str, list[Inbound]]:
    by_user: dict[str, list[Inbound]] = {}
    for n in range(events):
        user = str(first_user + n % users)
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


async def front(url: str, args: argparse.Namespace, index: int, start: Any = None) -> tuple[float, float, int]:
    """One front end's dispatcher draining its own users' backlog: (seconds, CPU seconds, answered)."""
    db = Database(url)
    services = Services(db=db, limiter=MemoryRateLimiter(), config=Config())
    dispatcher = Dispatcher(services, build_router(), basics.fallback)
    first_user = 500_000 + index * 100_000
    await drain(dispatcher, backlog(args.command, args.users, args.users, 1 + index * 10**7, first_user))  # sign-ups
    work = backlog(args.command, args.events, args.users, 1_000_000 + index * 10**7, first_user)
    if start is not None:
        await asyncio.to_thread(start.wait)  # every front starts its backlog at once
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
    return took, cpu, answered


def _front_process(url: str, args: argparse.Namespace, index: int, start: Any, results: Any) -> None:
    results.put(asyncio.run(front(url, args, index, start)))


def fronts(url: str, args: argparse.Namespace, count: int) -> tuple[float, float]:
    """`count` front processes on one database, each with its own users: (events/s together, CPU ms/event)."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(count), context.Queue()
    processes = [context.Process(target=_front_process, args=(url, args, i, start, results)) for i in range(count)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    took = max(t for t, _, _ in outcomes)
    cpu = sum(c for _, c, _ in outcomes)
    return count * args.events / took, 1000 * cpu / (count * args.events)


async def run(args: argparse.Namespace) -> None:
    print(f"{load_average()} (before)")
    db_name = "postgresql" if args.postgres else "sqlite"
    with tempfile.TemporaryDirectory() as tmp:
        url = await fresh_postgres() if args.postgres else f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
        try:
            await migrate.upgrade_async(url)
            if args.fronts:
                rates = {}
                for count in args.fronts:
                    rate, cpu = await asyncio.to_thread(fronts, url, args, count)
                    rates[count] = rate
                    print(
                        f"{count} front(s) x {args.events} /{args.command} from {args.users} users each on {db_name}: "
                        f"{rate:.0f} events/s together, {cpu:.2f} ms CPU per event in the fronts"
                    )
                if 1 in rates:
                    for count, rate in rates.items():
                        print(f"  {count} front(s) / 1 front: {rate / rates[1]:.2f}x")
            else:
                took, cpu, answered = await front(url, args, 0)
                print(
                    f"{args.events} /{args.command} from {args.users} users on {db_name}: "
                    f"{args.events / took:.0f} events/s, {1000 * cpu / args.events:.2f} ms CPU per event in this "
                    f"process, {answered} answered"
                )
        finally:
            if args.postgres:
                await drop_postgres(url)
    print(f"{load_average()} (after)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--command", choices=("help", "credits"), default="help")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--profile", help="write a pyinstrument text report to this file")
    parser.add_argument(
        "--fronts", type=lambda v: [int(n) for n in v.split(",")], help="e.g. 1,2: that many front processes, "
        "each with its own users, on one database (PostgreSQL: does a second front add throughput?)"
    )  # fmt: skip
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
