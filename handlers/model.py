"""The channel-agnostic message model: adapters turn platform payloads into `Inbound` and `Reply` back.

Frozen, slotted, keyword-only dataclasses: no platform type ever reaches a handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"
    MESSENGER = "messenger"
    WEB = "web"


class Kind(StrEnum):
    TEXT = "text"
    COMMAND = "command"
    PHOTO = "photo"
    DOCUMENT = "document"
    BUTTON = "button"
    ALBUM_ITEM = "album_item"
    UNSUPPORTED = "unsupported"  # stickers, voice notes, locations...


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaRef:
    """A file the platform holds; the worker downloads it through the channel."""

    file_id: str
    mime: str | None = None
    size: int | None = None  # declared by the platform, checked before downloading
    name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Inbound:
    channel: Channel
    user_id: str  # the platform's id of the person (Telegram user id, WhatsApp BSUID/wa_id, PSID, web visitor)
    chat_id: str
    event_id: str  # Telegram update_id, WhatsApp wamid, Messenger mid, web message id
    bot_id: str = ""  # who received it: Telegram bot id, WhatsApp phone number id, Messenger page id (event ids
    # are unique per bot only: Telegram renumbers update_id after a quiet week; a DATA_DIR may serve another bot)
    kind: Kind
    text: str = ""
    media: tuple[MediaRef, ...] = ()
    payload: str | None = None  # button payload (short ASCII id)
    album_key: str | None = None
    locale_hint: str | None = None
    display_name: str | None = None
    origin: str | None = None  # web chat only: a keyed hash of the visitor's network address (per-network limits)
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Run by the dispatcher inside the transaction that records the event, after its handler, with the handler's
    # `Context` and replies (the web chat keeps its turn there: no second transaction, no second wait for the
    # writer). Not part of the event's identity.
    within: Within | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Button:
    label: str
    payload: str  # ASCII, <= 64 bytes (Telegram callback data), see `handlers.router.button_payload`


@dataclass(frozen=True, slots=True, kw_only=True)
class Text:
    text: str
    link_preview: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """Text with buttons; adapters degrade to a list or numbered options where buttons do not fit."""

    text: str
    buttons: tuple[Button, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Image:
    data: bytes
    name: str
    mime: str
    caption: str = ""
    stored_id: int | None = None  # the `StoredFile` these bytes came from (the web chat links to it)


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """A file sent as a document so the platform does not recompress it."""

    data: bytes
    name: str
    mime: str
    caption: str = ""
    stored_id: int | None = None  # the `StoredFile` these bytes came from (the web chat links to it)


@dataclass(frozen=True, slots=True, kw_only=True)
class Album:
    items: tuple[Image | Document, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """A status line that the channel edits in place where it can (`key` names the message to edit)."""

    key: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatAction:
    action: str  # "typing" or "upload_photo"


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """Text with one button that opens a web address (a payment page); adapters without such buttons send
    the address in the text."""

    text: str
    label: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Invoice:
    """A Telegram Stars invoice (currency XTR, one price). Only the Telegram adapter receives these."""

    title: str
    description: str
    payload: str  # 1-128 bytes, given back in pre_checkout_query and successful_payment
    currency: str
    amount: int
    label: str


Reply = Text | Choice | Image | Document | Album | Progress | ChatAction | Link | Invoice
# `Inbound.within`: (the handler's `handlers.context.Context`, its replies) inside the event's transaction.
Within = Callable[[Any, list[Reply]], Awaitable[None]]
