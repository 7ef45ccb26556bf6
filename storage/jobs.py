"""Render jobs and their stored files. The job row is the truth; queues only carry its id.

A worker claims a job with one conditional UPDATE (accepted and due, or rendering with an expired lease), so
two workers never render the same job, and a job whose worker died is claimed again once its lease runs out.
Each claim adds one to `attempts`, and that number is the claim's token: the lease is extended (heartbeat),
checked and ended only by the holder of the claim whose `attempts` it still is, so a worker that lost its
lease can neither deliver nor finish a job another worker took over.

An `accepted` job's `lease_until` is the earliest time it may be claimed again ("retry later"), None = now.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Integer, bindparam, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from storage.models import RenderJob, StoredFile
from storage.sql import affected
from storage.types import utcnow

ACCEPTED, RENDERING, DELIVERED, FAILED = "accepted", "rendering", "delivered", "failed"
UNDELIVERED = "undelivered"  # rendered and stored, but the platform refused delivery: it waits in /history
PENDING = (ACCEPTED, RENDERING)


def debit_key(job_id: int) -> str:
    return f"job:{job_id}:debit"


def refund_key(job_id: int) -> str:
    return f"job:{job_id}:refund"


def not_right_key(job_id: int) -> str:
    """The refund of a delivered result the seller pressed "not right?" under (once per job)."""
    return f"job:{job_id}:notright"


async def create(session: AsyncSession, job: RenderJob) -> RenderJob:
    session.add(job)
    await session.flush()
    return job


async def get(session: AsyncSession, job_id: int) -> RenderJob | None:
    return await session.get(RenderJob, job_id, populate_existing=True)


async def pending_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).where(col(RenderJob.state).in_(PENDING))) or 0)


async def pending_count_of(session: AsyncSession, user_id: int) -> int:
    """One user's unfinished jobs (accepted or rendering): what MAX_PENDING_PER_USER bounds."""
    query = select(func.count()).where(col(RenderJob.user_id) == user_id, col(RenderJob.state).in_(PENDING))
    return int(await session.scalar(query) or 0)


async def fairest(session: AsyncSession, candidates: Collection[int], taken: Collection[int] = ()) -> int | None:
    """The job among `candidates` to render next, round-robin across users: claimable ones first; then the
    user with the fewest jobs rendering now; then the user served least recently (the latest change of a
    job of theirs that was ever claimed; never served comes first); then that user's oldest job. One
    seller's album of 10 thus takes turns with everyone else's photos instead of going before them.
    `taken`: jobs a worker has already taken from the queue and may not have claimed yet; they count as
    rendering, so a second worker choosing at the same moment does not serve the same user again.
    None when `candidates` is empty."""
    if not candidates:
        return None
    ids = list(candidates)
    other = aliased(RenderJob)
    other_busy = col(other.state) == RENDERING
    if taken:
        other_busy = other_busy | col(other.id).in_(list(taken))
    # Each candidate user's numbers once (a GROUP BY), not once per queued job: an abuser's 500 queued jobs
    # would otherwise each count that user's whole history again.
    owners = select(col(RenderJob.user_id)).where(col(RenderJob.id).in_(ids)).distinct()
    stats = (
        select(
            col(other.user_id).label("user_id"),
            func.count(case((other_busy, 1))).label("rendering"),
            func.max(case((col(other.attempts) > 0, col(other.updated_at)))).label("served"),
        )
        .where(col(other.user_id).in_(owners))
        .group_by(col(other.user_id))
        .subquery()
    )
    query = (
        select(col(RenderJob.id))
        .join(stats, stats.c.user_id == col(RenderJob.user_id))
        .where(col(RenderJob.id).in_(ids))
        .order_by(
            case((_claimable(utcnow()), 0), else_=1),
            stats.c.rendering,
            stats.c.served.asc().nulls_first(),
            col(RenderJob.id),
        )
        .limit(1)
    )
    found = await session.scalar(query)
    return int(found) if found is not None else None


async def batch_in_flight(session: AsyncSession, user_id: int) -> str | None:
    """The batch key of the user's unfinished photos, if any."""
    query = (
        select(col(RenderJob.batch_key))
        .where(col(RenderJob.user_id) == user_id, col(RenderJob.state).in_(PENDING))
        .limit(1)
    )
    return await session.scalar(query)


async def batch_pending(session: AsyncSession, batch_key: str) -> bool:
    """Whether a photo of this batch (an album) is already waiting or rendering."""
    query = select(col(RenderJob.id)).where(col(RenderJob.batch_key) == batch_key, col(RenderJob.state).in_(PENDING))
    return await session.scalar(query.limit(1)) is not None


async def count_in_batch(session: AsyncSession, batch_key: str) -> int:
    """How many photos of this batch (an album) were accepted."""
    query = select(func.count()).where(col(RenderJob.batch_key) == batch_key)
    return int(await session.scalar(query) or 0)


def _claimable(now: datetime) -> ColumnElement[bool]:
    due = or_(col(RenderJob.lease_until).is_(None), col(RenderJob.lease_until) <= now)
    return or_(
        (col(RenderJob.state) == ACCEPTED) & due,
        (col(RenderJob.state) == RENDERING) & (col(RenderJob.lease_until) < now),
    )


async def claim(session: AsyncSession, job_id: int, lease_s: float) -> RenderJob | None:
    """Take the job for `lease_s` seconds; counts an attempt. None when it is not claimable now."""
    now = utcnow()
    result = await session.execute(
        update(RenderJob)
        .where(col(RenderJob.id) == job_id, _claimable(now))
        .values(
            state=RENDERING,
            attempts=col(RenderJob.attempts) + 1,
            lease_until=now + timedelta(seconds=lease_s),
            updated_at=now,
        )
    )
    return await get(session, job_id) if affected(result) else None


def _held(job_id: int, claim_token: int | None) -> ColumnElement[bool]:
    held = (col(RenderJob.id) == job_id) & (col(RenderJob.state) == RENDERING)
    return held if claim_token is None else held & (col(RenderJob.attempts) == claim_token)


async def finish(
    session: AsyncSession, job_id: int, state: str, *, error_code: str | None = None, claim_token: int | None = None
) -> bool:
    """Move a rendering job to its end state; False if it was not rendering (someone else finished it), or
    not under the claim `claim_token` (another worker took it over after our lease ran out)."""
    result = await session.execute(
        update(RenderJob)
        .where(_held(job_id, claim_token))
        .values(state=state, error_code=error_code, lease_until=None, updated_at=utcnow())
    )
    return bool(affected(result))


async def release(session: AsyncSession, job_id: int, *, after_s: float = 0.0, claim_token: int | None = None) -> bool:
    """Hand a job back (shutdown, or "try again later") without counting it as done: claimable again in
    `after_s` seconds. The attempt it used stays counted."""
    now = utcnow()
    result = await session.execute(
        update(RenderJob)
        .where(_held(job_id, claim_token))
        .values(state=ACCEPTED, lease_until=now + timedelta(seconds=after_s) if after_s > 0 else None, updated_at=now)
    )
    return bool(affected(result))


async def extend_lease(session: AsyncSession, job_id: int, claim_token: int, lease_s: float) -> bool:
    """The heartbeat of a job being worked on; False when the claim is no longer ours (lease lost)."""
    now = utcnow()
    result = await session.execute(
        update(RenderJob)
        .where(_held(job_id, claim_token), col(RenderJob.lease_until) >= now)
        .values(lease_until=now + timedelta(seconds=lease_s))
    )
    return bool(affected(result))


async def holds(session: AsyncSession, job_id: int, claim_token: int) -> bool:
    """The claim is still ours and its lease has not run out (checked right before delivering)."""
    query = select(func.count()).where(_held(job_id, claim_token), col(RenderJob.lease_until) >= utcnow())
    return bool(await session.scalar(query))


async def due(session: AsyncSession) -> list[int]:
    """Jobs that may be claimed now: accepted and due, or rendering with an expired lease. The sweeper
    queues those among them that are not in the queue already (the drivers know what they hold)."""
    query = select(col(RenderJob.id)).where(_claimable(utcnow())).order_by(col(RenderJob.id))
    return [int(i) for i in (await session.execute(query)).scalars() if i is not None]


async def all_pending(session: AsyncSession) -> list[int]:
    query = select(col(RenderJob.id)).where(col(RenderJob.state).in_(PENDING)).order_by(col(RenderJob.id))
    return [int(i) for i in (await session.execute(query)).scalars() if i is not None]


# Built once (`/history` asks it every time); the limit is a bound parameter.
_RECENT_DELIVERED = (
    select(RenderJob)
    .where(col(RenderJob.user_id) == bindparam("user_id"), col(RenderJob.state).in_((DELIVERED, UNDELIVERED)))
    .order_by(col(RenderJob.id).desc())
    .limit(bindparam("limit", type_=Integer))
)


async def recent_delivered(session: AsyncSession, user_id: int, limit: int = 5) -> list[RenderJob]:
    return list((await session.execute(_RECENT_DELIVERED, {"user_id": user_id, "limit": limit})).scalars())


async def add_file(session: AsyncSession, stored: StoredFile) -> StoredFile:
    session.add(stored)
    await session.flush()
    return stored


async def files_of(session: AsyncSession, job_id: int, kind: str) -> list[StoredFile]:
    query = (
        select(StoredFile)
        .where(col(StoredFile.job_id) == job_id, col(StoredFile.kind) == kind)
        .order_by(col(StoredFile.id))
    )
    return list((await session.execute(query)).scalars())
