"""Helpers shared by the operator commands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.errors import OperatorError
from bot.settings import Settings, load_settings
from storage import migrate
from storage.db import Database


@asynccontextmanager
async def operator_database() -> AsyncIterator[tuple[Settings, Database]]:
    """The configured database, migrated when it is the embedded SQLite."""
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        if settings.is_sqlite:
            await migrate.upgrade_async(settings.effective_database_url)
        db = Database(settings.effective_database_url)
    except OSError as exc:
        raise OperatorError(f"cannot reach the database: {exc}") from None
    try:
        yield settings, db
    finally:
        await db.dispose()
