"""The "not right?" button under a result: a seller who cannot use a cutout gets its credit back and advice.

A fair price for a bad result, without inviting abuse: each job is refunded at most once (its own ledger key,
`job:{id}:notright`, and never when the job was already refunded for failing or not being delivered), and each
user at most `not_right_refunds_per_day` times per UTC day. The allowance is counted from the ledger under a
lock on the user's account row, so two presses at once cannot both take the last refund of the day.
"""

from __future__ import annotations

from datetime import datetime

from handlers.context import Context
from handlers.model import Inbound, Reply, Text
from handlers.router import Router, button_payload
from storage import jobs, ledger
from storage.ledger import EntryKind
from storage.types import utcnow

router = Router()

PREFIX = "nr"


def not_right_payload(job_id: int) -> str:
    return button_payload(PREFIX, job_id)


def start_of_utc_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


@router.button(PREFIX)
async def not_right(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    job = await jobs.get(ctx.session, int(argument)) if argument.isdigit() else None
    if job is None or job.id is None or job.user_id != ctx.user_id or job.state in jobs.PENDING:
        return [Text(text=ctx.t("history-gone"))]
    tip = ctx.t("not-right-tip")
    await ledger.lock_account(ctx.session, ctx.user_id)
    if await ledger.has_entry(ctx.session, jobs.not_right_key(job.id)) or await ledger.has_entry(
        ctx.session, jobs.refund_key(job.id)
    ):
        return [Text(text=ctx.t("not-right-already") + "\n\n" + tip)]
    allowance = ctx.config.not_right_refunds_per_day
    used = await ledger.count_since(ctx.session, ctx.user_id, EntryKind.NOT_RIGHT, start_of_utc_day(utcnow()))
    if used >= allowance:
        return [Text(text=ctx.t("not-right-limit", limit=allowance) + "\n\n" + tip)]
    refunded = await ledger.refund(
        ctx.session,
        ctx.user_id,
        debit_key=jobs.debit_key(job.id),
        key=jobs.not_right_key(job.id),
        reference=f"job {job.id} not right",
        kind=EntryKind.NOT_RIGHT,
    )
    if not refunded:  # the job cost nothing (a free re-style, RENDER_COST=0): nothing to give back
        return [Text(text=ctx.t("not-right-free") + "\n\n" + tip)]
    credits = job.cost
    observer = ctx.services.observer
    if observer is not None:

        async def count() -> None:
            observer.not_right(credits)

        ctx.after_commit.append(count)
    balance = await ledger.balance(ctx.session, ctx.user_id)
    left = allowance - used - 1
    return [Text(text=ctx.t("not-right-refunded", credits=credits, balance=balance, left=left) + "\n\n" + tip)]
