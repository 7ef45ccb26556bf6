"""Retention: uploads and outputs older than their windows go (rows, then blobs), and so do orphan blobs.

Rows are deleted in one transaction and the blobs after its commit; a crash in between leaves orphan
blobs (encrypted, named by no row), which the next purge removes once they are older than a grace period
(a worker may have written a blob whose row is not committed yet).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlmodel import col

from storage import events, links, webchat
from storage.blobs import BlobStore
from storage.db import Database
from storage.models import StoredFile
from storage.types import utcnow

log = logging.getLogger(__name__)

ORPHAN_GRACE_S = 24 * 3600
UPLOAD_KINDS = ("upload", "web-upload")  # the web chat keeps the photo as sent too


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    uploads: int = 0
    outputs: int = 0
    orphans: int = 0
    events: int = 0
    link_codes: int = 0

    def __str__(self) -> str:
        return (
            f"{self.uploads} uploads, {self.outputs} outputs/cutouts, {self.orphans} orphan blobs, "
            f"{self.events} processed-event records, {self.link_codes} expired link codes"
        )


async def purge(
    db: Database, blobs: BlobStore, *, uploads_days: int, outputs_days: int, now: datetime | None = None
) -> PurgeCounts:
    now = now or utcnow()
    upload_cutoff, output_cutoff = now - timedelta(days=uploads_days), now - timedelta(days=outputs_days)
    expired = or_(
        col(StoredFile.kind).in_(UPLOAD_KINDS) & (col(StoredFile.created_at) < upload_cutoff),
        col(StoredFile.kind).not_in(UPLOAD_KINDS) & (col(StoredFile.created_at) < output_cutoff),
    )
    async with db.transaction(long=True) as session:
        rows = (await session.execute(select(col(StoredFile.kind), col(StoredFile.path)).where(expired))).all()
        await session.execute(delete(StoredFile).where(expired))
        await webchat.forget_older_than(session, output_cutoff)  # the web chat's turns showing those files
    for _kind, path in rows:
        blobs.delete(path)
    uploads = sum(1 for kind, _ in rows if kind in UPLOAD_KINDS)
    orphans = await _sweep_orphans(db, blobs)
    async with db.transaction(long=True) as session:  # past every platform's redelivery window
        forgotten = await events.forget_older_than(session, events.KEEP_DAYS, now=now)
        codes = await links.forget_expired(session, now)
    counts = PurgeCounts(
        uploads=uploads, outputs=len(rows) - uploads, orphans=orphans, events=forgotten, link_codes=codes
    )
    log.info("retention purge: %s", counts)
    return counts


async def _sweep_orphans(db: Database, blobs: BlobStore) -> int:
    if not blobs.root.is_dir():
        return 0
    cutoff = time.time() - ORPHAN_GRACE_S
    old = [p for p in blobs.root.glob("*/*") if p.is_file() and p.stat().st_mtime < cutoff]
    if not old:
        return 0
    async with db.transaction(long=True) as session:
        known = set((await session.execute(select(col(StoredFile.path)))).scalars())
    removed = 0
    for path in old:
        relative = path.relative_to(blobs.data_dir).as_posix()
        if relative not in known and blobs.delete(relative):
            removed += 1
    return removed


async def purge_forever(
    db: Database,
    blobs: BlobStore,
    *,
    uploads_days: int,
    outputs_days: int,
    stopping: asyncio.Event,
    interval_s: float = 3600.0,
) -> None:
    """`run`'s scheduled purge: once at start, then every `interval_s`, until `stopping` is set.

    A failed round is logged and retried. Stopping waits for the round in progress: a round cancelled in the
    middle of a statement leaves SQLite's connection thread answering a closed event loop after shutdown.
    """
    while not stopping.is_set():
        try:
            await purge(db, blobs, uploads_days=uploads_days, outputs_days=outputs_days)
        except Exception:
            log.exception("retention purge failed; retrying in %.0f s", interval_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval_s)
