"""Group commit (handlers/batches.py): a backlog is recorded in few transactions, yet every event is answered
once, after its commit, in order per user, and one failing handler costs no other event its answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from handlers.context import Context, Services
from handlers.errors import AppError
from handlers.model import Inbound, Reply
from storage import ledger, users
from storage.models import ProcessedEvent, SignupGrant
from storage.users import Identity
from tests.conftest import inbound
from tests.helpers import make_dispatcher, texts


def _count_transactions(services: Services, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    opened: list[int] = []
    real = services.db.transaction

    @asynccontextmanager
    async def counted() -> AsyncIterator[Any]:
        opened.append(1)
        async with real() as session:
            yield session

    monkeypatch.setattr(services.db, "transaction", counted)
    return opened


async def test_a_backlog_is_recorded_in_batches_and_each_user_in_order(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = make_dispatcher(services)
    users = [f"b{n}" for n in range(12)]
    await asyncio.gather(*(bot.dispatch(inbound("hi", user=u)) for u in users))  # sign-ups
    opened = _count_transactions(services, monkeypatch)
    backlog: list[tuple[str, Inbound]] = []
    for u in users:  # each user: switch to Bengali, then ask for help: the second must see the first
        backlog += [(u, inbound("", user=u, payload="lang:bn")), (u, inbound("/help", user=u, lang=None))]
        backlog += [(u, inbound("/credits", user=u, lang=None))]
    replies = await asyncio.gather(*(bot.dispatch(event) for _, event in backlog))
    assert all(replies), "every event is answered"
    for (_, event), answer in zip(backlog, replies, strict=True):
        if event.text == "/help":
            assert "/credits" in texts(answer) and "ছবি" in texts(answer), texts(answer)
        if event.text == "/credits":
            assert "৩" in texts(answer), texts(answer)  # Bengali digits: the language switch came first
    assert len(opened) <= 6, f"{len(backlog)} events took {len(opened)} transactions"
    async with services.db.transaction() as session:
        recorded = await session.scalar(select(func.count()).select_from(ProcessedEvent))
    assert recorded == len(users) + len(backlog)


async def test_redeliveries_inside_one_backlog_are_answered_once_per_bot(services: Services) -> None:
    bot = make_dispatcher(services)
    event = inbound("/help", user="r1", event_id="777")
    other_bot = Inbound(**{**{f: getattr(event, f) for f in event.__slots__}, "bot_id": "999", "user_id": "r2"})
    crowd = [inbound("/help", user=f"r{n}") for n in range(3, 8)]
    replies = await asyncio.gather(*(bot.dispatch(e) for e in [*crowd, event, event, other_bot, event]))
    assert [bool(r) for r in replies] == [True] * 5 + [True, False, True, False]


async def test_a_failing_handler_costs_no_other_event_its_answer(services: Services) -> None:
    bot = make_dispatcher(services)
    help_ = bot.router.commands["help"]

    async def flaky_help(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
        if event.user_id == "bug":
            raise RuntimeError("a bug in one handler")
        if event.user_id == "refused":
            raise AppError("photo-busy")
        return await help_(event, ctx, argument)

    bot.router.commands["help"] = flaky_help
    events = [inbound("/help", user=u) for u in ("f1", "bug", "f2", "refused", "f3")]
    replies = [texts(r) for r in await asyncio.gather(*(bot.dispatch(e) for e in events))]
    assert all("/credits" in replies[i] for i in (0, 2, 4))
    assert "went wrong" in replies[1]  # the bug: answered, its transaction rolled back as before
    assert "very busy" in replies[3]  # the typed error: its own reply, the event recorded
    again = [texts(r) for r in await asyncio.gather(*(bot.dispatch(e) for e in events))]
    assert again[0] == again[2] == again[3] == again[4] == ""  # recorded: redeliveries are no-ops
    assert "went wrong" in again[1]


async def test_a_crowd_of_first_messages_signs_up_in_one_go_and_credits_each_identity_once(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = make_dispatcher(services)
    key = services.config.identity_key
    async with services.db.transaction() as session:  # this identity had its sign-up credits before /delete
        await session.execute(insert(SignupGrant).values(identity_hash=Identity("telegram", "n0").keyed_hash(key)))
    opened = _count_transactions(services, monkeypatch)
    crowd = [inbound("/start", user=f"n{n}") for n in range(20)]
    replies = [texts(r) for r in await asyncio.gather(*(bot.dispatch(e) for e in crowd))]
    assert len(opened) <= 3
    assert "0 free credits" in replies[0] or "0 credits" in replies[0], replies[0]
    assert all("3 free credits" in r for r in replies[1:])
    async with services.db.transaction() as session:
        for n in range(20):
            user = await users.find(session, Identity("telegram", f"n{n}"))
            assert user is not None
            assert await ledger.balance(session, user.id or 0) == (0 if n == 0 else 3)
            assert len(await ledger.recent(session, user.id or 0, 10)) == (0 if n == 0 else 1)
        assert await ledger.drift(session) == []
