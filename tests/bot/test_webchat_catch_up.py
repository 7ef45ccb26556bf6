"""The web chat's event stream catches up without losing or repeating a turn (the race behind the open-tab
restart journey): it listens before it reads what was kept, resumes from the browser's `Last-Event-ID`, and
a user's turns become visible in the order of their ids, so "everything after the last id" misses nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from bot import app as app_module
from bot.channels.webchat import WebChat
from bot.settings import Settings
from handlers.errors import ServiceUnavailable
from handlers.model import ChatAction, Text
from handlers.privacy import CANCEL, DELETE_PREFIX
from handlers.router import button_payload
from storage import users
from storage import webchat as entries
from storage.db import Database
from storage.models import WebChatEntry
from storage.users import Identity
from tests.bot.webchat_harness import served_app, web_id
from tests.photos.photo_harness import product_photo


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[app_module.App, str]]:
    # No credits: these tests are about the order of turns, and a render's own result would race into them.
    settings = Settings(data_dir=tmp_path / "data", http_port=0, web_visitor_credits=0, _env_file=None)  # type: ignore[call-arg]
    async with served_app(settings) as served:
        yield served


async def _events(stream: aiohttp.ClientResponse, wanted: Callable[[list[dict[str, Any]]], bool]) -> list[Any]:
    """Reads server-sent events until `wanted(events)`; each event as (id or None, data)."""
    found: list[Any] = []
    fields: dict[str, str] = {}
    while not wanted([data for _, data in found]):
        line = (await asyncio.wait_for(stream.content.readline(), 10)).decode().rstrip("\n")
        if line == "":
            if "data" in fields:
                found.append((fields.get("id"), json.loads(fields["data"])))
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value
    return found


def _texts(events: list[dict[str, Any]]) -> list[str]:
    return [r["text"] for e in events for r in e.get("replies", []) if r.get("type") == "text"]


async def _visitor(app: app_module.App, http: aiohttp.ClientSession, base: str) -> tuple[WebChat, str, int]:
    """A visitor with one kept turn: (the chat, the visitor's id, that turn's entry id)."""
    async with http.post(base + "/webchat/messages", json={"text": "hi", "id": "first-turn-01"}) as r:
        entry = (await r.json())["entry"]
        visitor = web_id(app, r.cookies["nxz_visitor"].value)
    chat = app.channel("web")
    assert isinstance(chat, WebChat)
    return chat, visitor, entry


async def test_turns_kept_while_the_stream_reads_its_catch_up_arrive_once(
    served: tuple[app_module.App, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A result kept just before the catch-up read and one kept just after it: each arrives, once, in order."""
    app, base = served
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        chat, visitor, first = await _visitor(app, http, base)
        await chat.send(visitor, [Text(text="missed while away")])
        read = chat.store.recent
        reads: list[int] = []

        async def racing_read(user_id: int, after: int = 0) -> list[dict[str, Any]]:
            reads.append(after)
            if len(reads) == 1:  # the stream's catch-up: a worker keeps results right around it
                await chat.send(visitor, [Text(text="kept just before the read")])
                found = await read(user_id, after)
                await chat.send(visitor, [Text(text="kept just after the read")])
                return found
            return await read(user_id, after)

        monkeypatch.setattr(chat.store, "recent", racing_read)
        async with http.get(base + f"/webchat/events?after={first}") as stream:
            got = await _events(stream, lambda seen: "kept just after the read" in _texts(seen))
            await asyncio.sleep(0.3)  # a wake-up for a turn already sent sends nothing again
            await chat.send(visitor, [Text(text="live")])
            got += await _events(stream, lambda seen: "live" in _texts(seen))
    events = [data for _, data in got]
    assert _texts(events) == ["missed while away", "kept just before the read", "kept just after the read", "live"]
    ids = [int(event_id) for event_id, _ in got]
    assert ids == sorted(set(ids)) and ids[0] > first and reads[0] == first


async def test_a_reconnect_resumes_from_the_last_event_id_the_browser_sends(
    served: tuple[app_module.App, str],
) -> None:
    app, base = served
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        chat, visitor, first = await _visitor(app, http, base)
        async with http.get(base + f"/webchat/events?after={first}") as stream:
            await chat.send(visitor, [Text(text="one")])
            ((last_id, _),) = await _events(stream, lambda seen: bool(seen))
        await chat.send(visitor, [Text(text="two")])  # while the page is away
        await chat.send(visitor, [Text(text="three")])
        # The page's URL still says ?after=<first>; the browser's header says what the stream delivered.
        headers = {"Last-Event-ID": str(last_id)}
        async with http.get(base + f"/webchat/events?after={first}", headers=headers) as stream:
            got = await _events(stream, lambda seen: "three" in _texts(seen))
        assert _texts([data for _, data in got]) == ["two", "three"]
        # No catch-up asked: only what is kept from now on (the turns before are not sent again).
        async with http.get(base + "/webchat/events") as stream:
            await asyncio.sleep(0.2)
            await chat.send(visitor, [Text(text="four")])
            got = await _events(stream, lambda seen: bool(seen))
        assert _texts([data for _, data in got]) == ["four"]


async def test_another_tab_gets_the_page_s_turn_with_the_next_push_marked_with_its_client_id(
    served: tuple[app_module.App, str],
) -> None:
    app, base = served
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        chat, visitor, first = await _visitor(app, http, base)
        async with http.get(base + f"/webchat/events?after={first}") as stream:
            await asyncio.sleep(0.2)
            async with http.post(base + "/webchat/messages", json={"text": "credits", "id": "second-turn-2"}) as r:
                answer = await r.json()
            await chat.send(visitor, [Text(text="ready")])
            ((turn_id, turn), (_, result)) = await _events(stream, lambda seen: len(seen) == 2)
    assert int(turn_id or 0) == answer["entry"] == turn["entry"] < result["entry"]
    assert turn["client"] == "second-turn-2" and turn["me"] == {"type": "text", "text": "credits"}
    assert _texts([result]) == ["ready"]


async def test_what_is_pushed_while_a_message_is_handled_comes_after_its_turn(
    served: tuple[app_module.App, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker says "working on it" (or even delivers) before the page's photo has its answer: on a reload and
    in the stream the photo's turn still comes first (its place was taken before it was handled)."""
    app, base = served
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        chat, visitor, first = await _visitor(app, http, base)
        handle = chat._dispatch

        async def a_worker_is_quicker(event: Any) -> list[Any]:
            replies = await handle(event)
            await chat.send(visitor, [Text(text="working on your photo")])
            return replies

        monkeypatch.setattr(chat, "_dispatch", a_worker_is_quicker)
        form = aiohttp.FormData()
        form.add_field("id", "photo-turn-2")
        form.add_field("photo", product_photo(), filename="shoe.jpg", content_type="image/jpeg")
        async with http.post(base + "/webchat/photos", data=form) as r:
            answer = await r.json()
        async with http.get(base + f"/webchat/history?after={first}") as r:
            kept = (await r.json())["entries"]
    assert [e["me"]["type"] if e.get("me") else _texts([e]) for e in kept] == ["photos", ["working on your photo"]]
    assert kept[0]["entry"] == answer["entry"] and kept[0]["replies"] == answer["replies"]


async def test_a_message_that_could_not_be_handled_gives_up_its_place(
    served: tuple[app_module.App, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, base = served
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        chat, _, first = await _visitor(app, http, base)
        handle = chat._dispatch

        async def database_down(event: Any) -> list[Any]:
            raise ServiceUnavailable("the database blinked")

        body = {"payload": button_payload(DELETE_PREFIX, CANCEL), "label": "No", "id": "third-turn-3"}
        monkeypatch.setattr(chat, "_dispatch", database_down)
        async with http.post(base + "/webchat/messages", json=body) as r:
            assert r.status == 503
        async with http.get(base + f"/webchat/history?after={first}") as r:
            assert (await r.json())["entries"] == []  # nothing half-kept is shown
        async with app.db.transaction() as session:  # and nothing half-kept stays behind
            held = select(func.count()).where(col(WebChatEntry.client_id) == "third-turn-3")
            assert await session.scalar(held) == 0
        monkeypatch.setattr(chat, "_dispatch", handle)
        async with http.post(base + "/webchat/messages", json=body) as r:  # the page sends it again
            answer = await r.json()
        async with http.get(base + f"/webchat/history?after={first}") as r:
            kept = (await r.json())["entries"]
    assert not answer.get("repeat") and _texts([answer])
    assert [e["entry"] for e in kept] == [answer["entry"]] and kept[0]["me"]["text"] == "No"


async def _user(db: Database, name: str) -> int:
    async with db.transaction() as session:
        user, _ = await users.get_or_create(session, Identity("web", name), locale="en", display_name=None)
        return user.id or 0


async def _add(db: Database, user_id: int, body: dict[str, Any], client_id: str | None = None) -> int:
    async with db.transaction() as session:
        return await entries.add_entry(session, user_id, body, client_id)


async def _visible(db: Database, user_id: int) -> list[int]:
    async with db.transaction() as session:
        return [e["entry"] for e in await entries.recent(session, user_id)]


async def test_a_users_turns_become_visible_in_the_order_of_their_ids(database: Database) -> None:
    """PostgreSQL hands out ids at insert: a turn with a higher id must not be readable while a lower one of
    the same user is still uncommitted, or a catch-up "after the highest id" skips the lower one for good."""
    if database.dialect == "sqlite":
        pytest.skip("SQLite has one writer at a time (BEGIN IMMEDIATE): ids are committed in order already")
    user_id = await _user(database, "r" * 43)
    other_id = await _user(database, "s" * 43)
    later: Awaitable[int]
    async with database.transaction() as session:  # a worker keeping a result, not committed yet
        early = await entries.add_entry(session, user_id, {"replies": [{"type": "text", "text": "result"}]})
        later = asyncio.ensure_future(_add(database, user_id, {"me": {"type": "text", "text": "hi"}}, "turn-00001"))
        elsewhere = await _add(database, other_id, {"replies": []})  # another user's turns do not wait
        await asyncio.sleep(0.5)  # the page's message had every chance to be kept meanwhile
        seen_meanwhile = await _visible(database, user_id)
    assert seen_meanwhile == [] and elsewhere
    kept_after = await later  # the user's lock is free: the message is kept now, with the higher id
    assert await _visible(database, user_id) == [early, kept_after]


async def test_a_chat_action_is_pushed_to_the_open_page_but_not_kept(served: tuple[app_module.App, str]) -> None:
    """ "Typing" shows while the page is open; a reload draws only what was said (`WebChatStore.keep_replies`)."""
    app, base = served
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        chat, visitor, first = await _visitor(app, http, base)
        async with http.get(base + f"/webchat/events?after={first}") as stream:
            await chat.send(visitor, [ChatAction(action="typing")])
            await chat.send(visitor, [Text(text="ready")])
            got = await _events(stream, lambda seen: "ready" in _texts(seen))
        pushed = [r["type"] for _, data in got for r in data.get("replies", [])]
        assert pushed == ["action", "text"]
        async with http.get(base + f"/webchat/events?after={first}") as stream:  # a reload catches up
            again = await _events(stream, lambda seen: "ready" in _texts(seen))
        assert [r["type"] for _, data in again for r in data.get("replies", [])] == ["text"]
