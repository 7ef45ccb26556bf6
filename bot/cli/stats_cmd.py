"""`python -m bot stats [--days N]`: how the bot is used, aggregated only (as the privacy policy promises).

Counts and sums per UTC day: no user ids, names, codes or chat ids ever appear in the output.

`/delete` removes a user's render jobs but keeps their ledger entries de-identified (billing records), so the
paid renders of erased users are counted from those debits, under the state `erased`: renders never fall
below debits. (Free renders of erased users leave no trace and are not counted.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from bot.errors import OperatorError

MAX_DAYS = 3660
GRANTED_KINDS = ("signup", "grant", "redeem", "link")  # link: a second welcome gift handed back (negative)
ERASED = "erased"  # renders of users erased since, known from their de-identified debits


@dataclass
class Day:
    day: str
    new_users: int = 0
    renders: int = 0
    debited: int = 0
    refunded: int = 0
    not_right: int = 0  # credits given back for results the seller called "not right?"
    doubtful: int = 0  # credits not charged for cutouts the render itself judged doubtful
    granted: int = 0
    purchased: int = 0


@dataclass
class Stats:
    days: int
    users: int
    renders_by_state: dict[str, int] = field(default_factory=dict)
    by_day: list[Day] = field(default_factory=list)
    payments_by_day: list[dict[str, Any]] = field(default_factory=list)  # per UTC day and provider


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "stats",
        help="users, renders by state and credits by day (aggregated only)",
        description="Aggregated usage: users, renders by state, credits debited/refunded/returned as not right/"
        "not charged for doubtful cutouts/granted/purchased per "
        "UTC day. Nothing that identifies a user is printed.",
    )
    parser.add_argument("--days", type=int, default=7, help="how many days back, today included (default 7)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=show_stats)


def show_stats(args: argparse.Namespace) -> int:
    if not 1 <= args.days <= MAX_DAYS:
        raise OperatorError(f"--days must be between 1 and {MAX_DAYS}")
    stats = asyncio.run(collect(args.days))
    if args.json:
        print(json.dumps(asdict(stats), indent=2))  # noqa: T201
    else:
        print(format_table(stats))  # noqa: T201
    return 0


def format_table(stats: Stats) -> str:
    states = ", ".join(f"{name} {count}" for name, count in sorted(stats.renders_by_state.items())) or "none"
    lines = [
        f"users: {stats.users} in total",
        f"renders in the last {stats.days} day(s) by state: {states}",
        "",
        f"{'day (UTC)':<12}{'new users':>10}{'renders':>9}{'debited':>9}{'refunded':>10}{'not right':>11}"
        f"{'doubtful':>10}{'granted':>9}{'purchased':>11}",
    ]
    for d in stats.by_day:
        lines.append(
            f"{d.day:<12}{d.new_users:>10}{d.renders:>9}{d.debited:>9}{d.refunded:>10}{d.not_right:>11}"
            f"{d.doubtful:>10}{d.granted:>9}{d.purchased:>11}"
        )
    if stats.payments_by_day:
        lines += ["", f"{'day (UTC)':<12}{'provider':<9}{'paid':>6}{'refunded':>10}{'amount':>14}{'credits':>9}"]
        for p in stats.payments_by_day:
            amount = f"{p['amount']} {p['currency']}"
            lines.append(
                f"{p['day']:<12}{p['provider']:<9}{p['paid']:>6}{p['refunded']:>10}{amount:>14}{p['credits']:>9}"
            )
    return "\n".join(lines)


async def collect(days: int) -> Stats:
    from sqlalchemy import func, select
    from sqlmodel import col

    from bot.cli.common import operator_database
    from storage import payments
    from storage.models import LedgerEntry, RenderJob, User
    from storage.types import utcnow

    today = utcnow().date()
    first = today - timedelta(days=days - 1)
    since = utcnow() - timedelta(days=days)  # a little wider than `first`; rows are bucketed by day below
    rows: dict[str, Day] = {str(first + timedelta(days=n)): Day(str(first + timedelta(days=n))) for n in range(days)}

    async with operator_database() as (_settings, db), db.transaction() as session:
        postgres = db.dialect == "postgresql"

        def day_of(column: Any) -> Any:
            return func.date(func.timezone("UTC", column)) if postgres else func.date(column)

        users = int(await session.scalar(select(func.count()).select_from(User)) or 0)
        user_day = day_of(col(User.created_at))
        for day, count in await session.execute(
            select(user_day, func.count()).where(col(User.created_at) >= since).group_by(user_day)
        ):
            if (bucket := _bucket(rows, day)) is not None:
                bucket.new_users += int(count)
        job_day = day_of(col(RenderJob.created_at))
        by_state: dict[str, int] = {}
        for day, state, count in await session.execute(
            select(job_day, col(RenderJob.state), func.count())
            .where(col(RenderJob.created_at) >= since)
            .group_by(job_day, col(RenderJob.state))
        ):
            if (bucket := _bucket(rows, day)) is not None:
                bucket.renders += int(count)
                by_state[state] = by_state.get(state, 0) + int(count)
        entry_day = day_of(col(LedgerEntry.created_at))
        for day, count in await session.execute(
            select(entry_day, func.count())
            .where(col(LedgerEntry.created_at) >= since, col(LedgerEntry.kind) == "debit")
            .where(col(LedgerEntry.user_id).is_(None))
            .group_by(entry_day)
        ):
            if (bucket := _bucket(rows, day)) is not None:
                bucket.renders += int(count)
                by_state[ERASED] = by_state.get(ERASED, 0) + int(count)
        for day, kind, total in await session.execute(
            select(entry_day, col(LedgerEntry.kind), func.sum(col(LedgerEntry.delta)))
            .where(col(LedgerEntry.created_at) >= since)
            .group_by(entry_day, col(LedgerEntry.kind))
        ):
            if (bucket := _bucket(rows, day)) is not None:
                _add_credits(bucket, str(kind), int(total or 0))
        sales = [
            {**asdict(t), "day": t.day.isoformat()}
            for t in await payments.daily_totals(session, since)
            if t.day.isoformat() in rows
        ]
    return Stats(days=days, users=users, renders_by_state=by_state, by_day=list(rows.values()), payments_by_day=sales)


def _bucket(rows: dict[str, Day], day: object) -> Day | None:
    """The row of `day`; None for the rows a little older than the first day (the query window is wider)."""
    key = day.isoformat() if isinstance(day, date) else str(day)
    return rows.get(key)


def _add_credits(bucket: Day, kind: str, total: int) -> None:
    if kind == "debit":
        bucket.debited += -total
    elif kind == "refund":
        bucket.refunded += total
    elif kind == "not_right":
        bucket.not_right += total
    elif kind == "doubtful":
        bucket.doubtful += total
    elif kind in ("purchase", "purchase_refund"):
        bucket.purchased += total
    elif kind in GRANTED_KINDS:
        bucket.granted += total
