"""Test helpers: a dispatcher wired like the real one, ways to read replies, and the statements a database ran."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from bot.app import build_router
from handlers import basics
from handlers.context import Services
from handlers.dispatcher import Dispatcher
from handlers.model import Choice, Inbound, Reply, Text
from storage.db import Database


def make_dispatcher(services: Services) -> Dispatcher:
    return Dispatcher(services, build_router(), basics.fallback)


def texts(replies: list[Reply]) -> str:
    """All the text a person would read in these replies, joined."""
    return "\n".join(r.text for r in replies if isinstance(r, Text | Choice))


async def say(dispatcher: Dispatcher, event: Inbound) -> str:
    return texts(await dispatcher.dispatch(event))


@contextmanager
def statements(database: Database) -> Iterator[list[tuple[str, Any]]]:
    """(SQL, how SQLAlchemy got its compiled form) of every statement run meanwhile."""
    seen: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
        seen.append((" ".join(statement.split()), getattr(context, "cache_hit", None)))

    event.listen(database.engine.sync_engine, "after_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(database.engine.sync_engine, "after_cursor_execute", note)
