"""Front end: resident memory after start-up, after 1,000 messages and after `--distinct` different users,
and acknowledgement latency.

Starts `python -m bot run` (web chat, embedded defaults) in a temporary DATA_DIR and talks to it over
loopback with a bounded number of requests. The distinct users each send one message (a sign-up) over
`--visitors` concurrent connections: what the process keeps per user (limiter counters, caches) shows
in its memory. Prints numbers; asserts nothing.

    .venv/bin/python bench/front_end.py [--messages 1000] [--visitors 50] [--distinct 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(base + "/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("the bot did not start")


async def chat(base: str, messages: int, visitors: int) -> list[float]:
    texts = ["hi", "help", "সাহায্য", "credits", "ক্রেডিট", "lang", "what is this?", "/redeem WRONG1"]
    latencies: list[float] = []
    per_visitor = messages // visitors

    async def visitor(n: int) -> None:
        jar = aiohttp.CookieJar(unsafe=True)
        lang = "bn-BD" if n % 2 else "en-US"
        async with aiohttp.ClientSession(cookie_jar=jar, headers={"Accept-Language": lang}) as http:
            for i in range(per_visitor):
                start = time.perf_counter()
                async with http.post(base + "/webchat/messages", json={"text": texts[i % len(texts)]}) as r:
                    await r.read()
                    assert r.status == 200
                latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(visitor(n) for n in range(visitors)))
    return latencies


async def distinct_users(base: str, count: int, concurrency: int) -> float:
    """`count` new web chat visitors, one message each; returns seconds taken."""
    gate = asyncio.Semaphore(concurrency)
    began = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

        async def visitor(n: int) -> None:
            async with gate:  # a fresh cookie jar each: a new visitor, a new user
                headers = {"Accept-Language": "bn-BD" if n % 2 else "en-US"}
                jar = aiohttp.CookieJar(unsafe=True)
                own = aiohttp.ClientSession(cookie_jar=jar, headers=headers, connector=http.connector,
                                            connector_owner=False)  # fmt: skip
                async with own, own.post(base + "/webchat/messages", json={"text": "credits"}) as r:
                    await r.read()
                    assert r.status == 200, r.status

        await asyncio.gather(*(visitor(n) for n in range(count)))
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--visitors", type=int, default=50)
    parser.add_argument("--distinct", type=int, default=10_000, help="then this many new users, one message each")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        # Every simulated visitor comes from 127.0.0.1: lift the per-network limit on new visitors (issue 14).
        env = os.environ | {
            "DATA_DIR": tmp,
            "HTTP_PORT": str(port),
            "LOG_LEVEL": "WARNING",
            "WEB_NEW_VISITORS_PER_HOUR": "100000",
            "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
        }
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            started = time.perf_counter()
            asyncio.run(wait_ready(base))
            print(f"start-up to /healthz: {time.perf_counter() - started:.2f} s")
            time.sleep(0.5)
            print(f"resident memory after start-up: {rss_mb(proc.pid):.1f} MB")
            began = time.perf_counter()
            latencies = asyncio.run(chat(base, args.messages, args.visitors))
            elapsed = time.perf_counter() - began
            q = statistics.quantiles(latencies, n=100)
            print(
                f"{len(latencies)} messages from {args.visitors} visitors in {elapsed:.2f} s: "
                f"{len(latencies) / elapsed:.0f} messages/s"
            )
            print(f"reply latency p50 {q[49] * 1000:.1f} ms, p95 {q[94] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms")
            print(f"resident memory after {len(latencies)} messages: {rss_mb(proc.pid):.1f} MB")
            if args.distinct:
                took = asyncio.run(distinct_users(base, args.distinct, args.visitors))
                print(f"{args.distinct} distinct new users (one message each) in {took:.1f} s: "
                      f"{args.distinct / took:.0f} sign-ups/s")  # fmt: skip
                print(f"resident memory after {args.distinct} distinct users: {rss_mb(proc.pid):.1f} MB")
            torch_loaded = "torch" in Path(f"/proc/{proc.pid}/maps").read_text()
            print(f"torch mapped into the front process: {torch_loaded}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
