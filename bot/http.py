"""The shared HTTP server: webhooks, the web chat, /healthz."""

from __future__ import annotations

from aiohttp import web

MAX_REQUEST_BYTES = 25 * 1024 * 1024  # the web chat's photo uploads; platforms' webhooks are far smaller


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_http_app() -> web.Application:
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app.router.add_get("/healthz", healthz)
    return app
