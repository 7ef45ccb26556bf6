"""The ledger under concurrency, on real SQLite and PostgreSQL: exactly the right number succeed."""

from __future__ import annotations

import asyncio

from handlers import codes
from handlers.context import Services
from storage import giveaways, ledger, users
from storage.db import Database
from storage.users import Identity
from tests.conftest import inbound
from tests.helpers import make_dispatcher, say


async def _user(db: Database, name: str, credits: int) -> int:
    async with db.transaction() as s:
        user, _ = await users.get_or_create(s, Identity("web", name), locale="en", display_name=None)
        assert user.id is not None
        if credits:
            await ledger.credit(s, user.id, credits, kind=ledger.EntryKind.GRANT, key=f"seed:{name}")
        return user.id


async def test_fifty_concurrent_debits_of_a_balance_of_twenty(database: Database) -> None:
    user_id = await _user(database, "buyer", 20)

    async def debit(n: int) -> bool:
        try:
            async with database.transaction() as s:
                return await ledger.debit(s, user_id, 1, key=f"job:{n}:debit")
        except ledger.InsufficientCredits:
            return False

    results = await asyncio.gather(*(debit(n) for n in range(50)))
    assert sum(results) == 20
    async with database.transaction() as s:
        assert await ledger.balance(s, user_id) == 0
        assert await ledger.drift(s) == []


async def test_the_same_debit_key_charges_once_even_concurrently(database: Database) -> None:
    user_id = await _user(database, "twice", 5)

    async def debit() -> bool:
        async with database.transaction() as s:
            return await ledger.debit(s, user_id, 1, key="job:7:debit")

    results = await asyncio.gather(*(debit() for _ in range(10)))
    assert sum(results) == 1
    async with database.transaction() as s:
        assert await ledger.balance(s, user_id) == 4


async def test_refund_happens_at_most_once(database: Database) -> None:
    user_id = await _user(database, "refund", 2)
    async with database.transaction() as s:
        await ledger.debit(s, user_id, 1, key="job:1:debit")

    async def refund() -> bool:
        async with database.transaction() as s:
            return await ledger.refund(s, user_id, debit_key="job:1:debit", key="job:1:refund")

    assert sum(await asyncio.gather(*(refund() for _ in range(5)))) == 1
    async with database.transaction() as s:
        assert await ledger.balance(s, user_id) == 2
        # no debit, nothing to refund
        assert not await ledger.refund(s, user_id, debit_key="job:2:debit", key="job:2:refund")


async def test_fifty_concurrent_redemptions_of_a_code_with_ten_uses(database: Database) -> None:
    key = b"k" * 32
    async with database.transaction() as s:
        await giveaways.create(
            s, code_hash=codes.code_hash("EID2026", key), hint="EID…", credits=5, max_uses=10, expires_at=None
        )
    user_ids = [await _user(database, f"fan{n}", 0) for n in range(50)]

    async def redeem(n: int) -> bool:
        identity = Identity("web", f"fan{n}")
        try:
            async with database.transaction() as s:
                await giveaways.redeem(
                    s,
                    code_hash=codes.code_hash("EID2026", key),
                    user_id=user_ids[n],
                    identity_hash=identity.keyed_hash(key),
                )
            return True
        except giveaways.CodeRejected:
            return False

    assert sum(await asyncio.gather(*(redeem(n) for n in range(50)))) == 10
    async with database.transaction() as s:
        balances = [await ledger.balance(s, u) for u in user_ids]
        assert sorted(balances) == [0] * 40 + [5] * 10
        assert (await giveaways.listing(s))[0].uses == 10
        assert await ledger.drift(s) == []


async def test_one_user_redeeming_concurrently_gets_the_credits_once(database: Database) -> None:
    key = b"k" * 32
    async with database.transaction() as s:
        await giveaways.create(
            s, code_hash=codes.code_hash("MANY", key), hint="MAN…", credits=3, max_uses=100, expires_at=None
        )
    user_id = await _user(database, "greedy", 0)
    identity_hash = Identity("web", "greedy").keyed_hash(key)

    async def redeem() -> bool:
        try:
            async with database.transaction() as s:
                await giveaways.redeem(
                    s, code_hash=codes.code_hash("MANY", key), user_id=user_id, identity_hash=identity_hash
                )
            return True
        except giveaways.CodeRejected:
            return False

    assert sum(await asyncio.gather(*(redeem() for _ in range(10)))) == 1
    async with database.transaction() as s:
        assert await ledger.balance(s, user_id) == 3
        assert (await giveaways.listing(s))[0].uses == 1


async def test_concurrent_first_contact_signup_credits_once(services: Services) -> None:
    bot = make_dispatcher(services)
    await asyncio.gather(*(say(bot, inbound("hello", user="rush", lang="bn")) for _ in range(10)))
    async with services.db.transaction() as s:
        user = await users.find(s, Identity("telegram", "rush"))
        assert user is not None and await ledger.balance(s, user.id or 0) == 3
