"""Fairness (issue 14): one seller's album neither delays everyone else nor fills the queue.

Real jobs (classical segmenter) on SQLite and PostgreSQL: jobs are served round-robin across users, and a
cap on each user's unfinished jobs refuses the photo past it, in the user's language, without a debit.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from handlers.config import Config
from handlers.model import Document, Progress
from storage import ledger, users
from storage.models import RenderJob
from storage.users import Identity
from tests.helpers import texts
from tests.photos.photo_harness import PhotoBot, photo_bot, product_photo


def fair_config(**overrides: int) -> Config:
    return Config(identity_key=b"k" * 32, signup_credits=30, **overrides)  # type: ignore[arg-type]


async def balance(bot: PhotoBot, user: str) -> int:
    async with bot.services.db.transaction() as s:
        found = await users.find(s, Identity("web", user))
        return await ledger.balance(s, found.id or 0) if found else -1


async def jobs_of(bot: PhotoBot, user: str) -> int:
    async with bot.services.db.transaction() as s:
        found = await users.find(s, Identity("web", user))
        assert found is not None
        return int(await s.scalar(select(func.count()).where(RenderJob.user_id == found.id)) or 0)  # type: ignore[arg-type]


async def assert_no_drift(bot: PhotoBot) -> None:
    async with bot.services.db.transaction() as s:
        assert await ledger.drift(s) == []


async def test_one_sellers_album_does_not_delay_another_seller(tmp_path: Path, db_url: str) -> None:
    async with photo_bot(tmp_path, db_url=db_url, config=fair_config()) as bot:
        for n in range(10):
            await bot.dispatcher.dispatch(bot.photo("album-a", product_photo(colour=(20 * n, 40, 90)), album="a1"))
        await bot.dispatcher.dispatch(bot.photo("single-b", product_photo(colour=(30, 160, 60))))
        await bot.settle(timeout=120)
        docs = [chat for chat, reply in bot.channel.sent if isinstance(reply, Document)]
        per_job = len(bot.channel.documents("single-b"))
        assert per_job >= 1 and len(bot.channel.documents("album-a")) == 10 * per_job
        a_before_b = docs[: docs.index("single-b")].count("album-a") // per_job
        assert a_before_b <= 2, f"{a_before_b} of A's 10 jobs went before B's one"  # FIFO: all 10
        assert await balance(bot, "album-a") == 20 and await balance(bot, "single-b") == 29
        await assert_no_drift(bot)


async def test_past_the_pending_cap_refused_without_a_debit_others_still_accepted(tmp_path: Path, db_url: str) -> None:
    async with photo_bot(tmp_path, db_url=db_url, config=fair_config(max_pending_per_user=3)) as bot:
        await bot.runner.stop()  # nothing leaves the queue: A's jobs stay pending
        replies = [
            texts(await bot.dispatcher.dispatch(bot.photo("cap-a", product_photo(), album="big"))) for _ in range(5)
        ]
        assert "You already have 3 photos waiting" in replies[3]
        assert replies[4] == ""  # an album past the cap is answered once
        assert await jobs_of(bot, "cap-a") == 3 and await balance(bot, "cap-a") == 27
        alone = texts(await bot.dispatcher.dispatch(bot.photo("cap-a", product_photo(), lang="bn")))
        assert "আপনার ৩টি ছবি এখনও তৈরির অপেক্ষায় আছে" in alone and "কোনো ক্রেডিট কাটা হয়নি" in alone
        assert await jobs_of(bot, "cap-a") == 3 and await balance(bot, "cap-a") == 27
        other = await bot.dispatcher.dispatch(bot.photo("cap-b", product_photo()))
        assert any(isinstance(r, Progress) and "#2 in line" in r.text for r in other)  # A1, then B (fair turns)
        assert await jobs_of(bot, "cap-b") == 1 and await balance(bot, "cap-b") == 29
        await assert_no_drift(bot)


async def test_concurrent_photos_of_one_seller_never_pass_the_cap(tmp_path: Path, db_url: str) -> None:
    async with photo_bot(tmp_path, db_url=db_url, config=fair_config(max_pending_per_user=3)) as bot:
        await bot.runner.stop()
        events = [bot.photo("rush", product_photo(colour=(10 * n, 50, 50))) for n in range(8)]
        answers = await asyncio.gather(*(bot.dispatcher.dispatch(e) for e in events))
        refused = sum("You already have 3 photos waiting" in texts(a) for a in answers)
        assert await jobs_of(bot, "rush") == 3 and refused == 5
        assert await balance(bot, "rush") == 27
        await assert_no_drift(bot)


def place(replies: list[object]) -> str:
    return " ".join(r.text for r in replies if isinstance(r, Progress))


async def test_the_place_in_line_is_the_turn_the_fair_rule_gives(tmp_path: Path, db_url: str) -> None:
    """Issue 14: "#N in line" counted job ids (first in, first out): B, behind A's album of 5, was told #6 and
    served second. The place is now the turn the queue will really give, in Bengali digits for bn."""
    async with photo_bot(tmp_path, db_url=db_url, config=fair_config()) as bot:
        await bot.runner.stop()  # the photos wait, so every place is counted against the same line
        album = [await bot.dispatcher.dispatch(bot.photo("line-a", product_photo(), album="a5")) for _ in range(5)]
        assert "#1 in line" in place(album[0])
        assert "#2 in line" in place(await bot.dispatcher.dispatch(bot.photo("line-b", product_photo())))
        bengali = place(await bot.dispatcher.dispatch(bot.photo("line-c", product_photo(), lang="bn")))
        assert "লাইনে আপনি ৩ নম্বরে" in bengali  # A1, B, then C
        assert "#8 in line" in place(await bot.dispatcher.dispatch(bot.photo("line-a", product_photo())))
        assert "#4 in line" in place(await bot.dispatcher.dispatch(bot.photo("line-d", product_photo())))
        await bot.runner.start()
        await bot.settle(timeout=180)
        served = [chat for chat, reply in bot.channel.sent if isinstance(reply, Document)]
        per_job = len(bot.channel.documents("line-d"))
        jobs_in_order = served[::per_job]
        assert jobs_in_order[:4] == ["line-a", "line-b", "line-c", "line-d"], jobs_in_order  # as they were told
        await assert_no_drift(bot)


async def test_a_job_taken_but_not_claimed_yet_counts_as_its_sellers_turn(tmp_path: Path, db_url: str) -> None:
    """Two consumers choose one after the other: the first one's job has left the queue but its claim has not
    reached the database yet. It counts as A's rendering, so the second consumer serves B, not A again."""
    async with photo_bot(tmp_path, workers=2, db_url=db_url, config=fair_config()) as bot:
        await bot.runner.stop()
        for n in range(3):
            await bot.dispatcher.dispatch(bot.photo("taken-a", product_photo(colour=(20 * n, 40, 90)), album="t3"))
        await bot.dispatcher.dispatch(bot.photo("taken-b", product_photo()))
        in_hand: set[int] = set()
        bot.queue.in_hand = in_hand.copy  # as the runner's in-flight ids are
        first = await bot.queue.take()
        in_hand.add(first)
        second = await bot.queue.take()
        async with bot.services.db.transaction() as s:
            owners = [(await s.get(RenderJob, job)).user_id for job in (first, second)]  # type: ignore[union-attr]
            a = await users.find(s, Identity("web", "taken-a"))
            b = await users.find(s, Identity("web", "taken-b"))
        assert a is not None and b is not None
        assert owners == [a.id, b.id], "the second consumer served A again"
