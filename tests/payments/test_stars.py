"""Telegram Stars end to end: the whole bot (`bot.app`) long polling the Bot API emulator, real SQLite.

/buy shows one button per pack; a tap sends a Stars invoice (validated against the Bot API spec); the
buyer's pre-checkout is answered in time; the successful payment grants once by telegram_payment_charge_id,
however often it is delivered; the operator's refund goes through refundStarPayment and the ledger.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from bot.cli import main
from storage import ledger, payments, users
from storage.models import Payment
from storage.users import Identity
from tests.emulators.telegram_api import TelegramAPIEmulator
from tests.telegram.telegram_harness import running_app, telegram_settings

CHAT = 7770001


async def _balance(app: object, chat: int = CHAT) -> int:
    async with app.db.transaction() as session:  # type: ignore[attr-defined]
        user = await users.find(session, Identity("telegram", str(chat)))
        assert user is not None and user.id is not None
        return await ledger.balance(session, user.id)


async def _payment(app: object, payment_id: int) -> Payment:
    async with app.db.transaction() as session:  # type: ignore[attr-defined]
        found = await payments.get(session, payment_id)
        assert found is not None
        return found


async def _drift(app: object) -> list[ledger.Drift]:
    async with app.db.transaction() as session:  # type: ignore[attr-defined]
        return await ledger.drift(session)


async def _buy(emulator: TelegramAPIEmulator, pack: str = "starter", lang: str = "en") -> dict:
    before = len(emulator.invoices(CHAT))
    emulator.push(emulator.message(CHAT, "/buy", lang=lang))
    await emulator.wait_for(
        lambda: any("reply_markup" in m for m in emulator.chats.get(CHAT, _Empty).messages.values())
    )
    emulator.push(emulator.press(CHAT, f"buy:{pack}", lang=lang))
    await emulator.wait_for(lambda: len(emulator.invoices(CHAT)) > before)
    return emulator.invoices(CHAT)[-1]


class _Empty:
    messages: dict = {}


async def test_a_bengali_seller_buys_a_pack_with_stars_once(tmp_path: Path, emulator: TelegramAPIEmulator) -> None:
    async with running_app(telegram_settings(tmp_path, emulator)) as app:
        emulator.push(emulator.message(CHAT, "কিনুন", lang="bn"))
        await emulator.wait_for(lambda: emulator.texts(CHAT))
        offer = emulator.last_message(CHAT)
        labels = [b["text"] for row in offer["reply_markup"]["inline_keyboard"] for b in row]
        assert labels == ["১০টি ক্রেডিট · ৭০ ⭐", "৩০টি ক্রেডিট · ১৯০ ⭐", "১০০টি ক্রেডিট · ৫৬০ ⭐"]
        assert "Telegram Stars" in offer["text"]

        emulator.push(emulator.press(CHAT, "buy:starter", lang="bn"))
        await emulator.wait_for(lambda: emulator.invoices(CHAT))
        call = emulator.calls_to("sendInvoice", ok=True)[-1]
        assert call.params["currency"] == "XTR" and call.params["prices"] == [{"label": "১০টি ক্রেডিট", "amount": 70}]
        assert "provider_token" not in call.params

        checkout = await emulator.pay(CHAT, lang="bn")
        assert checkout.ok is True and checkout.answered_after_s is not None and checkout.answered_after_s < 10
        await emulator.wait_for(lambda: "✅" in emulator.texts(CHAT)[-1])
        receipt = emulator.texts(CHAT)[-1]
        assert "১০টি ক্রেডিট যোগ" in receipt and "১৩" in receipt  # 3 welcome + 10 bought, Bengali digits
        assert await _balance(app) == 13

        # The same successful_payment again, as a redelivery with a new update_id: nothing more.
        charge = emulator.last_charge()
        shown = len(emulator.texts(CHAT))
        emulator.push(emulator.successful_payment(CHAT, charge, lang="bn"))
        emulator.push(emulator.message(CHAT, "/credits", lang="bn"))
        await emulator.wait_for(lambda: len(emulator.texts(CHAT)) == shown + 1)
        assert await _balance(app) == 13
        credits_text = emulator.texts(CHAT)[-1]
        assert "কেনা: ১০" in credits_text and "উপহার ও বোনাস: ৩" in credits_text

        payment_id = int(call.params["payload"].split(":")[1])
        paid = await _payment(app, payment_id)
        assert (paid.state, paid.transaction_id, paid.amount, paid.currency) == ("paid", charge, 70, "XTR")

        for command, word in (("/paysupport", "support@nexoraz.pro"), ("/terms", "বিক্রির শর্ত")):
            emulator.push(emulator.message(CHAT, command, lang="bn"))
            await emulator.wait_for(lambda word=word: word in emulator.texts(CHAT)[-1])
        assert await _drift(app) == []


async def test_pre_checkout_refuses_a_changed_or_vanished_pack_and_nothing_is_charged(
    tmp_path: Path, emulator: TelegramAPIEmulator
) -> None:
    async with running_app(telegram_settings(tmp_path, emulator)) as app:
        invoice = await _buy(emulator, "shop", lang="bn")
        config = app.services.config
        dearer = tuple(dataclasses.replace(p, price_stars=250) if p.id == "shop" else p for p in config.packs)
        app.services.config = dataclasses.replace(config, packs=dearer)
        refused = await emulator.pay(CHAT, invoice=invoice, lang="bn")
        assert refused.ok is False and refused.error_message == "এই প্যাকের দাম বদলে গেছে। /buy দিয়ে আবার বেছে নিন।"

        invoice = await _buy(emulator, "starter")
        app.services.config = dataclasses.replace(config, packs=tuple(p for p in config.packs if p.id != "starter"))
        gone = await emulator.pay(CHAT, invoice=invoice)
        assert gone.ok is False and "no longer on sale" in (gone.error_message or "")

        # The same invoice paid again later is refused too (the payment was closed).
        again = await emulator.pay(CHAT, invoice=invoice)
        assert again.ok is False and "already paid or closed" in (again.error_message or "")

        # A client claiming another amount than the invoice's.
        app.services.config = config
        invoice = await _buy(emulator, "pro")
        forged = await emulator.pay(CHAT, invoice=invoice, amount=1)
        assert forged.ok is False

        assert emulator.stars.charges == {}
        assert await _balance(app) == 3 and await _drift(app) == []


async def test_another_user_cannot_pay_a_forwarded_invoice(tmp_path: Path, emulator: TelegramAPIEmulator) -> None:
    async with running_app(telegram_settings(tmp_path, emulator)):
        invoice = await _buy(emulator)
        other = 7770002
        emulator.chats.setdefault(other, emulator.chats[CHAT])
        checkout = await emulator.pay(other, invoice=invoice)
        assert checkout.ok is False and emulator.stars.charges == {}


async def test_operator_refund_takes_back_what_is_left_never_below_zero(
    tmp_path: Path, emulator: TelegramAPIEmulator, monkeypatch: object
) -> None:
    settings = telegram_settings(tmp_path, emulator)
    for name, value in (("DATA_DIR", settings.data_dir), ("TELEGRAM_BOT_TOKEN", settings.telegram_bot_token)):
        monkeypatch.setenv(name, str(value))  # type: ignore[attr-defined]
    monkeypatch.setenv("TELEGRAM_API_BASE", emulator.url)  # type: ignore[attr-defined]
    async with running_app(settings) as app:
        invoice = await _buy(emulator)
        await emulator.pay(CHAT)
        await emulator.wait_for(lambda: "✅" in emulator.texts(CHAT)[-1])
        payment_id = int(invoice["_payload"].split(":")[1])
        # The seller spends 12 of their 13 credits before asking for the refund.
        async with app.db.transaction() as session:
            user = await users.find(session, Identity("telegram", str(CHAT)))
            assert user is not None and user.id is not None
            await ledger.debit(session, user.id, 12, key="test:spend")

        code = await asyncio.to_thread(main, ["payments", "refund", str(payment_id)])
        assert code == 0
        refund_calls = emulator.calls_to("refundStarPayment", ok=True)
        assert [c.params for c in refund_calls] == [
            {"user_id": CHAT, "telegram_payment_charge_id": emulator.last_charge()}
        ]
        refunded = await _payment(app, payment_id)
        assert (refunded.state, refunded.credits_taken_back, refunded.credits_unrecovered) == ("refunded", 1, 9)
        assert await _balance(app) == 0
        await emulator.wait_for(lambda: "refunded" in emulator.texts(CHAT)[-1])

        # A second refund is refused by the CLI before Telegram is asked again.
        assert await asyncio.to_thread(main, ["payments", "refund", str(payment_id)]) == 1
        assert len(emulator.calls_to("refundStarPayment")) == 1
        assert await _drift(app) == []
        assert await asyncio.to_thread(main, ["credits", "check"]) == 0
