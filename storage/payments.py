"""Payments for credit packs: the row's state machine, and the grant that happens once per transaction.

A pack's credits are granted by the one conditional UPDATE that moves a payment from `pending` to `paid`,
in the same transaction as the ledger entry (keyed `purchase:<provider>:<transaction id>`). A redelivered
Telegram update, a replayed bKash callback, or two callbacks at once: the second UPDATE touches no row and
nothing is granted. The `(provider, transaction_id)` UNIQUE constraint catches one transaction id offered
for two payments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Integer, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import ledger
from storage.models import Payment
from storage.sql import affected
from storage.types import utcnow

_PACK = re.compile(r"^([a-z0-9_]{1,32}):(\d{1,6}):(\d{1,7}):(\d{1,6})$")


class Provider(StrEnum):
    STARS = "stars"
    BKASH = "bkash"


class State(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    REFUNDED = "refunded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    MISMATCH = "mismatch"  # the provider reported another amount than the pack's: nothing granted


CURRENCY = {Provider.STARS: "XTR", Provider.BKASH: "BDT"}


@dataclass(frozen=True, slots=True)
class Pack:
    """Credits on sale: a price in taka (bKash) and one in Telegram Stars."""

    id: str
    credits: int
    price_bdt: int
    price_stars: int

    def price(self, provider: Provider) -> int:
        return self.price_stars if provider is Provider.STARS else self.price_bdt


def parse_packs(text: str) -> tuple[Pack, ...]:
    """`id:credits:taka:stars` separated by commas, e.g. `starter:10:100:60,shop:50:450:270`."""
    packs: list[Pack] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        match = _PACK.match(item)
        if not match:
            raise ValueError(f"pack {item!r} is not id:credits:taka:stars (e.g. starter:10:100:60)")
        pack = Pack(match.group(1), int(match.group(2)), int(match.group(3)), int(match.group(4)))
        if min(pack.credits, pack.price_bdt, pack.price_stars) <= 0:
            raise ValueError(f"pack {pack.id!r}: credits and prices must be positive")
        if any(p.id == pack.id for p in packs):
            raise ValueError(f"pack {pack.id!r} is listed twice")
        packs.append(pack)
    return tuple(packs)


def find_pack(packs: tuple[Pack, ...], pack_id: str) -> Pack | None:
    return next((p for p in packs if p.id == pack_id), None)


@dataclass(frozen=True, slots=True)
class Granted:
    payment: Payment
    granted: bool  # False: this transaction was granted before (or the payment is no longer pending)


async def create(session: AsyncSession, *, user_id: int, channel: str, provider: Provider, pack: Pack) -> Payment:
    payment = Payment(
        user_id=user_id,
        channel=channel,
        provider=provider.value,
        pack=pack.id,
        credits=pack.credits,
        amount=pack.price(provider),
        currency=CURRENCY[provider],
    )
    session.add(payment)
    await session.flush()
    return payment


async def get(session: AsyncSession, payment_id: int) -> Payment | None:
    return await session.get(Payment, payment_id, populate_existing=True)


async def by_provider_payment(session: AsyncSession, provider: Provider, provider_payment_id: str) -> Payment | None:
    result = await session.execute(
        select(Payment).where(
            col(Payment.provider) == provider.value, col(Payment.provider_payment_id) == provider_payment_id
        )
    )
    return result.scalars().first()


async def set_provider_payment(session: AsyncSession, payment_id: int, provider_payment_id: str) -> None:
    await session.execute(
        update(Payment)
        .where(col(Payment.id) == payment_id, col(Payment.state) == State.PENDING.value)
        .values(provider_payment_id=provider_payment_id, updated_at=utcnow())
    )


async def settle(session: AsyncSession, payment: Payment, *, transaction_id: str, user_id: int) -> Granted:
    """Pending -> paid and the pack's credits to `user_id`, at most once. Amounts are checked by the caller."""
    assert payment.id is not None
    now = utcnow()
    try:
        async with session.begin_nested():
            moved = await session.execute(
                update(Payment)
                .where(col(Payment.id) == payment.id, col(Payment.state) == State.PENDING.value)
                .values(state=State.PAID.value, transaction_id=transaction_id, paid_at=now, updated_at=now)
            )
    except IntegrityError:  # that transaction id already paid for another payment: a replay
        return Granted(payment, False)
    if not affected(moved):
        return Granted(await _fresh(session, payment.id), False)
    await ledger.credit(
        session,
        user_id,
        payment.credits,
        kind=ledger.EntryKind.PURCHASE,
        key=f"purchase:{payment.provider}:{transaction_id}",
        reference=f"payment:{payment.id}",
    )
    return Granted(await _fresh(session, payment.id), True)


async def close(session: AsyncSession, payment_id: int, state: State) -> bool:
    """A pending payment ends without a grant (failed, cancelled, expired, mismatch)."""
    result = await session.execute(
        update(Payment)
        .where(col(Payment.id) == payment_id, col(Payment.state) == State.PENDING.value)
        .values(state=state.value, updated_at=utcnow())
    )
    return bool(affected(result))


async def record_refund(session: AsyncSession, payment: Payment, *, refund_id: str | None) -> Payment:
    """Paid -> refunded; the pack's credits that the balance still holds are taken back (never below zero)."""
    assert payment.id is not None
    now = utcnow()
    moved = await session.execute(
        update(Payment)
        .where(col(Payment.id) == payment.id, col(Payment.state) == State.PAID.value)
        .values(state=State.REFUNDED.value, refund_id=refund_id, refunded_at=now, updated_at=now)
    )
    if not affected(moved):
        return await _fresh(session, payment.id)
    taken = 0
    if payment.user_id is not None:  # an erased user's account is gone: nothing left to take back
        taken = (
            await ledger.take_back(
                session,
                payment.user_id,
                payment.credits,
                key=f"purchase-refund:{payment.provider}:{payment.transaction_id}",
                reference=f"payment:{payment.id}",
            )
            or 0
        )
    await session.execute(
        update(Payment)
        .where(col(Payment.id) == payment.id)
        .values(credits_taken_back=taken, credits_unrecovered=payment.credits - taken)
    )
    return await _fresh(session, payment.id)


async def listing(
    session: AsyncSession, *, user_id: int | None = None, since: datetime | None = None, limit: int = 200
) -> list[Payment]:
    query = select(Payment).order_by(col(Payment.id).desc()).limit(limit)
    if user_id is not None:
        query = query.where(col(Payment.user_id) == user_id)
    if since is not None:
        query = query.where(col(Payment.created_at) >= since)
    return list((await session.execute(query)).scalars())


async def stale_pending(session: AsyncSession, provider: Provider, older_than: datetime) -> list[Payment]:
    result = await session.execute(
        select(Payment).where(
            col(Payment.provider) == provider.value,
            col(Payment.state) == State.PENDING.value,
            col(Payment.created_at) < older_than,
        )
    )
    return list(result.scalars())


@dataclass(frozen=True, slots=True)
class DayTotal:
    day: date
    provider: str
    currency: str
    paid: int
    refunded: int
    amount: int
    credits: int


async def daily_totals(session: AsyncSession, since: datetime) -> list[DayTotal]:
    """Per day of payment, per provider: paid (and later refunded) payments, their amount and credits."""
    postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    paid_at = col(Payment.paid_at)
    day = func.date(func.timezone("UTC", paid_at)) if postgres else func.date(paid_at)
    rows = await session.execute(
        select(
            day,
            col(Payment.provider),
            col(Payment.currency),
            func.count(),
            func.sum((col(Payment.state) == State.REFUNDED.value).cast(Integer)),
            func.sum(col(Payment.amount)),
            func.sum(col(Payment.credits)),
        )
        .where(col(Payment.paid_at).is_not(None), col(Payment.paid_at) >= since)
        .group_by(day, col(Payment.provider), col(Payment.currency))
        .order_by(day)
    )
    return [
        DayTotal(_as_date(d), str(p), str(c), int(n), int(r or 0), int(a or 0), int(k or 0))
        for d, p, c, n, r, a, k in rows
    ]


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def _fresh(session: AsyncSession, payment_id: int) -> Payment:
    payment = await session.get(Payment, payment_id, populate_existing=True)
    assert payment is not None
    return payment
