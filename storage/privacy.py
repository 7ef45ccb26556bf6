"""The privacy policy's storage side: erasure, training consent, and the training set it allows.

Erasure removes the user's row; the foreign keys' ON DELETE CASCADE take their jobs, files, consent
events and pending requests with it. Ledger entries are billing records and stay, de-identified: the
user reference becomes NULL, `subject` a random tombstone, and idempotency keys (some of which hold a
keyed hash of the identity) are rewritten. Blobs on disk are removed by the caller after the commit,
so a rolled-back erasure never loses files that rows still point to.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import String, cast, delete, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage import users
from storage.models import ConsentEvent, DeletionReceipt, DeletionRequest, LedgerEntry, StoredFile, User
from storage.sql import affected, insert_ignore
from storage.types import utcnow

TOMBSTONE_PREFIX = "erased:"
DELETION_REQUEST_TTL_S = 15 * 60


def tombstone() -> str:
    return TOMBSTONE_PREFIX + secrets.token_hex(8)


async def file_paths(session: AsyncSession, user_id: int) -> list[str]:
    result = await session.execute(select(col(StoredFile.path)).where(col(StoredFile.user_id) == user_id))
    return [str(p) for p in result.scalars()]


async def erase_user(session: AsyncSession, user_id: int) -> list[str]:
    """Delete the user and everything hanging off them; returns the blob paths to delete after commit."""
    paths = await file_paths(session, user_id)
    await session.flush()
    users.reach_changed(session)
    await session.execute(
        update(LedgerEntry)
        .where(col(LedgerEntry.user_id) == user_id)
        .values(
            user_id=None,
            subject=tombstone(),
            idempotency_key=literal(TOMBSTONE_PREFIX) + cast(col(LedgerEntry.id), String),
        )
    )
    await session.execute(delete(User).where(col(User.id) == user_id))
    # Loaded objects of the erased user must not be flushed back (the rows are gone).
    for stale in [o for o in session.identity_map.values() if _belongs_to(o, user_id)]:
        session.expunge(stale)
    return paths


def _belongs_to(obj: object, user_id: int) -> bool:
    owner = obj.id if isinstance(obj, User) else getattr(obj, "user_id", None)
    return owner == user_id


# Two-step /delete -----------------------------------------------------------------------------------


async def request_deletion(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(DeletionRequest).where(col(DeletionRequest.user_id) == user_id))
    await insert_ignore(session, DeletionRequest, {"user_id": user_id, "created_at": utcnow()})


async def take_deletion_request(session: AsyncSession, user_id: int) -> bool:
    """Remove the user's pending request; True if there was a fresh one (for confirming or cancelling)."""
    created = await session.scalar(
        select(col(DeletionRequest.created_at)).where(col(DeletionRequest.user_id) == user_id)
    )
    if created is None:
        return False
    await session.execute(delete(DeletionRequest).where(col(DeletionRequest.user_id) == user_id))
    return (utcnow() - created).total_seconds() <= DELETION_REQUEST_TTL_S


async def cancel_deletion_request(session: AsyncSession, user_id: int) -> bool:
    """True if a pending request was removed (one statement: this runs on every message)."""
    return bool(affected(await session.execute(delete(DeletionRequest).where(col(DeletionRequest.user_id) == user_id))))


# Meta's data-deletion receipts ------------------------------------------------------------------------


async def add_receipt(session: AsyncSession, *, erased: bool) -> str:
    code = secrets.token_hex(10)
    session.add(DeletionReceipt(code=code, erased=erased, created_at=utcnow()))
    await session.flush()
    return code


async def receipt(session: AsyncSession, code: str) -> DeletionReceipt | None:
    if not code.isalnum() or len(code) > 32:
        return None
    return await session.get(DeletionReceipt, code)


# Training consent ------------------------------------------------------------------------------------


async def consent_history(session: AsyncSession, user_id: int) -> list[ConsentEvent]:
    query = select(ConsentEvent).where(col(ConsentEvent.user_id) == user_id).order_by(col(ConsentEvent.id))
    return list((await session.execute(query)).scalars())


async def training_opt_in(session: AsyncSession, user_id: int) -> bool:
    """Off by default: only an /optin not followed by an /optout counts."""
    query = (
        select(col(ConsentEvent.training_opt_in))
        .where(col(ConsentEvent.user_id) == user_id)
        .order_by(col(ConsentEvent.id).desc())
        .limit(1)
    )
    return bool(await session.scalar(query))


async def set_training_consent(session: AsyncSession, user_id: int, opt_in: bool, policy_version: date) -> bool:
    """Append a consent event if it changes the user's choice; False when it already was so."""
    if await training_opt_in(session, user_id) == opt_in:
        return False
    event = ConsentEvent(user_id=user_id, training_opt_in=opt_in, policy_version=policy_version, created_at=utcnow())
    session.add(event)
    await session.flush()
    return True


@dataclass(frozen=True, slots=True)
class TrainingUpload:
    file_id: int
    path: str
    uploaded_at: datetime
    consent_at: datetime
    policy_version: date


async def training_uploads(session: AsyncSession) -> list[TrainingUpload]:
    """Uploads made under a consent still in force: the user's latest consent event is an opt-in, given
    before the upload. An upload made while opted out stays out even after a later /optin, and an
    /optout (or a new opt-in after one) takes out everything uploaded before it."""
    latest = (
        select(col(ConsentEvent.user_id).label("user_id"), func.max(col(ConsentEvent.id)).label("event_id"))
        .group_by(col(ConsentEvent.user_id))
        .subquery()
    )
    query = (
        select(
            col(StoredFile.id),
            col(StoredFile.path),
            col(StoredFile.created_at),
            col(ConsentEvent.created_at),
            col(ConsentEvent.policy_version),
        )
        .join(latest, latest.c.user_id == col(StoredFile.user_id))
        .join(ConsentEvent, col(ConsentEvent.id) == latest.c.event_id)
        .where(
            col(StoredFile.kind) == "upload",
            col(ConsentEvent.training_opt_in).is_(True),
            col(ConsentEvent.created_at) <= col(StoredFile.created_at),
        )
        .order_by(col(StoredFile.id))
    )
    rows = await session.execute(query)
    return [TrainingUpload(int(i or 0), str(p), u, c, v) for i, p, u, c, v in rows]
