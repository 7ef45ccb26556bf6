"""`python -m bot user show USER`: all data held about a user, as JSON (the schema is in DESIGN.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from bot.errors import OperatorError


def register(sub: Any) -> None:
    parser = sub.add_parser("user", help="inspect a user's data")
    actions = parser.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    show = actions.add_parser(
        "show",
        help="print all data held about USER as JSON (exit 1 and 'not found' when none)",
        description="USER is telegram:123, whatsapp:<id>, messenger:<psid> or web:<id>.",
    )
    show.add_argument("user")
    show.set_defaults(func=show_user)


def show_user(args: argparse.Namespace) -> int:
    from storage.users import Identity

    try:
        identity = Identity.parse(args.user)
    except ValueError as exc:
        raise OperatorError(str(exc)) from None
    record = asyncio.run(_record(identity))
    if record is None:
        print("not found")  # noqa: T201
        return 1
    print(json.dumps(record, ensure_ascii=False, indent=2))  # noqa: T201
    return 0


async def _record(identity: Any) -> dict[str, Any] | None:
    from bot.cli.common import operator_database
    from storage import users
    from storage.export import user_record

    async with operator_database() as (_settings, db), db.transaction() as session:
        user = await users.find(session, identity)
        return None if user is None else await user_record(session, user)
