"""Telegram Stars when things go wrong: Telegram's own rules for Stars invoices and refunds (the emulator
enforces them, so the adapter is tested against them), a pre-checkout whose check hangs, and a successful
payment that arrives while the database is down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import AnswerPreCheckoutQuery, RefundStarPayment, SendInvoice
from aiogram.types import LabeledPrice

from bot.channels import telegram_pay
from handlers import checkout
from tests.emulators.telegram_api import TOKEN, TelegramAPIEmulator
from tests.telegram.telegram_harness import running_app, telegram_settings

CHAT = 7780001


async def _bot(emulator: TelegramAPIEmulator) -> Bot:
    return Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(emulator.url)))


def _invoice(**changes: Any) -> SendInvoice:
    fields: dict[str, Any] = {
        "chat_id": CHAT,
        "title": "10 credits",
        "description": "Credits for product photos",
        "payload": "nxz-pay:1",
        "currency": "XTR",
        "prices": [LabeledPrice(label="10 credits", amount=70)],
        **changes,
    }
    return SendInvoice(**fields)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"currency": "USD"}, "CURRENCY_INVALID"),
        ({"prices": [LabeledPrice(label="a", amount=50), LabeledPrice(label="b", amount=20)]}, "exactly one price"),
        ({"provider_token": "284685063:TEST:abc"}, "PAYMENT_PROVIDER_INVALID"),
        ({"payload": "x" * 129}, "INVOICE_PAYLOAD_INVALID"),
        ({"title": "t" * 33}, "title must be 1-32"),
    ],
)
async def test_the_emulator_enforces_telegrams_rules_for_stars(
    emulator: TelegramAPIEmulator, changes: dict[str, Any], error: str
) -> None:
    bot = await _bot(emulator)
    try:
        assert (await bot(_invoice())).invoice is not None
        with pytest.raises(TelegramBadRequest, match=error):
            await bot(_invoice(**changes))
        with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND"):
            await bot(RefundStarPayment(user_id=CHAT, telegram_payment_charge_id="stxNope"))
        with pytest.raises(TelegramBadRequest, match="QUERY_ID_INVALID"):
            await bot(AnswerPreCheckoutQuery(pre_checkout_query_id="nope", ok=True))
    finally:
        await bot.session.close()


async def test_the_adapters_invoice_passes_the_spec_check(emulator: TelegramAPIEmulator) -> None:
    from handlers.model import Invoice

    bot = await _bot(emulator)
    long = Invoice(title="T" * 80, description="D" * 400, payload="nxz-pay:9", currency="XTR", amount=5, label="x")
    try:
        await bot(telegram_pay.invoice_method(str(CHAT), long))  # truncated to Telegram's limits, not refused
    finally:
        await bot.session.close()
    [call] = emulator.calls_to("sendInvoice", ok=True)
    assert len(call.params["title"]) == 32 and len(call.params["description"]) == 255


async def test_a_hanging_check_is_refused_before_telegrams_10_seconds(
    tmp_path: Path, emulator: TelegramAPIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hangs(*args: Any, **kwargs: Any) -> tuple[bool, str]:
        import asyncio

        await asyncio.sleep(60)
        return True, ""

    monkeypatch.setattr(telegram_pay, "PRE_CHECKOUT_BUDGET_S", 0.5)
    async with running_app(telegram_settings(tmp_path, emulator)):
        emulator.push(emulator.message(CHAT, "/buy", lang="bn"))
        await emulator.wait_for(lambda: emulator.texts(CHAT))
        emulator.push(emulator.press(CHAT, "buy:starter", lang="bn"))
        await emulator.wait_for(lambda: emulator.invoices(CHAT))
        monkeypatch.setattr(checkout, "pre_checkout", hangs)
        answered = await emulator.pay(CHAT, lang="bn")
    assert answered.ok is False and answered.answered_after_s is not None and answered.answered_after_s < 2
    assert answered.error_message is not None and "কোনো টাকা কাটা হয়নি" in answered.error_message
    assert emulator.stars.charges == {}


async def test_a_payment_arriving_while_the_database_is_down_is_granted_on_redelivery(
    tmp_path: Path, emulator: TelegramAPIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_settle = checkout.settle
    failures = [ConnectionRefusedError("database restarting")]

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real_settle(*args, **kwargs)

    monkeypatch.setattr(checkout, "settle", flaky)
    async with running_app(telegram_settings(tmp_path, emulator)):
        emulator.push(emulator.message(CHAT, "/buy"))
        await emulator.wait_for(lambda: emulator.texts(CHAT))
        emulator.push(emulator.press(CHAT, "buy:starter"))
        await emulator.wait_for(lambda: emulator.invoices(CHAT))
        await emulator.pay(CHAT)
        await emulator.wait_for(lambda: any(t.startswith("✅") for t in emulator.texts(CHAT)), timeout=20)
    assert failures == []
    receipts = [t for t in emulator.texts(CHAT) if t.startswith("✅")]
    assert len(receipts) == 1 and "13" in receipts[0]


async def test_money_for_a_payment_closed_meanwhile_is_reported_not_lost(
    tmp_path: Path, emulator: TelegramAPIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage import payments
    from storage.payments import State

    async def approves(*args: Any, **kwargs: Any) -> tuple[bool, str]:
        return True, ""  # a check that raced the closing (the worst case: Telegram took the Stars)

    async with running_app(telegram_settings(tmp_path, emulator)) as app:
        emulator.push(emulator.message(CHAT, "/buy"))
        await emulator.wait_for(lambda: emulator.texts(CHAT))
        emulator.push(emulator.press(CHAT, "buy:starter"))
        await emulator.wait_for(lambda: emulator.invoices(CHAT))
        payment_id = int(emulator.invoices(CHAT)[-1]["_payload"].split(":")[1])
        async with app.db.transaction() as session:
            assert await payments.close(session, payment_id, State.CANCELLED)
        monkeypatch.setattr(checkout, "pre_checkout", approves)
        await emulator.pay(CHAT)
        await emulator.wait_for(lambda: emulator.texts(CHAT)[-1].startswith("⚠️"))
        assert f"#{payment_id}" in emulator.texts(CHAT)[-1] and "support@nexoraz.pro" in emulator.texts(CHAT)[-1]
        async with app.db.transaction() as session:
            closed = await payments.get(session, payment_id)
        assert closed is not None and closed.state == "cancelled" and closed.transaction_id is None
