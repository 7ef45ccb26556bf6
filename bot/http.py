"""The shared HTTP server: webhooks, the web chat, and the operator's probes.

`/healthz`: the process is up (liveness). `/readyz`: the database answers, Redis answers (when
configured) and the render queue is reachable; 503 names the part that failed, so a load balancer stops
sending traffic and an operator knows where to look. `/metrics`: Prometheus text format.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from bot import logs

if TYPE_CHECKING:
    from bot.metrics import Metrics

MAX_REQUEST_BYTES = 25 * 1024 * 1024  # the web chat's photo uploads; platforms' webhooks are far smaller
CHECK_TIMEOUT_S = 2.0
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

Check = Callable[[], Awaitable[object]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every log line of a request carries its id: the caller's X-Request-Id when sane, else a fresh one."""
    given = request.headers.get("X-Request-Id", "")
    request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
    with logs.scope(request_id=request_id):
        response = await handler(request)
    if not response.prepared:
        response.headers["X-Request-Id"] = request_id
    return response


def create_http_app() -> web.Application:
    app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[request_ids])
    app.router.add_get("/healthz", healthz)
    return app


async def _run_check(check: Check) -> str:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT_S:g}s"
    except Exception as error:  # any failure means "not ready"; its class says which kind (no URLs, no secrets)
        return f"failed: {type(error).__name__}"
    return "ok"


def add_ops_routes(
    app: web.Application, checks: Mapping[str, Check], metrics: Metrics | None, info: Mapping[str, str] | None = None
) -> None:
    """Mount /readyz (each named check must pass; `info` is reported beside, e.g. the segmenter in use) and
    /metrics (when `metrics` is given)."""

    async def readyz(_request: web.Request) -> web.Response:
        names = list(checks)
        results = await asyncio.gather(*(_run_check(checks[name]) for name in names))
        report = dict(zip(names, results, strict=True))
        failed = sorted(name for name, result in report.items() if result != "ok")
        body = {"status": "ok" if not failed else "unavailable", "failed": failed, "checks": report, **(info or {})}
        return web.json_response(body, status=200 if not failed else 503)

    app.router.add_get("/readyz", readyz)
    if metrics is None:
        return

    async def metrics_page(_request: web.Request) -> web.Response:
        await metrics.refresh()
        return web.Response(body=metrics.render(), headers={"Content-Type": metrics.content_type})

    app.router.add_get("/metrics", metrics_page)
