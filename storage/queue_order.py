"""A waiting job's place in line under the queue's fair rule (`jobs.fairest`), for "you are #N in line".

Counting the pending jobs with a smaller id is first in, first out; both queues serve users in turn, so a
seller arriving behind another's album of 10 is told #11 and served second. Here the rule is played forward
from the rows as they are: the jobs rendering now come first (they are being served), then the waiting jobs
in the order the rule would choose them, each choice counting as one more job rendering for its user and
making that user the most recently served. Renders that finish meanwhile are not foreseen (nobody knows
when they will), so the place is what the rule says now; one database read, a few thousand jobs at most.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.jobs import ACCEPTED, RENDERING
from storage.models import RenderJob
from storage.types import utcnow


async def position(session: AsyncSession, job_id: int) -> int:
    """1 for the next job to render; jobs rendering now count as ahead."""
    rendering = int(await session.scalar(select(func.count()).where(col(RenderJob.state) == RENDERING)) or 0)
    now = utcnow()
    due = or_(col(RenderJob.lease_until).is_(None), col(RenderJob.lease_until) <= now)
    waiting_rows = await session.execute(
        select(col(RenderJob.id), col(RenderJob.user_id), case((due, 0), else_=1))
        .where(col(RenderJob.state) == ACCEPTED)
        .order_by(col(RenderJob.id))
    )
    waiting: dict[int, list[tuple[int, int]]] = defaultdict(list)  # user -> (not due yet, job id), in turn order
    for found_id, user_id, later in waiting_rows:
        waiting[int(user_id)].append((int(later), int(found_id)))
    if not any(found_id == job_id for jobs_of in waiting.values() for _, found_id in jobs_of):
        ahead = select(func.count()).where(col(RenderJob.state) == RENDERING, col(RenderJob.id) < job_id)
        return int(await session.scalar(ahead) or 0) + 1  # rendering already (or finished): among those
    stats = await session.execute(
        select(
            col(RenderJob.user_id),
            func.count(case((col(RenderJob.state) == RENDERING, 1))),
            func.max(case((col(RenderJob.attempts) > 0, col(RenderJob.updated_at)))),
        )
        .where(col(RenderJob.user_id).in_(list(waiting)))
        .group_by(col(RenderJob.user_id))
    )
    users = {int(user_id): (int(busy), served) for user_id, busy, served in stats}
    return rendering + _turns_until(job_id, waiting, users)


def _turns_until(job_id: int, waiting: dict[int, list[tuple[int, int]]], users: dict[int, tuple[int, Any]]) -> int:
    """How many choices of the fair rule it takes to reach `job_id` (itself included).

    The rule's order: due jobs first, then the user with the fewest rendering, then the user served least
    recently (never first), then the lowest id; a user's own jobs go in (due first, id) order."""
    queue: list[tuple[int, int, tuple[int, Any], int, int]] = []
    for user_id, jobs_of in waiting.items():
        jobs_of.sort()
        busy, served = users.get(user_id, (0, None))
        heapq.heappush(queue, (jobs_of[0][0], busy, (0, 0) if served is None else (1, served), jobs_of[0][1], user_id))
    turn = 0
    while queue:
        _later, busy, _served, chosen, user_id = heapq.heappop(queue)
        turn += 1
        if chosen == job_id:
            return turn
        jobs_of = waiting[user_id]
        jobs_of.pop(0)
        if jobs_of:  # the user just served: one more rendering, the most recently served of all
            heapq.heappush(queue, (jobs_of[0][0], busy + 1, (2, turn), jobs_of[0][1], user_id))
    return turn
