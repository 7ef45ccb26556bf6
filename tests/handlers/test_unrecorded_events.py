"""Regression (load/fault suite, bug 3): when the database or Redis fails before an event is recorded, the
event is not acknowledged, so the platform delivers it again, and it is then processed exactly once."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.exc import OperationalError

from bot import app as app_module
from bot.settings import Settings
from handlers.context import Services
from handlers.errors import ServiceUnavailable
from storage import events
from tests.conftest import inbound
from tests.helpers import make_dispatcher, say


def _fail_claims(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    real = events.claim
    calls: list[int] = []

    async def flaky(session, channel, event_id, **keys):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) <= times:
            raise OperationalError("INSERT INTO processed_events", {}, ConnectionResetError("connection lost"))
        return await real(session, channel, event_id, **keys)

    monkeypatch.setattr("handlers.dispatcher.events.claim", flaky)
    return calls


async def test_a_database_outage_is_not_acknowledged_and_the_redelivery_counts_once(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = make_dispatcher(services)
    _fail_claims(monkeypatch, times=1)
    with pytest.raises(ServiceUnavailable):
        await bot.dispatch(inbound("/start", user="o1", event_id="upd-1"))
    assert "Welcome" in await say(bot, inbound("/start", user="o1", event_id="upd-1"))  # the redelivery
    assert await bot.dispatch(inbound("/start", user="o1", event_id="upd-1")) == []  # and only once


async def test_a_bug_is_still_answered_not_redelivered_forever(services: Services) -> None:
    bot = make_dispatcher(services)

    async def broken(event, ctx, argument):  # type: ignore[no-untyped-def]
        raise KeyError("a bug")

    bot.router.commands["help"] = broken
    assert "something went wrong" in await say(bot, inbound("help", user="o2"))


async def test_the_web_chat_answers_503_in_the_visitors_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path / "data", http_port=0, _env_file=None)  # type: ignore[call-arg]
    app = app_module.create_app(settings)
    await app_module.start(app)
    try:
        _fail_claims(monkeypatch, times=1)
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar, headers={"Accept-Language": "bn-BD"}) as http:
            url = f"http://127.0.0.1:{app.port}/webchat/messages"
            async with http.post(url, json={"text": "হাই", "id": "msg-outage-1"}) as r:
                assert r.status == 503
                assert "আবার পাঠান" in (await r.json())["replies"][0]["text"]
            async with http.post(url, json={"text": "হাই", "id": "msg-outage-1"}) as r:  # sent again
                assert r.status == 200
                assert "স্বাগতম" in (await r.json())["replies"][0]["text"]
    finally:
        await app_module.stop(app)
