"""Telegram's failures in the terms of the channel contract: `Refused` (permanent) or `Unavailable` (later).

aiogram raises a tree of its own (TelegramRetryAfter, TelegramForbiddenError...), aiohttp raises
ClientResponseError from the file server, and a proxy's HTML "502 Bad Gateway" page becomes aiogram's
ClientDecodeError. Each maps once, here; nothing else leaves the adapter.
"""

from __future__ import annotations

import aiohttp
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from bot.channels.base import ChannelError, MediaUnavailable, Refused, Unavailable

DEFAULT_RETRY_S = 5.0


def describe(error: BaseException) -> str:
    """What a log may say of an error: its type and Telegram's description, never a URL (it holds the token)."""
    message = getattr(error, "message", None)
    if isinstance(error, aiohttp.ClientResponseError):
        message = f"HTTP {error.status} {error.message}"
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def classify(error: BaseException, *, media: bool = False) -> ChannelError:
    """The contract error for `error` (already a ChannelError: itself)."""
    if isinstance(error, ChannelError):
        return error
    what = describe(error)
    refused: type[Refused] = MediaUnavailable if media else Refused
    if isinstance(error, TelegramRetryAfter):
        return Unavailable(what, retry_after=float(error.retry_after))
    if isinstance(error, TelegramEntityTooLarge):
        return refused(what)
    if isinstance(error, TelegramServerError | TelegramNetworkError | ClientDecodeError):
        return Unavailable(what, retry_after=DEFAULT_RETRY_S)
    if isinstance(error, TelegramAPIError):  # 400, 401, 403, 404, 409, a migrated chat: Telegram said no
        return refused(what)
    if isinstance(error, aiohttp.ClientResponseError):
        if error.status == 429 or error.status >= 500:
            return Unavailable(what, retry_after=DEFAULT_RETRY_S)
        return refused(what)
    # The network, a timeout, anything unknown: worth another try later (bounded by the job's attempts).
    return Unavailable(what, retry_after=DEFAULT_RETRY_S)
