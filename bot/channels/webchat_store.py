"""What the web chat keeps, in the database and the encrypted blob store, so any front serves it after a restart.

Uploads are sealed into the blob store the moment they are accepted (a job's `media_file_id` is the blob's
path, random and never taken from user input); reply files link to `StoredFile` rows (a render's outputs
are already stored, so only other files are stored again); each turn of the conversation is an entry the
page draws again on reload. Previews are small JPEGs made on first request and kept.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from bot.channels.base import MediaUnavailable, Unavailable
from handlers.model import Album, ChatAction, Choice, Document, Image, Link, Progress, Reply, Text
from handlers.router import PAYLOAD_SEPARATOR
from storage import jobs, users
from storage import webchat as entries
from storage.blobs import BlobKeyError, BlobStore
from storage.db import Database
from storage.errors import is_transient
from storage.models import StoredFile
from storage.users import Identity

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from handlers.context import Context

log = logging.getLogger(__name__)

PREVIEW_SIDE = 640
PREVIEW_BUDGET = 100 * 1024  # what an inline picture may weigh on mobile data
PREVIEWABLE = {"image/jpeg", "image/png", "image/webp", "image/gif"}


class WebChatStore:
    def __init__(self, db: Database, blobs: BlobStore) -> None:
        self.db = db
        self.blobs = blobs

    async def user_id(self, visitor: str) -> int | None:
        async with self.db.read() as session:
            return await users.find_id(session, Identity("web", visitor))

    # Uploads ------------------------------------------------------------------------------------

    async def keep_upload(self, data: bytes) -> str:
        """Seals the photo into the blob store; returns its path (the job's `media_file_id`)."""
        return await asyncio.to_thread(self.blobs.put, data)

    async def drop_upload(self, path: str) -> None:
        await asyncio.to_thread(self.blobs.delete, path)

    @staticmethod
    async def _record_uploads(
        session: Any, user_id: int, uploads: Sequence[tuple[str, str, int]]
    ) -> list[dict[str, Any]]:
        drawn = []
        for number, (path, mime, size) in enumerate(uploads, start=1):
            stored = StoredFile(
                user_id=user_id, kind=entries.UPLOAD_KIND, name=f"photo-{number}", mime=mime, path=path, bytes=size
            )
            drawn.append(_file_json("image", await jobs.add_file(session, stored)))
        return drawn

    async def fetch_upload(self, path: str) -> bytes:
        """The channel contract: a missing or unreadable upload is refused; a failing disk is unavailable."""
        try:
            return await asyncio.to_thread(self.blobs.get, path)
        except (FileNotFoundError, BlobKeyError, ValueError) as error:
            raise MediaUnavailable(f"web upload missing or unreadable: {type(error).__name__}") from None
        except OSError as error:
            raise Unavailable(f"blob store: {type(error).__name__}", retry_after=10.0) from None

    # Conversation -------------------------------------------------------------------------------

    async def answered(self, user_id: int, client_id: str) -> dict[str, Any] | None:
        async with self.db.read() as session:
            return await self.answered_in(session, user_id, client_id)

    @staticmethod
    async def answered_in(session: AsyncSession, user_id: int, client_id: str) -> dict[str, Any] | None:
        """The turn kept for the page's message id (a retry gets it again), inside the caller's transaction."""
        found = await entries.entry_for_client(session, user_id, client_id)
        return {**found[1], "entry": found[0]} if found else None

    async def keep_turn(
        self,
        session: AsyncSession,
        user_id: int | None,
        mine: dict[str, Any] | None,
        uploads: Sequence[tuple[str, str, int]],
        replies: Sequence[Reply],
        client_id: str | None,
    ) -> tuple[int, dict[str, Any]] | None:
        """After a message was handled, in the caller's transaction (`TurnKeeper`: the one that recorded the
        message, or one of its own): for the visitor's account, its uploads' rows, the replies drawn, the turn
        kept. Returns (entry id, turn) as `storage.webchat.keep_entry` does; None when there is no account
        (erased by this very message, or never made). The same client id kept twice at once: the turn kept first
        is returned."""
        if user_id is None:
            return None
        if mine is not None and mine["type"] == "photos":
            mine["files"] = await self._record_uploads(session, user_id, uploads)
        turn: dict[str, Any] = {"me": mine, "replies": [await self._serialize(session, user_id, r) for r in replies]}
        return await entries.keep_entry(session, user_id, turn, client_id)

    async def keep_replies(self, visitor: str, replies: Sequence[Reply]) -> tuple[int, list[dict[str, Any]]] | None:
        """Replies pushed to the visitor (a job's progress, its results), in one transaction as `keep_turn`: the
        account, the replies drawn, and the turn kept unless it is only chat actions ("typing" is shown, not
        kept). Returns (entry id, 0 when not kept; the drawn replies); None when there is no account (erased)."""
        async with self.db.transaction() as session:
            user_id = await users.find_id(session, Identity("web", visitor))
            if user_id is None:
                return None
            drawn = [await self._serialize(session, user_id, r) for r in replies]
            if all(r["type"] == "action" for r in drawn):
                return 0, drawn
            return await entries.add_entry(session, user_id, {"replies": drawn}), drawn

    async def reserve(self, user_id: int, client_id: str) -> None:
        async with self.db.transaction() as session:
            await entries.reserve(session, user_id, client_id)

    async def drop_reserved(self, user_id: int, client_id: str) -> None:
        async with self.db.transaction() as session:
            await entries.drop_reserved(session, user_id, client_id)

    async def recent(self, user_id: int, after: int = 0) -> list[dict[str, Any]]:
        async with self.db.transaction() as session:
            found = await entries.recent(session, user_id, after=after)
            pending = await jobs.batch_in_flight(session, user_id)
        if pending is None:  # nothing is in line any more: "you are #2 in line" would be stale
            for entry in found:
                entry["replies"] = [r for r in entry.get("replies", []) if r.get("type") != "progress"]
        return found

    async def last_entry(self, user_id: int) -> int:
        async with self.db.read() as session:
            return await entries.last_entry(session, user_id)

    async def _serialize(self, session: Any, user_id: int, reply: Reply) -> dict[str, Any]:
        """The JSON the page draws; files become links to stored rows (stored here when they are not yet)."""
        match reply:
            case Text():
                return {"type": "text", "text": reply.text}
            case Choice():
                buttons = [await self._button(session, user_id, b.label, b.payload) for b in reply.buttons]
                return {"type": "choice", "text": reply.text, "buttons": buttons}
            case Image() | Document():
                stored = await session.get(StoredFile, reply.stored_id) if reply.stored_id else None
                if stored is None or stored.user_id != user_id:
                    path = await asyncio.to_thread(self.blobs.put, reply.data)
                    stored = StoredFile(
                        user_id=user_id,
                        kind=entries.FILE_KIND,
                        name=reply.name[:80],
                        mime=reply.mime,
                        path=path,
                        bytes=len(reply.data),
                    )
                    stored = await jobs.add_file(session, stored)
                drawn = _file_json("image" if isinstance(reply, Image) else "document", stored)
                return {**drawn, "caption": reply.caption}
            case Album():
                return {"type": "album", "items": [await self._serialize(session, user_id, i) for i in reply.items]}
            case Progress():
                return {"type": "progress", "key": reply.key, "text": reply.text}
            case ChatAction():
                return {"type": "action", "action": reply.action}
            case Link():
                return {"type": "link", "text": reply.text, "label": reply.label, "url": reply.url}
        raise TypeError(f"unknown reply {reply!r}")

    async def _button(self, session: Any, user_id: int, label: str, payload: str) -> dict[str, Any]:
        """A /history button shows the picture it brings back (the web chat has room for a thumbnail)."""
        button: dict[str, Any] = {"label": label, "payload": payload}
        prefix, _, job_id = payload.partition(PAYLOAD_SEPARATOR)
        if prefix == "hist" and job_id.isdigit():
            job = await jobs.get(session, int(job_id))
            outputs = await jobs.files_of(session, int(job_id), "output") if job and job.user_id == user_id else []
            if outputs:
                button["thumb"] = f"/webchat/files/{outputs[0].id}/preview"
        return button

    # Files --------------------------------------------------------------------------------------

    async def file(self, user_id: int, file_id: int) -> tuple[StoredFile, bytes] | None:
        async with self.db.transaction() as session:
            stored = await entries.visible_file(session, user_id, file_id)
        return (stored, await self._read(stored)) if stored else None

    async def preview(self, user_id: int, file_id: int) -> bytes | None:
        """A JPEG of at most `PREVIEW_SIDE` px and about `PREVIEW_BUDGET` bytes, made once and kept."""
        async with self.db.transaction() as session:
            stored = await entries.visible_file(session, user_id, file_id)
            kept = await entries.preview_of(session, user_id, file_id) if stored else None
        if stored is None or stored.mime not in PREVIEWABLE:
            return None
        if kept is not None:
            return await self._read(kept)
        original = await self._read(stored)
        small = await asyncio.to_thread(make_preview, original)
        if small is None:
            return None
        path = await asyncio.to_thread(self.blobs.put, small)
        async with self.db.transaction() as session:
            row = StoredFile(
                user_id=user_id,
                job_id=stored.job_id,
                kind=entries.PREVIEW_KIND,
                name=entries.preview_name(file_id),
                mime="image/jpeg",
                path=path,
                bytes=len(small),
            )
            await jobs.add_file(session, row)
        return small

    async def _read(self, stored: StoredFile) -> bytes:
        return await asyncio.to_thread(self.blobs.get, stored.path)


def _file_json(kind: str, stored: StoredFile) -> dict[str, Any]:
    drawn: dict[str, Any] = {
        "type": kind,
        "file": stored.id,
        "url": f"/webchat/files/{stored.id}",
        "name": stored.name,
        "mime": stored.mime,
        "bytes": stored.bytes,
    }
    if stored.mime in PREVIEWABLE:
        drawn["preview"] = f"/webchat/files/{stored.id}/preview"
    return drawn


def make_preview(data: bytes) -> bytes | None:
    """JPEG on white (transparency shown as white), shrunk until it fits the budget; None if unreadable."""
    try:
        with PILImage.open(io.BytesIO(data)) as opened:
            picture = ImageOps.exif_transpose(opened)
            picture.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
            if picture.mode in ("RGBA", "LA", "P"):
                rgba = picture.convert("RGBA")
                flat = PILImage.new("RGB", rgba.size, "white")
                flat.paste(rgba, mask=rgba.getchannel("A"))
                picture = flat
            picture = picture.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, PILImage.DecompressionBombError):
        return None
    for quality in (80, 70, 60, 50):
        out = io.BytesIO()
        picture.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
        if out.tell() <= PREVIEW_BUDGET:
            return out.getvalue()
    picture.thumbnail((PREVIEW_SIDE // 2, PREVIEW_SIDE // 2))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=60, optimize=True)
    return out.getvalue()


def transient(error: BaseException) -> bool:
    """Storage errors the page may simply retry (the database or the disk blinked)."""
    return is_transient(error) or isinstance(error, OSError)


@dataclass
class TurnKeeper:
    """One message's turn, kept once. A one-event message keeps it inside the transaction that records the event
    (`within`, as `Inbound.within`): one transaction for the message instead of two, and no second wait for the
    writer behind the next batch. What that kept counts once the transaction has committed (published by the
    context's after-commit steps): a batch that rolls back and is recorded again event by event keeps the turn
    again. Otherwise (an album, a redelivery, a rate-limited message) `kept_after` keeps it in its own."""

    store: WebChatStore
    visitor: str
    mine: dict[str, Any] | None
    uploads: Sequence[tuple[str, str, int]]
    client_id: str | None
    committed: bool = False
    kept: tuple[int, dict[str, Any]] | None = None

    async def within(self, ctx: Context, replies: list[Reply]) -> None:
        # The message's own account, read with its batch (unless its handler linked or erased one since).
        user_id = await users.account_of(ctx.session, Identity("web", self.visitor), ctx.user_id)
        kept = await self.store.keep_turn(ctx.session, user_id, self.mine, self.uploads, replies, self.client_id)

        async def publish() -> None:
            self.committed, self.kept = True, kept

        ctx.after_commit.append(publish)

    async def kept_after(self, replies: Sequence[Reply]) -> tuple[int, dict[str, Any]] | None:
        """The turn: as kept with the message, or kept now in a transaction of its own."""
        if self.committed:
            return self.kept
        async with self.store.db.transaction() as session:
            user_id = await users.find_id(session, Identity("web", self.visitor))
            return await self.store.keep_turn(session, user_id, self.mine, self.uploads, replies, self.client_id)
