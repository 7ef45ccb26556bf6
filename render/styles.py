"""Style and size names: the vocabulary the chat side offers as buttons, and their validation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from render.errors import InvalidOption

PALETTE: dict[str, tuple[int, int, int]] = {
    "cream": (0xF6, 0xF1, 0xE7),
    "sky": (0xDD, 0xEC, 0xF7),
    "blush": (0xF8, 0xE1, 0xE4),
    "mint": (0xDF, 0xF3, 0xE8),
    "sand": (0xE9, 0xDC, 0xC9),
    "charcoal": (0x33, 0x36, 0x3B),
}

STYLES: tuple[str, ...] = (
    "white",
    "transparent",
    *(f"color:{name}" for name in PALETTE),
    "gradient",
    "studio",
)
"""Named styles; `color:#RRGGBB` is accepted besides these."""

SIZES: dict[str, tuple[int, int] | None] = {
    "original": None,
    "square": (1080, 1080),
    "portrait": (1080, 1350),
    "story": (1080, 1920),
    "marketplace": (1500, 1500),
}
"""Canvas (width, height) per size name; None keeps the photo's own (capped) proportions."""

_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


@dataclass(frozen=True, slots=True)
class Style:
    """A parsed style: its kind and, for plain colours, the background colour."""

    name: str
    kind: str  # white | transparent | color | gradient | studio
    color: tuple[int, int, int] = (255, 255, 255)


def parse_style(name: str) -> Style:
    """Parse a style name (`white`, `transparent`, `color:<palette name or hex>`, `gradient`, `studio`)."""
    text = name.strip().lower()
    if text in ("white", "transparent", "gradient", "studio"):
        return Style(text, text)
    if text.startswith("color:"):
        value = text.removeprefix("color:")
        if value in PALETTE:
            return Style(text, "color", PALETTE[value])
        match = _HEX.match(value)
        if match:
            raw = match.group(1)
            rgb = (int(raw[0:2], 16), int(raw[2:4], 16), int(raw[4:6], 16))
            return Style(f"color:{raw}", "color", rgb)
    raise InvalidOption(f"style {name!r}")


def parse_size(name: str) -> tuple[int, int] | None:
    """The canvas of a size name, None for `original`."""
    key = name.strip().lower()
    if key not in SIZES:
        raise InvalidOption(f"size {name!r}")
    return SIZES[key]


def is_valid_style(name: str) -> bool:
    try:
        parse_style(name)
    except InvalidOption:
        return False
    return True


def is_valid_size(name: str) -> bool:
    return name.strip().lower() in SIZES
