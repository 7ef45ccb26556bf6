"""Issue #14, item 1, black-box: a seller joins the web chat to Telegram with the deep link the page shows
(the real app over HTTP, and the Telegram emulator over long polling), then has one balance and one /delete."""

from __future__ import annotations

import re
from pathlib import Path

from handlers.privacy import CONFIRM, DELETE_PREFIX
from storage import users
from tests.bot.test_webchat_linking import post_message as _post
from tests.bot.webchat_harness import web_id
from tests.emulators.telegram_api import TelegramAPIEmulator
from tests.telegram.telegram_harness import running_app, telegram_settings

CHAT = 5550777


async def test_a_seller_joins_the_web_chat_to_telegram(tmp_path: Path, emulator: TelegramAPIEmulator) -> None:
    async with running_app(telegram_settings(tmp_path, emulator)) as app:
        base = f"http://127.0.0.1:{app.port}"
        await emulator.wait_for(lambda: app.services.config.telegram_bot_username == "NexorazTestBot")
        status, welcome, cookie = await _post(base, "hi")
        assert status == 200 and "0 credits" in welcome
        link = re.search(r"https://t\.me/NexorazTestBot\?start=(link-[A-Z0-9]{8})", welcome)
        assert link, welcome  # the deep link the seller taps on the phone
        visitor = web_id(app, cookie)

        emulator.push(emulator.message(CHAT, f"/start {link.group(1)}"))
        await emulator.wait_for(lambda: any("Joined" in t for t in emulator.texts(CHAT)))
        joined = emulator.texts(CHAT)[-1]
        assert "Telegram" in joined and "web chat" in joined and "balance: 3" in joined

        _, credits, _ = await _post(base, "credits", cookie)
        assert "3" in credits  # one balance: the web chat sees the gift that came with Telegram
        async with app.db.transaction() as session:
            account = await users.find(session, users.Identity("web", visitor))
            assert account is not None and (account.channel, account.external_id) == ("telegram", str(CHAT))

        # /delete from Telegram erases the account everywhere: the web chat's cookie reaches nothing now.
        emulator.push(emulator.message(CHAT, "/delete"))
        await emulator.wait_for(lambda: emulator.last_message(CHAT).get("reply_markup"))
        emulator.push(emulator.press(CHAT, f"{DELETE_PREFIX}:{CONFIRM}"))
        await emulator.wait_for(lambda: any("erased" in t for t in emulator.texts(CHAT)))
        status, again, new_cookie = await _post(base, "credits", cookie)
        assert new_cookie and web_id(app, new_cookie) != visitor  # a new visitor, starting from nothing
        assert "0" in again
        async with app.db.transaction() as session:
            assert await users.find(session, users.Identity("web", visitor)) is None
            assert await users.find(session, users.Identity("telegram", str(CHAT))) is None
