"""/delete: two steps, anything else cancels, and erasure everywhere (rows, blobs on disk, jobs, limits)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, text

from handlers.context import Services
from handlers.model import Choice
from storage import jobs, ledger, privacy, users
from storage.models import LedgerEntry, StoredFile
from storage.types import utcnow
from storage.users import Identity
from tests.conftest import inbound
from tests.helpers import make_dispatcher, say
from tests.privacy.privacy_harness import seed_files, with_blobs


async def _ask_delete(bot: object, user: str, lang: str = "en") -> Choice:
    replies = await bot.dispatch(inbound("/delete", user=user, lang=lang))  # type: ignore[attr-defined]
    return next(r for r in replies if isinstance(r, Choice))


async def test_delete_erases_rows_blobs_jobs_and_deidentifies_the_ledger(services: Services, tmp_path: Path) -> None:
    with_blobs(services, tmp_path / "data")
    bot = make_dispatcher(services)
    identity = Identity("telegram", "5150")
    await say(bot, inbound("hi", user="5150"))
    await say(bot, inbound("/optin", user="5150"))
    seeded = await seed_files(services, identity)
    seeded_at = utcnow()
    async with services.db.transaction() as s:
        await ledger.debit(s, seeded.user_id, 1, key=jobs.debit_key(seeded.job_id), reference="render")
    await services.limiter.hit(f"mydata:{identity}", limit=1, window_s=3600)
    on_disk = [tmp_path / "data" / p for p in seeded.paths]
    assert all(p.exists() for p in on_disk)

    choice = await _ask_delete(bot, "5150")
    assert "cannot be undone" in choice.text and "Any other message cancels" in choice.text
    yes = next(b for b in choice.buttons if b.payload == "del:yes")
    assert "erased" in await say(bot, inbound(payload=yes.payload, user="5150"))

    assert not any(p.exists() for p in on_disk)
    async with services.db.transaction() as s:
        assert await users.find(s, identity) is None
        assert await jobs.get(s, seeded.job_id) is None  # the worker skips a job it cannot find
        assert (await s.execute(select(StoredFile))).scalars().all() == []
        entries = (await s.execute(select(LedgerEntry))).scalars().all()
        assert len(entries) == 2  # the sign-up grant and the debit stay, as billing records
        identity_hash = identity.keyed_hash(services.config.identity_key)
        for entry in entries:
            assert entry.user_id is None and (entry.subject or "").startswith("erased:")
            row = " ".join(str(v) for v in entry.model_dump().values())
            assert "5150" not in row and identity_hash not in row
        for table in ("consent_events", "deletion_requests", "render_jobs", "credit_accounts"):
            assert (await s.execute(text(f"SELECT count(*) FROM {table}"))).scalar() == 0, table  # noqa: S608
    assert not await services.limiter.exceeded(f"mydata:{identity}", limit=1, window_s=3600)

    # The next message starts a fresh account, without a second batch of sign-up credits.
    welcome = await say(bot, inbound("hi", user="5150"))
    assert "You have 0 credits." in welcome  # nothing given, so nothing called free (issue 15)
    async with services.db.transaction() as s:
        fresh = await users.find(s, identity)
        assert fresh is not None and fresh.created_at > seeded_at
        assert await ledger.balance(s, fresh.id or 0) == 0
        assert not await privacy.training_opt_in(s, fresh.id or 0)  # the old consent went with the account


async def test_any_other_message_cancels_and_a_late_confirmation_erases_nothing(services: Services) -> None:
    bot = make_dispatcher(services)
    await say(bot, inbound("hi", user="61"))
    choice = await _ask_delete(bot, "61")
    reply = await say(bot, inbound("/credits", user="61"))
    assert "Deletion cancelled" in reply and "3 credits" in reply  # cancelled, and the message still answered
    yes = next(b for b in choice.buttons if b.payload == "del:yes")
    assert "expired" in await say(bot, inbound(payload=yes.payload, user="61"))
    async with services.db.transaction() as s:
        assert await users.find(s, Identity("telegram", "61")) is not None


async def test_cancel_button_and_photo_cancel(services: Services) -> None:
    bot = make_dispatcher(services)
    await say(bot, inbound("hi", user="62"))
    await _ask_delete(bot, "62")
    assert "nothing was erased" in await say(bot, inbound(payload="del:no", user="62"))
    await _ask_delete(bot, "62")
    assert "Deletion cancelled" in await say(bot, inbound("sahajjo", user="62"))
    async with services.db.transaction() as s:
        assert await users.find(s, Identity("telegram", "62")) is not None


async def test_another_user_is_untouched(services: Services, tmp_path: Path) -> None:
    with_blobs(services, tmp_path / "data")
    bot = make_dispatcher(services)
    await say(bot, inbound("hi", user="70"))
    await say(bot, inbound("hi", user="71"))
    kept = await seed_files(services, Identity("telegram", "71"))
    await seed_files(services, Identity("telegram", "70"))
    await _ask_delete(bot, "70")
    await say(bot, inbound(payload="del:yes", user="70"))
    assert all((tmp_path / "data" / p).exists() for p in kept.paths)
    async with services.db.transaction() as s:
        assert await users.find(s, Identity("telegram", "71")) is not None
        assert await jobs.get(s, kept.job_id) is not None
        assert await ledger.balance(s, kept.user_id) == 3


async def test_delete_in_bengali(services: Services) -> None:
    bot = make_dispatcher(services)
    await say(bot, inbound("hi", user="80", lang="bn"))
    choice = await _ask_delete(bot, "80", lang="bn")
    assert "ফেরানো যাবে না" in choice.text
    assert {b.label for b in choice.buttons} == {"হ্যাঁ, সব মুছুন", "বাতিল"}
    assert all(len(b.label) <= 20 for b in choice.buttons)  # WhatsApp's reply-button limit
    assert "মুছে ফেলা হয়েছে" in await say(bot, inbound(payload="del:yes", user="80", lang="bn"))
    assert "আপনার কাছে ০টি ক্রেডিট আছে।" in await say(bot, inbound("hi", user="80", lang="bn"))


async def test_bengali_alias_starts_deletion(services: Services) -> None:
    bot = make_dispatcher(services)
    replies = await bot.dispatch(inbound("মুছে ফেলুন", user="81", lang="bn"))
    assert any(isinstance(r, Choice) and any(b.payload == "del:yes" for b in r.buttons) for r in replies)
