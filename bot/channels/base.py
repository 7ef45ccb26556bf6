"""What every channel adapter offers the rest of the bot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from aiohttp import web

from handlers.model import Reply


class Channel(Protocol):
    name: str

    def add_routes(self, app: web.Application) -> None:
        """Mount webhooks or pages on the shared HTTP server."""

    async def start(self) -> None:
        """Begin receiving (polling loops, webhook registration)."""

    async def stop(self) -> None: ...

    async def send(self, chat_id: str, replies: Sequence[Reply]) -> None:
        """Deliver replies outside a request (render results from workers)."""
