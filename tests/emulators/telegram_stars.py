"""Telegram Stars in the Bot API emulator: sendInvoice, the buyer's checkout, answerPreCheckoutQuery,
successful_payment updates and refundStarPayment.

Parameters are checked against the spec first (telegram_spec, as for every method); these add Telegram's
rules for Stars: currency XTR with exactly one price and no provider token, payload 1-128 bytes, a
pre-checkout answered within 10 seconds (an error message required with ok=false), and a charge refunded
at most once, only to the user who paid. A test's buyer taps Pay with `pay()`.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.emulators.telegram_spec import bad

if TYPE_CHECKING:
    from tests.emulators.telegram_api import TelegramAPIEmulator

PRE_CHECKOUT_TIMEOUT_S = 10.0


@dataclass
class Charge:
    user_id: int
    amount: int
    payload: str
    refunded: bool = False


@dataclass
class Checkout:
    """One pre_checkout_query: the bot's answer (None until it came) and how long it took."""

    query_id: str
    chat_id: int
    invoice: dict[str, Any]
    sent_at: float
    ok: bool | None = None
    error_message: str | None = None
    answered_after_s: float | None = None


@dataclass
class Stars:
    checkouts: dict[str, Checkout] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class StarsMethods:
    """Mixed into TelegramAPIEmulator (its `stars` holds the state)."""

    stars: Stars

    async def _m_sendInvoice(self: TelegramAPIEmulator, p: dict[str, Any]) -> Any:
        if p["currency"] != "XTR":
            raise bad("CURRENCY_INVALID: this emulator sells digital goods, which bots must sell in Stars")
        if p.get("provider_token"):
            raise bad("PAYMENT_PROVIDER_INVALID: pass an empty provider_token for payments in Telegram Stars")
        if len(p["prices"]) != 1:
            raise bad("CURRENCY_TOTAL_AMOUNT_INVALID: payments in Telegram Stars take exactly one price")
        amount = p["prices"][0]["amount"]
        if not 1 <= amount <= 10_000:
            raise bad("CURRENCY_TOTAL_AMOUNT_INVALID")
        if not 1 <= len(p["payload"].encode()) <= 128:
            raise bad("INVOICE_PAYLOAD_INVALID")
        if not 1 <= len(p["title"]) <= 32 or not 1 <= len(p["description"]) <= 255:
            raise bad("title must be 1-32 and description 1-255 characters")
        invoice = {
            "title": p["title"],
            "description": p["description"],
            "start_parameter": "",
            "currency": "XTR",
            "total_amount": amount,
        }
        message = self._record(p, invoice=invoice)
        message["_payload"] = p["payload"]  # what Telegram keeps with the invoice, not shown to the buyer
        return {k: v for k, v in message.items() if k != "_payload"}

    async def _m_answerPreCheckoutQuery(self: TelegramAPIEmulator, p: dict[str, Any]) -> Any:
        found = self.stars.checkouts.get(p["pre_checkout_query_id"])
        if found is None or found.ok is not None:
            raise bad("QUERY_ID_INVALID")
        elapsed = time.monotonic() - found.sent_at
        if elapsed > PRE_CHECKOUT_TIMEOUT_S:
            raise bad("query is too old and response timeout expired or query ID is invalid")
        if not p["ok"] and not p.get("error_message"):
            raise bad("error_message is required when ok is false")
        found.ok, found.error_message, found.answered_after_s = p["ok"], p.get("error_message"), elapsed
        return True

    async def _m_refundStarPayment(self: TelegramAPIEmulator, p: dict[str, Any]) -> Any:
        charge = self.stars.charges.get(p["telegram_payment_charge_id"])
        if charge is None or charge.user_id != p["user_id"]:
            raise bad("CHARGE_NOT_FOUND")
        if charge.refunded:
            raise bad("CHARGE_ALREADY_REFUNDED")
        charge.refunded = True
        return True

    # What a test does -----------------------------------------------------------------------------

    def invoices(self: TelegramAPIEmulator, chat_id: int) -> list[dict[str, Any]]:
        return [m for m in self.chats.get(chat_id).messages.values() if "invoice" in m] if chat_id in self.chats else []

    async def pay(
        self: TelegramAPIEmulator,
        chat_id: int,
        *,
        invoice: dict[str, Any] | None = None,
        lang: str | None = "en",
        amount: int | None = None,
    ) -> Checkout:
        """The buyer taps Pay on the (latest) invoice: a pre_checkout_query, then, when the bot said yes,
        the charge and its successful_payment message. `amount` forges what the buyer's client claims."""
        invoice = invoice or self.invoices(chat_id)[-1]
        query_id = f"pcq-{next(self.stars.ids)}"
        checkout = Checkout(query_id, chat_id, invoice, time.monotonic())
        self.stars.checkouts[query_id] = checkout
        total = amount if amount is not None else invoice["invoice"]["total_amount"]
        self.push(
            {
                "pre_checkout_query": {
                    "id": query_id,
                    "from": self.user(chat_id, lang=lang),
                    "currency": "XTR",
                    "total_amount": total,
                    "invoice_payload": invoice["_payload"],
                }
            }
        )
        await self.wait_for(lambda: checkout.ok is not None, timeout=PRE_CHECKOUT_TIMEOUT_S + 2)
        if checkout.ok:
            charge_id = f"stxCharge{next(self.stars.ids):08d}"
            self.stars.charges[charge_id] = Charge(chat_id, total, invoice["_payload"])
            self.push(self.successful_payment(chat_id, charge_id, lang=lang))
        return checkout

    def successful_payment(self: TelegramAPIEmulator, chat_id: int, charge_id: str, *, lang: str | None = "en") -> Any:
        """The service message of a charge (again, for a redelivery test: same content, new update_id)."""
        charge = self.stars.charges[charge_id]
        paid = {
            "currency": "XTR",
            "total_amount": charge.amount,
            "invoice_payload": charge.payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "",
        }
        return self.message(chat_id, lang=lang, successful_payment=paid)

    def last_charge(self: TelegramAPIEmulator) -> str:
        return list(self.stars.charges)[-1]
