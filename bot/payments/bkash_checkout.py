"""A bKash purchase from the link button to the credits: start, callback, reconcile.

- start: the seller opens our link; the payment is created with bKash only now (its page expires), for the
  pack as it is on sale now, and the seller goes on to `bkashURL`.
- callback: bKash sends the seller's browser back with `paymentID` and `status`. Nothing in that query
  string is believed: the payment must be ours and pending, the pack still on sale at the price paid
  (else it is not executed, so nothing is charged), and only bKash's own execute (or, when the execute
  times out or was done before, its query) says whether money moved, how much, and the trxID.
- reconcile: payments whose callback never came are queried after a while; completed ones are granted,
  old ones that never completed expire.

Granting goes through `handlers.checkout.settle` (pending -> paid once, ledger key
`purchase:bkash:<trxID>`), so a replayed or doubled callback grants nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.payments.bkash import ALREADY_COMPLETED, BkashClient, BkashError, BkashUnavailable
from handlers import checkout
from handlers.context import Services
from handlers.i18n import DEFAULT, catalog
from handlers.model import Reply, Text
from storage import links, payments
from storage.models import Payment, User
from storage.payments import Provider, State
from storage.types import utcnow

log = logging.getLogger(__name__)

Notify = Callable[[str, str, Sequence[Reply]], Awaitable[None]]
EXPIRE_AFTER = timedelta(hours=2)  # a checkout never completed by then is closed (bKash's own session is shorter)


class NotOnSale(Exception):
    """The pack changed or vanished before the seller paid: nothing was (or will be) charged."""


class NotPending(Exception):
    """The link of a payment that is paid or closed already (opened again from the chat)."""

    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


@dataclass(frozen=True, slots=True)
class Outcome:
    page: str  # bkash-page-* locale key: paid, failed, changed, unknown, later
    locale: str = DEFAULT


class BkashCheckout:
    def __init__(self, client: BkashClient, services: Services, notify: Notify, callback_url: str) -> None:
        self.client = client
        self.services = services
        self.notify = notify
        self.callback_url = callback_url

    async def start(self, payment_id: int) -> str:
        """The bKash page to send the seller to; raises NotOnSale, NotPending, BkashError, BkashUnavailable,
        LookupError."""
        async with self.services.db.transaction() as session:
            payment = await payments.get(session, payment_id)
            if payment is None or payment.provider != Provider.BKASH.value:
                raise LookupError("no such bKash payment")
            if payment.state != State.PENDING.value:
                raise NotPending(payment.state)
            gone = checkout.still_on_sale(self.services.config, payment) is not None
            if gone:  # closed in this transaction, which must commit: raise only after it
                await payments.close(session, payment_id, State.CANCELLED)
        if gone:
            raise NotOnSale()
        created = await self.client.create(
            amount=payment.amount,
            invoice=invoice_number(payment_id),
            payer_reference=f"nxz{payment_id}",  # no phone or name: bKash asks the payer itself
            callback_url=self.callback_url,
        )
        async with self.services.db.transaction() as session:
            await payments.set_provider_payment(session, payment_id, str(created["paymentID"]))
        return str(created["bkashURL"])

    async def callback(self, payment_ref: str, status: str) -> Outcome:
        async with self.services.db.transaction() as session:
            payment = await payments.by_provider_payment(session, Provider.BKASH, payment_ref[:128])
            locale = await _locale(session, payment)
        if payment is None:
            log.warning("bKash callback for a payment we never created: ignored")
            return Outcome("unknown")
        if payment.state == State.PAID.value:
            return Outcome("paid", locale)  # a replay, or the second of two callbacks: nothing again
        if payment.state != State.PENDING.value:
            return Outcome("changed" if payment.state == State.CANCELLED.value else "failed", locale)
        if status != "success":
            return await self._not_paid(payment, locale)
        return await self._execute(payment, locale, final=True)

    async def reconcile(self, older_than: timedelta = timedelta(minutes=5)) -> dict[str, int]:
        """Pending bKash payments whose callback never came: ask bKash, grant or expire. Counts by outcome."""
        counts: dict[str, int] = {}
        async with self.services.db.transaction() as session:
            stale = await payments.stale_pending(session, Provider.BKASH, utcnow() - older_than)
        for payment in stale:
            outcome = "pending"
            if payment.provider_payment_id:
                result = await self._query_or_none(payment)
                status = result.get("transactionStatus") if result is not None else None
                if result is not None and status == "Completed":
                    outcome = (await self._conclude(payment, result, DEFAULT)).page
                elif status == "Initiated":  # approved with the redirect lost, or not paid yet: bKash decides
                    outcome = (await self._execute(payment, DEFAULT, final=False)).page
                    outcome = "pending" if outcome == "later" else outcome
                elif status in ("Failed", "Cancelled"):
                    await self._close(payment, State.FAILED, "buy-bkash-failed")
                    outcome = "failed"
            if outcome == "pending" and utcnow() - payment.created_at > EXPIRE_AFTER:
                async with self.services.db.transaction() as session:
                    await payments.close(session, payment.id or 0, State.EXPIRED)
                outcome = "expired"
            counts[outcome] = counts.get(outcome, 0) + 1
        return counts

    # Steps ----------------------------------------------------------------------------------------

    async def _execute(self, payment: Payment, locale: str, *, final: bool) -> Outcome:
        """Execute (which moves the money) only for a pack still on sale as paid for. `final`: a refusal
        closes the payment (the payer came back from bKash); else it stays pending (the reconciler)."""
        if checkout.still_on_sale(self.services.config, payment) is not None:
            await self._close(payment, State.CANCELLED, "buy-bkash-not-charged")
            return Outcome("changed", locale)
        result: dict[str, Any] | None
        try:
            result = await self.client.execute(payment.provider_payment_id or "")
        except BkashUnavailable:
            log.warning("bKash execute for payment %s gave no answer: querying", payment.id)
            result = await self._query_or_none(payment)
        except BkashError as error:
            if error.code not in ALREADY_COMPLETED:
                if not final:
                    return Outcome("later", locale)
                log.info("bKash refused to execute payment %s: %s", payment.id, error.code)
                await self._close(payment, State.FAILED, "buy-bkash-failed")
                return Outcome("failed", locale)
            result = await self._query_or_none(payment)
        if result is None:
            return Outcome("later", locale)  # the reconciler asks again
        return await self._conclude(payment, result, locale)

    async def _query_or_none(self, payment: Payment) -> dict[str, Any] | None:
        try:
            return await self.client.query(payment.provider_payment_id or "")
        except (BkashUnavailable, BkashError) as error:
            log.warning("bKash query for payment %s failed: %s", payment.id, error)
            return None

    async def _not_paid(self, payment: Payment, locale: str) -> Outcome:
        """status=failure|cancel in the redirect: believed only once bKash's query agrees."""
        result = await self._query_or_none(payment)
        if result is None:
            return Outcome("later", locale)
        if result.get("transactionStatus") == "Completed":
            return await self._conclude(payment, result, locale)
        if result.get("transactionStatus") not in ("Failed", "Cancelled"):
            return Outcome("failed", locale)  # bKash still has it open (a forged redirect?): left to the payer
        await self._close(payment, State.FAILED, "buy-bkash-failed")
        return Outcome("failed", locale)

    async def _conclude(self, payment: Payment, result: dict[str, Any], locale: str) -> Outcome:
        if result.get("transactionStatus") != "Completed":
            return Outcome("later", locale)
        ours = (
            result.get("paymentID") == payment.provider_payment_id
            and result.get("merchantInvoiceNumber") in (None, invoice_number(payment.id or 0))
            and bool(result.get("trxID"))
        )
        if not ours:
            log.error("bKash answer for payment %s names another payment: nothing granted", payment.id)
            return Outcome("later", locale)
        settled = await checkout.settle(
            self.services,
            payment,
            transaction_id=str(result["trxID"]),
            currency=str(result.get("currency", "")),
            amount=_whole_amount(result.get("amount")),
        )
        if settled.replies and settled.channel and settled.chat_id:
            await self.notify(settled.channel, settled.chat_id, settled.replies)
        if settled.payment is not None and settled.payment.state == State.MISMATCH.value:
            return Outcome("failed", locale)
        return Outcome("paid", locale)

    async def _close(self, payment: Payment, state: State, message_key: str) -> None:
        async with self.services.db.transaction() as session:
            closed = await payments.close(session, payment.id or 0, state)
            user = await session.get(User, payment.user_id) if payment.user_id else None
            chat = await links.identity_on(session, user.id, payment.channel) if user and user.id else None
        if closed and user is not None and chat is not None:
            text = catalog(user.locale)(message_key, number=payment.id or 0)
            await self.notify(chat.channel, chat.external_id, [Text(text=text)])


def invoice_number(payment_id: int) -> str:
    return f"NXZ{payment_id}"


def _whole_amount(value: Any) -> int:
    """bKash's "120.00" -> 120; anything else (fractions, garbage) -> -1, which no pack costs."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return -1
    return int(amount) if amount == amount.to_integral_value() and amount > 0 else -1


async def _locale(session: Any, payment: Payment | None) -> str:
    user = await session.get(User, payment.user_id) if payment is not None and payment.user_id else None
    return user.locale if user is not None else DEFAULT
