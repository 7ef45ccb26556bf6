"""Giveaway codes, stored as keyed hashes. A redemption is one transaction: a conditional UPDATE of the use
count, a UNIQUE redemption row per identity, and a ledger credit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import ledger
from storage.models import Giveaway, GiveawayRedemption
from storage.sql import affected, insert_ignore
from storage.types import utcnow


class CodeRejected(Exception):
    """Unknown, expired, used up, or already redeemed by this identity: one answer for all (no oracle)."""


async def create(
    session: AsyncSession, *, code_hash: str, hint: str, credits: int, max_uses: int, expires_at: datetime | None
) -> Giveaway:
    giveaway = Giveaway(code_hash=code_hash, code_hint=hint, credits=credits, max_uses=max_uses, expires_at=expires_at)
    session.add(giveaway)
    await session.flush()
    return giveaway


async def exists(session: AsyncSession, code_hash: str) -> bool:
    return await session.scalar(select(col(Giveaway.id)).where(col(Giveaway.code_hash) == code_hash)) is not None


# One use of a live code, taken (returning the giveaway and its credits): built once, on the table, since every
# /redeem runs it (built anew each time through the model, it cost more than running it; issue #17).
_GIVEAWAYS = Giveaway.__table__  # type: ignore[attr-defined]
_USE = (
    update(_GIVEAWAYS)
    .where(
        _GIVEAWAYS.c.code_hash == bindparam("hash"),
        _GIVEAWAYS.c.uses < _GIVEAWAYS.c.max_uses,
        or_(_GIVEAWAYS.c.expires_at.is_(None), _GIVEAWAYS.c.expires_at > bindparam("now")),
    )
    .values(uses=_GIVEAWAYS.c.uses + 1)
    .returning(_GIVEAWAYS.c.id, _GIVEAWAYS.c.credits)
)


async def redeem(
    session: AsyncSession, *, code_hash: str, user_id: int, identity_hash: str, also: Sequence[str] = ()
) -> int:
    """Credits granted; raises CodeRejected (the caller's transaction must roll back). `also`: the keyed
    hashes of the account's other identities (a person with linked chats redeems a code once)."""
    now = utcnow()
    row = (await session.execute(_USE, {"hash": code_hash, "now": now})).first()
    if row is None:
        raise CodeRejected
    giveaway_id, credits = int(row[0] or 0), int(row[1])
    if also:
        earlier = select(col(GiveawayRedemption.id)).where(
            col(GiveawayRedemption.giveaway_id) == giveaway_id, col(GiveawayRedemption.identity_hash).in_(list(also))
        )
        if await session.scalar(earlier.limit(1)) is not None:
            raise CodeRejected
    claimed = await insert_ignore(
        session, GiveawayRedemption, {"giveaway_id": giveaway_id, "identity_hash": identity_hash, "created_at": now}
    )
    if not affected(claimed):
        raise CodeRejected
    await ledger.credit(
        session,
        user_id,
        credits,
        kind=ledger.EntryKind.REDEEM,
        key=f"redeem:{giveaway_id}:{identity_hash}",
        reference=f"giveaway:{giveaway_id}",
    )
    return credits


async def listing(session: AsyncSession) -> list[Giveaway]:
    result = await session.execute(select(Giveaway).order_by(col(Giveaway.id)))
    return list(result.scalars())
