"""The serving front settles its heap after start-up (bot/heap.py) and reports its collector's pauses.

A full collection walked everything start-up made (modules, models, compiled statements) and stalled every
request in flight for ~200 ms under load; the front now freezes that heap once it serves, and /metrics
shows each pause so an operator can see the stalls.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from pathlib import Path

import aiohttp

from bot import app as app_module
from bot import heap
from bot.settings import Settings


def test_pause_watch_times_each_collection_until_detached() -> None:
    seen: list[tuple[int, float]] = []
    ticks = iter([10.0, 10.25, 20.0, 20.5])
    watch = heap.PauseWatch(lambda generation, seconds: seen.append((generation, seconds)), clock=lambda: next(ticks))
    watch.attach()
    watch.attach()  # once only: a second attach does not time each collection twice
    try:
        gc.collect(1)
        gc.collect(2)
    finally:
        watch.detach()
    gc.collect()
    assert seen == [(1, 0.25), (2, 0.5)]


async def test_serving_front_freezes_its_start_up_heap_and_reports_pauses(tmp_path: Path, monkeypatch) -> None:
    made: list[app_module.App] = []
    create = app_module.create_app
    monkeypatch.setattr(app_module, "create_app", lambda settings: made.append(create(settings)) or made[-1])
    settings = Settings(data_dir=tmp_path / "data", http_port=0, _env_file=None)  # type: ignore[call-arg]
    thresholds, callbacks = gc.get_threshold(), list(gc.callbacks)
    serving = asyncio.create_task(app_module.serve(settings, stop_signals=()))
    try:
        deadline = time.monotonic() + 60
        while gc.get_freeze_count() == 0:
            assert not serving.done(), serving.exception()
            assert time.monotonic() < deadline, "the front did not settle its heap after starting"
            await asyncio.sleep(0.05)
        # What start-up made is out of the full collection's walk; the young collections wait longer.
        assert len(gc.get_objects(generation=2)) < gc.get_freeze_count() // 20
        assert gc.get_threshold() == heap.THRESHOLDS
        gc.collect()
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{made[0].port}/metrics") as r:
            page = await r.text()
        assert 'nexoraz_gc_pause_seconds_count{generation="2"} 1.0' in page
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    assert gc.callbacks == callbacks  # the watch left with the server
