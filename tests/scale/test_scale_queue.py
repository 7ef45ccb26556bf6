"""The render queue on Redis with `python -m bot worker` processes: delivery, sharing, crashes, catching up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from handlers.model import Progress
from storage.models import StoredFile
from tests.photos.photo_harness import product_photo
from tests.scale.scale_harness import REPO, scale_bot

pytestmark = pytest.mark.redis


async def test_a_photo_is_rendered_and_delivered_by_a_worker_process(tmp_path: Path) -> None:
    async with scale_bot(tmp_path, ["alice"]) as bot:
        bot.start_worker()
        replies = await bot.photo("alice", product_photo())
        assert any(isinstance(r, Progress) and "#1" in r.text for r in replies)  # "received, you are #1 in line"
        await bot.settle(timeout=60)
        assert len(bot.documents("alice")) == 2  # the white-background JPEG and the transparent PNG
        assert await bot.balance("alice") == 2
        assert set((await bot.job_states()).values()) == {"delivered"}
        assert await bot.queue.refresh_depth() == 0  # acknowledged and deleted
        url = bot.documents("alice")[0]["url"]
        assert url.startswith("/webchat/files/")  # a stored output, served from the blob store by any front
        async with bot.db.transaction() as s:
            stored = await s.get(StoredFile, int(url.rsplit("/", 1)[1]))
        assert stored is not None and stored.kind == "output" and stored.bytes > 0


def test_worker_without_redis_url_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(PYTHONPATH=str(REPO), DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "worker"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "REDIS_URL" in lines[0]


async def test_two_workers_share_six_jobs_and_deliver_each_exactly_once(tmp_path: Path) -> None:
    visitors = [f"v{n}" for n in range(6)]
    async with scale_bot(tmp_path, visitors) as bot:
        bot.start_worker()
        bot.start_worker()
        for visitor in visitors:
            await bot.photo(visitor, product_photo())
        await bot.settle(timeout=90)
        for visitor in visitors:
            assert len(bot.documents(visitor)) == 2, visitor
            assert await bot.balance(visitor) == 2
        assert set((await bot.job_states()).values()) == {"delivered"}
        assert await bot.drift() == []
        assert await bot.queue.refresh_depth() == 0
        worked = [w for w in bot.workers if "nexoraz.render_job" in w.log()]
        assert len(worked) == 2, "both workers took jobs"


async def test_a_worker_killed_mid_render_the_other_delivers_once_charges_once(tmp_path: Path) -> None:
    async with scale_bot(tmp_path, ["kill"], redeliver_s=2, lease_s=10) as bot:
        first = bot.start_worker()
        await bot.photo("kill", product_photo(3000, 2000))

        async def rendering() -> bool:
            return (await bot.job_states()).get(1) == "rendering"

        await bot.wait_for(rendering, timeout=60, what="the first worker claims the job")
        second = bot.start_worker()
        first.kill()  # SIGKILL to the worker and its render process, mid-render
        await bot.settle(timeout=60)
        assert len(bot.documents("kill")) == 2
        assert await bot.balance("kill") == 2
        assert await bot.drift() == []
        async with bot.db.transaction() as s:
            from storage import jobs

            job = await jobs.get(s, 1)
            assert job is not None and job.state == "delivered" and job.attempts == 2
        assert "nexoraz.render_job" in second.log()
        assert await bot.queue.refresh_depth() == 0


async def test_jobs_queued_while_no_worker_runs_are_rendered_when_one_starts(tmp_path: Path) -> None:
    async with scale_bot(tmp_path, ["early", "later"]) as bot:
        await bot.photo("early", product_photo())
        await bot.photo("later", product_photo())
        assert bot.queue.depth() == 2 and await bot.queue.refresh_depth() == 2
        assert set((await bot.job_states()).values()) == {"accepted"}
        bot.start_worker()
        await bot.settle(timeout=60)
        assert len(bot.documents("early")) == 2 and len(bot.documents("later")) == 2
        assert await bot.balance("early") == 2 and await bot.balance("later") == 2
        assert await bot.queue.refresh_depth() == 0


async def test_sigterm_hands_the_job_in_flight_back_and_the_worker_exits_cleanly(tmp_path: Path) -> None:
    async with scale_bot(tmp_path, ["term"]) as bot:
        one, two = bot.start_worker("--grace", "0"), bot.start_worker("--grace", "0")
        await bot.photo("term", product_photo(6000, 4000))  # a slow render, so SIGTERM lands mid-render

        async def rendering() -> bool:
            return "rendering" in (await bot.job_states()).values()

        await bot.wait_for(rendering, timeout=60, what="a worker renders the job")
        busy = one if "nexoraz.render_job" in one.log() else two
        busy.process.send_signal(signal.SIGTERM)
        assert busy.process.wait(timeout=30) == 0
        # Normally the job is handed back; on a fast machine the render may just beat the signal.
        assert "handed back" in busy.log() or "delivered" in busy.log()
        await bot.settle(timeout=60)
        assert len(bot.documents("term")) == 2
        assert await bot.balance("term") == 2 and await bot.drift() == []
        assert await bot.queue.refresh_depth() == 0
