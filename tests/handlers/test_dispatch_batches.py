"""Group commit (handlers/batches.py): a backlog is recorded in few transactions, yet every event is answered
once, after its commit, in order per user, and one failing handler costs no other event its answer."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from handlers.context import Context, Services
from handlers.dispatcher import Dispatcher
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


def _break_help(bot: Dispatcher) -> None:
    """/help fails for two users: a bug for "bug", a typed error for "refused"."""
    help_ = bot.router.commands["help"]

    async def flaky_help(event: Inbound, ctx: Context, argument: str) -> list[Reply]:
        if event.user_id == "bug":
            raise RuntimeError("a bug in one handler")
        if event.user_id == "refused":
            raise AppError("photo-busy")
        return await help_(event, ctx, argument)

    bot.router.commands["help"] = flaky_help


async def test_a_failing_handler_costs_no_other_event_its_answer(services: Services) -> None:
    bot = make_dispatcher(services)
    _break_help(bot)
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


async def test_within_runs_in_the_events_transaction_and_counts_only_once_committed(services: Services) -> None:
    """`Inbound.within` writes in the transaction that records its event, after the handler, with the handler's
    replies; what it publishes after the commit happens once, for the attempt that committed: not for a batch
    that rolled back (one buggy handler in it), nor for an event whose own handling failed."""
    bot = make_dispatcher(services)
    _break_help(bot)
    ran: dict[str, int] = {}
    published: dict[str, list[str]] = {}

    def keeper(user: str) -> Any:
        async def within(ctx: Context, replies: list[Reply]) -> None:
            ran[user] = ran.get(user, 0) + 1
            # A write of its own in the event's transaction: it commits or rolls back with the claim.
            await ledger.credit(ctx.session, ctx.user.id or 0, 5, kind=ledger.EntryKind.GRANT, key=f"within-{user}")

            async def publish() -> None:
                published.setdefault(user, []).append(texts(replies))

            ctx.after_commit.append(publish)

        return within

    names = ("w1", "bug", "w2", "refused", "w3")
    await asyncio.gather(*(bot.dispatch(inbound("hi", user=u)) for u in (*names, "lead")))  # sign-ups
    # The lead goes alone or first in the batch; the rest queue behind it and are recorded as one batch.
    events = [inbound("/help", user="lead")]
    events += [dataclasses.replace(inbound("/help", user=u), within=keeper(u)) for u in names]
    replies = [texts(r) for r in await asyncio.gather(*(bot.dispatch(e) for e in events))][1:]
    assert ran["w1"] == 2 and "bug" not in ran  # the batch with the bug rolled back, then each went alone
    assert {u: len(p) for u, p in published.items()} == {"w1": 1, "w2": 1, "refused": 1, "w3": 1}
    assert published["w1"] == [replies[0]] and "/credits" in replies[0]  # the replies the caller got
    assert "very busy" in published["refused"][0]  # a typed error: recorded again with its reply, and within
    async with services.db.transaction() as session:
        for u in names:
            user = await users.find(session, Identity("telegram", u))
            assert user is not None
            assert await ledger.balance(session, user.id or 0) == 3 + (0 if u == "bug" else 5), u
        assert await ledger.drift(session) == []
