"""Telegram, on aiogram 3's Bot client: a thin adapter between Bot API updates and `Dispatcher.dispatch`.

Receiving: long polling by default (our own getUpdates loop: the offset moves past a batch only after every
update in it is dispatched, so a crash re-reads them and the dispatcher's event-id check makes that a no-op),
or a webhook on the shared HTTP server (TELEGRAM_MODE=webhook) that checks the secret token in constant time
and answers 200 only after the dispatcher has committed the update, never aiogram's answer-first default.
Sending happens after that, in the background, in order per chat (`telegram_send`).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hmac
import logging
import time
from collections.abc import Awaitable, Coroutine, Iterable, Sequence
from typing import Any

from aiogram import Bot
from aiogram import methods as aiogram_methods
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import ClientDecodeError, TelegramRetryAfter, TelegramUnauthorizedError
from aiogram.methods import AnswerCallbackQuery
from aiogram.methods.base import Response, TelegramMethod
from aiohttp import web
from pydantic import ValidationError

from bot.channels import telegram_menu, telegram_pay
from bot.channels.base import ChannelError, MediaUnavailable, Refused, Unavailable
from bot.channels.telegram_convert import to_inbound
from bot.channels.telegram_errors import classify, describe
from bot.channels.telegram_send import Pace, TelegramSender
from bot.errors import OperatorError
from bot.settings import Settings
from handlers.dispatcher import Dispatcher
from handlers.errors import ServiceUnavailable
from handlers.model import Reply
from storage import users
from storage.users import Identity

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member", "pre_checkout_query"]
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile's limit
STOP_GRACE_S = 10.0
GET_FILE_TRIES = 4  # getFile answering 429/5xx: retried (retry_after, or a short backoff) before giving up
GET_FILE_BACKOFF_S = 0.5
MAX_RETRY_AFTER_S = 30.0
POLL_BACKOFF_S = 0.5
POLL_MAX_BACKOFF_S = 30.0
POLL_STALE_S = 60.0  # /readyz turns 503 after poll_timeout_s + this without a completed getUpdates


_PINNED_RESPONSE_TYPES: list[type[Any]] = []


def _pin_response_types() -> None:
    """Keeps aiogram's `Response[<returned type>]` models alive for every Bot API method.

    aiogram builds `Response[method.__returning__]` on every call to read the answer; pydantic caches generic
    models in a WeakValueDictionary, and these models sit in reference cycles, so each garbage collection
    dropped them and the next call built the model again: about 10% of the front's CPU under load went to
    building pydantic models (`bench/load.py` profile, bench/RESULTS.md). Held here, every call is a cache hit.
    """
    if _PINNED_RESPONSE_TYPES:
        return
    returned = {}
    for name in aiogram_methods.__all__:
        method = getattr(aiogram_methods, name)
        if isinstance(method, type) and issubclass(method, TelegramMethod) and method is not TelegramMethod:
            returned[repr(method.__returning__)] = method.__returning__
    _PINNED_RESPONSE_TYPES.extend(Response[kind] for kind in returned.values())  # type: ignore[valid-type]


class TelegramChannel:
    name = "telegram"
    poll_timeout_s = 25  # long-polling wait per getUpdates call; tests shorten it

    def __init__(self, settings: Settings, dispatcher: Dispatcher) -> None:
        self._settings = settings
        self._dispatcher = dispatcher
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
        self.bot = Bot(settings.telegram_bot_token, session=session)
        self._bot_id = str(self.bot.id)
        pace = Pace(settings.telegram_sends_per_second)
        self.sender = TelegramSender(self.bot, self._mark_unreachable, pace=pace)
        self._secret = settings.telegram_webhook_secret or _derived_secret(settings)
        self._poller: asyncio.Task[None] | None = None
        self.last_poll = time.monotonic()
        self._tasks: set[asyncio.Task[Any]] = set()
        _pin_response_types()

    # Channel protocol ---------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        if self._settings.telegram_mode == "webhook":
            app.router.add_post(WEBHOOK_PATH, self.webhook)

    async def start(self) -> None:
        """Each platform step either works, warns (the bot can go on), or stops start-up with one line."""
        if not self._settings.telegram_bot_username:
            await self._learn_username()
        await telegram_menu.install(self.bot, self._dispatcher.router.table)
        if self._settings.telegram_mode == "webhook":
            try:
                await self.bot.set_webhook(
                    url=self._settings.public_base_url + WEBHOOK_PATH,
                    secret_token=self._secret,
                    allowed_updates=ALLOWED_UPDATES,
                )
            except Exception as error:
                raise OperatorError(f"telegram setWebhook failed: {describe(error)}") from None
            log.info("telegram: webhook registered at %s%s", self._settings.public_base_url, WEBHOOK_PATH)
        else:
            try:
                await self.bot.delete_webhook(drop_pending_updates=False)
            except Exception as error:  # polling still runs; a webhook left set shows up there as 409s
                log.warning("telegram deleteWebhook failed, polling anyway: %s", describe(error))
            self.last_poll = time.monotonic()
            self._poller = asyncio.create_task(self._poll(), name="telegram-polling")
            log.info("telegram: long polling")

    def health(self) -> None:
        """/readyz: raises when long polling has not completed a getUpdates for too long (or stopped)."""
        if self._poller is None:
            return  # webhook mode, or not started: Telegram comes to us
        if self._poller.done():
            raise RuntimeError("telegram polling has stopped")
        silent = time.monotonic() - self.last_poll
        if silent > self.poll_timeout_s + POLL_STALE_S:
            raise RuntimeError(f"telegram getUpdates has not succeeded for {silent:.0f} s")

    async def stop_receiving(self) -> None:
        """Shutdown's first step: take no more updates (unconfirmed ones are redelivered, and deduplicated)."""
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None

    async def stop(self) -> None:
        await self.stop_receiving()
        if self._tasks:  # replies already dispatched: give them a moment to go out
            _, pending = await asyncio.wait(list(self._tasks), timeout=STOP_GRACE_S)
            for task in pending:
                task.cancel()
        await self.bot.session.close()

    async def send(self, chat_id: str, replies: Sequence[Reply]) -> None:
        await self.sender.send(chat_id, replies)

    async def fetch_media(self, file_id: str) -> bytes:
        """The user's file; raises MediaUnavailable (a Refused) or Unavailable, nothing else."""
        file = await self._get_file(file_id)
        if file.file_size is not None and file.file_size > MAX_DOWNLOAD_BYTES:
            raise MediaUnavailable(f"file of {file.file_size} bytes is over Telegram's 20 MB download limit")
        if not file.file_path:
            raise MediaUnavailable("telegram gave no file path")
        try:
            data = await self.bot.download_file(file.file_path)
        except Exception as error:  # the file server's 502 is Unavailable, its 404 MediaUnavailable
            raise classify(error, media=True) from None
        if data is None:
            raise MediaUnavailable("telegram download returned nothing")
        return data.read()

    async def _get_file(self, file_id: str) -> Any:
        """getFile, retried on 429 (after retry_after) and 5xx/network errors: a transient refusal must not
        leave the job waiting for its lease to run out (JOB_LEASE_SECONDS) before anyone tries again."""
        for attempt in range(GET_FILE_TRIES):
            try:
                return await self.bot.get_file(file_id)
            except Exception as error:
                failure = classify(error, media=True)
                if isinstance(failure, Refused) or attempt == GET_FILE_TRIES - 1:
                    raise failure from None
                assert isinstance(failure, Unavailable)
                wait = failure.retry_after if isinstance(error, TelegramRetryAfter) else GET_FILE_BACKOFF_S * 2**attempt
                if wait > MAX_RETRY_AFTER_S:
                    raise failure from None
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    # Receiving ----------------------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            return web.Response(status=401)
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            return web.Response(status=403)
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400)
        try:
            update = self._parse(body)
        except ValidationError:
            log.warning("telegram webhook: unreadable update %s skipped", _update_id(body))
            return web.Response(status=200)  # it will never parse: a redelivery would not help
        await self.handle(update)  # raises (-> 500, Telegram redelivers) when the update was not recorded
        return web.Response(status=200)

    async def handle(self, update: Any) -> None:
        """Dispatch one update; its replies are sent afterwards, in the background, in order for the chat."""
        if update.callback_query is not None:  # always, so the button stops spinning
            query = AnswerCallbackQuery(callback_query_id=update.callback_query.id)
            self._spawn(self._background(self.sender.call(str(update.callback_query.from_user.id), query)))
        member = update.my_chat_member
        if member is not None and member.chat.type == "private":
            chat_id = str(member.chat.id)
            if member.new_chat_member.status == "kicked":
                self.sender.blocked.add(chat_id)
                await self._mark_unreachable(chat_id)
            else:
                self.sender.reachable(chat_id)
            return
        if await self._payment(update):
            return
        event = to_inbound(update)
        if event is None:
            return
        event = dataclasses.replace(event, bot_id=self._bot_id)  # update ids are unique per bot only
        self.sender.reachable(event.chat_id)
        replies = await self._dispatcher.dispatch(event)
        if replies:
            self._spawn(self._background(self.sender.send(event.chat_id, replies)))

    async def _payment(self, update: Any) -> bool:
        """Stars (telegram_pay): pre-checkout answered at once, a successful payment settled; True if handled."""
        if update.pre_checkout_query is not None:
            await telegram_pay.answer_pre_checkout(self.bot, self._dispatcher.services, update.pre_checkout_query)
            return True
        message = update.message
        if message is None or message.successful_payment is None:
            return False
        replies = await telegram_pay.successful_payment(self._dispatcher.services, message)
        if replies:
            self._spawn(self.sender.send(str(message.chat.id), replies))
        return True

    async def _poll(self) -> None:
        """Never ends but by cancellation: any failure (an HTML page from a proxy, a 401, a bug) is logged and
        backed off; `health` turns /readyz to 503 while getUpdates keeps failing."""
        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await self._get_updates(offset)
                failures = 0
                self.last_poll = time.monotonic()
            except asyncio.CancelledError:
                raise
            except TelegramRetryAfter as error:
                await asyncio.sleep(min(float(error.retry_after), POLL_MAX_BACKOFF_S))
                continue
            except Exception as error:
                failures += 1
                log.warning("telegram getUpdates failed (%d in a row): %s", failures, describe(error))
                await asyncio.sleep(min(POLL_BACKOFF_S * 2.0**failures, POLL_MAX_BACKOFF_S))
                continue
            if not updates:
                continue
            try:
                unrecorded = await self._handle_batch(updates)
            except Exception:  # _handle_batch guards each update; this is a last net, the batch comes again
                log.exception("telegram: a batch of updates failed; it is read again")
                failures += 1
                await asyncio.sleep(min(POLL_BACKOFF_S * 2.0**failures, POLL_MAX_BACKOFF_S))
                continue
            if unrecorded is None:
                offset = max(u.update_id for u in updates) + 1
                continue
            # The database or Redis is down: confirm nothing from the first unrecorded update on, so Telegram
            # sends them again (those recorded meanwhile are deduplicated), and give the service a moment.
            offset = unrecorded
            failures += 1
            await asyncio.sleep(min(POLL_BACKOFF_S * 2.0**failures, POLL_MAX_BACKOFF_S))

    async def _get_updates(self, offset: int | None) -> list[Any]:
        try:
            return list(
                await self.bot.get_updates(
                    offset=offset,
                    timeout=self.poll_timeout_s,
                    allowed_updates=ALLOWED_UPDATES,
                    request_timeout=self.poll_timeout_s + 10,
                )
            )
        except ClientDecodeError as error:
            # One malformed update must not block the queue: parse the batch one by one, skipping bad ones.
            raw = error.data.get("result") if isinstance(error.data, dict) else None
            if not isinstance(raw, list):
                raise
            good = []
            for item in raw:
                try:
                    good.append(self._parse(item))
                except ValidationError:
                    log.warning("telegram: unreadable update %s skipped", _update_id(item))
                    good.append(_Skipped(_update_id(item)))
            return good

    async def _handle_batch(self, updates: Iterable[Any]) -> int | None:
        """Chats in parallel, each chat's updates in order. Returns the first update id that could not be
        recorded (the database or Redis was down), or None when every update is recorded (or was bad)."""
        by_chat: dict[str, list[Any]] = {}
        for update in updates:
            by_chat.setdefault(_chat_key(update), []).append(update)
        unrecorded: list[int] = []

        async def run(chat_updates: list[Any]) -> None:
            for update in chat_updates:
                try:
                    await self.handle(update)
                except ServiceUnavailable:
                    unrecorded.append(update.update_id)
                    return  # keep this chat's order: the rest comes again with it
                except Exception:  # a bad update never stops polling; the dispatcher logged its own failures
                    log.exception("telegram update %s failed", update.update_id)

        await asyncio.gather(*(run(u) for u in by_chat.values()))
        return min(unrecorded) if unrecorded else None

    # Helpers ------------------------------------------------------------------------------------

    def _parse(self, data: Any) -> Any:
        from aiogram.types import Update

        return Update.model_validate(data, context={"bot": self.bot})

    async def _background(self, work: Awaitable[Any]) -> None:
        """Replies sent after the update was handled: a refusal is logged (the sender already tried the rest)."""
        try:
            await work
        except ChannelError as error:
            log.info("telegram replies not all delivered: %s", error)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _mark_unreachable(self, chat_id: str) -> None:
        async with self._dispatcher.services.db.transaction() as session:
            await users.mark_unreachable(session, Identity("telegram", chat_id))

    async def _learn_username(self) -> None:
        try:
            me = await self.bot.get_me()
        except TelegramUnauthorizedError:
            raise OperatorError("TELEGRAM_BOT_TOKEN was refused by Telegram (getMe: unauthorized)") from None
        except Exception as error:  # an HTML page, a timeout: the bot still works, its deep links lack the name
            log.warning("telegram getMe failed, deep links will lack the bot's name: %s", describe(error))
            return
        if me.username:
            services = self._dispatcher.services
            services.config = dataclasses.replace(services.config, telegram_bot_username=me.username)
            log.info("telegram: bot is @%s", me.username)


@dataclasses.dataclass(frozen=True, slots=True)
class _Skipped:
    """An update that could not be parsed: only its id is kept, so the offset moves past it."""

    update_id: int
    callback_query: None = None
    my_chat_member: None = None
    message: None = None
    pre_checkout_query: None = None


def _chat_key(update: Any) -> str:
    if getattr(update, "message", None) is not None:
        return str(update.message.chat.id)
    if getattr(update, "callback_query", None) is not None:
        return str(update.callback_query.from_user.id)
    return f"update:{update.update_id}"


def _update_id(data: Any) -> int:
    value = data.get("update_id") if isinstance(data, dict) else None
    return value if isinstance(value, int) else 0


def _derived_secret(settings: Settings) -> str:
    """A stable webhook secret when none is configured (the same across restarts and processes)."""
    return base64.urlsafe_b64encode(settings.secret_key("telegram-webhook")).decode().rstrip("=")
