"""Shared by the web chat's browser tests: `run`'s app on loopback (restartable on the same DATA_DIR), Chromium."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from bot import app as app_module
from bot.channels.webchat import WebChat
from bot.settings import Settings
from storage import ledger, users
from storage.models import RenderJob
from storage.users import Identity

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONES = {"360x640": (360, 640), "390x844": (390, 844), "desktop": (1366, 850)}
BENGALI = {"locale": "bn-BD", "extra_http_headers": {"Accept-Language": "bn-BD,bn;q=0.9"}}
ENGLISH = {"locale": "en-US", "extra_http_headers": {"Accept-Language": "en-US,en;q=0.9"}}


class Server:
    """The whole app (HTTP + in-process workers) on a DATA_DIR that outlives it: stop, start again, same data."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.app: app_module.App | None = None

    async def start(self, port: int = 0) -> str:
        """`port`: 0 for any free one, or the previous run's port (an open tab reconnects to it)."""
        settings = Settings(
            data_dir=self.data_dir,
            http_port=port,
            segmenter="classical",
            web_visitor_credits=3,  # about rendering, not who gets credits (test_webchat_linking.py)
            facebook_page_url="https://facebook.com/nexoraz",
            upgrade_url="https://nexoraz.pro/pricing",
            _env_file=None,
        )  # type: ignore[call-arg]
        self.app = app_module.create_app(settings)
        await app_module.start(self.app)
        return self.base

    @property
    def base(self) -> str:
        assert self.app is not None
        return f"http://127.0.0.1:{self.app.port}"

    async def stop(self) -> None:
        if self.app is not None:
            await app_module.stop(self.app)
            self.app = None

    async def drop_streams(self) -> None:
        """Ends every open event stream, as a dropped connection would (the server keeps running)."""
        assert self.app is not None
        chat = self.app.channel("web")
        assert isinstance(chat, WebChat)
        for queues in chat._listeners.values():  # the private map: a test cutting the line
            for queue in queues:
                queue.put_nowait({"type": "bye"})

    async def job_states(self) -> list[tuple[int | None, str, int]]:
        """(id, state, attempts) of every job: what a failing test prints."""
        assert self.app is not None
        async with self.app.db.transaction() as session:
            found = (await session.execute(select(RenderJob))).scalars()
            return [(job.id, job.state, job.attempts) for job in found]

    async def balance(self, cookie: str) -> int:
        assert self.app is not None
        async with self.app.db.transaction() as session:
            user = await users.find(session, Identity("web", web_id(self.app, cookie)))
            assert user is not None and user.id is not None
            return await ledger.balance(session, user.id)


@asynccontextmanager
async def served_app(settings: Settings) -> AsyncIterator[tuple[app_module.App, str]]:
    """`run`'s whole app on loopback with these settings: (app, base address); stopped afterwards."""
    app = app_module.create_app(settings)
    await app_module.start(app)
    try:
        yield app, f"http://127.0.0.1:{app.port}"
    finally:
        await app_module.stop(app)


def web_id(app: app_module.App, cookie: str) -> str:
    """The external id the web chat keeps for a visitor's cookie (only the keyed hash of its secret is kept)."""
    chat = app.channel("web")
    assert isinstance(chat, WebChat)
    return chat.identity.visitor_id(cookie)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    running = Server(tmp_path / "data")
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is needed for the browser test: `make browser` installs it")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


def screenshot_path(tmp_path: Path, name: str) -> str:
    """Under tmp_path, or under $WEBCHAT_SCREENSHOTS when set (to look at them after the run)."""
    folder = Path(os.environ.get("WEBCHAT_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"{name}.png")


def camera_photo(width: int = 3000, height: int = 2250, seed: int = 7) -> bytes:
    """A phone-camera-like JPEG: a product on a textured, noisy table (compresses like a photo, not a drawing)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    table = 150 + 40 * np.sin(x / 37.0) * np.cos(y / 53.0) + rng.normal(0, 18, (height, width))
    rgb = np.stack([table * 0.95, table * 0.85, table * 0.7], axis=-1)
    inside = ((x - width / 2) / (width / 4)) ** 2 + ((y - height / 2) / (height / 3)) ** 2 < 1
    rgb[inside] = np.stack(
        [200 + rng.normal(0, 12, inside.sum()), 40 + 20 * np.sin(x[inside] / 9.0), 50 + 0 * x[inside]], -1
    )
    out = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=88)
    return out.getvalue()
