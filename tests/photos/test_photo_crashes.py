"""Crashes: a render process SIGKILLed mid-render, a whole front process gone with jobs in flight."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from bot.workers import JobRunner, MemoryJobQueue
from storage import jobs, ledger, users
from storage.models import RenderJob
from storage.types import utcnow
from storage.users import Identity
from tests.photos.photo_harness import photo_bot, product_photo


async def _balance(bot, user: str) -> int:  # type: ignore[no-untyped-def]
    async with bot.services.db.transaction() as s:
        found = await users.find(s, Identity("web", user))
        return await ledger.balance(s, found.id or 0)


async def test_render_process_killed_mid_render_delivers_once_charges_once(tmp_path: Path) -> None:
    async with photo_bot(tmp_path) as bot:
        await bot.dispatcher.dispatch(bot.photo("kill", product_photo(3000, 2000)))
        for _ in range(300):
            processes = bot.runner.pool.processes()
            if processes:
                break
            await asyncio.sleep(0.02)
        assert processes, "the render pool never started"
        os.kill(processes[0].pid, signal.SIGKILL)
        await bot.settle(timeout=120)
        assert len(bot.channel.documents("kill")) == 2
        assert await _balance(bot, "kill") == 2
        async with bot.services.db.transaction() as s:
            job = await jobs.get(s, 1)
            assert job is not None and job.state == "delivered" and job.attempts == 2
            assert await ledger.drift(s) == []


async def test_jobs_of_a_dead_process_are_picked_up_by_the_next_one(tmp_path: Path) -> None:
    async with photo_bot(tmp_path) as bot:
        await bot.runner.stop()  # the process "dies" right after accepting two photos
        await bot.dispatcher.dispatch(bot.photo("a", product_photo()))
        await bot.dispatcher.dispatch(bot.photo("b", product_photo()))
        async with bot.services.db.transaction() as s:
            claimed = await jobs.claim(s, 2, lease_s=300)  # b was mid-render when it died
            assert claimed is not None
            await s.execute(
                update(RenderJob).where(RenderJob.id == 2).values(lease_until=utcnow() - timedelta(seconds=1))
            )  # type: ignore[arg-type]
        queue = MemoryJobQueue()
        restarted = JobRunner(
            bot.runner.settings, bot.services.db, bot.runner.blobs, {"web": bot.channel}, queue.take, queue.enqueue
        )
        await restarted.start()
        try:
            await bot.settle()
        finally:
            await restarted.stop()
        assert len(bot.channel.documents("a")) == 2 and len(bot.channel.documents("b")) == 2
        assert await _balance(bot, "a") == 2 and await _balance(bot, "b") == 2


async def test_a_job_rendering_elsewhere_is_not_taken_twice(tmp_path: Path) -> None:
    async with photo_bot(tmp_path) as bot:
        await bot.runner.stop()
        await bot.dispatcher.dispatch(bot.photo("c", product_photo()))
        async with bot.services.db.transaction() as s:
            assert await jobs.claim(s, 1, lease_s=300) is not None
            assert await jobs.claim(s, 1, lease_s=300) is None  # a live lease
            assert await jobs.due(s) == []
