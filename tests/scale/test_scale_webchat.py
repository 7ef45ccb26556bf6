"""The web chat across processes: the front seals the upload in the blob store, a worker process renders and
sends (keeping the turn in the database, pushing it through Redis), the front pushes the replies to the
visitor's event stream, and any front (a second one here) serves the conversation and the result files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from bot import app as app_module
from bot.channels.webchat import COOKIE, WebChat
from tests.photos.photo_harness import product_photo
from tests.scale.scale_harness import scale_bot

pytestmark = pytest.mark.redis


async def test_web_visitor_gets_results_rendered_by_a_worker_process(tmp_path: Path) -> None:
    async with scale_bot(tmp_path, []) as bot:
        settings = bot.settings.model_copy(update={"http_port": 0})
        front = app_module.create_app(settings)
        await app_module.start(front)
        assert front.workers is None  # with Redis the front renders nothing itself
        chat = front.channel("web")
        assert isinstance(chat, WebChat)
        visitor = chat.identity.issue().cookie  # as the page's first answer would have set it
        assert visitor is not None
        base = f"http://127.0.0.1:{front.port}"
        try:
            bot.start_worker()
            async with aiohttp.ClientSession(cookies={COOKIE: visitor}) as http:
                events = await http.get(base + "/webchat/events", timeout=aiohttp.ClientTimeout(total=90))
                assert (await events.content.readline()).startswith(b": connected")
                form = aiohttp.FormData()
                form.add_field("id", "msg-00000001")
                form.add_field("photo", product_photo(), filename="p.jpg", content_type="image/jpeg")
                async with http.post(base + "/webchat/photos", data=form) as response:
                    assert response.status == 200
                    assert "#1" in json.dumps(await response.json(), ensure_ascii=False)
                documents: list[dict[str, str]] = []
                async with asyncio.timeout(60):
                    while len(documents) < 2:
                        line = await events.content.readline()
                        if line.startswith(b"data: "):
                            item = json.loads(line[6:])
                            documents += [r for r in item.get("replies", []) if r["type"] == "document"]
                events.close()
                async with http.get(base + documents[0]["url"]) as media:
                    assert media.status == 200 and len(await media.read()) > 1000
                other = app_module.create_app(settings)  # a second front: same database and blob store
                await app_module.start(other)
                try:
                    second = f"http://127.0.0.1:{other.port}"
                    async with http.get(second + documents[0]["url"]) as media:
                        assert media.status == 200 and len(await media.read()) > 1000
                    async with http.get(second + "/webchat/history") as kept:
                        turns = (await kept.json())["entries"]
                    assert any(r["type"] == "document" for t in turns for r in t["replies"])
                finally:
                    await app_module.stop(other)
            async with (
                aiohttp.ClientSession(cookies={COOKIE: chat.identity.issue().cookie or ""}) as stranger,
                stranger.get(base + documents[0]["url"]) as media,
            ):
                assert media.status == 404  # a result is served only to its visitor
        finally:
            await app_module.stop(front)
