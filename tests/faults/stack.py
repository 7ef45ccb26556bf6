"""The whole system on loopback for load and fault runs: `python -m bot run` as a real process with every
channel on (web chat, Telegram in webhook mode, WhatsApp, Messenger), the Telegram Bot API and Graph API
emulators in this process, optionally PostgreSQL, Redis and `python -m bot worker` processes.

Inbound traffic is sent the way each platform sends it: web chat over HTTP with a cookie per visitor,
Telegram updates POSTed to the webhook with the secret token (as Telegram's delivery does, with several
connections at once), WhatsApp and Messenger webhooks signed with the app secret. Each call returns its
acknowledgement latency. Shared by bench/load.py, bench/faults.py and tests/faults.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image, ImageDraw

from bot.channels.meta import sign
from storage import migrate
from storage.db import Database
from tests.emulators.graph_api import GraphEmulator
from tests.emulators.telegram_api import TOKEN, TelegramAPIEmulator
from tests.faults.audit import Audit, audit
from tests.meta.conftest import FB_SECRET, WA_SECRET, fb_envelope, fb_event, wa_message, wa_text

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TG_SECRET = "load-test-webhook-secret"
FILES_KEY = "load-test-files-key-0123456789abcdefghijkl"
_ids = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def small_jpeg(width: int = 640, height: int = 480, seed: int = 0) -> bytes:
    image = Image.new("RGB", (width, height), (205, 208, 212))
    draw = ImageDraw.Draw(image)
    colour = (40 + seed * 37 % 200, 30 + seed * 11 % 200, 160)
    draw.ellipse((width // 3, height // 4, 2 * width // 3, 3 * height // 4), fill=colour)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def kill(self) -> None:
        """SIGKILL the process and its render processes (its own process group)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Stack:
    tmp: Path
    env: dict[str, str]
    base: str
    db: Database
    telegram: TelegramAPIEmulator
    graph: GraphEmulator
    http: aiohttp.ClientSession
    signup_credits: int
    front: Proc | None = None
    more_fronts: list[Proc] = field(default_factory=list)  # fronts beside the first (PostgreSQL and Redis)
    more_bases: list[str] = field(default_factory=list)
    workers: list[Proc] = field(default_factory=list)
    jars: dict[str, aiohttp.CookieJar] = field(default_factory=dict)
    web_sessions: dict[str, aiohttp.ClientSession] = field(default_factory=dict)
    photos_acknowledged: int = 0
    failures: list[str] = field(default_factory=list)

    # Processes ------------------------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Proc:
        log_path = self.tmp / f"{name}.log"
        with log_path.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot", *args],
                cwd=self.tmp,
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return Proc(name, process, log_path)

    async def start_front(self) -> Proc:
        polling = self.env.get("TELEGRAM_MODE") == "polling"
        self.front = self._spawn("front", ["run"])
        deadline = time.monotonic() + 60
        while True:
            if self.front.process.poll() is not None:
                raise RuntimeError(f"the front exited:\n{self.front.log()[-3000:]}")
            try:
                async with self.http.get(self.base + "/healthz") as r:
                    if r.status == 200 and (self.telegram.webhook or polling and self.telegram.calls_to("getUpdates")):
                        return self.front
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the front did not start:\n{self.front.log()[-3000:]}")
            await asyncio.sleep(0.1)

    async def start_more_front(self) -> Proc:
        """Another front process on its own port, sharing the database, Redis and DATA_DIR, as a second front
        behind a load balancer would; each user then talks to one front (`_base_for`)."""
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        name = f"front-{len(self.more_fronts) + 2}"
        front = self._spawn(name, ["run"], {"HTTP_PORT": str(port), "PUBLIC_BASE_URL": base})
        deadline = time.monotonic() + 60
        while True:
            if front.process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{front.log()[-3000:]}")
            try:
                async with self.http.get(base + "/healthz") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not start:\n{front.log()[-3000:]}")
            await asyncio.sleep(0.1)
        self.more_fronts.append(front)
        self.more_bases.append(base)
        return front

    @property
    def fronts(self) -> list[Proc]:
        return ([self.front] if self.front else []) + self.more_fronts

    def _base_for(self, user: str) -> str:
        """The front a user talks to: always the same one (a load balancer's sticky choice)."""
        if not self.more_bases:
            return self.base
        bases = [self.base, *self.more_bases]
        return bases[zlib.crc32(user.encode()) % len(bases)]

    def start_worker(self, *extra: str) -> Proc:
        worker = self._spawn(f"worker-{len(self.workers)}", ["worker", "--grace", "10", *extra])
        self.workers.append(worker)
        return worker

    def logs(self) -> str:
        procs = self.fronts + self.workers
        return "\n".join(f"--- {p.name}\n{p.log()[-2500:]}" for p in procs)

    # Traffic --------------------------------------------------------------------------------------

    async def _timed(self, what: str, call: Any) -> float:
        start = time.perf_counter()
        try:
            async with call as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            status = 0
            what += f" ({type(error).__name__})"
        if status != 200:
            self.failures.append(f"{what}: HTTP {status}")
        return time.perf_counter() - start if status == 200 else float("nan")

    def _web(self, visitor: str) -> aiohttp.ClientSession:
        if visitor not in self.web_sessions:
            self.web_sessions[visitor] = aiohttp.ClientSession(
                cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=aiohttp.ClientTimeout(total=60)
            )
        return self.web_sessions[visitor]

    async def web_text(self, visitor: str, text: str) -> float:
        http = self._web(visitor)
        # With the page's own id for the message, as bot/channels/static/app.js sends (24 hex characters).
        body = {"text": text, "id": secrets.token_hex(12)}
        call = http.post(self._base_for(visitor) + "/webchat/messages", json=body)
        return await self._timed("web text", call)

    async def web_photo(self, visitor: str, data: bytes) -> float:
        form = aiohttp.FormData()
        # The page's own id for the message (as bot/channels/static/app.js sends): a retry is the same photo.
        form.add_field("id", hashlib.sha256(visitor.encode() + data).hexdigest()[:24])
        form.add_field("photo", data, filename="p.jpg", content_type="image/jpeg")
        call = self._web(visitor).post(self._base_for(visitor) + "/webchat/photos", data=form)
        took = await self._timed("web photo", call)
        self.photos_acknowledged += took == took
        return took

    async def _telegram(self, update: dict[str, Any]) -> float:
        update.setdefault("update_id", next(self.telegram._update_ids))
        headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        chat = str(update.get("message", {}).get("chat", {}).get("id", ""))
        call = self.http.post(self._base_for(chat) + "/webhooks/telegram", json=update, headers=headers)
        return await self._timed("telegram", call)

    async def tg_text(self, chat_id: int, text: str) -> float:
        return await self._telegram(self.telegram.message(chat_id, text))

    async def tg_photo(self, chat_id: int, data: bytes) -> float:
        took = await self._telegram(self.telegram.photo(chat_id, self.telegram.add_file(data)))
        self.photos_acknowledged += took == took
        return took

    async def _meta(self, platform: str, payload: dict[str, Any], user: str = "") -> float:
        body = json.dumps(payload).encode()
        secret = WA_SECRET if platform == "whatsapp" else FB_SECRET
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret)}
        call = self.http.post(f"{self._base_for(user)}/webhooks/{platform}", data=body, headers=headers)
        return await self._timed(platform, call)

    async def wa_text(self, wa_id: str, text: str) -> float:
        return await self._meta("whatsapp", wa_text(wa_id, text), wa_id)

    async def wa_photo(self, wa_id: str, data: bytes) -> float:
        media_id = self.graph.add_media(data, "image/jpeg")
        image = {"mime_type": "image/jpeg", "sha256": "x", "id": media_id}
        took = await self._meta("whatsapp", wa_message("Image Message", wa_id, image=image), wa_id)
        self.photos_acknowledged += took == took
        return took

    async def fb_text(self, psid: str, text: str) -> float:
        return await self._meta("messenger", fb_envelope(fb_event("Text Message", psid, text=text)), psid)

    async def fb_photo(self, psid: str, data: bytes) -> float:
        url = self.graph.add_attachment_url(data)
        attachments = [{"type": "image", "payload": {"url": url}}]
        envelope = fb_envelope(fb_event("Text Message", psid, attachments=attachments))
        took = await self._meta("messenger", envelope, psid)
        self.photos_acknowledged += took == took
        return took

    # Outcome --------------------------------------------------------------------------------------

    async def pending(self) -> int:
        a = await audit(self.db, signup_credits=self.signup_credits)
        return len(a.unfinished)

    async def settle(self, timeout: float) -> float:
        """Wait (bounded) until every job row has reached an end state; returns the seconds waited."""
        began = time.monotonic()
        while await self.pending():
            if time.monotonic() - began > timeout:
                break
            await asyncio.sleep(0.25)
        return time.monotonic() - began

    async def audit(self) -> Audit:
        return await audit(self.db, signup_credits=self.signup_credits, photos_acknowledged=self.photos_acknowledged)


async def _create_postgres() -> str:
    import asyncpg

    name = f"nxz_load_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    finally:
        await conn.close()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name


async def _drop_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


async def drop_postgres_connections(url: str) -> int:
    """pg_terminate_backend on every connection to this test database (but our own)."""
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            url.rsplit("/", 1)[1],
        )
    finally:
        await conn.close()
    return len(rows)


@asynccontextmanager
async def stack(
    tmp: Path,
    *,
    postgres: bool = False,
    redis: bool = False,
    render_workers: int = 1,
    signup_credits: int = 3,
    redeliver_s: float = 60.0,
    lease_s: int = 300,
    start_front: bool = True,
    telegram_mode: str = "webhook",
    telegram_emulator: type[TelegramAPIEmulator] = TelegramAPIEmulator,
) -> AsyncIterator[Stack]:
    database_url = await _create_postgres() if postgres else f"sqlite+aiosqlite:///{tmp / 'load.sqlite3'}"
    prefix = f"nxz-load-{uuid.uuid4().hex[:10]}"
    telegram, graph = telegram_emulator(), GraphEmulator()
    await telegram.start()
    await graph.start()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))},
        # The repository first; then whatever the caller had (wheels unpacked beside a system Python).
        "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "DATA_DIR": str(tmp / "data"),
        "DATABASE_URL": database_url,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": telegram.url,
        "TELEGRAM_MODE": telegram_mode,
        "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
        "WHATSAPP_ACCESS_TOKEN": graph.whatsapp_token,
        "WHATSAPP_PHONE_NUMBER_ID": graph.phone_number_id,
        "WHATSAPP_APP_SECRET": WA_SECRET,
        "WHATSAPP_VERIFY_TOKEN": "wa-verify",
        "MESSENGER_PAGE_ACCESS_TOKEN": graph.page_token,
        "MESSENGER_APP_SECRET": FB_SECRET,
        "MESSENGER_VERIFY_TOKEN": "fb-verify",
        "GRAPH_API_BASE": graph.base,
        "FILES_KEY": FILES_KEY,
        "SEGMENTER": "classical",
        "RENDER_WORKERS": str(render_workers),
        "SIGNUP_CREDITS": str(signup_credits),
        "WEB_VISITOR_CREDITS": str(signup_credits),  # about rendering, not who gets credits
        "WEB_NEW_VISITORS_PER_HOUR": "100000",  # every web visitor of the harness comes from 127.0.0.1
        "QUEUE_REDELIVER_SECONDS": str(redeliver_s),
        "JOB_LEASE_SECONDS": str(lease_s),
        "LOG_LEVEL": os.environ.get("STACK_LOG_LEVEL", "WARNING"),
    }
    for name in ("REDIS_URL", "REDIS_PREFIX"):
        env.pop(name, None)
    if redis:
        env.update(REDIS_URL=REDIS_URL, REDIS_PREFIX=prefix)
    await migrate.upgrade_async(database_url)
    db = Database(database_url)
    connector = aiohttp.TCPConnector(limit=200)
    http = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))
    s = Stack(tmp, env, f"http://127.0.0.1:{port}", db, telegram, graph, http, signup_credits)
    try:
        if start_front:
            await s.start_front()
        yield s
    finally:
        for proc in [*s.workers, *s.fronts]:
            proc.terminate(timeout=15)
        for session in s.web_sessions.values():
            await session.close()
        await http.close()
        await db.dispose()
        await telegram.stop()
        await graph.stop()
        if redis:
            from redis.asyncio import Redis

            client = Redis.from_url(REDIS_URL)
            try:
                keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
                if keys:
                    await client.delete(*keys)
            except OSError:
                pass
            finally:
                await client.aclose()
        if postgres:
            await _drop_postgres(database_url)
