"""An operator's refund: the provider gives the money back first (Stars: refundStarPayment; bKash: its
refund API), then the payment is marked refunded and the pack's credits that the balance still holds are
taken back in the ledger (never below zero; what was spent already is recorded as unrecovered).

A refund the provider refuses changes nothing here. A provider that says the charge was refunded already
(through its own support) is believed, and recorded the same way.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.errors import OperatorError
from bot.settings import Settings
from handlers.i18n import catalog
from storage import ledger, links, payments
from storage.db import Database
from storage.models import Payment, User
from storage.payments import Provider, State

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)

RECORD_TRIES = 3  # a debit racing the take-back makes its conditional UPDATE refuse: read again and retry


async def refund(settings: Settings, db: Database, payment_id: int) -> tuple[Payment, int]:
    """Returns the refunded payment and the user's balance afterwards (0 when the user was erased)."""
    async with db.transaction() as session:
        payment = await payments.get(session, payment_id)
        user = await session.get(User, payment.user_id) if payment is not None and payment.user_id else None
        # The account may have joined several chats: Stars belong to its Telegram identity.
        buyer = await links.identity_on(session, user.id, "telegram") if user is not None and user.id else None
    if payment is None:
        raise OperatorError(f"no payment {payment_id}")
    if payment.state != State.PAID.value:
        raise OperatorError(f"payment {payment_id} is {payment.state}: only paid payments can be refunded")
    if payment.provider == Provider.STARS.value:
        refund_id = await _refund_stars(settings, payment, buyer.external_id if buyer else None)
    else:
        refund_id = await _refund_bkash(settings, payment)
    for attempt in range(1, RECORD_TRIES + 1):
        try:
            async with db.transaction() as session:
                done = await payments.record_refund(session, payment, refund_id=refund_id)
                balance = await ledger.balance(session, user.id) if user is not None and user.id else 0
            break
        except ledger.InsufficientCredits:
            if attempt == RECORD_TRIES:
                raise OperatorError(
                    f"payment {payment_id}: refunded by the provider, not recorded: run again"
                ) from None
    log.info("payment %s refunded: %s credits taken back", payment_id, done.credits_taken_back)
    if user is not None and buyer is not None and payment.provider == Provider.STARS.value:
        await _tell_on_telegram(settings, user, buyer.external_id, done, balance)
    return done, balance


async def _refund_stars(settings: Settings, payment: Payment, telegram_user: str | None) -> str | None:
    from aiogram.exceptions import TelegramAPIError, TelegramBadRequest

    from bot.channels import telegram_pay

    if telegram_user is None:
        raise OperatorError("the buyer erased their account: refund the charge in Telegram by its id")
    if not settings.telegram_bot_token:
        raise OperatorError("TELEGRAM_BOT_TOKEN is not set: Stars can only be refunded by the bot that took them")
    bot = _bot(settings)
    try:
        await telegram_pay.refund(bot, telegram_user, payment.transaction_id or "")
    except TelegramBadRequest as error:
        if "ALREADY_REFUNDED" not in error.message:
            raise OperatorError(f"Telegram refused the refund: {error.message}") from None
    except TelegramAPIError as error:
        raise OperatorError(f"Telegram refused the refund: {error.message}") from None
    finally:
        await bot.session.close()
    return None


async def _refund_bkash(settings: Settings, payment: Payment) -> str | None:
    from bot.payments.bkash import BkashClient, BkashError, BkashUnavailable, Credentials

    if not settings.bkash_enabled:
        raise OperatorError("BKASH_* settings are not set: bKash payments can only be refunded with them")
    credentials = Credentials(
        settings.bkash_app_key, settings.bkash_app_secret, settings.bkash_username, settings.bkash_password
    )
    client = BkashClient(settings.bkash_base_url, credentials, timeout_s=settings.bkash_timeout_seconds)
    try:
        answer = await client.refund(
            payment_id=payment.provider_payment_id or "",
            trx_id=payment.transaction_id or "",
            amount=payment.amount,
            sku=payment.pack,
            reason="Nexoraz credits refund",
        )
    except BkashError as error:
        if error.code != "2034":  # 2034: reversed already
            raise OperatorError(f"bKash refused the refund: {error.code} {error.message}") from None
        return None
    except BkashUnavailable as error:
        raise OperatorError(f"bKash did not answer ({error}): check with payments list, then run again") from None
    finally:
        await client.aclose()
    return str(answer.get("refundTrxID") or "") or None


def _bot(settings: Settings) -> Bot:
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    return Bot(settings.telegram_bot_token, session=session)


async def _tell_on_telegram(settings: Settings, user: User, chat: str, payment: Payment, balance: int) -> None:
    from aiogram.exceptions import TelegramAPIError

    text = catalog(user.locale)(
        "buy-refunded", number=payment.id or 0, taken=payment.credits_taken_back, balance=balance
    )
    bot = _bot(settings)
    try:
        await bot.send_message(int(chat), text)
    except (TelegramAPIError, OSError) as error:
        log.warning("refund message for payment %s not sent: %s", payment.id, error)
    finally:
        await bot.session.close()
