"""Issue #13's faults against the whole system (a real `python -m bot run`, real workers, emulated
platforms): a lost upload, a poisoned image, a refused delivery, a non-JSON answer to getUpdates, a delivery
slower than the job's lease. Each returns an Outcome with the audit (jobs lost, stuck, credits drift).

Shared by tests/faults (compact sizes) and bench/faults.py (bigger). Every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import io
import struct
import time
from pathlib import Path

from PIL import Image
from sqlalchemy import text

from tests.faults.hostile_telegram import HostileTelegram
from tests.faults.scenarios import Outcome, _finish, traffic
from tests.faults.stack import Stack, small_jpeg, stack

TG_CHAT_BASE = 7_000_000


def truncated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 48), (40 + 60 * n, 90, 160)) for n in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    data = out.getvalue()
    return data[: data.index(b"\x21\xf9", data.index(b"\x2c") + 1) + 3]


def forged_heif() -> bytes:
    import pillow_heif

    out = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", (64, 48), (10, 120, 30))).save(out, quality=50)
    data = bytearray(out.getvalue())
    at = data.find(b"ispe")
    data[at + 8 : at + 16] = struct.pack(">II", 100_000, 100_000)
    return bytes(data)


async def _tg_photos(s: Stack, files: list[str], *, tag: int) -> None:
    """Telegram photos through the webhook, one chat each; redelivered (same update) on a non-200."""
    for n, file_id in enumerate(files):
        update = s.telegram.photo(TG_CHAT_BASE + tag * 1000 + n, file_id)
        for attempt in range(4):
            took = await s._telegram(dict(update))
            if took == took:
                s.photos_acknowledged += 1
                break
            await asyncio.sleep(0.3 * (attempt + 1))


async def _codes(s: Stack) -> str:
    async with s.db.transaction() as session:
        rows = (await session.execute(text("SELECT state, error_code, attempts FROM render_jobs"))).all()
    counts: dict[str, int] = {}
    for state, code, attempts in rows:
        key = f"{state}/{code or '-'}/{attempts}x"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


async def lost_upload(tmp: Path, *, users: int = 2, photos: int = 4, settle_s: float = 60) -> Outcome:
    """The upload is gone when the worker fetches it: Telegram's getFile refuses the file id, WhatsApp's
    media id no longer exists. Each job fails once, refunded, and the rest of the traffic is untouched."""
    async with stack(tmp) as s:
        began = time.monotonic()
        lost = [f"lost-file-{n}" for n in range(photos)]  # never stored on the Bot API side
        await asyncio.gather(_tg_photos(s, lost, tag=1), traffic(s, users, 0, tag="lost"))
        for n in range(photos):
            media_id = s.graph.add_media(small_jpeg(), "image/jpeg")
            del s.graph._media[media_id]  # WhatsApp dropped it before the worker asked
            took = await s._meta("whatsapp", _wa_image(f"88019{n:08d}", media_id))
            s.photos_acknowledged += took == took
        outcome = await _finish(s, "lost upload", began, settle_s, [])
        outcome.notes.append(await _codes(s))
        return outcome


async def poisoned_image(tmp: Path, *, users: int = 2, photos: int = 2, settle_s: float = 60) -> Outcome:
    """Photos that are a truncated animated GIF or a HEIF forged past libheif's limits: each fails once as
    unreadable, refunded, with one status line (they used to stay `rendering` for ever)."""
    async with stack(tmp) as s:
        began = time.monotonic()
        poisons = [truncated_gif() if n % 2 == 0 else forged_heif() for n in range(photos)]
        files = [s.telegram.add_file(p) for p in poisons]
        await asyncio.gather(_tg_photos(s, files, tag=2), traffic(s, users, 0, tag="poison"))
        for n, poison in enumerate(poisons):
            media_id = s.graph.add_media(poison, "image/jpeg")
            took = await s._meta("whatsapp", _wa_image(f"88018{n:08d}", media_id))
            s.photos_acknowledged += took == took
        outcome = await _finish(s, "poisoned image", began, settle_s, [])
        outcome.notes.append(await _codes(s))
        return outcome


async def refused_delivery(tmp: Path, *, users: int = 2, photos: int = 3, settle_s: float = 90) -> Outcome:
    """Telegram refuses every document for the photo chats (400): undelivered, refunded, told; the texts of
    the other users are answered meanwhile."""
    async with stack(tmp) as s:
        began = time.monotonic()
        for n in range(photos):
            chat = TG_CHAT_BASE + 3000 + n
            for method in ("sendDocument", "sendMediaGroup"):
                s.telegram.fail(method, status=400, description="Bad Request: file is too big", times=50, chat_id=chat)
        files = [s.telegram.add_file(small_jpeg(480, 360, seed=n)) for n in range(photos)]
        await asyncio.gather(_tg_photos(s, files, tag=3), traffic(s, users, 0, tag="refused"))
        outcome = await _finish(s, "refused delivery", began, settle_s, [])
        outcome.notes.append(await _codes(s))
        return outcome


async def non_json_poll(tmp: Path, *, users: int = 3, photos: int = 2, settle_s: float = 90) -> Outcome:
    """Long polling: getUpdates answers a proxy's HTML "502 Bad Gateway" page several times in a row; the
    updates that arrive meanwhile are all handled once it recovers (polling used to end in silence)."""
    async with stack(tmp, telegram_mode="polling", telegram_emulator=HostileTelegram) as s:
        hostile = s.telegram
        assert isinstance(hostile, HostileTelegram)
        began = time.monotonic()
        hostile.html("getUpdates", times=4)
        for n in range(users):
            hostile.push(hostile.message(TG_CHAT_BASE + 4000 + n, "/start"))
        for n in range(photos):
            hostile.push(hostile.photo(TG_CHAT_BASE + 4100 + n, hostile.add_file(small_jpeg(480, 360, seed=n))))
        s.photos_acknowledged += photos
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline:
            answered = sum(bool(hostile.texts(TG_CHAT_BASE + 4000 + n)) for n in range(users))
            async with s.db.transaction() as session:
                jobs = int((await session.execute(text("SELECT count(*) FROM render_jobs"))).scalar_one())
            if answered == users and jobs == photos:
                break
            await asyncio.sleep(0.25)
        outcome = await _finish(s, "non-JSON getUpdates answers", began, settle_s, [])
        outcome.notes.append(f"HTML answers {hostile.html_answers}; users answered {answered}/{users}")
        return outcome


async def slow_delivery(tmp: Path, *, users: int = 1, photos: int = 2, settle_s: float = 150) -> Outcome:
    """Redis queue, two workers, JOB_LEASE_SECONDS=10: every sendDocument takes 6 s, so delivering a job's
    two documents outlasts its lease. The heartbeat keeps the lease: each document is sent once."""
    async with stack(tmp, redis=True, lease_s=10, redeliver_s=60, telegram_emulator=HostileTelegram) as s:
        hostile = s.telegram
        assert isinstance(hostile, HostileTelegram)
        s.start_worker()
        s.start_worker()
        hostile.slow("sendDocument", 6.0)
        began = time.monotonic()
        files = [s.telegram.add_file(small_jpeg(480, 360, seed=n)) for n in range(photos)]
        await asyncio.gather(_tg_photos(s, files, tag=5), traffic(s, users, 0, tag="slow"))
        outcome = await _finish(s, "slow delivery past the lease", began, settle_s, [])
        documents = len(hostile.calls_to("sendDocument", ok=True))
        outcome.notes.append(f"documents sent {documents} for {photos} photo(s) of 2 outputs; {await _codes(s)}")
        return outcome


def _wa_image(wa_id: str, media_id: str) -> dict[str, object]:
    from tests.meta.conftest import wa_message

    return wa_message("Image Message", wa_id, image={"mime_type": "image/jpeg", "sha256": "x", "id": media_id})
