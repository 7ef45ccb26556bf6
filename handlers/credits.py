"""Credits: /credits shows the balance and how to get more; /redeem turns a giveaway code into credits."""

from __future__ import annotations

from babel.dates import format_date

from handlers import buy, codes, contacts, guesses, linking
from handlers.context import Context
from handlers.i18n import to_bengali_digits
from handlers.model import Choice, Inbound, Reply, Text
from handlers.router import Router
from storage import giveaways, ledger, links

router = Router()

RECENT_ENTRIES = 5
FAILED_REDEEMS_KEY = "redeem-fail:"


@router.command("credits", aliases=("credit", "balance", "ক্রেডিট", "ব্যালেন্স", "ব্যালান্স", "হিসাব"))
async def show_credits(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    account = await ledger.statement(ctx.session, ctx.user_id, RECENT_ENTRIES)  # one read of plain columns
    balance = account.balance if account is not None else 0
    lines = [ctx.t("credits-balance", balance=balance, cost=ctx.config.render_cost)]
    purchased = min(balance, account.purchased) if account is not None else 0
    if purchased > 0:  # spent credits count against gifts first: bought ones are what a refund could concern
        lines.append(ctx.t("credits-purchased", purchased=purchased, gifts=balance - purchased))
    if account is not None and account.plan:
        until = account.plan_expires_at
        day = format_date(until.date(), "d MMM y", locale=ctx.locale) if until else "-"
        lines.append(
            ctx.t("credits-plan", plan=account.plan, until=to_bengali_digits(day) if ctx.locale == "bn" else day)
        )
    if account is not None and account.recent:
        lines.append(ctx.t("credits-recent"))
        for when, delta, kind in account.recent:
            day = format_date(when.date(), "d MMM", locale=ctx.locale)
            day = to_bengali_digits(day) if ctx.locale == "bn" else day
            lines.append(ctx.t("credits-entry", date=day, amount=abs(delta), kind=kind))
    lines.append(ctx.t("credits-get-more", more=contacts.block(ctx, "page-codes", "upgrade")))
    buttons = buy.pack_buttons(ctx, event.channel)
    text = "\n".join(lines)
    return [Choice(text=text, buttons=buttons) if buttons else Text(text=text)]


# Failed guesses are counted by the identity's keyed hash and deliberately NOT declared in `limiter_keys`:
# they outlive /delete (as the sign-up grant does), or erasing would reset the guess limit.
@router.command("redeem", aliases=("code", "রিডিম", "কোড"), takes_argument=True)
async def redeem(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    if not argument.strip():
        return [Text(text=ctx.t("redeem-how"))]
    return await redeem_code(event, ctx, argument)


async def redeem_code(event: Inbound, ctx: Context, typed: str) -> list[Reply]:
    """Shared by /redeem and the deep links (t.me ?start=, m.me ?ref=, wa.me prefilled text)."""
    if not await linking.is_verified(ctx):  # a new cookie is free: codes go to people a platform vouches for
        offer = await linking.offer(ctx) if linking.can_join(ctx.config) else ""
        return [Text(text="\n\n".join(filter(None, [ctx.t("redeem-verify-first"), offer])))]
    failure_keys = guesses.limits(FAILED_REDEEMS_KEY, ctx, event)
    if await guesses.exceeded(ctx, failure_keys):
        return [Text(text=ctx.t("redeem-too-many"))]
    code = codes.normalize(typed)
    if code is None:
        await guesses.failed(ctx, failure_keys)
        return [Text(text=ctx.t("redeem-malformed"))]
    secret = ctx.config.identity_key
    try:
        async with ctx.session.begin_nested():
            granted = await giveaways.redeem(
                ctx.session,
                code_hash=codes.code_hash(code, secret),
                user_id=ctx.user_id,
                identity_hash=ctx.identity_hash,
                # once per person: no identity of this account may have redeemed the code before
                also=[i.keyed_hash(secret) for i in await links.identities(ctx.session, ctx.user_id)],
            )
    except giveaways.CodeRejected:
        await guesses.failed(ctx, failure_keys)
        return [Text(text=ctx.t("redeem-rejected"))]
    balance = await ledger.balance(ctx.session, ctx.user_id)
    return [Text(text=ctx.t("redeem-ok", credits=granted, balance=balance))]
