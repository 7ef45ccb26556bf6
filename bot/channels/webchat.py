"""The website's chat: the embedded default channel, served on the shared HTTP server.

A visitor is identified by a server-issued secret in an HttpOnly cookie; only its keyed hash names the
visitor anywhere else (bot/channels/webchat_identity.py). POSTs from another site's page are refused (403),
and photo forms are read within limits while they stream (bot/channels/webchat_uploads.py).
Messages are POSTed as JSON (photos as multipart) with the page's own id: the
answer is kept with that id, so a retried POST gets the first answer back and is never handled (or
charged) twice. Replies produced later (render results) are kept the same way; the page's event stream
(Server-Sent Events) starts with every turn kept after the last one the page has and then follows new ones,
so a page that was away, or whose connection dropped, misses nothing (see `events`). A turn itself is not
pushed (its page has the POST's answer; another tab gets it with the next push): reading it back cost about a
quarter of a message's time (bench/webchat_turns.py). A turn's place is taken
before its message is handled, so what the handling pushes meanwhile comes after it.
Everything kept lives in the database and the blob store (bot/channels/webchat_store.py), so a restart
or another front process serves the same conversation and files.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from bot.channels.base import ChannelError, Refused, Unavailable
from bot.channels.webchat_identity import COOKIE, Visitor, WebIdentity
from bot.channels.webchat_relay import Push
from bot.channels.webchat_store import TurnKeeper, WebChatStore, transient
from bot.channels.webchat_uploads import MAX_UPLOAD_BYTES, MAX_UPLOADS_PER_MESSAGE, FormRefused, read_photo_form
from bot.channels.webchat_views import accept_language, add_view_routes
from handlers.errors import ServiceUnavailable
from handlers.i18n import catalog, locale_from_hint
from handlers.model import Channel as ChannelName
from handlers.model import Choice, Inbound, Kind, MediaRef, Reply, Text
from storage.limits import RateLimiter

log = logging.getLogger(__name__)

__all__ = ["COOKIE", "MAX_UPLOADS_PER_MESSAGE", "MAX_UPLOAD_BYTES", "WebChat"]
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
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
        identity: WebIdentity,
        limiter: RateLimiter | None = None,
        new_visitors_per_hour: int = 60,
    ) -> None:
        self._dispatch = dispatch
        self._limiter = limiter
        self._new_visitors_per_hour = new_visitors_per_hour
        self.locale_of = locale_of
        self.identity = identity
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
            kept = await self.store.keep_replies(chat_id, replies)
            if kept is None:
                raise Refused("the web visitor is gone (erased)")
            entry, drawn = kept
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
        if not self.identity.same_origin(request):
            return self._cross_site(request)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return web.json_response({"error": "expected a JSON object"}, status=400)
        client_id = _client_id(body.get("id"))
        visitor = await self.visitor(request, message_id=client_id)  # one read: the cookie, and a retry's turn
        text = _string(body.get("text"))
        payload = _string(body.get("payload")) or None
        shown = _string(body.get("label")) if payload else text
        mine = None if body.get("quiet") is True else {"type": "text", "text": shown[:4096]}
        kind = Kind.BUTTON if payload else Kind.TEXT
        event = self._event(request, visitor, kind, client_id, text=text or "", payload=payload)
        return await self._answer(request, visitor, client_id, mine, [event])

    async def photos(self, request: web.Request) -> web.Response:
        if not self.identity.same_origin(request):
            return self._cross_site(request)
        visitor = await self.visitor(request)
        if not request.content_type.startswith("multipart/"):
            return web.json_response({"error": "expected multipart/form-data"}, status=400)
        try:  # every limit is checked while the form streams, before anything is kept
            form = await read_photo_form(request)
        except FormRefused as refused:
            t = catalog(await self._locale(request, visitor))
            body = {"replies": [{"type": "text", "text": t(refused.key, limit=refused.limit)}]}
            return self._json(request, body, visitor, status=413)
        refs: list[MediaRef] = []
        for photo in form.photos:
            if photo.data is None:  # the handler sees the oversized size and answers in the user's language
                refs.append(MediaRef(file_id="", mime=photo.mime, size=photo.size))
                continue
            try:  # accepted = sealed in the blob store: a restart or another worker process can render it
                path = await self.store.keep_upload(photo.data)
            except OSError:
                log.exception("web chat: the blob store refused an upload")
                return self._unavailable(request, visitor, _uploads_of(refs))
            refs.append(MediaRef(file_id=path, mime=photo.mime, size=photo.size))
        if not refs:
            return web.json_response({"error": "no photo in the form"}, status=400)
        client_id = _client_id(form.client_id)
        album = uuid.uuid4().hex if len(refs) > 1 else None
        events = []
        for index, ref in enumerate(refs):
            kind = Kind.ALBUM_ITEM if album else (Kind.PHOTO if ref.mime in IMAGE_MIMES else Kind.DOCUMENT)
            event_id = f"{client_id}-{index}" if client_id else None
            events.append(self._event(request, visitor, kind, event_id, media=(ref,), album_key=album))
        mine = {"type": "photos", "files": [], "left_out": form.left_out}
        return await self._answer(request, visitor, client_id, mine, events)

    async def _answer(
        self,
        request: web.Request,
        visitor: Visitor,
        client_id: str | None,
        mine: dict[str, Any] | None,
        events: list[Inbound],
    ) -> web.Response:
        """Dispatch the message's events once, keep the turn, answer; a repeated client id gets the first answer."""
        uploads = _uploads(events)
        try:
            user_id = None if visitor.fresh else visitor.user_id or await self.store.user_id(visitor.id)
            if client_id and visitor.turn_checked == client_id:  # the cookie check's read looked already
                kept = visitor.kept_turn
            else:
                kept = await self.store.answered(user_id, client_id) if user_id and client_id else None
        except Exception as error:
            if not transient(error):
                raise
            return self._unavailable(request, visitor, uploads)
        if user_id is None and kept is None and not await self._may_start_visitor(request):
            for path, _, _ in uploads:
                await self.store.drop_upload(path)
            t = catalog(locale_from_hint(accept_language(request)))
            return self._json(
                request, {"replies": [{"type": "text", "text": t("web-too-many-visitors")}]}, visitor, 429
            )
        if kept is not None:  # a retry of a message already handled: nothing is done (or charged) again
            for path, _, _ in uploads:
                await self.store.drop_upload(path)
            body = {"replies": kept.get("replies", []), "me": kept.get("me"), "entry": kept["entry"], "repeat": True}
            return self._json(request, body, visitor)
        reserved = user_id if user_id and client_id and self._starts_work(events) else None
        try:  # the turn's place comes first: what its handling pushes meanwhile is drawn after it, on any reload
            if reserved and client_id:
                await self.store.reserve(reserved, client_id)
        except Exception as error:
            if not transient(error):
                raise
            return self._unavailable(request, visitor, uploads)
        left_out = mine.pop("left_out", 0) if mine is not None and mine["type"] == "photos" else 0
        keeper = TurnKeeper(self.store, visitor.id, mine, uploads, client_id)
        if len(events) == 1 and not left_out:  # (an album's turn holds every photo's replies: kept after them)
            events = [dataclasses.replace(events[0], within=keeper.within)]
        replies: list[Reply] = []
        for done, event in enumerate(events):
            try:
                replies.extend(await self._dispatch(event))
            except ServiceUnavailable:  # the rest was not recorded: its uploads go, the page sends again
                await self._give_up_place(reserved, client_id)
                return self._unavailable(request, visitor, _uploads(events[done:]))
        existed = user_id is not None
        if left_out:
            t = catalog(await self.locale_of(visitor.id) or "en")
            replies.append(Text(text=t("photo-too-many", limit=MAX_UPLOADS_PER_MESSAGE, left=left_out)))
        turn_kept = await keeper.kept_after(replies)
        if turn_kept is None:  # erased by this very message (/delete), or rate limited before it existed
            for path, _, _ in uploads:
                await self.store.drop_upload(path)
            plain = [{"type": "text", "text": r.text} for r in replies if isinstance(r, Text | Choice)]
            if existed:  # erased: the secret rotates, the old cookie reaches nothing any more
                visitor = self.identity.issue()
            return self._json(request, {"replies": plain}, visitor)
        entry, turn = turn_kept
        return self._json(request, {**turn, "entry": entry}, visitor)

    @staticmethod
    def _starts_work(events: Sequence[Inbound]) -> bool:
        """Photos and buttons (another style or size) start jobs whose workers push replies while the message
        is still being handled; their turn takes its place first. A text message has no such race and is not
        worth the extra write (bench/webchat_turns.py)."""
        return any(e.kind in (Kind.PHOTO, Kind.DOCUMENT, Kind.ALBUM_ITEM, Kind.BUTTON) for e in events)

    async def _give_up_place(self, user_id: int | None, client_id: str | None) -> None:
        if user_id and client_id:
            try:
                await self.store.drop_reserved(user_id, client_id)
            except Exception as error:  # left reserved: invisible, and filled by the page's retry of the message
                if not transient(error):
                    raise

    async def _may_start_visitor(self, request: web.Request) -> bool:
        """New visitors (a message that would make an account: no cookie, or one issued but never used) per
        network an hour: a client that drops its cookie makes a new account each time, so this bounds the
        accounts one machine can make (issue #14). Cookies themselves cost nothing and are not counted."""
        if self._limiter is None:
            return True
        key = f"web-new:{self.identity.network(request)}"
        return await self._limiter.hit(key, limit=self._new_visitors_per_hour, window_s=3600)

    def _json(self, request: web.Request, body: dict[str, Any], visitor: Visitor, status: int = 200) -> web.Response:
        response = web.json_response(body, status=status)
        self.remember(request, response, visitor)
        return response

    def _unavailable(
        self, request: web.Request, visitor: Visitor, uploads: Sequence[tuple[str, str, int]] = ()
    ) -> web.Response:
        """Nothing was recorded: say so (503), and the page sends again; nothing was charged."""
        for path, _, _ in uploads:
            self.store.blobs.delete(path)
        text = catalog(locale_from_hint(accept_language(request)))("error-unavailable")
        return self._json(request, {"replies": [{"type": "text", "text": text}]}, visitor, status=503)

    def _cross_site(self, request: web.Request) -> web.Response:
        """Another site's page tried to act for our visitor: refused, nothing read or changed, no cookie."""
        text = catalog(locale_from_hint(accept_language(request)))("web-cross-site")
        return web.json_response({"replies": [{"type": "text", "text": text}]}, status=403)

    async def _locale(self, request: web.Request, visitor: Visitor) -> str:
        known = None if visitor.fresh else await self.locale_of(visitor.id)
        return known or locale_from_hint(accept_language(request))

    async def events(self, request: web.Request) -> web.StreamResponse:
        """The visitor's conversation as it grows: first every kept turn after the page's last one, then each new one.

        The stream listens before it reads what was kept, so a turn kept in between wakes it and nothing falls
        between the read and the listening; a push only wakes it, and it sends what the database holds after the
        last id it sent (ids become visible in order per user: storage/webchat.py), so nothing is sent twice.
        Each event carries its id: the browser sends back the last one (`Last-Event-ID`) when it reconnects,
        and the page's own `?after=` counts until then.
        """
        visitor = await self.visitor(request)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        self.remember(request, response, visitor)
        await response.prepare(request)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        listeners = self._listeners.setdefault(visitor.id, set())
        listeners.add(queue)  # first: whatever is kept from now on wakes this stream
        try:
            await response.write(b": connected\n\n")
            user_id = None if visitor.fresh else visitor.user_id or await self.store.user_id(visitor.id)
            mark = _last_seen(request)
            if mark is None:  # the page asked for no catch-up: only what is kept from now on
                mark = await self.store.last_entry(user_id) if user_id else 0
            mark = await self._send_kept(response, user_id, mark)
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=15)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if item.get("type") == "bye":
                    break
                if not item.get("entry"):  # not kept (a "typing" action): as it came
                    await response.write(f"data: {json.dumps(item, ensure_ascii=False)}\n\n".encode())
                    continue
                user_id = user_id or await self.store.user_id(visitor.id)  # a first message made the user
                mark = await self._send_kept(response, user_id, mark)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        except Exception as error:  # the database blinked: end the stream, the browser reconnects and catches up
            if not transient(error):
                raise
            log.warning("web chat: event stream ended on %s; the page reconnects", type(error).__name__)
        finally:
            listeners.discard(queue)
            if not listeners and self._listeners.get(visitor.id) is listeners:
                del self._listeners[visitor.id]
        return response

    async def _send_kept(self, response: web.StreamResponse, user_id: int | None, after: int) -> int:
        """Writes the turns kept after entry `after`, oldest first; returns the last id sent."""
        if user_id is None:
            return after
        for entry in await self.store.recent(user_id, after):
            data = json.dumps(entry, ensure_ascii=False)
            await response.write(f"data: {data}\nid: {entry['entry']}\n\n".encode())
            after = max(after, entry["entry"])
        return after

    # Helpers ------------------------------------------------------------------------------------

    async def visitor(
        self, request: web.Request, *, sets_cookie: bool = True, message_id: str | None = None
    ) -> Visitor:
        return await self.identity.of(request, sets_cookie=sets_cookie, message_id=message_id)

    def remember(self, request: web.Request, response: web.StreamResponse, visitor: Visitor) -> None:
        self.identity.remember(request, response, visitor)

    def _event(
        self,
        request: web.Request,
        visitor: Visitor,
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
            user_id=visitor.id,
            chat_id=visitor.id,
            event_id=f"{visitor.id}:{message_id or uuid.uuid4().hex}",
            kind=kind,
            text=text,
            payload=payload,
            media=media,
            album_key=album_key,
            locale_hint=accept_language(request),
            origin=self.identity.network(request),
        )


def _uploads(events: Sequence[Inbound]) -> list[tuple[str, str, int]]:
    """(blob path, mime, bytes) of the photos these events carry (an oversized one was never stored)."""
    return [(m.file_id, m.mime or "", m.size or 0) for e in events for m in e.media if m.file_id]


def _uploads_of(refs: Sequence[MediaRef]) -> list[tuple[str, str, int]]:
    return [(m.file_id, m.mime or "", m.size or 0) for m in refs if m.file_id]


def _last_seen(request: web.Request) -> int | None:
    """The last entry the page has: `Last-Event-ID` on the browser's own reconnect, else the page's `?after=`."""
    for value in (request.headers.get("Last-Event-ID", ""), request.query.get("after", "")):
        if value.isdigit() and len(value) <= 18:
            return int(value)
    return None


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _client_id(value: object) -> str | None:
    return value if isinstance(value, str) and _MESSAGE_ID.match(value) else None
