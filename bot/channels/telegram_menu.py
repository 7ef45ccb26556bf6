"""The bot's profile on Telegram: the command menu and descriptions, in English (the default) and Bengali."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.types import BotCommand, BotCommandScopeDefault

from bot.channels.telegram_errors import describe
from handlers.commands import CommandTable
from handlers.i18n import catalog

log = logging.getLogger(__name__)

MENU_LANGUAGES = ("en", "bn")  # "en" is installed as the default, for every language without its own menu
MAX_DESCRIPTION = 512
MAX_SHORT_DESCRIPTION = 120


def commands(table: CommandTable, lang: str) -> list[BotCommand]:
    """The menu commands as declared (`handlers.commands`), described in `lang`."""
    t = catalog(lang)
    return [BotCommand(command=spec.name, description=t(f"command-{spec.name}")[:256]) for spec in table.menu]


async def install(bot: Bot, table: CommandTable) -> None:
    """Best effort: a failure here is logged, and the bot still answers without a menu."""
    for lang in MENU_LANGUAGES:
        t = catalog(lang)
        language_code = None if lang == "en" else lang
        try:
            await bot.set_my_commands(
                commands(table, lang), scope=BotCommandScopeDefault(), language_code=language_code
            )
            await bot.set_my_description(t("tg-description")[:MAX_DESCRIPTION], language_code=language_code)
            await bot.set_my_short_description(
                t("tg-short-description")[:MAX_SHORT_DESCRIPTION], language_code=language_code
            )
        except Exception as error:  # any answer at all (an HTML page, a 401): the bot goes on without a menu
            log.warning("telegram menu for %s not installed (setMyCommands): %s", lang, describe(error))
