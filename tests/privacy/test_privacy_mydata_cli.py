"""/mydata and the operators' `user show`: the zip holds the same JSON and the user's decrypted images;
after /delete, `user show` says not found. Run as an operator would, on the app's own DATA_DIR."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from pathlib import Path

import pytest

from bot.app import App, create_app
from bot.cli import main
from bot.settings import Settings
from handlers.model import Document
from storage import migrate
from storage.users import Identity
from tests.conftest import inbound
from tests.helpers import say
from tests.privacy.privacy_harness import photo_with_exif, seed_files


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


async def _app(data_dir: Path) -> App:
    app = create_app(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    await migrate.upgrade_async(app.settings.effective_database_url)
    return app


def _user_show(capsys: pytest.CaptureFixture[str], user: str) -> tuple[int, str]:
    code = main(["user", "show", user])
    return code, capsys.readouterr().out


def test_mydata_zip_matches_user_show_and_delete_makes_it_not_found(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def export() -> Document:
        app = await _app(data_dir)
        try:
            await say(app.dispatcher, inbound("hi", user="900"))
            await say(app.dispatcher, inbound("/optin", user="900"))
            await seed_files(app.services, Identity("telegram", "900"), state="delivered")
            replies = await app.dispatcher.dispatch(inbound("/mydata", user="900"))
            return next(r for r in replies if isinstance(r, Document))
        finally:
            await app.db.dispose()

    document = asyncio.run(export())
    assert document.mime == "application/zip" and document.name.endswith(".zip")
    assert "nexoraz-data.json" in document.caption
    archive = zipfile.ZipFile(io.BytesIO(document.data))
    record = json.loads(archive.read("nexoraz-data.json"))

    code, out = _user_show(capsys, "telegram:900")
    assert code == 0
    assert json.loads(out) == record
    assert record["user"]["external_id"] == "900"
    assert record["consent"]["training_opt_in"] is True
    assert [e["training_opt_in"] for e in record["consent"]["events"]] == [True]
    assert record["consent"]["events"][0]["policy_version"] == "2025-10-15"
    assert [r["state"] for r in record["renders"]] == ["delivered"]
    assert [f["kind"] for f in record["files"]] == ["upload", "cutout", "output"]
    for item in record["files"]:
        assert set(item) >= {"id", "kind", "path", "bytes", "created_at"}
        assert (data_dir / item["path"]).is_file()  # relative to DATA_DIR
        content = archive.read(f"files/{item['id']}-{item['kind']}-{item['kind']}.jpg")
        assert len(content) == item["bytes"]
    upload = record["files"][0]
    assert archive.read(f"files/{upload['id']}-upload-upload.jpg") == photo_with_exif()

    async def delete() -> str:
        app = await _app(data_dir)
        try:
            await say(app.dispatcher, inbound("/delete", user="900"))
            return await say(app.dispatcher, inbound(payload="del:yes", user="900"))
        finally:
            await app.db.dispose()

    assert "erased" in asyncio.run(delete())
    assert _user_show(capsys, "telegram:900") == (1, "not found\n")
    assert not any(p.is_file() for p in (data_dir / "files").rglob("*.bin"))


def test_mydata_is_rate_limited_and_speaks_bengali(data_dir: Path) -> None:
    async def run() -> list[str]:
        app = await _app(data_dir)
        try:
            said = []
            for _ in range(4):
                replies = await app.dispatcher.dispatch(inbound("আমার তথ্য", user="901", lang="bn"))
                said.append(" ".join(r.caption if isinstance(r, Document) else r.text for r in replies))  # type: ignore[union-attr]
            return said
        finally:
            await app.db.dispose()

    said = asyncio.run(run())
    assert "আপনার সম্পর্কে" in said[0]
    assert "একটু পরে" in said[3]
