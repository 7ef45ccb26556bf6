"""Telegram updates -> `Inbound`, and the text rules of the way back (HTML escaping, splitting, truncation).

Pure functions on aiogram's types: the channel (`telegram.py`) does the I/O. The adapter decides nothing about
the conversation: commands keep their text as typed (the dispatcher parses `/start CODE` and `/help@Bot`),
oversized files keep their declared size (the photo flow answers), album items are passed on one by one with
their album key (the photo flow batches them).
"""

from __future__ import annotations

import html
from pathlib import PurePosixPath

from aiogram.types import CallbackQuery, Message, Update, User

from bot.channels import text as text_rules
from bot.channels.text import utf16_len
from handlers.model import Channel, Inbound, Kind, MediaRef

MAX_TEXT = 4096  # sendMessage / editMessageText, counted in UTF-16 code units after entity parsing
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".gif", ".bmp", ".tif", ".tiff"})
# Message fields that carry something we cannot work with: answered with the "photos and text only" reply.
_UNSUPPORTED_FIELDS = (
    "sticker",
    "voice",
    "video",
    "video_note",
    "audio",
    "animation",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
    "game",
    "story",
)


def to_inbound(update: Update) -> Inbound | None:
    """The event for one update, or None for updates that carry nothing to answer (edits, service messages)."""
    if update.message is not None:
        return _from_message(update, update.message)
    if update.callback_query is not None:
        return _from_callback(update, update.callback_query)
    return None


def _event(
    update: Update,
    user: User,
    chat_id: int,
    kind: Kind,
    *,
    text: str = "",
    media: tuple[MediaRef, ...] = (),
    payload: str | None = None,
    album_key: str | None = None,
) -> Inbound:
    return Inbound(
        channel=Channel.TELEGRAM,
        user_id=str(user.id),
        chat_id=str(chat_id),
        event_id=str(update.update_id),
        kind=kind,
        text=text,
        media=media,
        payload=payload,
        album_key=album_key,
        locale_hint=user.language_code,
        display_name=user.first_name or None,
    )


def _from_message(update: Update, message: Message) -> Inbound | None:
    user = message.from_user
    if user is None or user.is_bot:
        return None  # channel posts and messages of other bots
    chat_id = message.chat.id
    album = message.media_group_id
    caption = message.caption or ""
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        ref = MediaRef(file_id=largest.file_id, mime="image/jpeg", size=largest.file_size)
        kind = Kind.ALBUM_ITEM if album else Kind.PHOTO
        return _event(update, user, chat_id, kind, text=caption, media=(ref,), album_key=album)
    if message.document is not None:
        doc = message.document
        ref = MediaRef(file_id=doc.file_id, mime=doc.mime_type, size=doc.file_size, name=doc.file_name)
        if not _is_image(doc.mime_type, doc.file_name):
            return _event(update, user, chat_id, Kind.UNSUPPORTED, text=caption, media=(ref,))
        kind = Kind.ALBUM_ITEM if album else Kind.DOCUMENT
        return _event(update, user, chat_id, kind, text=caption, media=(ref,), album_key=album)
    if message.text is not None:
        kind = Kind.COMMAND if message.text.startswith("/") else Kind.TEXT
        return _event(update, user, chat_id, kind, text=message.text)
    if any(getattr(message, name, None) is not None for name in _UNSUPPORTED_FIELDS):
        return _event(update, user, chat_id, Kind.UNSUPPORTED, text=caption)
    return None  # service messages: members joined, pinned messages...


def _from_callback(update: Update, query: CallbackQuery) -> Inbound:
    message = query.message
    chat_id = message.chat.id if message is not None else query.from_user.id
    return _event(update, query.from_user, chat_id, Kind.BUTTON, payload=query.data or "")


def _is_image(mime: str | None, name: str | None) -> bool:
    if mime and mime.lower().startswith("image/"):
        return True
    return bool(name) and PurePosixPath(name or "").suffix.lower() in IMAGE_SUFFIXES


# Text rules -------------------------------------------------------------------------------------------


def truncate(text: str, limit: int) -> str:
    """At most `limit` UTF-16 units, cut between graphemes, with an ellipsis when something was cut."""
    return text_rules.truncate(text, limit, utf16_len)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most `limit` UTF-16 units, cut at line breaks first, never inside a grapheme."""
    return text_rules.split_text(text, limit, utf16_len)


def escape(text: str) -> str:
    """Text for parse_mode=HTML: everything the user reads is literal."""
    return html.escape(text, quote=False)
