"""`python -m bot payments list|refund|reconcile` and `python -m bot packs`: operators' view of sales."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, date, datetime
from typing import Any

from bot.errors import OperatorError


def register(sub: Any) -> None:
    parser = sub.add_parser("payments", help="payments: list, refund, reconcile bKash")
    actions = parser.add_subparsers(dest="payments_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="payments, newest first")
    listing.add_argument("--user", help="only this user's (telegram:123, whatsapp:<id>, ...)")
    listing.add_argument("--since", type=date.fromisoformat, help="only from this day on (YYYY-MM-DD, UTC)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=list_payments)
    refund = actions.add_parser("refund", help="give a paid payment's money back (Stars or bKash) and record it")
    refund.add_argument("payment_id", type=int)
    refund.set_defaults(func=refund_payment)
    reconcile = actions.add_parser("reconcile", help="ask bKash about payments whose callback never came")
    reconcile.add_argument("--minutes", type=int, default=5, help="only payments older than this (default 5)")
    reconcile.set_defaults(func=reconcile_payments)
    packs = sub.add_parser("packs", help="the credit packs on sale (CREDIT_PACKS)")
    packs.set_defaults(func=show_packs)


def show_packs(_args: argparse.Namespace) -> int:
    from bot.settings import load_settings

    settings = load_settings()
    print(f"{'pack':<12} {'credits':>8} {'taka':>8} {'stars':>8}")  # noqa: T201
    for pack in settings.packs:
        print(f"{pack.id:<12} {pack.credits:>8} {pack.price_bdt:>8} {pack.price_stars:>8}")  # noqa: T201
    if not settings.packs:
        print("nothing on sale (CREDIT_PACKS is empty)")  # noqa: T201
    bkash = "on" if settings.bkash_enabled else "off (set BKASH_*)"
    print(f"Telegram Stars: {'on' if settings.telegram_enabled else 'off'}; bKash: {bkash}")  # noqa: T201
    return 0


def list_payments(args: argparse.Namespace) -> int:
    rows = asyncio.run(_list(args.user, args.since))
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))  # noqa: T201
        return 0
    print(f"{'id':>6} {'created (UTC)':<17} {'provider':<8} {'pack':<10} {'amount':>10} {'credits':>7} state")  # noqa: T201
    for r in rows:
        amount = f"{r['amount']} {r['currency']}"
        line = f"{r['id']:>6} {r['created_at'][:16]:<17} {r['provider']:<8} {r['pack']:<10} {amount:>10} "
        print(line + f"{r['credits']:>7} {r['state']}")  # noqa: T201
    return 0


async def _list(user: str | None, since: date | None) -> list[dict[str, Any]]:
    from bot.cli.common import operator_database
    from storage import payments, users
    from storage.export import payment_record

    identity = None
    if user:
        try:
            identity = users.Identity.parse(user)
        except ValueError as exc:
            raise OperatorError(str(exc)) from None
    start = datetime(since.year, since.month, since.day, tzinfo=UTC) if since else None
    async with operator_database() as (_settings, db), db.transaction() as session:
        user_id = None
        if identity is not None:
            found = await users.find(session, identity)
            if found is None:
                return []
            user_id = found.id
        return [payment_record(p) for p in await payments.listing(session, user_id=user_id, since=start)]


def refund_payment(args: argparse.Namespace) -> int:
    try:
        payment, balance = asyncio.run(_refund(args.payment_id))
    except OperatorError as exc:
        print(f"refused: {exc}")  # noqa: T201
        return 1
    print(  # noqa: T201
        f"payment {payment.id} refunded ({payment.amount} {payment.currency}); credits taken back: "
        f"{payment.credits_taken_back}, already spent: {payment.credits_unrecovered}; balance now {balance}"
    )
    return 0


async def _refund(payment_id: int) -> Any:
    from bot.cli.common import operator_database
    from bot.payments import refunds

    async with operator_database() as (settings, db):
        return await refunds.refund(settings, db, payment_id)


def reconcile_payments(args: argparse.Namespace) -> int:
    counts = asyncio.run(_reconcile(args.minutes))
    print(json.dumps(counts))  # noqa: T201
    return 0


async def _reconcile(minutes: int) -> dict[str, int]:
    from datetime import timedelta

    from bot.cli.common import operator_database
    from bot.payments import bkash_http
    from handlers.context import Services
    from storage.limits import MemoryRateLimiter

    async with operator_database() as (settings, db):
        if not settings.bkash_enabled:
            raise OperatorError("BKASH_* settings are not set")
        from bot.app import handler_config

        services = Services(db=db, limiter=MemoryRateLimiter(), config=handler_config(settings))

        async def no_chat(channel: str, chat_id: str, replies: Any) -> None:
            return None  # the chats live in the running bot; /credits shows the purchase

        bkash = bkash_http.build(settings, services, no_chat)
        try:
            return await bkash.reconcile(timedelta(minutes=minutes))
        finally:
            await bkash.client.aclose()
