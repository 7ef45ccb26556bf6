"""The Graph API client's cost per request: httpx on its own transport (httpcore) against httpx on aiohttp
(bot/http_client.py), the Graph client itself (its requests built by httpx, sent straight to that transport),
and aiohttp alone (the floor), same process, same loopback server, rounds alternated.

    .venv/bin/python bench/http_client.py [--requests 2000] [--concurrency 50] [--rounds 3]

Prints requests/s and CPU ms per request (client and server together, one process); the server's share is
the same for both, so the difference is the client's.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bot.channels.meta import GraphClient  # noqa: E402
from bot.http_client import async_client  # noqa: E402
from tests.faults.stack import load_average  # noqa: E402

PAYLOAD = {"messaging_product": "whatsapp", "to": "8801700000000", "type": "text", "text": {"body": "ধন্যবাদ " * 20}}


async def serve() -> tuple[web.AppRunner, str]:
    async def messages(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"messages": [{"id": "wamid.HBgM"}]})

    app = web.Application()
    app.router.add_post("/v23.0/{phone}/messages", messages)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/v23.0/"


async def measure(client: httpx.AsyncClient, requests: int, concurrency: int) -> tuple[float, float]:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            response = await client.post("1234/messages", json=PAYLOAD)
            response.json()

    async def many(n: int) -> None:
        await asyncio.gather(*(one() for _ in range(n)))

    await many(concurrency * 2)  # warm: the pool holds `concurrency` connections
    cpu, wall = time.process_time(), time.perf_counter()
    await many(requests)
    return requests / (time.perf_counter() - wall), (time.process_time() - cpu) * 1000 / requests


async def measure_aiohttp(base: str, requests: int, concurrency: int) -> tuple[float, float]:
    """The same calls through an aiohttp session of its own, no httpx: the floor under ours."""
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(base_url=base) as http:

        async def one() -> None:
            async with gate, http.post("1234/messages", json=PAYLOAD) as response:
                await response.json()

        async def many(n: int) -> None:
            await asyncio.gather(*(one() for _ in range(n)))

        await many(concurrency * 2)
        cpu, wall = time.process_time(), time.perf_counter()
        await many(requests)
        return requests / (time.perf_counter() - wall), (time.process_time() - cpu) * 1000 / requests


async def measure_graph(base: str, requests: int, concurrency: int) -> tuple[float, float]:
    """The same calls as the front makes them (`GraphClient.post`)."""
    graph = GraphClient(base.rstrip("/"), "T0KEN")
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await graph.post("1234/messages", PAYLOAD)

    async def many(n: int) -> None:
        await asyncio.gather(*(one() for _ in range(n)))

    try:
        await many(concurrency * 2)
        cpu, wall = time.process_time(), time.perf_counter()
        await many(requests)
        return requests / (time.perf_counter() - wall), (time.process_time() - cpu) * 1000 / requests
    finally:
        await graph.aclose()


async def main(args: argparse.Namespace) -> None:
    print(f"{load_average()} (before)")
    runner, base = await serve()
    ways: dict[str, Callable[[], httpx.AsyncClient]] = {
        "httpx (httpcore pool)": lambda: httpx.AsyncClient(base_url=base, timeout=30),
        "httpx on aiohttp (ours)": lambda: async_client(base_url=base, timeout=30),
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, make in ways.items():
            async with make() as client:
                results[name].append(await measure(client, args.requests, args.concurrency))
        results.setdefault("GraphClient (the front's)", []).append(
            await measure_graph(base, args.requests, args.concurrency)
        )
        results.setdefault("aiohttp alone (no httpx)", []).append(
            await measure_aiohttp(base, args.requests, args.concurrency)
        )
    await runner.cleanup()
    print(f"{args.requests} JSON POSTs per round, {args.concurrency} in flight, {args.rounds} rounds (medians)")
    cpu = {}
    for name, rows in results.items():
        rate, cpu[name] = statistics.median(r for r, _ in rows), statistics.median(c for _, c in rows)
        print(f"  {name:26s} {rate:7.0f} requests/s   CPU {cpu[name]:.3f} ms/request")
    ours, theirs = cpu["httpx on aiohttp (ours)"], cpu["httpx (httpcore pool)"]
    print(f"CPU per request, ours / httpcore: {ours / theirs:.2f}")
    floor, graph = cpu["aiohttp alone (no httpx)"], cpu["GraphClient (the front's)"]
    print(f"CPU per request over aiohttp alone: ours {ours / floor:.2f}, the Graph client {graph / floor:.2f}")
    print(f"{load_average()} (after)")


def run(main_: Callable[[argparse.Namespace], Awaitable[None]]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main_(parser.parse_args()))


if __name__ == "__main__":
    run(main)
