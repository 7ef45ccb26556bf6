"""`python -m bot giveaway create|list`: codes for Facebook-page giveaways, with one-tap deep links."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

from bot.errors import OperatorError
from bot.settings import Settings
from handlers import linking

DHAKA = timezone(timedelta(hours=6), "Asia/Dhaka")  # giveaways are announced on Bangladesh time
MAX_CREDITS = 1000
MAX_USES = 1_000_000


def register(sub: Any) -> None:
    parser = sub.add_parser("giveaway", help="giveaway codes: create, list")
    actions = parser.add_subparsers(dest="giveaway_command", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create a code and print it with deep links that redeem it in one tap",
        description="Create a giveaway code. The code is stored only as a keyed hash: note it now.",
    )
    create.add_argument("--credits", type=int, required=True, help=f"credits per redemption (1-{MAX_CREDITS})")
    create.add_argument("--max-uses", type=int, default=100, help="how many people may redeem it (default 100)")
    create.add_argument(
        "--expires", help="last day it works (YYYY-MM-DD, until 23:59 Bangladesh time) or an ISO date-time"
    )
    create.add_argument("--code", help="your own code (letters and digits, 4-32); random when omitted")
    create.set_defaults(func=create_giveaway)
    listing = actions.add_parser("list", help="list codes with their uses and expiry")
    listing.set_defaults(func=list_giveaways)


def parse_expiry(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=DHAKA).date()
            return datetime.combine(day, time(23, 59, 59), DHAKA).astimezone(UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise OperatorError(f"--expires {text!r}: use YYYY-MM-DD or an ISO date-time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=DHAKA)).astimezone(UTC)


PLATFORMS = {"telegram": "Telegram", "whatsapp": "WhatsApp", "messenger": "Messenger"}  # the operator's labels


def deep_links(settings: Settings, code: str) -> list[str]:
    found = linking.addresses(
        settings.telegram_bot_username,
        settings.whatsapp_display_number,
        settings.facebook_page_id,
        code,
        f"redeem {code}",
    )
    lines = [f"{(PLATFORMS[channel] + ':').ljust(10)} {url}" for channel, url in found]
    missing = [
        name
        for name, value in (
            ("TELEGRAM_BOT_USERNAME", settings.telegram_bot_username),
            ("WHATSAPP_DISPLAY_NUMBER", settings.whatsapp_display_number),
            ("FACEBOOK_PAGE_ID", settings.facebook_page_id),
        )
        if not value
    ]
    if missing:
        lines.append(f"(set {', '.join(missing)} to print the other links)")
    return lines


def create_giveaway(args: argparse.Namespace) -> int:
    from handlers import codes

    if not 1 <= args.credits <= MAX_CREDITS:
        raise OperatorError(f"--credits must be between 1 and {MAX_CREDITS}")
    if not 1 <= args.max_uses <= MAX_USES:
        raise OperatorError(f"--max-uses must be between 1 and {MAX_USES}")
    expires = parse_expiry(args.expires)
    if expires is not None and expires <= datetime.now(UTC):
        raise OperatorError("--expires is in the past")
    if args.code:
        code = codes.normalize(args.code)
        if code is None:
            raise OperatorError("--code must be 4 to 32 letters and digits (spaces and dashes are ignored)")
        shown = code
    else:
        shown = codes.generate()
        code = codes.normalize(shown) or ""
    settings = asyncio.run(_store(code, args.credits, args.max_uses, expires))
    if settings.telegram_enabled and not settings.telegram_bot_username:
        username = asyncio.run(telegram_username(settings))
        if username:
            settings = settings.model_copy(update={"telegram_bot_username": username})
    print(f"code: {shown}")  # noqa: T201
    print(f"credits: {args.credits} each, up to {args.max_uses} people")  # noqa: T201
    print(f"expires: {expires.astimezone(DHAKA).isoformat() if expires else 'never'}")  # noqa: T201
    for line in deep_links(settings, code):
        print(line)  # noqa: T201
    return 0


async def telegram_username(settings: Settings) -> str | None:
    """The bot's @username from getMe (DESIGN.md: read when TELEGRAM_BOT_USERNAME is unset); None, with a
    line on stderr, when Telegram cannot say."""
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    from bot.channels.telegram_errors import describe

    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    bot = Bot(settings.telegram_bot_token, session=session)
    try:
        me = await bot.get_me()
    except Exception as error:  # the code is stored already; only the t.me link is missing
        print(f"telegram getMe failed ({describe(error)}): no t.me link", file=sys.stderr)  # noqa: T201
        return None
    finally:
        await session.close()
    return me.username or None


async def _store(code: str, credits: int, max_uses: int, expires: datetime | None) -> Settings:
    from bot.cli.common import operator_database
    from handlers import codes
    from storage import giveaways

    async with operator_database() as (settings, db):
        key = settings.secret_key("identity")
        digest = codes.code_hash(code, key)
        async with db.transaction() as session:
            if await giveaways.exists(session, digest):
                raise OperatorError("that code exists already; choose another")
            await giveaways.create(
                session, code_hash=digest, hint=codes.hint(code), credits=credits, max_uses=max_uses, expires_at=expires
            )
    return settings


def list_giveaways(_args: argparse.Namespace) -> int:
    rows = asyncio.run(_list())
    if not rows:
        print("no giveaway codes yet")  # noqa: T201
        return 0
    print(f"{'id':>4}  {'code':<8} {'credits':>7} {'used':>11}  {'expires (Bangladesh time)':<25} status")  # noqa: T201
    now = datetime.now(UTC)
    for g in rows:
        expired = g.expires_at is not None and g.expires_at <= now
        status = "expired" if expired else "used up" if g.uses >= g.max_uses else "active"
        expires = g.expires_at.astimezone(DHAKA).strftime("%Y-%m-%d %H:%M") if g.expires_at else "never"
        print(f"{g.id:>4}  {g.code_hint:<8} {g.credits:>7} {g.uses:>5}/{g.max_uses:<5}  {expires:<25} {status}")  # noqa: T201
    return 0


async def _list() -> list[Any]:
    from bot.cli.common import operator_database
    from storage import giveaways

    async with operator_database() as (_settings, db), db.transaction() as session:
        return await giveaways.listing(session)
