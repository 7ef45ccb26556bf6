"""The front end's Telegram update throughput against a bare aiogram echo bot, on the same emulator, in one run.

Both bots run as processes in webhook mode against one Telegram Bot API emulator (tests/emulators) in this
process, side by side (each idle while the other is measured; rounds alternate, so a shared machine's load
falls on both alike). The same `--updates` text updates are POSTed to each bot's webhook by `--connections` concurrent
senders (as Telegram's delivery does, 40 connections by default there), and the clock stops when the
emulator has received every reply (sendMessage). The echo bot is aiogram's own webhook handler
(SimpleRequestHandler, answering in the background) with one handler that echoes the text: the floor of
what any aiogram bot costs. The front end does its real work (dedup, user, ledger, i18n, SQLite). Prints
updates/s for both and their ratio; asserts nothing.

    .venv/bin/python bench/echo_baseline.py [--updates 1000] [--connections 40] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.emulators.telegram_api import TOKEN, TelegramAPIEmulator  # noqa: E402
from tests.faults.stack import REPO, free_port, load_average  # noqa: E402

SECRET = "echo-baseline-secret"
ECHO_BOT = textwrap.dedent(
    """
    import os, sys
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
    from aiohttp import web

    api = TelegramAPIServer.from_base(os.environ["API"])
    bot = Bot(os.environ["TOKEN"], session=AiohttpSession(api=api))
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "?")

    async def on_startup(bot: Bot) -> None:
        await bot.set_webhook(os.environ["URL"] + "/webhook", secret_token=os.environ["SECRET"])

    dp.startup.register(on_startup)
    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=os.environ["SECRET"]).register(app, path="/webhook")
    setup_application(app, dp, bot=bot)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None)
    """
)


def profiled(report: str | None) -> list[str]:
    """The interpreter arguments that run the front under pyinstrument (wall clock, written at exit)."""
    if not report:
        return []
    return ["-m", "pyinstrument", "--renderer", "text", "--outfile", str(Path(report).resolve())]


async def wait_webhook(emulator: TelegramAPIEmulator, process: subprocess.Popen[bytes], url: str) -> None:
    for _ in range(600):  # bounded: 60 s
        if process.poll() is not None:
            raise RuntimeError("the bot exited during start-up")
        if emulator.webhook and emulator.webhook.get("url", "").startswith(url):
            await asyncio.sleep(0.3)
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("no webhook registered")


async def blast(emulator: TelegramAPIEmulator, url: str, updates: int, connections: int, base_chat: int) -> float:
    """POST `updates` text updates over `connections` senders; seconds until every reply reached the emulator."""
    before = len(emulator.calls_to("sendMessage", ok=True))
    queue = [emulator.message(base_chat + n % 500, "credits") for n in range(updates)]
    for update in queue:
        update["update_id"] = next(emulator._update_ids)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as http:

        async def sender(k: int) -> None:
            for update in queue[k::connections]:
                for _ in range(5):  # bounded redelivery, like Telegram's
                    async with http.post(url, json=update, headers=headers) as r:
                        await r.read()
                        if r.status == 200:
                            break
                    await asyncio.sleep(0.1)

        await asyncio.gather(*(sender(k) for k in range(connections)))
        deadline = time.perf_counter() + 120
        while len(emulator.calls_to("sendMessage", ok=True)) - before < updates:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{len(emulator.calls_to('sendMessage', ok=True)) - before}/{updates} replies")
            await asyncio.sleep(0.01)
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--sends-per-second", type=float, default=1000.0,
        help="the front's TELEGRAM_SENDS_PER_SECOND (production: 30, Telegram's own limit; the echo bot has none)",
    )  # fmt: skip
    parser.add_argument("--profile", help="run the front under pyinstrument; its text report goes to this file")
    args = parser.parse_args()
    print(f"{load_average()} (before)")
    emulator = TelegramAPIEmulator()
    await emulator.start()
    with tempfile.TemporaryDirectory() as tmp:
        echo_port, front_port = free_port(), free_port()
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "REDIS_", "DATABASE_"))}
        python_path = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
        echo = subprocess.Popen(  # noqa: ASYNC220 (started once, before the clock)
            [sys.executable, "-c", ECHO_BOT],
            env={**base_env, "API": emulator.url, "TOKEN": TOKEN, "SECRET": SECRET, "PORT": str(echo_port),
                 "URL": f"http://127.0.0.1:{echo_port}"},
        )  # fmt: skip
        results: dict[str, list[float]] = {"echo": [], "front": []}
        front = None
        try:
            await wait_webhook(emulator, echo, f"http://127.0.0.1:{echo_port}")
            echo_url = f"http://127.0.0.1:{echo_port}/webhook"
            await blast(emulator, echo_url, 500, args.connections, 1_000)  # warm-up: every chat once
            emulator.webhook = None
            front = subprocess.Popen(  # noqa: ASYNC220
                [sys.executable, *profiled(args.profile), "-m", "bot", "run"],
                cwd=tmp,
                env={**base_env, "PYTHONPATH": python_path, "DATA_DIR": str(Path(tmp) / "data"),
                     "HTTP_PORT": str(front_port), "PUBLIC_BASE_URL": f"http://127.0.0.1:{front_port}",
                     "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": emulator.url, "TELEGRAM_MODE": "webhook",
                     "TELEGRAM_WEBHOOK_SECRET": SECRET, "LOG_LEVEL": "WARNING",
                     "TELEGRAM_SENDS_PER_SECOND": str(args.sends_per_second), "SEGMENTER": "classical"},
            )  # fmt: skip
            await wait_webhook(emulator, front, f"http://127.0.0.1:{front_port}")
            url = f"http://127.0.0.1:{front_port}/webhooks/telegram"
            await blast(emulator, url, 500, args.connections, 1_000)  # warm-up: every chat signs up once
            for _ in range(args.rounds):  # alternate, so that both meet the same load on a shared machine
                took = await blast(emulator, echo_url, args.updates, args.connections, 1_000)
                results["echo"].append(args.updates / took)
                took = await blast(emulator, url, args.updates, args.connections, 1_000)
                results["front"].append(args.updates / took)
        finally:
            for process in (echo, front):
                if process is not None and process.poll() is None:
                    process.terminate()
                    process.wait(timeout=300 if args.profile else 30)  # a profile takes a while to write
            await emulator.stop()
    echo_rate, front_rate = statistics.median(results["echo"]), statistics.median(results["front"])
    print(
        f"{args.updates} text updates x {args.rounds} rounds over {args.connections} webhook connections, "
        f"500 chats, one emulator ({os.cpu_count()} cores)"
    )
    for name, rate in (("bare aiogram echo bot", echo_rate), ("Nexoraz front end", front_rate)):
        rounds = ", ".join(f"{r:.0f}" for r in results["echo" if name.startswith("bare") else "front"])
        print(f"{name:22} {rate:.0f} updates/s (rounds: {rounds})")
    print(f"ratio front/echo: {front_rate / echo_rate:.2f}")
    print(f"{load_average()} (after)")


if __name__ == "__main__":
    asyncio.run(main())
