"""Render processes run below the front's scheduling priority, so a render sharing a core with `run` does not
hold a seller's answer up (issue 17: on 2 cores `bench/load.py --render-load`'s p95 fell by a third)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.workers import RenderPool

pytestmark = pytest.mark.skipif(not hasattr(os, "nice"), reason="Unix scheduling priority")


def _niceness() -> int:
    """Run inside a render process: its own niceness (`os.nice(0)` changes nothing and returns it)."""
    return os.nice(0)


async def _render_process_niceness(tmp_path: Path, **settings: int) -> int:
    pool = RenderPool(Settings(data_dir=tmp_path, _env_file=None, **settings))  # type: ignore[call-arg, arg-type]
    try:
        return await pool.run(_niceness)  # type: ignore[arg-type]
    finally:
        pool.close()


async def test_render_processes_yield_the_cpu_to_the_front(tmp_path: Path) -> None:
    front = os.nice(0)
    assert await _render_process_niceness(tmp_path) == min(front + 10, 19)  # the default
    assert await _render_process_niceness(tmp_path, render_niceness=3) == min(front + 3, 19)


async def test_an_operator_can_keep_renders_at_the_fronts_priority(tmp_path: Path) -> None:
    assert await _render_process_niceness(tmp_path, render_niceness=0) == os.nice(0)
