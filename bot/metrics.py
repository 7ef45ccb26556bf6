"""Prometheus metrics, one registry per App (tests build several apps in one process; nothing is global).

The dispatcher sees them through `handlers.context.Observer` (handlers import no prometheus), the job
runner through its optional `metrics`, and `/metrics` renders the registry in the text format.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot import logs

log = logging.getLogger(__name__)

GC_PAUSE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5)
RENDER_BUCKETS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    """The bot's counters; implements `handlers.context.Observer` for the dispatcher."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(
        self,
        queue_depth: Callable[[], int] | None = None,
        refresh_queue_depth: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._refresh_queue_depth = refresh_queue_depth
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.updates = Counter(
            "nexoraz_updates", "Inbound events dispatched, by channel and kind", ["channel", "kind"], registry=r
        )
        self.rate_limited_total = Counter(
            "nexoraz_rate_limited", "Inbound events refused by the per-user rate limit", ["channel"], registry=r
        )
        self.render_jobs = Counter(
            "nexoraz_render_jobs",
            "Render jobs by the state they reached (delivered, undelivered, failed, handed_back)",
            ["state"],
            registry=r,
        )
        self.gc_pauses = Histogram(
            "nexoraz_gc_pause_seconds",
            "Time this process stood still in the garbage collector (every request in flight waits), by generation",
            ["generation"],
            buckets=GC_PAUSE_BUCKETS,
            registry=r,
        )
        self.render_seconds = Histogram(
            "nexoraz_render_seconds", "Time to render and store one job's outputs", buckets=RENDER_BUCKETS, registry=r
        )
        self.delivery_failures = Counter(
            "nexoraz_delivery_failures",
            "Result deliveries the platform kept refusing (results wait in /history)",
            registry=r,
        )
        self.credits_debited = Counter(
            "nexoraz_credits_debited",
            "Credits charged for render jobs (counted when a job is first taken)",
            registry=r,
        )
        self.credits_refunded = Counter(
            "nexoraz_credits_refunded", "Credits given back for failed render jobs", registry=r
        )
        self.not_right_refunds = Counter(
            "nexoraz_not_right_refunds", 'Results refunded because the seller pressed "not right?"', registry=r
        )
        self.credits_refunded_not_right = Counter(
            "nexoraz_credits_refunded_not_right", 'Credits given back for results called "not right?"', registry=r
        )
        self.doubtful_uncharged = Counter(
            "nexoraz_doubtful_uncharged",
            "Results the render judged doubtful (a hard photo), delivered with advice and not charged",
            registry=r,
        )
        self.payments = Counter(
            "nexoraz_payments",
            "Payments that ended in this process, by provider and state (paid, mismatch, failed, cancelled...)",
            ["provider", "state"],
            registry=r,
        )
        self.credits_purchased = Counter(
            "nexoraz_credits_purchased", "Credits granted for paid packs", ["provider"], registry=r
        )
        self.queue_depth = Gauge("nexoraz_queue_depth", "Render jobs waiting in the queue", registry=r)
        if queue_depth is not None:
            self.queue_depth.set_function(lambda: float(queue_depth()))

    # handlers.context.Observer -------------------------------------------------------------------

    def gc_pause(self, generation: int, seconds: float) -> None:
        self.gc_pauses.labels(str(generation)).observe(seconds)

    def event(self, channel: str, kind: str, event_id: str) -> None:
        self.updates.labels(channel=channel, kind=kind).inc()
        logs.bind(event=f"{channel}/{event_id}"[:200])

    def rate_limited(self, channel: str) -> None:
        self.rate_limited_total.labels(channel=channel).inc()

    def payment(self, provider: str, state: str, credits: int) -> None:
        self.payments.labels(provider=provider, state=state).inc()
        if state == "paid" and credits > 0:
            self.credits_purchased.labels(provider=provider).inc(credits)

    def not_right(self, credits: int) -> None:
        self.not_right_refunds.inc()
        if credits > 0:
            self.credits_refunded_not_right.inc(credits)

    # The job runner ------------------------------------------------------------------------------

    def job_ended(self, state: str) -> None:
        self.render_jobs.labels(state=state).inc()

    def render_time(self, seconds: float) -> None:
        self.render_seconds.observe(seconds)

    def delivery_failed(self) -> None:
        self.delivery_failures.inc()

    def debited(self, credits: int) -> None:
        if credits > 0:
            self.credits_debited.inc(credits)

    def doubtful(self, credits: int) -> None:
        """A doubtful cutout delivered free of charge (`credits` given back; 0 for a free re-style)."""
        self.doubtful_uncharged.inc()
        if credits > 0:
            self.credits_refunded.inc(credits)

    def refunded(self, credits: int) -> None:
        if credits > 0:
            self.credits_refunded.inc(credits)

    async def refresh(self) -> None:
        """Values read on demand before a scrape (the Redis queue's length)."""
        if self._refresh_queue_depth is None:
            return
        try:
            await self._refresh_queue_depth()
        except Exception as error:  # a scrape still answers; /readyz reports the queue itself
            log.warning("metrics: queue depth not refreshed: %s", type(error).__name__)

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)
