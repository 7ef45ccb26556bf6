"""Issue #14, item 1, black-box: the real app over HTTP (web chat) and the Telegram emulator (long polling).

An abuser's client that drops its cookie gets no credits and no code guesses (the seller's side, joining the
web chat to Telegram, is in tests/telegram/test_telegram_linking.py)."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from bot.settings import Settings
from handlers import codes
from storage import giveaways, ledger
from storage.models import User
from tests.bot.webchat_harness import served_app
from tests.emulators.telegram_api import TOKEN

CHAT = 5550777


async def post_message(base: str, text: str, cookie: str = "", **headers: str) -> tuple[int, str, str]:
    """(status, the answer's text, the visitor's cookie afterwards) of one message, as a page would send it;
    `cookie`: the one the browser holds (none: a client that dropped it)."""
    if cookie:
        headers["Cookie"] = f"nxz_visitor={cookie}"
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), headers=headers) as http,
        http.post(base + "/webchat/messages", json={"text": text}) as r,
    ):
        body = await r.json()
        issued = r.cookies["nxz_visitor"].value if "nxz_visitor" in r.cookies else cookie
        return r.status, "\n".join(x.get("text", "") for x in body.get("replies", [])), issued


async def test_a_client_that_drops_its_cookie_gets_nothing(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        http_port=0,
        web_new_visitors_per_hour=12,
        web_visitor_credits=0,  # as wherever a platform channel runs (test_web_gift_defaults)
        _env_file=None,
    )
    async with served_app(settings) as (app, base):
        async with app.db.transaction() as session:
            key = app.services.config.identity_key
            await giveaways.create(
                session, code_hash=codes.code_hash("EID7K3", key), hint="EID", credits=5, max_uses=5, expires_at=None
            )
        answers = [await post_message(base, "hi") for _ in range(4)]
        assert all(status == 200 and "0 credits" in text for status, text, _ in answers)
        redeems = [await post_message(base, "redeem EID7K3") for _ in range(4)]
        guesses = [await post_message(base, f"redeem WRONG{n}") for n in range(4)]
        assert all("Giveaway codes are for people" in text for _, text, _ in redeems + guesses)
        # Twelve new visitors an hour from one network; a forged X-Forwarded-For changes nothing (no trusted proxy).
        status, text, _ = await post_message(base, "hi", **{"X-Forwarded-For": "203.0.113.9"})
        assert status == 429 and "Too many new visitors" in text
        async with aiohttp.ClientSession() as http, http.get(base + "/") as page:
            unused = page.cookies["nxz_visitor"].value  # a cookie is free: it is the account that counts
        status, text, _ = await post_message(base, "hi", unused)
        assert status == 429 and "Too many new visitors" in text
        async with app.db.transaction() as session:
            held = (await session.execute(User.__table__.select())).all()  # type: ignore[attr-defined]
            assert len(held) == 12
            assert sum([await ledger.balance(session, row.id) for row in held]) == 0
            (giveaway,) = await giveaways.listing(session)
            assert giveaway.uses == 0
            assert await ledger.drift(session) == []


def test_web_gift_defaults() -> None:
    """No gift for a cookie where a verified chat can be joined; the sign-up gift where the web chat is alone."""

    def gift(**values: object) -> int:
        return Settings(signup_credits=4, _env_file=None, **values).web_gift  # type: ignore[arg-type]

    assert gift() == 4
    assert gift(telegram_bot_token=TOKEN) == 0
    assert gift(messenger_page_access_token="t", messenger_app_secret="s", messenger_verify_token="v") == 0
    assert gift(telegram_bot_token=TOKEN, web_visitor_credits=2) == 2
