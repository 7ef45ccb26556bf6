"""Telegram Stars: the invoice, the pre-checkout answer, the successful payment, the refund.

Telegram gives the bot 10 seconds to answer a `pre_checkout_query`; the check has a budget below that and
a check that could not finish is answered with a refusal (nothing is charged) rather than left to expire.
A `successful_payment` goes to `handlers.checkout.settle`, keyed by `telegram_payment_charge_id`, so a
redelivered update (same or new update_id) grants nothing. When the database cannot record it, the update
is not acknowledged (`ServiceUnavailable`) and Telegram delivers it again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot
from aiogram.methods import AnswerPreCheckoutQuery, RefundStarPayment, SendInvoice
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice, Message, PreCheckoutQuery

from bot.channels.telegram_convert import truncate
from handlers import buy, checkout, contacts
from handlers.context import Services
from handlers.errors import ServiceUnavailable
from handlers.i18n import catalog, locale_from_hint
from handlers.model import Invoice, Link, Reply, Text
from storage import payments
from storage.errors import is_transient
from storage.payments import Provider

log = logging.getLogger(__name__)

PRE_CHECKOUT_BUDGET_S = 7.0  # Telegram allows 10 s in all; the answer itself needs a moment too
MAX_TITLE = 32
MAX_DESCRIPTION = 255


def invoice_method(chat_id: str, invoice: Invoice) -> SendInvoice:
    """Stars: currency XTR, exactly one price, no provider token."""
    return SendInvoice(
        chat_id=chat_id,
        title=truncate(invoice.title, MAX_TITLE),
        description=truncate(invoice.description, MAX_DESCRIPTION),
        payload=invoice.payload,
        currency=invoice.currency,
        prices=[LabeledPrice(label=invoice.label, amount=invoice.amount)],
    )


def link_markup(link: Link) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=truncate(link.label, 64), url=link.url)]])


async def answer_pre_checkout(bot: Bot, services: Services, query: PreCheckoutQuery) -> None:
    ok, reason = False, catalog(locale_from_hint(query.from_user.language_code))("buy-try-again")
    try:
        ok, found = await asyncio.wait_for(
            checkout.pre_checkout(
                services,
                payment_id=buy.invoice_payment_id(query.invoice_payload),
                user_external_id=str(query.from_user.id),
                currency=query.currency,
                amount=query.total_amount,
            ),
            PRE_CHECKOUT_BUDGET_S,
        )
        reason = found or reason
    except TimeoutError:
        log.warning("pre-checkout %s: no answer within %ss; refused", query.id, PRE_CHECKOUT_BUDGET_S)
    except Exception as error:
        if not is_transient(error):
            log.exception("pre-checkout %s failed; refused", query.id)
        else:
            log.warning("pre-checkout %s: database unavailable (%s); refused", query.id, error)
    answer = AnswerPreCheckoutQuery(pre_checkout_query_id=query.id, ok=ok, error_message=None if ok else reason)
    try:
        await bot(answer)
    except Exception as error:  # the query expired or Telegram is down: the buyer was not charged
        log.warning("answerPreCheckoutQuery %s failed: %s", query.id, error)


async def successful_payment(services: Services, message: Message) -> list[Reply]:
    paid = message.successful_payment
    assert paid is not None
    try:
        async with services.db.transaction() as session:
            payment_id = buy.invoice_payment_id(paid.invoice_payload)
            payment = await payments.get(session, payment_id) if payment_id is not None else None
        if payment is None or payment.provider != Provider.STARS.value:
            log.error("successful_payment for an unknown invoice (charge recorded by Telegram only)")
            t = catalog(locale_from_hint(message.from_user.language_code if message.from_user else None))
            found = contacts.block_for(services.config, t, "email", "whatsapp")
            return [Text(text=t("paysupport", contacts=found))]
        settled = await checkout.settle(
            services,
            payment,
            transaction_id=paid.telegram_payment_charge_id,
            currency=paid.currency,
            amount=paid.total_amount,
        )
    except Exception as error:
        if is_transient(error):
            raise ServiceUnavailable(str(error)) from error
        raise
    return settled.replies


async def refund(bot: Bot, user_id: str, charge_id: str) -> Any:
    """refundStarPayment; raises aiogram's errors (the CLI reports them and records nothing)."""
    return await bot(RefundStarPayment(user_id=int(user_id), telegram_payment_charge_id=charge_id))
