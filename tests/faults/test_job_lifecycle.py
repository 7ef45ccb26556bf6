"""Issue #13, "no job left behind": every claimed job ends delivered, or refunded with a message, within a
bounded number of attempts, whatever goes wrong. Real render processes, a real SQLite database, a channel
at the boundary (tests/photos/photo_harness.py)."""

from __future__ import annotations

import asyncio
import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select

from bot.channels.base import Refused, Unavailable
from handlers.model import Document, Progress, Reply
from storage import jobs, ledger, users
from storage.models import LedgerEntry, RenderJob
from storage.users import Identity
from tests.photos.photo_harness import CollectingChannel, PhotoBot, photo_bot, product_photo


async def balance(bot: PhotoBot, user: str) -> int:
    async with bot.services.db.transaction() as s:
        found = await users.find(s, Identity("web", user))
        return await ledger.balance(s, found.id or 0) if found else -1


async def job_row(bot: PhotoBot, job_id: int = 1) -> RenderJob:
    async with bot.services.db.transaction() as s:
        job = await jobs.get(s, job_id)
    assert job is not None
    return job


async def refunds(bot: PhotoBot) -> int:
    async with bot.services.db.transaction() as s:
        query = select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "refund")  # type: ignore[arg-type]
        return int(await s.scalar(query) or 0)


def truncated_gif() -> bytes:
    """An animated GIF cut inside its second frame: Pillow's n_frames raised IndexError on it."""
    frames = [Image.new("RGB", (64, 48), (40 + 60 * n, 90, 160)) for n in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    data = out.getvalue()
    second = data.index(b"\x21\xf9", data.index(b"\x2c") + 1)
    return data[: second + 3]


def forged_heif() -> bytes:
    """A HEIF whose declared size is past libheif's security limit (RuntimeError from pillow-heif)."""
    import pillow_heif

    out = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", (64, 48), (10, 120, 30))).save(out, quality=50)
    data = bytearray(out.getvalue())
    at = data.find(b"ispe")
    data[at + 8 : at + 16] = struct.pack(">II", 100_000, 100_000)
    return bytes(data)


async def test_a_lost_upload_fails_once_refunded_and_said(tmp_path: Path) -> None:
    """Case 1: the upload is gone (a restart, an evicted cache): the channel says Refused; the job fails at
    once with a refund and a message, and the next photo is not told "your previous photos are being made"."""
    async with photo_bot(tmp_path) as bot:
        event = bot.photo("lost", product_photo())
        del bot.channel.files[event.media[0].file_id]
        await bot.dispatcher.dispatch(event)
        await bot.settle(timeout=30)
        job = await job_row(bot)
        assert (job.state, job.error_code, job.attempts) == ("failed", "media_unavailable", 1)
        assert await balance(bot, "lost") == 3
        assert "could not download your photo" in bot.channel.texts("lost")
        assert "credit has been returned" in bot.channel.texts("lost")
        again = await bot.dispatcher.dispatch(bot.photo("lost", product_photo()))
        assert any(isinstance(r, Progress) and "#1 in line" in r.text for r in again)


@dataclass
class ContractBreakingChannel(CollectingChannel):
    """A channel that raises what the old web chat raised for a lost upload (FileNotFoundError)."""

    async def fetch_media(self, file_id: str) -> bytes:
        self.fetches.append(file_id)
        raise FileNotFoundError(file_id)


async def test_an_untyped_error_is_not_retried_for_ever(tmp_path: Path) -> None:
    """Case 2: any OSError used to be "transient": a FileNotFoundError looped about once a second for ever."""
    async with photo_bot(tmp_path) as bot:
        broken = ContractBreakingChannel(name="web", sent=bot.channel.sent)
        bot.runner.processor.channels = {"web": broken}
        await bot.dispatcher.dispatch(bot.photo("nf", product_photo()))
        await bot.settle(timeout=30)
        job = await job_row(bot)
        assert (job.state, job.error_code) == ("failed", "internal")
        assert len(broken.fetches) == 1
        assert await balance(bot, "nf") == 3 and await refunds(bot) == 1


async def test_poisoned_images_fail_with_a_reason_and_one_status_line(tmp_path: Path) -> None:
    """Case 2: a truncated animated GIF and a forged HEIF kept their jobs `rendering` for ever, with a new
    "working on your photo" on every try."""
    async with photo_bot(tmp_path) as bot:
        await bot.dispatcher.dispatch(bot.photo("gif", truncated_gif(), mime="image/gif"))
        await bot.dispatcher.dispatch(bot.photo("heif", forged_heif(), mime="image/heic"))
        await bot.settle(timeout=60)
        for job_id, user in ((1, "gif"), (2, "heif")):
            job = await job_row(bot, job_id)
            assert (job.state, job.error_code, job.attempts) == ("failed", "unreadable", 1), user
            assert await balance(bot, user) == 3
            assert "could not open this file as a photo" in bot.channel.texts(user)
            working = [r for c, r in bot.channel.sent if c == user and isinstance(r, Progress)]
            assert len(working) == 1, user


@dataclass
class DownChannel(CollectingChannel):
    """The platform's file server answers 502 for ever."""

    async def fetch_media(self, file_id: str) -> bytes:
        self.fetches.append(file_id)
        raise Unavailable("HTTP 502 Bad Gateway", retry_after=0.01)


async def test_every_claim_counts_and_past_the_limit_the_job_fails_refunded(tmp_path: Path) -> None:
    """Case 2: a transient cause, retried, ends: after MAX_ATTEMPTS claims the job fails with a refund."""
    async with photo_bot(tmp_path) as bot:
        down = DownChannel(name="web", sent=bot.channel.sent)
        bot.runner.processor.channels = {"web": down}
        await bot.dispatcher.dispatch(bot.photo("down", product_photo()))
        await bot.settle(timeout=60)
        job = await job_row(bot)
        limit = bot.runner.processor.max_attempts
        assert (job.state, job.attempts) == ("failed", limit)
        assert len(down.fetches) == limit
        assert await balance(bot, "down") == 3 and await refunds(bot) == 1
        assert "credit has been returned" in bot.channel.texts("down")
        working = [r for c, r in bot.channel.sent if c == "down" and isinstance(r, Progress)]
        assert len(working) == 1


@dataclass
class RefusingChannel(CollectingChannel):
    """The platform refuses the documents (a blocked bot, a 400 for this chat); texts still go."""

    async def send(self, chat_id: str, replies: Sequence[Reply]) -> None:
        if any(isinstance(r, Document) for r in replies):
            raise Refused("Bad Request: chat not found")
        await super().send(chat_id, replies)


async def test_refused_delivery_is_undelivered_refunded_and_said(tmp_path: Path) -> None:
    """Case 4: a delivery the platform refused was marked `delivered` and the credit kept."""
    async with photo_bot(tmp_path) as bot:
        refusing = RefusingChannel(name="web", sent=bot.channel.sent, files=bot.channel.files)
        bot.runner.processor.channels = {"web": refusing}
        await bot.dispatcher.dispatch(bot.photo("ref", product_photo()))
        await bot.settle(timeout=60)
        job = await job_row(bot)
        assert (job.state, job.error_code) == ("undelivered", "refused")
        assert await balance(bot, "ref") == 3
        assert "could not send your studio images" in bot.channel.texts("ref")
        assert "ready" not in bot.channel.texts("ref")


@dataclass
class SlowChannel(CollectingChannel):
    """A delivery slower than the job's lease (large documents on a slow link)."""

    delay_s: float = 0.0

    async def send(self, chat_id: str, replies: Sequence[Reply]) -> None:
        if any(isinstance(r, Document) for r in replies):
            await asyncio.sleep(self.delay_s)
        await super().send(chat_id, replies)


async def test_a_delivery_slower_than_the_lease_is_made_once(tmp_path: Path) -> None:
    """Case 7: the lease was set once: a second worker claimed the job mid-delivery and sent it again."""
    from bot.workers import JobRunner, MemoryJobQueue

    async with photo_bot(tmp_path) as bot:
        settings = bot.runner.settings.model_copy(update={"job_lease_seconds": 1})
        slow = SlowChannel(name="web", files=bot.channel.files, delay_s=3.0)
        bot.runner.processor.channels = {"web": slow}
        bot.runner.processor.settings = settings
        other_queue = MemoryJobQueue()
        other = JobRunner(
            settings, bot.services.db, bot.runner.blobs, {"web": slow}, other_queue.take, other_queue.enqueue
        )
        other.sweep_interval_s = 0.2  # the second worker looks for expired leases all the time
        await other.start()
        try:
            await bot.dispatcher.dispatch(bot.photo("slow", product_photo()))
            await bot.settle(timeout=60)
        finally:
            await other.stop()
        assert len(slow.documents("slow")) == 2  # two outputs, delivered once
        job = await job_row(bot)
        assert (job.state, job.attempts) == ("delivered", 1)
        assert await balance(bot, "slow") == 2


async def test_the_sweeper_queues_only_due_jobs_nobody_holds(tmp_path: Path) -> None:
    """Case 7: every sweep re-added every waiting job (20 waiting jobs became 200 queue entries)."""
    async with photo_bot(tmp_path) as bot:
        await bot.runner.stop()
        for n in range(5):
            await bot.dispatcher.dispatch(bot.photo(f"w{n}", product_photo()))
        queued_before = bot.queue.depth()
        assert queued_before == 5
        assert await bot.runner.sweep() == []  # all five are in the queue already
        assert bot.queue.depth() == 5
        async with bot.services.db.transaction() as s:
            await jobs.release(s, 1)  # a no-op: job 1 is accepted, not rendering
            assert await jobs.claim(s, 2, lease_s=300) is not None  # held by a live worker elsewhere
        taken = await bot.queue.take()  # job 1 left the queue and its worker vanished
        assert taken == 1
        assert await bot.runner.sweep() == [1]
        assert await bot.runner.sweep() == []
