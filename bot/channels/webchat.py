"""The website's chat: the embedded default channel, served on the shared HTTP server.

A visitor is identified by a random token in an HttpOnly cookie (a malformed or missing cookie simply
starts a new visitor). Messages are POSTed as JSON (photos as multipart); the replies to a message come
back in the response, and replies produced later (render results) arrive over Server-Sent Events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from handlers.errors import ServiceUnavailable
from handlers.i18n import catalog, locale_from_hint
from handlers.model import (
    Album,
    ChatAction,
    Choice,
    Document,
    Image,
    Inbound,
    Kind,
    MediaRef,
    Progress,
    Reply,
    Text,
)
from handlers.model import Channel as ChannelName

if TYPE_CHECKING:
    from bot.channels.webchat_relay import WebChatRelay

log = logging.getLogger(__name__)

COOKIE = "nxz_visitor"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22,43}$")
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOADS_PER_MESSAGE = 10
MEDIA_CACHE_BYTES = 256 * 1024 * 1024
IMAGE_MIMES = {"image/jpeg", "image/png", "image/webp", "image/heic", "image/heif", "image/gif"}

Dispatch = Callable[[Inbound], Awaitable[list[Reply]]]
LocaleLookup = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class _Stored:
    visitor: str
    mime: str
    name: str
    data: bytes


class _MediaCache:
    """Bytes served at /webchat/media/<id>, visible only to their visitor; oldest evicted first."""

    def __init__(self, limit_bytes: int) -> None:
        self._items: OrderedDict[str, _Stored] = OrderedDict()
        self._bytes = 0
        self._limit = limit_bytes

    def put(self, item: _Stored) -> str:
        key = secrets.token_urlsafe(16)
        self._items[key] = item
        self._bytes += len(item.data)
        while self._bytes > self._limit and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._bytes -= len(old.data)
        return key

    def get(self, key: str) -> _Stored | None:
        return self._items.get(key)

    def pop(self, key: str) -> _Stored | None:
        item = self._items.pop(key, None)
        if item:
            self._bytes -= len(item.data)
        return item

    def forget_visitor(self, visitor: str) -> None:
        for key in [k for k, v in self._items.items() if v.visitor == visitor]:
            self.pop(key)


class WebChat:
    name = "web"

    def __init__(
        self,
        dispatch: Dispatch,
        locale_of: LocaleLookup,
        *,
        secure_cookie: bool = False,
        relay: WebChatRelay | None = None,
    ) -> None:
        self._dispatch = dispatch
        self._locale_of = locale_of
        self._secure_cookie = secure_cookie
        self._media = _MediaCache(MEDIA_CACHE_BYTES)
        self._uploads = _MediaCache(MEDIA_CACHE_BYTES)
        self._listeners: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        # With REDIS_URL (bot/channels/webchat_relay.py): uploads, result files and late replies go through
        # Redis, so render workers in other processes can fetch and send. Not started in a worker process.
        self._relay = relay
        self._background: set[asyncio.Task[None]] = set()

    # Channel protocol ---------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.page)
        app.router.add_get("/webchat/app.js", self.script)
        app.router.add_post("/webchat/messages", self.message)
        app.router.add_post("/webchat/photos", self.photos)
        app.router.add_get("/webchat/events", self.events)
        app.router.add_get("/webchat/media/{key}", self.media)

    async def start(self) -> None:
        if self._relay is not None:
            await self._relay.start(self._push, lambda: self._listeners.keys())

    async def stop(self) -> None:
        if self._relay is not None:
            await self._relay.stop()
        for queues in self._listeners.values():
            for queue in queues:
                queue.put_nowait({"type": "bye"})

    async def send(self, chat_id: str, replies: Sequence[Reply]) -> None:
        if self._relay is not None:  # to whichever front process the visitor is connected to
            from bot.channels.webchat_relay import RelayedFile

            files: list[tuple[str, RelayedFile]] = []

            def stash(item: _Stored) -> str:
                files.append((key := self._relay_key(), RelayedFile(item.visitor, item.mime, item.name, item.data)))
                return key

            payload = [self._serialize(chat_id, r, stash) for r in replies]
            await self._relay.publish(chat_id, {"type": "replies", "replies": payload}, files)
            return
        self._push(chat_id, {"type": "replies", "replies": [self._serialize(chat_id, r) for r in replies]})

    def _push(self, chat_id: str, item: dict[str, Any]) -> None:
        for queue in self._listeners.get(chat_id, set()):
            queue.put_nowait(item)

    def _relay_key(self) -> str:
        return secrets.token_urlsafe(16)

    async def fetch_media(self, file_id: str) -> bytes:
        if self._relay is not None:
            from bot.channels.base import MediaUnavailable

            found = await self._relay.get_file("upload", file_id)
            if found is None:
                raise MediaUnavailable(f"web upload {file_id} expired or unknown")
            return found.data
        item = self._uploads.get(file_id)
        if item is None:
            raise FileNotFoundError(file_id)
        return item.data

    # HTTP ---------------------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        visitor, fresh = self._visitor(request)
        lang = (await self._locale_of(visitor)) if not fresh else None
        lang = lang or locale_from_hint(_accept_language(request))
        t = catalog(lang)
        strings: dict[str, str | bool] = {
            key: t(f"web-{key}") for key in ("title", "placeholder", "send", "photo", "offline", "you", "bot")
        }
        strings["fresh"] = fresh  # a first visit opens with the welcome, as /start does on the platforms
        html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        html = html.replace("{{lang}}", lang).replace("{{title}}", _escape_html(str(strings["title"])))
        html = html.replace("{{strings}}", _escape_json_for_html(strings))
        response = web.Response(text=html, content_type="text/html", charset="utf-8")
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' blob:; style-src 'self' 'unsafe-inline'; script-src 'self'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        self._remember(response, visitor, fresh)
        return response

    async def script(self, _request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "app.js", headers={"Content-Type": "text/javascript; charset=utf-8"})

    async def message(self, request: web.Request) -> web.Response:
        visitor, fresh = self._visitor(request)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return web.json_response({"error": "expected a JSON object"}, status=400)
        text = body.get("text") if isinstance(body.get("text"), str) else ""
        payload = body.get("payload") if isinstance(body.get("payload"), str) else None
        kind = Kind.BUTTON if payload else Kind.TEXT
        event = self._event(request, visitor, kind, body.get("id"), text=text or "", payload=payload)
        try:
            replies = await self._dispatch(event)
        except ServiceUnavailable:
            return self._unavailable(request, visitor, fresh)
        response = web.json_response({"replies": [self._serialize(visitor, r) for r in replies]})
        self._remember(response, visitor, fresh)
        return response

    def _unavailable(self, request: web.Request, visitor: str, fresh: bool) -> web.Response:
        """Nothing was recorded: say so (503), and the visitor sends again; nothing was charged."""
        text = catalog(locale_from_hint(_accept_language(request)))("error-unavailable")
        response = web.json_response({"replies": [{"type": "text", "text": text}]}, status=503)
        self._remember(response, visitor, fresh)
        return response

    async def photos(self, request: web.Request) -> web.Response:
        visitor, fresh = self._visitor(request)
        if not request.content_type.startswith("multipart/"):
            return web.json_response({"error": "expected multipart/form-data"}, status=400)
        reader = await request.multipart()
        refs: list[MediaRef] = []
        message_id: str | None = None
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "id":
                message_id = (await part.text())[:64]
                continue
            if part.name != "photo" or len(refs) >= MAX_UPLOADS_PER_MESSAGE:
                await part.release()
                continue
            data = await _read_capped(part, MAX_UPLOAD_BYTES)
            mime = (part.headers.get("Content-Type") or "application/octet-stream").split(";")[0].strip().lower()
            if data is None:  # the handler sees the oversized size and answers in the user's language
                refs.append(MediaRef(file_id="", mime=mime, size=MAX_UPLOAD_BYTES + 1, name=part.filename))
                continue
            if self._relay is not None:
                from bot.channels.webchat_relay import RelayedFile

                key = await self._relay.put_file("upload", RelayedFile(visitor, mime, "upload", data))
            else:
                key = self._uploads.put(_Stored(visitor, mime, "upload", data))
            refs.append(MediaRef(file_id=key, mime=mime, size=len(data), name=part.filename))
        if not refs:
            return web.json_response({"error": "no photo in the form"}, status=400)
        album = uuid.uuid4().hex if len(refs) > 1 else None
        replies: list[dict[str, Any]] = []
        for index, ref in enumerate(refs):
            kind = Kind.ALBUM_ITEM if album else (Kind.PHOTO if ref.mime in IMAGE_MIMES else Kind.DOCUMENT)
            event_id = f"{message_id}-{index}" if message_id else None
            event = self._event(request, visitor, kind, event_id, media=(ref,), album_key=album)
            try:
                replies.extend(self._serialize(visitor, r) for r in await self._dispatch(event))
            except ServiceUnavailable:
                return self._unavailable(request, visitor, fresh)
        response = web.json_response({"replies": replies})
        self._remember(response, visitor, fresh)
        return response

    async def events(self, request: web.Request) -> web.StreamResponse:
        visitor, fresh = self._visitor(request)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        self._remember(response, visitor, fresh)
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

    async def media(self, request: web.Request) -> web.Response:
        visitor, _ = self._visitor(request)
        item = self._media.get(request.match_info["key"])
        if item is None and self._relay is not None:
            found = await self._relay.get_file("media", request.match_info["key"])
            item = _Stored(found.visitor, found.mime, found.name, found.data) if found else None
        if item is None or item.visitor != visitor:
            raise web.HTTPNotFound()
        disposition = "inline" if item.mime.startswith("image/") else "attachment"
        return web.Response(
            body=item.data,
            content_type=item.mime,
            headers={"Content-Disposition": f'{disposition}; filename="{item.name}"', "Cache-Control": "private"},
        )

    # Helpers ------------------------------------------------------------------------------------

    def _visitor(self, request: web.Request) -> tuple[str, bool]:
        token = request.cookies.get(COOKIE, "")
        if _TOKEN.match(token):
            return token, False
        return secrets.token_urlsafe(16), True

    def _remember(self, response: web.StreamResponse, visitor: str, fresh: bool) -> None:
        if fresh:
            response.set_cookie(
                COOKIE, visitor, max_age=365 * 24 * 3600, httponly=True, samesite="Lax", secure=self._secure_cookie
            )

    def _event(
        self,
        request: web.Request,
        visitor: str,
        kind: Kind,
        message_id: object,
        *,
        text: str = "",
        payload: str | None = None,
        media: tuple[MediaRef, ...] = (),
        album_key: str | None = None,
    ) -> Inbound:
        # The page sends its own id per message, so a retried POST is recognised as the same message.
        event_id = message_id if isinstance(message_id, str) and _MESSAGE_ID.match(message_id) else uuid.uuid4().hex
        return Inbound(
            channel=ChannelName.WEB,
            user_id=visitor,
            chat_id=visitor,
            event_id=f"{visitor}:{event_id}",
            kind=kind,
            text=text,
            payload=payload,
            media=media,
            album_key=album_key,
            locale_hint=_accept_language(request),
        )

    def _serialize(self, visitor: str, reply: Reply, stash: Callable[[_Stored], str] | None = None) -> dict[str, Any]:
        stash = stash or self._media.put
        match reply:
            case Text():
                return {"type": "text", "text": reply.text}
            case Choice():
                buttons = [{"label": b.label, "payload": b.payload} for b in reply.buttons]
                return {"type": "choice", "text": reply.text, "buttons": buttons}
            case Image() | Document():
                key = stash(_Stored(visitor, reply.mime, _safe_name(reply.name), reply.data))
                return {
                    "type": "image" if isinstance(reply, Image) else "document",
                    "url": f"/webchat/media/{key}",
                    "name": _safe_name(reply.name),
                    "mime": reply.mime,
                    "caption": reply.caption,
                }
            case Album():
                return {"type": "album", "items": [self._serialize(visitor, item, stash) for item in reply.items]}
            case Progress():
                return {"type": "progress", "key": reply.key, "text": reply.text}
            case ChatAction():
                return {"type": "action", "action": reply.action}
        raise TypeError(f"unknown reply {reply!r}")

    def forget_visitor(self, visitor: str) -> None:
        """Drop everything held in memory for a visitor (their /delete)."""
        self._media.forget_visitor(visitor)
        self._uploads.forget_visitor(visitor)
        if self._relay is not None:  # and what Redis holds for them (it expires within the hour anyway)
            with contextlib.suppress(RuntimeError):  # no running loop: nothing async to schedule
                task = asyncio.get_running_loop().create_task(self._relay.forget_visitor(visitor))
                self._background.add(task)
                task.add_done_callback(self._background.discard)


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


def _accept_language(request: web.Request) -> str | None:
    header = request.headers.get("Accept-Language", "")
    first = header.split(",")[0].split(";")[0].strip()
    return first or None


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80] or "file"


def _escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _escape_json_for_html(value: object) -> str:
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
