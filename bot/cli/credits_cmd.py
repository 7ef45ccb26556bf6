"""`python -m bot credits grant|check`: operators' credit tools, every change recorded in the ledger."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from typing import Any

from bot.errors import OperatorError

MAX_GRANT = 100_000


def register(sub: Any) -> None:
    parser = sub.add_parser("credits", help="credits: grant to a user, check the ledger")
    actions = parser.add_subparsers(dest="credits_command", required=True, metavar="ACTION")
    grant = actions.add_parser(
        "grant",
        help="give credits to a user (support, purchases confirmed elsewhere)",
        description="USER is telegram:123, whatsapp:<id>, messenger:<psid> or web:<id>.",
    )
    grant.add_argument("user")
    grant.add_argument("amount", type=int)
    grant.add_argument("--reason", required=True, help="why (kept in the ledger)")
    grant.add_argument("--purchase", action="store_true", help="record it as a purchase, not a grant")
    grant.add_argument("--key", help="idempotency key: repeating the command with it grants once")
    grant.set_defaults(func=grant_credits)
    check = actions.add_parser("check", help="verify every balance equals the sum of its ledger entries")
    check.set_defaults(func=check_ledger)


def grant_credits(args: argparse.Namespace) -> int:
    from storage.users import Identity

    try:
        identity = Identity.parse(args.user)
    except ValueError as exc:
        raise OperatorError(str(exc)) from None
    if not 1 <= args.amount <= MAX_GRANT:
        raise OperatorError(f"the amount must be between 1 and {MAX_GRANT}")
    reason = (args.reason or "").strip()
    if not reason:
        raise OperatorError("--reason must say why")
    result = asyncio.run(_grant(identity, args.amount, reason, args.purchase, args.key))
    if result is None:
        print("not found")  # noqa: T201
        return 1
    applied, balance = result
    verb = "granted" if applied else "already granted (same --key), nothing changed"
    print(f"{verb}; {identity} now has {balance} credits")  # noqa: T201
    return 0


async def _grant(identity: Any, amount: int, reason: str, purchase: bool, key: str | None) -> tuple[bool, int] | None:
    from bot.cli.common import operator_database
    from storage import ledger, users

    async with operator_database() as (_settings, db), db.transaction() as session:
        user = await users.find(session, identity)
        if user is None or user.id is None:
            return None
        kind = ledger.EntryKind.PURCHASE if purchase else ledger.EntryKind.GRANT
        applied = await ledger.credit(
            session, user.id, amount, kind=kind, key=f"grant:{key or uuid.uuid4().hex}", reference=reason
        )
        return applied, await ledger.balance(session, user.id)


def check_ledger(_args: argparse.Namespace) -> int:
    drifts, accounts = asyncio.run(_check())
    if not drifts:
        print(f"ok: {accounts} accounts, every balance equals its ledger")  # noqa: T201
        return 0
    for d in drifts:
        print(f"DRIFT user {d.user_id}: balance {d.balance}, ledger sum {d.ledger_sum}")  # noqa: T201
    return 1


async def _check() -> tuple[list[Any], int]:
    from sqlalchemy import func, select

    from bot.cli.common import operator_database
    from storage import ledger
    from storage.models import CreditAccount

    async with operator_database() as (_settings, db), db.transaction() as session:
        accounts = int(await session.scalar(select(func.count()).select_from(CreditAccount)) or 0)
        return await ledger.drift(session), accounts
