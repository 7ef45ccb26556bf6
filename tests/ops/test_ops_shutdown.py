"""SIGTERM to `python -m bot run` with a render in flight: the job is delivered once, charged once, exit 0.

Real processes on loopback: the web chat's HTTP API uploads a photo, the test waits until the job row says
`rendering`, sends SIGTERM, and then restarts the process to prove nothing is rendered, sent or charged
again (and nothing was lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.photos.photo_harness import product_photo

ROOT = Path(__file__).resolve().parents[2]
RESULT_TYPES = {"document", "image", "album"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def bot_process(data_dir: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "SEGMENTER": "classical",
        "WEB_VISITOR_CREDITS": "3",  # about shutting down mid-render, not who gets credits
        "PYTHONPATH": str(ROOT),
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"], cwd=data_dir.parent, env=env, stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


async def wait_healthy(base: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert process.poll() is None, "the bot exited during start-up"
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(base + "/healthz") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise AssertionError("the bot did not come up")


async def collect_events(http: aiohttp.ClientSession, url: str, into: list[dict[str, Any]]) -> None:
    with contextlib.suppress(aiohttp.ClientError, asyncio.CancelledError):
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as stream:
            async for raw in stream.content:
                line = raw.decode().strip()
                if line.startswith("data: "):
                    into.append(json.loads(line.removeprefix("data: ")))


def results_in(events: list[dict[str, Any]]) -> int:
    return sum(
        1
        for e in events
        # Each streamed event is a kept turn of the conversation (`{"me", "replies", "entry"}`).
        if any(r.get("type") in RESULT_TYPES for r in e.get("replies", []))
    )


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return list(conn.execute(sql))


async def wait_for_state(db: Path, states: set[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            with contextlib.suppress(sqlite3.OperationalError):
                rows = query(db, "SELECT state FROM render_jobs")
                if rows and rows[0][0] in states:
                    return str(rows[0][0])
        await asyncio.sleep(0.02)
    raise AssertionError(f"the job never reached {states}")


async def wait_exit(process: subprocess.Popen[bytes], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        assert time.monotonic() < deadline, "the bot did not exit after SIGTERM"
        await asyncio.sleep(0.1)
    return int(process.returncode)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


@pytest.mark.timeout(240)
async def test_sigterm_mid_render_delivers_once_charges_once_and_exits_0(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    data_dir = tmp_path / "data"
    db = data_dir / "nexoraz.sqlite3"
    log = tmp_path / "bot.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    events: list[dict[str, Any]] = []
    with bot_process(data_dir, port, log) as first:
        await wait_healthy(base, first)
        async with http.post(base + "/webchat/messages", json={"text": "hi"}) as r:
            assert r.status == 200
        listener = asyncio.create_task(collect_events(http, base + "/webchat/events", events))
        await asyncio.sleep(0.3)  # the event stream is connected
        form = aiohttp.FormData()
        form.add_field("photo", product_photo(), filename="p.jpg", content_type="image/jpeg")
        async with http.post(base + "/webchat/photos", data=form) as r:
            assert r.status == 200
            assert (await r.json())["replies"], "the upload was not acknowledged"
        assert await wait_for_state(db, {"rendering", "delivered"}) == "rendering", "SIGTERM came too late"
        first.send_signal(signal.SIGTERM)
        assert await wait_exit(first, 90) == 0, log.read_text()[-3000:]
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    assert results_in(events) == 1, events
    assert query(db, "SELECT state FROM render_jobs") == [("delivered",)]

    events_after: list[dict[str, Any]] = []
    with bot_process(data_dir, port, log) as second:
        await wait_healthy(base, second)
        listener = asyncio.create_task(collect_events(http, base + "/webchat/events", events_after))
        await asyncio.sleep(3)  # a job wrongly left pending would be rendered and sent now
        second.send_signal(signal.SIGTERM)
        assert await wait_exit(second, 60) == 0
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    assert results_in(events_after) == 0
    assert query(db, "SELECT state, attempts FROM render_jobs") == [("delivered", 1)]
    charges = query(db, "SELECT kind, delta FROM ledger_entries WHERE idempotency_key LIKE 'job:%'")
    assert charges == [("debit", -1)]
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(entry.get("job") == "1" for entry in lines), "job log lines carry the job id"
