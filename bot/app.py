"""The composition root: the one place where settings become engines, clients, channels and services."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot import heap, privacy_http
from bot.channels.base import Channel
from bot.channels.webchat import WebChat
from bot.channels.webchat_identity import Lookup, WebIdentity
from bot.channels.webchat_relay import LocalPush
from bot.channels.webchat_store import WebChatStore
from bot.http import Check, add_ops_routes, create_http_app
from bot.metrics import Metrics
from bot.segmenter_policy import choose_segmenter
from bot.settings import Settings
from bot.workers import JobRunner, MemoryJobQueue, fair_pick
from handlers import basics, buy, credits, linking, mydata, not_right, photos, privacy, results, styles
from handlers.config import Config
from handlers.context import Services
from handlers.dispatcher import Dispatcher
from handlers.router import Router
from storage import ledger, migrate, users
from storage.blobs import BlobStore
from storage.db import Database
from storage.limits import MemoryRateLimiter, RateLimiter, RedisRateLimiter

if TYPE_CHECKING:
    from bot.queue_redis import RedisJobQueue

log = logging.getLogger(__name__)

# After SIGTERM: how long jobs already taken (and those queued behind them) may finish before the rest are
# handed back. Web chat uploads live in this process's memory, so finishing beats handing back.
STOP_GRACE_S = 30.0


def handler_config(settings: Settings) -> Config:
    return Config(
        signup_credits=settings.signup_credits,
        web_visitor_credits=settings.web_gift,
        render_cost=settings.render_cost,
        max_pending_per_user=settings.max_pending_per_user,
        max_queue_depth=settings.max_queue_depth,
        not_right_refunds_per_day=settings.not_right_refunds_per_day,
        support_email=settings.support_email,
        support_whatsapp=settings.support_whatsapp,
        facebook_page_url=settings.facebook_page_url,
        upgrade_url=settings.upgrade_url,
        tutorial_video_url=settings.tutorial_video_url,
        privacy_url=settings.privacy_url,
        policy_version=settings.policy_version,
        retention_days_uploads=settings.retention_days_uploads,
        retention_days_outputs=settings.retention_days_outputs,
        identity_key=settings.secret_key("identity"),
        telegram_bot_username=settings.telegram_bot_username,
        whatsapp_display_number=settings.whatsapp_display_number,
        facebook_page_id=settings.facebook_page_id,
        packs=settings.packs,
        public_base_url=settings.public_base_url,
        bkash_enabled=settings.bkash_enabled,
    )


def build_router() -> Router:
    return Router().include(
        [
            basics.router,
            linking.router,
            credits.router,
            photos.router,
            results.router,
            not_right.router,
            styles.router,
            privacy.router,
            mydata.router,
            buy.router,
        ]
    )


@dataclass
class App:
    settings: Settings
    db: Database
    services: Services
    dispatcher: Dispatcher
    http: web.Application
    channels: list[Channel] = field(default_factory=list)
    redis: Any = None
    runner: web.AppRunner | None = None
    workers: JobRunner | None = None
    purge: privacy_http.Purge | None = None
    metrics: Metrics | None = None
    bkash: Any = None  # bot.payments.bkash_checkout.BkashCheckout when BKASH_* are set
    bkash_task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when HTTP_PORT=0 asks the system for a free one)."""
        assert self.runner is not None
        for site in self.runner.sites:
            server = getattr(site, "_server", None)
            if server is not None and server.sockets:
                return int(server.sockets[0].getsockname()[1])
        return self.settings.http_port

    def channel(self, name: str) -> Channel:
        return next(c for c in self.channels if c.name == name)


def create_app(settings: Settings) -> App:
    """Wire everything; no I/O happens here (see `start`)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    redis = None
    limiter: RateLimiter
    if settings.redis_url:
        from redis.asyncio import Redis

        redis = Redis.from_url(settings.redis_url)
        limiter = RedisRateLimiter(redis, prefix=settings.redis_prefix, secret=settings.secret_key("limits"))
    else:
        limiter = MemoryRateLimiter()
    blobs = BlobStore(settings.data_dir, settings.secret_key("files"))
    queue: MemoryJobQueue | RedisJobQueue
    relay = None
    if settings.redis_url:
        # Scale-out: jobs go to a Redis stream that `python -m bot worker` processes consume; this process
        # renders nothing itself (no embedded consumer): run at least one worker next to it.
        from bot.channels.webchat_relay import WebChatRelay
        from bot.queue_redis import RedisJobQueue

        assert redis is not None
        queue = RedisJobQueue(
            settings.redis_url,
            prefix=settings.redis_prefix,
            redeliver_after_s=settings.queue_redeliver_seconds,
            pick=fair_pick(db),  # a worker serves users in turn, as the in-process queue does
        )
        relay = WebChatRelay(redis, prefix=settings.redis_prefix, key=settings.secret_key("webchat-relay"))
    else:
        queue = MemoryJobQueue(fair_pick(db))
    metrics = Metrics(queue.depth, getattr(queue, "refresh_depth", None))
    services = Services(
        db=db, limiter=limiter, config=handler_config(settings), blobs=blobs, jobs=queue, observer=metrics
    )
    dispatcher = Dispatcher(services, build_router(), basics.fallback)
    http = create_http_app()
    app = App(
        settings=settings, db=db, services=services, dispatcher=dispatcher, http=http, redis=redis, metrics=metrics
    )

    async def locale_of(visitor: str) -> str | None:
        async with db.read() as session:
            user = await users.find(session, users.Identity("web", visitor))
            return user.locale if user else None

    store = WebChatStore(db, blobs)

    async def web_visitor_state(visitor: str, message_id: str | None) -> Lookup:
        """Live (with the account's id, and the turn kept for `message_id` if the page sent one before), erased
        (an account once existed: its identity is remembered past /delete) or never seen; one read."""
        identity = users.Identity("web", visitor)
        async with db.read() as session:
            if (user_id := await users.find_id(session, identity)) is not None:
                kept = await store.answered_in(session, user_id, message_id) if message_id else None
                return Lookup("live", user_id, kept)
            erased = await ledger.signup_granted(session, identity.keyed_hash(settings.secret_key("identity")))
            return Lookup("erased" if erased else "unknown")

    async def adopt_legacy_visitor(token: str, visitor: str) -> bool:
        async with db.transaction() as session:
            return await users.rekey(session, users.Identity("web", token), visitor) is not None

    push = relay if relay is not None else LocalPush()
    identity = WebIdentity(
        settings.secret_key("webchat-visitor"),
        web_visitor_state,
        adopt_legacy_visitor,
        public_base_url=settings.public_base_url,
        trusted_proxy=settings.trusted_proxy,
    )
    webchat = WebChat(
        dispatcher.dispatch,
        locale_of,
        store,
        push,
        identity,
        services.limiter,
        settings.web_new_visitors_per_hour,
    )
    app.channels.append(webchat)
    if settings.telegram_enabled:
        from bot.channels.telegram import TelegramChannel

        app.channels.append(TelegramChannel(settings, dispatcher))
    if settings.whatsapp_enabled:
        from bot.channels.whatsapp import WhatsAppChannel

        app.channels.append(WhatsAppChannel(settings, dispatcher))
    if settings.messenger_enabled:
        from bot.channels.messenger import MessengerChannel

        app.channels.append(MessengerChannel(settings, dispatcher))
    for channel in app.channels:
        channel.add_routes(http)
    privacy_http.add_routes(http, settings, services)
    if settings.bkash_enabled:
        from bot.payments import bkash_http

        app.bkash = bkash_http.build(settings, services, notifier(app))
        bkash_http.add_routes(http, app.bkash)
    if isinstance(queue, MemoryJobQueue):
        app.workers = JobRunner(
            settings,
            db,
            blobs,
            {c.name: c for c in app.channels},
            queue.take,
            queue.enqueue,
            queued=queue.queued_ids,
            metrics=metrics,
        )
        queue.in_hand = app.workers.in_flight.copy  # taken, maybe not claimed yet: counts in the fair choice
    segmenter = choose_segmenter(settings, strict=False).describe()
    add_ops_routes(http, readiness_checks(app), metrics, info={"segmenter": segmenter})
    return app


def notifier(app: App) -> Any:
    """Messages that do not answer an inbound event (a payment confirmed on bKash's redirect)."""

    async def notify(channel_name: str, chat_id: str, replies: Sequence[Any]) -> None:
        channel = next((c for c in app.channels if c.name == channel_name), None)
        if channel is None:
            log.warning("no %s channel running: a payment message was not sent", channel_name)
            return
        try:
            await channel.send(chat_id, replies)
        except Exception as error:  # the payment is recorded; the chat shows it in /credits
            log.warning("payment message to a %s chat not sent: %s", channel_name, error)

    return notify


def readiness_checks(app: App) -> dict[str, Check]:
    """What /readyz asks: the database, Redis when configured, the render queue, and each channel that
    can tell whether it still receives (a `health()` that raises when it does not)."""

    async def database() -> None:
        async with app.db.engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")

    async def redis() -> None:
        await app.redis.ping()

    async def queue() -> None:
        refresh = getattr(app.services.jobs, "refresh_depth", None)
        if refresh is not None:
            await refresh()  # the Redis stream answers
        elif app.workers is None or not app.workers.alive():
            raise RuntimeError("the in-process render workers are not running")

    checks: dict[str, Check] = {"database": database}
    if app.redis is not None:
        checks["redis"] = redis
    checks["queue"] = queue
    for channel in app.channels:
        health = getattr(channel, "health", None)  # e.g. Telegram's long polling has not gone deaf
        if health is not None:
            checks[channel.name] = _sync_check(health)
    return checks


def _sync_check(health: Any) -> Check:
    async def check() -> None:
        health()

    return check


async def start(app: App) -> None:
    if app.settings.is_sqlite:
        await migrate.upgrade_async(app.settings.effective_database_url)
    else:
        await migrate.require_current(app.settings.effective_database_url)
    app.runner = web.AppRunner(app.http, access_log=None, handle_signals=False)
    await app.runner.setup()
    site = web.TCPSite(app.runner, app.settings.http_host, app.settings.http_port)
    await site.start()
    for channel in app.channels:
        await channel.start()
    if app.workers is not None:
        await app.workers.start()
    app.purge = privacy_http.start_purge(app.settings, app.services)
    if app.bkash is not None:
        from bot.payments import bkash_http

        app.bkash_task = bkash_http.start_reconciler(app.bkash)
    names = ", ".join(c.name for c in app.channels)
    log.info("serving on http://%s:%s/ ; channels active: %s", app.settings.http_host, app.port, names)
    if [c.name for c in app.channels] == ["web"]:
        log.info("no platform tokens set: only the web chat runs (set TELEGRAM_BOT_TOKEN, WHATSAPP_*, MESSENGER_*)")


async def stop(app: App, grace_s: float = 0.0) -> None:
    """Stop taking updates, let taken jobs finish for up to `grace_s`, hand back the rest, close everything.

    The listening sockets close first (connections already open, e.g. a web chat's event stream, stay until
    the end so results rendered meanwhile still reach them); a channel offering `stop_receiving` stops its
    polling at once. Jobs still running after the grace are released and rendered on the next start.
    """
    if app.runner is not None:
        for site in list(app.runner.sites):
            await site.stop()
    for channel in app.channels:
        stop_receiving = getattr(channel, "stop_receiving", None)
        if stop_receiving is not None:
            await stop_receiving()
    await privacy_http.stop_purge(app.purge)
    if app.bkash is not None:
        from bot.payments import bkash_http

        await bkash_http.stop(app.bkash, app.bkash_task)
    if app.workers is not None:
        await _drain(app, app.workers, grace_s)
        await app.workers.stop()  # jobs still in flight are handed back and picked up on the next start
    for channel in reversed(app.channels):
        await channel.stop()
    if app.runner is not None:
        await app.runner.cleanup()
    close_queue = getattr(app.services.jobs, "aclose", None)  # the Redis queue's connections
    if close_queue is not None:
        await close_queue()
    if app.redis is not None:
        await app.redis.aclose()
    await app.db.dispose()


async def _drain(app: App, workers: JobRunner, grace_s: float) -> None:
    deadline = time.monotonic() + grace_s
    queue = app.services.jobs

    def busy() -> bool:
        return bool(workers.in_flight) or (queue is not None and queue.depth() > 0)

    while time.monotonic() < deadline:
        if not busy():
            break
        await asyncio.sleep(0.1)
    if busy():
        log.warning("stopping: %s job(s) in flight are handed back", len(workers.in_flight))
    elif grace_s > 0:
        log.info("stopping: every accepted job is finished")


async def serve(settings: Settings, stop_signals: Sequence[signal.Signals] = (signal.SIGINT, signal.SIGTERM)) -> None:
    app = create_app(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in stop_signals:
        loop.add_signal_handler(sig, stopping.set)
    try:
        await start(app)
    except BaseException:  # a one-line start-up error: close what was opened, so nothing else is printed
        await stop(app)
        raise
    heap.settle_after_start()
    pauses = heap.PauseWatch(app.metrics.gc_pause) if app.metrics is not None else None
    if pauses is not None:
        pauses.attach()
    try:
        await stopping.wait()
        log.info("stopping: no new updates; jobs in flight have %ss to finish", STOP_GRACE_S)
    finally:
        if pauses is not None:
            pauses.detach()
        await stop(app, STOP_GRACE_S)
    log.info("stopped")
