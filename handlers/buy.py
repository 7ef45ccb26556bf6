"""Buying credits in the chat: /buy (and `কিনুন`, `buy`, and the offer when credits run out) shows one
button per pack; a tap opens a payment. Telegram sells with Stars (an invoice in the chat, Telegram's rule
for digital goods); WhatsApp, Messenger and the web chat with bKash (a link to this server's checkout
start, which creates the bKash payment and sends the seller on to bKash's page).

/paysupport and /terms are required by Telegram from bots that take payments.
"""

from __future__ import annotations

import hashlib
import hmac

from handlers import contacts
from handlers.context import Context
from handlers.model import Button, Channel, Choice, Inbound, Invoice, Link, Reply, Text
from handlers.router import Router, button_payload
from storage import payments
from storage.payments import Pack, Provider

router = Router()

INVOICE_PREFIX = "nxz-pay:"  # Telegram invoice payload: nxz-pay:<payment id>
CHECKOUT_PATH = "/pay/bkash/start/"


def provider_for(ctx: Context, channel: Channel) -> Provider | None:
    """How this channel pays, or None where nothing can be bought (bKash not configured)."""
    if channel is Channel.TELEGRAM:
        return Provider.STARS
    if ctx.config.bkash_enabled and ctx.config.public_base_url:
        return Provider.BKASH
    return None


def pack_label(ctx: Context, pack: Pack, provider: Provider) -> str:
    key = "buy-pack-stars" if provider is Provider.STARS else "buy-pack-bdt"
    return ctx.t(key, credits=pack.credits, price=pack.price(provider))


def pack_buttons(ctx: Context, channel: Channel) -> tuple[Button, ...]:
    provider = provider_for(ctx, channel)
    if provider is None:
        return ()
    return tuple(
        Button(label=pack_label(ctx, pack, provider), payload=button_payload("buy", pack.id))
        for pack in ctx.config.packs
    )


@router.command("buy", aliases=("কিনুন", "কিনব", "ক্রেডিট কিনুন", "kinun", "kinbo", "purchase", "buy credits"))
async def buy(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    if not ctx.config.packs:
        return [Text(text=ctx.t("buy-nothing-on-sale", more=contacts.block(ctx, "upgrade", "page-codes")))]
    provider = provider_for(ctx, event.channel)
    if provider is None:
        return [Text(text=ctx.t("buy-unavailable", more=contacts.block(ctx, "upgrade", "page-codes")))]
    method = "stars" if provider is Provider.STARS else "bkash"
    return [Choice(text=ctx.t("buy-choose", method=method), buttons=pack_buttons(ctx, event.channel))]


@router.button("buy")
async def pack_chosen(event: Inbound, ctx: Context, pack_id: str) -> list[Reply]:
    """`buy:<pack id>`: a pending payment for the pack as it is on sale now, then the invoice or the link."""
    provider = provider_for(ctx, event.channel)
    pack = payments.find_pack(ctx.config.packs, pack_id)
    if provider is None or pack is None:
        buttons = pack_buttons(ctx, event.channel)
        text = ctx.t("buy-pack-gone")
        return [Choice(text=text, buttons=buttons) if buttons else Text(text=text)]
    payment = await payments.create(
        ctx.session, user_id=ctx.user_id, channel=event.channel.value, provider=provider, pack=pack
    )
    assert payment.id is not None
    if provider is Provider.STARS:
        return [
            Invoice(
                title=ctx.t("buy-invoice-title", credits=pack.credits),
                description=ctx.t("buy-invoice-description", credits=pack.credits, cost=ctx.config.render_cost),
                payload=f"{INVOICE_PREFIX}{payment.id}",
                currency=payments.CURRENCY[provider],
                amount=pack.price_stars,
                label=ctx.t("buy-invoice-label", credits=pack.credits),
            )
        ]
    url = ctx.config.public_base_url + CHECKOUT_PATH + checkout_token(ctx.config.identity_key, payment.id)
    return [
        Link(
            text=ctx.t("buy-bkash-link", credits=pack.credits, price=pack.price_bdt, number=payment.id),
            label=ctx.t("buy-bkash-button"),
            url=url,
        )
    ]


@router.command("paysupport", aliases=("payment help", "pay support", "পেমেন্ট সাহায্য"))
async def pay_support(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    return [Text(text=ctx.t("paysupport", contacts=contacts.block(ctx, "email", "whatsapp")))]


@router.command("terms", aliases=("শর্তাবলি", "শর্ত"))
async def terms(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
    return [Text(text=ctx.t("terms", contacts=contacts.block(ctx, "privacy", "email")))]


def invoice_payment_id(payload: str) -> int | None:
    number = payload.removeprefix(INVOICE_PREFIX)
    if not payload.startswith(INVOICE_PREFIX) or not number.isdigit() or len(number) > 18:
        return None
    return int(number)


def checkout_token(key: bytes, payment_id: int) -> str:
    """`<id>-<mac>`: the checkout link names its payment without letting anyone walk through the ids."""
    return f"{payment_id}-{_mac(key, payment_id)}"


def checkout_payment_id(key: bytes, token: str) -> int | None:
    number, _, mac = token.partition("-")
    if not number.isdigit() or len(number) > 18:
        return None
    return int(number) if hmac.compare_digest(mac, _mac(key, int(number))) else None


def _mac(key: bytes, payment_id: int) -> str:
    return hmac.new(key, f"bkash-checkout:{payment_id}".encode(), hashlib.sha256).hexdigest()[:24]
