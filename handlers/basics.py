"""First contact and finding one's way: /start, /help, /lang, /support, and text the bot does not understand."""

from __future__ import annotations

import re

from handlers import commands, credits
from handlers.context import Context
from handlers.i18n import SUPPORTED
from handlers.model import Button, Choice, Inbound, Reply, Text
from handlers.router import Router, button_payload
from storage import ledger, users

router = Router()

_DIRECT_LANGUAGE = {"bangla": "bn", "বাংলা": "bn", "english": "en", "ইংরেজি": "en"}


@router.command("start")
async def start(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    replies: list[Reply] = [Text(text=welcome(ctx, await ledger.balance(ctx.session, ctx.user_id)))]
    if argument:  # a deep link: t.me/<bot>?start=<code>, or a Messenger referral
        replies.extend(await credits.redeem_code(event, ctx, argument))
    return replies


def welcome(ctx: Context, balance: int) -> str:
    """Credits are called "free" only when they are the welcome gift (a bought or granted balance is not)."""
    return ctx.t(
        "welcome",
        credits=balance,
        source="gift" if ctx.new_user and balance > 0 else "balance",
        page=ctx.config.facebook_page_url,
        video=ctx.config.tutorial_video_url,
    )


@router.command("help")
async def help_(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    return [Text(text=ctx.t("help", cost=ctx.config.render_cost))]


@router.command("support")
async def support(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    return [
        Text(
            text=ctx.t(
                "support",
                whatsapp=ctx.config.support_whatsapp,
                page=ctx.config.facebook_page_url,
                email=ctx.config.support_email,
            )
        )
    ]


@router.command("lang")
async def lang(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    direct = _DIRECT_LANGUAGE.get(commands.normalize(event.text))
    if direct:
        return await _set_language(ctx, direct)
    return [
        Choice(
            text=ctx.t("lang-choose"),
            buttons=(
                Button(label="English", payload=button_payload("lang", "en")),
                Button(label="বাংলা", payload=button_payload("lang", "bn")),
            ),
        )
    ]


@router.button("lang")
async def lang_chosen(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    if argument not in SUPPORTED:
        return [Text(text=ctx.t("button-stale"))]
    return await _set_language(ctx, argument)


async def _set_language(ctx: Context, lang: str) -> list[Reply]:
    await users.set_locale(ctx.session, ctx.user_id, lang)
    ctx.user.locale, ctx.user.locale_chosen, ctx.locale = lang, True, lang
    return [Text(text=ctx.t("lang-set"))]


async def fallback(event: Inbound, ctx: Context, reason: str) -> list[Reply]:
    """Anything the router has no handler for: a useful next step, never silence."""
    key = {
        "unsupported": "fallback-unsupported",
        "too-long": "fallback-too-long",
        "unknown-command": "fallback-unknown-command",
        "stale-button": "button-stale",
        "empty": "fallback-text",
    }.get(reason, "fallback-text")
    if ctx.new_user and reason in ("text", "empty"):
        return [Text(text=welcome(ctx, await ledger.balance(ctx.session, ctx.user_id)))]
    if reason == "text" and asks_the_price(event.text):
        config = ctx.config
        return [
            Text(
                text=ctx.t(
                    "price-answer", cost=config.render_cost, page=config.facebook_page_url, upgrade=config.upgrade_url
                )
            )
        ]
    return [Text(text=ctx.t(key))]


_PRICE_WORDS = re.compile(
    r"\b(price|prices|pricing|cost|costs|how much|plans?|packs?|packages?|rate)\b|দাম|মূল্য|কত টাকা|খরচ|প্যাকেজ|রেট",
    re.IGNORECASE,
)


def asks_the_price(text: str) -> bool:
    """ "দাম কত?", "how much?", "price pls": answered with the plans rather than "not understood"."""
    return bool(_PRICE_WORDS.search(text))
