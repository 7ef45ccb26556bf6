"""The render queue on Redis with `python -m bot worker` processes: delivery, sharing, crashes, catching up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from handlers.model import Progress
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
        assert url.startswith("/webchat/media/")
        stored = await bot.relay.get_file("media", url.rsplit("/", 1)[1])
        assert stored is not None and stored.visitor == "alice" and stored.data


def test_worker_without_redis_url_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(PYTHONPATH=str(REPO), DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "worker"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "REDIS_URL" in lines[0]
