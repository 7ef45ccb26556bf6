"""First contact and finding one's way: /start, /help, /lang, /support, and text the bot does not understand."""

from __future__ import annotations

import re

from handlers import commands, contacts, credits, linking
from handlers.context import Context
from handlers.i18n import SUPPORTED
from handlers.model import Button, Choice, Inbound, Reply, Text
from handlers.router import Router, button_payload
from storage import ledger, users

router = Router()

_DIRECT_LANGUAGE = {"bangla": "bn", "বাংলা": "bn", "english": "en", "ইংরেজি": "en"}


@router.command(
    "start",
    aliases=("শুরু", "shuru", "suru", "hi", "hello", "হাই", "হ্যালো", "salam", "সালাম"),
    takes_argument=True,
)
async def start(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    if argument.lower().startswith(linking.LINK_PREFIX):  # t.me/<bot>?start=link-<code>, m.me ?ref=link-<code>
        joined = await linking.join(event, ctx, argument[len(linking.LINK_PREFIX) :])
        return [Text(text=await welcome(ctx, await ledger.balance(ctx.session, ctx.user_id), offer=False)), *joined]
    replies: list[Reply] = [Text(text=await welcome(ctx, await ledger.balance(ctx.session, ctx.user_id)))]
    if argument:  # a deep link: t.me/<bot>?start=<code>, or a Messenger referral
        replies.extend(await credits.redeem_code(event, ctx, argument))
    return replies


async def welcome(ctx: Context, balance: int, *, offer: bool = True) -> str:
    """Credits are called "free" only while every one was given (a bought or support-granted balance is not).
    An anonymous web visitor is told how to get the welcome gift (`offer`: unless joining is under way)."""
    source = "gift" if balance > 0 and await ledger.all_given(ctx.session, ctx.user_id) else "balance"
    text = ctx.t("welcome", credits=balance, source=source, more=contacts.block(ctx, "page-codes", "video"))
    if offer and linking.can_join(ctx.config) and not await linking.is_verified(ctx):
        text += "\n\n" + await linking.offer(ctx)
    return text


@router.command("help", aliases=("menu", "সাহায্য", "হেল্প", "মেনু", "sahajjo", "shahajjo", "sahajjo chai"))
async def help_(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    return [Text(text=help_text(ctx))]


def help_text(ctx: Context) -> str:
    """Derived from the declared commands: one line per menu command, in the user's language."""
    lines = [ctx.t("help-intro", cost=ctx.config.render_cost)]
    table = ctx.services.commands
    for spec in table.menu if table is not None else ():
        usage = f"/{spec.name}"
        if ctx.has(f"command-{spec.name}-argument"):
            usage += " " + ctx.t(f"command-{spec.name}-argument")
        lines.append(ctx.t("help-line", usage=usage, description=ctx.t(f"command-{spec.name}")))
    return "\n".join([*lines, "", ctx.t("help-outro")])


@router.command("support", aliases=("contact", "সাপোর্ট", "যোগাযোগ", "jogajog", "সহায়তা"))
async def support(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    found = contacts.block(ctx, "whatsapp", "page", "email")
    return [Text(text=ctx.t("support", contacts=found) if found else ctx.t("support-none"))]


@router.command("lang", aliases=("language", "ভাষা", "bhasha", "vasha", "bangla", "বাংলা", "english", "ইংরেজি"))
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
        return [Text(text=await welcome(ctx, await ledger.balance(ctx.session, ctx.user_id)))]
    if reason == "text" and asks_the_price(event.text):
        more = contacts.block(ctx, "page-codes", "upgrade")
        return [Text(text=ctx.t("price-answer", cost=ctx.config.render_cost, more=more))]
    return [Text(text=ctx.t(key))]


_PRICE_WORDS = re.compile(
    r"\b(price|prices|pricing|cost|costs|how much|plans?|packs?|packages?|rate)\b|দাম|মূল্য|কত টাকা|খরচ|প্যাকেজ|রেট",
    re.IGNORECASE,
)


def asks_the_price(text: str) -> bool:
    """ "দাম কত?", "how much?", "price pls": answered with the plans rather than "not understood"."""
    return bool(_PRICE_WORDS.search(text))
