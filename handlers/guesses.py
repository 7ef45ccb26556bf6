"""Wrong guesses at secret codes (giveaway codes, link codes), counted so guessing does not pay."""

from __future__ import annotations

from handlers.context import Context
from handlers.model import Inbound

PER_IDENTITY_HOUR = 5
PER_NETWORK_HOUR = 20  # the web chat's visitors behind one address: more, since a mobile carrier's is shared


def limits(prefix: str, ctx: Context, event: Inbound) -> list[tuple[str, int]]:
    """(limiter key, wrong guesses allowed an hour): per identity, by its keyed hash, so the count outlives
    /delete; and for the web chat per network too, so new cookies do not buy new guesses."""
    keys = [(f"{prefix}{ctx.identity_hash}", PER_IDENTITY_HOUR)]
    if event.origin:
        keys.append((f"{prefix}net:{event.origin}", PER_NETWORK_HOUR))
    return keys


async def exceeded(ctx: Context, keys: list[tuple[str, int]]) -> bool:
    for key, limit in keys:
        if await ctx.services.limiter.exceeded(key, limit=limit, window_s=3600):
            return True
    return False


async def failed(ctx: Context, keys: list[tuple[str, int]]) -> None:
    for key, limit in keys:
        await ctx.services.limiter.hit(key, limit=limit, window_s=3600)
