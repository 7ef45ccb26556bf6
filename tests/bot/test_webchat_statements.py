"""What a web chat message asks of the database (issue #17), over HTTP as the page sends it: the account is looked
up once (the cookie check), and the turn is kept for the account its batch read, unless the message itself
changed who reaches which account (joining a chat, /delete)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from bot import app as app_module
from bot.settings import Settings
from handlers.model import Channel
from storage import links, users
from storage import webchat as entries
from storage.users import Identity
from tests.bot.webchat_harness import served_app, web_id
from tests.helpers import statements

ACCOUNT_LOOKUP = "SELECT users.id FROM users WHERE users.channel = ? AND users.external_id = ? UNION ALL"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[app_module.App, str]]:
    settings = Settings(data_dir=tmp_path / "data", http_port=0, _env_file=None)  # type: ignore[call-arg]
    async with served_app(settings) as served:
        yield served


async def _say(http: aiohttp.ClientSession, base: str, text: str, message_id: str) -> dict[str, object]:
    async with http.post(base + "/webchat/messages", json={"text": text, "id": message_id}) as r:
        assert r.status == 200
        body: dict[str, object] = await r.json()
        return body


async def test_a_known_visitors_message_looks_its_account_up_once(served: tuple[app_module.App, str]) -> None:
    app, base = served
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await _say(http, base, "hi", "turn-000001")
        with statements(app.db) as seen:
            answer = await _say(http, base, "/credits", "turn-000002")
        visitor = web_id(app, http.cookie_jar.filter_cookies(URL(base))["nxz_visitor"].value)
    lookups = [sql for sql, _ in seen if sql.startswith(ACCOUNT_LOOKUP)]
    assert len(lookups) == 1, lookups  # the cookie check's; keeping the turn used the batch's row
    async with app.db.read() as session:
        user_id = await users.find_id(session, Identity("web", visitor))
        assert user_id is not None
        kept = await entries.entry_for_client(session, user_id, "turn-000002")
    assert kept is not None and kept[0] == answer["entry"]


async def test_a_visitor_joining_its_telegram_keeps_the_turn_on_the_joined_account(
    tmp_path: Path,
) -> None:
    """The web visitor types the code its Telegram chat gave: its account folds into the Telegram one inside that
    very message's transaction, and the turn (the "Joined" answer) is kept where the page will read it next."""
    settings = Settings(data_dir=tmp_path / "data", http_port=0, _env_file=None)  # type: ignore[call-arg]
    async with served_app(settings) as (app, base):
        async with app.db.transaction() as session:
            chat = Identity(Channel.TELEGRAM.value, "7001")
            telegram = await users.arrive(session, chat, locale="en", display_name=None)
            assert telegram.user.id is not None
            code = await links.issue_code(session, telegram.user.id, app.services.config.identity_key)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await _say(http, base, "hi", "turn-000001")
            answer = await _say(http, base, f"link {code}", "turn-000002")
            visitor = web_id(app, http.cookie_jar.filter_cookies(URL(base))["nxz_visitor"].value)
        assert "Joined" in str(answer["replies"])
        async with app.db.read() as session:
            assert await users.find_id(session, Identity("web", visitor)) == telegram.user.id
            kept = await entries.entry_for_client(session, telegram.user.id, "turn-000002")
        assert kept is not None and kept[0] == answer["entry"]
