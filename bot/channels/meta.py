"""What the WhatsApp and Messenger adapters share: Meta's webhook handshake and signature, a small Graph API
client whose errors are typed, the 24-hour customer-service window, and grapheme-safe truncation.

Graph API reference: https://developers.facebook.com/docs/graph-api/guides/error-handling
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import httpx
from aiohttp import web

from bot import http_client, logs
from bot.channels import text as text_rules
from bot.channels.base import ChannelError, MediaUnavailable, Refused, Unavailable
from handlers.model import Album, ChatAction, Choice, Document, Image, Link, Progress, Reply, Text

if TYPE_CHECKING:
    from bot.settings import Settings
    from handlers.dispatcher import Dispatcher

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
WINDOW_SECONDS = 24 * 3600
MAX_MEDIA_BYTES = 20 * 1024 * 1024
RETRY_LATER_S = 5.0


# Webhooks ---------------------------------------------------------------------------------------


def handshake(request: web.Request, verify_token: str) -> web.Response:
    """GET verification: echo hub.challenge when the mode and token match, else 403."""
    query = request.query
    token = query.get("hub.verify_token", "")
    if (
        query.get("hub.mode") == "subscribe"
        and verify_token
        and hmac.compare_digest(token.encode(), verify_token.encode())
    ):
        return web.Response(text=query.get("hub.challenge", ""), content_type="text/plain")
    return web.Response(status=403, text="forbidden")


def signature_status(body: bytes, header: str | None, app_secret: str) -> int | None:
    """None when `header` is Meta's HMAC-SHA256 of the raw body; else the HTTP status to answer (401/403)."""
    if not header:
        return 401
    expected = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return None if hmac.compare_digest(header.strip().lower().encode(), expected.encode()) else 403


async def signed_payload(request: web.Request, app_secret: str, platform: str) -> dict[str, Any] | web.Response:
    """The webhook's JSON object once its signature is right; else the response to answer with."""
    body = await request.read()
    refused = signature_status(body, request.headers.get(SIGNATURE_HEADER), app_secret)
    if refused:
        log.warning("%s webhook with a %s signature refused", platform, "missing" if refused == 401 else "wrong")
        return web.Response(status=refused)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return web.Response(status=400, text="malformed JSON")
    if not isinstance(payload, dict):
        return web.Response(status=400, text="expected an object")
    return payload


def sign(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


# Errors -----------------------------------------------------------------------------------------


class GraphError(Exception):
    """A Graph API error response (`{"error": {"code": ..., "error_subcode": ..., "message": ...}}`)."""

    def __init__(self, message: str, *, code: int = 0, subcode: int = 0, status: int = 0) -> None:
        super().__init__(f"{message} (code {code}, subcode {subcode}, HTTP {status})")
        self.code, self.subcode, self.status = code, subcode, status


class BadToken(GraphError):
    """190: the access token is invalid or expired; an operator must replace it."""


class BadParameter(GraphError):
    """100 and other 4xx: the request itself is wrong; retrying cannot help."""


class OutsideWindow(GraphError):
    """131047 (WhatsApp) / 10 + 2018278 (Messenger): more than 24 hours since the user last wrote."""


class Unreachable(GraphError):
    """The user cannot be messaged any more (blocked the page, deleted the account)."""


class RateLimited(GraphError):
    """130429, 131056, 4, 80007, 613: too many messages; back off and retry a bounded number of times."""


class ServerError(GraphError):
    """5xx or a transport failure: Meta's side; retried with backoff."""


RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80007, 130429, 131056})
OUTSIDE_WINDOW = frozenset({(131047, 0), (10, 2018278)})
UNREACHABLE = frozenset({(551, 0), (200, 1545041), (10, 2018108), (131026, 0)})


def contract_error(error: BaseException, *, media: bool = False) -> ChannelError:
    """A Graph or transport failure in the terms of the channel contract (bot/channels/base.py)."""
    if isinstance(error, ChannelError):
        return error
    refused: type[Refused] = MediaUnavailable if media else Refused
    if isinstance(error, RateLimited | ServerError):
        return Unavailable(str(error), retry_after=RETRY_LATER_S)
    if isinstance(error, GraphError | TooLarge):
        return refused(str(error))
    if isinstance(error, httpx.InvalidURL | httpx.UnsupportedProtocol | httpx.TooManyRedirects):
        return refused(type(error).__name__)
    # The network, a timeout, an answer that is not JSON, anything unknown: try again later (bounded).
    return Unavailable(f"{type(error).__name__}: {error}", retry_after=RETRY_LATER_S)


def error_from(status: int, body: Any) -> GraphError:
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = int(error.get("code") or 0)
    subcode = int(error.get("error_subcode") or 0)
    message = str(error.get("message") or f"HTTP {status}")
    kind: type[GraphError]
    if code == 190:
        kind = BadToken
    elif code in RATE_LIMIT_CODES or status == 429:
        kind = RateLimited
    elif (code, subcode) in OUTSIDE_WINDOW or (code, 0) in OUTSIDE_WINDOW:
        kind = OutsideWindow
    elif (code, subcode) in UNREACHABLE or (code, 0) in UNREACHABLE:
        kind = Unreachable
    elif status >= 500:
        kind = ServerError
    else:
        kind = BadParameter
    return kind(message, code=code, subcode=subcode, status=status)


# Graph API client -------------------------------------------------------------------------------


class GraphClient:
    """JSON and multipart calls to the Graph API with typed errors; rate limits and 5xx retried with backoff."""

    def __init__(
        self, base_url: str, token: str, *, retries: int = 4, backoff_s: float = 0.5, timeout_s: float = 30
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self._token = token
        self._transport = http_client.AiohttpTransport()
        self._http = httpx.AsyncClient(
            transport=self._transport,
            base_url=self.base_url + "/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(self, path: str, **params: str) -> dict[str, Any]:
        return await self._call("GET", path, params=params)

    async def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", path, json=payload)

    async def upload(
        self, path: str, fields: dict[str, str], file_field: str, name: str, data: bytes, mime: str
    ) -> dict[str, Any]:
        return await self._call("POST", path, data=fields, files={file_field: (name, data, mime)})

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            try:
                request = self._http.build_request(method, path.lstrip("/"), **kwargs)
                response = await http_client.send_read(self._transport, request)
                body = _json_or_none(response)
                if response.status_code < 400:
                    return body if isinstance(body, dict) else {}
                error = error_from(response.status_code, body)
            except httpx.TransportError as exc:
                error = ServerError(f"transport: {exc!r}")
            if not isinstance(error, RateLimited | ServerError) or attempt == self.retries:
                raise error
            delay = self.backoff_s * 2**attempt
            log.warning("graph %s %s: %s; retrying in %.2fs", method, path, error, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def download(self, url: str, *, limit: int = MAX_MEDIA_BYTES) -> bytes:
        """A media URL that needs the Bearer token (WhatsApp's lookaside URLs)."""
        return await download_capped(self._http, url, limit)


async def download_capped(http: httpx.AsyncClient, url: str, limit: int = MAX_MEDIA_BYTES) -> bytes:
    """Stream `url` into memory, refusing more than `limit` bytes (declared or actual)."""
    async with http.stream("GET", url) as response:
        if response.status_code >= 400:
            await response.aread()
            raise error_from(response.status_code, _json_or_none(response))
        declared = int(response.headers.get("Content-Length") or 0)
        if declared > limit:
            raise TooLarge(declared)
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise TooLarge(size)
            chunks.append(chunk)
    return b"".join(chunks)


class TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes is over the limit")
        self.size = size


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


# The customer-service window --------------------------------------------------------------------


class Window:
    """What this process knows of each chat's 24-hour window: when it last wrote here, or that Meta said
    the window is closed (131047). A chat this process never saw counts as open: render workers (maybe on
    another machine) check the user's last message in the database before they deliver (`bot.workers`)."""

    def __init__(self, clock: Callable[[], float] = time.time, seconds: float = WINDOW_SECONDS) -> None:
        self._clock = clock
        self._seconds = seconds
        self._last: dict[str, float] = {}

    def touch(self, chat_id: str, at: float | None = None) -> None:
        at = self._clock() if at is None else min(at, self._clock())
        if at > self._last.get(chat_id, float("-inf")):  # out-of-order deliveries never move it back
            self._last[chat_id] = at

    def close(self, chat_id: str) -> None:
        self._last[chat_id] = float("-inf")

    def is_open(self, chat_id: str) -> bool:
        last = self._last.get(chat_id)
        return last is None or self._clock() - last < self._seconds


# Text -------------------------------------------------------------------------------------------


def truncate(text: str, limit: int) -> str:
    """A title: whitespace collapsed, at most `limit` code points (what Meta counts), whole graphemes."""
    return text_rules.truncate(" ".join(text.split()), limit)


def split_text(text: str, limit: int) -> list[str]:
    return text_rules.split_text(text, limit)


def has_bengali(text: str) -> bool:
    return any("\u0980" <= char <= "\u09ff" for char in text)


# Delivery after the acknowledgement -------------------------------------------------------------


class Outbox:
    """Replies are sent after the webhook is answered (Meta wants a quick 200), in order per chat."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending: dict[str, int] = {}

    def submit(self, chat_id: str, work: Callable[[], Awaitable[None]]) -> None:
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        self._pending[chat_id] = self._pending.get(chat_id, 0) + 1

        async def run() -> None:
            try:
                async with lock:
                    await work()
            except ChannelError as error:
                log.warning("delivery to %s failed: %s", logs.pseudonym(chat_id), error)
            except Exception:  # a bug in one delivery must not go unseen in a task nobody awaits
                log.exception("delivery to %s failed", logs.pseudonym(chat_id))
            finally:
                self._pending[chat_id] -= 1
                if not self._pending[chat_id]:
                    del self._pending[chat_id], self._locks[chat_id]

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for everything submitted so far (tests, and a clean stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


# What both Meta channels share --------------------------------------------------------------------


class MetaChannel:
    """The Graph client, the webhook routes and handshake, the window and the outbox of a Meta channel."""

    name = "meta"

    def __init__(
        self, settings: Settings, dispatcher: Dispatcher, *, token: str, verify_token: str, clock: Callable[[], float]
    ) -> None:
        self._settings = settings
        self._dispatcher = dispatcher
        self._token = token
        self._verify_token = verify_token
        self.window = Window(clock)
        self.outbox = Outbox()
        self._graph: GraphClient | None = None
        self._progress_sent: OrderedDict[tuple[str, str], None] = OrderedDict()

    @property
    def graph(self) -> GraphClient:
        if self._graph is None:
            self._graph = GraphClient(self._settings.graph_api_base, self._token)
        return self._graph

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(f"/webhooks/{self.name}", self.verify)
        app.router.add_post(f"/webhooks/{self.name}", self.webhook)

    async def verify(self, request: web.Request) -> web.Response:
        return handshake(request, self._verify_token)

    async def webhook(self, request: web.Request) -> web.Response:
        raise NotImplementedError

    async def stop(self) -> None:
        await self.outbox.drain()
        if self._graph is not None:
            await self._graph.aclose()
            self._graph = None

    async def deliver(self, chat_id: str, replies: Sequence[Reply]) -> None:
        """Each reply in order; a failed one never drops those after it. Returns only when Meta accepted
        every reply, else raises the first failure (Unavailable before Refused). An unreachable user
        (blocked the page) stops the rest: nothing more can reach them."""
        failures: list[ChannelError] = []
        for reply in replies:
            try:
                await self.send_reply(chat_id, reply)
            except Unreachable as error:
                await self.on_unreachable(chat_id)
                raise Refused(str(error)) from None
            except OutsideWindow as error:  # the rest would be refused alike
                raise Refused(str(error)) from None
            except Exception as error:
                failure = contract_error(error)
                log.warning("%s reply to %s not delivered: %s", self.name, logs.pseudonym(chat_id), failure)
                failures.append(failure)
        if failures:
            raise next((f for f in failures if isinstance(f, Unavailable)), failures[0])

    async def on_unreachable(self, chat_id: str) -> None:
        """The platform says the user cannot be messaged any more (Messenger marks them)."""

    async def send_reply(self, chat_id: str, reply: Reply) -> None:
        """One reply, in the terms both platforms share; the platform-specific calls are the hooks below."""
        match reply:
            case Text():
                await self.send_text(chat_id, reply)
            case Choice():
                await self._choice(chat_id, reply)
            case Image() | Document():
                await self._file(chat_id, reply)
            case Album():
                for item in reply.items:
                    await self._file(chat_id, item)
            case Progress():
                if self.first_progress(chat_id, reply.key):
                    await self.send_text(chat_id, Text(text=reply.text))
            case ChatAction():
                await self.show_activity(chat_id)
            case Link():  # a payment page: the address in the text, which both apps make tappable
                await self.send_text(chat_id, Text(text=f"{reply.label}: {reply.url}\n\n{reply.text}"))

    async def send_text(self, chat_id: str, text: Text) -> None:
        raise NotImplementedError

    async def _choice(self, chat_id: str, choice: Choice) -> None:
        raise NotImplementedError

    async def _file(self, chat_id: str, file: Image | Document) -> None:
        raise NotImplementedError

    async def show_activity(self, chat_id: str) -> None:
        raise NotImplementedError

    def first_progress(self, chat_id: str, key: str) -> bool:
        """Neither platform edits a message in place: a progress line is said once per (chat, key)."""
        if (chat_id, key) in self._progress_sent:
            return False
        self._progress_sent[(chat_id, key)] = None
        while len(self._progress_sent) > 10_000:
            self._progress_sent.popitem(last=False)
        return True
