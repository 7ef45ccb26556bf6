"""Fault scenarios against the whole system (tests/faults/stack.py); each returns what it saw and the audit.

Shared by tests/faults (compact sizes, asserted) and bench/faults.py (bigger sizes, printed). Every loop is
bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults.audit import Audit
from tests.faults.stack import Stack, drop_postgres_connections, small_jpeg, stack

REDIS_START = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
    "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
]  # fmt: skip


@dataclass
class Outcome:
    name: str
    audit: Audit
    seconds: float
    notes: list[str] = field(default_factory=list)
    ack_errors: int = 0
    logs: str = ""

    def line(self) -> str:
        notes = "; ".join(self.notes)
        return (
            f"{self.name}: jobs lost {self.audit.jobs_lost}, credits drift {self.audit.credits_drift} "
            f"[{self.audit.line()}] in {self.seconds:.1f} s; ack errors {self.ack_errors}"
            + (f"; {notes}" if notes else "")
        )


async def traffic(s: Stack, users: int, photos: int, *, tag: str, retries: int = 3) -> None:
    """`users` users per channel say two things; the first `photos` of each channel send a photo too."""
    photo = small_jpeg(480, 360)

    async def one(channel: str, n: int) -> None:
        for word in ("hi", "credits"):
            for attempt in range(retries + 1):  # a platform redelivers what was not acknowledged with 200
                if channel == "web":
                    took = await s.web_text(f"{tag}-v{n}", word)
                elif channel == "telegram":
                    took = await s.tg_text(hash((tag, n)) % 10_000_000 + 1, word)
                elif channel == "whatsapp":
                    took = await s.wa_text(f"88017{abs(hash((tag, n))) % 10_000_000:07d}", word)
                else:
                    took = await s.fb_text(str(9_200_000_000 + abs(hash((tag, n))) % 10_000_000), word)
                if took == took:  # this request's own answer was 200 (NaN otherwise)
                    break
                await asyncio.sleep(0.3 * (attempt + 1))
        if n < photos:
            await photo_with_retries(s, channel, n, tag, photo, retries)

    await asyncio.gather(*(one(c, n) for c in ("web", "telegram", "whatsapp", "messenger") for n in range(users)))


async def photo_with_retries(s: Stack, channel: str, n: int, tag: str, photo: bytes, retries: int) -> None:
    """A photo, redelivered with the same ids after a non-200 (as Telegram and Meta do)."""
    import json

    from bot.channels.meta import sign
    from tests.meta.conftest import FB_SECRET, WA_SECRET, fb_envelope, fb_event, wa_message

    if channel == "web":
        for attempt in range(retries + 1):
            # Judge this request by its own answer: `s.failures` is shared by every concurrent sender. A retry
            # carries the same message id, so the web chat answers it as the same photo (charged once).
            took = await s.web_photo(f"{tag}-v{n}", photo)
            if took == took:  # a number, not NaN: this upload was answered 200
                return
            await asyncio.sleep(0.3 * (attempt + 1))
        return
    if channel == "telegram":
        update = s.telegram.photo(hash((tag, n)) % 10_000_000 + 1, s.telegram.add_file(photo))
        update["update_id"] = next(s.telegram._update_ids)
        url, body, headers = (
            s.base + "/webhooks/telegram",
            json.dumps(update).encode(),
            {"X-Telegram-Bot-Api-Secret-Token": s.env["TELEGRAM_WEBHOOK_SECRET"], "Content-Type": "application/json"},
        )
    elif channel == "whatsapp":
        media_id = s.graph.add_media(photo, "image/jpeg")
        payload = wa_message(
            "Image Message",
            f"88017{abs(hash((tag, n))) % 10_000_000:07d}",
            image={"mime_type": "image/jpeg", "sha256": "x", "id": media_id},
        )
        url, body = s.base + "/webhooks/whatsapp", json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, WA_SECRET)}
    else:
        attachments = [{"type": "image", "payload": {"url": s.graph.add_attachment_url(photo)}}]
        event = fb_event("Text Message", str(9_200_000_000 + abs(hash((tag, n))) % 10_000_000), attachments=attachments)
        url, body = s.base + "/webhooks/messenger", json.dumps(fb_envelope(event)).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, FB_SECRET)}
    for attempt in range(retries + 1):
        took = await s._timed(channel + " photo", s.http.post(url, data=body, headers=headers))
        if took == took:  # this request's own answer was 200 (s.failures is shared by concurrent senders)
            s.photos_acknowledged += 1
            return
        await asyncio.sleep(0.3 * (attempt + 1))


async def _finish(s: Stack, name: str, began: float, settle_s: float, notes: list[str]) -> Outcome:
    waited = await s.settle(timeout=settle_s)
    notes.append(f"settled {waited:.1f} s after the traffic")
    await asyncio.sleep(0.5)
    return Outcome(name, await s.audit(), time.monotonic() - began, notes, len(s.failures), s.logs())


# The scenarios ----------------------------------------------------------------------------------------


async def platform_refuses(
    tmp: Path, *, users: int = 3, photos: int = 1, settle_s: float = 90, refusals: int = 1
) -> Outcome:
    """Telegram answers 429 (retry_after 1) and 500, the Graph API 429 and 500, for a while."""
    async with stack(tmp) as s:
        began = time.monotonic()
        for method in ("sendMessage", "sendDocument", "sendMediaGroup"):
            s.telegram.fail(method, status=429, retry_after=1, times=refusals)
            s.telegram.fail(method, status=500, times=refusals)
        # getFile within its retry budget (bot/channels/telegram.py GET_FILE_TRIES); a longer outage leaves the
        # job to its lease (JOB_LEASE_SECONDS) and the sweeper
        s.telegram.fail("getFile", status=429, retry_after=1, times=1)
        s.telegram.fail("getFile", status=500, times=1)
        s.graph.fail("rate", times=2 * refusals)
        s.graph.fail("server", times=2 * refusals)
        await traffic(s, users, photos, tag="refuse")
        outcome = await _finish(s, "platform 429/5xx", began, settle_s, [])
        refused = sum(c.status != 200 for c in s.telegram.calls) + sum(c.status != 200 for c in s.graph.calls)
        outcome.notes.append(f"{refused} platform calls refused")
        return outcome


def _render_processes(pid: int) -> list[int]:
    """Child processes of `pid` that are multiprocessing workers (not the resource tracker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"spawn_main" in cmdline:
                found.append(int(child))
    return found


async def render_process_killed(tmp: Path, *, users: int = 2, photos: int = 2, settle_s: float = 90) -> Outcome:
    """SIGKILL the front's render process while it renders (the embedded queue; a new one is spawned)."""
    import os
    import signal

    async with stack(tmp) as s:
        began = time.monotonic()
        load = asyncio.create_task(traffic(s, users, photos, tag="kill"))
        killed = 0
        assert s.front is not None
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            rendering = await _states(s, "rendering")
            processes = _render_processes(s.front.process.pid) if rendering else []
            for pid in processes:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            await asyncio.sleep(0.02)
        await load
        outcome = await _finish(s, "render process SIGKILLed mid-render", began, settle_s, [f"killed {killed}"])
        outcome.notes.append(f"jobs with 2+ attempts {await _retried(s)}")
        return outcome


async def worker_killed(tmp: Path, *, users: int = 2, photos: int = 2, settle_s: float = 90) -> Outcome:
    """Redis queue: SIGKILL a `python -m bot worker` (and its render process) mid-render; another takes over."""
    async with stack(tmp, redis=True, redeliver_s=2, lease_s=10) as s:
        first = s.start_worker()
        began = time.monotonic()
        load = asyncio.create_task(traffic(s, users, photos, tag="wkill"))
        deadline = time.monotonic() + 60
        while not await _states(s, "rendering") and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        s.start_worker()
        first.kill()
        await load
        outcome = await _finish(s, "worker process SIGKILLed mid-render", began, settle_s, [])
        outcome.notes.append(f"jobs with 2+ attempts {await _retried(s)}")
        return outcome


def restart_redis() -> float:
    """`redis-cli shutdown nosave`, then start it again (nothing persisted: the stream is gone)."""
    started = time.monotonic()
    subprocess.run(["redis-cli", "shutdown", "nosave"], check=False, capture_output=True, timeout=10)
    for _ in range(100):
        if subprocess.run(["redis-cli", "ping"], capture_output=True, timeout=5).returncode != 0:
            break
        time.sleep(0.05)
    subprocess.run(REDIS_START, check=True, capture_output=True, timeout=10)
    for _ in range(200):
        done = subprocess.run(["redis-cli", "ping"], capture_output=True, text=True, timeout=5)
        if done.stdout.strip() == "PONG":
            break
        time.sleep(0.05)
    return time.monotonic() - started


def can_restart_redis() -> bool:
    return bool(shutil.which("redis-server") and shutil.which("redis-cli") and Path("/var/lib/redis").is_dir())


async def redis_restarted(tmp: Path, *, users: int = 2, photos: int = 2, settle_s: float = 120) -> Outcome:
    """Redis queue: restart Redis (no persistence) while jobs are queued and rendering, then more traffic."""
    async with stack(tmp, redis=True, redeliver_s=2, lease_s=10) as s:
        s.start_worker()
        began = time.monotonic()
        await traffic(s, users, photos, tag="before")
        deadline = time.monotonic() + 60
        while not await _states(s, "rendering") and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        pending_at_restart = len(await _states(s, "accepted", "rendering"))
        took = await asyncio.to_thread(restart_redis)
        await traffic(s, users, photos, tag="after")
        outcome = await _finish(s, "Redis restarted", began, settle_s, [])
        outcome.notes.insert(0, f"restart took {took:.1f} s with {pending_at_restart} job(s) unfinished")
        alive = [w.name for w in s.workers if w.process.poll() is None]
        outcome.notes.append(f"workers alive afterwards: {len(alive)}/{len(s.workers)}")
        return outcome


async def postgres_dropped(tmp: Path, *, users: int = 3, photos: int = 2, settle_s: float = 90) -> Outcome:
    """PostgreSQL: pg_terminate_backend on every connection of the bot's database, several times, mid-traffic."""
    async with stack(tmp, postgres=True, lease_s=10) as s:
        began = time.monotonic()
        load = asyncio.create_task(traffic(s, users, photos, tag="pg"))
        dropped = 0
        for _ in range(5):
            await asyncio.sleep(0.3)
            dropped += await drop_postgres_connections(s.db.url)
        await load
        await asyncio.sleep(0.5)
        dropped += await drop_postgres_connections(s.db.url)  # and once more while the renders run
        await s.db.engine.dispose()  # ours were among them
        return await _finish(s, "PostgreSQL connections dropped", began, settle_s, [f"{dropped} backends terminated"])


async def _states(s: Stack, *states: str) -> list[int]:
    from sqlalchemy import text

    async with s.db.transaction() as session:
        rows = await session.execute(text("SELECT id, state FROM render_jobs"))
        return [job_id for job_id, state in rows if state in states]


async def _retried(s: Stack) -> int:
    from sqlalchemy import text

    async with s.db.transaction() as session:
        return int((await session.execute(text("SELECT count(*) FROM render_jobs WHERE attempts >= 2"))).scalar_one())
