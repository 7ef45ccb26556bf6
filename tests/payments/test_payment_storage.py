"""The payments table and the ledger under concurrency, on SQLite and PostgreSQL: a transaction grants
once, two purchases at once both grant, one transaction id cannot pay two payments, a refund racing the
seller's spending never takes the balance below zero; and the packs setting refuses bad input."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.errors import OperatorError
from bot.settings import load_settings
from storage import ledger, payments, users
from storage.db import Database
from storage.payments import Pack, Provider
from storage.types import utcnow
from storage.users import Identity

PACK = Pack("starter", 10, 120, 70)


async def _user(db: Database, name: str = "1") -> int:
    async with db.transaction() as session:
        user, _ = await users.get_or_create(session, Identity("telegram", name), locale="en", display_name=None)
        await ledger.open_account(session, user.id or 0)
        return user.id or 0


async def _pending(db: Database, user_id: int, provider: Provider = Provider.STARS) -> payments.Payment:
    async with db.transaction() as session:
        return await payments.create(session, user_id=user_id, channel="telegram", provider=provider, pack=PACK)


async def _settle(db: Database, payment: payments.Payment, user_id: int, transaction_id: str) -> bool:
    async with db.transaction() as session:
        return (await payments.settle(session, payment, transaction_id=transaction_id, user_id=user_id)).granted


async def _balance_and_drift(db: Database, user_id: int) -> tuple[int, list[ledger.Drift]]:
    async with db.transaction() as session:
        return await ledger.balance(session, user_id), await ledger.drift(session)


async def test_the_same_confirmation_five_times_at_once_grants_once(database: Database) -> None:
    user_id = await _user(database)
    payment = await _pending(database, user_id)
    granted = await asyncio.gather(*(_settle(database, payment, user_id, "charge-1") for _ in range(5)))
    assert sorted(granted) == [False, False, False, False, True]
    assert await _balance_and_drift(database, user_id) == (10, [])


async def test_two_purchases_at_once_both_grant(database: Database) -> None:
    user_id = await _user(database)
    first, second = await _pending(database, user_id), await _pending(database, user_id, Provider.BKASH)
    granted = await asyncio.gather(
        _settle(database, first, user_id, "charge-a"), _settle(database, second, user_id, "BKTRX-A")
    )
    assert granted == [True, True]
    assert await _balance_and_drift(database, user_id) == (20, [])


async def test_one_transaction_id_cannot_pay_two_payments(database: Database) -> None:
    user_id = await _user(database)
    first, second = await _pending(database, user_id), await _pending(database, user_id)
    assert await _settle(database, first, user_id, "charge-x")
    assert not await _settle(database, second, user_id, "charge-x")
    async with database.transaction() as session:
        again = await payments.get(session, second.id or 0)
        assert again is not None and again.state == "pending"
    assert await _balance_and_drift(database, user_id) == (10, [])


async def test_a_refund_racing_spending_never_goes_below_zero(database: Database) -> None:
    user_id = await _user(database)
    payment = await _pending(database, user_id)
    assert await _settle(database, payment, user_id, "charge-r")
    async with database.transaction() as session:
        paid = await payments.get(session, payment.id or 0)
    assert paid is not None

    async def spend(n: int) -> None:
        try:
            async with database.transaction() as session:
                await ledger.debit(session, user_id, 1, key=f"spend:{n}")
        except ledger.InsufficientCredits:
            pass

    async def refund() -> payments.Payment:
        for _ in range(5):
            try:
                async with database.transaction() as session:
                    return await payments.record_refund(session, paid, refund_id=None)
            except ledger.InsufficientCredits:
                continue
        raise AssertionError("refund never recorded")

    results = await asyncio.gather(refund(), *(spend(n) for n in range(6)))
    refunded = results[0]
    balance, drift = await _balance_and_drift(database, user_id)
    assert isinstance(refunded, payments.Payment) and refunded.state == "refunded"
    assert refunded.credits_taken_back + refunded.credits_unrecovered == 10
    assert balance >= 0 and drift == []
    # Refunding again changes nothing.
    async with database.transaction() as session:
        again = await payments.record_refund(session, refunded, refund_id=None)
    assert again.credits_taken_back == refunded.credits_taken_back
    assert await _balance_and_drift(database, user_id) == (balance, [])


async def test_daily_totals_per_provider(database: Database) -> None:
    user_id = await _user(database)
    for provider, charge in ((Provider.STARS, "c1"), (Provider.STARS, "c2"), (Provider.BKASH, "b1")):
        assert await _settle(database, await _pending(database, user_id, provider), user_id, charge)
    async with database.transaction() as session:
        totals = await payments.daily_totals(session, utcnow() - timedelta(days=1))
    by_provider = {t.provider: (t.paid, t.amount, t.credits, t.currency) for t in totals}
    assert by_provider == {"stars": (2, 140, 20, "XTR"), "bkash": (1, 120, 10, "BDT")}
    assert {t.day for t in totals} == {utcnow().date()}


@pytest.mark.parametrize(
    ("packs", "message"),
    [
        ("starter:10:120", "is not id:credits:taka:stars"),
        ("starter:0:120:70", "must be positive"),
        ("a:1:1:1,a:2:2:2", "listed twice"),
        ("Starter Pack:10:120:70", "is not id:credits:taka:stars"),
    ],
)
def test_bad_packs_are_refused_with_a_clear_message(packs: str, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_PACKS", packs)
    with pytest.raises(OperatorError, match=message):
        load_settings(_env_file=None)


def test_bkash_needs_all_its_credentials_and_a_public_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BKASH_APP_KEY", "k")
    with pytest.raises(OperatorError, match="BKASH_APP_SECRET"):
        load_settings(_env_file=None)
    for name in ("BKASH_APP_SECRET", "BKASH_USERNAME", "BKASH_PASSWORD"):
        monkeypatch.setenv(name, "x")
    with pytest.raises(OperatorError, match="PUBLIC_BASE_URL"):
        load_settings(_env_file=None)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://bot.example.com")
    assert load_settings(_env_file=None).bkash_enabled
