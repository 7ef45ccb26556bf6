"""The web chat's HTTP surface with bad input: cookies, bodies, uploads, other visitors' media."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot import app as app_module
from bot.settings import Settings
from handlers.model import Document, Text
from tests.bot.webchat_harness import served_app, web_id


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[app_module.App, str]]:
    settings = Settings(data_dir=tmp_path / "data", http_port=0, _env_file=None)  # type: ignore[call-arg]
    async with served_app(settings) as served:
        yield served


async def test_healthz(served: tuple[app_module.App, str]) -> None:
    async with aiohttp.ClientSession() as http, http.get(served[1] + "/healthz") as r:
        assert r.status == 200 and (await r.json())["status"] == "ok"


async def test_malformed_cookie_starts_a_fresh_visitor(served: tuple[app_module.App, str]) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    headers = {"Cookie": "nxz_visitor=%%%;<script>"}
    async with (
        aiohttp.ClientSession(cookie_jar=jar, headers=headers) as http,
        http.post(served[1] + "/webchat/messages", json={"text": "hi"}) as r,
    ):
        assert r.status == 200
        body = await r.json()
        assert "Welcome to Nexoraz" in body["replies"][0]["text"]
        assert "nxz_visitor" in r.cookies


async def test_bad_bodies_get_400_not_a_crash(served: tuple[app_module.App, str]) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(served[1] + "/webchat/messages", data=b"\xff\xfe not json") as r:
            assert r.status == 400
        async with http.post(served[1] + "/webchat/messages", json=["a", "list"]) as r:
            assert r.status == 400
        async with http.post(served[1] + "/webchat/messages", json={"text": 42}) as r:
            assert r.status == 200  # treated as an empty message: a friendly answer
        async with http.post(served[1] + "/webchat/photos", data=b"x") as r:
            assert r.status == 400


async def test_a_retried_post_with_the_same_id_gets_the_first_answer(served: tuple[app_module.App, str]) -> None:
    """The page retries with the same id when an answer was lost: it gets that answer, nothing is done twice."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        body = {"text": "help", "id": "msg-0001-abcd"}
        async with http.post(served[1] + "/webchat/messages", json=body) as r:
            first = await r.json()
            assert first["replies"] and not first.get("repeat")
        async with http.post(served[1] + "/webchat/messages", json=body) as r:
            again = await r.json()
        assert again["repeat"] is True and again["replies"] == first["replies"]
        async with http.get(served[1] + "/webchat/history") as r:
            entries = (await r.json())["entries"]
        assert [e["me"]["text"] for e in entries] == ["help"]  # one turn kept, not two


async def test_later_replies_arrive_over_sse_and_media_is_private(served: tuple[app_module.App, str]) -> None:
    app, base = served
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(base + "/webchat/messages", json={"text": "hi"}) as r:
            visitor = web_id(app, r.cookies["nxz_visitor"].value)
        async with http.get(base + "/webchat/events") as stream:
            assert (await stream.content.readline()).startswith(b": connected")
            await stream.content.readline()
            await app.channel("web").send(
                visitor, [Text(text="ready"), Document(data=b"PNGDATA", name="out.png", mime="image/png")]
            )
            line = await asyncio.wait_for(stream.content.readline(), 5)
            event = json.loads(line.decode().removeprefix("data: "))
        replies = event["replies"]
        assert replies[0] == {"type": "text", "text": "ready"}
        url = replies[1]["url"]
        async with http.get(base + url) as r:
            assert r.status == 200 and await r.read() == b"PNGDATA"
    async with aiohttp.ClientSession() as stranger, stranger.get(base + url) as r:
        assert r.status == 404
