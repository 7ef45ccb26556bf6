"""Issue #14 (item 3): a photo form is limited while it streams (total bytes, number of parts); a refused one
gets a localized answer and keeps nothing (no blob, no row, no cache). What it costs in memory is measured
by bench/webchat_upload_limits.py (printed, not asserted).

Found by: one request of 10 parts of 19 MB grew the front's RSS by 416 MB and left its parts cached."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot import app as app_module
from bot.channels.webchat_uploads import MAX_FORM_BYTES, MAX_FORM_PARTS
from bot.settings import Settings
from storage.models import StoredFile, User
from tests.photos.photo_harness import product_photo

BOUNDARY = "nxzlimitboundary"
MB = 1024 * 1024


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[app_module.App]:
    app = app_module.create_app(Settings(data_dir=tmp_path / "data", http_port=0, _env_file=None))  # type: ignore[call-arg]
    await app_module.start(app)
    try:
        yield app
    finally:
        await app_module.stop(app)


def _base(app: app_module.App) -> str:
    return f"http://127.0.0.1:{app.port}"


async def _kept(app: app_module.App) -> tuple[int, int, int]:
    """(stored file rows, users, files in the blob store): what a refused form must not add."""
    async with app.db.transaction() as session:
        rows = int(await session.scalar(select(func.count()).select_from(StoredFile)) or 0)
        people = int(await session.scalar(select(func.count()).select_from(User)) or 0)
    blobs = sum(1 for p in (app.settings.data_dir / "files").rglob("*") if p.is_file())
    return rows, people, blobs


async def _streamed_form(parts: int, part_bytes: int, sent: list[int]) -> AsyncIterator[bytes]:
    """A multipart body made on the fly (chunked, no Content-Length), as a slow phone or a script sends it."""
    chunk = b"\xff" * MB
    for n in range(parts):
        head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="photo"; filename="p{n}.jpg"\r\n'
        yield (head + "Content-Type: image/jpeg\r\n\r\n").encode()
        left = part_bytes
        while left > 0:
            piece = chunk[: min(left, MB)]
            left -= len(piece)
            sent[0] += len(piece)
            yield piece
        yield b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()


async def test_ten_parts_of_19_mb_are_refused_while_streaming_and_nothing_is_kept(served: app_module.App) -> None:
    before = await _kept(served)
    sent = [0]
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Accept-Language": "en"}
    status, body = 0, {}
    async with aiohttp.ClientSession() as http:
        try:
            async with http.post(
                _base(served) + "/webchat/photos", data=_streamed_form(10, 19 * MB, sent), headers=headers
            ) as r:
                status, body = r.status, await r.json()
        except aiohttp.ClientError as error:  # the server may close before the client finished sending
            pytest.fail(f"no answer: {error!r} after {sent[0] // MB} MB")
    assert status == 413
    assert f"up to {MAX_FORM_BYTES // MB} MB" in body["replies"][0]["text"]
    assert await _kept(served) == before  # no blob, no row, not even a visitor


async def test_an_oversized_form_is_refused_in_bengali_with_bengali_digits(served: app_module.App) -> None:
    form = aiohttp.FormData()
    for n in range(MAX_FORM_BYTES // (16 * MB) + 1):
        form.add_field("photo", io.BytesIO(b"\xff" * 16 * MB), filename=f"p{n}.jpg", content_type="image/jpeg")
    before = await _kept(served)
    async with (
        aiohttp.ClientSession(headers={"Accept-Language": "bn-BD"}) as http,
        http.post(_base(served) + "/webchat/photos", data=form) as r,
    ):
        assert r.status == 413
        text = (await r.json())["replies"][0]["text"]
    assert "একসাথে অনেক বেশি" in text and "৬৪" in text  # Bengali, with Bengali digits
    assert await _kept(served) == before


async def test_too_many_parts_are_refused_in_the_visitors_language(served: app_module.App) -> None:
    tiny = product_photo()[:2000]
    form = aiohttp.FormData()
    for n in range(MAX_FORM_PARTS + 1):
        form.add_field("photo", tiny, filename=f"p{n}.jpg", content_type="image/jpeg")
    before = await _kept(served)
    async with (
        aiohttp.ClientSession(headers={"Accept-Language": "bn-BD"}) as http,
        http.post(_base(served) + "/webchat/photos", data=form) as r,
    ):
        assert r.status == 413
        text = (await r.json())["replies"][0]["text"]
    assert "অনেক বেশি অংশ" in text and "২০" in text
    assert await _kept(served) == before


async def test_a_form_within_the_limits_is_still_taken(served: app_module.App) -> None:
    form = aiohttp.FormData()
    form.add_field("id", "photo-limit-01")
    form.add_field("photo", product_photo(), filename="p.jpg", content_type="image/jpeg")
    async with aiohttp.ClientSession() as http, http.post(_base(served) + "/webchat/photos", data=form) as r:
        assert r.status == 200
        assert (await r.json())["me"]["files"]
