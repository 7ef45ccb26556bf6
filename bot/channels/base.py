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
        """Deliver replies outside a request (render results from workers).

        Returns only when the platform accepted every reply; otherwise raises `Refused` or `Unavailable`."""

    async def fetch_media(self, file_id: str) -> bytes:
        """Download a file the user sent (`MediaRef.file_id`); raises `Refused` or `Unavailable` when it cannot."""


class ChannelError(Exception):
    """The channel contract: `send` and `fetch_media` raise only the two children of this class."""


class Refused(ChannelError):
    """Permanent: the platform said no (blocked bot, unknown chat, file gone, too large). Retrying is useless."""


class Unavailable(ChannelError):
    """Transient: the platform or the network is down or rate-limits us; the same call may succeed later."""

    def __init__(self, message: str = "", retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MediaUnavailable(Refused):
    """The platform no longer has the file, or it is larger than the channel allows."""
