"""`python -m bot db upgrade`: bring the database schema to this release."""

from __future__ import annotations

import argparse
from typing import Any

from bot.errors import OperatorError


def register(sub: Any) -> None:
    parser = sub.add_parser("db", help="database schema (migrations)")
    db_sub = parser.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_sub.add_parser("upgrade", help="apply every pending migration (safe to repeat)")
    upgrade.set_defaults(func=upgrade_db)


def upgrade_db(_args: argparse.Namespace) -> int:
    from bot.settings import load_settings
    from storage import migrate

    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        migrate.upgrade(settings.effective_database_url)
    except OSError as exc:
        raise OperatorError(f"cannot reach the database: {exc}") from None
    print("database schema is up to date")  # noqa: T201
    return 0
