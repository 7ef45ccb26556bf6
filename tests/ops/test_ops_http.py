"""/healthz, /readyz and /metrics on the real app; JSON log lines carry the request id and no personal data."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot import app as app_module
from bot import logs
from bot.http import add_ops_routes
from bot.settings import Settings
from tests.photos.photo_harness import product_photo

REQUIRED = (
    "nexoraz_updates_total",
    "nexoraz_render_jobs_total",
    "nexoraz_queue_depth",
    "nexoraz_render_seconds_bucket",
    "nexoraz_delivery_failures_total",
    "nexoraz_credits_debited_total",
    "nexoraz_credits_refunded_total",
    "nexoraz_rate_limited_total",
)


async def _served(settings: Settings) -> tuple[app_module.App, str]:
    app = app_module.create_app(settings)
    await app_module.start(app)
    return app, f"http://127.0.0.1:{app.port}"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[app_module.App, str]]:
    app, base = await _served(Settings(data_dir=tmp_path / "data", http_port=0, _env_file=None))  # type: ignore[call-arg]
    try:
        yield app, base
    finally:
        await app_module.stop(app)


async def test_readyz_checks_the_database_and_the_embedded_queue(served: tuple[app_module.App, str]) -> None:
    async with aiohttp.ClientSession() as http, http.get(served[1] + "/readyz") as r:
        body = await r.json()
        assert r.status == 200, body
        assert body["checks"] == {"database": "ok", "queue": "ok"}


async def test_readyz_with_redis_checks_redis_and_the_stream(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        http_port=0,
        redis_url="redis://127.0.0.1:6379/0",
        redis_prefix=f"ops-{tmp_path.name}",
        _env_file=None,  # type: ignore[call-arg]
    )
    app, base = await _served(settings)
    try:
        async with aiohttp.ClientSession() as http, http.get(base + "/readyz") as r:
            body = await r.json()
            assert r.status == 200, body
            assert body["checks"] == {"database": "ok", "redis": "ok", "queue": "ok"}
    finally:
        await app_module.stop(app)


async def test_readyz_names_the_part_that_failed() -> None:
    async def ok() -> None:
        return None

    async def broken() -> None:
        raise ConnectionRefusedError("redis://secret@host")

    http_app = web.Application()
    add_ops_routes(http_app, {"database": ok, "redis": broken}, None)
    runner = web.AppRunner(http_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as r:
            body = await r.json()
            assert r.status == 503
            assert body["failed"] == ["redis"]
            assert body["checks"]["redis"] == "failed: ConnectionRefusedError"  # no URL, no secret
    finally:
        await runner.cleanup()


async def test_metrics_count_updates_per_app(served: tuple[app_module.App, str], tmp_path: Path) -> None:
    app, base = served
    other, _ = await _served(Settings(data_dir=tmp_path / "other", http_port=0, _env_file=None))  # type: ignore[call-arg]
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            for _ in range(2):
                async with http.post(base + "/webchat/messages", json={"text": "help"}) as r:
                    assert r.status == 200
            async with http.get(base + "/metrics") as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain")
                text = await r.text()
        for name in REQUIRED:
            assert name in text, name
        assert 'nexoraz_updates_total{channel="web",kind="text"} 2.0' in text
        assert "nexoraz_queue_depth 0.0" in text
        assert other.metrics is not None
        assert b'nexoraz_updates_total{channel="web"' not in other.metrics.render()  # registries are not shared
    finally:
        await app_module.stop(other)


async def test_requests_get_an_id_in_the_response(served: tuple[app_module.App, str]) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(served[1] + "/healthz", headers={"X-Request-Id": "abc-123"}) as r:
            assert r.headers["X-Request-Id"] == "abc-123"
        async with http.get(served[1] + "/healthz", headers={"X-Request-Id": "<script>"}) as r:
            assert len(r.headers["X-Request-Id"]) == 16  # an unsafe id is replaced
    assert logs.bound() == {}  # nothing leaks out of a request


async def test_a_rendered_job_is_counted(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", http_port=0, segmenter="classical", web_visitor_credits=3, _env_file=None
    )  # type: ignore[call-arg]
    app, base = await _served(settings)
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            form = aiohttp.FormData()
            form.add_field("photo", product_photo(), filename="p.jpg", content_type="image/jpeg")
            async with http.post(base + "/webchat/photos", data=form) as r:
                assert r.status == 200
            for _ in range(600):
                async with http.get(base + "/metrics") as r:
                    text = await r.text()
                if 'nexoraz_render_jobs_total{state="delivered"} 1.0' in text:
                    break
                await asyncio.sleep(0.1)
        assert 'nexoraz_render_jobs_total{state="delivered"} 1.0' in text
        assert "nexoraz_render_seconds_count 1.0" in text
        assert "nexoraz_credits_debited_total 1.0" in text
        assert "nexoraz_credits_refunded_total 0.0" in text
        assert 'nexoraz_updates_total{channel="web",kind="photo"} 1.0' in text
    finally:
        await app_module.stop(app)


def test_json_log_lines_carry_the_bound_ids() -> None:
    record = logging.LogRecord("bot.workers", logging.INFO, __file__, 1, "job %s: delivered", (7,), None)
    with logs.scope(request_id="r1"), logs.scope(job=7):
        line = json.loads(logs.JsonFormatter().format(record))
    assert line["request_id"] == "r1" and line["job"] == "7" and line["message"] == "job 7: delivered"
    assert "job" not in json.loads(logs.JsonFormatter().format(record))
