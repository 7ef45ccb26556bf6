"""Shared fixtures: real SQLite and PostgreSQL databases, settings in a temporary DATA_DIR, event builders."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.settings import Settings
from handlers.config import Config
from handlers.context import Services
from handlers.model import Channel, Inbound, Kind, MediaRef
from storage import migrate
from storage.db import Database
from storage.limits import MemoryRateLimiter

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read a developer's .env or environment settings."""
    for name in list(os.environ):
        if name.startswith(("TELEGRAM_", "WHATSAPP_", "MESSENGER_", "DATABASE_URL", "REDIS_URL", "FILES_KEY")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


async def _create_postgres_database() -> str:
    import asyncpg

    name = f"nxz_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    finally:
        await conn.close()
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


async def _drop_postgres_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated, empty database: SQLite in a temporary folder, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"
        await migrate.upgrade_async(url)
        yield url
        return
    url = await _create_postgres_database()
    try:
        await migrate.upgrade_async(url)
        yield url
    finally:
        await _drop_postgres_database(url)


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"
    await migrate.upgrade_async(url)
    return url


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    db = Database(db_url)
    yield db
    await db.dispose()


@pytest.fixture
def config() -> Config:
    return Config(
        signup_credits=3,
        render_cost=1,
        support_whatsapp="+8801711000000",
        facebook_page_url="https://facebook.com/nexoraz",
        upgrade_url="https://nexoraz.pro/pricing",
        tutorial_video_url="https://nexoraz.pro/how-to",
        identity_key=b"k" * 32,
    )


@pytest.fixture
def services(database: Database, config: Config) -> Services:
    return Services(db=database, limiter=MemoryRateLimiter(), config=config)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", http_port=0, _env_file=None)  # type: ignore[call-arg]


_event_ids = itertools.count(1)


def inbound(
    text: str = "",
    *,
    user: str = "1001",
    channel: Channel = Channel.TELEGRAM,
    kind: Kind | None = None,
    payload: str | None = None,
    lang: str | None = "en",
    event_id: str | None = None,
    media: tuple[MediaRef, ...] = (),
) -> Inbound:
    """An event as an adapter would build it."""
    if kind is None:
        kind = Kind.BUTTON if payload else Kind.TEXT
    return Inbound(
        channel=channel,
        user_id=user,
        chat_id=user,
        event_id=event_id or f"e{next(_event_ids)}",
        kind=kind,
        text=text,
        payload=payload,
        locale_hint=lang,
        media=media,
    )
