"""The Redis render queue: photos per minute end to end with 1 and 2 `python -m bot worker` processes.

Per worker count: a fresh SQLite file and Redis prefix, N worker processes (RENDER_WORKERS=1 each), a
warm-up photo per worker (spawning the render process and loading the segmenter is not counted), then
`--photos` photos from separate visitors created through the dispatcher with the RedisJobQueue (charged,
queued), timed until every job row is delivered. Deliveries arrive over the web chat relay. Needs Redis
at 127.0.0.1:6379 (TEST_REDIS_URL). Prints numbers; asserts nothing.

    .venv/bin/python bench/queue_scaling.py [--photos 12] [--width 1600 --height 1200] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.photos.photo_harness import product_photo  # noqa: E402
from tests.scale.scale_harness import scale_bot  # noqa: E402


async def one_run(workers: int, photos: int, width: int, height: int) -> tuple[float, int]:
    visitors = [f"warm{n}" for n in range(workers)] + [f"v{n}" for n in range(photos)]
    with tempfile.TemporaryDirectory() as tmp:
        async with scale_bot(Path(tmp), visitors) as bot:
            for _ in range(workers):
                bot.start_worker()
            for n in range(workers):
                await bot.photo(f"warm{n}", product_photo(width, height))
            await bot.settle(timeout=300)
            data = product_photo(width, height)
            started = time.perf_counter()
            for n in range(photos):
                await bot.photo(f"v{n}", data)
            await bot.settle(timeout=900)
            elapsed = time.perf_counter() - started
            delivered = sum(len(bot.documents(f"v{n}")) == 2 for n in range(photos))
            return elapsed, delivered


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=12)
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; photos {args.width}x{args.height}, classical segmenter, Redis queue")
    for workers in args.workers:
        elapsed, delivered = await one_run(workers, args.photos, args.width, args.height)
        rate = 60 * args.photos / elapsed
        print(
            f"{workers} worker process(es): {args.photos} photos in {elapsed:.1f}s -> {rate:.1f} photos/min "
            f"({delivered}/{args.photos} delivered with both files)"
        )


if __name__ == "__main__":
    asyncio.run(main())
