"""bKash on the shared HTTP server: the checkout link (`/pay/bkash/start/<token>`), bKash's redirect back
(`/pay/bkash/callback`), and the reconciler that asks bKash about payments whose callback never came.

The pages are small and localized; they only tell the seller to go back to the chat, where the receipt is.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging

from aiohttp import web

from bot.payments.bkash import BkashClient, BkashError, BkashUnavailable, Credentials
from bot.payments.bkash_checkout import BkashCheckout, Notify, NotOnSale, NotPending, Outcome
from bot.settings import Settings
from handlers import buy
from handlers.context import Services
from handlers.i18n import catalog

log = logging.getLogger(__name__)

CALLBACK_PATH = "/pay/bkash/callback"
RECONCILE_EVERY_S = 60.0


def build(settings: Settings, services: Services, notify: Notify) -> BkashCheckout:
    credentials = Credentials(
        settings.bkash_app_key, settings.bkash_app_secret, settings.bkash_username, settings.bkash_password
    )
    client = BkashClient(settings.bkash_base_url, credentials, timeout_s=settings.bkash_timeout_seconds)
    return BkashCheckout(client, services, notify, settings.public_base_url + CALLBACK_PATH)


def add_routes(app: web.Application, bkash: BkashCheckout) -> None:
    async def start(request: web.Request) -> web.StreamResponse:
        payment_id = buy.checkout_payment_id(bkash.services.config.identity_key, request.match_info["token"])
        if payment_id is None:
            return page(Outcome("unknown"), bkash, status=404)
        try:
            url = await bkash.start(payment_id)
        except LookupError:
            return page(Outcome("unknown"), bkash, status=404)
        except NotPending as done:
            return page(Outcome("paid" if done.state == "paid" else "failed"), bkash, status=410)
        except NotOnSale:
            return page(Outcome("changed"), bkash, status=410)
        except BkashUnavailable:
            return page(Outcome("later"), bkash, status=503)
        except BkashError as error:
            log.warning("bKash refused to create payment %s: %s", payment_id, error.code)
            return page(Outcome("failed"), bkash, status=502)
        raise web.HTTPFound(url)

    async def callback(request: web.Request) -> web.StreamResponse:
        payment_ref = request.query.get("paymentID", "")
        if not payment_ref:
            return page(Outcome("unknown"), bkash, status=400)
        outcome = await bkash.callback(payment_ref, request.query.get("status", ""))
        return page(outcome, bkash, status=404 if outcome.page == "unknown" else 200)

    app.router.add_get(buy.CHECKOUT_PATH + "{token}", start)
    app.router.add_get(CALLBACK_PATH, callback)


def page(outcome: Outcome, bkash: BkashCheckout, *, status: int) -> web.Response:
    t = catalog(outcome.locale)
    text = t(f"bkash-page-{outcome.page}", email=bkash.services.config.support_email)
    body = (
        f'<!doctype html><html lang="{outcome.locale}"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(t('bkash-page-title'))}</title><p>{html.escape(text)}</p></html>"
    )
    return web.Response(status=status, text=body, content_type="text/html", headers={"Cache-Control": "no-store"})


def start_reconciler(bkash: BkashCheckout, every_s: float = RECONCILE_EVERY_S) -> asyncio.Task[None]:
    async def loop() -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                counts = await bkash.reconcile()
                if counts:
                    log.info("bKash reconcile: %s", counts)
            except Exception:  # the next round tries again; one bad round must not end the loop
                log.exception("bKash reconcile failed")

    return asyncio.create_task(loop(), name="bkash-reconcile")


async def stop(bkash: BkashCheckout | None, task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if bkash is not None:
        await bkash.client.aclose()
