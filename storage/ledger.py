"""The credit ledger: append-only entries with a UNIQUE idempotency key, and a cached balance that a CHECK
keeps non-negative. Every change is one INSERT (which the key makes idempotent) plus one conditional
UPDATE in the caller's transaction; nothing reads a balance and then writes it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BindParameter, Integer, ScalarSelect, Select, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import CreditAccount, LedgerEntry, SignupGrant
from storage.sql import affected, insert_ignore
from storage.types import utcnow


class EntryKind(StrEnum):
    SIGNUP = "signup"
    GRANT = "grant"
    DEBIT = "debit"
    REFUND = "refund"
    REDEEM = "redeem"
    PURCHASE = "purchase"
    PURCHASE_REFUND = "purchase_refund"  # a bought pack refunded: what the balance still held is taken back
    NOT_RIGHT = "not_right"  # a delivered result the seller called "not right?": its credit given back
    DOUBTFUL = "doubtful"  # the render judged its own cutout doubtful (a hard photo): not charged
    LINK = "link"  # two accounts of one person joined: the newcomer's second sign-up gift handed back


class InsufficientCredits(Exception):
    def __init__(self, balance: int, needed: int) -> None:
        super().__init__(f"balance {balance} < {needed}")
        self.balance = balance
        self.needed = needed


@dataclass(frozen=True, slots=True)
class Drift:
    user_id: int
    balance: int
    ledger_sum: int


async def open_account(session: AsyncSession, user_id: int) -> None:
    await insert_ignore(session, CreditAccount, {"user_id": user_id, "balance": 0})


# Built once, on the tables (a statement naming no model skips the ORM's per-execution setup): the welcome (every
# first message) asks the first two, every credit and debit runs the others; building them on each call cost
# more than running them (bench/RESULTS.md, issue #17). An UPDATE's parameters may not be named as its columns.
_ACCOUNTS, _ENTRIES = CreditAccount.__table__, LedgerEntry.__table__  # type: ignore[attr-defined]
_BALANCE = select(_ACCOUNTS.c.balance).where(_ACCOUNTS.c.user_id == bindparam("user_id"))
_ANY_NOT_GIVEN = (
    select(_ENTRIES.c.id)
    .where(_ENTRIES.c.user_id == bindparam("user_id"), _ENTRIES.c.kind.in_((EntryKind.GRANT, EntryKind.PURCHASE)))
    .limit(1)
)
_ADD = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.user_id.in_(bindparam("owners", expanding=True)))
    .values(balance=_ACCOUNTS.c.balance + bindparam("amount", type_=Integer))
)
_TAKE = (  # see `_decrement`
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.user_id == bindparam("owner"), _ACCOUNTS.c.balance >= bindparam("amount", type_=Integer))
    .values(balance=_ACCOUNTS.c.balance - bindparam("amount", type_=Integer))
)


async def balance(session: AsyncSession, user_id: int) -> int:
    value = await session.scalar(_BALANCE, {"user_id": user_id})
    return int(value or 0)


async def all_given(session: AsyncSession, user_id: int) -> bool:
    """Whether every credit the user ever received was given (sign-up gift, giveaway code, refund), none
    bought or granted by support: what decides whether the bot may call the balance "free"."""
    return await session.scalar(_ANY_NOT_GIVEN, {"user_id": user_id}) is None


async def _record(session: AsyncSession, user_id: int, delta: int, kind: EntryKind, key: str, reference: str) -> bool:
    result = await insert_ignore(
        session,
        LedgerEntry,
        {
            "user_id": user_id,
            "delta": delta,
            "kind": kind.value,
            "reference": reference[:200],
            "idempotency_key": key,
            "created_at": utcnow(),
        },
    )
    return bool(affected(result))


async def credit(
    session: AsyncSession, user_id: int, amount: int, *, kind: EntryKind, key: str, reference: str = ""
) -> bool:
    """Add `amount` (> 0). False when `key` was applied before (nothing changes)."""
    if amount <= 0:
        raise ValueError("a credit must be positive")
    await open_account(session, user_id)
    if not await _record(session, user_id, amount, kind, key, reference):
        return False
    await session.execute(_ADD, {"owners": [user_id], "amount": amount})
    return True


async def debit(session: AsyncSession, user_id: int, amount: int, *, key: str, reference: str = "") -> bool:
    """Take `amount` (>= 0) or raise InsufficientCredits; the caller's transaction must then roll back.

    False when `key` was debited before (a redelivered event): nothing is charged twice.
    """
    if amount < 0:
        raise ValueError("a debit amount must not be negative")
    await open_account(session, user_id)
    if not await _record(session, user_id, -amount, EntryKind.DEBIT, key, reference):
        return False
    await _decrement(session, user_id, amount)
    return True


async def _decrement(session: AsyncSession, user_id: int, amount: int) -> None:
    """The one conditional UPDATE that lowers a balance: never below zero, never read-checked-written."""
    result = await session.execute(_TAKE, {"owner": user_id, "amount": amount})
    if not affected(result):
        raise InsufficientCredits(await balance(session, user_id), amount)


async def take_back(
    session: AsyncSession,
    user_id: int,
    amount: int,
    *,
    key: str,
    reference: str = "",
    kind: EntryKind = EntryKind.PURCHASE_REFUND,
) -> int | None:
    """Take up to `amount` back (a refunded purchase): what the balance holds, never below zero.

    Returns what was taken (0..amount), or None when `key` was applied before. The conditional UPDATE
    refuses if a debit ran between the read and the write; the caller's transaction then rolls back
    (InsufficientCredits) and may be tried again: the balance is never read-checked-written unguarded.
    """
    if amount <= 0:
        raise ValueError("an amount to take back must be positive")
    await open_account(session, user_id)
    take = min(amount, await balance(session, user_id))
    if not await _record(session, user_id, -take, kind, key, reference):
        return None
    await _decrement(session, user_id, take)
    return take


async def refund(
    session: AsyncSession,
    user_id: int,
    *,
    debit_key: str,
    key: str,
    reference: str = "",
    kind: EntryKind = EntryKind.REFUND,
) -> bool:
    """Give back what the debit `debit_key` took, at most once (`key`). False if nothing to refund.

    The credit goes to the account that holds the debit now: `user_id` is who the caller loaded (a render
    job's owner when it was claimed), and the account may have been joined into another since (a /link while
    the photo rendered, storage/links.py). An erased account's debit is refunded to nobody."""
    found = (
        await session.execute(
            select(col(LedgerEntry.delta), col(LedgerEntry.user_id)).where(
                col(LedgerEntry.idempotency_key) == debit_key
            )
        )
    ).first()
    if found is None or not found[0] or found[1] is None:
        return False
    owner = int(found[1])
    return await credit(session, owner, -int(found[0]), kind=kind, key=key, reference=reference)


async def move_balance(session: AsyncSession, source: int, target: int) -> None:
    """The cached balance follows entries that moved from `source` to `target` (a merge of two accounts):
    `source`'s account row goes, and its balance is added to `target`'s; no entry is written, since the
    entries themselves moved and the ledger's sum per account stays equal to the balance."""
    moved = await balance(session, source)
    await session.execute(delete(CreditAccount).where(col(CreditAccount.user_id) == source))
    await open_account(session, target)
    if moved:
        await session.execute(
            update(CreditAccount)
            .where(col(CreditAccount.user_id) == target)
            .values(balance=col(CreditAccount.balance) + moved)
        )


async def has_entry(session: AsyncSession, key: str) -> bool:
    """Whether the entry with this idempotency key was recorded (a refund already given, say)."""
    query = select(col(LedgerEntry.id)).where(col(LedgerEntry.idempotency_key) == key)
    return await session.scalar(query.limit(1)) is not None


async def lock_account(session: AsyncSession, user_id: int) -> None:
    """Hold the user's account row until the transaction ends (PostgreSQL; SQLite's write transactions are
    serialized already), so a count of the user's entries followed by a credit cannot interleave."""
    await open_account(session, user_id)
    await session.execute(
        select(col(CreditAccount.balance)).where(col(CreditAccount.user_id) == user_id).with_for_update()
    )


async def count_since(session: AsyncSession, user_id: int, kind: EntryKind, since: datetime) -> int:
    """How many entries of `kind` the user received since `since` (a daily allowance)."""
    query = select(func.count()).where(
        col(LedgerEntry.user_id) == user_id, col(LedgerEntry.kind) == kind.value, col(LedgerEntry.created_at) >= since
    )
    return int(await session.scalar(query) or 0)


async def grant_signup(session: AsyncSession, user_id: int, identity_hash: str, amount: int) -> bool:
    """Sign-up credits, once per identity ever: the keyed hash outlives an erased account."""
    await open_account(session, user_id)
    claimed = await insert_ignore(session, SignupGrant, {"identity_hash": identity_hash, "created_at": utcnow()})
    if not affected(claimed) or amount <= 0:
        return False
    return await credit(
        session, user_id, amount, kind=EntryKind.SIGNUP, key=f"signup:{identity_hash}", reference="welcome"
    )


async def remember_identities(session: AsyncSession, identity_hashes: list[str]) -> None:
    """Mark identities as known for good without a gift (an erased or unlinked one, an anonymous web visitor's):
    a later first message from them gets no sign-up gift, and an erased web visitor is told apart."""
    if identity_hashes:
        now = utcnow()
        rows = [{"identity_hash": h, "created_at": now} for h in dict.fromkeys(identity_hashes)]
        await insert_ignore(session, SignupGrant, rows)


async def signup_granted(session: AsyncSession, identity_hash: str) -> bool:
    """Whether this identity ever existed here (its grant row outlives /delete)."""
    return await session.get(SignupGrant, identity_hash) is not None


async def grant_signups(session: AsyncSession, grants: list[tuple[int, str]], amount: int) -> set[int]:
    """`grant_signup` for a batch of new users (user id, identity hash): the same rows and keys, in four
    statements for all of them. Returns the users credited."""
    if not grants:
        return set()
    await insert_ignore(session, CreditAccount, [{"user_id": u, "balance": 0} for u, _ in grants])
    now = utcnow()
    hashes = SignupGrant.__table__.c.identity_hash  # type: ignore[attr-defined]
    rows = [{"identity_hash": h, "created_at": now} for _, h in grants]
    claimed = set((await insert_ignore(session, SignupGrant, rows, returning=(hashes,))).scalars())
    winners = [(user_id, h) for user_id, h in grants if h in claimed]
    if amount <= 0 or not winners:
        return set()
    entries = [
        {
            "user_id": user_id,
            "delta": amount,
            "kind": EntryKind.SIGNUP.value,
            "reference": "welcome",
            "idempotency_key": f"signup:{h}",
            "created_at": now,
        }
        for user_id, h in winners
    ]
    keys = LedgerEntry.__table__.c.idempotency_key  # type: ignore[attr-defined]
    recorded = set((await insert_ignore(session, LedgerEntry, entries, returning=(keys,))).scalars())
    credited = {user_id for user_id, h in winners if f"signup:{h}" in recorded}
    if credited:
        await session.execute(_ADD, {"owners": sorted(credited), "amount": amount})
    return credited


async def recent(session: AsyncSession, user_id: int, limit: int = 5) -> list[LedgerEntry]:
    result = await session.execute(
        select(LedgerEntry).where(col(LedgerEntry.user_id) == user_id).order_by(col(LedgerEntry.id).desc()).limit(limit)
    )
    return list(result.scalars())


@dataclass(frozen=True, slots=True)
class Statement:
    """What /credits shows: the balance, the credits bought (less those refunded), the plan, the latest entries
    as (when, delta, kind)."""

    balance: int
    purchased: int
    plan: str | None
    plan_expires_at: datetime | None
    recent: list[tuple[datetime, int, str]]


def _purchased(user_id: int | BindParameter[int]) -> ScalarSelect[Any]:
    """Credits bought (less those taken back at refunds), as opposed to gifts and sign-up credits."""
    kinds = [EntryKind.PURCHASE.value, EntryKind.PURCHASE_REFUND.value]
    return (
        select(func.coalesce(func.sum(_ENTRIES.c.delta), 0))
        .where(_ENTRIES.c.user_id == user_id, _ENTRIES.c.kind.in_(kinds))
        .scalar_subquery()
    )


async def purchased_credits(session: AsyncSession, user_id: int) -> int:
    """See `_purchased`; /credits reads the same figure inside `statement`."""
    return int(await session.scalar(select(_purchased(user_id))) or 0)


def _statement_query() -> Select[tuple[Any, ...]]:
    """Built once, with bound parameters: /credits runs on every ask, and building this expression was most
    of its cost (bench/RESULTS.md, issue 17); SQLAlchemy's compiled-statement cache then serves every call."""
    user_id: BindParameter[int] = bindparam("user_id", type_=Integer)
    recent_ids = (
        select(_ENTRIES.c.id)
        .where(_ENTRIES.c.user_id == user_id)
        .order_by(_ENTRIES.c.id.desc())
        .limit(bindparam("recent", type_=Integer))
        .scalar_subquery()
    )
    return (
        select(
            _ACCOUNTS.c.balance,
            _purchased(user_id),
            _ACCOUNTS.c.plan,
            _ACCOUNTS.c.plan_expires_at,
            _ENTRIES.c.created_at,
            _ENTRIES.c.delta,
            _ENTRIES.c.kind,
        )
        .outerjoin(_ENTRIES, _ENTRIES.c.id.in_(recent_ids))
        .where(_ACCOUNTS.c.user_id == user_id)
        .order_by(_ENTRIES.c.id.desc())
    )


_STATEMENT = _statement_query()


async def statement(session: AsyncSession, user_id: int, limit: int = 5) -> Statement | None:
    """The account, its purchased credits and its latest entries in one statement of plain columns (no ORM
    objects). None when the user has no account."""
    rows = (await session.execute(_STATEMENT, {"user_id": user_id, "recent": limit})).all()
    if not rows:
        return None
    balance, purchased, plan, until = rows[0][0], rows[0][1], rows[0][2], rows[0][3]
    recent = [(when, int(delta), str(kind)) for _, _, _, _, when, delta, kind in rows if when is not None]
    return Statement(
        balance=int(balance), purchased=int(purchased or 0), plan=plan, plan_expires_at=until, recent=recent
    )


async def drift(session: AsyncSession) -> list[Drift]:
    """Accounts whose cached balance differs from the sum of their ledger entries (should be none)."""
    sums = (
        select(col(LedgerEntry.user_id), func.sum(col(LedgerEntry.delta)).label("total"))
        .where(col(LedgerEntry.user_id).is_not(None))
        .group_by(col(LedgerEntry.user_id))
        .subquery()
    )
    rows = await session.execute(
        select(col(CreditAccount.user_id), col(CreditAccount.balance), func.coalesce(sums.c.total, 0))
        .outerjoin(sums, sums.c.user_id == col(CreditAccount.user_id))
        .where(col(CreditAccount.balance) != func.coalesce(sums.c.total, 0))
    )
    return [Drift(int(u), int(b), int(s)) for u, b, s in rows]
