"""The photo flow end to end with real worker processes: charge, render, deliver, refund, re-style, albums."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select

from handlers.config import Config
from handlers.model import Document, Progress
from handlers.model import Image as ImageReply
from storage import ledger, users
from storage.models import LedgerEntry, RenderJob, StoredFile
from storage.users import Identity
from tests.helpers import texts
from tests.photos.photo_harness import PhotoBot, photo_bot, product_photo


async def balance(bot: PhotoBot, user: str) -> int:
    async with bot.services.db.transaction() as s:
        found = await users.find(s, Identity("web", user))
        return await ledger.balance(s, found.id or 0) if found else -1


async def count(bot: PhotoBot, model: type, **where: object) -> int:
    async with bot.services.db.transaction() as s:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(await s.scalar(query) or 0)


async def test_photo_in_studio_images_out_balance_down_by_the_cost(tmp_path: Path) -> None:
    async with photo_bot(tmp_path) as bot:
        ack = await bot.dispatcher.dispatch(bot.photo("ana", product_photo()))
        assert any(isinstance(r, Progress) and "#1 in line" in r.text for r in ack)
        await bot.settle()
        docs = bot.channel.documents("ana")
        assert [d.name for d in docs] == ["white-original.jpg", "transparent-original.png"]
        white = Image.open(io.BytesIO(docs[0].data))
        assert white.getpixel((2, 2)) == (255, 255, 255)
        assert "Credits left: 2" in bot.channel.texts("ana")
        assert await balance(bot, "ana") == 2
        # Stored encrypted: the upload, the cutout and both outputs.
        assert await count(bot, StoredFile) == 4
        stored = (bot.services.blobs.data_dir / "files").rglob("*.bin")  # type: ignore[union-attr]
        assert all(b"JFIF" not in p.read_bytes() for p in stored)


async def test_bengali_seller_gets_bengali_acknowledgement_and_caption(tmp_path: Path) -> None:
    async with photo_bot(tmp_path) as bot:
        ack = await bot.dispatcher.dispatch(bot.photo("rina", product_photo(), lang="bn"))
        assert any(isinstance(r, Progress) and "লাইনে আপনি ১ নম্বরে" in r.text for r in ack)
        await bot.settle()
        assert "বাকি ক্রেডিট: ২টি" in bot.channel.texts("rina")


async def test_corrupt_photo_is_refunded_once_with_a_clear_reason(tmp_path: Path) -> None:
    async with photo_bot(tmp_path) as bot:
        await bot.dispatcher.dispatch(bot.photo("bad", b"\xff\xd8\xff\xe0 not really a jpeg" * 10))
        await bot.settle()
        assert "could not open this file as a photo" in bot.channel.texts("bad")
        assert "credit has been returned" in bot.channel.texts("bad")
        assert await balance(bot, "bad") == 3
        assert await count(bot, LedgerEntry, kind="refund") == 1
        assert await count(bot, RenderJob, state="failed") == 1


async def test_media_the_channel_cannot_give_is_refunded(tmp_path: Path) -> None:
    async with photo_bot(tmp_path) as bot:
        event = bot.photo("gone", product_photo())
        bot.channel.files.clear()
        await bot.dispatcher.dispatch(event)
        await bot.settle()
        assert "could not download your photo" in bot.channel.texts("gone")
        assert await balance(bot, "gone") == 3


async def test_no_credits_nothing_queued_and_how_to_get_more(tmp_path: Path) -> None:
    async with photo_bot(
        tmp_path, config=Config(identity_key=b"k" * 32, signup_credits=0, facebook_page_url="https://fb.com/nx")
    ) as bot:
        reply = texts(await bot.dispatcher.dispatch(bot.photo("poor", product_photo())))
        assert "do not have enough credits" in reply and "https://fb.com/nx" in reply
        assert await count(bot, RenderJob) == 0
        assert bot.queue.depth() == 0


async def test_oversized_and_non_image_files_are_refused_before_download(tmp_path: Path) -> None:
    async with photo_bot(tmp_path) as bot:
        big = texts(await bot.dispatcher.dispatch(bot.photo("big", b"x", size=40 * 1024 * 1024)))
        assert "over 20 MB" in big
        pdf = texts(await bot.dispatcher.dispatch(bot.photo("big", b"%PDF", mime="application/pdf")))
        assert "not a photo" in pdf
        assert bot.channel.fetches == []
        assert await balance(bot, "big") == 3


async def test_redelivered_photo_event_makes_one_job(tmp_path: Path) -> None:
    async with photo_bot(tmp_path) as bot:
        event = bot.photo("dup", product_photo(), event_id="wamid.XYZ")
        await bot.dispatcher.dispatch(event)
        assert await bot.dispatcher.dispatch(event) == []
        await bot.settle()
        assert await count(bot, RenderJob) == 1 and len(bot.channel.documents("dup")) == 2
        assert await balance(bot, "dup") == 2


async def test_album_of_four_one_acknowledgement_each_charged_failures_refunded_alone(tmp_path: Path) -> None:
    async with photo_bot(tmp_path) as bot:
        photos = [product_photo(), product_photo(colour=(30, 90, 200)), b"broken", product_photo(colour=(20, 150, 60))]
        await bot.dispatcher.dispatch(bot.text("alb", "hi"))
        async with bot.services.db.transaction() as s:
            found = await users.find(s, Identity("web", "alb"))
            await ledger.credit(s, found.id or 0, 5, kind=ledger.EntryKind.GRANT, key="seed-alb")  # type: ignore[union-attr]
        acks = [await bot.dispatcher.dispatch(bot.photo("alb", p, album="grp1")) for p in photos]
        assert [len([r for r in a if isinstance(r, Progress)]) for a in acks] == [1, 0, 0, 0]
        await bot.settle()
        assert len(bot.channel.documents("alb")) == 6  # three good photos, two files each
        assert "could not open this file" in bot.channel.texts("alb")
        assert await balance(bot, "alb") == 8 - 3


async def test_an_album_past_the_balance_is_answered_once(tmp_path: Path) -> None:
    """Issue 15: five photos, three credits: three made, one message saying so, nothing charged for the rest."""
    async with photo_bot(tmp_path) as bot:
        answers = [
            texts(await bot.dispatcher.dispatch(bot.photo("alb5", product_photo(colour=(40 * n, 90, 200)), album="g5")))
            for n in range(5)
        ]
        assert [("more photos than your credits cover" in a) for a in answers] == [False] * 3 + [True, False]
        assert "The first 3 photos will be made" in answers[3]
        await bot.settle()
        assert len(bot.channel.documents("alb5")) == 6
        assert await balance(bot, "alb5") == 0


async def test_a_photo_sent_while_another_renders_waits_its_turn(tmp_path: Path) -> None:
    """Issue 15: queue, don't refuse. Each is charged when accepted and both are delivered once."""
    async with photo_bot(tmp_path) as bot:
        await bot.dispatcher.dispatch(bot.photo("busy", product_photo()))
        second = await bot.dispatcher.dispatch(bot.photo("busy", product_photo(colour=(30, 90, 200))))
        assert "#2 in line" in " ".join(r.text for r in second if isinstance(r, Progress))
        assert await balance(bot, "busy") == 1
        await bot.settle()
        assert len(bot.channel.documents("busy")) == 4
        assert await balance(bot, "busy") == 1


async def test_restyle_reuses_the_cutout_and_is_free_history_gives_it_again(tmp_path: Path) -> None:
    async with photo_bot(tmp_path) as bot:
        await bot.dispatcher.dispatch(bot.photo("sty", product_photo()))
        await bot.settle()
        buttons = {b.label: b.payload for b in bot.channel.choices("sty")[-1].buttons}
        assert {"Studio", "Square 1:1", "Send as photo"} <= set(buttons)
        await bot.dispatcher.dispatch(bot.button("sty", buttons["Square 1:1"]))
        await bot.settle()
        square = bot.channel.documents("sty")[-1]
        assert square.name == "white-square.jpg" and Image.open(io.BytesIO(square.data)).size == (1080, 1080)
        assert len(bot.channel.fetches) == 1  # no second download, no second segmentation
        assert await balance(bot, "sty") == 2
        photo = await bot.dispatcher.dispatch(bot.button("sty", buttons["Send as photo"]))
        assert isinstance(photo[0], ImageReply) and photo[0].mime == "image/jpeg"

        history = await bot.dispatcher.dispatch(bot.text("sty", "/history"))
        again = history[0].buttons[-1].payload  # type: ignore[union-attr]
        replies = await bot.dispatcher.dispatch(bot.button("sty", again))
        assert [r.name for r in replies if isinstance(r, Document)] == [
            "white-original.jpg",
            "transparent-original.png",
        ]
        assert await balance(bot, "sty") == 2
        # Someone else's job id in a forged payload gets nothing.
        assert "no longer" in texts(await bot.dispatcher.dispatch(bot.button("other", again)))


async def test_style_command_sets_the_default_for_next_photos(tmp_path: Path) -> None:
    async with photo_bot(tmp_path) as bot:
        replies = await bot.dispatcher.dispatch(bot.text("def", "/style"))
        studio = next(b.payload for b in replies[0].buttons if b.label == "Studio")  # type: ignore[union-attr]
        story = next(b.payload for b in replies[1].buttons if b.label == "Story 9:16")  # type: ignore[union-attr]
        await bot.dispatcher.dispatch(bot.button("def", studio))
        assert "Studio, Story 9:16" in texts(await bot.dispatcher.dispatch(bot.button("def", story)))
        await bot.dispatcher.dispatch(bot.photo("def", product_photo()))
        await bot.settle()
        names = [d.name for d in bot.channel.documents("def")]
        assert names == ["studio-story.jpg", "transparent-story.png"]


async def test_twenty_users_at_once_every_job_delivered_balances_exact(tmp_path: Path) -> None:
    async with photo_bot(tmp_path, workers=2) as bot:
        await asyncio.gather(*(bot.dispatcher.dispatch(bot.photo(f"u{n}", product_photo(240, 180))) for n in range(20)))
        await bot.settle(timeout=120)
        for n in range(20):
            assert len(bot.channel.documents(f"u{n}")) == 2, n
            assert await balance(bot, f"u{n}") == 2
        async with bot.services.db.transaction() as s:
            assert await ledger.drift(s) == []


async def test_platform_refusing_for_a_while_then_delivered(tmp_path: Path) -> None:
    async with photo_bot(tmp_path) as bot:
        bot.channel.refuse_sends = 3  # the status line (not retried), then two refusals of the results
        await bot.dispatcher.dispatch(bot.photo("r429", product_photo()))
        await bot.settle()
        assert len(bot.channel.documents("r429")) == 2
        assert await count(bot, RenderJob, state="delivered") == 1


async def test_back_pressure_says_busy_and_charges_nothing(tmp_path: Path) -> None:
    async with photo_bot(tmp_path, config=Config(identity_key=b"k" * 32, max_queue_depth=1)) as bot:
        await bot.runner.stop()  # workers saturated: nothing leaves the queue
        await bot.dispatcher.dispatch(bot.photo("first", product_photo()))
        reply = texts(await bot.dispatcher.dispatch(bot.photo("second", product_photo(), lang="bn")))
        assert "এক মিনিট পরে ছবিটা আবার পাঠান" in reply
        assert await balance(bot, "second") == 3
        assert await count(bot, RenderJob) == 1


def _photo_with_gps() -> bytes:
    image = Image.open(io.BytesIO(product_photo()))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (23.0, 48.0, 0.0), 3: "E", 4: (90.0, 24.0, 0.0)}  # GPS: Dhaka
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


async def test_stored_uploads_and_outputs_keep_no_exif_or_gps(tmp_path: Path) -> None:
    photo = _photo_with_gps()
    assert Image.open(io.BytesIO(photo)).getexif().get(0x8825)
    async with photo_bot(tmp_path) as bot:
        await bot.dispatcher.dispatch(bot.photo("gps", photo))
        await bot.settle()
        async with bot.services.db.transaction() as s:
            stored = list((await s.execute(select(StoredFile))).scalars())
        assert {f.kind for f in stored} == {"upload", "cutout", "output"}
        for f in stored:
            data = bot.services.blobs.get(f.path)  # type: ignore[union-attr]
            image = Image.open(io.BytesIO(data))
            assert not image.getexif(), f.kind
            assert b"PhoneMaker" not in data and b"Exif" not in data, f.kind


async def test_erased_during_the_render_nothing_is_kept_or_sent(tmp_path: Path) -> None:
    from handlers.privacy import erase_identity

    async with photo_bot(tmp_path) as bot:
        await bot.dispatcher.dispatch(bot.photo("gone", product_photo(2400, 1800)))
        for _ in range(500):
            if await count(bot, RenderJob, state="rendering"):
                break
            await asyncio.sleep(0.01)
        assert await erase_identity(bot.services, Identity("web", "gone"))
        for _ in range(3000):  # the render in flight finishes and finds its job gone
            if not bot.runner.in_flight:
                break
            await asyncio.sleep(0.01)
        assert not bot.runner.in_flight
        assert bot.channel.documents("gone") == []
        assert await count(bot, StoredFile) == 0
        assert not list((bot.services.blobs.data_dir / "files").rglob("*.bin"))  # type: ignore[union-attr]


async def test_outside_the_24_hour_window_results_wait_in_history(tmp_path: Path) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from storage.models import User
    from storage.types import utcnow

    async with photo_bot(tmp_path, channel="whatsapp") as bot:
        await bot.runner.stop()  # the photo waits in the queue for a day (a long outage)
        await bot.dispatcher.dispatch(bot.photo("8801700000001", product_photo()))
        async with bot.services.db.transaction() as s:
            await s.execute(update(User).values(last_seen_at=utcnow() - timedelta(hours=25)))
        await bot.runner.start()
        await bot.settle()
        assert bot.channel.documents("8801700000001") == []  # not even attempted: Meta would refuse
        assert await count(bot, RenderJob, state="undelivered") == 1
        history = await bot.dispatcher.dispatch(bot.text("8801700000001", "history"))
        again = history[0].buttons[0].payload  # type: ignore[union-attr]
        replies = await bot.dispatcher.dispatch(bot.button("8801700000001", again))
        assert len([r for r in replies if isinstance(r, Document)]) == 2
