"""A hypothesis state machine over sign-up, debit, refund, redeem and grant: the invariants always hold.

Balance == model, balance == ledger sum, never negative, each idempotency key applied once.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from handlers import codes
from storage import giveaways, ledger, migrate, users
from storage.db import Database
from storage.users import Identity

KEY = b"p" * 32
_run = itertools.count()
_tmp = tempfile.TemporaryDirectory()
_URL = f"sqlite+aiosqlite:///{Path(_tmp.name) / 'ledger.sqlite3'}"
migrate.upgrade(_URL)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.db = Database(_URL)
        self.run_id = next(_run)
        self.users: list[tuple[int, str]] = []  # (id, identity hash)
        self.model: dict[int, int] = {}
        self.debits: dict[str, int] = {}  # debit key -> user
        self.refunded: set[str] = set()
        self.codes: dict[str, tuple[int, int, set[str]]] = {}  # code -> (credits, max uses, redeemers)
        self.jobs = itertools.count()

    def _do(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self._do(self.db.dispose())
        self.loop.close()

    @rule(signup=st.integers(0, 5))
    def new_user(self, signup: int) -> None:
        identity = Identity("web", f"r{self.run_id}u{len(self.users)}")

        async def go() -> int:
            async with self.db.transaction() as s:
                user, _ = await users.get_or_create(s, identity, locale="en", display_name=None)
                assert user.id is not None
                await ledger.grant_signup(s, user.id, identity.keyed_hash(KEY), signup)
                await ledger.grant_signup(s, user.id, identity.keyed_hash(KEY), signup)  # a second time: no-op
                return user.id

        user_id = self._do(go())
        self.users.append((user_id, identity.keyed_hash(KEY)))
        self.model[user_id] = signup

    @precondition(lambda self: self.users)
    @rule(data=st.data(), amount=st.integers(0, 4), repeat=st.booleans())
    def debit(self, data: st.DataObject, amount: int, repeat: bool) -> None:
        user_id, _ = data.draw(st.sampled_from(self.users))
        key = f"job:r{self.run_id}j{next(self.jobs)}:debit"

        async def go() -> bool:
            try:
                async with self.db.transaction() as s:
                    return await ledger.debit(s, user_id, amount, key=key)
            except ledger.InsufficientCredits:
                return False

        ok = self._do(go())
        assert ok == (self.model[user_id] >= amount)
        if ok:
            self.model[user_id] -= amount
            self.debits[key] = user_id
            if repeat:
                assert self._do(go()) is False  # redelivery: charged once

    @precondition(lambda self: self.debits)
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.debits)))
        user_id = self.debits[key]

        async def go() -> bool:
            async with self.db.transaction() as s:
                return await ledger.refund(s, user_id, debit_key=key, key=key.replace(":debit", ":refund"))

        applied = self._do(go())
        if key in self.refunded:
            assert not applied
            return
        self.refunded.add(key)

        async def taken() -> int:
            async with self.db.transaction() as s:
                from sqlalchemy import select

                from storage.models import LedgerEntry

                return int(await s.scalar(select(LedgerEntry.delta).where(LedgerEntry.idempotency_key == key)) or 0)

        self.model[user_id] += -self._do(taken())

    @precondition(lambda self: self.users)
    @rule(data=st.data(), amount=st.integers(1, 10))
    def grant(self, data: st.DataObject, amount: int) -> None:
        user_id, _ = data.draw(st.sampled_from(self.users))
        key = f"grant:r{self.run_id}g{next(self.jobs)}"

        async def go() -> bool:
            async with self.db.transaction() as s:
                return await ledger.credit(s, user_id, amount, kind=ledger.EntryKind.GRANT, key=key)

        assert self._do(go())
        self.model[user_id] += amount

    @rule(credits=st.integers(1, 5), max_uses=st.integers(1, 3))
    def new_code(self, credits: int, max_uses: int) -> None:
        code = f"R{self.run_id}C{len(self.codes)}X"

        async def go() -> None:
            async with self.db.transaction() as s:
                await giveaways.create(
                    s,
                    code_hash=codes.code_hash(code, KEY),
                    hint=code[:3],
                    credits=credits,
                    max_uses=max_uses,
                    expires_at=None,
                )

        self._do(go())
        self.codes[code] = (credits, max_uses, set())

    @precondition(lambda self: self.users and self.codes)
    @rule(data=st.data())
    def redeem(self, data: st.DataObject) -> None:
        user_id, identity_hash = data.draw(st.sampled_from(self.users))
        code = data.draw(st.sampled_from(sorted(self.codes)))
        credits, max_uses, redeemers = self.codes[code]

        async def go() -> bool:
            try:
                async with self.db.transaction() as s:
                    await giveaways.redeem(
                        s, code_hash=codes.code_hash(code, KEY), user_id=user_id, identity_hash=identity_hash
                    )
                return True
            except giveaways.CodeRejected:
                return False

        expected = identity_hash not in redeemers and len(redeemers) < max_uses
        assert self._do(go()) == expected
        if expected:
            redeemers.add(identity_hash)
            self.model[user_id] += credits

    @invariant()
    def balances_match_model_and_ledger(self) -> None:
        async def go() -> tuple[dict[int, int], list[ledger.Drift]]:
            async with self.db.transaction() as s:
                return {u: await ledger.balance(s, u) for u in self.model}, await ledger.drift(s)

        balances, drift = self._do(go())
        assert balances == self.model
        assert all(b >= 0 for b in balances.values())
        assert drift == []


LedgerMachine.TestCase.settings = hsettings(max_examples=25, stateful_step_count=20, deadline=None)
TestLedger = LedgerMachine.TestCase
