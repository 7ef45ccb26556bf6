"""A test channel (collects what the bot sends, serves uploads from memory) and a wired bot with real workers."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image, ImageDraw

from bot.channels.base import MediaUnavailable, Unavailable
from bot.settings import Settings
from bot.workers import JobRunner, MemoryJobQueue, fair_pick
from handlers.config import Config
from handlers.context import Services
from handlers.dispatcher import Dispatcher
from handlers.model import Channel, Choice, Document, Inbound, Kind, MediaRef, Reply, Text
from storage import migrate
from storage.blobs import BlobStore
from storage.db import Database
from storage.limits import MemoryRateLimiter
from storage.models import RenderJob
from tests.helpers import make_dispatcher


def product_photo(width: int = 480, height: int = 360, *, colour: tuple[int, int, int] = (200, 30, 40)) -> bytes:
    image = Image.new("RGB", (width, height), (205, 208, 212))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 3, height // 4, 2 * width // 3, 3 * height // 4), fill=colour)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


@dataclass
class CollectingChannel:
    """Speaks the Channel protocol; what would reach the user lands in `sent`."""

    name: str = "web"
    files: dict[str, bytes] = field(default_factory=dict)
    sent: list[tuple[str, Reply]] = field(default_factory=list)
    fetches: list[str] = field(default_factory=list)
    refuse_sends: int = 0  # the next N sends raise Unavailable, like a platform answering 429/5xx
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def add_routes(self, app: object) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, chat_id: str, replies: Sequence[Reply]) -> None:
        if self.refuse_sends:
            self.refuse_sends -= 1
            raise Unavailable("429 Too Many Requests", retry_after=0.05)
        self.sent.extend((chat_id, r) for r in replies)
        self.arrived.set()

    async def fetch_media(self, file_id: str) -> bytes:
        self.fetches.append(file_id)
        if file_id not in self.files:
            raise MediaUnavailable(file_id)
        return self.files[file_id]

    def documents(self, chat_id: str) -> list[Document]:
        return [r for c, r in self.sent if c == chat_id and isinstance(r, Document)]

    def texts(self, chat_id: str) -> str:
        return "\n".join(r.text for c, r in self.sent if c == chat_id and isinstance(r, Text | Choice))

    def choices(self, chat_id: str) -> list[Choice]:
        return [r for c, r in self.sent if c == chat_id and isinstance(r, Choice)]


@dataclass
class PhotoBot:
    dispatcher: Dispatcher
    channel: CollectingChannel
    runner: JobRunner
    services: Services
    queue: MemoryJobQueue
    counter: int = 0

    def photo(
        self,
        user: str,
        data: bytes,
        *,
        album: str | None = None,
        size: int | None = None,
        mime: str = "image/jpeg",
        lang: str = "en",
        event_id: str | None = None,
    ) -> Inbound:
        self.counter += 1
        file_id = f"file-{self.counter}"
        self.channel.files[file_id] = data
        return Inbound(
            channel=Channel(self.channel.name),
            user_id=user,
            chat_id=user,
            event_id=event_id or f"photo-{self.counter}",
            kind=Kind.ALBUM_ITEM if album else Kind.PHOTO,
            album_key=album,
            locale_hint=lang,
            media=(MediaRef(file_id=file_id, mime=mime, size=len(data) if size is None else size),),
        )

    def button(self, user: str, payload: str, lang: str = "en") -> Inbound:
        self.counter += 1
        return Inbound(
            channel=Channel(self.channel.name),
            user_id=user,
            chat_id=user,
            event_id=f"b-{self.counter}",
            kind=Kind.BUTTON,
            payload=payload,
            locale_hint=lang,
        )

    def text(self, user: str, text: str, lang: str = "en") -> Inbound:
        self.counter += 1
        return Inbound(
            channel=Channel(self.channel.name),
            user_id=user,
            chat_id=user,
            event_id=f"t-{self.counter}",
            kind=Kind.TEXT,
            text=text,
            locale_hint=lang,
        )

    async def settle(self, timeout: float = 60) -> None:
        """Wait until no job is unfinished."""

        async def pending() -> list[RenderJob]:
            from sqlalchemy import select

            async with self.services.db.transaction() as s:
                rows = await s.execute(select(RenderJob).where(RenderJob.state.in_(("accepted", "rendering"))))  # type: ignore[attr-defined]
                return list(rows.scalars())

        deadline = asyncio.get_running_loop().time() + timeout
        while await pending():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"jobs still pending: {await pending()}")
            await asyncio.sleep(0.1)


@asynccontextmanager
async def photo_bot(
    tmp_path: Path,
    *,
    workers: int = 1,
    db_url: str | None = None,
    config: Config | None = None,
    channel: str = "web",
    segmenter: str = "classical",
    models_dir: Path | None = None,
) -> AsyncIterator[PhotoBot]:
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data", segmenter=segmenter, models_dir=models_dir, render_workers=workers, _env_file=None
    )
    url = db_url or f"sqlite+aiosqlite:///{tmp_path / 'photos.sqlite3'}"
    if db_url is None:
        await migrate.upgrade_async(url)
    db = Database(url)
    blobs = BlobStore(settings.data_dir, settings.secret_key("files"))
    queue = MemoryJobQueue(fair_pick(db))
    chosen = config or Config(identity_key=b"k" * 32)
    # These tests are about the render pipeline, whatever the channel is called: its users get the gift that
    # a verified chat brings (who gets credits in the web chat is tests/credits/test_linking.py's subject).
    chosen = replace(chosen, web_visitor_credits=chosen.signup_credits)
    services = Services(db=db, limiter=MemoryRateLimiter(), config=chosen, blobs=blobs, jobs=queue)
    collecting = CollectingChannel(name=channel)
    runner = JobRunner(settings, db, blobs, {channel: collecting}, queue.take, queue.enqueue, queued=queue.queued_ids)
    queue.in_hand = runner.in_flight.copy
    await runner.start()
    try:
        yield PhotoBot(make_dispatcher(services), collecting, runner, services, queue)
    finally:
        await runner.stop()
        await db.dispose()
