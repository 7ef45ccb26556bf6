"""The "not right?" button under a delivered result, pressed the way a seller would: through the dispatcher, with real
renders on a real database. The credit comes back once per job, a few times a day, never on top of a refund."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image, ImageDraw
from sqlalchemy import func, select

from bot.metrics import Metrics
from handlers.config import Config
from handlers.i18n import catalog
from storage import ledger, users
from storage.models import LedgerEntry, RenderJob
from storage.users import Identity
from tests.helpers import say
from tests.photos.photo_harness import PhotoBot, photo_bot, product_photo


async def balance(bot: PhotoBot, user: str) -> int:
    async with bot.services.db.transaction() as s:
        found = await users.find(s, Identity("web", user))
        return await ledger.balance(s, found.id or 0) if found else -1


async def entries(bot: PhotoBot, kind: str) -> int:
    async with bot.services.db.transaction() as s:
        return int(await s.scalar(select(func.count()).where(LedgerEntry.kind == kind)) or 0)  # type: ignore[arg-type]


async def no_drift(bot: PhotoBot) -> bool:
    async with bot.services.db.transaction() as s:
        return await ledger.drift(s) == []


async def rendered(bot: PhotoBot, user: str, lang: str = "en") -> str:
    """Send one photo, wait for its result, and return the "not right?" payload under the newest result."""
    await bot.dispatcher.dispatch(bot.photo(user, product_photo(), lang=lang))
    await bot.settle()
    payloads = [b.payload for c in bot.channel.choices(user) for b in c.buttons if b.payload.startswith("nr:")]
    assert payloads, "every result carries a not-right button"
    return payloads[-1]


async def test_pressing_not_right_refunds_the_job_once(tmp_path: Path, db_url: str) -> None:
    async with photo_bot(tmp_path, db_url=db_url) as bot:
        metrics = Metrics()
        bot.services.observer = metrics
        payload = await rendered(bot, "ana")
        label = next(b.label for c in bot.channel.choices("ana") for b in c.buttons if b.payload == payload)
        assert label == "Not right?"
        assert await balance(bot, "ana") == 2
        answer = await say(bot.dispatcher, bot.button("ana", payload))
        assert "1 credit is back on your balance: you have 3 now. Returns left today: 2." in answer
        assert "contrasts with it" in answer and "whole product in the frame" in answer
        assert await balance(bot, "ana") == 3
        again = await say(bot.dispatcher, bot.button("ana", payload))
        assert "already returned" in again
        assert await balance(bot, "ana") == 3
        assert await entries(bot, "not_right") == 1
        assert metrics.not_right_refunds._value.get() == 1
        assert metrics.credits_refunded_not_right._value.get() == 1
        assert b"nexoraz_not_right_refunds_total 1.0" in metrics.render()
        assert await no_drift(bot)


async def test_bengali_seller_is_answered_in_bengali_with_bengali_digits(tmp_path: Path) -> None:
    async with photo_bot(tmp_path) as bot:
        payload = await rendered(bot, "rina", lang="bn")
        assert any(b.label == "ঠিক হয়নি?" for c in bot.channel.choices("rina") for b in c.buttons)
        answer = await say(bot.dispatcher, bot.button("rina", payload, lang="bn"))
        assert "১টি ক্রেডিট ফেরত দেওয়া হলো: এখন আপনার আছে ৩টি। আজ আরও ২ বার" in answer
        assert "পুরো পণ্যটা ফ্রেমের ভেতরে" in answer
        assert not any(ch in answer for ch in "0123456789")
        assert "আগেই ফেরত" in await say(bot.dispatcher, bot.button("rina", payload, lang="bn"))


async def test_daily_allowance_caps_refunds(tmp_path: Path, db_url: str) -> None:
    config = Config(identity_key=b"k" * 32, not_right_refunds_per_day=2)
    async with photo_bot(tmp_path, db_url=db_url, config=config) as bot:
        payloads = [await rendered(bot, "sam") for _ in range(3)]
        assert await balance(bot, "sam") == 0
        assert "Returns left today: 1." in await say(bot.dispatcher, bot.button("sam", payloads[0]))
        assert "Returns left today: 0." in await say(bot.dispatcher, bot.button("sam", payloads[1]))
        capped = await say(bot.dispatcher, bot.button("sam", payloads[2]))
        assert "used today's 2 returns" in capped and "tomorrow" in capped
        assert await balance(bot, "sam") == 2
        assert await entries(bot, "not_right") == 2
        assert await no_drift(bot)


async def test_two_presses_at_once_cannot_both_take_the_last_return_of_the_day(tmp_path: Path, db_url: str) -> None:
    config = Config(identity_key=b"k" * 32, not_right_refunds_per_day=1)
    async with photo_bot(tmp_path, db_url=db_url, config=config) as bot:
        first, second = [await rendered(bot, "duo") for _ in range(2)]
        answers = await asyncio.gather(
            say(bot.dispatcher, bot.button("duo", first)), say(bot.dispatcher, bot.button("duo", second))
        )
        assert sum("back on your balance" in a for a in answers) == 1
        assert sum("used today's 1 returns" in a for a in answers) == 1
        assert await balance(bot, "duo") == 2
        assert await entries(bot, "not_right") == 1
        assert await no_drift(bot)


async def test_a_job_already_refunded_for_failing_is_not_refunded_again(tmp_path: Path, db_url: str) -> None:
    async with photo_bot(tmp_path, db_url=db_url) as bot:
        await bot.dispatcher.dispatch(bot.photo("bad", b"\xff\xd8\xff\xe0 not really a jpeg" * 10))
        await bot.settle()
        assert await balance(bot, "bad") == 3
        async with bot.services.db.transaction() as s:
            job_id = await s.scalar(select(RenderJob.id))
        answer = await say(bot.dispatcher, bot.button("bad", f"nr:{job_id}"))
        assert "already returned" in answer
        assert await balance(bot, "bad") == 3
        assert (await entries(bot, "refund"), await entries(bot, "not_right")) == (1, 0)
        assert await no_drift(bot)


async def test_someone_elses_job_or_a_forged_payload_refunds_nothing(tmp_path: Path) -> None:
    async with photo_bot(tmp_path) as bot:
        payload = await rendered(bot, "ana")
        await say(bot.dispatcher, bot.text("eve", "hello"))
        for forged in (payload, "nr:abc", "nr:999999", "nr:"):
            assert "not right" not in (await say(bot.dispatcher, bot.button("eve", forged))).lower()
        assert (await balance(bot, "ana"), await balance(bot, "eve")) == (2, 3)
        assert await entries(bot, "not_right") == 0


async def test_a_free_result_returns_nothing_but_still_advises(tmp_path: Path) -> None:
    async with photo_bot(tmp_path, config=Config(identity_key=b"k" * 32, render_cost=0)) as bot:
        payload = await rendered(bot, "free")
        answer = await say(bot.dispatcher, bot.button("free", payload))
        assert "cost no credit" in answer and "whole product in the frame" in answer
        assert await entries(bot, "not_right") == 0


def doubtful_photo() -> bytes:
    """A long product running off both sides of the frame: the render judges its own cutout doubtful.
    The classical segmenter (no weights) seeds the background from the frame's border, so it keeps only
    a sliver of this product and calls it too small (test_doubtful_tips runs u2netp, which sees it cut off)."""
    image = Image.new("RGB", (480, 360), (205, 208, 212))
    ImageDraw.Draw(image).ellipse((-20, 100, 500, 260), fill=(200, 30, 40))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


async def test_a_doubtful_cutout_is_delivered_with_advice_and_not_charged(tmp_path: Path, db_url: str) -> None:
    async with photo_bot(tmp_path, db_url=db_url) as bot:
        metrics = Metrics()
        bot.runner.processor.files.metrics = metrics
        await bot.dispatcher.dispatch(bot.photo("hard", doubtful_photo(), lang="bn"))
        await bot.settle()
        caption = bot.channel.texts("hard")
        bn = catalog("bn")
        assert bn("photo-hard-tip-too-small") in caption and bn("photo-hard-not-charged") in caption
        assert "বাকি ক্রেডিট: ৩টি" in caption
        assert await balance(bot, "hard") == 3
        assert (await entries(bot, "doubtful"), await entries(bot, "refund")) == (1, 0)
        assert metrics.doubtful_uncharged._value.get() == 1
        payload = [b.payload for c in bot.channel.choices("hard") for b in c.buttons if b.payload.startswith("nr:")][-1]
        assert "আগেই ফেরত" in await say(bot.dispatcher, bot.button("hard", payload, lang="bn"))
        assert await balance(bot, "hard") == 3 and await entries(bot, "not_right") == 0
        assert await no_drift(bot)
