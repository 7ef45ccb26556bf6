"""What the web chat's ordered conversation costs per message: a message's round trip with the visitor's event
stream open, with the turn kept after handling (text messages, as shipped and as before), with its place taken
before it is handled (as shipped for photos and buttons, whose jobs push replies meanwhile; forced here on the
same text message to see its cost alone), and with the turn also pushed to the stream, which reads it back from
the database (measured, then left out: it only serves the visitor's other tabs).

    python bench/webchat_turns.py [--messages 150] [--rounds 3]

Runs `run`'s app in this process (SQLite in a temporary DATA_DIR); one visitor sends `help` over loopback
HTTP, one message at a time, alternating the two ways in rounds so that load on the machine hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot import app as app_module  # noqa: E402
from bot.channels.webchat import COOKIE, WebChat  # noqa: E402
from bot.settings import Settings  # noqa: E402


async def _round(http: aiohttp.ClientSession, base: str, messages: int, tag: str) -> list[float]:
    took = []
    for n in range(messages):
        began = time.perf_counter()
        async with http.post(base + "/webchat/messages", json={"text": "help", "id": f"{tag}-{n:06d}"}) as r:
            await r.read()
            assert r.status == 200, r.status
        took.append((time.perf_counter() - began) * 1000)
    return took


async def main(messages: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder), http_port=0, _env_file=None)  # type: ignore[call-arg]
        app = app_module.create_app(settings)
        await app_module.start(app)
        chat = app.channel("web")
        assert isinstance(chat, WebChat)
        base = f"http://127.0.0.1:{app.port}"
        shipped_keep, shipped_starts_work = chat.store.keep_turn, chat._starts_work
        visitor = ""

        async def keep_and_push(*turn: Any) -> tuple[int, dict[str, Any]] | None:
            # Then wake the stream, as a result's push does. The turn is kept inside the message's transaction
            # now (TurnKeeper), so this wake can come before the commit: the way prices the push, not shipped.
            kept = await shipped_keep(*turn)
            if kept is not None:
                await chat._push.publish(visitor, {"type": "kept", "entry": kept[0]})
            return kept

        ways = {  # (place taken first, the turn pushed to the stream)
            "kept after handling (text)": (False, False),
            "place taken first (photos, buttons)": (True, False),
            "place first, turn pushed (not shipped)": (True, True),
        }
        results: dict[str, list[float]] = {way: [] for way in ways}
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                await _round(http, base, 1, "warm")
                cookie = next(c.value for c in http.cookie_jar if c.key == COOKIE)
                visitor = chat.identity.visitor_id(cookie)
                stream = await http.get(base + "/webchat/events?after=0", timeout=aiohttp.ClientTimeout(total=None))
                drain = asyncio.create_task(stream.content.read())  # the page reads its stream meanwhile
                for r in range(rounds):
                    for number, (way, (first, pushed)) in enumerate(ways.items()):
                        chat._starts_work = (lambda events: True) if first else shipped_starts_work  # type: ignore[method-assign]
                        chat.store.keep_turn = keep_and_push if pushed else shipped_keep  # type: ignore[method-assign]
                        results[way] += await _round(http, base, messages, f"r{r}w{number}")
                drain.cancel()
                stream.close()
        finally:
            await app_module.stop(app)
    load = os.getloadavg()
    print(f"{messages * rounds} text messages per way, one visitor, stream open; load average {load[0]:.2f}")
    for way, took in results.items():
        took.sort()
        p95 = took[int(len(took) * 0.95) - 1]
        print(f"  {way:42s} median {statistics.median(took):6.1f} ms   p95 {p95:6.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.messages, arguments.rounds))
