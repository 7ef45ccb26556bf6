"""Commands, each declared once: `/help`, `help`, `সাহায্য` and the romanised `sahajjo` all mean the same.

A use-case module declares a command where it handles it (`@router.command("credits", aliases=...)`): its
name, its aliases in English, Bengali and romanised Bengali, whether it takes an argument, whether it is in the
menu, and the rate-limiter keys it counts under. The alias table, the help text, Telegram's command menu and
the limiter keys `/delete` erases are all derived from those declarations (`CommandTable`), so adding a
command is one edit plus its `command-<name>` sentence in each catalog, and a clash of two commands over one
alias fails at start-up instead of silently.

WhatsApp and Messenger have no command menus, so sellers type words; many type Bengali words in Latin
letters. Aliases are matched on the whole message (or its first word, for commands taking an argument),
so an ordinary sentence that starts with "help" is not mistaken for a command.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

_SLASH = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@[A-Za-z0-9_]{3,64})?(?:\s+(.*))?$", re.DOTALL)
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")  # what Telegram accepts in a command menu


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str  # ASCII, as typed after the slash
    aliases: tuple[str, ...] = ()  # other words for it: English, Bengali, romanised Bengali
    takes_argument: bool = False  # `redeem CODE`: the first word is the command, the rest its argument
    menu: bool = True  # listed in /help and in Telegram's command menu
    limiter_keys: tuple[str, ...] = ()  # prefixes of the limiter keys it counts under (erased by /delete)


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # canonical name, or the unknown word after a slash
    argument: str
    known: bool


def normalize(text: str) -> str:
    """NFKC (full-width forms, compatibility characters), collapsed spaces, case folded."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


class CommandTable:
    """Every declared command, and what is derived from the declarations."""

    def __init__(self, specs: Iterable[CommandSpec]) -> None:
        self.specs: dict[str, CommandSpec] = {}
        self._lookup: dict[str, str] = {}
        self._with_argument: set[str] = set()
        for spec in specs:
            if not _NAME.match(spec.name):
                raise ValueError(f"command name {spec.name!r} must be lower-case ASCII (Telegram's rule)")
            if spec.name in self.specs:
                raise ValueError(f"command {spec.name!r} is declared twice")
            self.specs[spec.name] = spec
        for spec in self.specs.values():
            for word in (spec.name, *(normalize(alias) for alias in spec.aliases)):
                owner = self._lookup.setdefault(word, spec.name)
                if owner != spec.name:
                    raise ValueError(f"{word!r} is an alias of both {owner!r} and {spec.name!r}")
                if spec.takes_argument:
                    self._with_argument.add(word)

    def parse(self, text: str) -> Command | None:
        clean = normalize(text)
        if not clean:
            return None
        slash = _SLASH.match(clean)
        if slash:
            word, argument = slash.group(1), (slash.group(2) or "").strip()
            name = self._lookup.get(word)
            return Command(name or word, argument, name is not None)
        if clean.startswith("/"):
            return Command(clean[1:33], "", False)
        if clean in self._lookup:
            return Command(self._lookup[clean], "", True)
        first, _, rest = clean.partition(" ")
        if first in self._with_argument and rest:
            return Command(self._lookup[first], text.strip().partition(" ")[2].strip(), True)
        return None

    @property
    def menu(self) -> list[CommandSpec]:
        return [spec for spec in self.specs.values() if spec.menu]

    @property
    def limiter_prefixes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(key for spec in self.specs.values() for key in spec.limiter_keys))
