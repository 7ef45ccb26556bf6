"""Replies -> Bot API calls, in order per chat, within Telegram's limits and errors.

- Text: parse_mode HTML on escaped text (nothing a handler writes is markup), split at 4096.
- Choice: an inline keyboard; payloads are ASCII <= 64 bytes by construction (`handlers.router`), others dropped.
- Document: sendDocument, so nothing is recompressed. Image: sendPhoto only for a JPEG under 10 MB (a preview,
  where Telegram's recompression costs nothing); anything else (PNG with alpha, large files) as a document.
- Album: sendMediaGroup for runs of 2-10 items of one family (photos do not mix with documents).
- Progress: the first status of a (chat, key) is sent, later ones edit that message.
- Errors (the channel contract): a short 429 waits `retry_after` in that chat's turn and retries, a 5xx or a
  network error retries twice with a short backoff; what still fails becomes `Unavailable` (with the delay
  to wait), and every refusal (400, 401, 404, 409, too large) `Refused`. One failed reply never drops the
  replies after it: `send` tries each, then raises the first failure (Unavailable before Refused), so the
  job processor knows the delivery was not whole. 403 marks the chat unreachable; nothing more is tried
  for it. Logs say the method and ids/lengths only, never the text; chats appear as keyed hashes.
  A global pace (a burst of 30, then 30 calls a second) keeps the bot under Telegram's overall limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.methods import (
    EditMessageText,
    SendChatAction,
    SendDocument,
    SendMediaGroup,
    SendMessage,
    SendPhoto,
)
from aiogram.methods.base import TelegramMethod
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    LinkPreviewOptions,
    Message,
)

from bot import logs
from bot.channels import telegram_pay
from bot.channels.base import ChannelError, Refused, Unavailable
from bot.channels.telegram_convert import MAX_CALLBACK_DATA, MAX_CAPTION, escape, split_text, truncate
from bot.channels.telegram_errors import classify
from bot.channels.telegram_errors import describe as describe_error
from handlers.model import Album, ChatAction, Choice, Document, Image, Invoice, Link, Progress, Reply, Text

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MEDIA_GROUP_MAX = 10
MAX_ATTEMPTS = 3
MAX_RETRY_WAIT_S = 10.0  # a longer 429 is the job's "retry later", not a wait that holds the chat's turn
BACKOFF_S = 0.5
PROGRESS_MEMORY = 10_000
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # built once: a pydantic model costs more than the send's own work
CHAT_ACTIONS = frozenset({"typing", "upload_photo", "upload_document", "upload_video", "choose_sticker"})
Unreachable = Callable[[str], Awaitable[None]]


class Pace:
    """A token bucket: bursts of `burst` calls, then `per_second` calls a second across all chats."""

    def __init__(self, per_second: float = 30.0, burst: int = 30) -> None:
        self._interval = 1.0 / per_second
        self._window = burst * self._interval
        self._next = 0.0

    async def wait(self) -> None:
        now = asyncio.get_running_loop().time()
        slot = max(self._next, now - self._window)
        self._next = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)


class TelegramSender:
    def __init__(self, bot: Bot, on_unreachable: Unreachable, *, pace: Pace | None = None) -> None:
        self._bot = bot
        self._on_unreachable = on_unreachable
        self._pace = pace or Pace()
        self._locks: dict[str, asyncio.Lock] = {}
        self._holders: defaultdict[str, int] = defaultdict(int)
        self._progress: OrderedDict[tuple[str, str], tuple[int, str]] = OrderedDict()  # -> (message id, text)
        self.blocked: set[str] = set()

    def reachable(self, chat_id: str) -> None:
        """The person wrote to us again (or unblocked the bot): deliver to them again."""
        self.blocked.discard(chat_id)

    async def send(self, chat_id: str, replies: Sequence[Reply]) -> None:
        """Deliver in order; concurrent calls for one chat queue behind each other (asyncio locks are FIFO).

        Returns when Telegram accepted every reply; else raises the first failure after trying the rest."""
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        self._holders[chat_id] += 1
        failures: list[ChannelError] = []
        try:
            async with lock:
                for index, reply in enumerate(replies):
                    if chat_id in self.blocked:
                        left = len(replies) - index
                        log.info("telegram chat %s is unreachable: %d replies dropped", logs.pseudonym(chat_id), left)
                        failures.append(Refused("the chat is unreachable (the bot was blocked)"))
                        break
                    try:
                        await self._deliver(chat_id, reply)
                    except ChannelError as error:
                        failures.append(error)
        finally:
            self._holders[chat_id] -= 1
            if not self._holders[chat_id]:
                del self._holders[chat_id]
                self._locks.pop(chat_id, None)
        if failures:
            raise next((f for f in failures if isinstance(f, Unavailable)), failures[0])

    async def _deliver(self, chat_id: str, reply: Reply) -> None:
        match reply:
            case Text():
                await self._text(chat_id, reply.text, None, preview=reply.link_preview)
            case Choice():
                await self._text(chat_id, reply.text, keyboard(reply), preview=False)
            case Image() | Document():
                media: TelegramMethod[Message] = single_media(chat_id, reply)
                await self.call(chat_id, media)
            case Album():
                for method in album_calls(chat_id, reply):
                    await self.call(chat_id, method)
            case Progress():
                await self._progress_update(chat_id, reply)
            case ChatAction():
                action = reply.action if reply.action in CHAT_ACTIONS else "typing"
                await self.call(chat_id, SendChatAction(chat_id=chat_id, action=action))
            case Link():
                await self._text(chat_id, reply.text, telegram_pay.link_markup(reply), preview=False)
            case Invoice():
                await self.call(chat_id, telegram_pay.invoice_method(chat_id, reply))

    async def _text(self, chat_id: str, text: str, markup: InlineKeyboardMarkup | None, *, preview: bool) -> None:
        pieces = [p for p in split_text(text) if p.strip()] or ([] if markup is None else ["…"])
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            await self.call(
                chat_id,
                SendMessage(
                    chat_id=chat_id,
                    text=escape(piece),
                    parse_mode="HTML",
                    link_preview_options=None if preview else NO_PREVIEW,
                    reply_markup=markup if last else None,
                ),
            )

    async def _progress_update(self, chat_id: str, reply: Progress) -> None:
        key = (chat_id, reply.key)
        text = escape(truncate(reply.text, 4096))
        message_id, shown = self._progress.get(key, (None, None))
        if message_id is not None:
            self._progress.move_to_end(key)
            if text == shown:
                return  # Telegram refuses an edit that changes nothing ("message is not modified")
            edit = EditMessageText(chat_id=chat_id, message_id=message_id, text=text, parse_mode="HTML")
            try:
                await self.call(chat_id, edit)
                self._progress[key] = (message_id, text)
                return
            except Refused as error:
                if "not modified" in str(error):
                    return
                log.info("telegram progress message %s cannot be edited: sending anew", message_id)
        sent = await self.call(chat_id, SendMessage(chat_id=chat_id, text=text, parse_mode="HTML"))
        if isinstance(sent, Message):
            self._progress[key] = (sent.message_id, text)
            while len(self._progress) > PROGRESS_MEMORY:
                self._progress.popitem(last=False)

    async def call(self, chat_id: str, method: TelegramMethod[T]) -> T:
        """One API call with the retry policy; raises `Refused` or `Unavailable` (the channel contract)."""
        name = method.__api_method__
        for attempt in range(1, MAX_ATTEMPTS + 1):
            await self._pace.wait()
            try:
                return await self._bot(method)
            except TelegramForbiddenError as error:
                log.info("telegram chat %s refuses messages (%s): marking unreachable", logs.pseudonym(chat_id), error)
                self.blocked.add(chat_id)
                await self._on_unreachable(chat_id)
                raise Refused(describe_error(error)) from error
            except TelegramBadRequest as error:
                if "not modified" not in error.message:
                    log.warning("telegram refused %s %s: %s", name, describe(method), error.message)
                raise Refused(describe_error(error)) from error
            except Exception as error:
                failure = classify(error)
                if isinstance(failure, Refused):
                    log.warning("telegram refused %s %s: %s", name, describe(method), failure)
                    raise failure from error
                assert isinstance(failure, Unavailable)
                wait = failure.retry_after if isinstance(error, TelegramRetryAfter) else BACKOFF_S * 2 ** (attempt - 1)
                if attempt == MAX_ATTEMPTS or wait > MAX_RETRY_WAIT_S:
                    log.warning("telegram %s %s not delivered for now: %s", name, describe(method), failure)
                    raise failure from error
                log.info("telegram %s failed (attempt %d, %s): again in %.1f s", name, attempt, failure, wait)
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")


def keyboard(choice: Choice) -> InlineKeyboardMarkup | None:
    buttons = []
    for button in choice.buttons:
        data = button.payload
        if not data.isascii() or not 0 < len(data.encode()) <= MAX_CALLBACK_DATA:
            log.error("button payload %r does not fit Telegram's callback data: dropped", data[:80])
            continue
        buttons.append(InlineKeyboardButton(text=truncate(button.label, 64), callback_data=data))
    if not buttons:
        return None
    per_row = 2 if all(len(b.text) <= 16 for b in buttons) else 1
    rows = [buttons[i : i + per_row] for i in range(0, len(buttons), per_row)]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def as_photo(item: Image | Document) -> bool:
    return isinstance(item, Image) and item.mime == "image/jpeg" and len(item.data) <= MAX_PHOTO_BYTES


def single_media(chat_id: str, item: Image | Document) -> SendPhoto | SendDocument:
    upload = BufferedInputFile(item.data, filename=item.name)
    caption = escape(truncate(item.caption, MAX_CAPTION)) if item.caption else None
    if as_photo(item):
        return SendPhoto(chat_id=chat_id, photo=upload, caption=caption, parse_mode="HTML" if caption else None)
    return SendDocument(chat_id=chat_id, document=upload, caption=caption, parse_mode="HTML" if caption else None)


def album_calls(chat_id: str, album: Album) -> list[TelegramMethod[Any]]:
    """Runs of one family (photos, documents), each cut into balanced groups of 2-10; a lone item goes alone."""
    runs: list[list[Image | Document]] = []
    for item in album.items:
        if runs and as_photo(runs[-1][0]) == as_photo(item):
            runs[-1].append(item)
        else:
            runs.append([item])
    calls: list[TelegramMethod[Any]] = []
    for run in runs:
        groups = -(-len(run) // MEDIA_GROUP_MAX)
        size = -(-len(run) // groups)
        for start in range(0, len(run), size):
            chunk = run[start : start + size]
            if len(chunk) == 1:
                calls.append(single_media(chat_id, chunk[0]))
                continue
            media: list[Any] = []
            for item in chunk:
                upload = BufferedInputFile(item.data, filename=item.name)
                caption = escape(truncate(item.caption, MAX_CAPTION)) if item.caption else None
                mode = "HTML" if caption else None
                if as_photo(item):
                    media.append(InputMediaPhoto(media=upload, caption=caption, parse_mode=mode))
                else:
                    media.append(InputMediaDocument(media=upload, caption=caption, parse_mode=mode))
            calls.append(SendMediaGroup(chat_id=chat_id, media=media))
    return calls


def describe(method: TelegramMethod[Any]) -> str:
    """What a log may say about a call: ids, sizes and modes, never the words or files a person sees."""
    parts = []
    for name, value in method.model_dump(exclude_none=True).items():
        if name == "chat_id":
            parts.append(f"chat={logs.pseudonym(str(value))}")
        elif name in ("message_id", "parse_mode", "action", "language_code"):
            parts.append(f"{name}={value}")
        elif isinstance(value, str):
            parts.append(f"{name}=<{len(value)} chars>")
        elif isinstance(value, list):
            parts.append(f"{name}=<{len(value)} items>")
        else:
            parts.append(f"{name}=<{type(value).__name__}>")
    return " ".join(parts)
