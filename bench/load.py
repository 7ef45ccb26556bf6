"""Load: 1,000 simulated users across the four channels against the real front process, on loopback.

Starts `python -m bot run` with every channel on (tests/faults/stack.py): web chat over HTTP, Telegram in
webhook mode against the Bot API emulator, WhatsApp and Messenger signed webhooks against the Graph API
emulator; renders with the classical segmenter. Each user runs a bounded loop: `--messages` text commands,
and every `--photo-every`-th user also sends one small JPEG. At most `--concurrency` users are active at
once; the whole run is capped by `--deadline` seconds. Afterwards it waits (bounded) for the renders and
audits the database. Prints numbers; asserts nothing (tests/faults asserts).

    .venv/bin/python bench/load.py [--users 1000] [--messages 3] [--photo-every 25] [--postgres] [--redis]
        [--render-load] [--fronts 1]

`--fronts N` (with `--redis`; PostgreSQL is the database for it) runs N front processes, each on its own port,
as N fronts behind a load balancer: each user always talks to the same one. The CPU line adds up the fronts.

`--render-load` keeps one core rendering (a 1600x1200 photo, classical segmenter, in a loop) for as long as
the users send: the acknowledgement latency the issue asks for is measured "while a render saturates one
core". The CPU seconds of the front and of this harness are printed beside the latencies: on a shared
2-core machine the harness (which plays every platform and every user) competes with the front.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.faults.stack import REPO, Stack, load_average, small_jpeg, stack  # noqa: E402

TEXTS = ["hi", "help", "credits", "সাহায্য", "/credits", "/help", "lang", "what is this?", "/redeem WRONG1", "history"]
CHANNELS = (("web", 0.4), ("telegram", 0.3), ("whatsapp", 0.15), ("messenger", 0.15))


def quantiles(values: list[float]) -> str:
    good = sorted(v for v in values if not math.isnan(v))
    if len(good) < 2:
        return "n/a"
    q = statistics.quantiles(good, n=100)
    return f"p50 {q[49] * 1000:.0f} ms, p95 {q[94] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms"


async def user(s: Stack, channel: str, n: int, messages: int, photo: bytes | None) -> list[tuple[str, float]]:
    acks: list[tuple[str, float]] = []
    for i in range(messages):  # bounded: `messages` texts, at most one photo
        word = TEXTS[(n + i) % len(TEXTS)]
        if channel == "web":
            took = await s.web_text(f"visitor-{n}", word)
        elif channel == "telegram":
            took = await s.tg_text(700_000 + n, word)
        elif channel == "whatsapp":
            took = await s.wa_text(f"8801{n:09d}", word)
        else:
            took = await s.fb_text(f"{9_100_000_000 + n}", word)
        acks.append((channel, took))
        if photo is not None and i == 0:
            if channel == "web":
                took = await s.web_photo(f"visitor-{n}", photo)
            elif channel == "telegram":
                took = await s.tg_photo(700_000 + n, photo)
            elif channel == "whatsapp":
                took = await s.wa_photo(f"8801{n:09d}", photo)
            else:
                took = await s.fb_photo(f"{9_100_000_000 + n}", photo)
            acks.append((channel + " photo", took))
    return acks


async def render_rate(s: Stack) -> tuple[int, float]:
    async with s.db.transaction() as session:
        rows = (
            await session.execute(text("SELECT created_at, updated_at FROM render_jobs WHERE state = 'delivered'"))
        ).all()
    if not rows:
        return 0, float("nan")

    def stamp(value: object) -> float:
        from datetime import datetime

        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.timestamp()

    span = max(stamp(u) for _, u in rows) - min(stamp(c) for c, _ in rows)
    return len(rows), 60 * len(rows) / span if span > 0 else float("nan")


async def gc_pauses(s: Stack) -> str:
    """The fronts' collector pauses since they started serving, from their /metrics (bot/heap.py)."""
    from prometheus_client.parser import text_string_to_metric_families

    count: dict[str, float] = defaultdict(float)
    total: dict[str, float] = defaultdict(float)
    long = 0.0
    for base in [s.base, *s.more_bases]:
        async with s.http.get(base + "/metrics") as response:
            page = await response.text()
        for family in text_string_to_metric_families(page):
            if family.name != "nexoraz_gc_pause_seconds":
                continue
            for sample in family.samples:
                generation = sample.labels.get("generation", "?")
                if sample.name.endswith("_count"):
                    count[generation] += sample.value
                elif sample.name.endswith("_sum"):
                    total[generation] += sample.value
                elif sample.name.endswith("_bucket") and sample.labels.get("le") == "0.05":
                    long -= sample.value  # pauses of 50 ms or less; the count adds all of them below
    long += sum(count.values())
    each = ", ".join(f"gen{g} {count[g]:.0f} ({1000 * total[g]:.0f} ms)" for g in sorted(count))
    return f"{each or 'none'}; longer than 50 ms: {long:.0f}"


@contextmanager
def collector_held() -> Iterator[None]:
    """This harness's own garbage collector, off while the users send. One of its full collections (150-260 ms
    with 400 web sessions, the emulators' records and every acknowledgement so far) stalls every request in
    flight on this side, and was counted as the front's latency: the cluster of slow WhatsApp acknowledgements
    of earlier rounds, p99 280-460 ms (bench/RESULTS.md, issue 17, eighth session). `--harness-gc` leaves it on."""
    gc.collect()
    gc.freeze()  # what exists is out of later collections' walks
    gc.disable()  # reference counting still frees nearly all of a request's garbage
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


RENDER_LOOP = """
import io, sys, time
from PIL import Image
sys.path.insert(0, sys.argv[1])
from render import render
image = Image.new("RGB", (1600, 1200), (205, 208, 212))
image.paste((40, 30, 160), (500, 300, 1100, 900))
buffer = io.BytesIO()
image.save(buffer, "JPEG", quality=90)
while True:  # a render on one core for as long as the load runs (the parent stops it)
    render(buffer.getvalue())
"""


def start_render_load() -> subprocess.Popen[bytes]:
    """A render that keeps one core busy, as a photo being rendered beside the front would."""
    env = {**os.environ, "SEGMENTER": "classical", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", RENDER_LOOP, str(REPO)], env=env)


async def run(args: argparse.Namespace) -> None:
    print(f"machine: {platform.processor() or platform.machine()}, {load_average()} (before)")
    photo = small_jpeg(args.width, args.height)
    plan: list[tuple[str, int]] = []
    for channel, share in CHANNELS:
        plan += [(channel, n) for n in range(round(args.users * share))]
    with tempfile.TemporaryDirectory() as tmp:
        async with stack(Path(tmp), postgres=args.postgres, redis=args.redis, render_workers=args.render_workers) as s:
            for _ in range(args.workers if args.redis else 0):
                s.start_worker()
            gate = asyncio.Semaphore(args.concurrency)
            acks: list[tuple[str, float]] = []
            renderer = start_render_load() if args.render_load else None
            for _ in range(args.fronts - 1):
                await s.start_more_front()
            front_pids = [front.process.pid for front in s.fronts]
            front_cpu, own_cpu = sum(map(cpu_seconds, front_pids)), time.process_time()
            began = time.perf_counter()

            async def one(index: int, channel: str, n: int) -> None:
                async with gate:
                    if time.perf_counter() - began > args.deadline:
                        return  # bounded in time as well as in count
                    wants_photo = args.photo_every > 0 and index % args.photo_every == 0
                    acks.extend(await user(s, channel, n, args.messages, photo if wants_photo else None))

            with nullcontext() if args.harness_gc else collector_held():
                await asyncio.gather(*(one(i, c, n) for i, (c, n) in enumerate(plan)))
            elapsed = time.perf_counter() - began
            front_cpu, own_cpu = sum(map(cpu_seconds, front_pids)) - front_cpu, time.process_time() - own_cpu
            if renderer is not None:
                renderer.terminate()
                renderer.wait(timeout=30)
            waited = await s.settle(timeout=args.settle)
            await asyncio.sleep(1.0)  # the last replies leave the outboxes
            result = await s.audit()
            delivered, per_minute = await render_rate(s)
            latencies = [t for _, t in acks]
            by_channel: dict[str, list[float]] = defaultdict(list)
            for channel, took in acks:
                by_channel[channel].append(took)
            users = len({(c, n) for c, n in plan})
            queue = f"redis + {args.workers} worker process(es)" if args.redis else "in-process"
            print(
                f"{users} users ({', '.join(f'{c} {round(args.users * sh)}' for c, sh in CHANNELS)}), "
                f"concurrency {args.concurrency}, db {'postgresql' if args.postgres else 'sqlite'}, "
                f"queue {queue}, {len(front_pids)} front process(es)"
            )
            print(
                f"{len(acks)} updates acknowledged in {elapsed:.1f} s: {len(acks) / elapsed:.0f} updates/s; "
                f"acknowledgement {quantiles(latencies)}; errors {len(s.failures)}"
            )
            per_update = 1000 * front_cpu / max(len(acks), 1)
            print(
                f"CPU while sending: front process(es) {front_cpu:.1f} s "
                f"({100 * front_cpu / elapsed:.0f}% of one core, {per_update:.1f} ms per update), "
                f"this harness (emulators and clients) {own_cpu:.1f} s ({100 * own_cpu / elapsed:.0f}%); "
                f"render load: {'one core rendering 1600x1200 photos throughout' if args.render_load else 'none'}; "
                f"harness collector: {'on' if args.harness_gc else 'held while sending'}"
            )
            for channel, values in sorted(by_channel.items()):
                print(f"  {channel:16} {len(values):5} acks, {quantiles(values)}")
            print(
                f"renders: {delivered} delivered, {per_minute:.1f} renders/min ({args.width}x{args.height}, classical, "
                f"{args.render_workers if not args.redis else args.workers} worker(s)); settled {waited:.1f} s after "
                "the last update"
            )
            print(f"front GC pauses (since start-up, all fronts): {await gc_pauses(s)}")
            sent = len(s.telegram.calls) + len(s.graph.calls)
            print(f"platform calls answered by the emulators: {sent}; Graph rejections {len(s.graph.rejections)}")
            print(f"audit: {result.line()}")
            print(f"JOBS LOST {result.jobs_lost}; CREDITS DRIFT {result.credits_drift}")
            if s.failures:
                print("first failures:", s.failures[:5])
    print(f"{load_average()} (after)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=3)
    parser.add_argument("--photo-every", type=int, default=25)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--deadline", type=float, default=300, help="stop starting users after this many seconds")
    parser.add_argument("--settle", type=float, default=300, help="wait at most this long for renders")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--redis", action="store_true", help="Redis queue and `python -m bot worker` processes")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--render-workers", type=int, default=1)
    parser.add_argument("--harness-gc", action="store_true", help="leave this harness's own collector on (as before)")
    parser.add_argument("--render-load", action="store_true", help="keep one core rendering while the load runs")
    parser.add_argument("--fronts", type=int, default=1, help="front processes (more than one needs --redis)")
    args = parser.parse_args()
    if args.fronts > 1 and not args.redis:
        parser.error("--fronts above 1 needs --redis: the in-process queue and the web chat's pushes are per process")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
