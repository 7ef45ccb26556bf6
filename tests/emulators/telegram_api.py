"""A Telegram Bot API server on loopback for tests: the real aiogram client talks to it over HTTP.

Every call is checked against the published spec (`telegram_spec`) and Telegram's limits: text 4096 and
captions 1024 (after HTML parsing, in UTF-16 units), HTML that does not parse, callback data 1-64 bytes,
media groups of 2-10 (documents not mixed with photos), photos 10 MB, documents 50 MB, getFile 20 MB,
command menus, descriptions. A test pushes updates (served by getUpdates with offset and long-poll timeout,
or POSTed to the registered webhook with its secret token), declares files (getFile + download), injects
faults (429 with retry_after, 403 for a chat that blocked the bot) and asserts on the recorded calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.emulators.telegram_html import visible_text
from tests.emulators.telegram_spec import ApiError, Upload, bad, load_spec
from tests.emulators.telegram_stars import Stars, StarsMethods

TOKEN = "123456:" + "A" * 35
MB = 1024 * 1024
LIMITS = {"text": 4096, "caption": 1024, "callback_data": 64, "photo": 10 * MB, "document": 50 * MB, "getFile": 20 * MB}
CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    uploads: dict[str, Upload]
    status: int = 200
    result: Any = None
    error: str | None = None


@dataclass
class Fault:
    method: str
    status: int
    description: str
    retry_after: int | None
    times: int
    chat_id: int | None


@dataclass
class FileEntry:
    file_id: str
    size: int
    data: bytes | None
    path: str


@dataclass
class ChatState:
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)


class TelegramAPIEmulator(StarsMethods):
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.spec = load_spec()
        self.calls: list[Call] = []
        self.bot_user = {"id": 987654321, "is_bot": True, "first_name": "Nexoraz", "username": "NexorazTestBot"}
        self.webhook: dict[str, Any] | None = None
        self.webhook_deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status)
        self.blocked: set[int] = set()
        self.chats: dict[int, ChatState] = {}
        self.files: dict[str, FileEntry] = {}
        self.pending_queries: dict[str, int] = {}  # callback query id -> chat
        self.answered_queries: list[str] = []
        self.stars = Stars()
        self._faults: list[Fault] = []
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(10_000)
        self._message_ids = itertools.count(1)
        self._ids = itertools.count(1)
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._delivery: asyncio.Task[None] | None = None
        self.url = ""

    # Lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * MB)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._delivery is not None:
            self._delivery.cancel()
            await asyncio.gather(self._delivery, return_exceptions=True)
        async with self._arrived:
            self._arrived.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    # What a test does -----------------------------------------------------------------------------

    def push(self, update: dict[str, Any]) -> int:
        """Queue an update (a fresh update_id unless it has one: a redelivery keeps its id)."""
        update.setdefault("update_id", next(self._update_ids))
        self._updates.append(update)
        asyncio.get_running_loop().create_task(self._notify())
        if self.webhook and (self._delivery is None or self._delivery.done()):
            self._delivery = asyncio.get_running_loop().create_task(self._deliver())
        return int(update["update_id"])

    def add_file(self, data: bytes | None = None, *, size: int | None = None, suffix: str = "jpg") -> str:
        """A file the user sent: its id for updates; `size` alone declares a file too big to serve."""
        file_id = f"file-{next(self._ids)}-{'x' * 20}"
        size = len(data) if data is not None else (size or 0)
        self.files[file_id] = FileEntry(file_id, size, data, f"photos/{file_id}.{suffix}")
        return file_id

    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = 1,
        times: int = 1,
        chat_id: int | None = None,
        description: str | None = None,
    ) -> None:
        """The next `times` calls of `method` (for `chat_id`, if given) fail."""
        if description is None:
            description = f"Too Many Requests: retry after {retry_after}" if status == 429 else "Internal Server Error"
        self._faults.append(Fault(method, status, description, retry_after if status == 429 else None, times, chat_id))

    def block(self, chat_id: int) -> None:
        self.blocked.add(chat_id)

    def calls_to(self, method: str, *, ok: bool | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == method and (ok is None or (c.status == 200) == ok)]

    def texts(self, chat_id: int) -> list[str]:
        """What the person sees in the chat now (edits applied), oldest first."""
        chat = self.chats.get(chat_id, ChatState())
        return [m.get("text") or m.get("caption") or "" for m in chat.messages.values()]

    def last_message(self, chat_id: int) -> dict[str, Any]:
        return list(self.chats[chat_id].messages.values())[-1]

    async def wait_for(self, condition: Callable[[], object], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; calls: {[(c.method, c.status) for c in self.calls][-20:]}")
            await asyncio.sleep(0.02)

    # Update builders ------------------------------------------------------------------------------

    @staticmethod
    def user(user_id: int, *, lang: str | None = "en", first_name: str = "Rahim") -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if lang:
            user["language_code"] = lang
        return user

    def message(
        self, chat_id: int, text: str | None = None, *, lang: str | None = "en", **fields: Any
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Rahim"},
            "from": self.user(chat_id, lang=lang),
            **fields,
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"message": message}

    def photo(self, chat_id: int, file_id: str, *, size: int | None = None, **fields: Any) -> dict[str, Any]:
        entry = self.files.get(file_id)
        big = size if size is not None else (entry.size if entry else 50_000)
        sizes = [
            {"file_id": f"{file_id}-thumb", "file_unique_id": "t1", "width": 90, "height": 60, "file_size": 1_200},
            {"file_id": file_id, "file_unique_id": "u1", "width": 1280, "height": 853, "file_size": big},
            {"file_id": f"{file_id}-mid", "file_unique_id": "m1", "width": 320, "height": 213, "file_size": 9_000},
        ]
        return self.message(chat_id, photo=sizes, **fields)

    def seed_bot_message(self, chat_id: int, text: str, reply_markup: dict[str, Any] | None = None) -> dict[str, Any]:
        """A message the bot sent earlier (e.g. before a restart), for a test to press its buttons."""
        return self._record({"chat_id": chat_id, "reply_markup": reply_markup}, text=text)

    def press(self, chat_id: int, data: str, *, lang: str | None = "en") -> dict[str, Any]:
        """A tap on the bot's latest button carrying `data` in this chat."""
        for message in reversed(list(self.chats[chat_id].messages.values())):
            rows = message.get("reply_markup", {}).get("inline_keyboard", [])
            if any(b.get("callback_data") == data for row in rows for b in row):
                query_id = str(next(self._ids))
                self.pending_queries[query_id] = chat_id
                query = {
                    "id": query_id,
                    "from": self.user(chat_id, lang=lang),
                    "message": message,
                    "chat_instance": "ci-1",
                    "data": data,
                }
                return {"callback_query": query}
        raise AssertionError(f"no button {data!r} in chat {chat_id}")

    # HTTP -----------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        params, uploads, form = await _read(request)
        call = Call(request.match_info["method"], params, uploads)
        try:
            call.method = self.spec.method_name(call.method)
            call.params = self.spec.check_call(call.method, params, uploads, form=form)
            self._inject_faults(call)
            handler = getattr(self, f"_m_{call.method}", None)
            call.result = await handler(call.params) if handler else True
        except ApiError as error:
            call.status, call.error = error.status, error.description
            self.calls.append(call)
            return web.json_response(error.body(), status=error.status)
        self.calls.append(call)
        return web.json_response({"ok": True, "result": call.result})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            raise web.HTTPUnauthorized()
        entry = next((f for f in self.files.values() if f.path == request.match_info["path"]), None)
        if entry is None or entry.data is None:
            raise web.HTTPNotFound()
        return web.Response(body=entry.data, content_type="application/octet-stream")

    def _inject_faults(self, call: Call) -> None:
        chat = call.params.get("chat_id")
        if call.method == "answerCallbackQuery":
            chat = self.pending_queries.get(call.params["callback_query_id"])
        if chat in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        for fault in self._faults:
            if fault.times > 0 and fault.method == call.method and fault.chat_id in (None, chat):
                fault.times -= 1
                raise ApiError(fault.status, fault.description, fault.retry_after)

    async def _notify(self) -> None:
        async with self._arrived:
            self._arrived.notify_all()

    async def _deliver(self) -> None:
        """Webhook mode: POST each update until it is acknowledged with 200 (Telegram retries otherwise)."""
        async with aiohttp.ClientSession() as session:
            while self.webhook and self._updates:
                update = self._updates[0]
                headers = {"Content-Type": "application/json"}
                if self.webhook.get("secret_token"):
                    headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
                try:
                    async with session.post(self.webhook["url"], json=update, headers=headers) as response:
                        status = response.status
                except aiohttp.ClientError:
                    status = 0
                self.webhook_deliveries.append((int(update["update_id"]), status))
                if status == 200:
                    self._updates.pop(0)
                else:
                    await asyncio.sleep(0.1)

    # Methods --------------------------------------------------------------------------------------

    async def _m_getMe(self, p: dict[str, Any]) -> Any:
        return {**self.bot_user, "can_join_groups": False, "can_read_all_group_messages": False}

    async def _m_getUpdates(self, p: dict[str, Any]) -> Any:
        if self.webhook:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = p.get("offset")
        if offset is not None:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        allowed = p.get("allowed_updates") or None
        limit = p.get("limit", 100)

        def ready() -> list[dict[str, Any]]:
            found = [u for u in self._updates if not allowed or any(k in u for k in allowed)]
            return found[:limit]

        timeout = p.get("timeout", 0)
        if not ready() and timeout:
            async with self._arrived:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait_for(lambda: bool(ready())), timeout)
        return ready()

    async def _m_setWebhook(self, p: dict[str, Any]) -> Any:
        if not p["url"].startswith(("http://", "https://")):
            raise bad("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = p
        if self._updates:
            self._delivery = asyncio.get_running_loop().create_task(self._deliver())
        return True

    async def _m_deleteWebhook(self, p: dict[str, Any]) -> Any:
        self.webhook = None
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _m_getWebhookInfo(self, p: dict[str, Any]) -> Any:
        url = self.webhook["url"] if self.webhook else ""
        return {"url": url, "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    async def _m_setMyCommands(self, p: dict[str, Any]) -> Any:
        if not 0 < len(p["commands"]) <= 100:
            raise bad("too many commands")
        for command in p["commands"]:
            if not _COMMAND.match(command["command"]):
                raise bad("BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"]) <= 256:
                raise bad("command description must be 1-256 characters")
        _language(p)
        return True

    async def _m_setMyDescription(self, p: dict[str, Any]) -> Any:
        if len(p.get("description", "")) > 512:
            raise bad("description is too long")
        _language(p)
        return True

    async def _m_setMyShortDescription(self, p: dict[str, Any]) -> Any:
        if len(p.get("short_description", "")) > 120:
            raise bad("short description is too long")
        _language(p)
        return True

    async def _m_sendMessage(self, p: dict[str, Any]) -> Any:
        text = _checked_text(p["text"], p.get("parse_mode"), LIMITS["text"], "message text")
        _check_markup(p.get("reply_markup"))
        return self._record(p, text=text)

    async def _m_editMessageText(self, p: dict[str, Any]) -> Any:
        if "text" not in p:
            raise bad("text is required")
        text = _checked_text(p["text"], p.get("parse_mode"), LIMITS["text"], "message text")
        message = self.chats.get(p.get("chat_id", 0), ChatState()).messages.get(p.get("message_id", 0))
        if message is None:
            raise bad("message to edit not found")
        if message.get("text") == text and "reply_markup" not in p:
            raise bad("message is not modified: specified new message content and reply markup are exactly the same")
        message["text"] = text
        message["edit_date"] = int(time.time())
        return message

    async def _m_sendPhoto(self, p: dict[str, Any]) -> Any:
        photo = self._media(p["photo"], LIMITS["photo"], "photo")
        caption = _checked_caption(p)
        return self._record(p, photo=[{**photo, "width": 1280, "height": 1280}], caption=caption)

    async def _m_sendDocument(self, p: dict[str, Any]) -> Any:
        document = self._media(p["document"], LIMITS["document"], "document")
        caption = _checked_caption(p)
        return self._record(p, document=document, caption=caption)

    async def _m_sendMediaGroup(self, p: dict[str, Any]) -> Any:
        media = p["media"]
        if not 2 <= len(media) <= 10:
            raise bad("wrong number of media items: a media group must have 2-10 items")
        kinds = {m["type"] for m in media}
        if "document" in kinds and len(kinds) > 1:
            raise bad("documents can't be mixed with other media types")
        group = str(next(self._ids))
        sent = []
        for item in media:
            caption = _checked_caption(item)
            limit = LIMITS["photo"] if item["type"] == "photo" else LIMITS["document"]
            stored = self._media(item["media"], limit, item["type"])
            body = [{**stored, "width": 1280, "height": 1280}] if item["type"] == "photo" else stored
            sent.append(self._record(p, **{item["type"]: body, "caption": caption, "media_group_id": group}))
        return sent

    async def _m_sendChatAction(self, p: dict[str, Any]) -> Any:
        if p["action"] not in CHAT_ACTIONS:
            raise bad("wrong parameter action in request")
        return True

    async def _m_answerCallbackQuery(self, p: dict[str, Any]) -> Any:
        if self.pending_queries.pop(p["callback_query_id"], None) is None:
            raise bad("query is too old and response timeout expired or query ID is invalid")
        if len(p.get("text", "")) > 200:
            raise bad("MESSAGE_TOO_LONG")
        self.answered_queries.append(p["callback_query_id"])
        return True

    async def _m_getFile(self, p: dict[str, Any]) -> Any:
        entry = self.files.get(p["file_id"])
        if entry is None:
            raise bad("invalid file_id")
        if entry.size > LIMITS["getFile"]:
            raise bad("file is too big")
        return {
            "file_id": entry.file_id,
            "file_unique_id": entry.file_id[:16],
            "file_size": entry.size,
            "file_path": entry.path,
        }

    # Helpers --------------------------------------------------------------------------------------

    def _media(self, value: Any, limit: int, what: str) -> dict[str, Any]:
        """An uploaded file (kept, and given an id) or a file_id already known."""
        if isinstance(value, Upload):
            if len(value.data) > limit:
                raise bad(f"{what} is too big: at most {limit // MB} MB")
            if not value.data:
                raise bad("file must be non-empty")
            file_id = self.add_file(value.data, suffix=value.filename.rsplit(".", 1)[-1] or "bin")
            return {
                "file_id": file_id,
                "file_unique_id": file_id[:16],
                "file_size": len(value.data),
                "file_name": value.filename,
            }
        if value in self.files:
            return {"file_id": value, "file_unique_id": value[:16], "file_size": self.files[value].size}
        raise bad(f"wrong file identifier/HTTP URL specified for {what}")

    def _record(self, p: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = p["chat_id"]
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": self.bot_user,
            **{k: v for k, v in content.items() if v not in (None, "")},
        }
        if p.get("reply_markup"):
            message["reply_markup"] = p["reply_markup"]
        self.chats.setdefault(chat_id, ChatState()).messages[message["message_id"]] = message
        return message


async def _read(request: web.Request) -> tuple[dict[str, Any], dict[str, Upload], bool]:
    """Parameters as the Bot API accepts them: query string, JSON body, urlencoded or multipart form."""
    params: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if request.content_type == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise web.HTTPBadRequest()
        params.update(body)
        return params, uploads, False
    if request.method == "POST" and request.can_read_body:
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                uploads[name] = Upload(name, value.filename, value.content_type, value.file.read())
            else:
                params[name] = value
    return params, uploads, True


def _checked_text(text: str, parse_mode: str | None, limit: int, what: str) -> str:
    visible = visible_text(text) if (parse_mode or "").upper() == "HTML" else text
    if not visible.strip():
        raise bad(f"{what} is empty")
    if len(visible.encode("utf-16-le")) // 2 > limit:
        raise bad(f"{what} is too long")
    return visible


def _checked_caption(p: dict[str, Any]) -> str | None:
    if "caption" not in p:
        return None
    visible = visible_text(p["caption"]) if (p.get("parse_mode") or "").upper() == "HTML" else p["caption"]
    if len(visible.encode("utf-16-le")) // 2 > LIMITS["caption"]:
        raise bad("message caption is too long")
    return visible


def _check_markup(markup: dict[str, Any] | None) -> None:
    for row in (markup or {}).get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= LIMITS["callback_data"]:
                raise bad("BUTTON_DATA_INVALID")


def _language(p: dict[str, Any]) -> None:
    code = p.get("language_code")
    if code is not None and not re.fullmatch(r"[a-z]{2}", code):
        raise bad("invalid language code")
