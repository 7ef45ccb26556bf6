"""A job's files: the outputs already stored (a retry delivers them without rendering again), and the
render itself (in the process pool) with the upload, cutout and outputs stored encrypted under the claim."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import Channel, Refused
from bot.job_outcomes import JobGone, LeaseLost, RenderFailed
from storage import jobs, ledger
from storage.blobs import BlobStore
from storage.db import Database
from storage.models import RenderJob, StoredFile

if TYPE_CHECKING:
    from bot.metrics import Metrics
    from bot.workers import RenderPool

log = logging.getLogger(__name__)


class JobFiles:
    def __init__(self, db: Database, blobs: BlobStore, pool: RenderPool, metrics: Metrics | None) -> None:
        self.db = db
        self.blobs = blobs
        self.pool = pool
        self.metrics = metrics

    async def stored_outputs(self, job: RenderJob) -> list[tuple[StoredFile, bytes]]:
        async with self.db.transaction() as session:
            files = await jobs.files_of(session, job.id or 0, "output")
        return [(f, self.blobs.get(f.path)) for f in files]

    async def render_and_store(self, job: RenderJob, channel: Channel) -> list[tuple[StoredFile, bytes]]:
        if job.source_job_id:
            async with self.db.transaction() as session:
                cutouts = await jobs.files_of(session, job.source_job_id, "cutout")
            if not cutouts:
                raise Refused("the original cutout is gone (retention)")
            started = time.perf_counter()
            result = await self._render(self.pool.compose(self.blobs.get(cutouts[0].path), [job.style], job.size))
        else:
            upload = await channel.fetch_media(job.media_file_id)
            styles = [job.style] if job.style == "transparent" else [job.style, "transparent"]
            started = time.perf_counter()
            result = await self._render(self.pool.render_photo(upload, styles, job.size))
        if self.metrics is not None:
            self.metrics.render_time(time.perf_counter() - started)
        stored: list[tuple[StoredFile, bytes]] = []
        async with self.db.transaction() as session:
            fresh = await jobs.get(session, job.id or 0)
            if fresh is None:
                raise JobGone(job.id)  # the user erased their data while we rendered: keep nothing
            if not await jobs.holds(session, job.id or 0, job.attempts):
                raise LeaseLost
            if result.get("upload"):
                mime, clean = result["upload"]
                await self._store(session, job, "upload", "original", mime, clean)
            if result.get("cutout"):
                await self._store(session, job, "cutout", "cutout.png", "image/png", result["cutout"])
            for name, mime, data in result["outputs"]:
                stored.append((await self._store(session, job, "output", name, mime, data), data))
            fresh.hard_photo = bool(result.get("hard_photo"))
            reason = result.get("reason") if fresh.hard_photo else None
            fresh.hard_reason = str(reason)[:40] if reason else None  # picks the tip the seller reads
            session.add(fresh)
            doubtful = fresh.hard_photo and fresh.source_job_id is None  # a re-style reuses a judged cutout
            uncharged = doubtful and await self._uncharge(session, fresh)
        if uncharged and self.metrics is not None:
            self.metrics.doubtful(fresh.cost)
        return stored

    @staticmethod
    async def _uncharge(session: AsyncSession, job: RenderJob) -> bool:
        """A cutout the render itself doubts is not charged: its debit is given back with the outputs stored
        (the job's one refund key, so neither a later failure nor "not right?" can refund it again)."""
        assert job.id is not None
        return await ledger.refund(
            session,
            job.user_id,
            debit_key=jobs.debit_key(job.id),
            key=jobs.refund_key(job.id),
            reference=f"job {job.id} doubtful cutout",
            kind=ledger.EntryKind.DOUBTFUL,
        )

    async def _render(self, work: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        """The render process answers a result or a failure code (`render_task`); a dead process passes
        through (a retry), and anything else from the pool (a result that would not cross the process
        boundary) is this photo's failure, not a blink."""
        try:
            result = await work
        except (BrokenProcessPool, asyncio.CancelledError):
            raise
        except Exception as error:
            log.error("render pool raised %s: %s", type(error).__name__, error)
            raise RenderFailed("render_error") from error
        if result.get("failed"):
            log.info("render refused the photo: %s", result.get("detail") or result["failed"])
            raise RenderFailed(str(result["failed"]))
        return result

    async def _store(self, session: Any, job: RenderJob, kind: str, name: str, mime: str, data: bytes) -> StoredFile:
        path = self.blobs.put(data)
        return await jobs.add_file(
            session,
            StoredFile(user_id=job.user_id, job_id=job.id, kind=kind, name=name, mime=mime, path=path, bytes=len(data)),
        )
