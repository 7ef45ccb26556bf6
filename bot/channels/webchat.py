"""The website's chat: the embedded default channel, served on the shared HTTP server.

A visitor is identified by a random token in an HttpOnly cookie (a malformed or missing cookie simply
starts a new visitor). Messages are POSTed as JSON (photos as multipart) with the page's own id: the
answer is kept with that id, so a retried POST gets the first answer back and is never handled (or
charged) twice. Replies produced later (render results) are kept the same way and pushed over
Server-Sent Events; a page that was away asks for what it missed (`/webchat/history?after=`).
Everything kept lives in the database and the blob store (bot/channels/webchat_store.py), so a restart
or another front process serves the same conversation and files.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import BodyPartReader, web

from bot.channels.base import ChannelError, Refused, Unavailable
from bot.channels.webchat_relay import Push
from bot.channels.webchat_store import WebChatStore, transient
from bot.channels.webchat_views import accept_language, add_view_routes
from handlers.errors import ServiceUnavailable
from handlers.i18n import catalog, locale_from_hint
from handlers.model import Channel as ChannelName
from handlers.model import Choice, Inbound, Kind, MediaRef, Reply, Text

log = logging.getLogger(__name__)

COOKIE = "nxz_visitor"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22,43}$")
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOADS_PER_MESSAGE = 20
IMAGE_MIMES = {"image/jpeg", "image/png", "image/webp", "image/heic", "image/heif", "image/gif"}

Dispatch = Callable[[Inbound], Awaitable[list[Reply]]]
LocaleLookup = Callable[[str], Awaitable[str | None]]


class WebChat:
    name = "web"

    def __init__(
        self,
        dispatch: Dispatch,
        locale_of: LocaleLookup,
        store: WebChatStore,
        push: Push,
        *,
        secure_cookie: bool = False,
    ) -> None:
        self._dispatch = dispatch
        self.locale_of = locale_of
        self._secure_cookie = secure_cookie
        self.store = store
        self._push = push
        self._listeners: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}

    # Channel protocol ---------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/webchat/messages", self.message)
        app.router.add_post("/webchat/photos", self.photos)
        app.router.add_get("/webchat/events", self.events)
        add_view_routes(app, self)

    async def start(self) -> None:
        await self._push.start(self._deliver, lambda: self._listeners.keys())

    async def stop(self) -> None:
        await self._push.stop()
        for queues in self._listeners.values():
            for queue in queues:
                queue.put_nowait({"type": "bye"})

    async def send(self, chat_id: str, replies: Sequence[Reply]) -> None:
        """Kept in the conversation = delivered (the page shows it on its next load); then pushed if open."""
        try:
            user_id = await self.store.user_id(chat_id)
            if user_id is None:
                raise Refused("the web visitor is gone (erased)")
            drawn = await self.store.serialize(user_id, replies)
            entry = 0
            if any(r["type"] != "action" for r in drawn):
                entry = await self.store.add_entry(user_id, {"replies": drawn})
        except ChannelError:
            raise
        except Exception as error:
            if transient(error):
                raise Unavailable(f"web chat storage: {type(error).__name__}", retry_after=5.0) from None
            log.exception("web chat: could not keep a reply")
            raise Refused(f"web chat: {type(error).__name__}") from None
        await self._push.publish(chat_id, {"type": "replies", "entry": entry, "replies": drawn})

    async def fetch_media(self, file_id: str) -> bytes:
        if not file_id:
            raise Refused("no upload (it was too large to accept)")
        return await self.store.fetch_upload(file_id)

    def _deliver(self, visitor: str, item: dict[str, Any]) -> None:
        for queue in self._listeners.get(visitor, set()):
            queue.put_nowait(item)

    # HTTP ---------------------------------------------------------------------------------------

    async def message(self, request: web.Request) -> web.Response:
        visitor, fresh = self.visitor(request)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return web.json_response({"error": "expected a JSON object"}, status=400)
        text = _string(body.get("text"))
        payload = _string(body.get("payload")) or None
        shown = _string(body.get("label")) if payload else text
        client_id = _client_id(body.get("id"))
        mine = None if body.get("quiet") is True else {"type": "text", "text": shown[:4096]}
        kind = Kind.BUTTON if payload else Kind.TEXT
        event = self._event(request, visitor, kind, client_id, text=text or "", payload=payload)
        return await self._answer(request, visitor, fresh, client_id, mine, [event])

    async def photos(self, request: web.Request) -> web.Response:
        visitor, fresh = self.visitor(request)
        if not request.content_type.startswith("multipart/"):
            return web.json_response({"error": "expected multipart/form-data"}, status=400)
        reader = await request.multipart()
        refs: list[MediaRef] = []
        client_id: str | None = None
        left_out = 0
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "id":
                client_id = _client_id((await part.text())[:64])
                continue
            if part.name != "photo" or len(refs) >= MAX_UPLOADS_PER_MESSAGE:
                left_out += part.name == "photo"  # answered below, never dropped silently
                await part.release()
                continue
            data = await _read_capped(part, MAX_UPLOAD_BYTES)
            if data == b"":
                continue  # an empty file field is no photo
            mime = (part.headers.get("Content-Type") or "application/octet-stream").split(";")[0].strip().lower()
            if data is None:  # the handler sees the oversized size and answers in the user's language
                refs.append(MediaRef(file_id="", mime=mime, size=MAX_UPLOAD_BYTES + 1))
                continue
            try:  # accepted = sealed in the blob store: a restart or another worker process can render it
                path = await self.store.keep_upload(data)
            except OSError:
                log.exception("web chat: the blob store refused an upload")
                return self._unavailable(request, visitor, fresh)
            refs.append(MediaRef(file_id=path, mime=mime, size=len(data)))
        if not refs:
            return web.json_response({"error": "no photo in the form"}, status=400)
        album = uuid.uuid4().hex if len(refs) > 1 else None
        events = []
        for index, ref in enumerate(refs):
            kind = Kind.ALBUM_ITEM if album else (Kind.PHOTO if ref.mime in IMAGE_MIMES else Kind.DOCUMENT)
            event_id = f"{client_id}-{index}" if client_id else None
            events.append(self._event(request, visitor, kind, event_id, media=(ref,), album_key=album))
        mine = {"type": "photos", "files": [], "left_out": left_out}
        return await self._answer(request, visitor, fresh, client_id, mine, events)

    async def _answer(
        self,
        request: web.Request,
        visitor: str,
        fresh: bool,
        client_id: str | None,
        mine: dict[str, Any] | None,
        events: list[Inbound],
    ) -> web.Response:
        """Dispatch the message's events once, keep the turn, answer; a repeated client id gets the first answer."""
        uploads = _uploads(events)
        try:
            user_id = None if fresh else await self.store.user_id(visitor)
            kept = await self.store.answered(user_id, client_id) if user_id and client_id else None
        except Exception as error:
            if not transient(error):
                raise
            return self._unavailable(request, visitor, fresh, uploads)
        if kept is not None:  # a retry of a message already handled: nothing is done (or charged) again
            for path, _, _ in uploads:
                await self.store.drop_upload(path)
            return self._json(
                {"replies": kept.get("replies", []), "me": kept.get("me"), "entry": kept["entry"], "repeat": True},
                visitor,
                fresh,
            )
        replies: list[Reply] = []
        for done, event in enumerate(events):
            try:
                replies.extend(await self._dispatch(event))
            except ServiceUnavailable:  # the rest was not recorded: its uploads go, the page sends again
                return self._unavailable(request, visitor, fresh, _uploads(events[done:]))
        user_id = await self.store.user_id(visitor)
        if user_id is None:  # erased by this very message (/delete), or rate limited before it existed
            for path, _, _ in uploads:
                await self.store.drop_upload(path)
            plain = [{"type": "text", "text": r.text} for r in replies if isinstance(r, Text | Choice)]
            return self._json({"replies": plain}, visitor, fresh)
        if mine is not None and mine["type"] == "photos":
            mine["files"] = await self.store.record_uploads(user_id, uploads)
            if left_out := mine.pop("left_out", 0):
                t = catalog(await self.locale_of(visitor) or "en")
                replies.append(Text(text=t("photo-too-many", limit=MAX_UPLOADS_PER_MESSAGE, left=left_out)))
        drawn = await self.store.serialize(user_id, replies)
        turn: dict[str, Any] = {"me": mine, "replies": drawn}
        entry = await self.store.add_entry(user_id, turn, client_id)
        if client_id and entry:  # the same id sent twice at once: both answer with the turn that was kept
            turn = await self.store.answered(user_id, client_id) or turn
        return self._json({**turn, "entry": entry}, visitor, fresh)

    def _json(self, body: dict[str, Any], visitor: str, fresh: bool) -> web.Response:
        response = web.json_response(body)
        self.remember(response, visitor, fresh)
        return response

    def _unavailable(
        self, request: web.Request, visitor: str, fresh: bool, uploads: Sequence[tuple[str, str, int]] = ()
    ) -> web.Response:
        """Nothing was recorded: say so (503), and the page sends again; nothing was charged."""
        for path, _, _ in uploads:
            self.store.blobs.delete(path)
        text = catalog(locale_from_hint(accept_language(request)))("error-unavailable")
        response = web.json_response({"replies": [{"type": "text", "text": text}]}, status=503)
        self.remember(response, visitor, fresh)
        return response

    async def events(self, request: web.Request) -> web.StreamResponse:
        visitor, fresh = self.visitor(request)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        self.remember(response, visitor, fresh)
        await response.prepare(request)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._listeners.setdefault(visitor, set()).add(queue)
        try:
            await response.write(b": connected\n\n")
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if item.get("type") == "bye":
                    break
                await response.write(f"data: {json.dumps(item, ensure_ascii=False)}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._listeners[visitor].discard(queue)
            if not self._listeners[visitor]:
                del self._listeners[visitor]
        return response

    # Helpers ------------------------------------------------------------------------------------

    def visitor(self, request: web.Request) -> tuple[str, bool]:
        token = request.cookies.get(COOKIE, "")
        if _TOKEN.match(token):
            return token, False
        return secrets.token_urlsafe(16), True

    def remember(self, response: web.StreamResponse, visitor: str, fresh: bool) -> None:
        if fresh:
            response.set_cookie(
                COOKIE, visitor, max_age=365 * 24 * 3600, httponly=True, samesite="Lax", secure=self._secure_cookie
            )

    def _event(
        self,
        request: web.Request,
        visitor: str,
        kind: Kind,
        message_id: str | None,
        *,
        text: str = "",
        payload: str | None = None,
        media: tuple[MediaRef, ...] = (),
        album_key: str | None = None,
    ) -> Inbound:
        return Inbound(
            channel=ChannelName.WEB,
            user_id=visitor,
            chat_id=visitor,
            event_id=f"{visitor}:{message_id or uuid.uuid4().hex}",
            kind=kind,
            text=text,
            payload=payload,
            media=media,
            album_key=album_key,
            locale_hint=accept_language(request),
        )


def _uploads(events: Sequence[Inbound]) -> list[tuple[str, str, int]]:
    """(blob path, mime, bytes) of the photos these events carry (an oversized one was never stored)."""
    return [(m.file_id, m.mime or "", m.size or 0) for e in events for m in e.media if m.file_id]


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _client_id(value: object) -> str | None:
    return value if isinstance(value, str) and _MESSAGE_ID.match(value) else None


async def _read_capped(part: Any, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(256 * 1024):
        size += len(chunk)
        if size > limit:
            while await part.read_chunk(256 * 1024):
                pass  # drain the rest so the next part can be read
            return None
        chunks.append(chunk)
    return b"".join(chunks)
