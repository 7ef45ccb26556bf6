"""Telegram's HTML parse mode, strictly: the visible text, or the "can't parse entities" error Telegram gives."""

from __future__ import annotations

import html
import re

from tests.emulators.telegram_spec import ApiError, bad

TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
    "tg-time",
}
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});")


def visible_text(text: str) -> str:
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            end = text.find(">", i)
            if end < 0:
                raise _error(text, i, "Unclosed start tag")
            tag = text[i + 1 : end].strip()
            if tag.startswith("/"):
                name = tag[1:].strip().lower()
                if not stack or stack[-1] != name:
                    raise _error(text, i, "Unmatched end tag", f', found "</{name}>"')
                stack.pop()
            else:
                name = (tag.split() or [""])[0].lower()
                if name not in TAGS:
                    raise _error(text, i, f'Unsupported start tag "{name}"')
                stack.append(name)
            i = end + 1
        elif char == "&":
            entity = _ENTITY.match(text, i)
            if entity is None:
                raise _error(text, i, "Character '&' is reserved and must be escaped")
            out.append(html.unescape(entity.group(0)))
            i = entity.end()
        elif char == ">":
            raise _error(text, i, "Character '>' is reserved and must be escaped")
        else:
            out.append(char)
            i += 1
    if stack:
        raise bad(f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\"")
    return "".join(out)


def _error(text: str, index: int, what: str, after: str = "") -> ApiError:
    return bad(f"can't parse entities: {what} at byte offset {len(text[:index].encode())}{after}")
