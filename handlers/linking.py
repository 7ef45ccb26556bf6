"""One seller, one account across channels (issue #14): /link, /unlink, and what an anonymous visitor is told.

`/link` in one chat gives a short-lived one-time code and the deep links that carry it to the others
(`t.me/<bot>?start=link-<code>`, `wa.me/<number>?text=link <code>`, `m.me/<page>?ref=link-<code>`); the code
arriving in another chat joins the two accounts (storage/links.py). A web visitor is nobody a platform has
vouched for, so it gets no sign-up gift and cannot redeem codes until it is joined to a Telegram, WhatsApp
or Messenger account: the welcome gift then comes with that account, once per person.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from handlers import guesses
from handlers.config import Config
from handlers.context import Context
from handlers.model import Inbound, Reply, Text
from handlers.router import Router
from storage import ledger, links
from storage.models import User
from storage.users import Identity

log = logging.getLogger(__name__)
router = Router()

LINK_PREFIX = "link-"  # a /start or Messenger referral argument that carries a link code, not a giveaway code
FAILED_LINKS_KEY = "link-fail:"  # by the identity's keyed hash: outlives /delete, like failed giveaway guesses


def deep_links(config: Config, start_argument: str, typed: str) -> list[tuple[str, str]]:
    """(channel, address) for each platform this deployment runs and can be opened by a link; the address
    carries `start_argument` (Telegram's /start, Messenger's referral) or the text `typed` (WhatsApp)."""
    return addresses(
        config.telegram_bot_username, config.whatsapp_display_number, config.facebook_page_id, start_argument, typed
    )


def addresses(
    telegram_bot_username: str, whatsapp_display_number: str, facebook_page_id: str, start_argument: str, typed: str
) -> list[tuple[str, str]]:
    """The deep links themselves (also printed by `giveaway create`, from the settings)."""
    found = []
    if telegram_bot_username:
        found.append(("telegram", f"https://t.me/{telegram_bot_username.lstrip('@')}?start={start_argument}"))
    number = "".join(ch for ch in whatsapp_display_number if ch.isdigit())
    if number:
        found.append(("whatsapp", f"https://wa.me/{number}?text={quote(typed)}"))
    if facebook_page_id:
        found.append(("messenger", f"https://m.me/{facebook_page_id}?ref={start_argument}"))
    return found


def can_join(config: Config) -> bool:
    """Whether this deployment runs a chat a web visitor could join (else no offer is made)."""
    return bool(deep_links(config, "", ""))


async def is_verified(ctx: Context) -> bool:
    """Whether a platform vouches for this account: any of its identities is not the web chat's."""
    if ctx.user.channel != "web":
        return True
    return links.verified(await links.identities(ctx.session, ctx.user_id))


async def offer(ctx: Context) -> str:
    """For an anonymous web visitor: how to get the welcome gift (join a verified chat), with fresh links."""
    code = await links.issue_code(ctx.session, ctx.user_id, ctx.config.identity_key)
    return _instructions(ctx, code, intro="link-offer")


@router.command("link", aliases=("connect", "লিংক", "লিঙ্ক", "যুক্ত করুন", "jukto"), takes_argument=True)
async def link(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    if argument.strip():
        return await join(event, ctx, argument)
    code = await links.issue_code(ctx.session, ctx.user_id, ctx.config.identity_key)
    return [Text(text=_instructions(ctx, code, intro="link-code"))]


def _instructions(ctx: Context, code: str, *, intro: str) -> str:
    here = ctx.identity.channel
    found = [(c, url) for c, url in deep_links(ctx.config, LINK_PREFIX + code, f"link {code}") if c != here]
    lines = [ctx.t(intro, credits=ctx.config.signup_credits, minutes=int(links.CODE_TTL.total_seconds() // 60))]
    lines += [ctx.t("link-line", channel=ctx.t("link-channel", channel=c), url=url) for c, url in found]
    lines.append(ctx.t("link-type", code=code) if found else ctx.t("link-no-platform", code=code))
    return "\n".join(lines)


async def join(event: Inbound, ctx: Context, typed: str) -> list[Reply]:
    """A code from another chat: join its account and this one (shared with /start link-<code>)."""
    limits = guesses.limits(FAILED_LINKS_KEY, ctx, event)
    if await guesses.exceeded(ctx, limits):
        return [Text(text=ctx.t("link-too-many"))]
    issuer = await links.take_code(ctx.session, typed, ctx.config.identity_key)
    if issuer is None:
        await guesses.failed(ctx, limits)
        return [Text(text=ctx.t("link-wrong"))]
    if issuer == ctx.user_id:
        return [Text(text=ctx.t("link-same"))]
    keep, fold = issuer, ctx.user_id
    issuer_ids = await links.identities(ctx.session, issuer)
    if not links.verified(issuer_ids) and await is_verified(ctx):
        keep, fold = fold, keep  # the account a platform vouches for stays; the anonymous one joins it
    merged = await links.merge(
        ctx.session,
        keep,
        fold,
        fold_is_new=ctx.new_user and fold == ctx.user_id,
        policy_version=ctx.config.policy_version,
    )
    user = await ctx.session.get(User, keep)
    assert user is not None
    ctx.user, ctx.locale = user, user.locale  # from here on, the joined account's language
    joined = await links.identities(ctx.session, keep)
    log.info("accounts %d and %d joined (%d identities)", keep, fold, len(joined))
    channels = _names(ctx, joined)
    lines = [ctx.t("link-done", channels=channels, balance=merged.balance)]
    if merged.returned:
        lines.append(ctx.t("link-gift-once", credits=merged.returned))
    return [Text(text="\n".join(lines))]


@router.command("unlink", aliases=("disconnect", "আনলিংক", "আলাদা করুন"))
async def unlink(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    here = ctx.identity
    others = [i for i in await links.identities(ctx.session, ctx.user_id) if i != here]
    if not others:
        return [Text(text=ctx.t("unlink-alone"))]
    await ledger.remember_identities(ctx.session, [here.keyed_hash(ctx.config.identity_key)])
    await links.unlink(ctx.session, ctx.user_id, here)
    channels = _names(ctx, others)
    log.info("account %d: one identity unlinked (%d stay)", ctx.user_id, len(others))
    return [Text(text=ctx.t("unlink-done", channels=channels))]


def _names(ctx: Context, found: list[Identity]) -> str:
    """The chats, by name in the user's language, each once."""
    return ", ".join(dict.fromkeys(ctx.t("link-channel", channel=i.channel) for i in found))
