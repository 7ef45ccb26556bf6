"""Giveaway codes, stored as keyed hashes. A redemption is one transaction: a conditional UPDATE of the use
count, a UNIQUE redemption row per identity, and a ledger credit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select, update
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


async def redeem(
    session: AsyncSession, *, code_hash: str, user_id: int, identity_hash: str, also: Sequence[str] = ()
) -> int:
    """Credits granted; raises CodeRejected (the caller's transaction must roll back). `also`: the keyed
    hashes of the account's other identities (a person with linked chats redeems a code once)."""
    now = utcnow()
    row = (
        await session.execute(
            update(Giveaway)
            .where(
                col(Giveaway.code_hash) == code_hash,
                col(Giveaway.uses) < col(Giveaway.max_uses),
                or_(col(Giveaway.expires_at).is_(None), col(Giveaway.expires_at) > now),
            )
            .values(uses=col(Giveaway.uses) + 1)
            .returning(col(Giveaway.id), col(Giveaway.credits))
        )
    ).first()
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
