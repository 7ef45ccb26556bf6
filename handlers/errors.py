"""Typed errors a handler raises; the dispatcher maps each, once, to a localized reply."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handlers.model import Button


class AppError(Exception):
    """An expected failure the user is told about: `key` is the locale message, `args` its placeables."""

    key = "error-internal"

    def __init__(self, key: str | None = None, *, buttons: tuple[Button, ...] = (), **args: Any) -> None:
        super().__init__(key or self.key)
        if key:
            self.key = key
        self.args_for_message = args
        self.buttons = buttons  # a way forward offered under the message (e.g. packs to buy)


class ServiceUnavailable(Exception):
    """The database or Redis failed before the event was recorded: the channel must not acknowledge it
    (webhook 500, polling offset kept) so that the platform delivers it again."""


class BadInput(AppError):
    key = "error-bad-input"


class RateLimited(AppError):
    key = "error-rate-limited"


class NotEnoughCredits(AppError):
    key = "credits-not-enough"
