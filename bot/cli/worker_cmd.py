"""`python -m bot worker`: render jobs from the Redis queue (REDIS_URL); run as many as you like, anywhere.

A worker needs what the front needs to finish a job: the database (DATABASE_URL), the blob store and its
key (DATA_DIR shared, and FILES_KEY equal to the front's), and the channels' credentials, because it
fetches the photo and delivers the results itself. Channels run send-only here: no polling, no webhook
registration, no HTTP server. SIGTERM (or Ctrl-C): stop taking jobs, let the one in flight finish for up to
`--grace` seconds, then hand it back (its row is released and it is queued again for another worker).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.errors import OperatorError

if TYPE_CHECKING:
    from bot.queue_redis import RedisJobQueue
    from bot.settings import Settings
    from bot.workers import JobRunner

log = logging.getLogger(__name__)

DEFAULT_GRACE_S = 60.0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "worker",
        help="render jobs from the Redis queue (needs REDIS_URL); run any number of them, on any machine",
        description="Consume the render queue on Redis: fetch each photo through its channel, render it, store "
        "and deliver the results. Needs REDIS_URL, the front's DATABASE_URL, DATA_DIR files and FILES_KEY.",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE_S,
        metavar="SECONDS",
        help=f"after SIGTERM, how long the job in flight may finish before it is handed back ({DEFAULT_GRACE_S:g})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from bot import logs
    from bot.segmenter_policy import choose_segmenter
    from bot.settings import load_settings
    from storage.migrate import SchemaOutOfDate

    settings = load_settings()
    if not settings.redis_url:
        raise OperatorError(
            "the worker needs REDIS_URL (e.g. redis://127.0.0.1:6379/0), the queue it takes jobs from; "
            "without Redis, `python -m bot run` renders in its own process"
        )
    logs.configure(settings.log_level, key=settings.secret_key("logs"), secrets=settings.log_secrets)
    choose_segmenter(settings, serving=True)  # a worker renders for sellers: never the fallback by accident
    try:
        asyncio.run(serve(settings, grace_s=max(0.0, args.grace)))
    except SchemaOutOfDate as exc:
        raise OperatorError(str(exc)) from None
    except (OSError, RedisConnectionError) as exc:
        raise OperatorError(f"cannot start the worker: {exc} (are Redis and the database reachable?)") from None
    return 0


async def serve(
    settings: Settings,
    *,
    grace_s: float = DEFAULT_GRACE_S,
    stop_signals: Sequence[signal.Signals] = (signal.SIGINT, signal.SIGTERM),
) -> None:
    from taskiq import AcknowledgeType
    from taskiq.receiver import Receiver

    from bot import app as app_module
    from bot.queue_redis import RedisJobQueue
    from bot.workers import JobRunner
    from storage import migrate

    app = app_module.create_app(settings)  # builds; starts nothing (no HTTP server, no channel is started)
    queue = app.services.jobs
    blobs = app.services.blobs
    assert isinstance(queue, RedisJobQueue) and blobs is not None
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in stop_signals:
        loop.add_signal_handler(sig, stopping.set)

    async def never_take() -> int:
        raise RuntimeError("a Redis worker takes its jobs from taskiq, not from JobRunner consumers")

    runner = JobRunner(
        settings,
        app.db,
        blobs,
        {c.name: c for c in app.channels},
        never_take,
        queue.enqueue,
        queued=queue.queued_ids,
        sweep_turn=queue.sweep_turn,
    )
    queue.attach(runner)
    listening: asyncio.Task[None] | None = None
    try:
        if settings.is_sqlite:
            await migrate.upgrade_async(settings.effective_database_url)
        else:
            await migrate.require_current(settings.effective_database_url)
        await queue.startup()
        await runner.start(consume=False)  # the sweeper: re-queues jobs a lost message left behind
        receiver = Receiver(
            queue.broker,
            max_async_tasks=settings.render_workers,
            max_prefetch=0,
            run_startup=False,
            ack_type=AcknowledgeType.MANUAL,  # RedisJobQueue.handle acks once the job row is finished
            wait_tasks_timeout=grace_s,
        )
        finish = asyncio.Event()
        listening = asyncio.create_task(receiver.listen(finish), name="taskiq-receiver")
        log.info(
            "worker ready: %s render process(es), stream %s, redelivery after %ss",
            settings.render_workers,
            queue.stream,
            settings.queue_redeliver_seconds,
        )
        stop_waiter = asyncio.create_task(stopping.wait())
        await asyncio.wait({stop_waiter, listening}, return_when=asyncio.FIRST_COMPLETED)
        stop_waiter.cancel()
        if listening.done():
            listening.result()  # the receiver failed: raise its error
        log.info("worker stopping: no new jobs; the one in flight has %ss to finish", grace_s)
        finish.set()
        await listening  # returns when the jobs in flight are done or the grace period is over
        listening = None
        await _hand_back(queue, runner)
    finally:
        if listening is not None:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listening
        await runner.stop()
        for channel in reversed(app.channels):
            with contextlib.suppress(Exception):
                await channel.stop()  # never started: only closes clients
        await queue.aclose()
        if app.redis is not None:
            await app.redis.aclose()
        await app.db.dispose()
        log.info("worker stopped")


async def _hand_back(queue: RedisJobQueue, runner: JobRunner) -> None:
    """Jobs still running after the grace period: cancel them (RedisJobQueue.handle hands each back)."""
    tasks = list(queue.in_flight.values())
    if not tasks:
        return
    log.warning("worker stopping: handing back %s job(s) still rendering", len(tasks))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for process in runner.pool.processes():
        with contextlib.suppress(Exception):
            process.terminate()  # the render itself: its result would come too late
    runner.pool.discard()
