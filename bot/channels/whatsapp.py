"""WhatsApp Cloud API: webhooks in, Graph API calls out (httpx, no SDK).

Users are keyed on the business-scoped user id (`contacts[].user_id`, the BSUID) when the payload has one,
else on the phone number (`wa_id`); the phone number is the chat id because the v23.0 send API addresses
messages `to` a number. Payload shapes: tests/specs/whatsapp-business-messaging-api_v23.0.yaml.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot import logs
from bot.channels.base import MediaUnavailable, Refused
from bot.channels.meta import (
    MAX_MEDIA_BYTES,
    MetaChannel,
    contract_error,
    has_bengali,
    signed_payload,
    split_text,
    truncate,
)
from bot.settings import Settings
from handlers.dispatcher import Dispatcher
from handlers.i18n import catalog
from handlers.model import Channel as ChannelName
from handlers.model import Choice, Document, Image, Inbound, Kind, MediaRef, Reply, Text

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096
BODY_LIMIT = 1024  # interactive body
CAPTION_LIMIT = 1024
BUTTONS, BUTTON_TITLE = 3, 20
ROWS, ROW_TITLE, ROW_DESCRIPTION = 10, 24, 72
IMAGE_LIMIT = 5 * 1024 * 1024
DOCUMENT_LIMIT = 100 * 1024 * 1024
IMAGE_MIMES = frozenset({"image/jpeg", "image/png"})
BENGALI_PREFIX = "880"
IGNORED_TYPES = frozenset(
    {"reaction", "system"}
)  # a thumbs-up or a changed number needs no answer  # Bangladesh's country code


class WhatsAppChannel(MetaChannel):
    name = "whatsapp"

    def __init__(self, settings: Settings, dispatcher: Dispatcher, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(
            settings,
            dispatcher,
            token=settings.whatsapp_access_token,
            verify_token=settings.whatsapp_verify_token,
            clock=clock,
        )
        self._phone_id = settings.whatsapp_phone_number_id
        self._last_message: OrderedDict[str, str] = OrderedDict()  # chat -> last inbound wamid (typing)

    # Channel protocol ---------------------------------------------------------------------------

    async def start(self) -> None:
        _ = self.graph

    async def send(self, chat_id: str, replies: Sequence[Reply]) -> None:
        if not self.window.is_open(chat_id):
            log.info(
                "whatsapp %s: outside the 24-hour window, %d replies not sent", logs.pseudonym(chat_id), len(replies)
            )
            raise Refused("outside the 24-hour window: the user last wrote more than 24 hours ago")
        await self.deliver(chat_id, replies)

    async def fetch_media(self, file_id: str) -> bytes:
        try:
            info = await self.graph.get(file_id)
            size = int(info.get("file_size") or 0)  # a string in the spec's example
            if size > MAX_MEDIA_BYTES:
                raise MediaUnavailable(f"media {file_id} is {size} bytes, over {MAX_MEDIA_BYTES}")
            url = info.get("url")
            if not isinstance(url, str) or not url:
                raise MediaUnavailable(f"media {file_id} has no URL")
            return await self.graph.download(url)
        except Exception as exc:  # the channel contract: MediaUnavailable (gone, too large) or Unavailable
            raise contract_error(exc, media=True) from None

    # Webhooks -----------------------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        payload = await signed_payload(request, self._settings.whatsapp_app_secret, self.name)
        if isinstance(payload, web.Response):
            return payload
        for value in _values(payload):
            for status in _dicts(value.get("statuses")):
                self._record_status(status)
            contacts = {c.get("wa_id"): c for c in _dicts(value.get("contacts"))}
            number = str(_dict(value.get("metadata")).get("phone_number_id") or self._phone_id)
            for message in _dicts(value.get("messages")):
                event = parse_message(message, contacts)
                if event is None:
                    continue
                event = dataclasses.replace(event, bot_id=number)  # wamids are unique per number
                self.window.touch(event.chat_id, event.received_at.timestamp())
                replies = await self._dispatcher.dispatch(event)
                if replies:  # [] for a redelivery: it was answered the first time
                    self.outbox.submit(event.chat_id, self._acknowledge_then(event, replies))
        return web.Response(text="ok")

    def _acknowledge_then(self, event: Inbound, replies: list[Reply]) -> Callable[[], Any]:
        async def work() -> None:
            self._remember(self._last_message, event.chat_id, event.event_id)
            await self._typing(event.event_id)
            await self.send(event.chat_id, replies)

        return work

    def _record_status(self, status: dict[str, Any]) -> None:
        recipient, state = str(status.get("recipient_id", "")), status.get("status")
        errors = [e.get("code") for e in _dicts(status.get("errors"))]
        if state == "failed":
            log.warning("whatsapp message to %s failed: %s", logs.pseudonym(recipient), errors)
            if 131047 in errors:
                self.window.close(recipient)
        else:
            log.debug("whatsapp message to %s: %s", logs.pseudonym(recipient), state)

    # Sending ------------------------------------------------------------------------------------

    async def _post(self, to: str, kind: str, content: dict[str, Any]) -> None:
        message = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": kind}
        await self.graph.post(f"{self._phone_id}/messages", {**message, kind: content})

    async def _typing(self, message_id: str) -> None:
        """Marks the message read and shows "typing…" (up to 25 s or until we answer)."""
        payload = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
            "typing_indicator": {"type": "text"},
        }
        await self.graph.post(f"{self._phone_id}/messages", payload)

    async def send_text(self, chat_id: str, text: Text) -> None:
        for chunk in split_text(text.text, TEXT_LIMIT):
            await self._post(chat_id, "text", {"body": chunk, "preview_url": text.link_preview})

    async def show_activity(self, chat_id: str) -> None:
        last = self._last_message.get(chat_id)  # WhatsApp's typing indicator rides on a received message
        if last:
            await self._typing(last)

    async def _choice(self, chat_id: str, choice: Choice) -> None:
        *before, body = split_text(choice.text or "…", BODY_LIMIT)
        for chunk in before:
            await self._post(chat_id, "text", {"body": chunk})
        buttons = choice.buttons
        if not buttons:
            await self._post(chat_id, "text", {"body": body})
            return
        if len(buttons) <= BUTTONS and all(len(b.label) <= BUTTON_TITLE for b in buttons):
            replies = [{"type": "reply", "reply": {"id": b.payload, "title": b.label}} for b in buttons]
            interactive = {"type": "button", "body": {"text": body}, "action": {"buttons": replies}}
            await self._post(chat_id, "interactive", interactive)
            return
        label = catalog("bn" if has_bengali(choice.text) else "en")("meta-list-button")
        for start in range(0, len(buttons), ROWS):
            rows: list[dict[str, str]] = []
            for b in buttons[start : start + ROWS]:
                row = {"id": b.payload, "title": truncate(b.label, ROW_TITLE)}
                if row["title"] != b.label:
                    row["description"] = truncate(b.label, ROW_DESCRIPTION)
                rows.append(row)
            listing = {"button": truncate(label, BUTTON_TITLE), "sections": [{"rows": rows}]}
            await self._post(chat_id, "interactive", {"type": "list", "body": {"text": body}, "action": listing})

    async def _file(self, chat_id: str, item: Image | Document) -> None:
        """Images go as images only when WhatsApp takes them unchanged in kind (JPEG/PNG <= 5 MB)."""
        as_image = isinstance(item, Image) and item.mime in IMAGE_MIMES and len(item.data) <= IMAGE_LIMIT
        if not as_image and len(item.data) > DOCUMENT_LIMIT:
            raise Refused(f"a file of {len(item.data)} bytes is over WhatsApp's document limit")
        uploaded = await self.graph.upload(
            f"{self._phone_id}/media",
            {"messaging_product": "whatsapp", "type": item.mime},
            "file",
            item.name,
            item.data,
            item.mime,
        )
        media: dict[str, Any] = {"id": str(uploaded["id"])}
        if item.caption:
            media["caption"] = truncate(item.caption, CAPTION_LIMIT)
        if not as_image:
            media["filename"] = item.name
        await self._post(chat_id, "image" if as_image else "document", media)

    @staticmethod
    def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any, limit: int = 10_000) -> None:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > limit:
            cache.popitem(last=False)


# Parsing ----------------------------------------------------------------------------------------


def parse_message(message: dict[str, Any], contacts: dict[Any, dict[str, Any]]) -> Inbound | None:
    """One `messages[]` item -> an Inbound, or None when there is nothing to answer."""
    wamid, wa_id = message.get("id"), message.get("from")
    contact = contacts.get(wa_id) or (next(iter(contacts.values())) if len(contacts) == 1 else {})
    bsuid = contact.get("user_id") or message.get("from_user_id")
    if not isinstance(wamid, str) or not (wa_id or bsuid) or message.get("type") in IGNORED_TYPES:
        return None
    user_id = str(bsuid or wa_id)
    chat_id = str(wa_id or bsuid)
    kind, text = Kind.UNSUPPORTED, ""
    payload: str | None = None
    media: tuple[MediaRef, ...] = ()
    match message.get("type"):
        case "text":
            kind, text = Kind.TEXT, str(_dict(message.get("text")).get("body", ""))
        case "interactive":
            interactive = _dict(message.get("interactive"))
            reply = _dict(interactive.get("button_reply") or interactive.get("list_reply"))
            if reply.get("id"):
                kind, payload, text = Kind.BUTTON, str(reply["id"]), str(reply.get("title", ""))
        case "button":
            button = _dict(message.get("button"))
            kind, payload, text = Kind.BUTTON, str(button.get("payload", "")), str(button.get("text", ""))
        case "image" | "document" as media_type:
            item = _dict(message.get(media_type))
            if item.get("id"):
                kind = Kind.PHOTO if media_type == "image" else Kind.DOCUMENT
                name = item.get("filename")
                media = (MediaRef(file_id=str(item["id"]), mime=item.get("mime_type"), name=name),)
                text = str(item.get("caption", ""))
    profile = _dict(contact.get("profile"))
    try:
        received = datetime.fromtimestamp(float(message.get("timestamp") or 0) or time.time(), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        received = datetime.now(UTC)
    return Inbound(
        channel=ChannelName.WHATSAPP,
        user_id=user_id,
        chat_id=chat_id,
        event_id=wamid,
        kind=kind,
        text=text,
        payload=payload,
        media=media,
        locale_hint=_locale_hint(wa_id, bsuid),
        display_name=profile.get("name") if isinstance(profile.get("name"), str) else None,
        received_at=received,
    )


def _locale_hint(wa_id: Any, bsuid: Any) -> str | None:
    """Bengali for Bangladeshi numbers (+880), or a BSUID minted for Bangladesh ("BD.…"), until they choose."""
    if str(wa_id or "").startswith(BENGALI_PREFIX) or str(bsuid or "").startswith("BD."):
        return "bn"
    return None


def _values(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        _dict(change.get("value"))
        for entry in _dicts(payload.get("entry"))
        for change in _dicts(entry.get("changes"))
        if change.get("field") == "messages"
    ]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
