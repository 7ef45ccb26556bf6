"""Shared by the privacy tests: a user with a pending job and stored files (real blobs on disk)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image

from handlers.context import Services
from storage import users
from storage.blobs import BlobStore
from storage.models import RenderJob, StoredFile
from storage.users import Identity

FILES_KEY = b"f" * 32
CAMERA = "NexorazTestCam"


def with_blobs(services: Services, data_dir: Path) -> Services:
    services.blobs = BlobStore(data_dir, FILES_KEY)
    return services


def photo_with_exif(colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A JPEG carrying a camera name and GPS position, as phone photos do."""
    image = Image.new("RGB", (32, 24), colour)
    exif = Image.Exif()
    exif[0x010F] = CAMERA  # Make
    exif[0x8825] = {1: "N", 2: (23.0, 48.0, 12.0), 3: "E", 4: (90.0, 24.0, 36.0)}  # GPS IFD
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


@dataclass
class Seeded:
    user_id: int
    job_id: int
    file_ids: list[int]
    paths: list[str]


async def seed_files(
    services: Services,
    identity: Identity,
    *,
    kinds: tuple[str, ...] = ("upload", "cutout", "output"),
    created_at: datetime | None = None,
    state: str = "accepted",
) -> Seeded:
    """A render job for the (existing) user, plus one encrypted blob and StoredFile row per kind."""
    blobs = services.blobs
    assert blobs is not None
    async with services.db.transaction() as session:
        user = await users.find(session, identity)
        assert user is not None and user.id is not None
        job = RenderJob(
            user_id=user.id,
            channel=identity.channel,
            chat_id=identity.external_id,
            batch_key="b",
            media_file_id="platform-file",
            style="white",
            size="original",
            cost=1,
            state=state,
        )
        session.add(job)
        await session.flush()
        rows = []
        for kind in kinds:
            data = photo_with_exif() if kind == "upload" else f"{kind} bytes of {identity}".encode()
            path = blobs.put(data)
            row = StoredFile(
                user_id=user.id,
                job_id=job.id,
                kind=kind,
                name=f"{kind}.jpg",
                mime="image/jpeg",
                path=path,
                bytes=len(data),
            )
            if created_at is not None:
                row.created_at = created_at
            session.add(row)
            rows.append(row)
        await session.flush()
        return Seeded(user.id, job.id or 0, [r.id or 0 for r in rows], [r.path for r in rows])
