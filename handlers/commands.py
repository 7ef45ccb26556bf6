"""Recognising commands: `/help`, `help`, `সাহায্য`, or the romanised `sahajjo` all mean the same.

WhatsApp and Messenger have no command menus, so sellers type words; many type Bengali words in Latin
letters. Aliases are matched on the whole message (or its first word, for commands taking an argument),
so an ordinary sentence that starts with "help" is not mistaken for a command.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# command -> aliases (besides its own name). Commands in TAKES_ARGUMENT may be followed by text.
ALIASES: dict[str, tuple[str, ...]] = {
    "start": ("শুরু", "shuru", "suru", "hi", "hello", "হাই", "হ্যালো", "salam", "সালাম"),
    "help": ("menu", "সাহায্য", "হেল্প", "মেনু", "sahajjo", "shahajjo", "sahajjo chai"),
    "lang": ("language", "ভাষা", "bhasha", "vasha", "bangla", "বাংলা", "english", "ইংরেজি"),
    "support": ("contact", "সাপোর্ট", "যোগাযোগ", "jogajog", "সহায়তা"),
    "credits": ("credit", "balance", "ক্রেডিট", "ব্যালেন্স", "ব্যালান্স", "হিসাব"),
    "redeem": ("code", "রিডিম", "কোড"),
    "style": ("ব্যাকগ্রাউন্ড", "স্টাইল", "background"),
    "history": ("ইতিহাস", "আগের ছবি"),
    "privacy": ("গোপনীয়তা", "প্রাইভেসি", "policy"),
    "delete": ("মুছুন", "মুছে ফেলুন", "ডিলিট"),
    "optin": ("opt in", "opt-in"),
    "optout": ("opt out", "opt-out"),
    "mydata": ("my data", "আমার তথ্য", "export"),
    "buy": ("কিনুন", "কিনব", "ক্রেডিট কিনুন", "kinun", "kinbo", "purchase", "buy credits"),
    "paysupport": ("payment help", "pay support", "পেমেন্ট সাহায্য"),
    "terms": ("শর্তাবলি", "শর্ত"),
}
TAKES_ARGUMENT = frozenset({"start", "redeem", "code", "রিডিম", "কোড"})

_SLASH = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@[A-Za-z0-9_]{3,64})?(?:\s+(.*))?$", re.DOTALL)
_LOOKUP: dict[str, str] = {}
for _name, _aliases in ALIASES.items():
    _LOOKUP[_name] = _name
    for _alias in _aliases:
        _LOOKUP[_alias] = _name


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # canonical name, or the unknown word after a slash
    argument: str
    known: bool


def normalize(text: str) -> str:
    """NFKC (full-width forms, compatibility characters), collapsed spaces, case folded."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


def parse(text: str) -> Command | None:
    clean = normalize(text)
    if not clean:
        return None
    slash = _SLASH.match(clean)
    if slash:
        word, argument = slash.group(1), (slash.group(2) or "").strip()
        name = _LOOKUP.get(word)
        return Command(name or word, argument, name is not None)
    if clean.startswith("/"):
        return Command(clean[1:33], "", False)
    if clean in _LOOKUP:
        return Command(_LOOKUP[clean], "", True)
    first, _, rest = clean.partition(" ")
    if first in TAKES_ARGUMENT and rest:
        return Command(_LOOKUP[first], text.strip().partition(" ")[2].strip(), True)
    return None
