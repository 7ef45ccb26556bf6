"""A Bengali seller's journey through the whole bot (`bot.app`), long polling the Bot API emulator with the
real aiogram client, on a real SQLite database."""

from __future__ import annotations

from pathlib import Path

from handlers import codes
from handlers.i18n import catalog
from storage import giveaways, ledger, users
from storage.users import Identity
from tests.emulators.telegram_api import TelegramAPIEmulator
from tests.telegram.telegram_harness import running_app, telegram_settings

CHAT = 5550001


async def test_a_bengali_sellers_journey(tmp_path: Path, emulator: TelegramAPIEmulator) -> None:
    async with running_app(telegram_settings(tmp_path, emulator)) as app:
        # The menu and profile are installed in both languages, and the username is learned with getMe.
        await emulator.wait_for(lambda: len(emulator.calls_to("getUpdates")) >= 1)
        menus = {c.params.get("language_code"): c.params for c in emulator.calls_to("setMyCommands", ok=True)}
        assert set(menus) == {None, "bn"}
        assert [c["command"] for c in menus["bn"]["commands"]][:2] == ["start", "help"]
        assert {"credits", "redeem", "privacy", "delete"} <= {c["command"] for c in menus["bn"]["commands"]}
        assert menus["bn"]["commands"][1]["description"] == catalog("bn")("command-help")
        assert menus[None]["scope"] == {"type": "default"}
        assert len(emulator.calls_to("setMyDescription", ok=True)) == 2
        assert len(emulator.calls_to("setMyShortDescription", ok=True)) == 2
        assert app.services.config.telegram_bot_username == "NexorazTestBot"

        # /start: a Bengali welcome, with Bengali digits.
        emulator.push(emulator.message(CHAT, "/start", lang="bn"))
        await emulator.wait_for(lambda: emulator.texts(CHAT))
        welcome = emulator.texts(CHAT)[0]
        assert "স্বাগতম" in welcome and "৩টি ফ্রি ক্রেডিট" in welcome and "3" not in welcome
        start_call = emulator.calls_to("sendMessage")[0]
        assert start_call.params["parse_mode"] == "HTML" and start_call.params["chat_id"] == CHAT

        # /credits
        emulator.push(emulator.message(CHAT, "/credits", lang="bn"))
        await emulator.wait_for(lambda: len(emulator.texts(CHAT)) == 2)
        assert "৩" in emulator.texts(CHAT)[1]

        # A giveaway code typed with Bengali digits.
        async with app.db.transaction() as session:
            key = app.services.config.identity_key
            await giveaways.create(
                session, code_hash=codes.code_hash("EID7K3", key), hint="EID…", credits=5, max_uses=10, expires_at=None
            )
        emulator.push(emulator.message(CHAT, "/redeem EID৭K৩", lang="bn"))
        await emulator.wait_for(lambda: len(emulator.texts(CHAT)) == 3)
        assert "৫" in emulator.texts(CHAT)[2] and "৮" in emulator.texts(CHAT)[2]

        # /lang shows buttons; pressing one is answered (the spinner stops) and switches the language.
        emulator.push(emulator.message(CHAT, "/lang", lang="bn"))
        await emulator.wait_for(lambda: len(emulator.texts(CHAT)) == 4)
        markup = emulator.last_message(CHAT)["reply_markup"]["inline_keyboard"]
        payloads = [b["callback_data"] for row in markup for b in row]
        assert payloads == ["lang:en", "lang:bn"]
        emulator.push(emulator.press(CHAT, "lang:en", lang="bn"))
        await emulator.wait_for(lambda: len(emulator.texts(CHAT)) == 5)
        await emulator.wait_for(lambda: emulator.calls_to("answerCallbackQuery", ok=True))
        assert emulator.texts(CHAT)[4] == catalog("en")("lang-set")
        assert not emulator.pending_queries

        # Everything the bot sent was valid for the Bot API.
        assert [c for c in emulator.calls if c.status != 200] == []
        async with app.db.transaction() as session:
            user = await users.find(session, Identity("telegram", str(CHAT)))
            assert user is not None and user.display_name == "Rahim" and user.locale == "en"
            assert await ledger.balance(session, user.id or 0) == 8


async def test_a_deep_link_start_redeems_the_code(tmp_path: Path, emulator: TelegramAPIEmulator) -> None:
    async with running_app(telegram_settings(tmp_path, emulator, telegram_bot_username="NexorazBot")) as app:
        async with app.db.transaction() as session:
            key = app.services.config.identity_key
            await giveaways.create(
                session, code_hash=codes.code_hash("GIFT42", key), hint="GIF…", credits=2, max_uses=1, expires_at=None
            )
        emulator.push(emulator.message(CHAT, "/start GIFT42"))
        await emulator.wait_for(lambda: len(emulator.texts(CHAT)) == 2)
        assert "Welcome" in emulator.texts(CHAT)[0] and "Code accepted" in emulator.texts(CHAT)[1]
        assert emulator.calls_to("getMe") == []  # the username was configured
