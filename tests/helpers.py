"""Test helpers: a dispatcher wired like the real one, and ways to read replies."""

from __future__ import annotations

from bot.app import build_router
from handlers import basics
from handlers.context import Services
from handlers.dispatcher import Dispatcher
from handlers.model import Choice, Inbound, Reply, Text


def make_dispatcher(services: Services) -> Dispatcher:
    return Dispatcher(services, build_router(), basics.fallback)


def texts(replies: list[Reply]) -> str:
    """All the text a person would read in these replies, joined."""
    return "\n".join(r.text for r in replies if isinstance(r, Text | Choice))


async def say(dispatcher: Dispatcher, event: Inbound) -> str:
    return texts(await dispatcher.dispatch(event))
