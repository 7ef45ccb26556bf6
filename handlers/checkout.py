"""The provider side of a purchase, shared by Telegram Stars and bKash: is this payment still good to take
(pre-checkout), and the money arrived (settle once, receipt with the new balance).

These run outside the dispatcher: a payment confirmation must never be dropped by the chat rate limit or
mistaken for a redelivered message, and the grant is keyed by the provider's transaction id instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from handlers.config import Config
from handlers.context import Services
from handlers.i18n import DEFAULT, catalog
from handlers.model import Reply, Text
from storage import ledger, links, payments
from storage.models import Payment, User
from storage.payments import Provider, State
from storage.users import Identity

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Settled:
    """What to tell whom: the replies go to `channel`/`chat_id` (None: nobody to tell, e.g. a replay)."""

    payment: Payment | None
    replies: list[Reply]
    channel: str | None = None
    chat_id: str | None = None
    granted: bool = False


def still_on_sale(config: Config, payment: Payment) -> str | None:
    """None when the pack is on sale at the price the payment was made for; else the reason's locale key."""
    pack = payments.find_pack(config.packs, payment.pack)
    if pack is None:
        return "buy-pack-gone"
    if pack.credits != payment.credits or pack.price(Provider(payment.provider)) != payment.amount:
        return "buy-price-changed"
    return None


async def pre_checkout(
    services: Services, *, payment_id: int | None, user_external_id: str, currency: str, amount: int
) -> tuple[bool, str]:
    """Telegram's pre_checkout_query: (ok, localized reason when not ok). A payment that is no longer on
    sale as invoiced is closed, so its invoice cannot be paid later either."""
    async with services.db.transaction() as session:
        payment = await payments.get(session, payment_id) if payment_id is not None else None
        user = await session.get(User, payment.user_id) if payment and payment.user_id else None
        t = catalog(user.locale if user else DEFAULT)
        payer = Identity("telegram", user_external_id)
        if payment is None or user is None or user.id is None or payment.provider != "stars":
            return False, t("buy-invoice-unknown")
        if payer not in await links.identities(session, user.id):  # another Telegram user than the buyer
            return False, t("buy-invoice-unknown")
        if payment.state != State.PENDING.value:
            return False, t("buy-invoice-used")
        reason = still_on_sale(services.config, payment)
        if reason is None and (currency != payment.currency or amount != payment.amount):
            reason = "buy-price-changed"
        if reason is not None:
            await payments.close(session, payment.id or 0, State.CANCELLED)
            log.info("payment %s refused at pre-checkout: %s", payment.id, reason)
            return False, t(reason)
    return True, ""


async def settle(
    services: Services,
    payment: Payment,
    *,
    transaction_id: str,
    currency: str,
    amount: int,
) -> Settled:
    """The provider confirmed the money: check it against the payment, grant the pack once, write the receipt."""
    async with services.db.transaction() as session:
        fresh = await payments.get(session, payment.id or 0)
        assert fresh is not None
        user = await session.get(User, fresh.user_id) if fresh.user_id else None
        t = catalog(user.locale if user else DEFAULT)
        # The chat the purchase began in (the account may have joined others since).
        chat = await links.identity_on(session, user.id, fresh.channel) if user and user.id else None
        channel, chat_id = (chat.channel, chat.external_id) if chat else (None, None)
        if currency != fresh.currency or amount != fresh.amount:
            await payments.close(session, fresh.id or 0, State.MISMATCH)
            if services.observer is not None:
                services.observer.payment(fresh.provider, State.MISMATCH.value, 0)
            log.error("payment %s: provider reported another amount; nothing granted", fresh.id)
            text = t("buy-paid-mismatch", number=fresh.id or 0, email=services.config.support_email)
            return Settled(fresh, [Text(text=text)], channel, chat_id)
        if user is None:  # erased between paying and the confirmation: the record stays, de-identified
            await payments.close(session, fresh.id or 0, State.FAILED)
            return Settled(fresh, [])
        result = await payments.settle(session, fresh, transaction_id=transaction_id, user_id=user.id or 0)
        if not result.granted:
            if result.payment.transaction_id == transaction_id:
                log.info("payment %s: confirmation repeated; nothing granted again", fresh.id)
                return Settled(result.payment, [], channel, chat_id)
            # Money the provider took for a payment closed meanwhile: nothing automatic, a person decides.
            log.error("payment %s is %s but the provider confirmed a charge", fresh.id, result.payment.state)
            text = t("buy-paid-not-granted", number=fresh.id or 0, email=services.config.support_email)
            return Settled(result.payment, [Text(text=text)], channel, chat_id)
        balance = await ledger.balance(session, user.id or 0)
    if services.observer is not None:
        services.observer.payment(fresh.provider, State.PAID.value, fresh.credits)
    receipt = t("buy-receipt", credits=fresh.credits, balance=balance, number=fresh.id or 0)
    log.info("payment %s paid: %s credits granted", fresh.id, fresh.credits)
    return Settled(result.payment, [Text(text=receipt)], channel, chat_id, granted=True)
