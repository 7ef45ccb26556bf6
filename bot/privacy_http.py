"""The privacy side of the server: Meta's data-deletion callback and its status page, and the scheduled
retention purge that `run` keeps going.

Meta posts `signed_request` = base64url(signature) "." base64url(JSON payload), the signature being
HMAC-SHA256 of the payload part with the app secret. Anything that does not verify erases nothing:
400 for a malformed or stale request, 403 for a signature that does not match.

A signed request is a bearer proof that outlives its moment: replayed later it would erase a seller who came
back since. So it is refused unless `issued_at` is recent, and even then it erases only an account that
already existed when it was issued. The id Meta sends is app-scoped; it matches our Messenger/WhatsApp
identity only where Meta uses the same id, and the status page says plainly when nothing could be matched.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import html
import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from babel.dates import format_date

from bot.settings import Settings
from handlers import privacy as privacy_handlers
from handlers.context import Services
from handlers.i18n import catalog, locale_from_hint, to_bengali_digits
from storage import privacy, retention
from storage.users import Identity

log = logging.getLogger(__name__)

CALLBACK_PATH = "/meta/data-deletion"
STATUS_PATH = "/meta/data-deletion/status"
PURGE_INTERVAL_S = 3600.0
PURGE_STOP_GRACE_S = 30.0  # a round deleting a backlog of files may take a while; shutdown waits this long
MAX_AGE_S = 24 * 3600  # Meta calls at once; a day covers its retries, not a replay weeks later
MAX_CLOCK_SKEW_S = 300
_B64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
_USER_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


class SignedRequestError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def _b64url(part: str) -> bytes:
    if not _B64URL.match(part):
        raise SignedRequestError(400, "not base64url")
    try:
        return base64.urlsafe_b64decode(part.rstrip("=") + "=" * (-len(part.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise SignedRequestError(400, "not base64url") from None


@dataclass(frozen=True, slots=True)
class SignedRequest:
    channels: list[str]  # whose app secret signed it
    user_id: str
    issued_at: datetime


def verify_signed_request(signed: str, secrets: dict[str, str], *, now: float | None = None) -> SignedRequest:
    """The verified request; SignedRequestError when forged, malformed or not recent."""
    signature_part, dot, payload_part = signed.strip().partition(".")
    if not dot or not signature_part or not payload_part or len(signed) > 8192:
        raise SignedRequestError(400, "malformed signed_request")
    signature = _b64url(signature_part)
    _b64url(payload_part)
    channels = [
        channel
        for channel, secret in secrets.items()
        if secret
        and hmac.compare_digest(signature, hmac.new(secret.encode(), payload_part.encode(), hashlib.sha256).digest())
    ]
    if not channels:
        raise SignedRequestError(403, "signature does not match")
    try:
        payload: Any = json.loads(_b64url(payload_part))
    except ValueError:
        raise SignedRequestError(400, "payload is not JSON") from None
    if not isinstance(payload, dict) or str(payload.get("algorithm", "HMAC-SHA256")).upper() != "HMAC-SHA256":
        raise SignedRequestError(400, "unexpected payload or algorithm")
    user_id = payload.get("user_id")
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user_id = str(user_id)
    if not isinstance(user_id, str) or not _USER_ID.match(user_id):
        raise SignedRequestError(400, "payload has no usable user_id")
    issued_at = payload.get("issued_at")
    if not isinstance(issued_at, int) or isinstance(issued_at, bool):
        raise SignedRequestError(400, "payload has no issued_at")
    age = (time.time() if now is None else now) - issued_at
    if age > MAX_AGE_S or age < -MAX_CLOCK_SKEW_S:
        raise SignedRequestError(400, "stale signed_request")
    return SignedRequest(channels, user_id, datetime.fromtimestamp(issued_at, UTC))


def add_routes(http: web.Application, settings: Settings, services: Services) -> None:
    secrets = {"messenger": settings.messenger_app_secret, "whatsapp": settings.whatsapp_app_secret}

    async def callback(request: web.Request) -> web.Response:
        if not any(secrets.values()):
            raise web.HTTPNotFound()
        form = await request.post()
        signed = form.get("signed_request")
        if not isinstance(signed, str):
            raise web.HTTPBadRequest(text="signed_request missing")
        try:
            verified = verify_signed_request(signed, secrets)
        except SignedRequestError as error:
            log.warning("data-deletion callback refused: %s", error)
            return web.Response(status=error.status, text=str(error))
        erased = False
        for channel in verified.channels:
            identity = Identity(channel, verified.user_id)
            erased = (
                await privacy_handlers.erase_identity(services, identity, created_before=verified.issued_at) or erased
            )
        async with services.db.transaction() as session:
            code = await privacy.add_receipt(session, erased=erased)
        log.info("data-deletion callback: %s", "erased" if erased else "no such user")
        base = settings.public_base_url or str(request.url.origin())
        return web.json_response({"url": f"{base}{STATUS_PATH}?code={code}", "confirmation_code": code})

    async def status(request: web.Request) -> web.Response:
        lang = locale_from_hint(request.headers.get("Accept-Language", "").split(",")[0])
        t = catalog(lang)
        async with services.db.transaction() as session:
            found = await privacy.receipt(session, request.query.get("code", ""))
        if found is None:
            body, code = t("meta-deletion-unknown", email=settings.support_email), 404
        else:
            day = format_date(found.created_at.date(), format="long", locale=lang)
            day = to_bengali_digits(day) if lang == "bn" else day
            body, code = t("meta-deletion-erased" if found.erased else "meta-deletion-nothing", date=day), 200
        title = t("meta-deletion-title")
        page = (
            f'<!doctype html><html lang="{lang}"><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><h1>{html.escape(title)}</h1><p>{html.escape(body)}</p></html>"
        )
        return web.Response(status=code, text=page, content_type="text/html")

    http.router.add_post(CALLBACK_PATH, callback)
    http.router.add_get(STATUS_PATH, status)


@dataclass
class Purge:
    """The running retention purge: its task, and the event that asks it to stop after its round."""

    task: asyncio.Task[None]
    stopping: asyncio.Event


def start_purge(settings: Settings, services: Services) -> Purge | None:
    """The hourly retention purge of `run` (counts are logged by `storage.retention`)."""
    if services.blobs is None:
        return None
    stopping = asyncio.Event()
    task = asyncio.create_task(
        retention.purge_forever(
            services.db,
            services.blobs,
            uploads_days=settings.retention_days_uploads,
            outputs_days=settings.retention_days_outputs,
            stopping=stopping,
            interval_s=PURGE_INTERVAL_S,
        ),
        name="retention-purge",
    )
    return Purge(task, stopping)


async def stop_purge(purge: Purge | None) -> None:
    """Lets the round in progress finish (a big purge gets `PURGE_STOP_GRACE_S`, then is cancelled)."""
    if purge is None:
        return
    purge.stopping.set()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(purge.task, PURGE_STOP_GRACE_S)
