"""Routing: each use-case module owns a `Router` naming the commands and button payloads it answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from handlers.context import Context
from handlers.model import Inbound, Reply

Handler = Callable[[Inbound, Context, str], Awaitable[list[Reply]]]
"""`(event, ctx, argument)`: the command's argument, or the button payload's part after the prefix."""

PAYLOAD_SEPARATOR = ":"
MAX_PAYLOAD_BYTES = 64  # Telegram's callback_data limit, the tightest of the channels


def button_payload(prefix: str, *parts: str | int) -> str:
    payload = PAYLOAD_SEPARATOR.join([prefix, *(str(p) for p in parts)])
    if not payload.isascii() or len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"button payload must be ASCII and <= {MAX_PAYLOAD_BYTES} bytes: {payload!r}")
    return payload


class Router:
    def __init__(self) -> None:
        self.commands: dict[str, Handler] = {}
        self.buttons: dict[str, Handler] = {}
        self.media: Handler | None = None

    def command(self, *names: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for name in names:
                self.commands[name] = handler
            return handler

        return register

    def button(self, prefix: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.buttons[prefix] = handler
            return handler

        return register

    def include(self, routers: Iterable[Router]) -> Router:
        for router in routers:
            self.commands.update(router.commands)
            self.buttons.update(router.buttons)
            self.media = router.media or self.media
        return self

    def for_button(self, payload: str) -> tuple[Handler, str] | None:
        prefix, _, rest = payload.partition(PAYLOAD_SEPARATOR)
        handler = self.buttons.get(prefix)
        return (handler, rest) if handler else None
