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

    async def fetch_media(self, file_id: str) -> bytes:
        """Download a file the user sent (`MediaRef.file_id`); raises `MediaUnavailable` when it cannot."""


class MediaUnavailable(Exception):
    """The platform no longer has the file, or it is larger than the channel allows."""
