"""Facebook Messenger: page webhooks in, the Send API out (httpx, no SDK).

People are PSIDs (page-scoped ids), which are also the chat ids. Buttons: up to 13 become quick replies
(titles cut to 20 characters); more than 13 go out as button templates of 3, which stay tappable in the
conversation. `m.me/<page>?ref=<code>` arrives as a referral (on a postback for a new conversation, alone
for an existing one) and is dispatched as "/start <code>", so the /start handler redeems the giveaway code.
Payload shapes: tests/specs/meta-examples/messenger_webhook_examples.json.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from aiohttp import web

from bot import http_client, logs
from bot.channels.base import MediaUnavailable, Refused
from bot.channels.meta import (
    GraphError,
    MetaChannel,
    contract_error,
    download_capped,
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
from storage import users

log = logging.getLogger(__name__)

TEXT_LIMIT = 2000
TEMPLATE_TEXT_LIMIT = 640
QUICK_REPLIES, QUICK_REPLY_TITLE = 13, 20
TEMPLATE_BUTTONS, TEMPLATE_TITLE = 3, 20
ATTACHMENT_LIMIT = 25 * 1024 * 1024
GET_STARTED = "GET_STARTED"
MENU_PREFIX = "cmd:"  # persistent-menu postbacks: "cmd:help" is dispatched as the text "/help"
MENU = (("help", "meta-menu-help"), ("credits", "meta-menu-credits"), ("history", "meta-menu-history"))
PROFILE_LOCALES = (("default", "en"), ("bn_IN", "bn"))  # Facebook's Bengali locale
_REF = re.compile(r"^[A-Za-z0-9_\-+/=:.\u0980-\u09ff]{1,64}$")


class MessengerChannel(MetaChannel):
    name = "messenger"

    def __init__(self, settings: Settings, dispatcher: Dispatcher, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(
            settings,
            dispatcher,
            token=settings.messenger_page_access_token,
            verify_token=settings.messenger_verify_token,
            clock=clock,
        )
        self._cdn: httpx.AsyncClient | None = None

    # Channel protocol ---------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self.graph.post("me/messenger_profile", profile())
        except GraphError as error:  # the bot still works without its menu; say so and go on
            log.warning("messenger profile (menu, get started, greeting) not set: %s", error)

    async def stop(self) -> None:
        await super().stop()
        if self._cdn is not None:
            await self._cdn.aclose()
            self._cdn = None

    async def send(self, chat_id: str, replies: Sequence[Reply]) -> None:
        if not self.window.is_open(chat_id):
            log.info(
                "messenger %s: outside the 24-hour window, %d replies not sent", logs.pseudonym(chat_id), len(replies)
            )
            raise Refused("outside the 24-hour window: the user last wrote more than 24 hours ago")
        await self.deliver(chat_id, replies)

    async def on_unreachable(self, chat_id: str) -> None:
        async with self._dispatcher.services.db.transaction() as session:
            await users.mark_unreachable(session, users.Identity(self.name, chat_id))

    async def fetch_media(self, file_id: str) -> bytes:
        """`file_id` is the attachment URL (it expires; a 403/404 means it is gone)."""
        if not file_id.startswith(("https://", "http://")):
            raise MediaUnavailable("not an attachment URL")
        if self._cdn is None:
            self._cdn = http_client.async_client(timeout=30, follow_redirects=True)
        try:
            return await download_capped(self._cdn, file_id)
        except Exception as exc:  # the channel contract: MediaUnavailable (expired, too large) or Unavailable
            raise contract_error(exc, media=True) from None

    # Webhooks -----------------------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        payload = await signed_payload(request, self._settings.messenger_app_secret, self.name)
        if isinstance(payload, web.Response):
            return payload
        for entry in _dicts(payload.get("entry")):
            page = str(entry.get("id") or "")  # mids are keyed by the page that received them
            for item in _dicts(entry.get("messaging")):
                for event in parse_messaging(item):
                    event = dataclasses.replace(event, bot_id=page)
                    self.window.touch(event.chat_id, event.received_at.timestamp())
                    replies = await self._dispatcher.dispatch(event)
                    if replies:  # [] for a redelivery: it was answered the first time
                        self.outbox.submit(event.chat_id, self._answer(event.chat_id, replies))
        return web.Response(text="ok")

    def _answer(self, chat_id: str, replies: list[Reply]) -> Callable[[], Any]:
        async def work() -> None:
            await self._action(chat_id, "mark_seen")
            await self.send(chat_id, replies)

        return work

    # Sending ------------------------------------------------------------------------------------

    async def _message(self, chat_id: str, message: dict[str, Any]) -> None:
        payload = {"recipient": {"id": chat_id}, "messaging_type": "RESPONSE", "message": message}
        await self.graph.post("me/messages", payload)

    async def _action(self, chat_id: str, action: str) -> None:
        await self.graph.post("me/messages", {"recipient": {"id": chat_id}, "sender_action": action})

    async def send_text(self, chat_id: str, text: Text) -> None:
        for chunk in split_text(text.text, TEXT_LIMIT):
            await self._message(chat_id, {"text": chunk})

    async def show_activity(self, chat_id: str) -> None:
        await self._action(chat_id, "typing_on")

    async def _choice(self, chat_id: str, choice: Choice) -> None:
        *before, last = split_text(choice.text or "…", TEXT_LIMIT)
        for chunk in before:
            await self._message(chat_id, {"text": chunk})
        buttons = choice.buttons
        if len(buttons) <= QUICK_REPLIES:
            quick = [
                {"content_type": "text", "title": truncate(b.label, QUICK_REPLY_TITLE), "payload": b.payload}
                for b in buttons
            ]
            await self._message(chat_id, {"text": last, **({"quick_replies": quick} if quick else {})})
            return
        await self._message(chat_id, {"text": last})
        more = catalog("bn" if has_bengali(choice.text) else "en")("meta-more-options")
        for start in range(0, len(buttons), TEMPLATE_BUTTONS):
            group = [
                {"type": "postback", "title": truncate(b.label, TEMPLATE_TITLE), "payload": b.payload}
                for b in buttons[start : start + TEMPLATE_BUTTONS]
            ]
            template = {"template_type": "button", "text": truncate(more, TEMPLATE_TEXT_LIMIT), "buttons": group}
            await self._message(chat_id, {"attachment": {"type": "template", "payload": template}})

    async def _file(self, chat_id: str, item: Image | Document) -> None:
        if len(item.data) > ATTACHMENT_LIMIT:
            raise Refused(f"a file of {len(item.data)} bytes is over Messenger's attachment limit")
        kind = "image" if isinstance(item, Image) and item.mime.startswith("image/") else "file"
        attachment = {"type": kind, "payload": {"is_reusable": False}}
        uploaded = await self.graph.upload(
            "me/message_attachments",
            {"message": json.dumps({"attachment": attachment})},
            "filedata",
            item.name,
            item.data,
            item.mime,
        )
        await self._message(
            chat_id, {"attachment": {"type": kind, "payload": {"attachment_id": str(uploaded["attachment_id"])}}}
        )
        if item.caption:  # attachments carry no caption on Messenger
            await self.send_text(chat_id, Text(text=item.caption))


# The page's profile -----------------------------------------------------------------------------


def profile() -> dict[str, Any]:
    """Get Started button, greeting and persistent menu, in English (default) and Bengali."""
    greeting, menus = [], []
    for fb_locale, lang in PROFILE_LOCALES:
        t = catalog(lang)
        greeting.append({"locale": fb_locale, "text": truncate(t("meta-greeting"), 160)})
        actions = [
            {"type": "postback", "title": truncate(t(key), 30), "payload": MENU_PREFIX + command}
            for command, key in MENU
        ]
        actions.append({"type": "postback", "title": truncate(t("meta-menu-language"), 30), "payload": "cmd:lang"})
        menus.append({"locale": fb_locale, "composer_input_disabled": False, "call_to_actions": actions})
    return {"get_started": {"payload": GET_STARTED}, "greeting": greeting, "persistent_menu": menus}


# Parsing ----------------------------------------------------------------------------------------


def parse_messaging(item: dict[str, Any]) -> list[Inbound]:
    """One `messaging[]` item -> the events to dispatch (none for echoes, deliveries and reads)."""
    sender = str(_dict(item.get("sender")).get("id") or "")
    if not sender:
        return []
    # An id for an event Meta sends without one (a referral, older postbacks): the PSID only as its keyed
    # pseudonym, since the event id is logged with every line of the event.
    stamp = item.get("timestamp")
    sent_by = f"{logs.pseudonym(sender)}:{stamp}"
    try:
        received = datetime.fromtimestamp(float(stamp) / 1000, UTC) if stamp else datetime.now(UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        received = datetime.now(UTC)

    def event(event_id: str, kind: Kind, **fields: Any) -> Inbound:
        return Inbound(
            channel=ChannelName.MESSENGER,
            user_id=sender,
            chat_id=sender,
            event_id=event_id,
            kind=kind,
            received_at=received,
            **fields,
        )

    message = _dict(item.get("message"))
    if message:
        mid = str(message.get("mid") or f"message:{sent_by}")
        if message.get("is_echo"):
            return []
        quick = _dict(message.get("quick_reply")).get("payload")
        if isinstance(quick, str) and quick:
            return [_postback_event(event, mid, quick, str(message.get("text", "")))]
        attachments = _dicts(message.get("attachments"))
        images = [a for a in attachments if a.get("type") == "image" and not _dict(a.get("payload")).get("sticker_id")]
        files = [a for a in attachments if a.get("type") == "file"]
        if images or files:
            refs = [_media(a) for a in images + files]
            if len(refs) == 1:
                kind = Kind.PHOTO if images else Kind.DOCUMENT
                return [event(mid, kind, media=(refs[0],), text=str(message.get("text", "")))]
            return [event(f"{mid}#{i}", Kind.ALBUM_ITEM, media=(ref,), album_key=mid) for i, ref in enumerate(refs)]
        if isinstance(message.get("text"), str):
            return [event(mid, Kind.TEXT, text=message["text"])]
        return [event(mid, Kind.UNSUPPORTED)]
    postback = _dict(item.get("postback"))
    if postback:
        mid = str(postback.get("mid") or f"postback:{sent_by}")
        ref = _dict(postback.get("referral")).get("ref")
        if _valid_ref(ref):
            return [event(mid, Kind.TEXT, text=f"/start {ref}")]
        return [_postback_event(event, mid, str(postback.get("payload", "")), str(postback.get("title", "")))]
    ref = _dict(item.get("referral")).get("ref")
    if _valid_ref(ref):
        return [event(f"referral:{sent_by}", Kind.TEXT, text=f"/start {ref}")]
    return []


def _postback_event(event: Callable[..., Inbound], mid: str, payload: str, title: str) -> Inbound:
    if payload == GET_STARTED:
        return event(mid, Kind.TEXT, text="/start")
    if payload.startswith(MENU_PREFIX):
        return event(mid, Kind.TEXT, text="/" + payload.removeprefix(MENU_PREFIX))
    return event(mid, Kind.BUTTON, payload=payload, text=title)


def _media(attachment: dict[str, Any]) -> MediaRef:
    payload = _dict(attachment.get("payload"))
    # Messenger declares neither type nor size: the download is capped and the bytes tell the type.
    return MediaRef(file_id=str(payload.get("url", "")), name=payload.get("title"))


def _valid_ref(ref: Any) -> bool:
    return isinstance(ref, str) and bool(_REF.match(ref))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
