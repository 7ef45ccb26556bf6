"""Issue #14 (items 5 and 8): the web chat's cookie is a server-issued secret that is never kept, a cookie the
server did not issue reaches nothing, /delete rotates it, and another site's page cannot act for a visitor.

Black-box over HTTP against the real app; the database, the files under DATA_DIR, the logs and the /mydata
archive are then searched for the raw secret."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot import app as app_module
from bot.channels.webchat import COOKIE, WebChat
from bot.channels.webchat_identity import ISSUE_GRACE_SECONDS
from bot.settings import Settings
from storage import ledger, users
from storage.ledger import EntryKind
from storage.models import User
from storage.users import Identity
from tests.bot.webchat_harness import web_id

ROOT = Path(__file__).resolve().parents[2]


async def _start(tmp_path: Path, **settings: Any) -> app_module.App:
    app = app_module.create_app(Settings(data_dir=tmp_path / "data", http_port=0, _env_file=None, **settings))  # type: ignore[call-arg]
    await app_module.start(app)
    return app


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[app_module.App]:
    app = await _start(tmp_path)
    try:
        yield app
    finally:
        await app_module.stop(app)


def _base(app: app_module.App) -> str:
    return f"http://127.0.0.1:{app.port}"


def _chat(app: app_module.App) -> WebChat:
    chat = app.channel("web")
    assert isinstance(chat, WebChat)
    return chat


async def _user_count(app: app_module.App) -> int:
    async with app.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def _say(http: aiohttp.ClientSession, base: str, text: str, **headers: str) -> tuple[int, dict[str, Any], str]:
    """(status, body, the cookie the answer set or "")."""
    async with http.post(base + "/webchat/messages", json={"text": text}, headers=headers) as r:
        cookie = r.cookies[COOKIE].value if COOKIE in r.cookies else ""
        return r.status, await r.json(), cookie


async def test_a_client_that_keeps_its_cookie_is_one_visitor_one_that_drops_it_is_new_each_time(
    served: app_module.App,
) -> None:
    base = _base(served)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as keeper:
        _, _, cookie = await _say(keeper, base, "hi")
        for text in ("help", "price", "balance"):
            status, _, again = await _say(keeper, base, text)
            assert status == 200 and again == ""  # the issued cookie is kept: no new one
        async with keeper.get(base + "/webchat/history") as r:
            assert len((await r.json())["entries"]) == 4
    assert await _user_count(served) == 1
    async with served.db.transaction() as session:
        assert await users.find(session, Identity("web", web_id(served, cookie))) is not None
    issued = set()
    for _ in range(3):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as dropper:
            _, body, cookie = await _say(dropper, base, "hi")
            assert cookie and "Welcome to Nexoraz" in body["replies"][0]["text"]
            issued.add(cookie)
    assert len(issued) == 3  # every cookieless request is a new visitor, with a new server-issued secret


async def test_a_cookie_the_server_never_issued_reaches_nothing(served: app_module.App) -> None:
    base = _base(served)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as owner:
        _, _, real = await _say(owner, base, "hi")
        await _say(owner, base, "help")
    secret, issued, tag = real.split(".")
    forged = [
        f"{secret}.{issued}.{'A' * 22}",  # the right secret, a made-up tag
        f"{'B' * 32}.{issued}.{tag}",  # someone else's tag on a guessed secret
        f"{secret}.{int(issued, 16) + 1:x}.{tag}",  # a tag does not carry over to another issue time
        "x" * 22,  # the old format: any well-formed token used to be accepted
        secret,
    ]
    for cookie in forged:
        async with aiohttp.ClientSession(cookies={COOKIE: cookie}) as forger:
            status, body, fresh = await _say(forger, base, "hi")
            assert status == 200 and fresh and fresh != cookie
            assert "Welcome to Nexoraz" in body["replies"][0]["text"]
            async with forger.get(base + "/webchat/history", headers={"Cookie": f"{COOKIE}={cookie}"}) as r:
                assert (await r.json())["entries"] == []  # the owner's conversation is not reached
    assert await _user_count(served) == 1 + len(forged)


async def test_an_issued_cookie_without_an_account_is_replaced_after_its_grace(served: app_module.App) -> None:
    chat = _chat(served)
    stale = chat.identity.issue(at=time.time() - ISSUE_GRACE_SECONDS - 5).cookie
    recent = chat.identity.issue().cookie
    async with aiohttp.ClientSession(cookies={COOKIE: stale or ""}) as http:
        _, _, replaced = await _say(http, _base(served), "hi")
    assert replaced and replaced != stale
    async with aiohttp.ClientSession(cookies={COOKIE: recent or ""}) as http:
        _, _, kept = await _say(http, _base(served), "hi")
    assert kept == ""  # a page opened a minute ago keeps its cookie for its first message


async def test_delete_rotates_the_secret_and_the_old_cookie_reaches_nothing(served: app_module.App) -> None:
    base = _base(served)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        _, _, old = await _say(http, base, "hi")
        async with http.post(base + "/webchat/messages", json={"text": "/delete", "id": "delete-0001"}) as r:
            buttons = [b["payload"] for b in (await r.json())["replies"][0]["buttons"]]
        async with http.post(base + "/webchat/messages", json={"payload": buttons[0], "id": "delete-0002"}) as r:
            assert r.status == 200 and "erased" in str(await r.json())
            new = r.cookies[COOKIE].value
        assert new != old
    assert await _user_count(served) == 0
    async with aiohttp.ClientSession(cookies={COOKIE: old}) as replay:
        async with replay.get(base + "/webchat/history") as r:
            assert (await r.json())["entries"] == []
        _, _, fresh = await _say(replay, base, "balance")
        assert fresh and fresh not in (old, new)  # the erased seller's cookie is replaced, not revived
    async with served.db.transaction() as session:
        assert await users.find(session, Identity("web", web_id(served, old))) is None
        assert await users.find(session, Identity("web", web_id(served, fresh))) is not None


async def test_the_raw_secret_is_nowhere_kept_logged_or_exported(
    served: app_module.App,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    base = _base(served)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        _, _, cookie = await _say(http, base, "hi")
        for text in ("help", "/mydata"):
            status, body, _ = await _say(http, base, text)
            assert status == 200
        [archive] = [r for r in body["replies"] if r["type"] == "document"]
        async with http.get(base + archive["url"]) as r:
            exported = await r.read()
    secret = cookie.split(".")[0]
    external_id = web_id(served, cookie)
    with zipfile.ZipFile(io.BytesIO(exported)) as opened:
        contents = b"".join(opened.read(name) for name in opened.namelist())
    assert external_id.encode() in contents  # the export names the visitor by its keyed hash ...
    assert secret.encode() not in contents  # ... never by the secret that opens the account
    kept = b"".join(p.read_bytes() for p in served.settings.data_dir.rglob("*") if p.is_file())
    assert external_id.encode() in kept  # the scan does see the database (SQLite in DATA_DIR)
    assert secret.encode() not in kept
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert caplog.records and secret not in logged
    # The operator's `user show` on the same database, as its own process (an event loop of its own in a
    # thread of this one left aiosqlite's worker thread calling into a closed loop).
    env = {**os.environ, "DATA_DIR": str(served.settings.data_dir), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "user", "show", f"web:{external_id}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    shown = done.stdout
    assert external_id in shown and secret not in shown


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page"}, {"Origin": "null"}],
)
async def test_a_post_from_another_site_is_refused_and_changes_nothing(
    served: app_module.App, headers: dict[str, str]
) -> None:
    base = _base(served)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        _, _, cookie = await _say(http, base, "hi")
        status, body, fresh = await _say(http, base, "/delete", **headers)
        assert status == 403 and fresh == ""
        assert "did not come from" in body["replies"][0]["text"]
        form = aiohttp.FormData()
        form.add_field("photo", b"\xff\xd8\xff", filename="p.jpg", content_type="image/jpeg")
        async with http.post(base + "/webchat/photos", data=form, headers=headers) as r:
            assert r.status == 403
        async with http.get(base + "/webchat/history") as r:
            assert len((await r.json())["entries"]) == 1  # only the first "hi": nothing else was handled
    own = {"Origin": base, "Accept-Language": "bn-BD"}
    async with aiohttp.ClientSession(cookies={COOKIE: cookie}) as page:
        status, _, _ = await _say(page, base, "help", **own)
        assert status == 200  # the page's own origin passes
    async with aiohttp.ClientSession() as stranger:
        status, body, _ = await _say(stranger, base, "hi", **{**headers, "Accept-Language": "bn-BD"})
        assert status == 403 and "Nexoraz" in body["replies"][0]["text"] and "did not" not in str(body)
    assert await _user_count(served) == 1


async def test_cookie_is_secure_behind_a_trusted_proxy_only(tmp_path: Path) -> None:
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "chat.example.com"}
    for trusted in (False, True):
        app = await _start(tmp_path / str(trusted), trusted_proxy=trusted)
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(_base(app) + "/", headers=proxied) as r:
                    assert r.cookies[COOKIE]["secure"] == (True if trusted else "")
                    assert r.cookies[COOKIE]["httponly"] is True
                status, _, _ = await _say(http, _base(app), "hi", Origin="https://chat.example.com", **proxied)
                assert status == (200 if trusted else 403)  # the proxy's host is ours only when trusted
        finally:
            await app_module.stop(app)
    app = await _start(tmp_path / "public", public_base_url="https://bot.example.com")
    try:
        async with aiohttp.ClientSession() as http, http.get(_base(app) + "/") as r:
            assert r.cookies[COOKIE]["secure"] is True
    finally:
        await app_module.stop(app)


async def test_a_cookie_from_before_keeps_its_account_under_a_new_secret_once(served: app_module.App) -> None:
    """Deployed visitors hold raw tokens that were stored as their external id: on their next visit the account
    moves to a new secret's hash (same user, same credits), and the raw token then reaches nothing."""
    raw = "legacyTokenFromBefore14x"
    async with served.db.transaction() as session:
        user, _ = await users.get_or_create(session, Identity("web", raw), locale="en", display_name=None)
        assert user.id is not None
        await ledger.credit(session, user.id, 7, kind=EntryKind.GRANT, key="test:legacy")
    async with aiohttp.ClientSession(cookies={COOKIE: raw}) as http:
        async with http.get(_base(served) + "/webchat/history") as r:  # an answer that sets no cookie moves nothing
            assert r.status == 200 and COOKIE not in r.cookies
        status, body, cookie = await _say(http, _base(served), "balance")
    assert status == 200 and cookie and "You have 7 credits" in str(body["replies"])
    async with served.db.transaction() as session:
        assert await users.find(session, Identity("web", raw)) is None
        moved = await users.find(session, Identity("web", web_id(served, cookie)))
        assert moved is not None and moved.id == user.id
    async with aiohttp.ClientSession(cookies={COOKIE: raw}) as again:
        _, _, other = await _say(again, _base(served), "hi")
    assert other and other != cookie
    assert await _user_count(served) == 2  # the replayed raw token was a stranger
