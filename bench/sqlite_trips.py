"""SQLite statements through SQLAlchemy (storage/sqlite_driver.py): on the event loop (a short transaction, as the
front's are), one trip to the connection's thread per statement (`Database.transaction(long=True)`), and
aiosqlite as SQLAlchemy's adapter drives it (four trips), same process, same file, rounds alternated.

    .venv/bin/python bench/sqlite_trips.py [--transactions 1000] [--statements 4] [--rounds 3]

Each transaction is what a look-up of the front does: BEGIN IMMEDIATE, a few indexed SELECTs, COMMIT; they run
50 at a time. Prints transactions/s and CPU ms per transaction (medians).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from storage import migrate  # noqa: E402
from storage.db import Database  # noqa: E402
from tests.faults.stack import load_average  # noqa: E402


async def measure(db: Database, transactions: int, statements: int, long: bool) -> tuple[float, float]:
    gate = asyncio.Semaphore(50)

    async def one() -> None:
        async with gate, db.transaction(long=long) as session:
            for n in range(statements):
                (await session.execute(text("SELECT id FROM users WHERE id = :id"), {"id": n})).all()

    await asyncio.gather(*(one() for _ in range(100)))  # warm the pool and the statement cache
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(transactions)))
    return transactions / (time.perf_counter() - wall), (time.process_time() - cpu) * 1000 / transactions


async def main(args: argparse.Namespace) -> None:
    print(f"{load_average()} (before)")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.sqlite3"
        await migrate.upgrade_async(url)
        # The same file named with a query string takes SQLAlchemy's own aiosqlite path (storage/db.py).
        ways = {
            "on the event loop (ours)": (url, False),
            "one trip a statement (ours)": (url, True),
            "aiosqlite, four trips": (url + "?timeout=30", False),
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, (way, long) in ways.items():
                db = Database(way)
                try:
                    results[name].append(await measure(db, args.transactions, args.statements, long))
                finally:
                    await db.dispose()
    print(
        f"{args.transactions} transactions of {args.statements} SELECTs per round, 50 at a time, {args.rounds} rounds"
    )
    cpu = {}
    for name, rows in results.items():
        rate, cpu[name] = statistics.median(r for r, _ in rows), statistics.median(c for _, c in rows)
        print(f"  {name:30s} {rate:7.0f} transactions/s   CPU {cpu[name]:.3f} ms/transaction")
    theirs = cpu["aiosqlite, four trips"]
    for name in ("on the event loop (ours)", "one trip a statement (ours)"):
        print(f"CPU per transaction, {name} / aiosqlite: {cpu[name] / theirs:.2f}")
    print(f"{load_average()} (after)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=1000)
    parser.add_argument("--statements", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
