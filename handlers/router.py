"""Routing: each use-case module owns a `Router` declaring the commands and button payloads it answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from functools import cached_property

from handlers.commands import CommandSpec, CommandTable
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
        self.specs: dict[str, CommandSpec] = {}
        self.buttons: dict[str, Handler] = {}
        self.media: Handler | None = None

    def command(
        self,
        name: str,
        *,
        aliases: tuple[str, ...] = (),
        takes_argument: bool = False,
        menu: bool = True,
        limiter_keys: tuple[str, ...] = (),
    ) -> Callable[[Handler], Handler]:
        """Declare a command once: see `handlers.commands` for what is derived from the declaration."""
        spec = CommandSpec(name, aliases, takes_argument, menu, limiter_keys)

        def register(handler: Handler) -> Handler:
            if name in self.specs:
                raise ValueError(f"command {name!r} is declared twice")
            self.specs[name] = spec
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
            for name in router.specs:
                if name in self.specs:
                    raise ValueError(f"command {name!r} is declared by two routers")
            self.specs.update(router.specs)
            self.commands.update(router.commands)
            self.buttons.update(router.buttons)
            self.media = router.media or self.media
        return self

    @cached_property
    def table(self) -> CommandTable:
        """The commands of this router (after `include`), with aliases, menu and limiter keys derived."""
        return CommandTable(self.specs.values())

    def for_button(self, payload: str) -> tuple[Handler, str] | None:
        prefix, _, rest = payload.partition(PAYLOAD_SEPARATOR)
        handler = self.buttons.get(prefix)
        return (handler, rest) if handler else None
