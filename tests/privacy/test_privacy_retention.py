"""Retention and encryption at rest: purge removes exactly the files past their window (rows and blobs);
files on disk cannot be read without the key."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import col

from bot.cli import main
from handlers.context import Services
from storage import retention
from storage.blobs import BlobKeyError, BlobStore
from storage.models import StoredFile
from storage.types import utcnow
from storage.users import Identity
from tests.conftest import inbound
from tests.helpers import make_dispatcher, say
from tests.privacy.privacy_harness import CAMERA, FILES_KEY, seed_files, with_blobs


async def _paths(services: Services) -> set[str]:
    async with services.db.transaction() as s:
        return set((await s.execute(select(col(StoredFile.path)))).scalars())


async def test_purge_removes_exactly_the_expired_files(services: Services, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with_blobs(services, data)
    assert services.blobs is not None
    await say(make_dispatcher(services), inbound("hi", user="500"))
    who = Identity("telegram", "500")
    now = utcnow()
    fresh = await seed_files(services, who, created_at=now - timedelta(days=29))
    middle = await seed_files(services, who, created_at=now - timedelta(days=31))  # upload expired, rest kept
    old = await seed_files(services, who, created_at=now - timedelta(days=91))  # everything expired

    counts = await retention.purge(services.db, services.blobs, uploads_days=30, outputs_days=90, now=now)
    assert (counts.uploads, counts.outputs, counts.orphans) == (2, 2, 0)
    kept = set(fresh.paths) | set(middle.paths[1:])
    assert await _paths(services) == kept
    for path in [*fresh.paths, *middle.paths, *old.paths]:
        assert (data / path).exists() == (path in kept), path
    again = await retention.purge(services.db, services.blobs, uploads_days=30, outputs_days=90, now=now)
    assert (again.uploads, again.outputs) == (0, 0)


async def test_purge_sweeps_old_orphan_blobs_but_not_recent_ones(services: Services, tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "data", FILES_KEY)
    old_orphan, new_orphan = blobs.put(b"left behind"), blobs.put(b"being written")
    day_ago = time.time() - retention.ORPHAN_GRACE_S - 60
    os.utime(tmp_path / "data" / old_orphan, (day_ago, day_ago))
    counts = await retention.purge(services.db, blobs, uploads_days=30, outputs_days=90)
    assert counts.orphans == 1
    assert not (tmp_path / "data" / old_orphan).exists() and (tmp_path / "data" / new_orphan).exists()


async def test_stopping_lets_the_purge_round_in_progress_finish(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart straight after start: the round already begun ends, rather than being cancelled mid-statement
    (which left SQLite's connection thread answering a closed event loop, and the expired files in place)."""
    from bot import privacy_http
    from bot.settings import Settings

    data = tmp_path / "data"
    with_blobs(services, data)
    await say(make_dispatcher(services), inbound("hi", user="502"))
    expired = await seed_files(services, Identity("telegram", "502"), created_at=utcnow() - timedelta(days=91))
    begun = asyncio.Event()
    real_purge = retention.purge

    async def purge_that_says_when_it_begins(*args: object, **kwargs: object) -> retention.PurgeCounts:
        begun.set()
        return await real_purge(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(retention, "purge", purge_that_says_when_it_begins)
    running = privacy_http.start_purge(Settings(data_dir=data, _env_file=None), services)  # type: ignore[call-arg]
    assert running is not None
    await begun.wait()
    await privacy_http.stop_purge(running)
    assert running.task.done() and not running.task.cancelled()
    assert await _paths(services) == set()
    assert not any((data / path).exists() for path in expired.paths)


def test_purge_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RETENTION_DAYS_UPLOADS", "7")
    from bot.app import create_app
    from bot.settings import Settings
    from storage import migrate

    async def seed() -> list[str]:
        app = create_app(Settings(data_dir=tmp_path / "data", _env_file=None))  # type: ignore[call-arg]
        await migrate.upgrade_async(app.settings.effective_database_url)
        try:
            await say(app.dispatcher, inbound("hi", user="501"))
            seeded = await seed_files(
                app.services, Identity("telegram", "501"), created_at=utcnow() - timedelta(days=8)
            )
            return seeded.paths
        finally:
            await app.db.dispose()

    paths = asyncio.run(seed())
    assert main(["purge"]) == 0
    assert "1 uploads, 0 outputs/cutouts" in capsys.readouterr().out
    assert [(tmp_path / "data" / p).exists() for p in paths] == [False, True, True]


def test_blobs_are_unreadable_without_the_key(tmp_path: Path) -> None:
    from tests.privacy.privacy_harness import photo_with_exif

    store = BlobStore(tmp_path, FILES_KEY)
    plain = photo_with_exif()
    path = store.put(plain)
    raw = (tmp_path / path).read_bytes()
    assert plain not in raw and CAMERA.encode() not in raw and raw[:4] == b"NXZ1"
    assert store.get(path) == plain
    with pytest.raises(BlobKeyError):
        BlobStore(tmp_path, b"x" * 32).get(path)
    assert oct((tmp_path / path).stat().st_mode & 0o777) == oct(0o600)
